"""订阅通知 consent per WeChat openid and template: granted, refused, used up.

A one-time consent (一次性订阅) allows one subscription notification and is used by the
send; a long-term consent (长期订阅, granted to public-service accounts such as 政务民生)
stays until the citizen turns it off. The counts change with single UPDATE statements, so
two workers never spend the same one-time consent.
https://developers.weixin.qq.com/doc/offiaccount/Subscription_Messages/intro.html
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.sql import insert_ignore
from bot.storage.tables import wechat_consents

MAX_ONE_TIME = 50  # one-time consents kept per template; more taps add nothing


@dataclass(frozen=True, slots=True)
class Consent:
    """What one citizen allows for one template."""

    template_id: str
    long_term: bool
    remaining: int

    @property
    def usable(self) -> bool:
        """Whether a notification may be sent now."""
        return self.long_term or self.remaining > 0


async def _ensure(conn: AsyncConnection, openid: str, template_id: str, now: datetime) -> None:
    await insert_ignore(
        conn,
        wechat_consents,
        {"openid": openid, "template_id": template_id, "updated_at": now},
        ["openid", "template_id"],
    )


def _row(openid: str, template_id: str) -> Any:
    return (wechat_consents.c.openid == openid) & (wechat_consents.c.template_id == template_id)


async def grant(
    conn: AsyncConnection,
    openid: str,
    template_id: str,
    *,
    long_term: bool,
    now: datetime,
    event: int | None = None,
) -> bool:
    """The citizen accepted: long-term consent, or one more one-time consent. ``event``
    (the event's CreateTime) counts a one-time consent once: WeChat retries an event it
    got no answer to. False: that event was counted already."""
    await _ensure(conn, openid, template_id, now)
    where = _row(openid, template_id)
    values: dict[str, object] = {"updated_at": now}
    if long_term:
        values["long_term"] = True
    else:
        values["remaining"] = _capped_increment()
        if event is not None:
            values["last_event"] = event
            last = wechat_consents.c.last_event
            where = where & (last.is_(None) | (last != event))
    result = await conn.execute(update(wechat_consents).where(where).values(**values))
    return bool(result.rowcount)


def _capped_increment() -> Any:
    remaining = wechat_consents.c.remaining
    return case((remaining >= MAX_ONE_TIME, remaining), else_=remaining + 1)


async def revoke(conn: AsyncConnection, openid: str, template_id: str, now: datetime) -> None:
    """The citizen refused or turned the template off: no consent of either kind is left."""
    await _ensure(conn, openid, template_id, now)
    await conn.execute(
        update(wechat_consents)
        .where(_row(openid, template_id))
        .values(long_term=False, remaining=0, updated_at=now)
    )


async def of_openid(
    conn: AsyncConnection, openid: str, template_ids: Sequence[str]
) -> dict[str, Consent]:
    """The citizen's consents for these templates (absent: never asked)."""
    if not template_ids:
        return {}
    rows = await conn.execute(
        select(wechat_consents).where(
            wechat_consents.c.openid == openid,
            wechat_consents.c.template_id.in_(list(template_ids)),
        )
    )
    return {r.template_id: Consent(r.template_id, r.long_term, r.remaining) for r in rows}


async def take(conn: AsyncConnection, openid: str, template_id: str, now: datetime) -> bool:
    """Claim the right to send one notification: long-term consent, or one one-time
    consent used up here. False: nothing left."""
    result = await conn.execute(
        update(wechat_consents)
        .where(_row(openid, template_id), wechat_consents.c.long_term.is_(True))
        .values(updated_at=now)
    )
    if result.rowcount:
        return True
    result = await conn.execute(
        update(wechat_consents)
        .where(_row(openid, template_id), wechat_consents.c.remaining > 0)
        .values(remaining=wechat_consents.c.remaining - 1, updated_at=now)
    )
    return bool(result.rowcount)


async def give_back(conn: AsyncConnection, openid: str, template_id: str, now: datetime) -> None:
    """Return a one-time consent whose notification WeChat did not accept (a retryable
    failure, or a parameter error: nothing reached the citizen)."""
    await conn.execute(
        update(wechat_consents)
        .where(_row(openid, template_id), wechat_consents.c.long_term.is_(False))
        .values(remaining=_capped_increment(), updated_at=now)
    )
