"""Who may decide what on a case (信访工作条例), as pure rules configured in lifecycle.yaml.

- Only the lead (主办) department answers. A co-handling (协办) department reads the case
  and contributes through internal notes (shown to the lead as 协办意见); it takes no
  other action.
- A 复查 or 复核 is decided by an account that took no earlier decision on the case and,
  with ``review_by: other_department`` (the default), not by a handler of the department
  whose opinion is under review: the supervising office or another department decides.
- An extension (延期) is possible only before the answer deadline, as often as configured,
  and, with ``extension_approval: supervisor``, only by 督办 staff (the 条例 requires the
  approval of the office's head, 经本机关负责人批准).

Each refusal is a code (``REFUSALS``) that staff pages word in their own language. The
state machine (``lifecycle``) still decides which actions a status allows; these rules
say who may take them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import read_mapping
from bot.storage.cases import CaseRow, Opinion

REVIEW_BY = ("other_account", "other_department")
APPROVAL = ("", "supervisor")
REFUSALS = (
    "co_handler",  # the account's department only co-handles the case
    "decided_before",  # the account took an earlier decision on the case
    "same_department",  # the account belongs to the department whose opinion is reviewed
    "extension_used",  # the case has had every extension allowed
    "extension_late",  # the answer deadline has passed
    "extension_approval",  # extensions are granted by 督办 staff
    "handler_department",  # a handler names handlers only in their own lead department
    "handler_others",  # a handler takes a case for themselves (认领), not for a colleague
)
# what a co-handling department may still do
CO_HANDLER_ACTIONS = frozenset({"note"})
DECISIONS = frozenset({"decide_review", "decide_recheck"})


class AuthorityError(ValueError):
    """config/lifecycle.yaml's ``authority`` section is invalid."""


@dataclass(frozen=True, slots=True)
class Authority:
    """The configured rules."""

    lead_answers: bool = True
    review_by: str = "other_department"
    extension_approval: str = "supervisor"


@dataclass(frozen=True, slots=True)
class Actor:
    """The staff member acting, as these rules see them."""

    name: str  # as on timelines: "staff:<login>"
    departments: tuple[str, ...] = ()
    office: bool = False  # 督办 / the supervising office: no department restriction


def load_authority(config_dir: Path) -> Authority:
    """The ``authority`` section of config/lifecycle.yaml (defaults when absent)."""
    data = read_mapping(config_dir / "lifecycle.yaml", "config/lifecycle.yaml", AuthorityError)
    raw: Any = data.get("authority") or {}
    if not isinstance(raw, Mapping):
        raise AuthorityError("config/lifecycle.yaml: 'authority' must be a mapping")
    unknown = set(raw) - {"lead_answers", "review_by", "extension_approval"}
    if unknown:
        raise AuthorityError(f"config/lifecycle.yaml: unknown authority keys {sorted(unknown)}")
    rules = Authority(
        lead_answers=bool(raw.get("lead_answers", True)),
        review_by=str(raw.get("review_by", "other_department")),
        extension_approval=str(raw.get("extension_approval") or ""),
    )
    if rules.review_by not in REVIEW_BY:
        raise AuthorityError(f"authority.review_by is one of {', '.join(REVIEW_BY)}")
    if rules.extension_approval not in APPROVAL:
        raise AuthorityError("authority.extension_approval is '' or 'supervisor'")
    return rules


def extension_refusal(
    case: CaseRow, now: datetime, allowed: int, due: datetime | None = None
) -> str | None:
    """Why no extension is possible on this case now, for anyone (None: it is)."""
    if case.extensions >= allowed:
        return "extension_used"
    deadline = case.answer_due_at or due
    if deadline is not None and now > deadline:
        return "extension_late"
    return None


def close_refusal(case: CaseRow, now: datetime) -> str | None:
    """Why the case cannot be closed now (None: it can): the petitioner may still ask for
    复查/复核 (信访工作条例 第三十五条, 第三十六条)."""
    open_until = case.request_until
    if case.status in ("answered", "reviewed") and open_until and now <= open_until:
        return "close_too_early"
    return None


def refusal(
    rules: Authority,
    action: str,
    who: Actor,
    case: CaseRow,
    opinions: Sequence[Opinion],
) -> str | None:
    """Why ``who`` may not take the state machine's ``action`` on ``case`` (None: they may)."""
    co_only = (
        not who.office
        and case.department not in who.departments
        and bool(set(who.departments) & set(case.co_departments))
    )
    if co_only and rules.lead_answers and action not in CO_HANDLER_ACTIONS:
        return "co_handler"
    if action in DECISIONS:
        if any(o.decided_by == who.name for o in opinions):
            return "decided_before"
        reviewed = opinions[-1] if opinions else None
        if (
            rules.review_by == "other_department"
            and reviewed is not None
            and not who.office
            and reviewed.department in who.departments
        ):
            return "same_department"
    if action == "extend" and rules.extension_approval == "supervisor" and not who.office:
        return "extension_approval"
    return None


def handler_refusal(who: Actor, case: CaseRow, handler: str | None) -> str | None:
    """Why ``who`` may not name ``handler`` the handler of ``case`` (None: they may).

    督办 staff name anyone (the account is checked by the service); a handler of the lead
    department takes the case for themselves (认领) or gives back their own; ``handler``
    None asks whether the member could name anyone at all.
    """
    if who.office:
        return None
    if case.department not in who.departments:
        return "handler_department"
    if handler is None:
        return None
    me = who.name.removeprefix("staff:")
    if handler == me or (not handler and case.handler == me):
        return None
    return "handler_others"
