"""The HTTP answer that serves an official document's PDF (console, API, citizen link)."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from aiohttp import web

from bot.storage.documents import DocumentRow

_SAFE_NAME = re.compile(r"[^\w.\-]+", re.ASCII)


def pdf_response(document: DocumentRow, path: Path, *, download: bool = False) -> web.FileResponse:
    """A document's PDF, shown inline by the browser (its viewer prints it) or downloaded."""
    name = f"{document.number}.pdf"
    ascii_name = _SAFE_NAME.sub("_", name).strip("_") or f"document-{document.id}.pdf"
    disposition = (
        f'{"attachment" if download else "inline"}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
    )
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
