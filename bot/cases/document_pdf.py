"""Documents to HTML (Jinja2 templates in config/documents/) and to PDF (WeasyPrint).

Rendering is slow next to a database write (see docs/architecture.md, "Official
documents"), so it never runs inside a transaction: :class:`DocumentFiles` renders a
document the first time someone asks for it, in a worker thread, and keeps the file.
The templates see only the document's frozen snapshot; they load nothing from outside
(the stylesheet is inlined, and the URL fetcher refuses every URL).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from bot.cases.documents import DocumentConfig
from bot.keyed_locks import KeyedLocks

FONTS = ("Noto Serif CJK SC", "Noto Sans CJK SC")  # documents.css names them


def missing_fonts() -> list[str] | None:
    """The document fonts fontconfig does not have (None: fontconfig's fc-list is absent).

    Without them WeasyPrint prints Chinese as empty boxes instead of failing.
    """
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    found = subprocess.run(
        [fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    families = {name.strip() for line in found.splitlines() for name in line.split(",")}
    return [font for font in FONTS if font not in families]


class DocumentRenderer:
    """The templates of config/documents/, rendered to HTML and PDF."""

    def __init__(self, config: DocumentConfig) -> None:
        self.config = config
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(config.template_dir),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def html(self, kind: str, data: Mapping[str, Any]) -> str:
        """The document as an HTML page (A4, print CSS inlined)."""
        return self.env.get_template(f"{kind}.html").render(d=data)

    def pdf(self, kind: str, data: Mapping[str, Any]) -> bytes:
        """The document as PDF bytes (CPU-bound: call it in a worker thread)."""
        # imported here: it loads pango, which only rendering needs (the bot starts without)
        import weasyprint

        page = weasyprint.HTML(
            string=self.html(kind, data),
            base_url=str(self.config.template_dir),
            # nothing is fetched: a snapshot that names a URL cannot make the server fetch it
            url_fetcher=weasyprint.URLFetcher(allowed_protocols=()),
        )
        pdf: bytes = page.write_pdf()
        return pdf


class DocumentFiles:
    """Rendered PDFs kept under a directory: rendered once, served from the file after."""

    def __init__(self, renderer: DocumentRenderer, directory: Path) -> None:
        self.renderer = renderer
        self.directory = directory
        self._locks = KeyedLocks()  # one render per file at a time in this process

    @staticmethod
    def key(case_id: int, document_id: int, *, masked: bool) -> str:
        """The storage key (relative path) of a document's PDF."""
        return f"{case_id}/{document_id}{'-masked' if masked else ''}.pdf"

    def path(self, key: str) -> Path:
        """Where the file of ``key`` lives."""
        return self.directory / key

    async def ensure(self, key: str, kind: str, data: Mapping[str, Any]) -> tuple[Path, bool]:
        """The PDF file of ``key``, rendered from ``data`` if it is not there yet; returns
        (path, whether it was rendered now)."""
        target = self.path(key)
        async with self._locks(key):
            if target.is_file():
                return target, False
            pdf = await asyncio.to_thread(self.renderer.pdf, kind, data)
            target.parent.mkdir(parents=True, exist_ok=True)
            # written aside and renamed: another process never serves half a file
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            partial.write_bytes(pdf)
            partial.replace(target)
            return target, True
