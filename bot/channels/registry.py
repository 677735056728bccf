"""The channel registry: every channel package, listed once.

A channel is one package (or module) exposing a :class:`~bot.channels.spec.ChannelSpec`
as ``SPEC``, plus one line here. The composition root, `xinfang check-config`,
broadcasts, the outbox worker, the console filters and the API enum all read this list.
"""

from __future__ import annotations

from bot.channels import sms, telegram, terminal, web, wechat
from bot.channels.spec import ChannelSpec
from bot.settings import Settings

CHANNELS: tuple[ChannelSpec, ...] = (
    wechat.SPEC,
    telegram.SPEC,
    web.SPEC,
    terminal.SPEC,
    sms.SPEC,
)
BY_NAME: dict[str, ChannelSpec] = {spec.name: spec for spec in CHANNELS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def enabled(settings: Settings) -> list[ChannelSpec]:
    """The channels these settings turn on, in registry order."""
    return [spec for spec in CHANNELS if spec.enabled(settings)]


def enabled_names(settings: Settings) -> set[str]:
    """The names of the channels `xinfang serve` delivers on with these settings."""
    return {spec.name for spec in enabled(settings)}


def disabled_names(settings: Settings) -> set[str]:
    """Registered channels these settings leave off (their rows fail, never wait)."""
    return set(NAMES) - enabled_names(settings)


def off_reasons(settings: Settings) -> dict[str, str]:
    """Why each registered channel that is off cannot deliver, naming what turns it on."""
    return {
        name: f"{name} (set {', '.join(BY_NAME[name].settings)})"
        for name in sorted(disabled_names(settings))
    }
