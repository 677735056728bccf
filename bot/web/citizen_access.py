"""Who is looking at the citizen's case page (/my): one contact, or nobody.

Ways in, each naming exactly one contact:

* a signed case link from a message (``?k=<token>``, :mod:`bot.case_links`), which opens
  a session and is then dropped from the address;
* the web chat: ``/chat/my`` turns the chat's own cookie into a session;
* any further way (e.g. WeChat 网页授权 snsapi_base) is an entry of ``ways``: a function
  from the request to a contact id, tried when there is no session.

The session is the ``xf_my`` cookie: a signed token of (contact id, expiry), short-lived,
HttpOnly, SameSite=Lax (a link opened from a chat app is a cross-site navigation), path
/my. Its CSRF token is derived from it under the same secret; every POST must carry it
and, when the browser sends one, an Origin of this host.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web

from bot.case_links import CSRF, LINK, SESSION, derive, sign, verify
from bot.clock import utc_now
from bot.web.security import same_origin

COOKIE = "xf_my"
PREFIX = "/my"
# a further way in: (request) -> the contact id it proves, or None
Way = Callable[[web.Request], Awaitable[int | None]]


@dataclass(frozen=True, slots=True)
class Visitor:
    """The contact a request acts for, and the session token it carries."""

    contact_id: int
    token: str
    fresh: bool = False  # the session was opened by this request: set the cookie


@dataclass
class CitizenAccess:
    """Sessions of the citizen's case page, from signed links and the web chat."""

    secret: str
    session: timedelta
    cookie_secure: bool = False
    clock: Callable[[], datetime] = utc_now
    ways: list[Way] = field(default_factory=list)

    @classmethod
    def build(cls, secret: str, session_minutes: float, cookie_secure: bool) -> CitizenAccess:
        """From settings; without a configured secret, one for this process only (sessions
        then end with a restart, and no links are sent: they need the configured one)."""
        return cls(
            secret or secrets.token_urlsafe(32), timedelta(minutes=session_minutes), cookie_secure
        )

    def from_link(self, token: str) -> int | None:
        """The contact a case link names, if it is genuine and not expired."""
        return verify(self.secret, LINK, token, self.clock())

    def open(self, contact_id: int) -> Visitor:
        """A new session for ``contact_id``."""
        token = sign(self.secret, SESSION, contact_id, self.clock() + self.session)
        return Visitor(contact_id, token, fresh=True)

    async def visitor(self, request: web.Request) -> Visitor | None:
        """The session of a request, or one of the further ways; None: nobody."""
        token = request.cookies.get(COOKIE, "")
        found = verify(self.secret, SESSION, token, self.clock())
        if found is not None:
            return Visitor(found, token)
        for way in self.ways:
            contact_id = await way(request)
            if contact_id is not None:
                return self.open(contact_id)
        return None

    def set_cookie(self, response: web.StreamResponse, visitor: Visitor) -> None:
        """Attach a session opened by this request."""
        response.set_cookie(
            COOKIE,
            visitor.token,
            max_age=int(self.session.total_seconds()),
            path=PREFIX,
            httponly=True,
            samesite="Lax",
            secure=self.cookie_secure,
        )

    def csrf(self, visitor: Visitor) -> str:
        """The CSRF token of a session."""
        return derive(self.secret, CSRF, visitor.token)

    def csrf_ok(self, request: web.Request, visitor: Visitor, sent: str) -> bool:
        """Whether a POST carries its session's CSRF token and comes from this site."""
        expected = self.csrf(visitor)
        return bool(sent) and hmac.compare_digest(sent, expected) and same_origin(request)


CITIZEN_ACCESS = web.AppKey("citizen_access", CitizenAccess)
