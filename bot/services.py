"""The services a process runs on, built once by the composition root (``bot.app``) and
handed to the web layer and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.channels import registry, sms
from bot.channels.base import Channel
from bot.channels.mailbox import MailboxChannel
from bot.deliveries import Deliveries
from bot.dialogs.engine import EngineConfig
from bot.intake import Intake
from bot.notice_routing import NoticeRouting
from bot.outbox import OutboxWorker, RetryPolicy
from bot.settings import Settings
from bot.staff.accounts import StaffAccounts
from bot.staff.broadcasts import BroadcastService
from bot.staff.casework import Casework
from bot.staff.documents import StaffDocuments
from bot.staff.export import CaseExporter
from bot.storage.db import Database
from bot.storage.outbox import OutboxRow


@dataclass
class Services:
    """Everything a process needs, built from settings."""

    settings: Settings
    db: Database
    engine: EngineConfig
    intake: Intake
    mailboxes: dict[str, MailboxChannel]
    accounts: StaffAccounts
    casework: Casework
    broadcasts: BroadcastService
    exporter: CaseExporter
    deliveries: Deliveries
    documents: StaffDocuments
    channels: dict[str, Channel] = field(default_factory=dict)

    def worker(self) -> OutboxWorker:
        """An outbox worker over all enabled channels."""
        s = self.settings

        def delivered(row: OutboxRow) -> None:
            mailbox = self.mailboxes.get(row.address.channel)
            if mailbox is not None:
                mailbox.notify(row.address.address)

        return OutboxWorker(
            self.db,
            self.channels,
            batch=s.outbox_batch,
            lease=timedelta(seconds=s.outbox_lease_seconds),
            poll_seconds=s.outbox_poll_seconds,
            policy=RetryPolicy(max_attempts=s.outbox_max_attempts),
            on_sent=delivered,
            off=registry.off_reasons(s),
            router=NoticeRouting(sms_on=sms.NAME in self.channels),
        )
