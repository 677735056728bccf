"""登记: turning a confirmed submission into a case, and what a status answer may show."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.flags import registration_flags
from bot.dialogs.types import CaseView, Submission
from bot.domain.search import case_pii_doc, case_search_doc
from bot.domain.tracking import new_tracking_no
from bot.storage import attachments, cases
from bot.storage.cases import CaseRow, Opinion
from bot.storage.contacts import Contact

ACCEPTANCE_DAYS = 15  # 受理告知 within 15 days of registration (信访工作条例 第三十一条)
SUMMARY_CHARS = 40


async def create_case(
    conn: AsyncConnection,
    *,
    contact: Contact,
    submission: Submission,
    now: datetime,
    enrich: Callable[[AsyncConnection, int, datetime], Awaitable[None]] | None = None,
    arrival: Arrival | None = None,
) -> str:
    """Register a case with a fresh tracking number; returns the number.

    ``enrich`` (the lifecycle Registrar) routes the case, sets its deadline and flags and
    stores duplicate suggestions, in the same transaction. ``arrival``: a petition staff
    register (letter, visit, call): its channel, its day of arrival (the clocks start
    there) and who registered it (the timeline's actor).
    """
    answers = submission.answers
    tracking_no = new_tracking_no(now.date())
    while await cases.tracking_no_taken(conn, tracking_no):
        tracking_no = new_tracking_no(now.date())
    phone = str(answers.get("phone") or "")
    earlier = await cases.count_earlier(conn, contact.id, phone)
    case_id = await cases.insert_case(
        conn,
        tracking_no=tracking_no,
        contact_id=contact.id,
        channel=arrival.channel if arrival else contact.address.channel,
        status="submitted",
        lang=submission.lang,
        form_id=submission.form_id,
        form_version=submission.form_version,
        appeal_type=str(answers.get("appeal_type") or ""),
        category=str(answers.get("category") or ""),
        region=str(answers.get("region") or ""),
        name=str(answers.get("name") or "")[:100],
        phone=phone,
        people_count=_int(answers.get("people_count"), 1),
        answers=answers,
        search_doc=case_search_doc(answers, tracking_no),
        search_pii=case_pii_doc(answers, phone),
        flags=registration_flags(answers, earlier),
        submitted_at=arrival.received_at if arrival else now,
        updated_at=now,
        due_at=(arrival.received_at if arrival else now) + timedelta(days=ACCEPTANCE_DAYS),
    )
    await cases.add_event(
        conn,
        case_id,
        at=now,
        actor=arrival.actor if arrival else "citizen",
        kind="submitted",
        data=arrival.event_data() if arrival else None,
    )
    await attachments.link_to_case(conn, _attachment_ids(submission.attachments), case_id)
    if enrich is not None:
        await enrich(conn, case_id, now)
    return tracking_no


@dataclass(frozen=True, slots=True)
class Arrival:
    """How a petition registered by staff came in: 来信, 来访 or 来电, and when."""

    channel: str  # one of bot.domain.arrival.ARRIVAL_CHANNELS
    received_at: datetime  # the day it arrived: the case's submission time, clocks included
    actor: str  # "staff:<login>", who registered it

    def event_data(self) -> dict[str, Any]:
        """What the registration event records besides its actor."""
        return {"arrival": self.channel, "received_at": self.received_at.isoformat()}


# (timeline event row, case) -> the event as the petitioner reads it, in their language
Describe = Callable[[Any, CaseRow], str]


@dataclass(frozen=True)
class StatusWords:
    """How a status answer words a case, in the asker's language."""

    event: Describe  # the latest public event
    # (case, owner, opinions) -> lines: handling department, the deadline named as what it
    # is, every written opinion and the petitioner's own remedy (opinions only for the owner)
    details: Callable[[CaseRow, bool, Sequence[Opinion]], tuple[str, ...]]


async def view_for_owner(
    conn: AsyncConnection, case: CaseRow, words: StatusWords | None = None
) -> CaseView:
    """Everything the petitioner may see about their own case."""
    view = await view_for_verified(conn, case, words, owner=True)
    request = str(case.answers.get("request") or "")
    summary = request[:SUMMARY_CHARS] + ("…" if len(request) > SUMMARY_CHARS else "")
    return replace(view, summary=summary)


async def view_for_verified(
    conn: AsyncConnection, case: CaseRow, words: StatusWords | None = None, *, owner: bool = False
) -> CaseView:
    """Status only, for someone who proved they know the petition's phone digits.

    The latest progress is the newest public timeline event of any kind (accepted,
    assigned, extended with its new date, answered, …), worded by ``describe``; without
    it, only what staff wrote for the petitioner (never an internal note) can be shown.
    """
    last = await cases.last_public_event(conn, case.id)
    opinions = await cases.opinions(conn, case.id) if owner and words is not None else []
    if last is None:
        progress = ""
    elif words is not None:
        progress = words.event(last, case)
    else:
        progress = last.message
    return CaseView(
        tracking_no=case.tracking_no,
        status=case.status,
        submitted_at=case.submitted_at.isoformat(),
        updated_at=case.updated_at.isoformat(),
        category=case.category,
        last_event=progress,
        due_date=case.due_at.date().isoformat() if case.due_at and words is None else "",
        details=words.details(case, owner, opinions) if words is not None else (),
    )


def _attachment_ids(items: tuple[dict[str, Any], ...]) -> list[int]:
    ids = []
    for item in items:
        ref = str(item.get("media_ref", ""))
        if ref.isdigit():
            ids.append(int(ref))
    return ids


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
