"""What the citizen's own case page shows, worded in their language.

Everything comes from what a status answer may already show the owner: the status, every
public timeline event worded by :meth:`Lifecycle.describe` (never an internal note), every
written opinion in full, the office's deadline and the citizen's own 复查/复核 window, and
which of their actions (评价, 复查/复核, 撤回) the case allows now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.lifecycle import Lifecycle
from bot.cases.service import RATABLE
from bot.domain.statuses import OUTCOMES, WITHDRAWABLE
from bot.domain.tracking import format_tracking_no
from bot.storage import attachments, cases
from bot.storage.cases import CaseRow

SUMMARY_CHARS = 80
# the remedy a status leads to: 复查 of an answer, 复核 of a review decision
REMEDY = {"answered": "review", "reviewed": "recheck"}


@dataclass(frozen=True, slots=True)
class OpinionView:
    """One written opinion: its heading (stage, date, outcome) and its whole text."""

    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class CaseLine:
    """One case in the citizen's list."""

    tracking_no: str
    number: str  # formatted for reading
    status: str  # in words
    submitted: str  # local date
    category: str  # in words


@dataclass(frozen=True, slots=True)
class CasePage:
    """Everything the citizen's page shows about one of their cases."""

    line: CaseLine
    status_code: str
    summary: str
    deadlines: tuple[str, ...]  # handling department, the office's deadline, own window
    events: tuple[str, ...]  # oldest first
    opinions: tuple[OpinionView, ...]  # oldest first
    rating: str  # the citizen's rating in words ("" before one)
    can_rate: bool
    remedy: str  # "review" | "recheck" | "" (the window is closed or there is none)
    can_withdraw: bool
    # names of the office's files staff made part of a document (never an internal one)
    documents: tuple[str, ...] = ()


class PageWords:
    """Words a case page in one language with the lifecycle's texts."""

    def __init__(
        self, lifecycle: Lifecycle, lang: str, category_label: Callable[[str, str], str]
    ) -> None:
        self.lifecycle = lifecycle
        self.texts = lifecycle.texts
        self.lang = lang if lang in lifecycle.texts.by_lang else "zh"
        self.category_label = category_label

    def t(self, key: str, **params: object) -> str:
        """A citizen text in this language."""
        return self.texts.get(self.lang, key, **params)

    def date(self, when: datetime) -> str:
        """A stored time as the office's local date."""
        return when.astimezone(self.lifecycle.tz).date().isoformat()

    def line(self, case: CaseRow) -> CaseLine:
        """A case as one line of the list."""
        local = case.submitted_at.astimezone(self.lifecycle.tz).strftime("%Y-%m-%d %H:%M")
        return CaseLine(
            tracking_no=case.tracking_no,
            number=format_tracking_no(case.tracking_no),
            status=self.t(f"status.{case.status}"),
            submitted=local,
            category=self.category_label(case.category, self.lang) if case.category else "",
        )

    async def page(self, conn: AsyncConnection, case: CaseRow, now: datetime) -> CasePage:
        """The whole page of one case (indexed reads: its public events, its opinions, the
        office files that are part of a document)."""
        lifecycle, lang = self.lifecycle, self.lang
        events = [
            lifecycle.describe(e, case, lang) for e in await cases.public_events(conn, case.id)
        ]
        opinions = []
        for opinion in await cases.opinions(conn, case.id):
            outcome = self.t(f"outcome.{opinion.outcome}") if opinion.outcome in OUTCOMES else "-"
            heading = self.t(
                "page.opinion_head",
                stage=self.t(f"opinion.{opinion.stage}"),
                date=self.date(opinion.decided_at),
                outcome=outcome,
            )
            opinions.append(OpinionView(heading, opinion.text))
        deadlines = list(lifecycle.status_details(case, lang, owner=False))
        remedy = REMEDY.get(case.status, "")
        until = case.request_until
        if remedy and until is not None and now <= until:
            deadlines.append(self.t(f"page.window_{remedy}", until=self.date(until)))
        else:
            remedy = ""
        request = str(case.answers.get("request") or "")
        summary = request[:SUMMARY_CHARS] + ("…" if len(request) > SUMMARY_CHARS else "")
        return CasePage(
            line=self.line(case),
            status_code=case.status,
            summary=summary,
            deadlines=tuple(deadlines),
            events=tuple(events),
            opinions=tuple(opinions),
            rating=self.t(f"rating.{case.rating}") if case.rating else "",
            can_rate=case.status in RATABLE,
            remedy=remedy,
            can_withdraw=case.status in WITHDRAWABLE,
            documents=tuple(
                str(f.filename or f.kind) for f in await attachments.in_documents(conn, case.id)
            ),
        )
