"""Signed, expiring tokens that name one contact: the case links sent to citizens and the
short-lived session of the citizen's case page (/my).

A token is ``<contact id>.<expiry, unix seconds>.<MAC>``, the MAC an HMAC-SHA256 of the
purpose, the contact id and the expiry under the server secret (``XINFANG_SECRET_KEY``).
The purpose keeps a link from serving as a session cookie and the other way round. Pure
functions, no I/O: the lifecycle (pushes) and the web pages both use them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

LINK = "case-link"  # a link in a message to the citizen
SESSION = "citizen-session"  # the /my session cookie a link (or the web chat) opens
CSRF = "citizen-csrf"  # the CSRF token of one /my session
MAC_CHARS = 32  # 192 bits of the MAC, URL-safe base64


def _mac(secret: str, purpose: str, message: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}\n{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:MAC_CHARS]


def sign(secret: str, purpose: str, contact_id: int, expires: datetime) -> str:
    """A token naming ``contact_id`` for ``purpose`` until ``expires``."""
    if not secret:
        raise ValueError("signing needs a secret")
    until = int(expires.timestamp())
    return f"{contact_id}.{until}.{_mac(secret, purpose, f'{contact_id}.{until}')}"


def verify(secret: str, purpose: str, token: str, now: datetime) -> int | None:
    """The contact id a token names, if its MAC is right and it has not expired."""
    if not secret or len(token) > 100:
        return None
    contact, _, rest = token.partition(".")
    until, _, mac = rest.partition(".")
    if not (contact.isdigit() and until.isdigit() and len(mac) == MAC_CHARS):
        return None
    expected = _mac(secret, purpose, f"{contact}.{until}")
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    if int(until) < now.timestamp():
        return None
    return int(contact)


def derive(secret: str, purpose: str, value: str) -> str:
    """A value bound to ``value`` under the secret (e.g. a session's CSRF token)."""
    return _mac(secret, purpose, value)


@dataclass(frozen=True)
class CaseLinks:
    """Builds the signed case links sent to citizens (on when the public URL and the
    secret are both set)."""

    public_url: str  # the public origin, e.g. https://xinfang.example.gov.cn
    secret: str
    days: int = 30

    @property
    def enabled(self) -> bool:
        """Whether links can be built."""
        return bool(self.public_url and self.secret)

    def url(self, contact_id: int, tracking_no: str, now: datetime) -> str:
        """The signed link to one case page of ``contact_id``, valid for ``days``."""
        token = sign(self.secret, LINK, contact_id, now + timedelta(days=self.days))
        base = self.public_url.rstrip("/")
        return f"{base}/my/cases/{quote(tracking_no, safe='')}?k={token}"

    def document_url(
        self, contact_id: int, tracking_no: str, document_id: int, now: datetime
    ) -> str:
        """The signed link to one document (PDF) of ``contact_id``'s case, valid for ``days``."""
        token = sign(self.secret, LINK, contact_id, now + timedelta(days=self.days))
        base = self.public_url.rstrip("/")
        case = quote(tracking_no, safe="")
        return f"{base}/my/cases/{case}/documents/{document_id}?k={token}"
