"""Helpers for the staff API tests: bearer tokens, cases in a department, JSON calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from bot.app import Services
from bot.domain.search import case_pii_doc, case_search_doc
from bot.storage import cases
from bot.storage.tables import audit_log, case_events, outbox
from bot.storage.tables import cases as case_table
from tests.cases.lifecycle_support import make_case

NOW = datetime.now(UTC)
ZJJ = "330102-zjj"  # the housing bureau: handler "zjj"
RSJ = "330106-rsj"  # the labour bureau: handler "rsj"


@dataclass
class Api:
    """A client that calls the API with one account's bearer token."""

    client: Any
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **kw: Any) -> Any:
        """GET with the token."""
        return await self.client.get(path, headers=self.headers, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        """POST a JSON body with the token."""
        return await self.client.post(path, json=body, headers=self.headers, **kw)

    async def act(self, number: str, action: str, body: Any = None) -> Any:
        """POST /api/v1/cases/{number}/actions/{action}."""
        return await self.post(f"/api/v1/cases/{number}/actions/{action}", body)


async def api_for(client: Any, services: Services, login: str) -> Api:
    """An API client authenticated as ``login``."""
    return Api(client, await services.accounts.issue_token(login, f"{login} tests"))


async def file_case(
    services: Services,
    department: str,
    *,
    request: str = "工资被拖欠三个月",
    status: str = "submitted",
    user: str = "",
    when: datetime | None = None,
    **values: Any,
) -> str:
    """A case of ``department`` with a petitioner's name and phone; its tracking number.

    ``answers`` adds to (or replaces) the petitioner's answers; the search documents are
    built from them as registration builds them.
    """
    answers = {
        "request": request,
        "name": "王小明",
        "phone": "13912345678",
        "address": "西湖区",
        **values.pop("answers", {}),
    }
    phone = str(answers["phone"])
    case_id = await make_case(
        services.db,
        when or NOW - timedelta(days=1),
        user=user or f"u-{department}-{request}",
        status=status,
        department=department,
        answers=answers,
        flags=values.pop("flags", ["first_petition"]),
        phone=phone,
        **values,
    )
    async with services.db.transaction() as conn:
        row = await cases.by_id(conn, case_id)
        assert row is not None
        await conn.execute(
            update(case_table)
            .where(case_table.c.id == case_id)
            .values(
                search_doc=case_search_doc(answers, row.tracking_no),
                search_pii=case_pii_doc(answers, phone),
            )
        )
    return row.tracking_no


async def db_state(services: Services, number: str) -> tuple[Any, int, int]:
    """A case row, its number of timeline events and of outbox rows (to prove no change)."""
    async with services.db.read() as conn:
        row = await cases.by_tracking_no(conn, number)
        assert row is not None
        events = await conn.scalar(
            select(func.count()).select_from(case_events).where(case_events.c.case_id == row.id)
        )
        pushes = await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.case_id == row.id)
        )
    return row, int(events or 0), int(pushes or 0)


async def audit_entries(services: Services) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(actor, action, detail) of every audit entry, oldest first (staff admin excluded)."""
    async with services.db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.detail).order_by(
                audit_log.c.id
            )
        )
        return [(r[0], r[1], r[2]) for r in rows if not r[1].startswith(("staff.", "token."))]
