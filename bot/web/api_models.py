"""Request and response shapes of the staff JSON API (/api/v1), as pydantic models.

The handlers validate with these models and serialise through them, and the OpenAPI
document is generated from their JSON Schemas: one source of truth. Request bodies are
strict (no type coercion, unknown fields refused); query strings are parsed leniently
("2" is a number there) but unknown parameters are refused too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, field_validator

from bot.cases.kpis import MEASURES, PARTS, PERIOD_KINDS
from bot.deliveries import STATES
from bot.domain.statuses import STATUS_CODES
from bot.staff.actions import ACTIONS, STATIC_CHOICES, ActionSpec, Param
from bot.staff.broadcasts import MAX_TEXT_CHARS
from bot.staff.bulk import MAX_SELECTION
from bot.staff.labels import CHANNELS
from bot.storage.broadcasts import LEFT_OUT_REASONS
from bot.storage.case_query import MAX_PER_PAGE

Status = Literal[
    "submitted",
    "accepted",
    "rejected",
    "transferred",
    "assigned",
    "in_progress",
    "extended",
    "answered",
    "review_requested",
    "reviewed",
    "recheck_requested",
    "rechecked",
    "closed",
    "withdrawn",
]
if TYPE_CHECKING:
    Channel = str
else:  # how a petition arrived (the registered channels, 信、访、电), an enum in OpenAPI
    Channel = Literal[tuple(CHANNELS)]
DeliveryState = Literal[
    "scheduled",
    "queued",
    "sending",
    "retrying",
    "stuck",
    "sent",
    "delivered",
    "blocked",
    "undelivered",
    "failed",
    "cancelled",
]
assert get_args(DeliveryState) == STATES, "api_models.DeliveryState is out of step with STATES"
# One list of statuses: the literal above is what the schema shows, checked against it.
assert get_args(Status) == STATUS_CODES, "api_models.Status is out of step with STATUS_CODES"
Flag = Literal[
    "first_petition",
    "repeat_petition",
    "group_petition",
    "litigation_related",
    "urgent",
    "major_difficult",
    "assigned_by_higher",
]
Measure = Literal[
    "total",
    "on_time",
    "timely_acceptance",
    "satisfaction",
    "participation",
    "first_settled",
    "repeat",
    "group",
    "finished",
    "in_progress",
    "transferred",
]
assert get_args(Measure) == tuple(MEASURES), "api_models.Measure is out of step with kpis"
Part = Literal["base", "good", "missed"]
assert get_args(Part) == PARTS
PeriodKind = Literal["month", "quarter", "year", "custom"]
assert get_args(PeriodKind) == PERIOD_KINDS
SortBy = Literal["submitted_at", "due_at", "updated_at", "tracking_no", "status"]
DeadlineState = Literal["ok", "near_due", "overdue"]
Code = Field(max_length=64)  # config codes: categories, regions, departments
NOT_BLANK = r"\S"  # required text must contain a non-space character
MAX_LIST = 50  # values of one repeatable query filter
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2999, 12, 31)  # date filters outside: a typo
MAX_ID = 10**18 - 1  # numeric ids in paths and bodies


def plausible_day(value: date | None) -> date | None:
    """A date filter's day, refused outside FIRST_DAY..LAST_DAY (a typo)."""
    if value is not None and not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"a day between {FIRST_DAY} and {LAST_DAY}")
    return value


class Body(BaseModel):
    """A JSON request body: strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query parameters: numbers and dates parsed from text, unknown names refused."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- errors


class FieldError(Out):
    """One invalid field of a request."""

    loc: list[str | int] = Field(description='Where: ["body", "days"], ["query", "page"]')
    msg: str
    type: str


class Error(Out):
    """Every error response of the API."""

    error: str = Field(description="A stable machine-readable code, e.g. not_found, conflict")
    detail: str = Field(description="What went wrong, for people")
    fields: list[FieldError] | None = Field(
        default=None, description="Invalid fields (422 validation errors only)"
    )


# --------------------------------------------------------------------------- me


class Me(Out):
    """The authenticated staff member."""

    id: int
    login: str
    display_name: str
    role: Literal["admin", "supervisor", "handler", "viewer"]
    departments: list[str] = Field(description="Empty: every department (admin, supervisor)")
    lang: str
    permissions: list[str]
    via: Literal["token", "session"]
    scope: Literal["read", "write"] = Field(
        description="read: a read-only token, every POST answers 403 read_only_token"
    )


# --------------------------------------------------------------------------- cases


class CaseFilters(Query):
    """Filters of the case list; list filters take repeated or comma-separated values."""

    status: list[Status] = Field(default_factory=list, max_length=MAX_LIST)
    category: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    region: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    department: list[str] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Lead or co-handling department code",
    )
    channel: list[Channel] = Field(default_factory=list, max_length=MAX_LIST)
    flag: list[Flag] = Field(
        default_factory=list, max_length=MAX_LIST, description="Cases carrying every flag"
    )
    deadline: Literal["overdue", "near_due"] | None = Field(
        default=None, description="Open cases past or close to their deadline"
    )
    submitted_from: date | None = Field(
        default=None, description="First day of submission (office time zone), inclusive"
    )
    submitted_to: date | None = Field(
        default=None, description="Last day of submission (office time zone), inclusive"
    )
    q: str = Field(
        default="",
        max_length=200,
        description="Full text (Chinese words or phrases) or a tracking number",
    )
    handler: str = Field(
        default="",
        max_length=64,
        description="A named handler's login; '-': cases with no named handler yet",
    )
    kpi: Measure | None = Field(
        default=None, description="The cases behind a dashboard figure (with kpi_from, kpi_to)"
    )
    kpi_part: Part = Field(
        default="base", description="base: the denominator; good: the numerator; missed"
    )
    kpi_from: date | None = Field(default=None, description="First day of the KPI period")
    kpi_to: date | None = Field(default=None, description="Last day of the KPI period")
    case: list[str] = Field(
        default_factory=list,
        max_length=MAX_SELECTION,
        description="Only these tracking numbers (a selection, e.g. to export exactly it)",
    )
    sort: SortBy = "submitted_at"
    order: Literal["asc", "desc"] = "desc"

    @field_validator("submitted_from", "submitted_to", "kpi_from", "kpi_to")
    @classmethod
    def _plausible_day(cls, value: date | None) -> date | None:
        return plausible_day(value)


class CaseListQuery(CaseFilters):
    """The case list: filters and the page."""

    page: int = Field(default=1, ge=1, le=10_000)
    per_page: int = Field(default=50, ge=1, le=MAX_PER_PAGE)


class ExportQuery(CaseFilters):
    """The case export: filters and the language of headers and names."""

    lang: Literal["zh", "en"] | None = Field(
        default=None, description="Header and label language; default the account's"
    )


class CaseOut(Out):
    """A case in lists (personal data masked for roles without case.pii)."""

    tracking_no: str = Field(description="Canonical form, e.g. XF2611210482735")
    display_no: str = Field(description="Shown form, e.g. XF261121-048273-5")
    status: str
    channel: str
    lang: str
    appeal_type: str
    category: str
    region: str
    department: str
    co_departments: list[str]
    transferred_to: str
    handler: str = Field(description="The named handler's login; empty: the department's queue")
    flags: list[str]
    people_count: int
    name: str
    phone: str
    submitted_at: AwareDatetime
    updated_at: AwareDatetime
    due_at: AwareDatetime | None


class CasePageOut(Out):
    """One page of the case list."""

    items: list[CaseOut]
    total: int  # exact up to 10 000; beyond it 10 000 and total_capped is true
    total_capped: bool
    page: int
    per_page: int
    pages: int


class DeadlineOut(Out):
    """The current deadline of a case and how close it is."""

    due_at: AwareDatetime
    state: DeadlineState


class DeliveryOut(Out):
    """A message to a citizen and its delivery state (the platform id never appears)."""

    id: int
    state: DeliveryState = Field(
        description="sent: handed to the platform (no read or delivery receipts exist)"
    )
    status: str = Field(description="The outbox row's status (pending, sending, failed, …)")
    channel: str
    kind: str = Field(description="Outbox kind: push, followup, reply, broadcast, reminder")
    notice: str = Field(
        description="What it tells: accepted (受理告知), answered (答复), followup (回访), "
        "staff_reply, broadcast, …"
    )
    tracking_no: str | None = Field(description="The case it is about")
    event_id: int | None = Field(description="The case timeline event it tells of")
    attempts: int
    created_at: AwareDatetime
    next_attempt_at: AwareDatetime = Field(description="When it is (or was) due")
    lease_until: AwareDatetime | None
    sent_at: AwareDatetime | None
    reason: str = Field(
        description="Why it failed, is stuck or waits for a retry: wechat_out_of_window, "
        "wechat_unsubscribed, telegram_blocked, network, lease_expired, other, … ('' if none)"
    )
    reason_text: str = Field(description="The reason in the account's language")
    platform_code: str = Field(description="The platform's error code, e.g. 45015, 403")
    error: str = Field(description="The platform's own words (numbers that look personal masked)")
    reachable: bool = Field(description="False: the citizen blocked the bot or unsubscribed")
    recipient: str = Field(description="A pseudonym of the citizen's platform id, as in logs")
    text: str | None = Field(description="The message; null for roles without case.pii")


class EventOut(Out):
    """One timeline event; ``public`` false means staff only (never shown to citizens)."""

    id: int
    at: AwareDatetime
    actor: str
    kind: str
    message: str = Field(description="What the petitioner was told (pushed, in their status)")
    note: str = Field(description="Internal note: staff only, never shown to the petitioner")
    public: bool
    data: dict[str, Any] | None
    deliveries: list[DeliveryOut] = Field(
        default_factory=list, description="The notices this event sent the petitioner"
    )


class OpinionOut(Out):
    """A written opinion: 处理意见 (answer), 复查意见 (review) or 复核意见 (recheck)."""

    stage: Literal["answer", "review", "recheck"]
    outcome: str
    text: str
    decided_by: str = Field(description="The account that decided")
    department: str = Field(description="The deciding department; empty: the petition office")
    decided_at: AwareDatetime


class LinkOut(Out):
    """A linked or suggested duplicate case."""

    tracking_no: str
    kind: Literal["linked", "suggested"]
    score: float
    created_at: AwareDatetime


class AttachmentOut(Out):
    """A file of the case (download it from ``url``): the petitioner's material, or an
    office file (never shown to the petitioner unless ``in_document``)."""

    id: int
    kind: str
    mime: str
    filename: str
    size: int
    created_at: AwareDatetime
    origin: Literal["petitioner", "staff"] = "petitioner"
    in_document: bool = False
    url: str | None = Field(
        description="Where to download it; null without personal-data access (case.pii)"
    )


class CaseDetailOut(CaseOut):
    """Everything about one case that a staff member may see."""

    answers: dict[str, Any] = Field(description="The petition form's answers")
    accepted_at: AwareDatetime | None
    answer_due_at: AwareDatetime | None
    extensions: int
    answered_at: AwareDatetime | None
    answer_outcome: str
    answer_text: str
    request_until: AwareDatetime | None
    closed_at: AwareDatetime | None
    rating: str
    rating_comment: str
    rated_at: AwareDatetime | None
    linked_to: str | None = Field(description="Tracking number of the primary case")
    deadline: DeadlineOut | None
    timeline: list[EventOut] = Field(description="Oldest first, internal events included")
    links: list[LinkOut]
    suggested: list[LinkOut]
    attachments: list[AttachmentOut]
    allowed_actions: list[str] = Field(description="Actions this member may take now")
    refused_actions: dict[str, str] = Field(
        description="Actions the status allows but this member may not take, with the reason "
        "code (co_handler, decided_before, same_department, extension_used, extension_late, "
        "extension_approval)"
    )
    opinions: list[OpinionOut] = Field(description="Every written opinion, oldest first")


class ActionResult(Out):
    """What an action did, and the case after it."""

    action: str
    pushes: int = Field(description="Messages queued to petitioners (the whole linked group)")
    group: list[str] = Field(description="Tracking numbers of every case the action touched")
    case: CaseOut
    allowed_actions: list[str]


# --------------------------------------------------------------------------- action bodies


def _body_field(param: Param) -> tuple[Any, Any]:
    """The annotation and pydantic Field of an action parameter (bot.staff.actions)."""
    text = param.kind in ("text", "line")
    kwargs: dict[str, Any] = {"description": param.help}
    annotation: Any
    if text or (param.kind == "choice" and not param.is_static):
        annotation = str
        kwargs["max_length"] = param.max_length or 64
        if param.required:
            kwargs.update(min_length=1, pattern=NOT_BLANK)
    elif param.kind == "int":
        annotation = int
        kwargs.update(ge=param.minimum, le=param.maximum)
    elif param.kind == "bool":
        annotation = bool
    elif param.kind == "choices":
        annotation = list[Annotated[str, Field(max_length=64)]] | None
        kwargs["max_length"] = param.maximum
    else:
        annotation = Literal[STATIC_CHOICES[param.choices]]
    if not param.required:
        if param.default is None and param.kind != "choices":
            annotation = annotation | None
        kwargs["default"] = param.default
    return annotation, Field(**kwargs)


def action_body(spec: ActionSpec) -> type[Body]:
    """The request body of an action: one field per parameter of its spec."""
    fields: dict[str, Any] = {p.name: _body_field(p) for p in spec.params}
    model: type[Body] = create_model(spec.model_name, __base__=Body, __doc__=spec.summary, **fields)
    return model


ACTION_BODIES: dict[str, type[Body]] = {spec.name: action_body(spec) for spec in ACTIONS}


# --------------------------------------------------------------------------- 我的待办


class TodoItemOut(Out):
    """An open case on a handler's worklist."""

    case: CaseOut
    due_at: AwareDatetime | None = Field(description="The current deadline")
    days_left: int | None = Field(
        description="Working days to the deadline (config/calendar); negative: overdue"
    )
    state: DeadlineState | None
    next_action: str | None = Field(description="The catalogue step open now; null: waiting")


class TodoOut(Out):
    """我的待办: cases named to the member, and their departments' cases nobody has
    taken, each by current deadline (soonest first)."""

    mine: list[TodoItemOut]
    queue: list[TodoItemOut]
    count: int


# --------------------------------------------------------------------------- dashboard


class PeriodQuery(Query):
    """A KPI period: the month, quarter or year holding ``from`` (default: today, office
    time), or a custom one from ``from`` to ``to`` (at most three years)."""

    period: PeriodKind = "month"
    from_: date | None = Field(default=None, alias="from", description="A day of the period")
    to: date | None = Field(default=None, description="Last day of a custom period, inclusive")

    @field_validator("from_", "to")
    @classmethod
    def _plausible_day(cls, value: date | None) -> date | None:
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise ValueError(f"a day between {FIRST_DAY} and {LAST_DAY}")
        return value


class ReportQuery(PeriodQuery):
    """The department report: its period, and the language of the XLSX headers."""

    lang: Literal["zh", "en"] | None = Field(
        default=None, description="Header language of the XLSX file; default the account's"
    )


class PeriodOut(Out):
    """A KPI period: first and last day (inclusive) in office time, and [start, end)."""

    kind: PeriodKind
    first: date
    last: date
    start: AwareDatetime
    end: AwareDatetime


class KpiOut(Out):
    """One measure: a count (numerator null) or numerator / denominator."""

    code: Measure
    numerator: int | None = Field(description="null for a count")
    denominator: int = Field(description="The cases measured over (a count: the count)")
    value: float | None = Field(description="numerator / denominator; null without data")
    cases: str | None = Field(default=None, description="The case list of the denominator's cases")
    missed: str | None = Field(
        default=None, description="The case list of the cases that miss the measure"
    )


class ReportRowOut(Out):
    """One department of the report (cases counted under their lead department)."""

    department: str
    rank: int | None = Field(description="By 按期办结率; null when nothing fell due")
    kpis: dict[str, KpiOut]


class ReportOut(Out):
    """The department report of a period: rows ranked by 按期办结率, and the total."""

    period: PeriodOut
    rows: list[ReportRowOut]
    total: dict[str, KpiOut]
    by_channel: dict[str, dict[str, KpiOut]] = Field(
        default_factory=dict,
        description="The same figures per channel of arrival (letter, visit, phone, web, …)",
    )


class WeekOut(Out):
    """New cases in one week (Monday, office time)."""

    week_start: date
    total: int
    by_channel: dict[str, int]
    by_category: dict[str, int]
    by_region: dict[str, int]


class DashboardOut(Out):
    """Counts, deadline lists, weekly intake and the measures of a period, in scope."""

    counts_by_status: dict[str, int]
    overdue: list[CaseOut]
    overdue_total: int
    overdue_capped: bool  # overdue_total is the 10 000 count cap; there are more
    near_due: list[CaseOut]
    near_due_total: int
    near_due_capped: bool
    weekly: list[WeekOut]
    period: PeriodOut
    kpis: dict[str, KpiOut] = Field(
        description="Every measure of the period by code (docs/architecture.md, KPIs)"
    )
    missing_calendar_years: list[int]


# --------------------------------------------------------------------------- broadcasts


class AudienceIn(Body):
    """Who a broadcast goes to: one case's petitioner, a linked group, a filter, or all."""

    kind: Literal["case", "linked", "filter", "all"]
    tracking_no: str = Field(default="", max_length=40, description="case / linked")
    regions: list[str] = Field(default_factory=list, max_length=100)
    categories: list[str] = Field(default_factory=list, max_length=100)
    statuses: list[Status] = Field(default_factory=list, max_length=100)
    channels: list[Channel] = Field(default_factory=list, max_length=100)


class PreviewIn(Body):
    """The audience to count."""

    audience: AudienceIn


class BroadcastIn(Body):
    """A broadcast to send (to everyone: after a second account approves it)."""

    audience: AudienceIn
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=NOT_BLANK)
    send_at: AwareDatetime | None = Field(
        default=None, description="Queue it at this later time (default: at once)"
    )


class PreviewOut(Out):
    """Recipients per channel (opted-in, reachable contacts), and who is left out."""

    by_channel: dict[str, int]
    total: int
    left_out: dict[str, int] = Field(
        description="Contacts the audience matches that get no message, per reason: "
        + ", ".join(LEFT_OUT_REASONS)
    )
    needs_approval: bool = Field(description="Sending it waits for a second account")


class BroadcastOut(Out):
    """A broadcast and its delivery progress."""

    id: int
    status: Literal["awaiting", "scheduled", "sending", "done", "cancelled", "rejected"]
    total: int
    sent: int
    failed: int
    pending: int
    cancelled: int
    created_by: str
    created_at: AwareDatetime
    finished_at: AwareDatetime | None
    text: str
    audience: dict[str, Any]
    scheduled_at: AwareDatetime | None = None
    decided_by: str = Field(default="", description="The account that approved or rejected it")
    decided_at: AwareDatetime | None = None


class BroadcastListQuery(Query):
    """How many recent broadcasts."""

    limit: int = Field(default=50, ge=1, le=500)


class BroadcastList(Out):
    """Recent broadcasts, newest first."""

    items: list[BroadcastOut]


# --------------------------------------------------------------------------- deliveries


class DeliveryQuery(Query):
    """Failed and stuck messages: filters and the page."""

    state: Literal["failed", "stuck"] | None = None
    channel: Channel | None = None
    kind: Literal["push", "followup", "reply", "broadcast", "reminder"] | None = None
    case: str = Field(default="", max_length=40, description="A tracking number")
    page: int = Field(default=1, ge=1, le=10_000)
    per_page: int = Field(default=50, ge=1, le=200)


class DeliveryPageOut(Out):
    """One page of failed and stuck messages, newest first."""

    items: list[DeliveryOut]
    total: int
    page: int
    per_page: int
    pages: int
    counts: dict[str, dict[str, int]] = Field(
        description='Every problem per state and channel: {"failed": {"wechat": 2}, …}'
    )


class DeliveryIdsIn(Body):
    """The outbox rows to act on."""

    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=200)


class DeliveryOutcomeOut(Out):
    """What a retry or cancel did to one row."""

    id: int
    done: bool
    status: str = Field(description="The status it had ('' when there is no such row)")


class DeliveryActionOut(Out):
    """The outcome per row; rows already sent, cancelled or being sent are left as they are."""

    action: Literal["retry", "cancel"]
    done: int
    outcomes: list[DeliveryOutcomeOut]


# --------------------------------------------------------------------------- audit


class AuditQuery(Query):
    """Audit log filters; page backwards with ``before_id``."""

    actor: str = Field(default="", max_length=64)
    action: str = Field(default="", max_length=48)
    case: str = Field(default="", max_length=40, description="A tracking number")
    since: date | None = Field(default=None, description="First day (office time), inclusive")
    until: date | None = Field(default=None, description="Last day (office time), inclusive")
    before_id: int | None = Field(default=None, ge=1)
    limit: int = Field(default=100, ge=1, le=500)

    @field_validator("since", "until")
    @classmethod
    def _plausible_day(cls, value: date | None) -> date | None:
        return plausible_day(value)


class AuditEntryOut(Out):
    """One audit log entry."""

    id: int
    at: AwareDatetime
    actor: str
    action: str
    case: str | None = Field(description="Tracking number of the case concerned")
    target: str
    detail: dict[str, Any] | None
    ip: str


class AuditPage(Out):
    """Audit entries, newest first."""

    items: list[AuditEntryOut]
    next_before_id: int | None = Field(description="Pass as before_id for the next page")


def utc(value: datetime) -> datetime:
    """Aware datetimes are serialised in UTC (``…Z``)."""
    return value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    """:func:`utc`, keeping None."""
    return None if value is None else value.astimezone(UTC)
