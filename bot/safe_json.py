"""One JSON loader for every request body: bounded nesting and number sizes.

``json.loads`` raises RecursionError on ``[`` × 100 000 and ValueError (not a
JSONDecodeError) on an integer of more than 4 300 digits; both became 500s. Here every
failure is a :class:`BadJson` (a ValueError) that callers answer with a 400.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # Telegram updates nest about 6 deep; the API's bodies 3
MAX_NUMBER_CHARS = 40  # a 64-bit id has 20 digits; a float with exponent fits too


class BadJson(ValueError):
    """The body is not JSON, or nests too deep, or holds an oversized number."""


def _number(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadJson(f"a number longer than {MAX_NUMBER_CHARS} characters")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise BadJson(f"a number longer than {MAX_NUMBER_CHARS} characters")
    return float(text)


def _depth_ok(data: Any) -> bool:
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def _shallow(text: str) -> bool:
    """A cheap upper bound on nesting: fewer opening brackets than the limit cannot nest
    deeper (strings may hold brackets, so more of them only means: parse and measure)."""
    return text.count("[") + text.count("{") <= MAX_DEPTH


def loads(body: bytes | str) -> Any:
    """Parse a request body (UTF-8), or raise :class:`BadJson`."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        data = json.loads(text, parse_int=_number, parse_float=_float)
    except RecursionError:
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels") from None
    except BadJson:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int conversion limits
        raise BadJson(str(exc)[:200]) from None
    if not _shallow(text) and not _depth_ok(data):
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels")
    return data
