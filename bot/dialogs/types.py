"""Data the pure dialog engine consumes and produces.

The engine never performs I/O. When it needs something only storage can answer (a case
lookup, or a tracking number for a new submission) it returns an ``Effect``; intake
resolves the effect and steps the engine again with an ``Event`` of kind ``"resolved"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bot.messages import Attachment, Location, Reply

EventKind = Literal["text", "attachment", "location", "command", "resolved"]


@dataclass(frozen=True, slots=True)
class CaseView:
    """What a status answer may show about one case (already filtered by intake)."""

    tracking_no: str
    status: str  # machine status code, e.g. "submitted"
    submitted_at: str  # ISO date-time
    updated_at: str
    category: str = ""
    summary: str = ""  # first characters of the request; only for the owner or verified
    last_event: str = ""  # localized description of the latest public timeline event
    due_date: str = ""
    # worded lines: department, the current deadline named as what it is, the latest
    # opinion, the petitioner's own 复查/复核 deadline (see cases.registration.StatusWords)
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer to an ``Effect``, given back to the engine by intake."""

    effect: str  # the Effect.kind this resolves
    # for "lookup_case": "found" | "not_found" | "foreign" (exists, belongs to someone else)
    #                    | "verified" (foreign, but the verification digits matched)
    #                    | "unverifiable" (foreign and anonymous: no phone to verify with)
    #                    | "verify_failed" | "locked" (too many failed look-ups of this
    #                    case or from this client: ``date`` is when the lock ends)
    outcome: str = ""
    case: CaseView | None = None
    cases: tuple[CaseView, ...] = ()  # for "list_cases"
    tracking_no: str = ""  # for "submit": the number of the new case
    # for "rate": "rated" | "none" | "choose"; for "request_review": "requested" | "confirm"
    # (not filed yet: the citizen confirms) | "already" (under review) | "window_closed"
    # | "none" | "choose"
    # for "broadcast_opt": "unsubscribed" | "subscribed"
    # "request_review": the decision deadline, or the day the window closed; "rate": for a
    # 不满意 rating, the last day to ask for 复查/复核 (``stage``) when that is still open
    date: str = ""
    rating: str = ""  # "rate": the rating recorded
    stage: str = ""  # "request_review": "review" (复查) or "recheck" (复核)
    # "choose": several cases fit a rating or review request; the citizen picks one
    candidates: tuple[CaseView, ...] = ()
    # "last_contact": (role, value) of the contact details of the citizen's last petition
    prior: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened in a conversation, normalised for the engine."""

    kind: EventKind
    text: str = ""
    attachment: Attachment | None = None
    location: Location | None = None
    command: str = ""  # platform command: start, help, status, cancel, lang, my_cases, new
    command_arg: str = ""
    resolution: Resolution | None = None
    tap: str = ""  # a button tap: the question (Reply.ask) the button belonged to
    lang_hint: str = ""  # the platform's language (Telegram language_code, Accept-Language)
    # with "start": what the entry point (a poster's QR code) pre-selects, (role, value)s
    preselect: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Submission:
    """A confirmed petition, ready to become a case."""

    form_id: str
    form_version: int
    lang: str
    answers: dict[str, Any]
    attachments: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Effect:
    """Something only intake can do; the engine waits for its ``Resolution``."""

    kind: Literal[
        "lookup_case",
        "list_cases",
        "submit",
        "rate",
        "request_review",
        "broadcast_opt",
        "last_contact",
        "withdraw",
        "add_material",
        "ask_human",
    ]
    tracking_no: str = ""
    verify_digits: str = ""
    submission: Submission | None = None
    rating: str = ""  # "rate": satisfied | basically_satisfied | dissatisfied
    comment: str = ""  # "rate": the citizen's optional comment
    stage: str = ""  # "request_review": "review" (复查) or "recheck" (复核)
    reason: str = ""  # "request_review", "withdraw": the citizen's reason; "ask_human": words
    confirmed: bool = False  # "request_review", "withdraw": do it (False: check, describe)
    opt_out: bool = False  # "broadcast_opt": True for 退订, False for 订阅
    attachment: str = ""  # "add_material": our id of the file sent outside a form
    in_form: bool = False  # "ask_human": asked while filling in a petition


@dataclass(slots=True)
class StepResult:
    """The engine's output for one event."""

    state: dict[str, Any]  # JSON-serialisable conversation state, stored as is
    replies: list[Reply] = field(default_factory=list)
    effect: Effect | None = None
