"""The document routes of the staff API: a case's official documents, their PDF, and
paper delivery records (the same :class:`StaffDocuments` facade as the console)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, get_args

from aiohttp import web
from pydantic import Field

from bot.cases.documents import KINDS
from bot.staff.access import Permission
from bot.staff.documents import MAX_DELIVERY_NOTE, WAYS, DocumentView
from bot.storage.documents import PaperDelivery
from bot.web import api_models as m
from bot.web.api_routes import API_PREFIX, Call, PathParam, Route
from bot.web.document_response import pdf_response

Kind = Literal["acceptance", "rejection", "transfer", "extension", "opinion", "review", "recheck"]
Way = Literal["in_person", "post"]
assert get_args(Kind) == KINDS, "api_documents.Kind is out of step with bot.cases.documents"
assert get_args(Way) == WAYS, "api_documents.Way is out of step with bot.staff.documents"

CASE = PathParam(
    "tracking_no",
    {"type": "string", "minLength": 1, "maxLength": 40},
    "Tracking number, in any typed form (XF261121-048273-5)",
)
DOCUMENT = PathParam("document_id", {"type": "integer", "minimum": 0, "maximum": m.MAX_ID})
ID = r"\d+"


class PaperDeliveryOut(m.Out):
    """A paper delivery of a document, as staff recorded it."""

    id: int
    way: Way = Field(description="in_person: 当面送达; post: 邮寄送达")
    delivered_on: date = Field(description="The day it was delivered (office time)")
    note: str
    recorded_by: str
    recorded_at: datetime


class DocumentOut(m.Out):
    """An official document of a case (受理告知书 … 复核意见书)."""

    id: int
    kind: Kind
    title: str = Field(description="The printed title")
    number: str = Field(description="文号, e.g. 杭信复〔2026〕17号")
    created_at: datetime
    created_by: str
    event_id: int | None = Field(description="The timeline event of the action that issued it")
    pdf: str = Field(description="Path of the PDF (masked for roles without case.pii)")
    paper: list[PaperDeliveryOut]


class DocumentListOut(m.Out):
    """A case's documents, in the order they were issued."""

    tracking_no: str
    items: list[DocumentOut]


class PaperDeliveryIn(m.Body):
    """A paper delivery to record."""

    way: Way
    delivered_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD, office time")
    note: str = Field(default="", max_length=MAX_DELIVERY_NOTE)


def _paper(p: PaperDelivery) -> PaperDeliveryOut:
    return PaperDeliveryOut(
        id=p.id,
        way=p.way,  # type: ignore[arg-type]
        delivered_on=p.delivered_on,
        note=p.note,
        recorded_by=p.recorded_by,
        recorded_at=m.utc(p.recorded_at),
    )


def _document(tracking_no: str, v: DocumentView) -> DocumentOut:
    d = v.document
    return DocumentOut(
        id=d.id,
        kind=d.kind,  # type: ignore[arg-type]
        title=v.title,
        number=d.number,
        created_at=m.utc(d.created_at),
        created_by=d.created_by,
        event_id=d.event_id,
        pdf=f"{API_PREFIX}/cases/{tracking_no}/documents/{d.id}",
        paper=[_paper(p) for p in v.paper],
    )


async def list_documents(call: Call[None, None]) -> DocumentListOut:
    """GET /api/v1/cases/{tracking_no}/documents."""
    case, views = await call.services.documents.listing(
        call.member, call.path("tracking_no"), ip=call.ip, via=call.via
    )
    return DocumentListOut(
        tracking_no=case.tracking_no, items=[_document(case.tracking_no, v) for v in views]
    )


async def document_pdf(call: Call[None, None]) -> web.StreamResponse:
    """GET /api/v1/cases/{tracking_no}/documents/{document_id}: the PDF."""
    document, path = await call.services.documents.pdf(
        call.member,
        call.path("tracking_no"),
        int(call.path("document_id")),
        ip=call.ip,
        via=call.via,
    )
    return pdf_response(document, path)


async def record_delivery(call: Call[None, PaperDeliveryIn]) -> PaperDeliveryOut:
    """POST /api/v1/cases/{tracking_no}/documents/{document_id}/deliveries."""
    body = call.body
    _document_row, paper = await call.services.documents.record_delivery(
        call.member,
        call.path("tracking_no"),
        int(call.path("document_id")),
        way=body.way,
        day=body.delivered_on,
        note=body.note,
        ip=call.ip,
        via=call.via,
    )
    return _paper(paper)


ROUTES: list[Route] = [
    Route(
        "GET",
        f"{API_PREFIX}/cases/{{tracking_no}}/documents",
        list_documents,
        "listDocuments",
        "A case's official documents (受理告知书 … 复核意见书) with their deliveries",
        "documents",
        Permission.CASE_READ,
        response=DocumentListOut,
        errors=(404,),
        params=(CASE,),
    ),
    Route(
        "GET",
        f"{API_PREFIX}/cases/{{tracking_no}}/documents/{{document_id:{ID}}}",
        document_pdf,
        "getDocumentPdf",
        "One document as PDF (name, phone and address masked without case.pii)",
        "documents",
        Permission.CASE_READ,
        files=("application/pdf",),
        errors=(404,),
        params=(CASE, DOCUMENT),
        description="Rendered on first request and kept; later requests serve the file.",
    ),
    Route(
        "POST",
        f"{API_PREFIX}/cases/{{tracking_no}}/documents/{{document_id:{ID}}}/deliveries",
        record_delivery,
        "recordDocumentDelivery",
        "Record a paper delivery of a document (当面送达 / 邮寄送达)",
        "documents",
        Permission.CASE_ACT,
        body=PaperDeliveryIn,
        response=PaperDeliveryOut,
        status=201,
        errors=(400, 404, 413, 415, 422),
        params=(CASE, DOCUMENT),
        description="422 when the day is before the document was issued or in the future.",
    ),
]
