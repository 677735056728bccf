"""Every benchmark in its short form (under 10 minutes): ``make bench`` or ``python -m bench.all``.

Each prints its table and writes bench/results/<name>.json; the long forms are
``python -m bench.<name> --long``.
"""

from __future__ import annotations

import sys
import time

from bench import broadcast, burst, cases, memory, telegram, webhook, wechat  # noqa: F401

SHORT: list[tuple[str, list[str]]] = [
    ("wechat", ["--rounds", "2", "--seconds", "5"]),
    ("telegram", ["--rounds", "2", "--seconds", "5"]),
    ("burst", []),
    ("broadcast", []),
    ("cases", []),
    ("memory", []),
]


def main() -> int:
    """Run the short forms one after the other."""
    started = time.perf_counter()
    for name, args in SHORT:
        print(f"\n### bench.{name} {' '.join(args)}", flush=True)
        if name == "wechat":
            webhook.main(webhook.WECHAT, args)
        elif name == "telegram":
            webhook.main(webhook.TELEGRAM, args)
        else:
            sys.modules[f"bench.{name}"].main(args)
    print(f"\nall short benchmarks: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
