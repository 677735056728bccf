"""文号 sequence numbers: per kind and year, no gap and no repeat, even when two processes
issue at once and some of their transactions roll back (SQLite and PostgreSQL).

Each "process" is a thread with its own event loop and its own Database (engine and
connection pool), as two `xinfang serve` processes would have; they meet only in the
database: the row lock of ``document_numbers`` on PostgreSQL, the write lock on SQLite.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

from bot.storage import documents
from bot.storage.db import Database
from tests.cases.lifecycle_support import make_case

ISSUERS = 2
PER_ISSUER = 12
ROLLED_BACK_EVERY = 4  # every 4th transaction fails after taking its number


class Abort(Exception):
    """A failure after the number was taken: the action's transaction rolls back."""


async def _issue(url: str, who: int, kept: list[tuple[str, int]], start: threading.Barrier) -> None:
    db = Database(url)
    start.wait()  # both processes begin together
    try:
        for i in range(PER_ISSUER):
            kind = "opinion" if i % 3 else "acceptance"
            try:
                async with db.transaction() as conn:
                    seq = await documents.next_seq(conn, kind, 2026)
                    await asyncio.sleep(0.002)  # the rest of the action, holding the number
                    if i % ROLLED_BACK_EVERY == who:
                        raise Abort
                    await documents.insert_document(
                        conn,
                        case_id=1,
                        kind=kind,
                        year=2026,
                        seq=seq,
                        number=f"杭信〔2026〕{seq}号",
                        data={},
                        created_at=datetime.now(UTC),
                        created_by=f"issuer-{who}",
                    )
                kept.append((kind, seq))
            except Abort:
                pass
    finally:
        await db.dispose()


async def test_numbers_have_no_gap_and_no_repeat_across_processes(
    db: Database, db_url: str
) -> None:
    await make_case(db, datetime.now(UTC))  # the documents' case (id 1)
    kept: list[tuple[str, int]] = []
    start = threading.Barrier(ISSUERS)
    errors: list[BaseException] = []

    def run(who: int) -> None:
        try:
            asyncio.run(_issue(db_url, who, kept, start))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(who,)) for who in range(ISSUERS)]
    for t in threads:
        t.start()
    await asyncio.to_thread(lambda: [t.join() for t in threads])
    assert not errors, errors
    rolled_back = sum(
        1 for who in range(ISSUERS) for i in range(PER_ISSUER) if i % ROLLED_BACK_EVERY == who
    )
    assert len(kept) == ISSUERS * PER_ISSUER - rolled_back
    for kind in ("acceptance", "opinion"):
        numbers = sorted(seq for k, seq in kept if k == kind)
        assert numbers == list(range(1, len(numbers) + 1)), (kind, numbers)
    async with db.read() as conn:
        rows: Any = (await conn.exec_driver_sql("SELECT kind, seq FROM case_documents")).all()
    assert sorted((r[0], r[1]) for r in rows) == sorted(kept)


async def test_each_kind_and_year_counts_on_its_own(db: Database) -> None:
    async with db.transaction() as conn:
        taken = [
            await documents.next_seq(conn, kind, year)
            for kind, year in (
                ("review", 2026),
                ("review", 2026),
                ("recheck", 2026),
                ("review", 2027),
                ("review", 2026),
            )
        ]
    assert taken == [1, 2, 1, 1, 3]
