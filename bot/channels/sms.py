"""SMS: notices to people without a chat, through Tencent Cloud SMS (outbound only).

Who gets SMS (README "SMS"): petitioners registered by staff with a mobile (their contact
is channel ``sms``, address E.164 "+86138…"); web-chat citizens who gave a mobile (every
case notice also goes by SMS: the chat page cannot be reached once it is closed); and the
last fallback of a WeChat case notice that failed for good (bot/notice_routing.py).

Every message is an approved template (bot/channels/sms_templates.py) filled from the
notice's data; nothing staff or citizens typed goes out but a broadcast's text. Limits:
Tencent allows one message per number per 30 seconds and a daily count per number
(LimitExceeded.PhoneNumberThirtySecondLimit / …DailyLimit): the outbox spaces one
number's messages 30 s apart, and a limit hit waits as long as the limit says.
https://cloud.tencent.com/document/product/382/3773 (频率限制)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from aiohttp import web

from bot.channels.base import SendError
from bot.channels.sms_api import SmsApiError, SmsTransportError, TencentSms
from bot.channels.sms_templates import (
    BROADCAST,
    VERIFICATION,
    FillError,
    SmsConfig,
    fill,
    load_config,
)
from bot.channels.spec import ChannelSpec
from bot.clock import utc_now
from bot.logging import get_logger
from bot.messages import Capabilities, OutboundMessage, SendResult
from bot.settings import Settings
from bot.storage.db import Database

log = get_logger(__name__)

NAME = "sms"
THIRTY_SECONDS = 30.0
CAPABILITIES = Capabilities(
    buttons=False,
    max_text_len=300,
    push=True,
    rate_per_second=20.0,
    rate_per_chat_per_second=1 / THIRTY_SECONDS,  # one message per number per 30 s
)
VERIFICATION_KEY = "sms.verification"  # the template key of a /my verification code

# Tencent's error codes (SendSms 错误码, and the per-number Code of SendStatusSet):
# waiting helps with these, for as long as the limit's period
RATE_LIMITS: dict[str, float] = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": THIRTY_SECONDS,
    "LimitExceeded.PhoneNumberOneHourLimit": 3600.0,
    "LimitExceeded.DeliveryFrequencyLimit": 60.0,
    "RequestLimitExceeded": 1.0,  # API 3.0: too many requests per second
}
DAILY_LIMITS = frozenset(
    {
        "LimitExceeded.PhoneNumberDailyLimit",
        "LimitExceeded.PhoneNumberSameContentDailyLimit",
        "LimitExceeded.AppDailyLimit",
        "LimitExceeded.AppCountryOrRegionDailyLimit",
        "LimitExceeded.AppGlobalDailyLimit",
        "LimitExceeded.DailyLimit",
    }
)
# the office's side (balance, credentials): retried while someone fixes it
OFFICE_ERRORS: dict[str, float] = {
    "FailedOperation.InsufficientBalanceInSmsPackage": 1800.0,
    "AuthFailure.SignatureExpire": 60.0,  # our clock: retried at once with a new timestamp
    "AuthFailure.SignatureFailure": 600.0,
    "AuthFailure.SecretIdNotFound": 600.0,
    "AuthFailure.UnauthorizedOperation": 600.0,
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": 600.0,
}
# the number cannot get SMS: the contact is unreachable on this channel
UNREACHABLE = frozenset(
    {
        "InvalidParameterValue.IncorrectPhoneNumber",
        "FailedOperation.PhoneNumberParseFail",
        "FailedOperation.PhoneNumberInBlacklist",  # unsubscribed at the carrier or Tencent
        "UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone",
    }
)
BUSY_PREFIXES = ("InternalError.",)


def e164(phone: str) -> str:
    """A mainland mobile number in E.164 ("+8613812345678"), "" when it is not one."""
    if not phone:
        return ""
    try:
        number = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException:
        return ""
    kind = phonenumbers.number_type(number)
    mobile = kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    if number.country_code != 86 or not mobile or not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def masked(phone: str) -> str:
    """A number as logs may show it: +86138****5678."""
    return phone[:6] + "****" + phone[-4:] if len(phone) > 10 else "****"


def seconds_to_midnight(now: datetime, tz: ZoneInfo) -> float:
    """Seconds until a little after the office's next midnight, when daily limits reset."""
    local = now.astimezone(tz)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)
    return (midnight - local).total_seconds()


def send_error(err: SmsApiError, now: datetime, tz: ZoneInfo) -> SendError:
    """Map a Tencent error code to the outbox's retryable / permanent / unreachable."""
    reason = f"sms {err.code}: {err.message}"
    if err.code in RATE_LIMITS:
        return SendError(reason, retryable=True, retry_after=RATE_LIMITS[err.code])
    if err.code in DAILY_LIMITS:
        return SendError(reason, retryable=True, retry_after=seconds_to_midnight(now, tz))
    if err.code in OFFICE_ERRORS:
        return SendError(reason, retryable=True, retry_after=OFFICE_ERRORS[err.code])
    if err.code.startswith(BUSY_PREFIXES):
        return SendError(reason, retryable=True)
    if err.code in UNREACHABLE:
        return SendError(reason, retryable=False, unreachable=True)
    # templates, signature, parameters, sensitive words: the same message fails again
    return SendError(reason, retryable=False)


class SmsChannel:
    """SMS as the outbox sees it: one approved template per message."""

    name = NAME

    def __init__(
        self,
        api: TencentSms,
        config: SmsConfig,
        *,
        public_url: str,
        timezone: str = "Asia/Shanghai",
        capabilities: Capabilities = CAPABILITIES,
    ) -> None:
        self.api = api
        self.config = config
        self.public_url = public_url
        self.tz = ZoneInfo(timezone)
        self.capabilities = capabilities

    def params(self, message: OutboundMessage) -> tuple[str, list[str]]:
        """(template id, TemplateParamSet) of a message; raises :class:`FillError`."""
        data = message.template
        if message.kind == "broadcast":
            kind = BROADCAST
        elif data.get("key") == VERIFICATION_KEY:
            kind = VERIFICATION
        elif data.get("tracking_no"):
            kind = str(data.get("key") or "")
        else:
            raise FillError("SMS carries only case notices, broadcasts and codes")
        template = self.config.template(kind)
        values = fill(
            template,
            data,
            message.reply.text,
            public_url=self.public_url,
            tz=self.tz,
            max_text_chars=self.config.max_text_chars,
        )
        return template.id, values

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one templated SMS; the SerialNo is the external id receipts name."""
        phone = message.address.address
        try:
            template_id, values = self.params(message)
        except FillError as exc:
            raise SendError(f"sms template: {exc}", retryable=False) from exc
        try:
            status = await self.api.send(
                phone,
                sign_name=self.config.sign_name,
                template_id=template_id,
                params=values,
                context=message.idempotency_key,
            )
        except SmsApiError as err:
            log.info("sms.refused", phone=masked(phone), code=err.code)
            raise send_error(err, utc_now(), self.tz) from err
        except SmsTransportError as err:
            raise SendError(f"sms network: {err}", retryable=True) from err
        return SendResult(external_id=status.serial_no)

    async def already_sent(self, message: OutboundMessage) -> bool:
        """SendSms has no idempotency key: a retry may send twice (SessionContext names
        the outbox row in Tencent's records)."""
        return False


# -- registry hooks --------------------------------------------------------------------


def build(settings: Settings, _db: Database | None = None) -> SmsChannel:
    """The outbound channel, from settings and config/sms.yaml."""
    api = TencentSms(
        secret_id=settings.sms_secret_id,
        secret_key=settings.sms_secret_key,
        sdk_app_id=settings.sms_sdk_app_id,
        endpoint=settings.sms_endpoint,
        region=settings.sms_region,
    )
    caps = Capabilities(
        buttons=False,
        max_text_len=CAPABILITIES.max_text_len,
        push=True,
        rate_per_second=settings.sms_rate_per_second,
        rate_per_chat_per_second=CAPABILITIES.rate_per_chat_per_second,
    )
    return SmsChannel(
        api,
        load_config(settings.config_dir),
        public_url=settings.public_url,
        timezone=settings.timezone,
        capabilities=caps,
    )


def install(app: web.Application, services: Any) -> None:
    """Mount the delivery-receipt and reply callbacks; close the client with the app."""
    from bot.channels.sms_callbacks import SmsCallbacks

    s: Settings = services.settings
    channel = services.channels.get(NAME)
    if s.sms_callback_token:
        SmsCallbacks(services.db, s.sms_callback_token).add_routes(app)
    else:
        log.warning("sms.no_callbacks", hint="set XINFANG_SMS_CALLBACK_TOKEN for receipts and TD")
    if isinstance(channel, SmsChannel):

        async def close(_app: web.Application) -> None:
            await channel.api.close()

        app.on_cleanup.append(close)


SPEC = ChannelSpec(
    name=NAME,
    labels=("短信", "SMS"),
    capabilities=CAPABILITIES,
    build=build,
    enabled=lambda s: s.sms_enabled,
    install=install,
    settings=("XINFANG_SMS_SECRET_ID", "XINFANG_SMS_SECRET_KEY", "XINFANG_SMS_SDK_APP_ID"),
)
