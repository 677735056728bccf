"""A local transcription server speaking the OpenAI audio API, as FunASR or whisper.cpp do.

``POST /v1/audio/transcriptions`` (multipart: ``file``, ``model``, optional ``language``,
``response_format``) answers ``{"text": …}`` like the real API; it checks the bearer key
when one is set, refuses a request without ``file`` or ``model`` with 400 and OpenAI's
error shape, and can be told to fail (status), to stall (seconds) or to answer nonsense.
What it would say for a file is looked up by the file's bytes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.server import free_port


@dataclass
class FakeTranscriptionServer:
    """The server's behaviour and what it received."""

    transcripts: dict[bytes, str] = field(default_factory=dict)  # audio bytes -> words
    api_key: str = ""
    fail_status: int = 0  # answer this status instead
    stall_seconds: float = 0.0
    garbage: bool = False  # answer 200 with a body that is not the API's
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeTranscriptionServer:
        """Listen on 127.0.0.1; ``url`` is the origin to configure."""
        app = web.Application(client_max_size=26 * 1_048_576)  # OpenAI's 25 MB limit
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _error(status: int, message: str, kind: str) -> web.Response:
        return web.json_response(
            {"error": {"message": message, "type": kind, "param": None, "code": None}},
            status=status,
        )

    async def _transcribe(self, request: web.Request) -> web.Response:
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Incorrect API key provided", "invalid_request_error")
        fields: dict[str, Any] = {}
        reader = await request.multipart()
        async for part in reader:
            if part.name == "file":  # type: ignore[union-attr]
                fields["file"] = bytes(await part.read())  # type: ignore[union-attr]
                fields["filename"] = part.filename  # type: ignore[union-attr]
                fields["content_type"] = part.headers.get("Content-Type", "")
            elif part.name:  # type: ignore[union-attr]
                fields[part.name] = await part.text()  # type: ignore[union-attr]
        self.received.append(fields)
        if "file" not in fields:
            return self._error(400, "you must provide a file", "invalid_request_error")
        if not fields.get("model"):
            return self._error(400, "you must provide a model parameter", "invalid_request_error")
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        if self.fail_status:
            return self._error(self.fail_status, "The server had an error", "server_error")
        if self.garbage:
            return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")
        return web.json_response({"text": self.transcripts.get(fields["file"], "")})
