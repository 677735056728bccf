"""Telegram webhook end to end (target 2): ``python -m bench.telegram [--long] [--db ...]``."""

from __future__ import annotations

import sys

from bench.webhook import TELEGRAM, main

if __name__ == "__main__":
    sys.exit(main(TELEGRAM))
