"""The staff console (/staff): templates, language, static files, login and logout.

Pages live in their own modules and register through :func:`add_routes`; every page is
server-rendered with Jinja2 autoescaping, so citizen text is always inert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.staff.accounts import LockedOut, LoginFailed
from bot.web.auth import (
    COOKIE,
    LOGIN_PATH,
    STAFF_AUTH,
    client_ip,
    identity,
    next_path,
)
from bot.web.i18n import LANGS, translate

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
LANG_COOKIE = "xf_lang"


def lang_of(request: web.Request) -> str:
    """The console language: ?lang=, then the cookie, then the account's, then Chinese."""
    for candidate in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGS:
            return candidate
    found = identity(request)
    return found.member.lang if found and found.member.lang in LANGS else "zh"


async def _context(request: web.Request) -> dict[str, Any]:
    lang = lang_of(request)
    found = identity(request)

    def t(key: str, **params: Any) -> str:
        return translate(lang, key, **params)

    def static(name: str) -> str:
        return str(request.app.router["console_static"].url_for(filename=name))

    return {
        "t": t,
        "static": static,
        "lang": lang,
        "other_lang": "en" if lang == "zh" else "zh",
        "me": found.member if found else None,
        "csrf": found.csrf if found else "",
        "path": request.path,
    }


def setup_templates(app: web.Application) -> None:
    """Jinja2 with autoescaping on for every template, and the console context."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        context_processors=[_context],
    )
    env.globals["LANGS"] = LANGS


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """Render a console page; remembers a ?lang= choice in a cookie."""
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    chosen = request.query.get("lang")
    if chosen in LANGS:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 86400, path="/staff", samesite="Strict"
        )
    return response


async def login_page(request: web.Request) -> web.Response:
    """GET /staff/login."""
    if identity(request) is not None:
        raise web.HTTPFound(next_path(request.query.get("next", "")))
    return render(request, "login.html", {"error": "", "next": request.query.get("next", "")})


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
        until = exc.until.strftime("%H:%M UTC")
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
    await auth.accounts.close_session(request.cookies.get(COOKIE, ""))
    response = web.HTTPSeeOther(LOGIN_PATH)
    auth.clear_cookie(response)
    raise response


async def home(request: web.Request) -> web.Response:
    """GET /staff/: the console's start page."""
    return render(request, "home.html", {})


async def _slash(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/staff/")


def add_routes(app: web.Application) -> None:
    """Login, logout, the start page and the console's static files."""
    app.router.add_get("/staff", _slash)
    app.router.add_get("/staff/", home)
    app.router.add_get(LOGIN_PATH, login_page)
    app.router.add_post(LOGIN_PATH, login)
    app.router.add_post("/staff/logout", logout)
    app.router.add_static("/staff/static", STATIC_DIR, append_version=True, name="console_static")
