# ruff: noqa: E501  (the error table reads best one code a line)
"""SmsChannel.send against the fake Tencent Cloud SMS API: templates, signing, error codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.channels.base import SendError
from bot.channels.sms import VERIFICATION_KEY, SmsChannel, build, e164, seconds_to_midnight
from bot.channels.sms_api import SmsApiError, TencentSms
from bot.delivery_reasons import explain
from bot.messages import Address, OutboundMessage, Reply
from tests.channels.sms.conftest import MOBILE, PUBLIC_URL
from tests.fakes_sms import FakeSms

TZ = ZoneInfo("Asia/Shanghai")
NUMBER = "XF2611230482733"
LINK = f"{PUBLIC_URL}/my/cases/{NUMBER}?k=12.1790000000.{'A' * 32}"


def notice(key: str = "push.accepted", phone: str = MOBILE, **extra: Any) -> OutboundMessage:
    template = {
        "key": key,
        "tracking_no": NUMBER,
        "event_id": 7,
        "at": "2026-11-23T01:30:00+00:00",
        "url": LINK,
        "due": "2027-01-22T15:59:59+00:00",
        **extra,
    }
    return OutboundMessage(
        Address("sms", phone),
        Reply("您的信访事项已受理。"),
        kind="push",
        outbox_id=41,
        idempotency_key="xf-outbox-41",
        template=template,
    )


@pytest.fixture
async def channel(make_settings: Any) -> Any:
    ch = build(make_settings())
    yield ch
    await ch.api.close()


async def test_a_notice_is_its_approved_template_filled_in_order(
    channel: SmsChannel, fake: FakeSms
) -> None:
    result = await channel.send(notice())
    [sent] = fake.sent
    assert sent.phone == MOBILE
    assert sent.template_id == "2000001"
    # tracking number, the answer's due date (local), the link's end (never the whole URL)
    assert sent.params == [NUMBER, "2027-01-22", LINK.removeprefix(f"{PUBLIC_URL}/my/cases/")]
    assert LINK in sent.text  # what the phone shows: the approved constant + the variable
    assert sent.context == "xf-outbox-41"
    assert result.external_id == sent.serial_no and sent.serial_no


@pytest.mark.parametrize(
    ("key", "template_id", "params"),
    [
        ("push.rejected", "2000002", [NUMBER, "link"]),
        ("push.transferred", "2000003", [NUMBER, "2026-11-23", "link"]),
        ("push.extended", "2000004", [NUMBER, "2027-01-22", "link"]),
        ("push.answered", "2000005", [NUMBER, "2027-01-22", "link"]),
        ("push.reviewed", "2000006", [NUMBER, "2027-01-22", "link"]),
        ("push.rechecked", "2000007", [NUMBER, "link"]),
        ("push.staff_reply", "2000008", [NUMBER, "link"]),
        ("push.closed", "2000011", [NUMBER, "有新进展", "2026-11-23", "link"]),  # default
        ("followup.ask", "2000011", [NUMBER, "有新进展", "2026-11-23", "link"]),
    ],
)
async def test_every_notice_kind_has_its_template(
    channel: SmsChannel, fake: FakeSms, key: str, template_id: str, params: list[str]
) -> None:
    await channel.send(notice(key))
    tail = LINK.removeprefix(f"{PUBLIC_URL}/my/cases/")
    assert fake.sent[0].template_id == template_id
    assert fake.sent[0].params == [tail if p == "link" else p for p in params]


async def test_broadcast_and_verification_code(channel: SmsChannel, fake: FakeSms) -> None:
    broadcast = OutboundMessage(
        Address("sms", MOBILE), Reply("国庆期间  来访接待时间\n调整为9:00-12:00"), kind="broadcast"
    )
    await channel.send(broadcast)
    fake.clock_offset += 31
    code = OutboundMessage(
        Address("sms", MOBILE),
        Reply(""),
        kind="reply",
        template={"key": VERIFICATION_KEY, "code": "048213"},
    )
    await channel.send(code)
    assert [(s.template_id, s.params) for s in fake.sent] == [
        ("2000009", ["国庆期间 来访接待时间 调整为9:00-12:00"]),
        ("2000010", ["048213"]),
    ]


async def test_a_message_that_is_no_notice_fails_without_a_request(
    channel: SmsChannel, fake: FakeSms
) -> None:
    reply = OutboundMessage(Address("sms", MOBILE), Reply("请问您要反映什么问题？"), kind="reply")
    with pytest.raises(SendError) as caught:
        await channel.send(reply)
    assert not caught.value.retryable and fake.requests == 0
    with pytest.raises(SendError, match="link"):  # case links off: the template cannot fill
        await channel.send(notice(url=""))
    assert fake.requests == 0


# (scope, Tencent code) -> retryable, retry_after, unreachable, reason staff read
ERRORS = [
    ("number", "LimitExceeded.PhoneNumberThirtySecondLimit", True, 30.0, False, "sms_number_limit"),
    ("number", "LimitExceeded.PhoneNumberOneHourLimit", True, 3600.0, False, "sms_number_limit"),
    ("number", "LimitExceeded.PhoneNumberDailyLimit", True, "midnight", False, "sms_number_limit"),
    ("request", "RequestLimitExceeded", True, 1.0, False, "sms_busy"),
    ("request", "InternalError.Timeout", True, None, False, "sms_busy"),
    ("request", "FailedOperation.InsufficientBalanceInSmsPackage", True, 1800.0, False, "sms_balance"),
    ("request", "AuthFailure.SecretIdNotFound", True, 600.0, False, "sms_credentials"),
    ("request", "FailedOperation.TemplateIncorrectOrUnapproved", False, None, False, "sms_template"),
    ("request", "FailedOperation.SignatureIncorrectOrUnapproved", False, None, False, "sms_template"),
    ("request", "FailedOperation.TemplateParamSetNotMatchApprovedTemplate", False, None, False, "sms_template"),
    ("request", "InvalidParameterValue.TemplateParameterLengthLimit", False, None, False, "sms_template"),
    ("request", "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter", False, None, False, "sms_template"),
    ("number", "InvalidParameterValue.IncorrectPhoneNumber", False, None, True, "sms_bad_number"),
    ("number", "FailedOperation.PhoneNumberInBlacklist", False, None, True, "sms_blacklisted"),
    ("request", "FailedOperation.ContainSensitiveWord", False, None, False, "other"),
]  # fmt: skip


@pytest.mark.parametrize(("scope", "code", "retryable", "after", "unreachable", "reason"), ERRORS)
async def test_each_provider_error_is_a_retry_a_failure_or_an_unreachable_number(
    channel: SmsChannel,
    fake: FakeSms,
    scope: str,
    code: str,
    retryable: bool,
    after: Any,
    unreachable: bool,
    reason: str,
) -> None:
    fake.fail_next(code, scope=scope)
    with pytest.raises(SendError) as caught:
        await channel.send(notice())
    err = caught.value
    assert (err.retryable, err.unreachable) == (retryable, unreachable)
    if after == "midnight":
        assert err.retry_after is not None and 0 < err.retry_after <= 86400 + 300
    else:
        assert err.retry_after == after
    status = "pending" if retryable else "failed"
    found = explain(channel="sms", status=status, problem="failed", error=err.reason)
    assert found.code == reason and found.platform_code == code
    assert not fake.sent


async def test_the_fake_refuses_what_tencent_refuses(fake: FakeSms) -> None:
    """Limits enforced by the fake itself (not injected): 30 s, daily, wrong key, bad number."""
    api = TencentSms(
        secret_id=fake.secret_id,
        secret_key=fake.secret_key,
        sdk_app_id=fake.sdk_app_id,
        endpoint=fake.url,
    )
    fake.daily_limit = 2
    kwargs: dict[str, Any] = {"sign_name": fake.sign_name, "template_id": "2000010"}
    try:
        await api.send(MOBILE, params=["123456"], **kwargs)
        with pytest.raises(SmsApiError, match="ThirtySecondLimit"):
            await api.send(MOBILE, params=["123456"], **kwargs)
        fake.clock_offset += 31
        await api.send(MOBILE, params=["123456"], **kwargs)
        fake.clock_offset += 31
        with pytest.raises(SmsApiError, match="PhoneNumberDailyLimit"):
            await api.send(MOBILE, params=["123456"], **kwargs)
        with pytest.raises(SmsApiError, match="IncorrectPhoneNumber"):
            await api.send("+8612345", params=["123456"], **kwargs)
        with pytest.raises(SmsApiError, match="TemplateParameterFormatError"):
            await api.send("+8613900139000", params=["12ab"], **kwargs)
        with pytest.raises(SmsApiError, match="TemplateParamSetNotMatch"):
            await api.send("+8613900139000", params=["1", "2"], **kwargs)
        wrong = TencentSms(
            secret_id=fake.secret_id, secret_key="not-the-key", sdk_app_id=fake.sdk_app_id,
            endpoint=fake.url,
        )  # fmt: skip
        with pytest.raises(SmsApiError, match=r"AuthFailure\.SignatureFailure"):
            await wrong.send("+8613900139000", params=["123456"], **kwargs)
        await wrong.close()
    finally:
        await api.close()
    assert len(fake.sent) == 2


def test_mainland_mobiles_in_e164() -> None:
    assert e164("13800138000") == "+8613800138000"
    assert e164("+86 138-0013-8000") == "+8613800138000"
    assert e164("057187654321") == ""  # a landline gets no SMS
    assert e164("+85291234567") == ""  # mainland templates only
    assert e164("") == ""


def test_daily_limits_wait_for_the_offices_midnight() -> None:
    late = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    assert seconds_to_midnight(late, TZ) == 3600 + 300
