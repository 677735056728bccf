"""WeChat webhook end to end (target 1): ``python -m bench.wechat [--long] [--db ...]``.

Two workloads, each against the bare handler in the same run: citizens walking the whole
form (the headline: answers, unclear answers, stories in one message, registrations and
status queries) and the cheapest message (a greeting).
"""

from __future__ import annotations

import sys

from bench.webhook import WECHAT, WECHAT_MIX, main

if __name__ == "__main__":
    sys.exit(main([WECHAT_MIX, WECHAT]))
