"""登记 by staff: a petition received by letter (来信), visit (来访) or phone (来电).

The answers are checked with the chat's own form (config/forms, the field kinds of
bot/dialogs/kinds): the same conditions, required fields, limits and 集体访
representatives. The case is then created like a chat submission
(:func:`bot.cases.registration.create_case` with the lifecycle's enrichment: routing,
deadline, flags, duplicate suggestions), dated by the day the petition arrived, so its
clocks run from that day, with the registering staff member on its timeline. The scans
of the letter and the petitioner's materials become the case's (petitioner's) files.

The petitioner's contact for notices: a mobile number becomes an SMS contact (E.164);
without one (no phone, or a landline) notices are given on paper (:data:`PAPER`).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.registration import Arrival, create_case
from bot.dialogs.form import Form
from bot.dialogs.kinds import KINDS
from bot.dialogs.types import Submission
from bot.dialogs.validators import Invalid
from bot.domain.arrival import ARRIVAL_CHANNELS, PAPER, SMS
from bot.messages import Address
from bot.storage import attachments, cases, contacts
from bot.storage.attachments import PETITIONER

MAX_FILES = 30  # scans and materials per registration (a chat draft keeps as many)
MAX_AGE = timedelta(days=366)  # an arrival date further back is a typing error
_MOBILE_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


@dataclass(frozen=True, slots=True)
class Petition:
    """A petition as the registering clerk wrote it down."""

    channel: str  # one of ARRIVAL_CHANNELS
    received_on: date  # the day the letter arrived, the visit or the call took place
    answers: Mapping[str, Any]  # field name -> what the clerk typed (a list for several)
    lang: str = "zh"  # the petitioner's language, for their notices


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file already written under the attachments directory (a scan, a photo, a PDF)."""

    media_ref: str
    size: int
    mime: str
    filename: str

    @property
    def kind(self) -> str:
        """The attachment kind the chat would give it."""
        if self.mime.startswith("image/"):
            return "image"
        if self.mime.startswith("audio/"):
            return "voice"
        if self.mime.startswith("video/"):
            return "video"
        return "file"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one field was refused: a text key (``invalid.*`` of the citizen texts, or
    ``register.*`` of the console's) and its parameters."""

    field: str
    key: str
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)


class InvalidPetition(ValueError):
    """The petition cannot be registered as written; ``problems`` says why, per field."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(", ".join(f"{p.field}: {p.key}" for p in problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Registered:
    """The new case: its number and how its petitioner is told (sms or paper)."""

    tracking_no: str
    notice_channel: str


def check_answers(form: Form, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The answers as the chat would store them; InvalidPetition lists every problem.

    Fields are read in the form's order, each condition seeing the answers before it;
    a field that does not apply is dropped, an empty one is refused when the chat would
    insist on it. Files are not answers (they come as uploads).
    """
    known = {f.name for f in form.fields}
    problems = [Problem(name, "register.unknown_field") for name in sorted(set(raw) - known)]
    answers: dict[str, Any] = {}
    for f in form.fields:
        if f.kind == "attachments" or not f.applies(answers):
            continue
        text = _text(raw.get(f.name))
        if not text:
            if f.ask and not f.optional:
                problems.append(Problem(f.name, "register.required"))
            continue
        try:
            answers[f.name] = KINDS[f.kind].parse(f, text, answers)
        except Invalid as exc:
            problems.append(Problem(f.name, exc.key, dict(exc.params)))
    if problems:
        raise InvalidPetition(problems)
    return answers


def arrival_time(received_on: date, now: datetime, tz: ZoneInfo) -> datetime:
    """When the petition counts as submitted: now for today's, else the start of the day
    it arrived (office time). A future day or one over a year back is refused."""
    today = now.astimezone(tz).date()
    if received_on > today:
        raise InvalidPetition([Problem("received_on", "register.future")])
    if received_on < today - MAX_AGE:
        raise InvalidPetition([Problem("received_on", "register.too_old")])
    if received_on == today:
        return now
    return datetime.combine(received_on, time.min, tz)


def mobile_e164(phone: str) -> str:
    """The number in E.164 ("+8613812345678") when it can receive SMS, else ""."""
    try:
        number = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return ""  # a landline: the petitioner is told on paper
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def notice_address(answers: Mapping[str, Any]) -> Address:
    """Where the petitioner's notices go: their mobile by SMS, else on paper (an address
    of its own per case, so that no two paper petitioners share a contact)."""
    e164 = mobile_e164(str(answers.get("phone") or ""))
    return Address(SMS, e164) if e164 else Address(PAPER, secrets.token_hex(12))


async def register_petition(
    conn: AsyncConnection,
    *,
    form: Form,
    petition: Petition,
    actor: str,
    now: datetime,
    tz: ZoneInfo,
    enrich: Callable[[AsyncConnection, int, datetime], Awaitable[None]] | None,
    files: Sequence[StoredFile] = (),
) -> Registered:
    """Check and register one petition with its files, in the caller's transaction."""
    problems: list[Problem] = []
    if petition.channel not in ARRIVAL_CHANNELS:
        problems.append(Problem("channel", "register.bad_channel"))
    if len(files) > MAX_FILES:
        problems.append(Problem("files", "register.too_many_files", {"max": MAX_FILES}))
    try:
        answers = check_answers(form, petition.answers)
    except InvalidPetition as exc:
        problems.extend(exc.problems)
    try:
        received_at = arrival_time(petition.received_on, now, tz)
    except InvalidPetition as exc:
        problems.extend(exc.problems)
    if problems:
        raise InvalidPetition(problems)
    address = notice_address(answers)
    contact = await contacts.get_or_create(conn, address, now)
    if address.channel == PAPER or contact.lang != petition.lang:
        # a paper contact is never sent anything: broadcasts leave it out
        await contacts.update_contact(
            conn, contact.id, lang=petition.lang, reachable=address.channel != PAPER
        )
    tracking_no = await create_case(
        conn,
        contact=contact,
        submission=Submission(form.id, form.version, petition.lang, answers),
        now=now,
        enrich=enrich,
        arrival=Arrival(petition.channel, received_at, actor),
    )
    case = await cases.by_tracking_no(conn, tracking_no)
    assert case is not None  # created just now, in this transaction
    for f in files:
        await attachments.add_to_case(
            conn,
            case_id=case.id,
            contact_id=contact.id,
            file=(f.kind, f.media_ref, f.mime, f.filename, f.size),
            origin=PETITIONER,
            uploaded_by=actor,
            now=now,
        )
    return Registered(tracking_no, address.channel)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):  # names or numbers given one by one
        return "、".join(str(v).strip() for v in value if str(v).strip())
    return str(value).strip()
