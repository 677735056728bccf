"""KeyedLocks: one holder per key at a time, in arrival order; entries do not pile up."""

from __future__ import annotations

import asyncio

import pytest

from bot.keyed_locks import KeyedLocks


async def test_one_holder_per_key_in_arrival_order() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def hold(key: str, name: str) -> None:
        async with locks(key):
            order.append(f"{name}+")
            await asyncio.sleep(0.01)
            order.append(f"{name}-")

    await asyncio.gather(hold("a", "a1"), hold("a", "a2"), hold("b", "b1"))
    assert order.index("a1-") < order.index("a2+")  # same key: one after the other
    assert order.index("b1+") < order.index("a1-")  # other key: alongside
    assert len(locks) == 0  # the last user dropped every entry


async def test_a_waiter_cancelled_leaves_no_entry_behind() -> None:
    locks = KeyedLocks()
    entered = asyncio.Event()

    async def holder() -> None:
        async with locks("k"):
            entered.set()
            await asyncio.sleep(0.05)

    first = asyncio.create_task(holder())
    await entered.wait()
    waiter = asyncio.create_task(locks("k").__aenter__())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await first
    assert len(locks) == 0


async def test_an_error_inside_releases_the_key() -> None:
    locks = KeyedLocks()
    with pytest.raises(ValueError):
        async with locks("k"):
            raise ValueError("boom")
    async with locks("k"):
        pass
    assert len(locks) == 0
