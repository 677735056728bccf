"""Keeping a case's flags up to date: gather its facts, recompute, record what changed.

:meth:`FlagKeeper.refresh` is the one place flags are computed, at registration and
whenever an input changes: a later case of the same citizen, staff linking cases, a
复查/复核 request or a rating (new citizen text), a staff correction of the petition's
details, a staff flag decision. A change is recorded on the timeline as an internal
``flags_changed`` event (flags are for staff, never shown to the citizen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.flags import STAFF_SETTABLE, Evidence, FlagFacts, FlagRules, StaffDecision
from bot.cases.similarity import PetitionText, is_repeat, same_citizen, similarity
from bot.storage import cases
from bot.storage.cases import CaseRow

# timeline events whose text the citizen wrote, searched for urgent words
CITIZEN_TEXT_EVENTS = ("request_review", "request_recheck", "rate")
CITIZEN_CASES = 100  # the citizen's other cases looked at (newest first)


def petition_text(case: CaseRow) -> PetitionText:
    """What duplicate and repeat detection compares of a case (request + facts)."""
    text = "\n".join(str(case.answers.get(k) or "") for k in ("request", "facts")).strip()
    return PetitionText(case.id, case.contact_id, case.phone, case.region, case.category, text)


@dataclass
class FlagKeeper:
    """Recomputes flags from a case's current data and records changes."""

    rules: FlagRules
    tz: ZoneInfo

    async def facts(self, conn: AsyncConnection, case: CaseRow) -> FlagFacts:
        """Everything ``case``'s flags depend on, read now."""
        mine = petition_text(case)
        group = await self._group(conn, case)
        group_ids = {g.id for g in group}
        others = [
            c
            for c in await cases.earlier_for_citizen(
                conn, case.contact_id, case.phone, limit=CITIZEN_CASES
            )
            if c.id != case.id
        ]
        earlier = [c for c in others if c.id < case.id]
        later = [c for c in others if c.id > case.id]
        threshold = self.rules.repeat_threshold
        repeats_earlier = is_repeat(
            mine, [petition_text(c) for c in earlier], threshold=threshold
        ) or any(g.id < case.id and same_citizen(mine, petition_text(g)) for g in group)
        repeated_later = any(
            c.id in group_ids or similarity(mine.text, petition_text(c).text) >= threshold
            for c in later
        ) or any(g.id > case.id and same_citizen(mine, petition_text(g)) for g in group)
        timeline = await cases.events(conn, case.id)
        evidence = [Evidence(mine.text, case.submitted_at, self._day(case.submitted_at))]
        staff: dict[str, StaffDecision] = {}
        for event in timeline:
            data = event.data or {}
            if event.kind in CITIZEN_TEXT_EVENTS:
                text = " ".join(str(x) for x in (data.get("reason"), event.note) if x)
                if text:
                    evidence.append(Evidence(text, event.at, self._day(event.at)))
            elif event.kind in ("flag_set", "flag_cleared") and data.get("flag") in STAFF_SETTABLE:
                staff[str(data["flag"])] = StaffDecision(event.kind == "flag_set", event.at)
        return FlagFacts(
            answers=case.answers,
            people_count=case.people_count,
            earlier_cases=len(earlier),
            repeats_earlier=repeats_earlier,
            repeated_later=repeated_later,
            group_people=_group_people(group),
            evidence=tuple(evidence),
            staff=staff,
        )

    async def refresh(
        self,
        conn: AsyncConnection,
        case_id: int,
        now: datetime,
        *,
        cause: str,
        record: bool = True,
    ) -> list[str]:
        """Recompute one case's flags; store them and, if ``record``, note the change."""
        case = await cases.by_id(conn, case_id, lock=True)
        if case is None:
            return []
        flags = self.rules.compute(await self.facts(conn, case))
        if flags != case.flags:
            await cases.update_case(conn, case.id, now, flags=flags)
            added = [f for f in flags if f not in case.flags]
            removed = [f for f in case.flags if f not in flags]
            if record and (added or removed):
                await cases.add_event(
                    conn,
                    case.id,
                    at=now,
                    actor="system",
                    kind="flags_changed",
                    public=False,
                    data={"added": added, "removed": removed, "cause": cause},
                )
        return flags

    async def refresh_all(
        self, conn: AsyncConnection, case_ids: Iterable[int], now: datetime, *, cause: str
    ) -> None:
        """Refresh several cases (each once, in id order)."""
        for case_id in sorted(set(case_ids)):
            await self.refresh(conn, case_id, now, cause=cause)

    async def related(self, conn: AsyncConnection, case: CaseRow) -> list[int]:
        """The cases whose flags may depend on ``case``: its linked group and the citizen's."""
        ids = {g.id for g in await self._group(conn, case)}
        ids.update(
            c.id
            for c in await cases.earlier_for_citizen(
                conn, case.contact_id, case.phone, limit=CITIZEN_CASES
            )
        )
        ids.discard(case.id)
        return sorted(ids)

    async def _group(self, conn: AsyncConnection, case: CaseRow) -> list[CaseRow]:
        """The cases handled together with ``case`` (itself included)."""
        primary_id = case.linked_to or case.id
        primary = case if primary_id == case.id else await cases.by_id(conn, primary_id)
        members = await cases.linked_to(conn, primary_id)
        if primary is None or (not members and primary.id == case.id):
            return [case]
        return [primary, *members]

    def _day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()


def _group_people(group: list[CaseRow]) -> int:
    """People in a linked group: each citizen's largest count, summed over citizens."""
    counted: list[tuple[PetitionText, int]] = []
    for member in group:
        text = petition_text(member)
        for index, (other, people) in enumerate(counted):
            if same_citizen(text, other):
                counted[index] = (other, max(people, member.people_count))
                break
        else:
            counted.append((text, member.people_count))
    return sum(people for _, people in counted)
