"""The machinery of the staff JSON API: the route table type, request parsing, JSON errors.

Each endpoint is one :class:`Route`: method, path, the permission it needs, its query,
body and response models. The same table registers the aiohttp handlers and generates
the OpenAPI document (:mod:`bot.web.openapi`), so the two cannot drift apart.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot import safe_json
from bot.cases.authority import REFUSALS
from bot.deliveries import Deliveries
from bot.logging import get_logger
from bot.staff.access import AccessDenied, Permission, Role, StaffMember
from bot.staff.broadcasts import BroadcastService
from bot.staff.casework import ActionError, CaseNotFound, Casework
from bot.staff.documents import StaffDocuments
from bot.staff.export import CaseExporter
from bot.web import auth
from bot.web.api_models import Body, Error, FieldError, Query

__all__ = [
    "API_PREFIX",
    "API_SERVICES",
    "ApiError",
    "ApiServices",
    "Call",
    "FieldError",
    "PathParam",
    "Route",
    "register",
]

if TYPE_CHECKING:
    from bot.services import Services

log = get_logger(__name__)

API_PREFIX = auth.API_PREFIX
JSON = "application/json"
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")

Q = TypeVar("Q", bound=Query | None)
B = TypeVar("B", bound=Body | None)
QueryT = TypeVar("QueryT", bound=Query)
BodyT = TypeVar("BodyT", bound=Body)


@dataclass(frozen=True)
class ApiServices:
    """What the API handlers work through (built once by the composition root)."""

    casework: Casework
    broadcasts: BroadcastService
    exporter: CaseExporter
    timezone: ZoneInfo
    deliveries: Deliveries
    documents: StaffDocuments

    @classmethod
    def of(cls, services: Services) -> ApiServices:
        """The API's share of the application's services."""
        return cls(
            services.casework,
            services.broadcasts,
            services.exporter,
            ZoneInfo(services.settings.timezone),
            services.deliveries,
            services.documents,
        )


API_SERVICES = web.AppKey("api_services", ApiServices)


class ApiError(Exception):
    """An error answered as ``{"error": code, "detail": …}`` with an HTTP status."""

    def __init__(
        self, status: int, code: str, detail: str, fields: list[FieldError] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = fields


@dataclass(frozen=True)
class Call(Generic[Q, B]):
    """One validated API request, as a handler sees it."""

    request: web.Request
    member: StaffMember
    via: str
    query: Q
    body: B
    services: ApiServices

    @property
    def ip(self) -> str:
        """The client address (for the audit log)."""
        return auth.client_ip(self.request)

    def path(self, name: str) -> str:
        """A path parameter."""
        return self.request.match_info[name]


ApiHandler = Callable[[Call[Any, Any]], Awaitable[BaseModel | web.StreamResponse]]


@dataclass(frozen=True)
class PathParam:
    """A path parameter as documented."""

    name: str
    schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Route:
    """One API operation: how it is served and how it is documented."""

    method: str
    path: str  # aiohttp form; a {name:regex} is documented as {name}
    handler: ApiHandler
    operation_id: str
    summary: str
    tag: str
    permission: Permission | None
    query: type[Query] | None = None
    body: type[Body] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    files: tuple[str, ...] = ()  # media types of a file response (instead of JSON)
    errors: tuple[int, ...] = ()  # error statuses besides 401 (and 403 with a permission)
    params: tuple[PathParam, ...] = ()
    description: str = ""
    public: bool = False
    body_optional: bool = field(default=False)
    upload: dict[str, Any] | None = None  # a multipart/form-data body: its schema

    @property
    def openapi_path(self) -> str:
        """The path with OpenAPI parameter templates."""
        return _PARAM.sub(r"{\1}", self.path)


def _list_field(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_list_field(arg) for arg in typing.get_args(annotation))
    return origin is list


def parse_query(model: type[QueryT], request: web.Request) -> QueryT:
    """The query string as ``model``: list fields take repeated and comma-separated values."""
    raw: dict[str, Any] = {}
    for name in set(request.query):
        values = request.query.getall(name)
        info = model.model_fields.get(name)
        if info is not None and _list_field(info.annotation):
            raw[name] = [part.strip() for v in values for part in v.split(",") if part.strip()]
        else:
            raw[name] = values[-1]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise invalid("query", exc) from None


async def parse_body(model: type[BodyT], request: web.Request, *, optional: bool) -> BodyT:
    """The JSON body as ``model``: 415 without JSON, 400 when malformed, 422 when invalid."""
    raw = await request.read()
    if not raw.strip() and optional:
        data: Any = {}
    else:
        if request.content_type != JSON:
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
        try:
            data = safe_json.loads(raw)  # RFC 8259: JSON is UTF-8; bounded nesting, numbers
        except safe_json.BadJson as exc:
            raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid("body", exc) from None


def invalid(where: str, exc: ValidationError) -> ApiError:
    """A 422 with one entry per invalid field."""
    fields = [
        FieldError(loc=[where, *e["loc"]], msg=e["msg"], type=e["type"])
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    names = ", ".join(".".join(str(p) for p in f.loc[1:]) or where for f in fields)
    return ApiError(422, "validation_failed", f"invalid {where}: {names}", fields)


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    """A JSON response from a model (UTF-8, not ASCII-escaped; datetimes ISO 8601)."""
    return web.Response(
        body=model.model_dump_json().encode(),
        status=status,
        content_type=JSON,
        charset="utf-8",
    )


def error_response(
    status: int,
    code: str,
    detail: str,
    fields: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The JSON error body every API error has."""
    body = Error(error=code, detail=detail, fields=fields)
    response = web.Response(
        body=body.model_dump_json(exclude_none=True).encode(),
        status=status,
        content_type=JSON,
        charset="utf-8",
        headers=headers,
    )
    return response


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
}


@web.middleware
async def api_errors(request: web.Request, handler: auth.Handler) -> web.StreamResponse:
    """Every answer under /api/v1 is JSON, errors included; nothing is cached."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    try:
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.detail, exc.fields)
    except (CaseNotFound, AccessDenied):
        raise  # refusals: audited and answered by the staff middleware (bot.web.auth)
    except ActionError as exc:
        if exc.code in REFUSALS:  # who may decide (the 条例's authority rules)
            response = error_response(403, exc.code, str(exc))
        else:
            status = 409 if exc.conflict else 422
            code = "conflict" if exc.conflict else "invalid"
            response = error_response(status, code, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == JSON:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
        code = _HTTP_CODES.get(exc.status, "error")
        response = error_response(exc.status, code, exc.reason, headers=headers)
    except Exception:
        log.exception("api.error", path=request.path, method=request.method)
        response = error_response(500, "internal", "internal error; it has been logged")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def endpoint(route: Route) -> auth.Handler:
    """The aiohttp handler of a route: permission, then query and body validation."""

    async def handle(request: web.Request) -> web.StreamResponse:
        services = request.app[API_SERVICES]
        found = auth.identity(request)
        if route.public:
            result = await route.handler(Call(request, _NOBODY, "", None, None, services))
        else:
            if found is None:
                raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>")
            if route.permission is not None:
                found.member.require(route.permission)  # AccessDenied: 403, audited
            query = parse_query(route.query, request) if route.query else None
            body = (
                await parse_body(route.body, request, optional=route.body_optional)
                if route.body
                else None
            )
            call = Call(request, found.member, found.via, query, body, services)
            result = await route.handler(call)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, route.status)

    handle.__name__ = route.operation_id
    return handle


_NOBODY = StaffMember(0, "", "", Role.VIEWER, ())  # public routes read nothing of a member


def register(app: web.Application, routes: list[Route], services: ApiServices) -> None:
    """Add the routes and the JSON error middleware to the application."""
    app[API_SERVICES] = services
    app.middlewares.append(api_errors)
    for route in routes:
        app.router.add_route(route.method, route.path, endpoint(route), name=route.operation_id)
