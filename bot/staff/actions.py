"""The staff actions catalogue: each action on a case declared once, as an :class:`ActionSpec`.

The API (request models, routes, OpenAPI), the console (one form macro, one POST handler)
and the `xinfang case` subcommands are all made from :data:`ACTIONS`; :class:`Casework`
checks roles and authority (``bot.cases.authority``) before it runs a spec, the CLI runs
it as the operator. A new action is one entry here, its texts in ``bot/web/i18n*.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.cases.flags import STAFF_SETTABLE
from bot.cases.lifecycle import MAX_TEXT, Change
from bot.cases.service import LEGAL_STATUSES, MAX_PEOPLE, LifecycleService
from bot.domain.statuses import ALL_STATUSES, OPEN_STATUSES, OUTCOMES

FieldKind = Literal["text", "line", "int", "choice", "choices", "bool"]
MAX_REPLY = 2000  # what a petitioner is told in one message
MAX_NOTE = 2000  # an action's internal note
MAX_REASON = 2000
# the values of the choice fields whose options do not depend on the case or the member
STATIC_CHOICES: dict[str, tuple[str, ...]] = {
    "outcomes": OUTCOMES,
    "staff_flags": tuple(sorted(STAFF_SETTABLE)),
    "legal_statuses": LEGAL_STATUSES,
    "yes_no": ("yes", "no"),
}


class InvalidParams(ValueError):
    """A parameter is missing, too long or not one of its choices (``code`` and ``params``
    say which, for pages to word it in their language)."""

    def __init__(self, message: str, code: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of an action, as the API body, the console form and the CLI see it."""

    name: str
    kind: FieldKind
    help: str  # English: the OpenAPI description and the CLI --help
    label: str  # i18n key of the console label
    required: bool = False
    max_length: int = 0  # text and line
    minimum: int = 1  # int
    maximum: int = 0  # int
    choices: str = ""  # STATIC_CHOICES key, or "departments" / "handlers" (from config/staff)
    cli: tuple[str, ...] = ()  # CLI flags; empty: --<name>; ("",): a positional argument
    from_file: bool = False  # the CLI also reads it from a file (--<name>-file)
    canned: str = ""  # the group of 常用语 the console offers for this text
    css: str = ""  # the console label's class (told / internal-note)
    rows: int = 3  # textarea rows in the console

    @property
    def default(self) -> Any:
        """The value of an optional parameter left out."""
        if self.kind == "bool":
            return True
        if self.kind in ("int", "choices") or (self.kind == "choice" and self.is_static):
            return None
        return ""

    @property
    def is_static(self) -> bool:
        """Its choices are the same for every case (a literal in the API)."""
        return self.choices in STATIC_CHOICES

    @property
    def cli_flags(self) -> tuple[str, ...]:
        """The CLI's flags of the parameter (empty: positional)."""
        if self.cli == ("",):
            return ()
        return self.cli or (f"--{self.name.replace('_', '-')}",)

    def clean(self, raw: Any) -> Any:
        """The value as the action takes it (raises InvalidParams)."""
        if raw is None or raw == "" or raw == []:
            if self.required:
                raise InvalidParams(f"{self.name} is required", "required", field=self.name)
            return self.default
        if self.kind in ("text", "line"):
            value = str(raw).strip()
            if self.required and not value:
                raise InvalidParams(f"{self.name} is required", "required", field=self.name)
            if self.max_length and len(value) > self.max_length:
                raise InvalidParams(
                    f"{self.name} is too long ({len(value)} > {self.max_length} characters)",
                    "too_long",
                    field=self.name,
                    limit=self.max_length,
                )
            return value
        if self.kind == "int":
            try:
                number = int(raw)
            except (TypeError, ValueError):
                raise InvalidParams(
                    f"{self.name} must be a whole number", "invalid", field=self.name
                ) from None
            if number < self.minimum or (self.maximum and number > self.maximum):
                raise InvalidParams(
                    f"{self.name} must be from {self.minimum} to {self.maximum}",
                    "invalid",
                    field=self.name,
                )
            return number
        if self.kind == "bool":
            return raw if isinstance(raw, bool) else str(raw) in ("1", "true", "on", "yes")
        if self.kind == "choices":
            values = raw if isinstance(raw, list | tuple) else [raw]
            return [str(v).strip() for v in values if str(v).strip()]
        value = str(raw).strip()
        if self.is_static and value not in STATIC_CHOICES[self.choices]:
            allowed = ", ".join(STATIC_CHOICES[self.choices])
            raise InvalidParams(f"{self.name} is one of {allowed}", "invalid", field=self.name)
        return value[:64]


@dataclass(frozen=True, slots=True)
class Context:
    """Who runs an action, as the lifecycle records it: the actor and the department they
    write for (None: the lead's), set by Casework from the member; the CLI acts as itself."""

    actor: str
    by_department: str | None = None
    co_department: str = ""


@dataclass(frozen=True, slots=True)
class Done:
    """What an action did: the lifecycle's change, and the flags afterwards when it set them."""

    change: Change
    flags: tuple[str, ...] | None = None


Runner = Callable[[LifecycleService, str, Mapping[str, Any], Context], Awaitable[Done]]


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One staff action: its parameters, when it is open, what it runs and produces."""

    name: str
    summary: str  # English, for OpenAPI and the CLI
    params: tuple[Param, ...]
    run: Runner
    event: str  # the timeline event kind it writes
    machine: tuple[str, ...] = ()  # state-machine actions it takes (one of them)
    statuses: frozenset[str] = frozenset()  # without machine: the statuses it is open in
    form: bool = True  # the console renders its generic form (flag has toggles instead)
    step: bool = False  # a step of the case's course: offered as a case's next action
    audit: Callable[[Mapping[str, Any]], str] | None = None  # the audit log's name

    @property
    def label(self) -> str:
        """i18n key of its name (zh/en) in the console."""
        return f"action.{self.name}"

    @property
    def cli_name(self) -> str:
        """The `xinfang case` subcommand."""
        return self.name.replace("_", "-")

    @property
    def model_name(self) -> str:
        """The API request body's schema name, e.g. ExtendBody."""
        return "".join(p.capitalize() for p in self.name.split("_")) + "Body"

    def open_in(self, status: str, machine_allowed: set[str]) -> bool:
        """Whether the case's status allows the action."""
        if self.machine:
            return bool(machine_allowed.intersection(self.machine))
        return status in self.statuses

    def audited(self, values: Mapping[str, Any]) -> str:
        """The action's name in the audit log."""
        return f"case.{self.audit(values) if self.audit else self.name}"

    def clean(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter, checked; unknown names are ignored (the API refuses them)."""
        return {p.name: p.clean(raw.get(p.name)) for p in self.params}


# ------------------------------------------------------------------ common parameters

TOLD = Param(
    "message",
    "text",
    "告知内容: told to the petitioner with the action's notice and shown in their status answers",
    "case.message_optional",
    max_length=MAX_REPLY,
    canned="notice",
    css="told",
    rows=2,
)
NOTE = Param(
    "note",
    "text",
    "Internal note: staff only, never pushed nor shown to the petitioner",
    "case.note_optional",
    max_length=MAX_NOTE,
    css="internal-note",
    rows=2,
)
OPINION = (
    Param(
        "outcome",
        "choice",
        "支持 / 解释说明 / 不予支持",
        "field.outcome",
        required=True,
        choices="outcomes",
    ),
    Param(
        "text",
        "text",
        "The written opinion",
        "field.answer_text",
        required=True,
        max_length=MAX_TEXT,
        from_file=True,
        canned="answer",
        rows=8,
    ),
)


def _texts(values: Mapping[str, Any]) -> dict[str, str]:
    return {"message": values.get("message") or "", "note": values.get("note") or ""}


def _plain(name: str) -> Runner:
    async def run(
        svc: LifecycleService, number: str, values: Mapping[str, Any], ctx: Context
    ) -> Done:
        method: Callable[..., Awaitable[Change]] = getattr(svc, name)
        return Done(await method(number, actor=ctx.actor, **_texts(values)))

    return run


async def _reject(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    change = await svc.reject(
        number, actor=ctx.actor, reason=v["reason"], channel=v["channel"], **_texts(v)
    )
    return Done(change)


async def _transfer(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    return Done(await svc.transfer(number, actor=ctx.actor, to=v["to"], **_texts(v)))


async def _assign(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    change = await svc.assign(
        number,
        actor=ctx.actor,
        department=v["department"],
        co_departments=v["co_departments"],
        **_texts(v),
    )
    return Done(change)


async def _extend(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    change = await svc.extend(
        number, actor=ctx.actor, reason=v["reason"], days=v["days"], **_texts(v)
    )
    return Done(change)


async def _answer(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    change = await svc.answer(
        number,
        actor=ctx.actor,
        text=v["text"],
        outcome=v["outcome"],
        by_department=ctx.by_department,
        **_texts(v),
    )
    return Done(change)


async def _decide(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    change = await svc.decide_review(
        number,
        actor=ctx.actor,
        text=v["text"],
        outcome=v["outcome"],
        by_department=ctx.by_department,
        **_texts(v),
    )
    return Done(change)


async def _note(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    change = await svc.note(
        number, actor=ctx.actor, text=v["text"], co_department=ctx.co_department
    )
    return Done(change)


async def _reply(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    return Done(await svc.reply(number, actor=ctx.actor, text=v["text"], note=v["note"]))


async def _flag(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    flags = await svc.set_flag(
        number, v["flag"], actor=ctx.actor, on=bool(v["on"]), note=v.get("note") or ""
    )
    case = await svc.get(number)
    return Done(Change(case, "flag", 0, (case.tracking_no,)), tuple(flags))


async def _edit(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    flags = await svc.update_details(
        number,
        actor=ctx.actor,
        note=v["note"],
        people_count=v["people"],
        legal_status=v["legal_status"] or None,
        reported_before=v["reported_before"] or None,
    )
    case = await svc.get(number)
    return Done(Change(case, "edit", 0, (case.tracking_no,)), tuple(flags))


async def _link(svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context) -> Done:
    return Done(await svc.link(number, v["primary"], actor=ctx.actor, **_texts(v)))


async def _assign_handler(
    svc: LifecycleService, number: str, v: Mapping[str, Any], ctx: Context
) -> Done:
    return Done(await svc.set_handler(number, v["handler"], actor=ctx.actor, note=v["note"]))


def _reason(help_text: str, canned: str) -> Param:
    return Param(
        "reason",
        "text",
        help_text,
        "field.reason",
        required=True,
        max_length=MAX_REASON,
        canned=canned,
    )


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        "accept", "Accept (受理)", (TOLD, NOTE), _plain("accept"), "accept", ("accept",), step=True
    ),
    ActionSpec(
        "reject",
        "Reject (不予受理) with the reason and the proper channel",
        (
            _reason("Why it is not accepted, told to the petitioner", "reject"),
            Param(
                "channel",
                "line",
                "The proper channel, e.g. 向人民法院提起诉讼",
                "field.channel",
                required=True,
                max_length=MAX_REASON,
            ),
            TOLD,
            NOTE,
        ),
        _reject,
        "reject",
        ("reject",),
    ),
    ActionSpec(
        "transfer",
        "Transfer (转送) to another authority",
        (
            Param("to", "line", "The competent organ", "field.to", required=True, max_length=200),
            TOLD,
            NOTE,
        ),
        _transfer,
        "transfer",
        ("transfer",),
    ),
    ActionSpec(
        "assign",
        "Assign (交办) to a department",
        (
            Param(
                "department",
                "choice",
                "Department code (default: routing by region and category)",
                "field.department",
                choices="departments",
            ),
            Param(
                "co_departments",
                "choices",
                "Co-handling department codes (default: the routed ones)",
                "field.co_departments",
                maximum=20,
                choices="departments",
                cli=("--co",),
            ),
            TOLD,
            NOTE,
        ),
        _assign,
        "assign",
        ("assign",),
        step=True,
    ),
    ActionSpec(
        "assign_handler",
        "Name the case's handler (承办人), or take it yourself (认领); '' returns it to the "
        "department's queue",
        (
            Param(
                "handler",
                "choice",
                "Login of a handler of the lead department; empty: no named handler",
                "field.handler",
                choices="handlers",
            ),
            NOTE,
        ),
        _assign_handler,
        "handler_assigned",
        statuses=OPEN_STATUSES,
    ),
    ActionSpec(
        "start",
        "Start handling (办理中)",
        (TOLD, NOTE),
        _plain("start"),
        "start",
        ("start",),
        step=True,
    ),
    ActionSpec(
        "extend",
        "Extend the deadline (延期)",
        (
            Param(
                "days",
                "int",
                "Extension in days (at most the configured limit)",
                "field.days",
                required=True,
                maximum=366,
            ),
            _reason("Reason, told to the petitioner", "notice"),
            TOLD,
            NOTE,
        ),
        _extend,
        "extend",
        ("extend",),
    ),
    ActionSpec(
        "answer",
        "Answer (答复) with a written opinion",
        (*OPINION, TOLD, NOTE),
        _answer,
        "answer",
        ("answer",),
        step=True,
    ),
    ActionSpec(
        "decide",
        "Decide a review or re-check request (复查 / 复核)",
        (*OPINION, TOLD, NOTE),
        _decide,
        "decide_review",
        ("decide_review", "decide_recheck"),
        step=True,
    ),
    ActionSpec(
        "close",
        "Close (办结 / 终结)",
        (TOLD, NOTE),
        _plain("close"),
        "close",
        ("close",),
        step=True,
    ),
    ActionSpec(
        "note",
        "Add an internal note (never shown to the petitioner)",
        (
            Param(
                "text",
                "text",
                "The note",
                "field.note_text",
                required=True,
                max_length=MAX_TEXT,
                cli=("",),
            ),
        ),
        _note,
        "note",
        ("note",),
    ),
    ActionSpec(
        "flag",
        "Set or clear a staff flag",
        (
            Param(
                "flag",
                "choice",
                "The flag",
                "field.flag",
                required=True,
                choices="staff_flags",
                cli=("",),
            ),
            Param(
                "on",
                "bool",
                "set the flag (default) or clear it (CLI: --off)",
                "field.on",
                cli=("--off",),
            ),
            NOTE,
        ),
        _flag,
        "flag_set",
        statuses=ALL_STATUSES,
        form=False,
        audit=lambda v: "flag.set" if v.get("on", True) else "flag.clear",
    ),
    ActionSpec(
        "edit",
        "Correct people, legal proceedings or earlier reports (the flags are recomputed)",
        (
            Param(
                "people",
                "int",
                "Number of people concerned",
                "field.people",
                maximum=MAX_PEOPLE,
            ),
            Param(
                "legal_status",
                "choice",
                "Legal proceedings",
                "field.legal_status",
                choices="legal_statuses",
            ),
            Param(
                "reported_before",
                "choice",
                "Reported before",
                "field.reported_before",
                choices="yes_no",
            ),
            NOTE,
        ),
        _edit,
        "details_corrected",
        statuses=ALL_STATUSES,
    ),
    ActionSpec(
        "link",
        "Link to an earlier case of the same matter",
        (
            Param(
                "primary",
                "line",
                "Tracking number of the earlier (primary) case",
                "field.primary",
                required=True,
                max_length=40,
                cli=("",),
            ),
            TOLD,
            NOTE,
        ),
        _link,
        "link",
        ("link",),
    ),
    ActionSpec(
        "reply",
        "Tell the petitioner something, through their channel (shown in their status)",
        (
            Param(
                "text",
                "text",
                "The message (pushed, and shown in their status)",
                "field.reply_text",
                required=True,
                max_length=MAX_REPLY,
                cli=("",),
                canned="reply",
                rows=4,
            ),
            NOTE,
        ),
        _reply,
        "reply",
        ("reply",),
    ),
)
BY_NAME: dict[str, ActionSpec] = {spec.name: spec for spec in ACTIONS}
CASE_ACTIONS = tuple(BY_NAME)


def spec_of(name: str) -> ActionSpec | None:
    """The spec of an action by its name (None: no such action)."""
    return BY_NAME.get(name)
