"""A case's official documents for staff (console and API) and for the petitioner's link.

Staff see a document when they see its case (role, then department scope: a case out of
scope is "not found"); roles without personal-data access get a rendering with the
petitioner's name, phone and address masked, never the original. Recording a paper
delivery needs the right to act on cases. Every read and every record is audited.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.cases.document_pdf import DocumentFiles
from bot.cases.documents import DocumentConfig
from bot.domain.tracking import parse_tracking_no
from bot.logging import get_logger, mask_phone, mask_text
from bot.staff.access import Permission, StaffMember
from bot.staff.casework import ActionError, CaseNotFound, visible_case
from bot.staff.pii_policy import PiiPolicy, mask_name
from bot.storage import cases as case_store
from bot.storage import documents as store
from bot.storage import staff as staff_store
from bot.storage.cases import CaseRow
from bot.storage.db import Database
from bot.storage.documents import DocumentRow, PaperDelivery

log = get_logger(__name__)

WAYS = ("in_person", "post")  # 当面送达 / 邮寄送达
MAX_DELIVERY_NOTE = 500
# what a document prints that a petitioner wrote or staff wrote to them: numbers masked
_FREE_TEXT = ("request", "message", "opinion", "reason", "channel", "to")


@dataclass(frozen=True, slots=True)
class DocumentView:
    """A document as listed on a case: its row, its title and its paper deliveries."""

    document: DocumentRow
    title: str
    paper: tuple[PaperDelivery, ...]


def masked_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """A document's snapshot without the petitioner's personal data (name, phone, address,
    and mobile or ID-card numbers written in its texts)."""
    out = dict(data)
    out["name"] = mask_name(str(data.get("name") or ""))
    out["phone"] = mask_phone(str(data.get("phone") or ""))
    out["address"] = mask_name(str(data.get("address") or ""))
    personal = [(str(data.get(k) or ""), str(out[k])) for k in ("name", "address", "phone")]
    for key in _FREE_TEXT:
        if isinstance(out.get(key), str):
            text = mask_text(out[key])
            for value, masked in personal:  # the petitioner named in a staff-written text
                if len(value) >= 2:
                    text = text.replace(value, masked)
            out[key] = text
    return out


class StaffDocuments:
    """Listing, PDF files and paper-delivery records of case documents."""

    def __init__(
        self,
        db: Database,
        files: DocumentFiles,
        config: DocumentConfig,
        *,
        tz: ZoneInfo,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.files = files
        self.config = config
        self.tz = tz
        self.clock = clock

    def title(self, kind: str) -> str:
        """The printed title of a kind of document."""
        found = self.config.kinds.get(kind)
        return found.title if found is not None else kind

    # ------------------------------------------------------------------ staff

    async def of_case(self, case_id: int) -> list[DocumentView]:
        """The documents of a case the caller has already been shown (console case page)."""
        async with self.db.read() as conn:
            rows = await store.of_case(conn, case_id)
            paper = await store.deliveries_of(conn, [r.id for r in rows])
        return [DocumentView(r, self.title(r.kind), tuple(paper.get(r.id, ()))) for r in rows]

    async def listing(
        self, member: StaffMember, tracking_no: str, *, ip: str = "", via: str = ""
    ) -> tuple[CaseRow, list[DocumentView]]:
        """A visible case and its documents (audited as a read of the case)."""
        member.require(Permission.CASE_READ)
        async with self.db.read() as conn:
            case = await visible_case(conn, member, tracking_no)
        await self._audit(member, "case.read", case.id, ip=ip, via=via)
        return case, await self.of_case(case.id)

    async def pdf(
        self,
        member: StaffMember,
        tracking_no: str,
        document_id: int,
        *,
        ip: str = "",
        via: str = "",
    ) -> tuple[DocumentRow, Path]:
        """The PDF of a document of a visible case: masked without personal-data access."""
        member.require(Permission.CASE_READ)
        async with self.db.read() as conn:
            case = await visible_case(conn, member, tracking_no)
            document = await store.by_id(conn, document_id)
        if document is None or document.case_id != case.id:
            raise CaseNotFound(f"no document {document_id} on case {tracking_no}")
        personal = PiiPolicy.of(member).personal
        path = await self._file(document, masked=not personal)
        detail = {"document": document.number, "masked": not personal}
        await self._audit(member, "document.read", case.id, ip=ip, via=via, detail=detail)
        return document, path

    async def record_delivery(
        self,
        member: StaffMember,
        tracking_no: str,
        document_id: int,
        *,
        way: str,
        day: date | str,
        note: str = "",
        ip: str = "",
        via: str = "",
    ) -> tuple[DocumentRow, PaperDelivery]:
        """Record that the paper document was handed over or posted (raises ActionError)."""
        member.require(Permission.CASE_ACT)
        if way not in WAYS:
            raise ActionError(f"way is one of {', '.join(WAYS)}", code="invalid", field="way")
        delivered = _day(day)
        note = note.strip()
        if len(note) > MAX_DELIVERY_NOTE:
            raise ActionError(
                f"note is too long ({len(note)} > {MAX_DELIVERY_NOTE} characters)",
                code="too_long",
                field="delivery_note",
                limit=MAX_DELIVERY_NOTE,
            )
        now = self.clock()
        async with self.db.transaction() as conn:
            case = await visible_case(conn, member, tracking_no)
            document = await store.by_id(conn, document_id)
            if document is None or document.case_id != case.id:
                raise CaseNotFound(f"no document {document_id} on case {tracking_no}")
            issued = document.created_at.astimezone(self.tz).date()
            today = now.astimezone(self.tz).date()
            if not issued <= delivered <= today:
                raise ActionError(
                    f"the delivery day is between {issued} and {today}",
                    code="delivery_day",
                    field="delivered_on",
                    first=issued.isoformat(),
                    last=today.isoformat(),
                )
            values = {
                "document_id": document.id,
                "way": way,
                "delivered_on": delivered,
                "note": note,
                "recorded_by": member.actor,
                "recorded_at": now,
            }
            delivery_id = await store.add_delivery(conn, **values)
            await staff_store.add_audit(
                conn,
                at=now,
                actor=member.login,
                action="document.delivery",
                staff_id=member.id,
                case_id=case.id,
                detail={"document": document.number, "way": way, **({"via": via} if via else {})},
                ip=ip,
            )
        paper = PaperDelivery(delivery_id, document.id, way, delivered, note, member.actor, now)
        return document, paper

    # ------------------------------------------------------------------ the petitioner

    async def for_contact(
        self, contact_id: int, tracking_no: str, document_id: int
    ) -> tuple[DocumentRow, Path] | None:
        """A document of one of ``contact_id``'s own cases and its full PDF (None: no such
        document on a case of theirs, told apart from nothing else)."""
        parsed = parse_tracking_no(tracking_no)
        if parsed.outcome != "valid":
            return None
        async with self.db.read() as conn:
            case = await case_store.own_case(conn, contact_id, parsed.canonical)
            document = await store.by_id(conn, document_id) if case is not None else None
        if case is None or document is None or document.case_id != case.id:
            return None
        return document, await self._file(document, masked=False)

    # ------------------------------------------------------------------ helpers

    async def _file(self, document: DocumentRow, *, masked: bool) -> Path:
        """The rendered PDF, rendered now when it is not kept yet."""
        key = DocumentFiles.key(document.case_id, document.id, masked=masked)
        data = masked_data(document.data) if masked else document.data
        started = time.perf_counter()
        path, rendered = await self.files.ensure(key, document.kind, data)
        if rendered:
            millis = round((time.perf_counter() - started) * 1000)
            log.info("document.rendered", kind=document.kind, masked=masked, ms=millis)
            if not masked and document.pdf_key != key:
                async with self.db.transaction() as conn:
                    await store.set_pdf_key(conn, document.id, key)
        return path

    async def _audit(
        self,
        member: StaffMember,
        action: str,
        case_id: int,
        *,
        ip: str,
        via: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        if via:
            detail = {**(detail or {}), "via": via}
        async with self.db.transaction() as conn:
            await staff_store.add_audit(
                conn,
                at=self.clock(),
                actor=member.login,
                action=action,
                staff_id=member.id,
                case_id=case_id,
                detail=detail or None,
                ip=ip,
            )


def _day(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ActionError(
            "delivered_on is a day (YYYY-MM-DD)", code="invalid", field="delivered_on"
        ) from None
