"""The registration page (/staff/register): 登记 a petition received by letter, visit or
phone, with its scans; and the office files of a case (investigation material, signed
opinions), uploaded on the case page and marked part of a document or not.

The page's questions are the intake form's own fields (config/forms), so the console
asks what the chat asks; the answers are checked by the desk with the same field kinds.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from datetime import date
from typing import Any

from aiohttp import web

from bot.cases.staff_registration import InvalidPetition, Petition
from bot.dialogs.form import Condition, FieldDef
from bot.domain.arrival import ARRIVAL_CHANNELS
from bot.domain.tracking import format_tracking_no
from bot.staff.access import Permission, StaffMember
from bot.staff.registration_desk import PETITIONER, STAFF
from bot.storage import cases as case_store
from bot.storage import contacts
from bot.storage.files import remove
from bot.web.auth import client_ip, multipart_reader, require
from bot.web.console import lang_of, render
from bot.web.console_deps import Console, console, flash
from bot.web.i18n import translate
from bot.web.staff_files import (
    DESK,
    UploadForm,
    UploadRefused,
    problem_text,
    read_upload_form,
    upload_refusal_text,
)

PREFIX = "a."  # form inputs of the answers: a.<field name>


@dataclass(frozen=True)
class Question:
    """One field of the intake form as the registration page shows it."""

    spec: FieldDef
    label: str
    help: str
    widget: str  # select | textarea | number | text
    options: list[tuple[str, str]]
    when: str  # the field's condition as JSON, for the page script ("" always asked)
    required: bool


def questions(form_fields: tuple[FieldDef, ...], lang: str) -> list[Question]:
    """The form's fields the clerk fills in (files come as uploads)."""
    out = []
    for f in form_fields:
        if f.kind == "attachments":
            continue
        widget = {"choice": "select", "yesno": "select", "longtext": "textarea"}.get(f.kind)
        widget = widget or ("number" if f.kind == "integer" else "text")
        out.append(
            Question(
                spec=f,
                label=f.label.get(lang),
                help=f.help.get(lang),
                widget=widget,
                options=[(c.value, c.label.get(lang)) for c in f.choices],
                when=json.dumps(_condition(f.when)) if f.when else "",
                required=f.ask and not f.optional,
            )
        )
    return out


def _condition(cond: Condition | None) -> dict[str, Any]:
    """A condition as data for the page script (the same structure as the form file)."""
    if cond is None:
        return {}
    if cond.op in ("all", "any"):
        return {cond.op: [_condition(c) for c in cond.children]}
    if cond.op == "not":
        return {"not": _condition(cond.children[0])}
    value = list(cond.values) if cond.op in ("in", "not_in") else cond.values[0]
    return {"field": cond.field, cond.op: value}


def _page(
    request: web.Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> web.Response:
    deps = console(request)
    lang = lang_of(request)
    today = deps.clock().astimezone(deps.tz).date()
    context = {
        "questions": questions(deps.forms.current("intake").fields, lang),
        "arrivals": ARRIVAL_CHANNELS,
        "values": values or {"channel": "letter", "received_on": today.isoformat()},
        "errors": errors or {},
        "error": error,
        "today": today.isoformat(),
        "prefix": PREFIX,
    }
    return render(request, "register.html", context, status=status)


async def register_page(request: web.Request) -> web.Response:
    """GET /staff/register."""
    require(request, Permission.CASE_ACT)
    return _page(request)


async def register(request: web.Request) -> web.Response:
    """POST /staff/register (multipart: the answers, the arrival and the scans)."""
    member = require(request, Permission.CASE_ACT)
    desk = request.app[DESK]
    lang = lang_of(request)
    try:
        form = await _form(request, "files")
    except UploadRefused as exc:
        return _page(request, error=upload_refusal_text(exc, lang), status=400)
    values = {name: form.get(name) for name in form.values if name != "_csrf"}
    answers = {
        name.removeprefix(PREFIX): text for name, text in values.items() if name.startswith(PREFIX)
    }
    try:
        received_on = date.fromisoformat(values.get("received_on", "").strip())
    except ValueError:
        for f in form.files:
            remove(desk.attachments_dir, f.media_ref)
        errors = {"received_on": translate(lang, "register.bad_date")}
        message = translate(lang, "register.invalid", count=1)
        return _page(request, values=values, errors=errors, error=message, status=400)
    petition = Petition(values.get("channel", ""), received_on, answers, "zh")
    try:
        done = await desk.register(member, petition, form.files, ip=client_ip(request))
    except InvalidPetition as exc:
        texts = desk.casework.texts
        errors = {
            (p.field if p.field in ("channel", "received_on", "files") else PREFIX + p.field): (
                problem_text(p, lang, texts)
            )
            for p in exc.problems
        }
        message = translate(lang, "register.invalid", count=len(errors))
        return _page(request, values=values, errors=errors, error=message, status=400)
    number = format_tracking_no(done.tracking_no)
    text = translate(lang, "register.done", number=number, files=len(form.files))
    target = await _after(request, member, done.tracking_no)
    if target == "/staff/register":  # routed to a department the member does not see
        text += translate(lang, "register.out_of_scope")
    response = web.HTTPSeeOther(target)
    flash(response, "ok", text)
    raise response


async def _form(request: web.Request, file_name: str) -> UploadForm:
    """The posted form: multipart with its files, or a plain form (no files)."""
    if request.content_type != "multipart/form-data":
        posted = await request.post()
        values: dict[str, list[str]] = {}
        for name, value in posted.items():
            if isinstance(value, str):
                values.setdefault(name, []).append(value)
        return UploadForm(values)
    desk = request.app[DESK]
    try:
        return await read_upload_form(
            await multipart_reader(request),
            desk.attachments_dir,
            desk.max_upload_bytes,
            file_names=(file_name,),
        )
    except ValueError:  # not readable as multipart
        raise UploadRefused("malformed") from None


async def _after(request: web.Request, member: StaffMember, tracking_no: str) -> str:
    """The new case's page when the member may see it (routing may send it elsewhere)."""
    deps = console(request)
    async with deps.db.read() as conn:
        case = await case_store.by_tracking_no(conn, tracking_no)
    if case is not None and member.in_scope(case.department, case.co_departments):
        return f"/staff/cases/{urllib.parse.quote(tracking_no, safe='')}"
    return "/staff/register"


async def add_file(request: web.Request) -> web.Response:
    """POST /staff/cases/{tracking_no}/files: an office file (or more materials)."""
    member = require(request, Permission.CASE_ACT)
    desk = request.app[DESK]
    lang = lang_of(request)
    number = request.match_info["tracking_no"]
    await desk.case_for_files(member, number)  # 403 / 404 before anything is written
    response = web.HTTPSeeOther(f"/staff/cases/{urllib.parse.quote(number, safe='')}")
    try:
        form = await _form(request, "file")
    except UploadRefused as exc:
        flash(response, "error", upload_refusal_text(exc, lang))
        raise response from None
    if not form.files:
        flash(response, "error", translate(lang, "register.upload.empty"))
        raise response
    origin = PETITIONER if form.get("origin") == PETITIONER else STAFF
    for stored in form.files:
        await desk.add_file(
            member,
            number,
            stored,
            origin=origin,
            in_document=form.get("in_document") == "1",
            ip=client_ip(request),
        )
    flash(response, "ok", translate(lang, f"register.file_added.{origin}", count=len(form.files)))
    raise response


async def set_in_document(request: web.Request) -> web.Response:
    """POST /staff/cases/{tracking_no}/files/{file_id}/in_document (form: on=1|0)."""
    member = require(request, Permission.CASE_ACT)
    desk = request.app[DESK]
    lang = lang_of(request)
    number = request.match_info["tracking_no"]
    form = await request.post()
    on = form.get("on") == "1"
    await desk.mark_in_document(
        member, number, int(request.match_info["file_id"]), on, ip=client_ip(request)
    )
    response = web.HTTPSeeOther(f"/staff/cases/{urllib.parse.quote(number, safe='')}")
    flash(response, "ok", translate(lang, "register.in_document" if on else "register.internal"))
    raise response


async def notice_channel(deps: Console, contact_id: int) -> str:
    """How the petitioner of a case is told: their contact's channel ("paper": 书面告知)."""
    async with deps.db.read() as conn:
        return (await contacts.get(conn, contact_id)).address.channel


def add_routes(app: web.Application) -> None:
    """The registration page and the case files' forms."""
    app.router.add_get("/staff/register", register_page)
    app.router.add_post("/staff/register", register)
    app.router.add_post("/staff/cases/{tracking_no}/files", add_file)
    app.router.add_post(
        "/staff/cases/{tracking_no}/files/{file_id:\\d+}/in_document", set_in_document
    )
