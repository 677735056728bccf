"""The bulk route of the staff API: 受理 or 交办 a selection of cases in one request.

Each case goes through the same facade call as ``POST /cases/{no}/actions/{action}``
(permission, department scope, authority rules, state machine; audited per case); a
refused case does not stop the others and is listed with the error code the single
action would have answered (``not_found``, ``conflict``, ``invalid``, or an authority
refusal such as ``co_handler``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.cases.authority import REFUSALS
from bot.staff.access import Permission
from bot.staff.actions import MAX_NOTE, MAX_REPLY
from bot.staff.bulk import MAX_SELECTION, bulk_act
from bot.web import api_models as m
from bot.web.api_routes import API_PREFIX, Call, Route


class BulkIn(m.Body):
    """The selection, the action, and the action's parameters (the same for every case)."""

    message: str = Field(
        default="",
        max_length=MAX_REPLY,
        description="告知内容: told to each petitioner with the action's notice",
    )
    note: str = Field(
        default="", max_length=MAX_NOTE, description="Internal note: staff only, never pushed"
    )

    action: Literal["accept", "assign"]
    cases: list[str] = Field(min_length=1, max_length=MAX_SELECTION)
    department: str = Field(
        default="", max_length=64, description="assign: the department (empty: routing decides)"
    )
    co_departments: list[str] | None = Field(default=None, max_length=20)


class BulkRefusedOut(m.Out):
    """A selected case the action was not taken on."""

    tracking_no: str
    error: str = Field(description="What the single action would answer: not_found, conflict, …")
    code: str = Field(description="The refusal's own code (the state machine's or authority's)")
    detail: str


class BulkOut(m.Out):
    """How many cases were done, and each refused case with its reason."""

    action: str
    done: list[str]
    refused: list[BulkRefusedOut]
    pushes: int = Field(description="Messages queued to petitioners")


def _error(code: str) -> str:
    """The error code the single-case route would answer for a refusal code."""
    if code == "not_found" or code in REFUSALS:
        return code
    return "conflict" if code in ("conflict", "close_too_early") else "invalid"


async def bulk_action(call: Call[None, BulkIn]) -> BulkOut:
    """POST /api/v1/cases/actions/bulk."""
    body = call.body
    params = body.model_dump(exclude={"action", "cases"})
    if body.action != "assign":
        params.pop("department")
        params.pop("co_departments")
    result = await bulk_act(
        call.services.casework,
        call.member,
        body.cases,
        body.action,
        params,
        ip=call.ip,
        via=call.via,
    )
    return BulkOut(
        action=result.action,
        done=result.done,
        refused=[
            BulkRefusedOut(
                tracking_no=r.tracking_no, error=_error(r.code), code=r.code, detail=r.message
            )
            for r in result.refused
        ],
        pushes=result.pushes,
    )


ROUTES = [
    Route(
        "POST",
        f"{API_PREFIX}/cases/actions/bulk",
        bulk_action,
        "bulkCaseAction",
        "Accept (受理) or assign (交办) several cases at once",
        "actions",
        Permission.CASE_ACT,
        body=BulkIn,
        response=BulkOut,
        errors=(400, 413, 415, 422),
        description=(
            "Each case is checked and audited as by its own action route; refused cases are "
            "listed with the error that route would answer, and do not stop the others."
        ),
    ),
]
