"""The OpenAPI 3.1 document of the staff API, generated from the route table and its models.

Schemas come from the very pydantic models the handlers validate and serialise with
(``model_json_schema``), so the document is the API's own description, not a copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot.web.api_models import Error

if TYPE_CHECKING:
    from bot.web.api_routes import Route

VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
ERRORS = {
    400: "Malformed request: a JSON body that does not parse, or a URL over 8 KB",
    401: "Not authenticated: no, unknown, expired or revoked token",
    403: "The role lacks the permission (or the CSRF token is missing or wrong)",
    404: "No such resource, or a case outside the member's departments",
    409: "Not allowed in the current state",
    413: "Request body too large",
    415: "The body is not application/json",
    422: "Invalid parameters or body (field errors)",
}
DESCRIPTION = """\
The staff API of xinfang-bot: everything the staff console does, for integrations.

Authenticate with `Authorization: Bearer <token>` (tokens come from
`xinfang staff token <login> --name <what for> [--scope read|write] [--days N]`). A token
expires (90 days unless configured; 401 `token_expired`); a `read` token gets 403
`read_only_token` on every POST. The console's own scripts may use the session
cookie instead, and must then send `X-CSRF-Token` on every POST.

A member sees the cases of their departments only (admins and supervisors see all); a
case outside them answers 404, exactly like an unknown one. Personal data is masked for
roles without `case.pii`. Every read of a case and every action is in the audit log.
Errors are JSON: `{"error": code, "detail": text}`, plus `fields` on 422.
Times are ISO 8601 in UTC; date filters are days in the office's time zone.
"""


def _components(routes: Sequence[Route]) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Error, "serialization"): None}
    for route in routes:
        if route.body is not None:
            models[(route.body, "validation")] = None
        if route.response is not None:
            models[(route.response, "serialization")] = None
    refs, defs = models_json_schema(list(models), ref_template=REF)
    keyed: dict[tuple[str, str], Any] = {
        (model.__name__, mode): schema for (model, mode), schema in refs.items()
    }
    return keyed, defs.get("$defs", {})


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null."""
    options = schema.get("anyOf")
    if not options:
        return schema
    kept = [o for o in options if o.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    if len(kept) == 1:
        return {**rest, **kept[0]}
    return {**rest, "anyOf": kept}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema["properties"].items():
        prop = _without_null(dict(prop))
        description = prop.pop("description", "")
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            del prop["default"]
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            param["description"] = description
        if prop.get("type") == "array":
            param["style"] = "form"
            param["explode"] = True
        out.append(param)
    return out


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _operation(route: Route, refs: dict[tuple[str, str], Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
    }
    if route.description:
        op["description"] = route.description
    if route.public:
        op["security"] = []
    if route.permission is not None:
        op["x-permission"] = route.permission.value
    params = [
        {
            "name": p.name,
            "in": "path",
            "required": True,
            "schema": p.schema,
            **({"description": p.description} if p.description else {}),
        }
        for p in route.params
    ]
    if route.query is not None:
        params.extend(_query_parameters(route.query))
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": not route.body_optional,
            "content": _json(refs[(route.body.__name__, "validation")]),
        }
    if route.upload is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": route.upload}},
        }
    responses: dict[str, Any] = {}
    if route.response is not None:
        responses[str(route.status)] = {
            "description": route.response.__doc__ or "OK",
            "content": _json(refs[(route.response.__name__, "serialization")]),
        }
    else:
        responses[str(route.status)] = {
            "description": "The file",
            "content": {media: {} for media in route.files},
        }
    error = refs[("Error", "serialization")]
    statuses = set(route.errors)
    if not route.public:
        statuses.add(401)
        if route.permission is not None:
            statuses.add(403)
    if route.query is not None:
        statuses.add(400)  # the HTTP parser refuses request lines over 8 KB (plain text)
    for status in sorted(statuses):
        content = _json(error)
        if status == 400:
            content["text/plain"] = {"schema": {"type": "string"}}
        responses[str(status)] = {"description": ERRORS[status], "content": content}
    op["responses"] = responses
    return op


def document(routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``."""
    refs, schemas = _components(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.openapi_path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "xinfang-bot staff API",
            "version": VERSION,
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "security": [{"bearerAuth": []}, {"consoleSession": []}],
        "tags": [
            {"name": "meta"},
            {"name": "cases"},
            {"name": "actions"},
            {"name": "dashboard"},
            {"name": "broadcasts"},
            {"name": "deliveries"},
            {"name": "documents"},
            {"name": "audit"},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `xinfang staff token <login> --name <what for>`",
                },
                "consoleSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "xf_staff",
                    "description": "The console session; POSTs also need X-CSRF-Token",
                },
            },
        },
    }
