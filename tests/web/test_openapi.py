"""The OpenAPI document: valid OpenAPI 3.1, served at a stable public URL, generated from
the very route table and models the API serves and validates with."""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate

from bot.app import Services, create_app
from bot.storage.case_query import MAX_PER_PAGE
from bot.web import api_models as m
from bot.web.api import ROUTES
from bot.web.openapi import document


def test_the_document_is_valid_openapi_3_1() -> None:
    spec = document(ROUTES)
    validate(spec)  # raises on any violation of the OpenAPI 3.1 schema
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_every_route_is_documented_with_its_errors() -> None:
    paths = document(ROUTES)["paths"]
    for route in ROUTES:
        op = paths[route.openapi_path][route.method.lower()]
        assert op["operationId"] == route.operation_id
        statuses = set(op["responses"])
        assert str(route.status) in statuses
        if route.public:
            assert op["security"] == [] and "401" not in statuses
            continue
        assert "401" in statuses
        if route.permission is not None:
            assert "403" in statuses and op["x-permission"] == route.permission.value
        if route.body is not None:
            assert {"400", "415", "422"} <= statuses
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}


def test_schemas_are_the_models_the_handlers_validate_with() -> None:
    spec = document(ROUTES)
    schemas = spec["components"]["schemas"]
    extend = spec["paths"]["/api/v1/cases/{tracking_no}/actions/extend"]["post"]
    assert extend["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ExtendBody"
    }
    own = m.ACTION_BODIES["extend"].model_json_schema()
    assert schemas["ExtendBody"]["properties"] == own["properties"]
    assert schemas["ExtendBody"]["additionalProperties"] is False  # unknown fields refused
    assert schemas["ExtendBody"]["required"] == ["days", "reason"]
    listing = spec["paths"]["/api/v1/cases"]["get"]["parameters"]
    status = next(p for p in listing if p["name"] == "status")
    assert status["style"] == "form" and status["explode"] is True
    assert set(status["schema"]["items"]["enum"]) >= {"submitted", "answered", "closed"}
    per_page = next(p for p in listing if p["name"] == "per_page")
    assert per_page["schema"]["maximum"] == MAX_PER_PAGE


async def test_served_publicly_at_a_stable_url(services: Services, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(services, run_worker=False))
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200 and response.content_type == "application/json"
    assert json.loads(await response.text()) == document(ROUTES)
