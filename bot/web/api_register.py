"""The API's registration routes: 登记 a petition received by letter, visit or phone, and
the files of a case (the petitioner's scans, the office's own), through the desk.

A petition the form refuses is answered 400 ``invalid_petition`` with one entry per
field (``type`` is the reason's text key, ``msg`` its words in the member's language).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, get_args

from pydantic import Field

from bot.cases.staff_registration import InvalidPetition, Petition
from bot.domain.arrival import ARRIVAL_CHANNELS
from bot.domain.tracking import format_tracking_no
from bot.staff.access import Permission
from bot.staff.registration_desk import ORIGINS
from bot.storage.files import remove
from bot.web import api_models as m
from bot.web.api_routes import API_PREFIX, ApiError, Call, FieldError, PathParam, Route
from bot.web.auth import multipart_reader
from bot.web.staff_files import (
    DESK,
    UploadRefused,
    problem_text,
    read_upload_form,
    upload_refusal_text,
)

Arrival = Literal["letter", "visit", "phone"]
assert get_args(Arrival) == ARRIVAL_CHANNELS, "api_register.Arrival is out of step"
Origin = Literal["petitioner", "staff"]
assert get_args(Origin) == ORIGINS, "api_register.Origin is out of step"
Answer = (
    Annotated[str, Field(max_length=25_000)] | int | list[Annotated[str, Field(max_length=200)]]
)
CASE = PathParam(
    "tracking_no",
    {"type": "string", "minLength": 1, "maxLength": 40},
    "Tracking number, in any typed form (XF261121-048273-5)",
)
FILE = PathParam("file_id", {"type": "integer", "minimum": 0, "maximum": m.MAX_ID})
UPLOAD_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "origin": {"type": "string", "enum": list(ORIGINS), "default": "staff"},
        "in_document": {"type": "boolean", "default": False},
    },
}


class RegisterIn(m.Body):
    """A petition received by letter, visit or phone, as the clerk took it down."""

    channel: Arrival = Field(description="来信 letter, 来访 visit or 来电 phone")
    received_on: Annotated[date, Field(strict=False)] = Field(
        description="The day it arrived (the case's clocks start there); not in the future"
    )
    lang: Literal["zh", "en"] = Field(default="zh", description="The petitioner's language")
    answers: dict[Annotated[str, Field(max_length=64)], Answer] = Field(
        max_length=40,
        description=(
            "The intake form's answers by field name (config/forms), written as a clerk "
            "would type them: choice labels or codes, numbers, names separated by 、"
        ),
    )


class RegisteredOut(m.Out):
    """The new case."""

    tracking_no: str
    display_no: str
    notice_channel: Literal["sms", "paper"] = Field(
        description="How the petitioner is told: SMS to their mobile, or on paper (书面告知)"
    )


class FileOut(m.Out):
    """A file added to a case."""

    id: int
    origin: Origin
    in_document: bool


class InDocumentIn(m.Body):
    """Whether an office file is part of a document the petitioner receives."""

    in_document: bool


async def register(call: Call[None, RegisterIn]) -> RegisteredOut:
    """POST /api/v1/registrations."""
    body = call.body
    petition = Petition(body.channel, body.received_on, dict(body.answers), body.lang)
    desk = call.request.app[DESK]
    try:
        done = await desk.register(call.member, petition, ip=call.ip, via=call.via)
    except InvalidPetition as exc:
        lang = call.member.lang
        texts = desk.casework.texts
        fields = [
            FieldError(
                loc=["body", *(("answers",) if p.field not in _TOP else ()), p.field],
                msg=problem_text(p, lang, texts),
                type=p.key,
            )
            for p in exc.problems
        ]
        detail = f"the petition is incomplete: {exc}"
        raise ApiError(400, "invalid_petition", detail, fields) from None
    return RegisteredOut(
        tracking_no=done.tracking_no,
        display_no=format_tracking_no(done.tracking_no),
        notice_channel="sms" if done.notice_channel == "sms" else "paper",
    )


_TOP = frozenset({"channel", "received_on", "files"})


async def add_file(call: Call[None, None]) -> FileOut:
    """POST /api/v1/cases/{tracking_no}/files (multipart: file, origin, in_document)."""
    request = call.request
    desk = request.app[DESK]
    await desk.case_for_files(call.member, call.path("tracking_no"))  # 403 / 404 first
    if request.content_type != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "send the file as multipart/form-data")
    try:
        form = await read_upload_form(
            await multipart_reader(request),
            desk.attachments_dir,
            desk.max_upload_bytes,
            file_names=("file",),
        )
    except UploadRefused as exc:
        status = {"too_big": 413, "file_type": 415}.get(exc.code, 400)
        raise ApiError(status, exc.code, upload_refusal_text(exc, call.member.lang)) from None
    except ValueError:  # a body aiohttp cannot read as multipart
        raise ApiError(400, "malformed", "not a multipart body") from None
    if len(form.files) != 1:
        for f in form.files:
            remove(desk.attachments_dir, f.media_ref)
        raise ApiError(400, "bad_request", "send exactly one non-empty part named file")
    origin = form.get("origin", "staff")
    in_document = form.get("in_document", "false").lower() in ("true", "1", "yes")
    if origin not in ORIGINS:
        remove(desk.attachments_dir, form.files[0].media_ref)
        field = FieldError(loc=["body", "origin"], msg="petitioner or staff", type="enum")
        raise ApiError(422, "validation_failed", "origin is petitioner or staff", [field])
    file_id = await desk.add_file(
        call.member,
        call.path("tracking_no"),
        form.files[0],
        origin=origin,
        in_document=in_document,
        ip=call.ip,
        via=call.via,
    )
    shown = in_document and origin == "staff"
    return FileOut(id=file_id, origin=origin, in_document=shown)  # type: ignore[arg-type]


async def set_in_document(call: Call[None, InDocumentIn]) -> FileOut:
    """PUT /api/v1/cases/{tracking_no}/files/{file_id}/in_document."""
    file_id = int(call.path("file_id"))
    await call.request.app[DESK].mark_in_document(
        call.member,
        call.path("tracking_no"),
        file_id,
        call.body.in_document,
        ip=call.ip,
        via=call.via,
    )
    return FileOut(id=file_id, origin="staff", in_document=call.body.in_document)


ROUTES: list[Route] = [
    Route(
        "POST",
        f"{API_PREFIX}/registrations",
        register,
        "registerCase",
        "Register (登记) a petition received by letter, visit or phone",
        "cases",
        Permission.CASE_ACT,
        body=RegisterIn,
        response=RegisteredOut,
        status=201,
        errors=(400, 413, 415, 422),
        description=(
            "The answers are checked with the chat's intake form. 400 invalid_petition: "
            "the form refuses them (one field error per problem; a visit of five or more "
            "people needs its representatives); 422: the body itself is malformed. A "
            "mobile number becomes the petitioner's SMS contact; without one, notices are "
            "given on paper. Add the scans with POST /cases/{tracking_no}/files."
        ),
    ),
    Route(
        "POST",
        f"{API_PREFIX}/cases/{{tracking_no}}/files",
        add_file,
        "addCaseFile",
        "Add a file to a case: a scan of the petitioner's materials or an office file",
        "cases",
        Permission.CASE_ACT,
        response=FileOut,
        status=201,
        errors=(400, 404, 413, 415, 422),
        params=(CASE,),
        upload=UPLOAD_SCHEMA,
        description=(
            "multipart/form-data: file, origin (petitioner: their materials; staff: "
            "investigation material, signed opinions, never shown to the petitioner "
            "unless in_document is true)."
        ),
    ),
    Route(
        "PUT",
        f"{API_PREFIX}/cases/{{tracking_no}}/files/{{file_id:\\d+}}/in_document",
        set_in_document,
        "setCaseFileInDocument",
        "Make an office file part of a document the petitioner receives, or not",
        "cases",
        Permission.CASE_ACT,
        body=InDocumentIn,
        response=FileOut,
        errors=(400, 404, 415, 422),
        params=(CASE, FILE),
    ),
]
