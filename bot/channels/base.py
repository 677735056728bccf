"""The one protocol every channel implements, and the send-error taxonomy the outbox relies on."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aiohttp import web

from bot.messages import Capabilities, OutboundMessage, Reply, SendResult


class SendError(Exception):
    """A failed send. ``retryable`` decides between backoff and permanent failure.

    ``retry_after`` (seconds) is the platform's own instruction when it gave one.
    ``unreachable`` means the citizen can no longer be reached on this channel
    (blocked the bot, unsubscribed): the outbox marks the contact and stops.
    """

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.unreachable = unreachable


@runtime_checkable
class Channel(Protocol):
    """A messaging platform as the outbox sees it."""

    name: str
    capabilities: Capabilities

    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one message or raise :class:`SendError`."""
        ...

    async def already_sent(self, message: OutboundMessage) -> bool:
        """Whether a message with this idempotency key was delivered before (crash recovery)."""
        ...


def render_text(reply: Reply, caps: Capabilities, lang: str = "") -> str:
    """The reply as plain text: choices become a numbered list when buttons are missing,
    numbered the way the conversation's language writes it (told, or read off the text)."""
    text = reply.text_for(caps)
    if not reply.choices or caps.buttons or reply.buttons_only:
        return text
    chinese = lang == "zh" or (not lang and any("\u3400" <= ch <= "\u9fff" for ch in text))
    sep = "．" if chinese else "."
    lines = [f"{i}{sep} {c.label}" for i, c in enumerate(reply.choices, 1)]
    return text + "\n" + "\n".join(lines)


def split_text(text: str, limit: int) -> list[str]:
    """Split text into parts of at most ``limit`` characters, at line breaks when possible."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:  # no useful line break: cut at a sentence end or hard
            ends = [rest.rfind(p, 0, limit) for p in "。！？.!?"]
            cut = max(ends) + 1 if max(ends) >= limit // 2 else limit
        part = rest[:cut].rstrip("\n")
        if part:  # only newlines (at the very start of the text): nothing worth a message
            parts.append(part)
        rest = rest[cut:].lstrip("\n")
    if rest:
        parts.append(rest)
    return parts


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole request body, or None when it is longer than ``limit`` bytes.

    ``request.content.read(n)`` returns what has arrived so far, which for a body of
    more than one network chunk is only its beginning: read to the end instead.
    """
    if (request.content_length or 0) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
