"""The account's own password change (/staff/password): the current password, the new one
twice. Every other session of the account ends; the one asking stays. After an
administrator's reset the staff middleware sends every console page here until it is done.
"""

from __future__ import annotations

from aiohttp import web

from bot.staff.accounts import WrongPassword
from bot.staff.passwords import MIN_LENGTH, WeakPassword
from bot.web.auth import PASSWORD_PATH, STAFF_AUTH, client_ip, identity
from bot.web.console import lang_of, render
from bot.web.console_deps import flash
from bot.web.i18n import translate

_MAX = 256


def _context(request: web.Request, error: str = "") -> dict[str, object]:
    found = identity(request)
    forced = bool(found and found.must_change_password)
    return {"error": error, "forced": forced, "min_length": MIN_LENGTH}


async def password_page(request: web.Request) -> web.Response:
    """GET /staff/password."""
    if identity(request) is None:
        raise web.HTTPUnauthorized()
    return render(request, "password.html", _context(request))


async def change_password(request: web.Request) -> web.Response:
    """POST /staff/password: check the current password and the policy, then change it."""
    found = identity(request)
    if found is None:
        raise web.HTTPUnauthorized()
    lang = lang_of(request)
    form = await request.post()
    current = str(form.get("current", ""))[:_MAX]
    new = str(form.get("new", ""))[:_MAX]
    again = str(form.get("again", ""))[:_MAX]
    accounts = request.app[STAFF_AUTH].accounts
    error = ""
    if new != again:
        error = translate(lang, "password.differ")
    else:
        try:
            await accounts.change_password(
                found.member.login,
                current,
                new,
                keep_session=found.session_hash or None,
                ip=client_ip(request),
            )
        except WrongPassword:
            error = translate(lang, "password.wrong")
        except WeakPassword as weak:
            error = translate(lang, f"password.weak.{weak.code}", min=MIN_LENGTH)
    if error:
        return render(request, "password.html", _context(request, error), status=422)
    done = web.HTTPSeeOther("/staff/")
    flash(done, "ok", translate(lang, "password.changed"))
    raise done


def add_routes(app: web.Application) -> None:
    """The password form."""
    app.router.add_get(PASSWORD_PATH, password_page)
    app.router.add_post(PASSWORD_PATH, change_password)
