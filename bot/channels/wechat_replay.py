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

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from bot.clock import utc_now
from bot.storage import kv
from bot.storage.db import Database
from bot.storage.tables import kv as kv_table

PREFIX = "wechat.nonce:"
PURGE_SECONDS = 60.0  # expired pairs are deleted at most this often per process


class NonceGuard:
    """Accepts each (timestamp, nonce) pair once within the skew window, across processes."""

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

    async def first_use(self, timestamp: str, nonce: str, body: bytes) -> bool:
        """Record the pair; False when it was seen before with another body."""
        key = PREFIX + hashlib.sha1(f"{timestamp}:{nonce}".encode()).hexdigest()
        digest = hashlib.sha256(body).hexdigest()
        now = self.clock()
        # kept until its timestamp has left the window on either side of it
        expires_at = datetime.fromtimestamp(int(timestamp), UTC) + self.max_skew
        async with self.db.transaction() as conn:
            if await kv.put(conn, key, digest, now, expires_at=expires_at, expect_version=0):
                fresh = True
            else:
                entry = await kv.get(conn, key)
                fresh = entry is not None and entry.value == digest
            if self._purged_at is None or now - self._purged_at > timedelta(seconds=PURGE_SECONDS):
                self._purged_at = now
                await conn.execute(
                    delete(kv_table).where(
                        kv_table.c.key.startswith(PREFIX), kv_table.c.expires_at < now
                    )
                )
        return fresh
