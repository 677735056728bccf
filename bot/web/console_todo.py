"""我的待办 (/staff/todo) and the count badge in the console's navigation."""

from __future__ import annotations

from aiohttp import web

from bot.staff.access import Permission
from bot.staff.worklist import has_worklist, todo, todo_count
from bot.web.auth import Handler, identity, require
from bot.web.console import TODO_COUNT, render
from bot.web.console_deps import console


async def todo_page(request: web.Request) -> web.Response:
    """GET /staff/todo: the member's cases by current deadline, and the department's
    untaken ones, each with working days left and the next step."""
    member = require(request, Permission.CASE_READ)
    deps = console(request)
    work = await todo(deps.casework, member)
    request[TODO_COUNT] = work.count
    return render(request, "todo.html", {"work": work, "has_worklist": has_worklist(member)})


@web.middleware
async def todo_badge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count a handler's waiting cases for the navigation of console pages (HTML GETs)."""
    path = request.path
    if (
        request.method == "GET"
        and path.startswith("/staff")
        and not path.startswith(("/staff/static", "/staff/todo"))
        and TODO_COUNT not in request
    ):
        found = identity(request)
        if found is not None and has_worklist(found.member):
            request[TODO_COUNT] = await todo_count(console(request).casework, found.member)
    return await handler(request)


def add_routes(app: web.Application) -> None:
    """我的待办 and its badge."""
    app.router.add_get("/staff/todo", todo_page)
    app.middlewares.append(todo_badge)
