"""The delivery routes of the staff API: failed and stuck messages, retry and cancel.

Permission ``outbox``; every retry and cancel is audited by :class:`Deliveries` with the
member, their address and how they came in. :func:`delivery_out` is also how a case's
timeline shows the state of each notice it sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.deliveries import Notice, UnknownCase
from bot.logging import mask_id, mask_text
from bot.staff.access import Permission, StaffMember
from bot.staff.pii_policy import PiiPolicy
from bot.storage.outbox import StaffOutcome
from bot.web import api_models as m
from bot.web.api_routes import API_PREFIX, ApiError, Call, FieldError, Route
from bot.web.i18n import translate


def delivery_out(n: Notice, member: StaffMember) -> m.DeliveryOut:
    """A message as this member may see it (its text only with case.pii)."""
    d = n.delivery
    return m.DeliveryOut(
        id=d.id,
        state=n.state,  # type: ignore[arg-type]
        status=d.status,
        channel=d.channel,
        kind=d.kind,
        notice=n.notice,
        tracking_no=d.tracking_no or None,
        event_id=d.event_id,
        attempts=d.attempts,
        created_at=m.utc(d.created_at),
        next_attempt_at=m.utc(d.next_attempt_at),
        lease_until=m.utc_or_none(d.lease_until),
        sent_at=m.utc_or_none(d.sent_at),
        reason=n.reason.code,
        reason_text=translate(member.lang, f"reason.{n.reason.code}") if n.reason.code else "",
        platform_code=n.reason.platform_code,
        error=mask_text(d.last_error),
        reachable=d.reachable,
        recipient=mask_id(d.address),
        text=PiiPolicy.of(member).message_text(d.text),
    )


async def list_deliveries(call: Call[m.DeliveryQuery, None]) -> m.DeliveryPageOut:
    """GET /api/v1/deliveries."""
    q = call.query
    desk = call.services.deliveries
    try:
        page = await desk.problems(
            problem=q.state,
            kind=q.kind,
            channel=q.channel,
            tracking_no=q.case,
            limit=q.per_page,
            offset=(q.page - 1) * q.per_page,
        )
    except UnknownCase as exc:
        field = FieldError(loc=["query", "case"], msg=str(exc), type="unknown_case")
        raise ApiError(422, "validation_failed", str(exc), [field]) from None
    counts: dict[str, dict[str, int]] = {}
    for (channel, problem), n in sorted((await desk.counts()).items()):
        counts.setdefault(problem, {})[channel] = n
    return m.DeliveryPageOut(
        items=[delivery_out(desk.notice(d), call.member) for d in page.items],
        total=page.total,
        page=q.page,
        per_page=q.per_page,
        pages=max(1, math.ceil(page.total / q.per_page)),
        counts=counts,
    )


def _result(action: str, outcomes: Sequence[StaffOutcome]) -> m.DeliveryActionOut:
    return m.DeliveryActionOut(
        action=action,  # type: ignore[arg-type]
        done=sum(o.done for o in outcomes),
        outcomes=[m.DeliveryOutcomeOut(id=o.id, done=o.done, status=o.status) for o in outcomes],
    )


async def retry(call: Call[None, m.DeliveryIdsIn]) -> m.DeliveryActionOut:
    """POST /api/v1/deliveries/retry."""
    who = call.member
    outcomes = await call.services.deliveries.retry(
        call.body.ids, actor=who.login, staff_id=who.id, ip=call.ip, via=call.via
    )
    return _result("retry", outcomes)


async def cancel(call: Call[None, m.DeliveryIdsIn]) -> m.DeliveryActionOut:
    """POST /api/v1/deliveries/cancel."""
    who = call.member
    outcomes = await call.services.deliveries.cancel(
        call.body.ids, actor=who.login, staff_id=who.id, ip=call.ip, via=call.via
    )
    return _result("cancel", outcomes)


ROUTES: list[Route] = [
    Route(
        "GET",
        f"{API_PREFIX}/deliveries",
        list_deliveries,
        "listDeliveries",
        "Failed and stuck messages to citizens, with the reason, newest first",
        "deliveries",
        Permission.OUTBOX,
        query=m.DeliveryQuery,
        response=m.DeliveryPageOut,
        errors=(422,),
        description="422 also when ``case`` names no case.",
    ),
    Route(
        "POST",
        f"{API_PREFIX}/deliveries/retry",
        retry,
        "retryDeliveries",
        "Queue failed or stuck messages again, due now",
        "deliveries",
        Permission.OUTBOX,
        body=m.DeliveryIdsIn,
        response=m.DeliveryActionOut,
        errors=(400, 413, 415, 422),
        description="Rows that are not failed or stuck are left as they are (done: false).",
    ),
    Route(
        "POST",
        f"{API_PREFIX}/deliveries/cancel",
        cancel,
        "cancelDeliveries",
        "Cancel pending, scheduled or failed messages: they are never sent",
        "deliveries",
        Permission.OUTBOX,
        body=m.DeliveryIdsIn,
        response=m.DeliveryActionOut,
        errors=(400, 413, 415, 422),
        description="Rows sent, cancelled or being sent are left as they are (done: false).",
    ),
]
