"""WeChat webhook end to end (target 1): ``python -m bench.wechat [--long] [--db ...]``."""

from __future__ import annotations

import sys

from bench.webhook import WECHAT, main

if __name__ == "__main__":
    sys.exit(main(WECHAT))
