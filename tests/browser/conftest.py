"""Debian's chromium driven by Playwright (never a downloaded browser), for every browser test.

Without chromium the tests are skipped, unless ``XINFANG_TEST_REQUIRE_BROWSER=1`` (CI),
which makes that a failure. Screenshots go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.server import ROOT

CHROMIUM = os.environ.get("XINFANG_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless chromium."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("XINFANG_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"chromium not found at {CHROMIUM}")
        pytest.skip("chromium not installed (make test installs it)")
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        # flags: the machine has no network beyond loopback; see the env notes
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        await browser.close()
