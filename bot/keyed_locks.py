"""One asyncio lock per key (a conversation), kept only while someone holds or awaits it."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from types import TracebackType


class KeyedLocks:
    """``async with locks(key):`` serialises the holders of one key, in arrival order.

    An entry lives while it has users and the last one drops it, so the table never
    grows with the number of citizens. (A WeakValueDictionary of locks does the same
    with a weak reference and a callback per message, at twice the cost.)
    """

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}

    def __call__(self, key: Hashable) -> _Held:
        return _Held(self._entries, key)

    def __len__(self) -> int:
        return len(self._entries)


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class _Held:
    """The async context manager of one ``locks(key)``."""

    __slots__ = ("_entries", "_entry", "_key")

    def __init__(self, entries: dict[Hashable, _Entry], key: Hashable) -> None:
        self._entries = entries
        self._key = key

    async def __aenter__(self) -> None:
        entry = self._entries.get(self._key)
        if entry is None:
            entry = self._entries[self._key] = _Entry()
        entry.users += 1
        self._entry = entry
        try:
            await entry.lock.acquire()
        except BaseException:  # cancelled while waiting: no longer a user
            self._leave()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._entry.lock.release()
        self._leave()

    def _leave(self) -> None:
        self._entry.users -= 1
        if not self._entry.users:
            del self._entries[self._key]
