"""Why a message was not delivered, as a stable reason code staff texts are keyed by.

The outbox keeps the platform's own words (``last_error``: "45015: …", "telegram 403: …");
:func:`explain` names the known ones, so the console and the API can say what happened in
staff language while the raw text, with the platform's error code, stays visible beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.channels.sms import DAILY_LIMITS, OFFICE_ERRORS, RATE_LIMITS, UNREACHABLE
from bot.channels.wechat_api import BUSY_ERRORS, OUT_OF_WINDOW, QUOTA_EXCEEDED, TOKEN_ERRORS
from bot.outbox import CHANNEL_OFF
from bot.storage.outbox import INTERRUPTED, PAPER_ONLY, UNCONFIRMED

# WeChat global return codes the outbox meets when sending (customer-service and template
# messages): https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
WECHAT_REASONS: dict[int, str] = {
    OUT_OF_WINDOW: "wechat_out_of_window",  # 45015: no message from the citizen in 48 hours
    43004: "wechat_unsubscribed",  # the citizen unfollowed the Official Account
    40003: "wechat_bad_openid",  # not a user of this Official Account
    QUOTA_EXCEEDED: "wechat_too_many",  # 5 customer-service messages in 48 h already sent
    **{code: "wechat_busy" for code in BUSY_ERRORS},  # quota reached / system busy
    **{code: "wechat_token" for code in TOKEN_ERRORS},  # access_token rejected: check AppSecret
}
TELEGRAM_REASONS: dict[str, str] = {
    "403": "telegram_blocked",  # blocked the bot, deactivated
    "429": "rate_limited",
    "400": "telegram_bad_request",
}
# Tencent Cloud SMS error codes (bot/channels/sms.py maps them to retries); the rest of a
# known family by prefix, the others "other"
SMS_REASONS: dict[str, str] = {
    **{code: "sms_number_limit" for code in (*RATE_LIMITS, *DAILY_LIMITS)},
    "RequestLimitExceeded": "sms_busy",
    "LimitExceeded.DeliveryFrequencyLimit": "sms_busy",
    **{code: "sms_credentials" for code in OFFICE_ERRORS},
    "FailedOperation.InsufficientBalanceInSmsPackage": "sms_balance",
    **{code: "sms_bad_number" for code in UNREACHABLE},
    "FailedOperation.PhoneNumberInBlacklist": "sms_blacklisted",
}
SMS_FAMILIES = (
    ("FailedOperation.Template", "sms_template"),
    ("FailedOperation.Signature", "sms_template"),
    ("FailedOperation.Missing", "sms_template"),
    ("InvalidParameterValue.Template", "sms_template"),
    ("InvalidParameterValue.ProhibitedUseUrl", "sms_template"),
    ("InvalidParameterValue.ContentLength", "sms_template"),
    ("AuthFailure.", "sms_credentials"),
    ("InternalError.", "sms_busy"),
)
REASONS = (
    *sorted(set(WECHAT_REASONS.values())),
    *sorted({*SMS_REASONS.values(), *(r for _, r in SMS_FAMILIES), "sms_undelivered"}),
    "channel_off",
    "telegram_blocked",
    "telegram_chat_not_found",
    "telegram_bad_request",
    "rate_limited",
    "network",
    "unconfirmed",
    "interrupted",
    "lease_expired",
    "retry_overdue",
    "unreachable",
    "paper_only",  # no electronic contact: the petitioner is told on paper (书面告知)
    "other",
)
_WECHAT = re.compile(r"(-?\d+):")
# a notice that went down the WeChat chain: "45015: …; no consent …; template 43004: …"
# (bot/channels/wechat_notices.py), the last step's code is the one that decided
_WECHAT_STEP = re.compile(r"(?:^|; )(?:template |subscription \S+ )?(-?\d+):")
_TELEGRAM = re.compile(r"telegram (\d{3}):")
_NETWORK = re.compile(r"telegram network:|sms network:|HTTP \d{3} from |/cgi-bin/\S*: \w+")
_SMS = re.compile(r"sms ([A-Za-z][A-Za-z.]*):")
_SMS_RECEIPT = re.compile(r"sms receipt \[([^\]]*)\]")


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason code (one of :data:`REASONS`, "" for none) and the platform's error code."""

    code: str
    platform_code: str = ""  # "45015", "403", … as the platform gave it; "" when none


def explain(
    *, channel: str, status: str, problem: str, error: str, reachable: bool = True
) -> Reason:
    """Why a row is failed, stuck or waiting for a retry (code "" for any other row)."""
    if status not in ("failed", "pending", "sending"):
        return Reason("")  # sent, cancelled, scheduled: an earlier error is history
    found = _from_error(channel, error)
    if problem == "stuck":
        code = "lease_expired" if status == "sending" else "retry_overdue"
        return Reason(code, found.platform_code)
    if found.code in ("", "other") and not reachable and status == "failed":
        return Reason("unreachable", found.platform_code)
    return found


def _from_error(channel: str, error: str) -> Reason:
    error = error.strip()
    if not error:
        return Reason("")
    if error.startswith(UNCONFIRMED):
        return Reason("unconfirmed")
    if error.startswith(INTERRUPTED):
        return Reason("interrupted")
    if error.startswith(PAPER_ONLY):
        return Reason("paper_only")
    if error.startswith(CHANNEL_OFF):
        return Reason("channel_off")
    receipt = _SMS_RECEIPT.match(error)
    if receipt:
        return Reason("sms_undelivered", receipt.group(1))
    if error.startswith("sms template:"):
        return Reason("sms_template")
    sms = _SMS.match(error) if channel == "sms" and not _NETWORK.match(error) else None
    if sms:
        code = sms.group(1)
        found = SMS_REASONS.get(code) or next(
            (reason for prefix, reason in SMS_FAMILIES if code.startswith(prefix)), "other"
        )
        return Reason(found, code)
    steps = _WECHAT_STEP.findall(error) if channel == "wechat" and _WECHAT.match(error) else []
    if steps:
        errcode = int(steps[-1])
        return Reason(WECHAT_REASONS.get(errcode, "other"), str(errcode))
    telegram = _TELEGRAM.match(error)
    if telegram:
        status = telegram.group(1)
        if status == "400" and "chat not found" in error.lower():
            return Reason("telegram_chat_not_found", status)
        return Reason(TELEGRAM_REASONS.get(status, "other"), status)
    if _NETWORK.match(error):
        return Reason("network")
    return Reason("other")
