"""Every official document, rendered once for fixture cases worked through the lifecycle
with internal notes on every action, read back from the PDF and checked for what it must
say: its 文号, the petitioner, the tracking number, the opinion text as kept in
case_opinions, the remedy and its last day (or that the 复核 is final), the reason and
channel of a rejection, the recipient of a transfer, the new date of an extension. No
internal note is in any document's data or PDF; a viewer's rendering is masked.

WeasyPrint is slow next to everything else here: each kind is rendered exactly once, in
one module-scoped fixture (plus one masked rendering).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from bot.app import build_services
from bot.cases.documents import KINDS, chinese_date
from bot.domain.tracking import format_tracking_no
from bot.settings import Settings
from bot.staff.access import Role, StaffMember
from bot.storage import cases, documents
from bot.storage.migrate import upgrade
from tests.cases.lifecycle_support import make_case

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SUPERVISOR = StaffMember(2, "duban", "", Role.SUPERVISOR, ())
REVIEWER = StaffMember(3, "duban-fucha", "", Role.SUPERVISOR, ())  # decides the 复查
RECHECKER = StaffMember(1, "admin", "", Role.ADMIN, ())  # decides the 复核
VIEWER = StaffMember(4, "viewer", "", Role.VIEWER, ())
SECRET = "机密批注"  # every internal note carries it; no document may
NAME, PHONE, ADDRESS = "王小明", "13912345678", "杭州市上城区清波街道河坊街88号"
ZJJ = "330102-zjj"
OPINION = "经核实，该路段由镇政府负责维修，已列入今年农村公路养护计划，12月底前完成修复。"
REVIEW = "经复查，原处理意见认定事实清楚，处理恰当，予以维持。"
RECHECK = "经复核，复查意见正确，予以维持。"
REASON = "该事项已进入诉讼程序"
CHANNEL = "请向杭州市上城区人民法院提出，或咨询12368诉讼服务热线"
TRANSFER_TO = "杭州市公安局上城区分局"
EXTEND_REASON = "需要现场勘查并征求交通部门意见"


def internal(action: str) -> str:
    return f"{SECRET}[{action}]：该户多次越级上访，注意稳控"


def flat(text: str) -> str:
    """Text without whitespace (PDF extraction breaks CJK lines and spaces at will)."""
    return re.sub(r"\s+", "", text)


@dataclass
class Rendered:
    """Every document of the fixture cases, its PDF text, and the facts to find in it."""

    docs: dict[str, documents.DocumentRow]
    text: dict[str, str]  # kind -> PDF text, whitespace removed
    numbers: dict[str, str]  # kind -> formatted tracking number of its case
    opinions: dict[str, str]  # stage -> the text kept in case_opinions
    case_until: dict[str, datetime | None]  # kind -> the case's request_until after it
    masked: str  # the viewer's rendering of the 处理意见书
    pages: dict[str, int]


async def _build(tmp: Path) -> Rendered:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp / 'docs.sqlite3'}",
        data_dir=tmp / "data",
        config_dir=CONFIG_DIR,
    )
    services = build_services(settings)
    await upgrade(services.db)
    for member in (RECHECKER, SUPERVISOR, REVIEWER, VIEWER):  # ids 1, 2, 3, 4
        await services.accounts.add(member.login, "a long staff passphrase", role=member.role)
    work = services.casework
    answers = {"request": "村道损坏三年，请求修路", "name": NAME, "phone": PHONE}
    answers["address"] = ADDRESS
    numbers: list[str] = []
    for user in ("a", "b", "c"):
        case_id = await make_case(
            services.db,
            datetime.now(UTC) - timedelta(days=1),
            user=f"citizen-{user}",
            department=ZJJ,
            answers=answers,
            phone=PHONE,
        )
        async with services.db.transaction() as conn:
            await cases.update_case(conn, case_id, datetime.now(UTC), name=NAME)
            row = await cases.by_id(conn, case_id)
        assert row is not None
        numbers.append(row.tracking_no)
    main, rejected, transferred = numbers

    async def act(number: str, action: str, by: StaffMember = SUPERVISOR, **params: Any) -> None:
        await work.act(by, number, action, {**params, "note": internal(action)})

    until: dict[str, datetime | None] = {}

    async def after(kind: str, number: str) -> None:
        async with services.db.read() as conn:
            row = await cases.by_tracking_no(conn, number)
        assert row is not None
        until[kind] = row.request_until

    await act(main, "accept")
    await act(main, "assign", department=ZJJ)
    await act(main, "extend", days=10, reason=EXTEND_REASON)
    await after("extension", main)
    await act(main, "answer", outcome="explained", text=OPINION)
    await after("opinion", main)
    await services.casework.lifecycle.request_review(main, reason="不服")
    await act(main, "decide", REVIEWER, outcome="not_supported", text=REVIEW)
    await after("review", main)
    await services.casework.lifecycle.request_review(main, reason="仍不服")
    await act(main, "decide", RECHECKER, outcome="not_supported", text=RECHECK)
    await act(rejected, "reject", reason=REASON, channel=CHANNEL)
    await act(transferred, "transfer", to=TRANSFER_TO)

    docs: dict[str, documents.DocumentRow] = {}
    of: dict[str, str] = {}
    opinions: dict[str, str] = {}
    async with services.db.read() as conn:
        for number in numbers:
            row = await cases.by_tracking_no(conn, number)
            assert row is not None
            for doc in await documents.of_case(conn, row.id):
                docs[doc.kind] = doc
                of[doc.kind] = format_tracking_no(number)
            if number == main:
                opinions = {o.stage: o.text for o in await cases.opinions(conn, row.id)}
    text: dict[str, str] = {}
    pages: dict[str, int] = {}
    for kind, doc in docs.items():
        number = main if kind not in ("rejection", "transfer") else None
        number = number or (rejected if kind == "rejection" else transferred)
        _, path = await services.documents.pdf(RECHECKER, number, doc.id)
        reader = PdfReader(io.BytesIO(path.read_bytes()))
        pages[kind] = len(reader.pages)
        text[kind] = flat("".join(p.extract_text() for p in reader.pages))
    _, masked_path = await services.documents.pdf(VIEWER, main, docs["opinion"].id)
    masked = flat(
        "".join(p.extract_text() for p in PdfReader(io.BytesIO(masked_path.read_bytes())).pages)
    )
    async with services.db.read() as conn:
        docs = {k: (await documents.by_id(conn, d.id)) or d for k, d in docs.items()}
    await services.db.dispose()
    return Rendered(docs, text, of, opinions, until, masked, pages)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The seven documents of three fixture cases, each rendered once."""
    return asyncio.run(_build(tmp_path_factory.mktemp("documents")))


def test_every_kind_is_issued_once_with_its_number(rendered: Rendered) -> None:
    assert sorted(rendered.docs) == sorted(KINDS)
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    for kind, doc in rendered.docs.items():
        assert doc.seq == 1, f"the first {kind} of the year is number 1"
        assert str(year) in doc.number and doc.number.endswith("1号")
        assert doc.pdf_key, "the rendered file's key is kept on the row"


@pytest.mark.parametrize("kind", KINDS)
def test_each_document_says_what_it_must(rendered: Rendered, kind: str) -> None:
    doc, text = rendered.docs[kind], rendered.text[kind]
    assert rendered.pages[kind] >= 1
    for expected in (
        doc.number,
        doc.data["title"],
        "杭州市信访局",
        "（印章）",
        NAME,
        PHONE,
        ADDRESS,
        rendered.numbers[kind],
    ):
        assert flat(expected) in text, (kind, expected)
    facts = {
        "acceptance": [doc.data.get("answer_due", "-")],
        "rejection": [REASON, CHANNEL],
        "transfer": [TRANSFER_TO],
        "extension": [EXTEND_REASON, doc.data.get("new_due", "-")],
        "opinion": [rendered.opinions["answer"], "复查", "解释说明"],
        "review": [rendered.opinions["review"], "复核", "不予支持"],
        "recheck": [rendered.opinions["recheck"], "最终意见", "不再受理"],
    }[kind]
    for expected in facts:
        assert flat(expected) in text, (kind, expected)


def test_opinions_quote_case_opinions_and_name_the_remedy_deadline(rendered: Rendered) -> None:
    assert rendered.opinions == {"answer": OPINION, "review": REVIEW, "recheck": RECHECK}
    for kind, stage in (("opinion", "answer"), ("review", "review"), ("recheck", "recheck")):
        assert rendered.docs[kind].data["opinion"] == rendered.opinions[stage]
    for kind in ("opinion", "review"):
        until = rendered.case_until[kind]
        assert until is not None, "the case's own 复查/复核 deadline (cases.request_until)"
        day = chinese_date(until.astimezone(ZoneInfo("Asia/Shanghai")).date())
        assert rendered.docs[kind].data["remedy_until"] == day
        assert flat(day) in rendered.text[kind]
    assert rendered.docs["recheck"].data["remedy"] == "final"


def test_no_internal_note_is_in_any_document(rendered: Rendered) -> None:
    for kind, doc in rendered.docs.items():
        assert SECRET not in json.dumps(doc.data, ensure_ascii=False), kind
        assert SECRET not in rendered.text[kind], kind
        assert "稳控" not in rendered.text[kind], kind


def test_a_viewer_gets_the_document_masked(rendered: Rendered) -> None:
    assert NAME not in rendered.masked and PHONE not in rendered.masked
    assert flat(ADDRESS) not in rendered.masked
    assert "王**" in rendered.masked
    assert rendered.docs["opinion"].number in rendered.masked
    assert flat(OPINION) in rendered.masked, "the opinion itself is not personal data"
