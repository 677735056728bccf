"""What every channel module declares once: its name, labels, capabilities and hooks.

The registry (:mod:`bot.channels.registry`) lists one :class:`ChannelSpec` per channel;
the composition root, check-config, broadcasts, the console filters and the API read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.channels.base import Channel
from bot.messages import Capabilities

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.storage.db import Database


def _always(_settings: Settings) -> bool:
    return True


def _no_install(_app: web.Application, _services: Any) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One channel as the rest of the system sees it.

    ``enabled(settings)``: whether its credentials are set (the web chat is always on).
    ``build(settings, db)``: the outbound channel the outbox worker sends through.
    ``install(app, services)``: mounts its webhooks and background tasks (after build).
    ``add_cli(subparsers)``: its `xinfang <name> …` administration commands, if any.
    ``mailbox``: delivered to a local mailbox the web page or terminal reads.
    """

    name: str
    labels: tuple[str, str]  # (zh, en)
    capabilities: Capabilities
    build: Callable[[Settings, Database], Channel]
    enabled: Callable[[Settings], bool] = _always
    install: Callable[[web.Application, Any], None] = _no_install
    add_cli: Callable[[Any], None] | None = None
    mailbox: bool = False
    # settings that must all be set for ``enabled``, named for check-config's report
    settings: tuple[str, ...] = ()

    def label(self, lang: str) -> str:
        """The channel's name for people, in ``lang``."""
        return self.labels[1] if lang == "en" else self.labels[0]
