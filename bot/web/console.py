"""The staff console (/staff): templates, language, static files, login and logout.

Pages live in their own modules and register through :func:`add_routes`; every page is
server-rendered with Jinja2 autoescaping, so citizen text is always inert.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.domain.tracking import format_tracking_no
from bot.staff.access import Permission
from bot.staff.accounts import LockedOut, LoginFailed
from bot.web.auth import (
    COOKIE,
    LOGIN_PATH,
    STAFF_AUTH,
    client_ip,
    identity,
    next_path,
)
from bot.web.console_deps import CONSOLE, FLASH_COOKIE, take_flash
from bot.web.i18n import LANG_COOKIE, LANGS, translate

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def lang_of(request: web.Request) -> str:
    """The console language: ?lang=, then the cookie, then the account's, then Chinese."""
    for candidate in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGS:
            return candidate
    found = identity(request)
    return found.member.lang if found and found.member.lang in LANGS else "zh"


TODO_COUNT = "xf_todo_count"  # request key of the 我的待办 badge's number


def _context(request: web.Request) -> dict[str, Any]:
    """What every console template can use (added by :func:`render`, not by a middleware,
    so that webhook requests do not pay for it)."""
    lang = lang_of(request)
    found = identity(request)

    def t(key: str, **params: Any) -> str:
        return translate(lang, key, **params)

    def static(name: str) -> str:
        return str(request.app.router["console_static"].url_for(filename=name))

    deps = request.app[CONSOLE]
    names = deps.labels
    pickers = {
        "status": names.status,
        "category": names.category,
        "region": names.region,
        "department": names.department,
        "channel": names.channel,
        "flag": names.flag,
        "appeal_type": names.appeal_type,
        "rating": names.rating,
    }

    def label(kind: str, code: str) -> str:
        """The configured name of a status, category, region, department, channel or flag."""
        return pickers[kind](code, lang) if code else ""

    def can(permission: str) -> bool:
        return bool(found and found.member.can(Permission(permission)))

    other = "en" if lang == "zh" else "zh"
    if request.method == "GET":
        kept = [(k, v) for k, v in request.query.items() if k != "lang"]
        lang_url = request.path + "?" + urlencode([*kept, ("lang", other)])
    else:  # a page answering a form post: switch on the start page
        lang_url = "/staff/?" + urlencode([("lang", other)])

    return {
        "t": t,
        "static": static,
        "lang_url": lang_url,
        "label": label,
        "actor": lambda code: actor_name(code, lang),
        "local": deps.local,
        "can": can,
        "lang": lang,
        "other_lang": other,
        "me": found.member if found else None,
        "csrf": found.csrf if found else "",
        "path": request.path,
        "flash": take_flash(request),
        "todo_count": request.get(TODO_COUNT),  # 我的待办's badge (console_todo)
    }


def actor_name(code: str, lang: str) -> str:
    """Who acted, as staff read it: 信访人, 系统, or the staff login (``staff:<login>``)."""
    if code in ("citizen", "system"):
        return translate(lang, f"actor.{code}")
    return code.removeprefix("staff:")


def setup_templates(app: web.Application) -> None:
    """Jinja2 with autoescaping on for every template, and the console context."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["LANGS"] = LANGS
    env.filters["tn"] = format_tracking_no
    env.filters["isodatetime"] = datetime.fromisoformat  # times kept as text in event data


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """Render a console page; remembers a ?lang= choice in a cookie."""
    response = aiohttp_jinja2.render_template(
        template, request, {**_context(request), **context}, status=status
    )
    # Not "no-referrer" here: with it, Chromium sends `Origin: null` on form posts (Fetch
    # standard, "serializing a request origin"), and the CSRF origin check refuses them.
    # "same-origin" still sends nothing to other sites.
    response.headers["Referrer-Policy"] = "same-origin"
    if FLASH_COOKIE in request.cookies:  # shown once, on this page
        response.del_cookie(FLASH_COOKIE, path="/staff")
    chosen = request.query.get("lang")
    if chosen in LANGS:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 86400, path="/staff", samesite="Strict"
        )
    return response


def refusal_page(request: web.Request, status: int) -> web.Response:
    """The page of a refused request (the staff middleware has audited it): 404 for a case
    out of scope (the same page as an unknown case), 403 for what the role may not do."""
    if status == 404:
        return render(request, "not_found.html", {}, status=404)
    return web.Response(status=403, text=translate(lang_of(request), "common.forbidden"))


async def login_page(request: web.Request) -> web.Response:
    """GET /staff/login."""
    if identity(request) is not None:
        raise web.HTTPFound(next_path(request.query.get("next", "")))
    # a form sent after the session expired: its text is kept by the page (console-drafts.js)
    expired = translate(lang_of(request), "login.expired") if request.query.get("expired") else ""
    return render(request, "login.html", {"error": expired, "next": request.query.get("next", "")})


async def login(request: web.Request) -> web.Response:
    """POST /staff/login: check credentials, open a session, set the cookie."""
    auth = request.app[STAFF_AUTH]
    form = await request.post()
    login_name, password = str(form.get("login", ""))[:64], str(form.get("password", ""))[:256]
    target = str(form.get("next", ""))
    lang = lang_of(request)
    if not auth.throttle.allow(client_ip(request)):
        error = translate(lang, "login.throttled")
        return render(request, "login.html", {"error": error, "next": target}, status=429)
    try:
        row = await auth.accounts.authenticate(login_name, password, ip=client_ip(request))
    except LockedOut as exc:
        # the office's clock, never UTC: staff read it against the clock on their wall
        until = request.app[CONSOLE].local(exc.until)
        error = translate(lang, "login.locked", until=until)
        return render(request, "login.html", {"error": error, "next": target}, status=429)
    except LoginFailed:
        error = translate(lang, "login.failed")
        return render(request, "login.html", {"error": error, "next": target}, status=401)
    tokens = await auth.accounts.open_session(row.id)
    response = web.HTTPSeeOther(next_path(target))
    auth.set_cookie(response, tokens.token)
    raise response


async def logout(request: web.Request) -> web.Response:
    """POST /staff/logout (CSRF-checked like every form)."""
    auth = request.app[STAFF_AUTH]
    await auth.accounts.close_session(request.cookies.get(COOKIE, ""), ip=client_ip(request))
    response = web.HTTPSeeOther(LOGIN_PATH)
    auth.clear_cookie(response)
    raise response


async def _slash(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/staff/")


def add_routes(app: web.Application) -> None:
    """Login, logout and the console's static files (pages add their own routes)."""
    app.router.add_get("/staff", _slash)
    app.router.add_get(LOGIN_PATH, login_page)
    app.router.add_post(LOGIN_PATH, login)
    app.router.add_post("/staff/logout", logout)
    app.router.add_static("/staff/static", STATIC_DIR, append_version=True, name="console_static")
