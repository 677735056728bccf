"""Channel-neutral message types shared by channels, intake, the engine and the outbox.

Nothing here imports a platform SDK: channels translate to and from these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Lang(StrEnum):
    """Languages the bot speaks; Chinese first."""

    ZH = "zh"
    EN = "en"


@dataclass(frozen=True, slots=True)
class Address:
    """Where a citizen is reached: a channel name and that channel's chat/user id."""

    channel: str
    address: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a citizen sent: photo, voice, file; stored under attachment storage."""

    kind: str  # "image" | "voice" | "file" | "video"
    media_ref: str  # platform media id or storage key
    mime: str = ""
    filename: str = ""
    size: int = 0
    recognition: str = ""  # speech-to-text supplied by the platform (WeChat voice)


@dataclass(frozen=True, slots=True)
class Location:
    """A point a citizen shared, with the platform's label when it has one."""

    latitude: float
    longitude: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message or event received from a channel, already verified and parsed."""

    address: Address
    external_id: str  # platform message id used for durable de-duplication
    received_at: datetime
    text: str = ""
    attachment: Attachment | None = None
    location: Location | None = None
    command: str = ""  # a platform-level command: "start", "help", "status", "cancel", ...
    command_arg: str = ""
    event: str = ""  # "subscribe" | "unsubscribe" | "" for plain messages
    tap: str = ""  # a button tap: the Reply.ask of the question the button belonged to
    lang_hint: str = ""  # the platform's language code, if any
    # what an entry point (a poster's QR code) pre-selects when the citizen starts a
    # petition: (field role, choice value) pairs, e.g. (("region", "330106"),)
    preselect: tuple[tuple[str, str], ...] = ()
    # the sender's network address where the channel sees it (web chat): look-up limits
    # count per client across sessions; stored only hashed, never logged
    client: str = ""
    raw: dict[str, Any] = field(default_factory=dict)  # small, PII-free platform extras


@dataclass(frozen=True, slots=True)
class Choice:
    """A selectable answer offered with a reply (button, or numbered list line)."""

    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Reply:
    """An abstract reply: text plus optional choices; channels decide how to render it."""

    text: str
    choices: tuple[Choice, ...] = ()
    ask: str = ""  # the question these choices belong to (a tap names it; see Event.tap)
    # said only where the channel can send a location ("也可以直接发送位置"): see Capabilities
    location_hint: str = ""
    # said only where the citizen can turn on notices on a page (Capabilities.consent_url,
    # WeChat's 订阅通知), followed by that page's address
    consent_hint: str = ""
    # the choices are shown only as buttons: a channel without them sends the text alone,
    # which says what to type (a push: its numbers would pick nothing, no question is open)
    buttons_only: bool = False

    def to_json(self) -> dict[str, Any]:
        """Serialise for storage (inbound reply cache, outbox payload)."""
        out: dict[str, Any] = {
            "text": self.text,
            "choices": [[c.value, c.label] for c in self.choices],
        }
        if self.ask:
            out["ask"] = self.ask
        if self.location_hint:
            out["location_hint"] = self.location_hint
        if self.consent_hint:
            out["consent_hint"] = self.consent_hint
        if self.buttons_only:
            out["buttons_only"] = True
        return out

    def text_for(self, caps: Capabilities) -> str:
        """The text as a channel with these capabilities shows it."""
        lines = [self.text]
        if self.location_hint and caps.location:
            lines.append(self.location_hint)
        if self.consent_hint and caps.consent_url:
            lines.append(self.consent_hint + caps.consent_url)
        return "\n".join(lines)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        """Inverse of :meth:`to_json`."""
        return cls(
            text=str(data["text"]),
            choices=tuple(Choice(str(v), str(lbl)) for v, lbl in data.get("choices", [])),
            ask=str(data.get("ask") or ""),
            location_hint=str(data.get("location_hint") or ""),
            consent_hint=str(data.get("consent_hint") or ""),
            buttons_only=bool(data.get("buttons_only")),
        )


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message the outbox asks a channel to deliver."""

    address: Address
    reply: Reply
    kind: str = "reply"  # "reply" | "push" | "broadcast"
    outbox_id: int = 0
    idempotency_key: str = ""  # stable per outbox row; lets a channel detect a resend
    template: dict[str, Any] = field(default_factory=dict)  # structured data for template pushes


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a channel reports after a successful send."""

    external_id: str = ""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can do, as data: the engine's replies are rendered against this."""

    buttons: bool = False  # inline choices; otherwise choices become a numbered list
    max_text_len: int = 2000  # split longer texts below this many characters
    attachments: tuple[str, ...] = ()  # inbound attachment kinds accepted
    location: bool = False
    push: bool = True  # can deliver messages that are not a direct answer
    rate_per_second: float = 0.0  # overall send rate limit, 0 = unlimited
    rate_per_chat_per_second: float = 0.0  # per-chat send rate limit, 0 = unlimited
    # the page where a citizen turns on notices beyond the platform's reply window (WeChat
    # 订阅通知 consent, when the office has templates); "" where there is none
    consent_url: str = ""
