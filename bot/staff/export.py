"""Export of the filtered case list to CSV and XLSX, safe for untrusted petition text.

* Columns: tracking number, submitted, channel, status, appeal type, category, region,
  department, co-handling departments, flags, people, due date, name, phone, request,
  facts — with localized headers and names (zh default, en).
* Never exported: the respondent (被反映对象). Accusation material (检举控告) must never
  reach the person accused (DOMAIN.md), and a petitioner may file a claim that is in
  substance an accusation, so the column is left out for every case. Addresses and
  answers beyond the list above are not exported either (data minimisation, PIPL).
* Staff without ``case.pii`` get names and phones masked, and mobile and ID-card numbers
  inside the request and facts hidden.
* Formula injection (OWASP "CSV Injection"): a CSV cell starting with ``= + - @``, a tab
  or a carriage return gets a leading apostrophe, so spreadsheet programs show it as
  text; in XLSX every text cell is written with the string type (openpyxl would store
  ``"=…"`` as a formula otherwise) and risky ones also carry Excel's quote prefix.
* CSV is UTF-8 with a BOM, which Excel on Chinese Windows needs to detect UTF-8, and is
  streamed in chunks; very long text is kept whole. XLSX uses openpyxl's write-only mode
  (rows go to a temporary file, not memory) and cuts text to Excel's cell limit.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from bot.clock import utc_now
from bot.domain.tracking import format_tracking_no
from bot.logging import get_logger
from bot.staff.access import Permission, StaffMember
from bot.staff.casework import filter_summary, scope_of
from bot.staff.labels import Labels
from bot.staff.pii_policy import PiiPolicy
from bot.storage.case_query import CaseFilter, Clock, Sort, iter_cases
from bot.storage.cases import CaseRow
from bot.storage.db import Database
from bot.storage.staff import add_audit

log = get_logger(__name__)

Format = Literal["csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx")
CSV_BOM = "\ufeff"
XLSX_CELL_LIMIT = 32_767  # characters in one Excel cell
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_CHUNK_ROWS = 200
DEFAULT_SORT = Sort()

Cell = str | int | datetime | None

# (key, zh header, en header)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("tracking_no", "事项编号", "Tracking number"),
    ("submitted_at", "登记时间", "Submitted"),
    ("channel", "渠道", "Channel"),
    ("status", "状态", "Status"),
    ("appeal_type", "诉求类型", "Type"),
    ("category", "问题类别", "Subject"),
    ("region", "事发地", "Region"),
    ("department", "承办单位", "Department"),
    ("co_departments", "协办单位", "Co-handling departments"),
    ("flags", "标记", "Flags"),
    ("people_count", "反映人数", "Petitioners"),
    ("due_at", "办理期限", "Due"),
    ("name", "姓名", "Name"),
    ("phone", "联系电话", "Phone"),
    ("request", "请求", "Request"),
    ("facts", "事实和理由", "Facts and reasons"),
)


def headers(lang: str) -> list[str]:
    """The header row in ``lang``."""
    return [en if lang == "en" else zh for _, zh, en in COLUMNS]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class RowFormatter:
    """Turns a case into the cells of one export row, for one reader."""

    lang: str
    member: StaffMember
    labels: Labels
    tz: ZoneInfo

    def cells(self, case: CaseRow) -> list[Cell]:
        """The row's values: text, whole numbers and local datetimes (None when empty)."""
        lang, labels = self.lang, self.labels
        case = PiiPolicy.of(self.member).case(case)
        sep = ", " if lang == "en" else "、"
        request = _text(case.answers.get("request"))
        facts = _text(case.answers.get("facts"))
        name, phone = case.name, case.phone
        return [
            format_tracking_no(case.tracking_no),
            self._local(case.submitted_at),
            labels.channel(case.channel, lang),
            labels.status(case.status, lang),
            labels.appeal_type(case.appeal_type, lang) if case.appeal_type else "",
            labels.category(case.category, lang) if case.category else "",
            labels.region(case.region, lang) if case.region else "",
            labels.department(case.department, lang) if case.department else "",
            sep.join(labels.department(d, lang) for d in case.co_departments),
            sep.join(labels.flag(f, lang) for f in case.flags),
            case.people_count,
            self._local(case.due_at),
            name,
            phone,
            request,
            facts,
        ]

    def _local(self, when: datetime | None) -> datetime | None:
        return when.astimezone(self.tz).replace(tzinfo=None, microsecond=0) if when else None


# a formula start at the beginning of the cell or after a character some spreadsheet may
# split the cell at (a locale's separator ";", a tab, "|", a line break)
_FORMULA_AFTER_SEPARATOR = re.compile(r"(?:^|(?<=[,;\t\r\n|，；]))([=+\-@\t\r])")


def neutralise_csv(value: str) -> str:
    """Prefix an apostrophe to every part of the text a spreadsheet would run as a formula:
    at the start and after separators, so that ``a;=1+2`` is inert in ``;`` locales too."""
    return _FORMULA_AFTER_SEPARATOR.sub(r"'\1", value)


def _csv_value(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, int):
        return str(value)
    return neutralise_csv(value)


async def csv_chunks(
    rows: AsyncIterator[CaseRow],
    *,
    lang: str,
    member: StaffMember,
    labels: Labels,
    timezone: str = "Asia/Shanghai",
    chunk_rows: int = CSV_CHUNK_ROWS,
    counter: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The CSV file as UTF-8 byte chunks (BOM first), for streaming HTTP responses.

    ``counter`` is called with the number of data rows once the last chunk is out.
    """
    fmt = RowFormatter(lang, member, labels, ZoneInfo(timezone))
    buffer = io.StringIO()
    # RFC 4180 line ends; every field quoted, so no separator inside a cell splits it
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    buffer.write(CSV_BOM)
    writer.writerow(headers(lang))
    count = 0
    async for case in rows:
        writer.writerow([_csv_value(v) for v in fmt.cells(case)])
        count += 1
        if count % chunk_rows == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")
    if counter is not None:
        counter(count)


async def export_csv(
    rows: AsyncIterator[CaseRow],
    out: BinaryIO | IO[bytes],
    *,
    lang: str = "zh",
    member: StaffMember,
    labels: Labels,
    timezone: str = "Asia/Shanghai",
) -> int:
    """Write the CSV to a binary file object (UTF-8 with BOM); returns the number of rows."""
    counted: list[int] = []
    async for chunk in csv_chunks(
        rows, lang=lang, member=member, labels=labels, timezone=timezone, counter=counted.append
    ):
        out.write(chunk)
    return counted[0]


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: Cell) -> WriteOnlyCell | Cell:
    if not isinstance(value, str):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters make the file invalid
    if len(text) > XLSX_CELL_LIMIT:
        text = text[: XLSX_CELL_LIMIT - 1] + "…"
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # never a formula, whatever the text starts with
    if text.startswith(FORMULA_START):
        cell.quotePrefix = True  # and stays text if someone edits the cell in Excel
    return cell


async def export_xlsx(
    rows: AsyncIterator[CaseRow],
    out: BinaryIO | IO[bytes] | str | Path,
    *,
    lang: str = "zh",
    member: StaffMember,
    labels: Labels,
    timezone: str = "Asia/Shanghai",
) -> int:
    """Write an XLSX workbook (one sheet) to a binary file object or path; returns the rows.

    openpyxl's write-only mode spools rows to a temporary file, so memory stays flat;
    the workbook is assembled into ``out`` at the end (a zip needs seeking: give a real
    file or a BytesIO, not a socket).
    """
    fmt = RowFormatter(lang, member, labels, ZoneInfo(timezone))
    book = Workbook(write_only=True)
    sheet = book.create_sheet("信访事项" if lang != "en" else "Cases")
    sheet.freeze_panes = "B2"
    widths = (18, 17, 10, 10, 10, 14, 12, 22, 22, 16, 8, 17, 10, 14, 50, 80)
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[_column_letter(index)].width = width
    sheet.append([_xlsx_cell(sheet, h) for h in headers(lang)])
    count = 0
    async for case in rows:
        values = fmt.cells(case)
        row: list[Any] = []
        for value in values:
            cell = _xlsx_cell(sheet, value)
            if isinstance(value, datetime):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "yyyy-mm-dd hh:mm"
            row.append(cell)
        sheet.append(row)
        count += 1
    await asyncio.to_thread(book.save, out)  # zipping a large sheet takes a while
    return count


def _column_letter(index: int) -> str:
    letter: str = get_column_letter(index)
    return letter


class CaseExporter:
    """The export use case: permission, department scope, the file, and the audit entry."""

    def __init__(
        self,
        db: Database,
        labels: Labels,
        *,
        timezone: str = "Asia/Shanghai",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.labels = labels
        self.timezone = timezone
        self.clock = clock

    async def write(
        self,
        flt: CaseFilter,
        member: StaffMember,
        fmt: Format,
        out: BinaryIO | IO[bytes],
        *,
        lang: str | None = None,
        sort: Sort = DEFAULT_SORT,
        deadline_clock: Clock | None = None,
        ip: str = "",
    ) -> int:
        """Export the member's cases matching ``flt``; returns the rows (raises AccessDenied)."""
        member.require(Permission.EXPORT)
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        language = lang or member.lang
        scope = scope_of(member)
        async with self.db.read() as conn:
            rows = iter_cases(conn, flt, scope, sort=sort, clock=deadline_clock)
            write = export_csv if fmt == "csv" else export_xlsx
            count = await write(
                rows, out, lang=language, member=member, labels=self.labels, timezone=self.timezone
            )
        await self.audit(member, fmt, flt, count, ip=ip)
        return count

    def stream_csv(
        self,
        flt: CaseFilter,
        member: StaffMember,
        *,
        lang: str | None = None,
        sort: Sort = DEFAULT_SORT,
        deadline_clock: Clock | None = None,
        ip: str = "",
    ) -> AsyncIterator[bytes]:
        """The CSV as byte chunks for an HTTP response; audited when the last chunk is out.

        Raises AccessDenied at once (before anything is streamed).
        """
        member.require(Permission.EXPORT)
        return self._stream(flt, member, lang or member.lang, sort, deadline_clock, ip)

    async def _stream(
        self,
        flt: CaseFilter,
        member: StaffMember,
        lang: str,
        sort: Sort,
        deadline_clock: Clock | None,
        ip: str,
    ) -> AsyncIterator[bytes]:
        scope = scope_of(member)
        counted: list[int] = []
        async with self.db.read() as conn:
            rows = iter_cases(conn, flt, scope, sort=sort, clock=deadline_clock)
            async for chunk in csv_chunks(
                rows,
                lang=lang,
                member=member,
                labels=self.labels,
                timezone=self.timezone,
                counter=counted.append,
            ):
                yield chunk
        await self.audit(member, "csv", flt, counted[0] if counted else 0, ip=ip)

    async def audit(
        self, member: StaffMember, fmt: str, flt: CaseFilter, count: int, *, ip: str = ""
    ) -> None:
        """Record an export in the audit log (what was asked for and how many cases)."""
        async with self.db.transaction() as conn:
            await add_audit(
                conn,
                at=self.clock(),
                actor=member.login,
                staff_id=member.id,
                action="case.export",
                target=fmt,
                detail={"filter": filter_summary(flt), "rows": count},
                ip=ip,
            )
        log.info("case.exported", staff=member.login, format=fmt, rows=count)
