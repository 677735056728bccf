"""An official document opened from the case page in a real browser (Debian's chromium)
against `xinfang serve`: the 处理意见书 is listed with its 文号, its link serves the PDF
the browser shows, and a paper delivery is recorded with the form and shown.

Artifacts: test-artifacts/document-case.png (the documents on the case page),
document-opinion.pdf and document-opinion.png (its first page, by pdftoppm when present).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from bot.app import build_services
from bot.settings import Settings
from bot.staff.access import Role, StaffMember
from bot.storage import cases, documents
from bot.storage.db import Database
from tests.browser.conftest import ARTIFACTS
from tests.cases.lifecycle_support import make_case
from tests.server import ROOT, Server

pytestmark = pytest.mark.e2e
PASSWORD = "a long staff passphrase"
SUPERVISOR = StaffMember(1, "duban", "", Role.SUPERVISOR, ())
OPINION = "经核实，您反映的楼道漏水问题属实。物业公司已于本周完成防水维修，请您查看。"
INTERNAL = "内部：该户多次越级上访，注意稳控。"


async def answered_case(db_url: str, data_dir: Path) -> tuple[str, str]:
    """A case accepted, assigned and answered (internal notes on each); (number, 文号)."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=db_url, data_dir=data_dir, config_dir=ROOT / "config"
    )
    services = build_services(settings)
    await services.accounts.add("duban", PASSWORD, role=Role.SUPERVISOR)
    answers = {"request": "楼道漏水半年，请求维修", "name": "赵六", "phone": "13700001111"}
    case_id = await make_case(
        services.db,
        datetime.now(UTC) - timedelta(days=3),
        user="browser-documents",
        department="330102-zjj",
        answers=answers,
    )
    async with services.db.read() as conn:
        row = await cases.by_id(conn, case_id)
    assert row is not None
    work = services.casework
    await work.act(SUPERVISOR, row.tracking_no, "accept", {"note": INTERNAL})
    await work.act(SUPERVISOR, row.tracking_no, "assign", {"department": "330102-zjj"})
    await work.act(SUPERVISOR, row.tracking_no, "answer", {"outcome": "supported", "text": OPINION})
    async with services.db.read() as conn:
        kinds = {d.kind: d.number for d in await documents.of_case(conn, case_id)}
    await services.db.dispose()
    assert set(kinds) == {"acceptance", "opinion"}
    return row.tracking_no, kinds["opinion"]


async def test_staff_open_print_and_record_a_document(
    db: Database, db_url: str, tmp_path: Path, browser: Browser
) -> None:
    number, opinion_no = await answered_case(db_url, tmp_path / "data")
    server = Server(db_url, tmp_path / "data")
    await server.start()
    try:
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = await context.new_page()
        await page.goto(f"{server.url}/staff/login")
        await page.fill("input[name=login]", "duban")
        await page.fill("input[name=password]", PASSWORD)
        await page.locator("form button[type=submit]").click()
        await page.goto(f"{server.url}/staff/cases/{number}")
        row = page.locator("#documents tr[data-kind=opinion]")
        await expect(row.locator(".doc-number")).to_have_text(opinion_no)
        await expect(page.locator("#timeline .doc-issued")).to_have_count(2)

        # the 查看 link opens the PDF in a new tab (the browser's viewer prints it)
        link = row.locator("a.doc-view")
        assert await link.get_attribute("target") == "_blank"
        href = await link.get_attribute("href")
        assert href is not None
        response = await page.request.get(f"{server.url}{href}")  # the tab's request
        assert response.status == 200
        assert response.headers["content-type"] == "application/pdf"
        body = await response.body()
        assert body.startswith(b"%PDF")
        pdf = ARTIFACTS / "document-opinion.pdf"
        pdf.write_bytes(body)
        if shutil.which("pdftoppm") and shutil.which("pdftotext"):
            subprocess.run(
                ["pdftoppm", "-png", "-r", "80", "-singlefile", str(pdf), str(pdf.with_suffix(""))],
                check=True,
            )
            assert pdf.with_suffix(".png").stat().st_size > 10_000
            text = subprocess.run(
                ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
            ).stdout
            flat = re.sub(r"\s+", "", text)
            assert opinion_no in flat and re.sub(r"\s+", "", OPINION) in flat
            assert "稳控" not in flat

        # paper delivery through the form, then shown on the page
        await row.locator("details.doc-record summary").click()
        await row.locator("select[name=way]").select_option("in_person")
        await row.locator("input[name=note]").fill("本人签收")
        await row.locator("details.doc-record button[type=submit]").click()
        await expect(page.locator("p.flash.ok")).to_contain_text(opinion_no)
        await expect(row.locator(".doc-paper")).to_contain_text("当面送达")
        await expect(row.locator(".doc-paper")).to_contain_text("本人签收")
        await page.locator("#documents").screenshot(path=str(ARTIFACTS / "document-case.png"))
        await context.close()
    finally:
        server.stop()
