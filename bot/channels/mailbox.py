"""Mailbox channels (web chat, terminal): delivering a message means making its outbox row
readable by the citizen's open page or terminal, which polls and is woken on delivery."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from bot.messages import Capabilities, OutboundMessage, SendResult


class MailboxChannel:
    """A channel whose recipients read their delivered outbox rows themselves."""

    def __init__(self, name: str, capabilities: Capabilities) -> None:
        self.name = name
        self.capabilities = capabilities
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    async def send(self, message: OutboundMessage) -> SendResult:
        """Nothing leaves the process: the row itself is the delivered message."""
        return SendResult(external_id=f"mailbox-{message.outbox_id}")

    async def already_sent(self, message: OutboundMessage) -> bool:
        """A repeated mailbox delivery is harmless, so never skip it."""
        return False

    def notify(self, address: str) -> None:
        """Wake readers of this address (called after a delivery is committed)."""
        for event in self._waiters.get(address, ()):
            event.set()

    def subscribe(self, address: str) -> asyncio.Event:
        """An event set whenever something is delivered to ``address``."""
        event = asyncio.Event()
        self._waiters[address].add(event)
        return event

    def unsubscribe(self, address: str, event: asyncio.Event) -> None:
        """Stop waking ``event``."""
        waiters = self._waiters.get(address)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[address]
