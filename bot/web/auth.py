"""Staff authentication for the console and the API: sessions, CSRF, bearer tokens, audit.

* Console: a random session token in the ``xf_staff`` cookie (HttpOnly, SameSite=Strict,
  Secure behind HTTPS); the database keeps its hash, an idle and an absolute expiry.
* CSRF: every unsafe request authenticated by the cookie must carry the session's CSRF
  token (form field ``_csrf`` or header ``X-CSRF-Token``) and, when the browser sends
  one, an ``Origin`` of this host (OWASP CSRF cheat sheet: synchronizer token pattern).
* API: ``Authorization: Bearer <token>`` (see ``xinfang staff token``); the console's own
  scripts may use the cookie plus the CSRF header instead. A ``read`` token gets 403
  ``read_only_token`` on every mutating request; an expired one 401 ``token_expired``.
* A session whose password an administrator reset reaches only the password form.
* Login: per-address throttle in the process, per-account lock-out in the database.
* Refusals: a request refused for its CSRF token, its role (``AccessDenied``) or the
  department scope (``CaseNotFound`` of a case that exists) is written to the audit log
  here, in the middleware every staff request passes, and answered as 403 / 404.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import BodyPartReader, MultipartReader, web

from bot.clock import utc_now
from bot.domain.tracking import parse_tracking_no
from bot.logging import get_logger
from bot.staff.access import AccessDenied, Permission, StaffMember
from bot.staff.accounts import LiveSession, StaffAccounts
from bot.staff.api_tokens import TokenRefused
from bot.staff.casework import CaseNotFound
from bot.storage import staff as store
from bot.web.console_deps import flash
from bot.web.i18n import LANG_COOKIE, LANGS, translate
from bot.web.security import SECURITY_HEADERS, same_origin

log = get_logger(__name__)

COOKIE = "xf_staff"
CONSOLE_PREFIX = "/staff"
API_PREFIX = "/api/v1"
LOGIN_PATH = "/staff/login"
PASSWORD_PATH = "/staff/password"  # the account's own password change
# what a session must still reach while its password has to be changed
_BEFORE_CHANGE = frozenset({PASSWORD_PATH, "/staff/logout", LOGIN_PATH})
PUBLIC_PATHS = frozenset({LOGIN_PATH, "/api/v1/openapi.json"})
STATIC_PREFIX = "/staff/static/"  # the console's CSS, scripts and icon: the login page needs them
_MULTIPART = "staff.multipart"  # the reader of a multipart form past its CSRF part
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = "access.refused"  # the audit action of a refused request (detail: reason)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# the console's answer to a refused page request: (request, 403 or 404) -> response
RefusalPage = Callable[[web.Request, int], web.StreamResponse]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who made a staff request, and how."""

    member: StaffMember
    via: str  # "session" or "token"
    csrf: str = ""  # the session's CSRF token ("" for bearer tokens)
    session_hash: str = ""
    scope: str = "write"  # a bearer token's: "read" refuses every mutating API route
    must_change_password: bool = False  # a session after an administrator's reset


IDENTITY: web.RequestKey[Identity | None] = web.RequestKey("xf_identity")


class LoginThrottle:
    """At most ``limit`` login attempts per client address per minute (in this process)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, ip: str) -> bool:
        """Record an attempt; False when the address is over its limit."""
        now = time.monotonic()
        seen = self._seen[ip]
        while seen and now - seen[0] > 60:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        if len(self._seen) > 10_000:  # forget idle addresses
            for key in [k for k, v in self._seen.items() if not v]:
                del self._seen[key]
        return True


@dataclass
class StaffAuth:
    """The authentication state shared by the console and the API."""

    accounts: StaffAccounts
    cookie_secure: bool
    throttle: LoginThrottle
    refusal_page: RefusalPage | None = None  # set by the console; plain text without it

    def set_cookie(self, response: web.StreamResponse, token: str) -> None:
        """Attach a new session cookie (lives as long as the session's absolute limit)."""
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(self.accounts.session_max.total_seconds()),
            path="/",
            httponly=True,
            secure=self.cookie_secure,
            samesite="Strict",
        )

    @staticmethod
    def clear_cookie(response: web.StreamResponse) -> None:
        """Remove the session cookie."""
        response.del_cookie(COOKIE, path="/")


STAFF_AUTH = web.AppKey("staff_auth", StaffAuth)


def client_ip(request: web.Request) -> str:
    """The client address as seen by this process (the reverse proxy sets it right)."""
    return request.remote or ""


def identity(request: web.Request) -> Identity | None:
    """The authenticated staff identity of a request, if any."""
    return request.get(IDENTITY)


def member(request: web.Request) -> StaffMember:
    """The authenticated staff member (the middleware guarantees one on protected paths)."""
    found = identity(request)
    if found is None:
        raise web.HTTPUnauthorized()
    return found.member


def require(request: web.Request, permission: Permission) -> StaffMember:
    """The staff member, if their role has ``permission``; AccessDenied (403) otherwise."""
    who = member(request)
    who.require(permission)
    return who


async def audit(
    request: web.Request,
    action: str,
    *,
    case_id: int | None = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
    who: Identity | None = None,
) -> None:
    """Write an audit log entry for the current staff member (or ``who``)."""
    found = who or identity(request)
    if found is None:
        raise web.HTTPUnauthorized()
    auth = request.app[STAFF_AUTH]
    async with auth.accounts.db.transaction() as conn:
        await store.add_audit(
            conn,
            at=utc_now(),
            actor=found.member.login,
            action=action,
            staff_id=found.member.id,
            case_id=case_id,
            target=target,
            detail={**(detail or {}), "via": found.via},
            ip=client_ip(request),
        )


async def _record_refusal(
    request: web.Request,
    who: Identity,
    reason: str,
    *,
    case_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """The audit entry of a refused request: who, which route and case, and why (the
    route's template, never the query string: a search may hold personal data)."""
    route = request.match_info.route.resource
    number = parse_tracking_no(request.match_info.get("tracking_no", ""))
    what = {
        "reason": reason,  # csrf | role | scope | token_scope
        "request": f"{request.method} {route.canonical if route else request.path}",
        **(detail or {}),
    }
    if "action" in request.match_info:  # the console's case action, a path parameter
        what["action"] = request.match_info["action"][:32]
    target = number.canonical if number.outcome == "valid" else ""
    await audit(request, REFUSED, case_id=case_id, target=target, detail=what, who=who)


async def _refused(
    request: web.Request, exc: AccessDenied | CaseNotFound, is_api: bool
) -> web.StreamResponse:
    """Audit a refusal by role or scope (a case that does not exist is no refusal) and
    answer it: 403 for the role, 404 for the scope (the same as an unknown case)."""
    found = identity(request)
    if isinstance(exc, AccessDenied):
        status, code = 403, "forbidden"
        if found is not None:
            await _record_refusal(request, found, "role", detail={"permission": exc.permission})
    else:
        status, code = 404, "not_found"
        if found is not None and exc.hidden_case_id is not None:
            await _record_refusal(request, found, "scope", case_id=exc.hidden_case_id)
    if is_api:
        return _api_error(status, code, str(exc))
    page = request.app[STAFF_AUTH].refusal_page
    return page(request, status) if page else web.Response(status=status, text=str(exc))


def _page_of(request: web.Request) -> str:
    """The console page a form was sent from: the same-origin Referer, else the form's
    target without its action part (/staff/cases/X/actions/answer → /staff/cases/X)."""
    referer = urlsplit(request.headers.get("Referer", ""))
    if referer.netloc == request.host and referer.path.startswith(CONSOLE_PREFIX + "/"):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return request.path.split("/actions/")[0] if "/actions/" in request.path else CONSOLE_PREFIX


def _csrf_ok(request: web.Request, session: LiveSession, form_token: str) -> bool:
    sent = request.headers.get("X-CSRF-Token", "") or form_token
    return bool(sent) and secrets.compare_digest(sent, session.csrf) and same_origin(request)


async def _form_csrf(request: web.Request) -> str:
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()  # cached by aiohttp for the handler
        value = form.get("_csrf", "")
        return value if isinstance(value, str) else ""
    if request.content_type == "multipart/form-data" and "X-CSRF-Token" not in request.headers:
        # uploads may be far larger than the body limit request.post() keeps in memory:
        # only the first part is read here, and it must be the token; the handler reads
        # the rest from the same reader (multipart_reader)
        reader = await request.multipart()
        request[_MULTIPART] = reader
        part = await reader.next()
        if isinstance(part, BodyPartReader) and part.name == "_csrf":
            return (await part.text())[:200]
    return ""


async def multipart_reader(request: web.Request) -> MultipartReader:
    """The reader of a multipart form: past its ``_csrf`` part when the CSRF check read it."""
    kept = request.get(_MULTIPART)
    return kept if isinstance(kept, MultipartReader) else await request.multipart()


@web.middleware
async def staff_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate /staff and /api/v1 requests; enforce CSRF; add security headers."""
    path = request.path
    is_api = path.startswith(API_PREFIX)
    is_console = path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")
    if not (is_api or is_console):
        return await handler(request)
    auth = request.app[STAFF_AUTH]
    found: Identity | None = None
    bearer = request.headers.get("Authorization", "")
    if is_api and bearer:
        scheme, _, token = bearer.partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise TokenRefused("invalid_token", "send Authorization: Bearer <token>")
            granted = await auth.accounts.token_auth(token.strip())
        except TokenRefused as refused:
            return _api_error(401, refused.code, str(refused))
        found = Identity(granted.member, "token", scope=granted.scope)
        if request.method in _UNSAFE and granted.scope != "write":
            await _record_refusal(request, found, "token_scope")
            return _api_error(
                403, "read_only_token", "this token may only read; changes need a write token"
            )
    else:
        session = await auth.accounts.session(request.cookies.get(COOKIE, ""))
        if path == LOGIN_PATH and request.method in _UNSAFE:
            # Logging in (again) carries no session token yet; the origin must still match.
            if not same_origin(request):
                raise web.HTTPForbidden(text="cross-site login refused")
        elif session is not None:
            found = Identity(
                session.member,
                "session",
                session.csrf,
                session.token_hash,
                must_change_password=session.must_change_password,
            )
            if request.method in _UNSAFE and not _csrf_ok(
                request, session, await _form_csrf(request)
            ):
                log.info("staff.csrf_refused", path=path, login=session.member.login)
                await _record_refusal(request, found, "csrf")
                if is_api:
                    return _api_error(403, "csrf", "missing or wrong CSRF token")
                # back to the page, which still holds the typed text (console-drafts.js)
                back = web.HTTPSeeOther(_page_of(request))
                lang = request.cookies.get(LANG_COOKIE) or session.member.lang
                flash(
                    back, "error", translate(lang if lang in LANGS else "zh", "session.csrf_kept")
                )
                raise back
    request[IDENTITY] = found
    if (
        found is not None
        and found.must_change_password
        and path not in _BEFORE_CHANGE
        and not path.startswith(STATIC_PREFIX)
    ):
        if is_api:
            return _api_error(403, "password_change_required", "change the password first")
        raise web.HTTPSeeOther(PASSWORD_PATH)
    if found is None and path not in PUBLIC_PATHS and not path.startswith(STATIC_PREFIX):
        if is_api:
            return _api_error(401, "unauthenticated", "send Authorization: Bearer <token>")
        if request.method == "GET":
            raise web.HTTPFound(f"{LOGIN_PATH}?next={_safe_next(request.path_qs)}")
        # a form sent after the session expired: log in, then back to the form's page
        raise web.HTTPSeeOther(f"{LOGIN_PATH}?next={_safe_next(_page_of(request))}&expired=1")
    try:
        response = await handler(request)
    except (AccessDenied, CaseNotFound) as exc:
        response = await _refused(request, exc, is_api)
    if is_console:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _api_error(status: int, code: str, detail: str) -> web.Response:
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="xinfang"'
    return web.json_response({"error": code, "detail": detail}, status=status, headers=headers)


def _safe_next(target: str) -> str:
    """Only same-site console paths are followed after login (no open redirect)."""
    if not target.startswith(CONSOLE_PREFIX) or target.startswith("//"):
        return quote(CONSOLE_PREFIX)
    return quote(target, safe="")


def next_path(raw: str) -> str:
    """The console path to go to after login, or the console home."""
    if raw.startswith(CONSOLE_PREFIX + "/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return CONSOLE_PREFIX + "/"
