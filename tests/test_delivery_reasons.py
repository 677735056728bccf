"""Platform errors named as reasons staff read, with the platform's code kept beside them."""

from __future__ import annotations

import pytest

from bot.deliveries import STATES
from bot.delivery_reasons import REASONS, Reason, explain
from bot.domain.statuses import TRANSITIONS
from bot.storage.outbox import INTERRUPTED, UNCONFIRMED
from bot.web.i18n import LANGS, TEXTS


@pytest.mark.parametrize(
    ("channel", "error", "expected"),
    [
        ("wechat", "45015: response out of time limit", Reason("wechat_out_of_window", "45015")),
        (
            "wechat",
            "45015: outside the 48-hour window and no template configured",
            Reason("wechat_out_of_window", "45015"),
        ),
        ("wechat", "43004: require subscribe hint", Reason("wechat_unsubscribed", "43004")),
        (
            "wechat",
            "45015: outside the 48-hour window; no consent for subscription SUB-1; "
            "template 43004: require subscribe",
            Reason("wechat_unsubscribed", "43004"),  # the last step decided
        ),
        (
            "wechat",
            "45015: outside the 48-hour window; no consent for subscription SUB-1; "
            "no template configured",
            Reason("wechat_out_of_window", "45015"),
        ),
        ("wechat", "40003: invalid openid", Reason("wechat_bad_openid", "40003")),
        ("wechat", "45047: out of response count limit", Reason("wechat_too_many", "45047")),
        ("wechat", "45009: reach max api daily quota", Reason("wechat_busy", "45009")),
        ("wechat", "-1: system error", Reason("wechat_busy", "-1")),
        ("wechat", "42001: access_token expired", Reason("wechat_token", "42001")),
        ("wechat", "48001: api unauthorized", Reason("other", "48001")),
        ("wechat", "HTTP 502 from /cgi-bin/message/custom/send", Reason("network")),
        ("wechat", "/cgi-bin/message/custom/send: ClientConnectorError: x", Reason("network")),
        (
            "telegram",
            "telegram 403: Forbidden: bot was blocked by the user",
            Reason("telegram_blocked", "403"),
        ),
        (
            "telegram",
            "telegram 400: Bad Request: chat not found",
            Reason("telegram_chat_not_found", "400"),
        ),
        (
            "telegram",
            "telegram 400: Bad Request: message is too long",
            Reason("telegram_bad_request", "400"),
        ),
        ("telegram", "telegram 429: retry after 30s", Reason("rate_limited", "429")),
        ("telegram", "telegram network: timed out", Reason("network")),
        ("telegram", UNCONFIRMED, Reason("unconfirmed")),
        ("web", INTERRUPTED, Reason("interrupted")),
        ("web", "RuntimeError('boom')", Reason("other")),
        ("web", "", Reason("")),
        ("web", "45015: not WeChat, so not a WeChat code", Reason("other")),
    ],
)
def test_failed_rows_are_explained(channel: str, error: str, expected: Reason) -> None:
    assert explain(channel=channel, status="failed", problem="failed", error=error) == expected


def test_stuck_rows_and_unreachable_citizens() -> None:
    stuck = explain(channel="wechat", status="sending", problem="stuck", error="45009: quota")
    assert stuck == Reason("lease_expired", "45009")
    overdue = explain(channel="web", status="pending", problem="stuck", error="")
    assert overdue == Reason("retry_overdue")
    gone = explain(channel="web", status="failed", problem="failed", error="", reachable=False)
    assert gone == Reason("unreachable")
    blocked = explain(
        channel="telegram",
        status="failed",
        problem="failed",
        error="telegram 403: Forbidden",
        reachable=False,
    )
    assert blocked.code == "telegram_blocked"  # the platform's own reason comes first
    for settled in ("sent", "cancelled", "scheduled"):
        old = explain(channel="telegram", status=settled, problem="", error="telegram 403: x")
        assert old == Reason("")


def test_every_reason_state_and_notice_has_staff_texts_in_both_languages() -> None:
    notices = {r.push.removeprefix("push.") for r in TRANSITIONS.values() if r.push}
    notices |= {"staff_reply", "followup", "broadcast", "reply", "reminder", "push"}
    keys = (
        [f"reason.{r}" for r in REASONS]
        + [f"delivery.state.{s}" for s in STATES]
        + [f"notice.{n}" for n in notices]
    )
    for lang in LANGS:
        missing = [k for k in keys if k not in TEXTS[lang]]
        assert not missing, f"{lang}: {missing}"
