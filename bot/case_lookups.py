"""Status queries by tracking number, for intake: the owner's own case, or someone else's
with the last 4 digits of its phone, limited in the database.

Failed look-ups are counted per client (the web chat's network address, else the
platform account) and wrong digits per target case, across every session, channel and
process (``lookup_limits``). Past a limit the case's (or the client's) third-party
look-ups are locked for a while and the case gets an internal ``lookup_locked`` event.
The owner is always served.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.registration import StatusWords, view_for_owner, view_for_verified
from bot.dialogs.types import Effect, Resolution
from bot.logging import get_logger
from bot.messages import InboundMessage
from bot.storage import cases, lookup_limits
from bot.storage.cases import CaseRow
from bot.storage.contacts import Contact
from bot.storage.lookup_limits import Limit

log = get_logger(__name__)

# wrong phone digits allowed per target case, and failed look-ups of any kind per client
CASE_LOOKUP_LIMIT = Limit(failures=5, window=timedelta(hours=1), lock=timedelta(hours=1))
CLIENT_LOOKUP_LIMIT = Limit(failures=20, window=timedelta(hours=1), lock=timedelta(hours=1))


def client_of(msg: InboundMessage) -> str:
    """Who is asking, for per-client limits: the network address where the channel has
    one (web chat), else the platform account."""
    return msg.client or f"{msg.address.channel}:{msg.address.address}"


class CaseLookups:
    """Resolves the engine's ``lookup_case`` effect."""

    def __init__(
        self, case_limit: Limit = CASE_LOOKUP_LIMIT, client_limit: Limit = CLIENT_LOOKUP_LIMIT
    ) -> None:
        self.case_limit = case_limit
        self.client_limit = client_limit

    async def resolve(
        self,
        conn: AsyncConnection,
        contact: Contact,
        msg: InboundMessage,
        effect: Effect,
        now: datetime,
        progress: StatusWords | None,
    ) -> Resolution:
        """Found (the owner's), foreign (digits needed), unverifiable (someone else's case
        without a phone: never shown), verified, verify_failed, not_found or locked."""
        case = await cases.by_tracking_no(conn, effect.tracking_no)
        if case is not None and case.contact_id == contact.id:
            view = await view_for_owner(conn, case, progress)
            return Resolution(effect="lookup_case", outcome="found", case=view)
        client = lookup_limits.client_key(client_of(msg))
        keys = (
            [("client", client)]
            if case is None
            else [("client", client), ("case", case.tracking_no)]
        )
        until = await lookup_limits.locked_until(conn, keys, now)
        if until is not None:
            return Resolution(effect="lookup_case", outcome="locked", date=until.isoformat())
        if case is None:
            await self._failed(conn, None, client, now)
            return Resolution(effect="lookup_case", outcome="not_found")
        if len(case.phone) < 4:  # anonymous: no digits could ever prove the right to see it
            await self._failed(conn, None, client, now)
            return Resolution(effect="lookup_case", outcome="unverifiable")
        if not effect.verify_digits:
            return Resolution(effect="lookup_case", outcome="foreign")
        if len(case.phone) >= 4 and effect.verify_digits == case.phone[-4:]:
            view = await view_for_verified(conn, case, progress)
            return Resolution(effect="lookup_case", outcome="verified", case=view)
        log.info("lookup.verify_failed", channel=contact.address.channel)
        await self._failed(conn, case, client, now)
        return Resolution(effect="lookup_case", outcome="verify_failed")

    async def _failed(
        self, conn: AsyncConnection, case: CaseRow | None, client: str, now: datetime
    ) -> None:
        """Count a failed look-up; a case whose look-ups this locks gets an internal event."""
        await lookup_limits.record_failure(conn, "client", client, now, self.client_limit)
        if case is None:
            return
        until = await lookup_limits.record_failure(
            conn, "case", case.tracking_no, now, self.case_limit
        )
        if until is not None:
            log.warning("lookup.case_locked", tracking_no=case.tracking_no)
            await cases.add_event(
                conn,
                case.id,
                at=now,
                actor="system",
                kind="lookup_locked",
                public=False,
                data={"until": until.isoformat()},
            )
