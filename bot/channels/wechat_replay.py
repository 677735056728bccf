"""One use per signed WeChat query: (timestamp, nonce) pairs remembered in the kv table.

WeChat's ``signature`` covers only token, timestamp and nonce, not the body, so a signed
URL seen once (a proxy log, a shared trace) would otherwise carry any body for as long as
its timestamp is inside the skew window. Every pair is recorded with a digest of its body,
in the database so that all processes share it, until the window has passed:

- the same pair with a different body is a replay and refused;
- the same pair with the same body is WeChat's own retry of an unanswered request (the
  5-second rule; it re-sends the same message) and passes: intake's MsgId de-duplication
  answers it from the stored replies.
https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from bot.clock import utc_now
from bot.storage.db import Database
from bot.storage.sql import insert_ignore_many
from bot.storage.tables import kv

PREFIX = "wechat.nonce:"
PURGE_SECONDS = 60.0  # expired pairs are deleted at most this often per process


class NonceGuard:
    """Accepts each (timestamp, nonce) pair once within the skew window, across processes.

    Group commit: requests that arrive while a transaction is in flight are recorded
    together in the next one, so the check costs the webhook no commit of its own per
    message under load.
    """

    def __init__(
        self,
        db: Database,
        max_skew_seconds: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.max_skew = timedelta(seconds=max_skew_seconds)
        self.clock = clock
        self._purged_at: datetime | None = None
        self._pending: list[tuple[str, str, datetime, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def first_use(self, timestamp: str, nonce: str, body: bytes) -> bool:
        """Record the pair; False when it was seen before with another body."""
        key = PREFIX + hashlib.sha1(f"{timestamp}:{nonce}".encode()).hexdigest()
        digest = hashlib.sha256(body).hexdigest()
        # kept until its timestamp has left the window on either side of it
        expires_at = datetime.fromtimestamp(int(timestamp), UTC) + self.max_skew
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((key, digest, expires_at, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="wechat-nonces")
        return await done

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    fresh = await self._record([(k, d, e) for k, d, e, _ in batch])
                except Exception as exc:
                    for *_, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (*_, done), ok in zip(batch, fresh, strict=True):
                    if not done.done():
                        done.set_result(ok)
        finally:
            self._flusher = None  # no await since the empty check: nothing is stranded

    async def _record(self, batch: list[tuple[str, str, datetime]]) -> list[bool]:
        now = self.clock()
        first: dict[str, str] = {}  # key -> the digest of its first use in this batch
        rows = []
        for key, digest, expires_at in batch:
            if key not in first:
                first[key] = digest
                rows.append(
                    {
                        "key": key,
                        "value": digest,
                        "version": 1,
                        "expires_at": expires_at,
                        "updated_at": now,
                    }
                )
        rows.sort(key=lambda row: str(row["key"]))  # one lock order for every process
        async with self.db.transaction() as conn:
            created = await insert_ignore_many(conn, kv, rows, ["key"], ["key"])
            known = {row.key: first[row.key] for row in created}
            seen = [key for key in first if key not in known]
            if seen:
                stmt = select(kv.c.key, kv.c.value).where(kv.c.key.in_(seen))
                known.update({row.key: row.value for row in await conn.execute(stmt)})
            if self._purged_at is None or now - self._purged_at > timedelta(seconds=PURGE_SECONDS):
                self._purged_at = now
                await conn.execute(
                    delete(kv).where(kv.c.key.startswith(PREFIX), kv.c.expires_at < now)
                )
        return [known.get(key) == digest for key, digest, _ in batch]
