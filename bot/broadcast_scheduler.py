"""Scheduled broadcasts: queued through the outbox when their time comes.

``xinfang serve`` runs :func:`run` next to the outbox worker and the draft reminders: every
``every`` it asks the broadcast service to release the scheduled broadcasts that are due
(approved ones only: a broadcast awaiting approval is never scheduled). Several processes
may run it; each broadcast is released once (see ``BroadcastService.release_due``).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from bot.logging import get_logger
from bot.staff.broadcasts import BroadcastService

RELEASE_EVERY = timedelta(seconds=15)

log = get_logger(__name__)


async def run(
    service: BroadcastService, stop: asyncio.Event, *, every: timedelta = RELEASE_EVERY
) -> None:
    """Release due broadcasts every ``every`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            await service.release_due()
        except Exception:  # a failed round is retried at the next one
            log.exception("broadcast.release_round_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every.total_seconds())
