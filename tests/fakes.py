"""Test doubles shared by the suites: a fake messaging platform implementing ``Channel``."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

from bot.channels.base import SendError
from bot.messages import Capabilities, OutboundMessage, SendResult


@dataclass
class _Failure:
    reason: str
    retryable: bool
    retry_after: float | None
    unreachable: bool
    times: int | None  # None = every time

    def error(self) -> SendError:
        return SendError(
            self.reason,
            retryable=self.retryable,
            retry_after=self.retry_after,
            unreachable=self.unreachable,
        )


class FakeChannel:
    """A platform that records what it was asked to deliver and fails on request.

    - ``fail_next(n, ...)``: the next ``n`` sends (any address) raise ``SendError``.
    - ``fail_address(address, ..., times=None)``: sends to one address raise (``times``
      of them, or all of them when ``times`` is None).
    - ``report_already_sent(key, ...)``: ``already_sent`` answers True for these keys.
    - ``remember_sends``: ``already_sent`` also answers True for keys it delivered, as a
      platform with idempotency keys would.
    - ``gate``: when set to an unset event, ``send`` waits on it (``entered`` is set first).
    """

    def __init__(
        self,
        name: str = "fake",
        capabilities: Capabilities | None = None,
        *,
        remember_sends: bool = False,
    ) -> None:
        self.name = name
        self.capabilities = capabilities or Capabilities(buttons=True)
        self.remember_sends = remember_sends
        self.sent: list[OutboundMessage] = []  # successful deliveries, in order
        self.calls: list[OutboundMessage] = []  # every send call, failed ones included
        self.already_sent_calls: list[str] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self._next_failures: list[_Failure] = []
        self._address_failures: dict[str, _Failure] = {}
        self._already_sent_keys: set[str] = set()

    # --- configuration -------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        unreachable: bool = False,
        reason: str = "fake failure",
    ) -> None:
        """Make the next ``n`` sends fail."""
        for _ in range(n):
            self._next_failures.append(
                _Failure(reason, retryable, retry_after, unreachable, times=1)
            )

    def fail_address(
        self,
        address: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        unreachable: bool = False,
        reason: str = "fake failure",
        times: int | None = None,
    ) -> None:
        """Make sends to one address fail (``times`` times, or always)."""
        self._address_failures[address] = _Failure(
            reason, retryable, retry_after, unreachable, times
        )

    def heal(self) -> None:
        """Stop failing."""
        self._next_failures.clear()
        self._address_failures.clear()

    def report_already_sent(self, *keys: str) -> None:
        """Answer ``already_sent`` with True for these idempotency keys."""
        self._already_sent_keys.update(keys)

    # --- inspection ----------------------------------------------------------------------

    def sent_ids(self, address: str | None = None) -> list[int]:
        """Outbox ids delivered (to one address, or to all), in delivery order."""
        return [m.outbox_id for m in self.sent if address is None or m.address.address == address]

    def send_counts(self) -> Counter[int]:
        """How many times each outbox id was delivered."""
        return Counter(m.outbox_id for m in self.sent)

    # --- the Channel protocol ------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls.append(message)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)  # let concurrent senders interleave
        failure = self._take_failure(message.address.address)
        if failure is not None:
            raise failure.error()
        self.sent.append(message)
        return SendResult(external_id=f"{self.name}-{len(self.sent)}")

    async def already_sent(self, message: OutboundMessage) -> bool:
        key = message.idempotency_key
        self.already_sent_calls.append(key)
        if key in self._already_sent_keys:
            return True
        return self.remember_sends and any(m.idempotency_key == key for m in self.sent)

    def _take_failure(self, address: str) -> _Failure | None:
        if self._next_failures:
            return self._next_failures.pop(0)
        failure = self._address_failures.get(address)
        if failure is None:
            return None
        if failure.times is not None:
            failure.times -= 1
            if failure.times <= 0:
                del self._address_failures[address]
        return failure
