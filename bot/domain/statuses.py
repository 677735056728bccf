"""Statuses, transitions and the words a case is decided with: the state machine as data.

Pure: no I/O, no configuration. Storage, dialogs, the lifecycle and the web all read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.tracking import format_tracking_no

STATUS_CODES = (
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
    "withdrawn",  # 撤回: the petitioner withdrew it before it was answered
)
OUTCOMES = ("supported", "explained", "not_supported")  # 支持 / 解释说明 / 不予支持
RATINGS = ("satisfied", "basically_satisfied", "dissatisfied")  # 满意 / 基本满意 / 不满意


ALL_STATUSES = frozenset(STATUS_CODES)
OPEN_STATUSES = ALL_STATUSES - {"rejected", "closed", "withdrawn"}
REVIEWING = frozenset({"review_requested", "recheck_requested"})
# an answered status -> the clock of the petitioner's remedy from it (None: final)
REMEDY_WINDOW = {"answered": "review_request", "reviewed": "recheck_request", "rechecked": None}
# 撤回: a petitioner may withdraw their petition until it is answered
WITHDRAWABLE = frozenset(
    {"submitted", "transferred", "accepted", "assigned", "in_progress", "extended"}
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One action: the statuses it is allowed from, the status it leads to, its push."""

    sources: frozenset[str]
    target: str | None  # None: the status does not change
    push: str | None = None  # a push.* text key; None: nothing is sent
    shared: bool = True  # applied to the whole linked group
    public: bool = True  # the timeline event is shown to the citizen


def _rule(
    sources: set[str] | frozenset[str],
    target: str | None,
    push: str | None = None,
    *,
    shared: bool = True,
    public: bool = True,
) -> Rule:
    return Rule(frozenset(sources), target, push, shared, public)


TRANSITIONS: Mapping[str, Rule] = {
    "accept": _rule({"submitted", "transferred"}, "accepted", "push.accepted"),
    "reject": _rule({"submitted", "transferred"}, "rejected", "push.rejected"),
    "transfer": _rule({"submitted"}, "transferred", "push.transferred"),
    "assign": _rule({"accepted", "transferred"}, "assigned", "push.assigned"),
    "start": _rule({"assigned"}, "in_progress"),
    "extend": _rule({"assigned", "in_progress", "extended"}, "extended", "push.extended"),
    "answer": _rule({"assigned", "in_progress", "extended"}, "answered", "push.answered"),
    # a remedy is each petitioner's own: their case leaves a linked group for it
    "request_review": _rule(
        {"answered"}, "review_requested", "push.review_requested", shared=False
    ),
    "decide_review": _rule({"review_requested"}, "reviewed", "push.reviewed"),
    "request_recheck": _rule(
        {"reviewed"}, "recheck_requested", "push.recheck_requested", shared=False
    ),
    "decide_recheck": _rule({"recheck_requested"}, "rechecked", "push.rechecked"),
    "close": _rule(
        {"rejected", "transferred", "answered", "reviewed", "rechecked"}, "closed", "push.closed"
    ),
    "rate": _rule({"answered", "reviewed", "rechecked", "closed"}, None, shared=False),
    "note": _rule(ALL_STATUSES, None, shared=False, public=False),  # internal only
    "reply": _rule(ALL_STATUSES, None, "push.staff_reply", shared=False),  # told to the citizen
    # the petitioner's own case only (a linked group goes on for the others)
    "withdraw": _rule(WITHDRAWABLE, "withdrawn", shared=False),
    # a newly registered duplicate joins the handling of an earlier case of the same matter
    "link": _rule({"submitted", "transferred", "accepted"}, None, "push.linked", shared=False),
}
ACTIONS = tuple(TRANSITIONS)


class LifecycleError(ValueError):
    """A transition was refused: the message says why, in terms staff understand; ``code``
    names the reason for pages that word it in their own language."""

    def __init__(self, message: str, code: str = "", **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params  # what the code's text names (a field, a date, a limit)


class TransitionError(LifecycleError):
    """The action is not allowed from the case's current status."""

    def __init__(self, tracking_no: str, status: str, action: str) -> None:
        allowed = sorted(a for a, r in TRANSITIONS.items() if status in r.sources)
        super().__init__(
            f"case {format_tracking_no(tracking_no)} is {status!r}: action {action!r} is not "
            f"allowed (allowed from {status!r}: {', '.join(allowed) or 'none'})",
            "conflict",
            status=status,
        )
        self.tracking_no = tracking_no
        self.status = status
        self.action = action


def allowed_actions(status: str) -> list[str]:
    """The actions the state machine allows from ``status``."""
    return [a for a, r in TRANSITIONS.items() if status in r.sources]
