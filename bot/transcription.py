"""Speech to text for voice messages the platform did not transcribe.

WeChat has announced that the voice ``Recognition`` field will be retired, and Telegram
never had one; a voice answer then reaches the dialog as a file only, and the citizen is
asked to write. With ``XINFANG_STT_URL`` set, intake first sends the stored audio to a
transcription server speaking the OpenAI audio API (``POST {url}/v1/audio/transcriptions``,
multipart ``file`` + ``model`` [+ ``language``] → ``{"text": …}``), as FunASR, whisper.cpp's
server, vLLM and LocalAI deployments do
(https://platform.openai.com/docs/api-reference/audio/createTranscription). The server must
accept the platforms' audio formats (WeChat AMR/Speex, Telegram OGG/Opus).

The text is used exactly like WeChat's own recognition: the dialog reads it back ("我听到的
是：…") and takes it as the answer; the audio stays with the petition as material. Any
failure (timeout, HTTP error, empty text) leaves the message as it was: nothing is lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp

from bot.logging import get_logger

log = get_logger(__name__)

MAX_TEXT_CHARS = 2000  # a transcript longer than this is not a spoken answer


class Transcriber(Protocol):
    """Turns one stored audio file into text ("" when it cannot)."""

    async def transcribe(self, path: Path, mime: str, lang: str) -> str:
        """The words spoken in the file at ``path``; "" on any failure."""
        ...


@dataclass
class OpenAICompatibleTranscriber:
    """A transcription server with the OpenAI audio API (FunASR, whisper.cpp, vLLM…)."""

    url: str  # the server's origin (and path prefix), without /v1/audio/transcriptions
    model: str = "whisper-1"
    api_key: str = ""
    timeout: float = 3.0  # WeChat wants its passive reply within 5 seconds
    max_bytes: int = 10 * 1_048_576
    _session: aiohttp.ClientSession | None = None

    @property
    def endpoint(self) -> str:
        """Where audio is posted."""
        return self.url.rstrip("/") + "/v1/audio/transcriptions"

    async def transcribe(self, path: Path, mime: str, lang: str) -> str:
        """The transcript, or "" (logged, never raised) when the server cannot give one."""
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError:
            return ""
        if not data or len(data) > self.max_bytes:
            return ""
        form = aiohttp.FormData()
        form.add_field(
            "file", data, filename=path.name, content_type=mime or "application/octet-stream"
        )
        form.add_field("model", self.model)
        if lang in ("zh", "en"):
            form.add_field("language", lang)
        form.add_field("response_format", "json")
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with asyncio.timeout(self.timeout):
                session = self._client()
                async with session.post(self.endpoint, data=form, headers=headers) as response:
                    if response.status != 200:
                        log.warning("stt.refused", status=response.status)
                        return ""
                    body = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            log.warning("stt.failed", error=type(exc).__name__)
            return ""
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            log.warning("stt.no_text")
            return ""
        text = text.strip()
        return text if len(text) <= MAX_TEXT_CHARS else ""

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        """Close the HTTP session (at shutdown)."""
        if self._session is not None:
            await self._session.close()
