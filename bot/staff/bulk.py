"""Bulk actions on a selection of the case list: 受理 and 交办 many cases at once.

Each case goes through :meth:`Casework.act`, exactly as if it were acted on alone: the
role's permission, the department scope, the authority rules and the state machine are
checked per case, and every case done is audited on its own. A case that is refused
does not stop the others; the result lists it with the refusal's code, for pages to word
like the single action's refusal. Refusals are audited too (``case.bulk_refused``), so
the audit log shows every case the selection named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.domain.tracking import format_tracking_no, parse_tracking_no
from bot.staff.access import Permission, StaffMember
from bot.staff.casework import ActionError, CaseNotFound, Casework

BULK_ACTIONS = ("accept", "assign")
MAX_SELECTION = 200  # the longest page of the list
REFUSED_AUDIT = "case.bulk_refused"


@dataclass(frozen=True, slots=True)
class Refused:
    """A selected case the action was not taken on, and why."""

    tracking_no: str  # as staff typed or selected it (formatted when valid)
    code: str  # a refusal code (bot.cases.authority.REFUSALS, the state machine's), or not_found
    message: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What a bulk action did: the cases done, and each refused case with its reason."""

    action: str
    done: list[str]
    refused: list[Refused]
    pushes: int = 0


def selection(raw: list[str]) -> list[str]:
    """The distinct tracking numbers of a selection, in order (at most MAX_SELECTION)."""
    out: list[str] = []
    for value in raw:
        value = str(value).strip()[:40]
        if value and value not in out:
            out.append(value)
    if len(out) > MAX_SELECTION:
        raise ActionError(
            f"select at most {MAX_SELECTION} cases",
            code="too_many",
            field="cases",
            limit=MAX_SELECTION,
        )
    return out


async def bulk_act(
    casework: Casework,
    member: StaffMember,
    numbers: list[str],
    action: str,
    params: dict[str, Any],
    *,
    ip: str = "",
    via: str = "",
) -> BulkResult:
    """Take ``action`` on every selected case, one by one; refusals are collected."""
    member.require(Permission.CASE_ACT)
    if action not in BULK_ACTIONS:
        raise ActionError(
            f"bulk action is one of {', '.join(BULK_ACTIONS)}", code="invalid", field="action"
        )
    chosen = selection(numbers)
    if not chosen:
        raise ActionError("select at least one case", code="required", field="cases")
    done: list[str] = []
    refused: list[Refused] = []
    pushes = 0
    for number in chosen:
        parsed = parse_tracking_no(number)
        shown = format_tracking_no(parsed.canonical) if parsed.outcome == "valid" else number
        try:
            change = await casework.act(member, number, action, dict(params), ip=ip, via=via)
        except CaseNotFound as exc:
            # outside the member's scope reads like an unknown number: no oracle
            refused.append(Refused(shown, "not_found", str(exc)))
            await casework.record(
                member,
                REFUSED_AUDIT,
                case_id=exc.hidden_case_id,
                ip=ip,
                via=via,
                target=parsed.canonical if parsed.outcome == "valid" else "",
                detail={"action": action, "code": "scope" if exc.hidden_case_id else "not_found"},
            )
            continue
        except ActionError as exc:
            refused.append(Refused(shown, exc.code or "refused", str(exc), dict(exc.params)))
            await casework.record(
                member,
                REFUSED_AUDIT,
                ip=ip,
                via=via,
                target=parsed.canonical,
                detail={"action": action, "code": exc.code},
            )
            continue
        done.append(format_tracking_no(change.case.tracking_no))
        pushes += change.pushes
    return BulkResult(action, done, refused, pushes)
