"""What an official document costs: rendering its PDF against the action that issues it.

``python -m bench.documents [--long]`` accepts fresh cases on an SQLite file through the
lifecycle service (the baseline: one transaction with the case update, the timeline
event, the push and the document row with its 文号), then renders each document's PDF
with WeasyPrint (the subject), and prints the ratio of their medians, wall time and CPU
time. It is why rendering happens outside the transaction, on first request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import common
from bot.app import build_services
from bot.cases.document_pdf import DocumentRenderer
from bot.domain.tracking import new_tracking_no
from bot.messages import Address
from bot.settings import Settings
from bot.storage import cases, contacts, documents
from bot.storage.migrate import upgrade

OPINION = "经核实，该路段由镇政府负责维修，已列入今年农村公路养护计划，12月底前完成修复。"


async def _case(services: object, n: int) -> str:
    db = services.db  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        contact = await contacts.get_or_create(conn, Address("web", f"bench-{n}"), now)
        number = new_tracking_no(now.date())
        while await cases.tracking_no_taken(conn, number):
            number = new_tracking_no(now.date())
        await cases.insert_case(
            conn,
            tracking_no=number,
            contact_id=contact.id,
            channel="web",
            status="submitted",
            lang="zh",
            form_id="intake",
            form_version=1,
            appeal_type="seek_resolution",
            name="王小明",
            phone="13912345678",
            people_count=1,
            answers={"request": "村道损坏三年，请求修路", "address": "杭州市上城区河坊街88号"},
            flags=[],
            category="projects",
            region="330102",
            submitted_at=now,
            updated_at=now,
        )
    return number


async def run(rounds: int) -> dict[str, float]:
    """Medians of the issuing action and of the rendering, over ``rounds`` documents."""
    with tempfile.TemporaryDirectory(prefix="xinfang-bench-docs-") as tmp:
        root = Path(tmp)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=f"sqlite+aiosqlite:///{root / 'bench.sqlite3'}",
            data_dir=root / "data",
            config_dir=common.ROOT / "config",
        )
        services = build_services(settings)
        await upgrade(services.db)
        lifecycle = services.casework.lifecycle
        renderer = DocumentRenderer(services.documents.config)
        action_wall: list[float] = []
        render_wall: list[float] = []
        render_cpu: list[float] = []
        for n in range(rounds):
            number = await _case(services, n)
            started = time.perf_counter()
            change = await lifecycle.accept(number, actor="bench")
            action_wall.append(time.perf_counter() - started)
            async with services.db.read() as conn:
                (doc,) = await documents.of_case(conn, change.case.id)
            data = {**doc.data, "message": OPINION}
            wall, cpu = time.perf_counter(), time.process_time()
            renderer.pdf(doc.kind, data)
            render_cpu.append(time.process_time() - cpu)
            render_wall.append(time.perf_counter() - wall)
        await services.db.dispose()
    action = statistics.median(action_wall)
    render = statistics.median(render_wall)
    return {
        "action_ms": action * 1000,
        "render_ms": render * 1000,
        "render_cpu_ms": statistics.median(render_cpu) * 1000,
        "ratio": render / action,
    }


def main(argv: list[str] | None = None) -> int:
    """Run and report (bench/results/documents.json)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--long", action="store_true", help="100 documents instead of 10")
    args = parser.parse_args(argv)
    result = asyncio.run(run(100 if args.long else 10))
    common.report("documents", [{"kind": "acceptance", **result}])
    return 0


if __name__ == "__main__":
    sys.exit(main())
