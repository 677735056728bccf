"""Where a case notice can go: queued for its channel, or recorded as undeliverable.

A petitioner registered without an electronic contact (:data:`~bot.domain.arrival.PAPER`)
is told on paper: their notices are written to the outbox as failed with that reason, so
the timeline says the notice is to be handed over or posted. A notice for a channel this
installation does not run (an SMS contact while no SMS provider is configured) is
recorded failed the same way, instead of waiting for a worker that will never take it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.arrival import PAPER
from bot.messages import Address, Reply
from bot.storage import outbox


class NoticeRoutes:
    """The lifecycle's outbox writer (its ``Enqueue``), aware of the configured channels.

    ``channels``: the names of the channels that deliver (a live mapping is fine: channels
    mounted later count); None when unknown (a CLI process): only paper is refused then.
    """

    def __init__(
        self, channels: Collection[str] | None = None, off: Mapping[str, str] | None = None
    ) -> None:
        self.channels = channels
        self.off = off or {}  # channel -> why it is off ("sms is not configured (set …)")

    def refusal(self, channel: str) -> str:
        """Why a notice on ``channel`` cannot be delivered ("" when it can)."""
        if channel == PAPER:
            return outbox.PAPER_ONLY
        if self.channels is not None and channel not in self.channels:
            return f"{outbox.NOT_CONFIGURED}: {self.off.get(channel, channel)}"
        return ""

    async def __call__(
        self,
        conn: AsyncConnection,
        *,
        contact_id: int,
        address: Address,
        reply: Reply,
        now: datetime,
        kind: str = "push",
        case_id: int | None = None,
        template: dict[str, Any] | None = None,
    ) -> int:
        """Write the notice: pending for a channel that delivers, else failed with why."""
        refused = self.refusal(address.channel)
        if refused:
            return await outbox.enqueue_undeliverable(
                conn,
                contact_id=contact_id,
                address=address,
                reply=reply,
                now=now,
                kind=kind,
                case_id=case_id,
                template=template,
                error=refused,
            )
        return await outbox.enqueue(
            conn,
            contact_id=contact_id,
            address=address,
            reply=reply,
            now=now,
            kind=kind,
            case_id=case_id,
            template=template,
        )
