"""Console strings of the SMS channel: why an SMS was not delivered, how a notice was routed."""

from __future__ import annotations

SMS_TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "reason.channel_off": "该渠道未配置（缺少凭据），消息未发送",
        "reason.sms_number_limit": "短信超过该号码的发送频率或当日条数上限（腾讯云频率限制）",
        "reason.sms_busy": "短信接口繁忙或内部错误，稍后重试",
        "reason.sms_credentials": "短信凭据无效：请检查 SecretId、SecretKey 和 SdkAppId",
        "reason.sms_balance": "短信套餐包余量不足：请购买国内短信套餐包",
        "reason.sms_bad_number": "手机号码无效或不是中国大陆手机号码",
        "reason.sms_blacklisted": "该号码已退订或在运营商黑名单中",
        "reason.sms_template": "短信模板或签名未通过审核，或参数与模板不符（见 config/sms.yaml）",
        "reason.sms_undelivered": "短信已提交，但运营商回执未送达",
        "event.sms_fallback": "微信通知未能送达，已改发短信",
        "event.sms_copy": "网页会话通知已同时发送短信",
    },
    "en": {
        "reason.channel_off": "The channel is not configured (no credentials): not sent",
        "reason.sms_number_limit": "Over the number's SMS rate or daily limit (Tencent Cloud)",
        "reason.sms_busy": "SMS API busy or internal error: retried later",
        "reason.sms_credentials": "SMS credentials rejected: check SecretId, SecretKey, SdkAppId",
        "reason.sms_balance": "SMS package used up: buy a mainland SMS package",
        "reason.sms_bad_number": "Not a valid mainland mobile number",
        "reason.sms_blacklisted": "The number unsubscribed or is blocked by the carrier",
        "reason.sms_template": "SMS template or signature not approved, or parameters do not "
        "match it (see config/sms.yaml)",
        "reason.sms_undelivered": "Accepted, but the carrier's receipt says not delivered",
        "event.sms_fallback": "The WeChat notice could not be delivered: sent by SMS instead",
        "event.sms_copy": "The web-chat notice was also sent by SMS",
    },
}
