"""The office's written documents: which action issues which, their 文号, what they say.

A lifecycle action that the 信访工作条例 ties to a written notice issues it in the action's
own transaction (:data:`DOCUMENT_OF`): a row in ``case_documents`` with its 文号 (a
per-kind, per-year sequence taken from ``document_numbers`` in the same transaction) and
a snapshot of everything the document says. The snapshot is built here from the case, the
action's parameters and what staff wrote *for the petitioner*; the internal note is never
given to this module. Rendering to PDF is :mod:`bot.cases.document_pdf`, outside the
transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.config import read_mapping
from bot.dialogs.texts import Texts
from bot.domain.statuses import OUTCOMES
from bot.domain.tracking import format_tracking_no
from bot.storage import documents
from bot.storage.cases import CaseRow

# the lifecycle action -> the document it issues (the only place this is declared)
DOCUMENT_OF: Mapping[str, str] = {
    "accept": "acceptance",  # 受理告知书
    "reject": "rejection",  # 不予受理告知书 (reason, the proper channel)
    "transfer": "transfer",  # 转送告知 (to whom)
    "extend": "extension",  # 延期告知书 (reason, new date)
    "answer": "opinion",  # 处理意见书 (remedy: 复查 and its last day)
    "decide_review": "review",  # 复查意见书 (remedy: 复核 and its last day)
    "decide_recheck": "recheck",  # 复核意见书 (final)
}
KINDS = tuple(DOCUMENT_OF.values())
# the opinion each opinion document quotes: its stage in case_opinions
OPINION_STAGE = {"opinion": "answer", "review": "review", "recheck": "recheck"}
# the personal data a document prints (masked for staff without personal-data access)
PERSONAL = ("name", "phone", "address")


class DocumentConfigError(ValueError):
    """config/documents.yaml or a template is missing or wrong."""


@dataclass(frozen=True, slots=True)
class KindConfig:
    """One kind of document: its printed title and its 文号 pattern."""

    title: str
    number: str  # e.g. "杭信复〔{year}〕{seq}号"

    def format(self, year: int, seq: int) -> str:
        """The 文号 of sequence number ``seq`` in ``year``."""
        return self.number.format(year=year, seq=seq)


@dataclass(frozen=True, slots=True)
class DocumentConfig:
    """config/documents.yaml and the directory of the templates."""

    office: str
    seal: str
    review_to: str
    recheck_to: str
    kinds: Mapping[str, KindConfig]
    template_dir: Path


def load_document_config(config_dir: Path) -> DocumentConfig:
    """Read config/documents.yaml and check every kind has a pattern and a template."""
    where = "config/documents.yaml"
    data = read_mapping(config_dir / "documents.yaml", where, DocumentConfigError)
    raw_kinds = data.get("kinds")
    if not isinstance(raw_kinds, Mapping):
        raise DocumentConfigError(f"{where}: 'kinds' must be a mapping")
    unknown = sorted(set(raw_kinds) - set(KINDS))
    missing = [k for k in KINDS if k not in raw_kinds]
    if unknown or missing:
        raise DocumentConfigError(f"{where}: unknown kinds {unknown}, missing kinds {missing}")
    template_dir = config_dir / "documents"
    kinds: dict[str, KindConfig] = {}
    for kind in KINDS:
        entry = raw_kinds[kind]
        if not isinstance(entry, Mapping) or not entry.get("title") or not entry.get("number"):
            raise DocumentConfigError(f"{where}: kinds.{kind} needs a title and a number")
        config = KindConfig(str(entry["title"]), str(entry["number"]))
        try:
            sample = config.format(2026, 1)
        except (KeyError, IndexError, ValueError) as exc:
            raise DocumentConfigError(
                f"{where}: kinds.{kind}.number may use {{year}} and {{seq}} only: {exc}"
            ) from None
        if "{seq" not in config.number or sample == config.format(2026, 2):
            raise DocumentConfigError(f"{where}: kinds.{kind}.number must contain {{seq}}")
        if not (template_dir / f"{kind}.html").is_file():
            raise DocumentConfigError(f"config/documents/{kind}.html is missing")
        kinds[kind] = config
    remedy = data.get("remedy") or {}
    if not isinstance(remedy, Mapping):
        raise DocumentConfigError(f"{where}: 'remedy' must be a mapping")
    office = str(data.get("office") or "").strip()
    if not office:
        raise DocumentConfigError(f"{where}: 'office' (the issuing office's name) is required")
    return DocumentConfig(
        office=office,
        seal=str(data.get("seal") or "（印章）"),
        review_to=str(remedy.get("review_to") or "原办理机关的上一级行政机关"),
        recheck_to=str(remedy.get("recheck_to") or "复查机关的上一级行政机关"),
        kinds=kinds,
        template_dir=template_dir,
    )


@dataclass(frozen=True, slots=True)
class Issued:
    """A document just issued (for the push that tells of it)."""

    id: int
    kind: str
    title: str
    number: str


def chinese_date(day: date) -> str:
    """2026-12-06 → 2026年12月6日, as official documents write dates."""
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass
class DocumentIssuer:
    """Issues the document an action requires, in the action's transaction."""

    config: DocumentConfig
    texts: Texts
    tz: ZoneInfo
    department_name: Callable[[str, str], str]

    def _day(self, when: datetime) -> str:
        return chinese_date(when.astimezone(self.tz).date())

    async def issue(
        self,
        conn: AsyncConnection,
        case: CaseRow,
        action: str,
        *,
        actor: str,
        now: datetime,
        params: Mapping[str, Any],
        message: str,
        department: str,
        event_id: int | None,
    ) -> Issued | None:
        """The document ``action`` requires for ``case``'s petitioner (None: it needs none).

        ``params`` are the action's push parameters (dates, reason, channel, recipient,
        opinion text, outcome, remedy deadline); ``message`` is what staff told the
        petitioner. Nothing else of the action is read: its internal note never is.
        """
        kind = DOCUMENT_OF.get(action)
        if kind is None:
            return None
        year = now.astimezone(self.tz).year
        seq = await documents.next_seq(conn, kind, year)
        config = self.config.kinds[kind]
        number = config.format(year, seq)
        data = self.snapshot(case, kind, now=now, params=params, message=message)
        data["number"] = number
        data["department"] = (
            self.department_name(department, "zh") if department else self.config.office
        )
        document_id = await documents.insert_document(
            conn,
            case_id=case.id,
            kind=kind,
            year=year,
            seq=seq,
            number=number,
            event_id=event_id,
            data=data,
            created_at=now,
            created_by=actor,
        )
        return Issued(document_id, kind, config.title, number)

    def snapshot(
        self,
        case: CaseRow,
        kind: str,
        *,
        now: datetime,
        params: Mapping[str, Any],
        message: str,
    ) -> dict[str, Any]:
        """What the document says, as plain strings (frozen in its row)."""
        answers = case.answers
        name = case.name or str(answers.get("name") or "")
        data: dict[str, Any] = {
            "kind": kind,
            "title": self.config.kinds[kind].title,
            "office": self.config.office,
            "seal": self.config.seal,
            "issued_on": self._day(now),
            "tracking_no": format_tracking_no(case.tracking_no),
            "submitted_on": self._day(case.submitted_at),
            "name": name,
            "phone": case.phone or str(answers.get("phone") or ""),
            "address": _text(answers.get("address")),
            "request": _text(answers.get("request")),
            "message": message,
        }
        if kind == "acceptance":
            data["answer_due"] = self._day(params["date"])
        elif kind == "rejection":
            data["reason"] = str(params["reason"])
            data["channel"] = str(params["channel"])
        elif kind == "transfer":
            data["to"] = str(params["to"])
        elif kind == "extension":
            data["reason"] = str(params["reason"])
            data["new_due"] = self._day(params["date"])
            data["old_due"] = self._day(case.answer_due_at) if case.answer_due_at else ""
        else:  # an opinion: its text, outcome and the petitioner's remedy
            outcome = str(params["outcome"])
            data["outcome"] = (
                self.texts.get("zh", f"outcome.{outcome}") if outcome in OUTCOMES else ""
            )
            data["opinion"] = str(params["text"])
            if kind == "recheck":
                data["remedy"] = "final"
            else:
                data["remedy"] = "review" if kind == "opinion" else "recheck"
                data["remedy_until"] = self._day(params["until"])
                data["remedy_to"] = (
                    self.config.review_to if kind == "opinion" else self.config.recheck_to
                )
        return data


def _text(value: Any) -> str:
    """A stored answer as printed text (a place or choice as its label)."""
    if isinstance(value, dict):
        return str(value.get("label") or "")
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)
