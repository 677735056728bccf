"""Attachment files on disk, under the data directory, named by date and a random id."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


class TooLarge(Exception):
    """The upload exceeded the size limit; nothing was kept."""


def safe_name(filename: str) -> str:
    """A filename that cannot escape its directory or confuse a shell."""
    name = _UNSAFE.sub("_", Path(filename).name).strip("._") or "file"
    return name[-80:]


async def save_stream(
    root: Path, filename: str, chunks: AsyncIterator[bytes], max_bytes: int, now: datetime
) -> tuple[str, int]:
    """Write an upload to disk; returns its storage key (relative path) and size."""
    key = f"{now:%Y/%m}/{secrets.token_hex(8)}-{safe_name(filename)}"
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with path.open("wb") as fh:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"larger than {max_bytes} bytes")
                fh.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return key, size


def remove(root: Path, key: str) -> bool:
    """Delete a stored file by its key; keys that are not files under ``root`` (platform
    references such as ``wechat-media:…``) are left alone. True when a file was removed."""
    if not key or ":" in key:
        return False
    base = root.resolve()
    path = (root / key).resolve()
    if base not in path.parents or not path.is_file():
        return False
    path.unlink(missing_ok=True)
    return True
