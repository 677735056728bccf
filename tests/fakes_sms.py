"""A local fake of Tencent Cloud SMS API 3.0 ``SendSms`` (aiohttp, 127.0.0.1 only).

It behaves like the real one where the bot depends on it, written apart from the bot's
own client so that a mistake there is caught here: the TC3-HMAC-SHA256 signature is
recomputed and checked (and the timestamp within 5 minutes), the SdkAppId, signature
(签名) and template must be the approved ones, the number of parameters must match the
template, a verification template takes 0–6 digits, no parameter may carry a link, an
individually verified account allows 12 characters per parameter, and each number may get
one message per 30 seconds and ``daily_limit`` a day. Errors have the real shapes:
``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`` for the request, or a
``Code`` other than "Ok" in the number's ``SendStatusSet`` entry. Faults: any error code
once (request-wide or for one number), HTTP 5xx, an empty package.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

SECRET_ID = "AKIDfakeSmsSecretId0000000000000000"
SECRET_KEY = "fakeSmsSecretKey000000000000000000"
SDK_APP_ID = "1400000001"
SIGN_NAME = "示范市信访局"
MOBILE = re.compile(r"^\+861[3-9]\d{9}$")
LINKISH = re.compile(r"(https?://|www\.|\.(cn|com|net|org)\b)", re.IGNORECASE)
DAY = 86400.0


def _template_ids(config: dict[str, Any]) -> dict[str, tuple[int, bool, str]]:
    """template id -> (parameter count, is a verification template, text) of a sms.yaml."""
    out = {}
    for kind, spec in (config.get("templates") or {}).items():
        text = str(spec["text"])
        count = len(set(re.findall(r"\{(\d+)\}", text)))
        out[str(spec["id"])] = (count, kind == "verification", text)
    return out


@dataclass
class Sent:
    """One message the fake accepted."""

    phone: str
    template_id: str
    params: list[str]
    serial_no: str
    context: str
    at: float
    text: str  # the template filled in, as the phone shows it (without the signature)


@dataclass
class FakeSms:
    """The fake API server; start() binds 127.0.0.1 on a free port."""

    templates: dict[str, tuple[int, bool, str]] = field(default_factory=dict)
    secret_id: str = SECRET_ID
    secret_key: str = SECRET_KEY
    sdk_app_id: str = SDK_APP_ID
    sign_name: str = SIGN_NAME
    individual: bool = False  # an individually verified account: 12 characters a variable
    daily_limit: int = 10  # messages per number per (fake) day
    balance: int = 1000  # messages left in the package
    clock_offset: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    blacklist: set[str] = field(default_factory=set)
    faults: deque[tuple[str, str]] = field(default_factory=deque)  # (scope, code)
    requests: int = 0
    url: str = ""
    _last: dict[str, float] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any], **kwargs: Any) -> FakeSms:
        """A fake whose approved templates are those of a sms.yaml mapping."""
        return cls(templates=_template_ids(config), **kwargs)

    def now(self) -> float:
        """The fake's clock."""
        return time.time() + self.clock_offset

    def fail_next(self, code: str, *, scope: str = "number") -> None:
        """The next send fails with ``code``: ``scope`` "request" (Error) or "number"."""
        self.faults.append((scope, code))

    def receipt(self, sent: Sent, *, delivered: bool = True) -> dict[str, Any]:
        """The status callback Tencent posts for one message (状态回执)."""
        return {
            "user_receive_time": datetime.fromtimestamp(self.now(), UTC).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "nationcode": "86",
            "mobile": sent.phone.removeprefix("+86"),
            "report_status": "SUCCESS" if delivered else "FAIL",
            "errmsg": "DELIVRD" if delivered else "MK:0001",
            "description": "用户短信送达成功" if delivered else "用户手机关机或停机",
            "sid": sent.serial_no,
        }

    def reply(self, phone: str, text: str) -> dict[str, Any]:
        """The reply callback Tencent posts when a citizen answers (回复)."""
        return {
            "extend": "",
            "mobile": phone.removeprefix("+86"),
            "nationcode": "86",
            "sign": self.sign_name,
            "text": text,
            "time": int(self.now()),
        }

    async def start(self) -> str:
        """Serve on 127.0.0.1; returns the base URL."""
        app = web.Application()
        app.router.add_post("/", self._send)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the API --

    def _error(self, code: str, message: str) -> web.Response:
        body = {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": _rid()}}
        return web.json_response(body)

    def _auth_error(self, request: web.Request, payload: bytes) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        m = re.fullmatch(
            r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/sms/tc3_request, "
            r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})",
            header,
        )
        if m is None:
            return "AuthFailure.InvalidAuthorization", "Authorization header malformed"
        secret_id, day, signed, sig = m.groups()
        if secret_id != self.secret_id:
            return "AuthFailure.SecretIdNotFound", "The SecretId is not found"
        try:
            ts = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return "AuthFailure.InvalidAuthorization", "X-TC-Timestamp missing"
        if abs(self.now() - self.clock_offset - ts) > 300:
            return "AuthFailure.SignatureExpire", "Signature expired"
        if day != datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d"):
            return "AuthFailure.SignatureFailure", "credential date is not the timestamp's"
        names = signed.split(";")
        # canonical headers: names and values lowercased and trimmed (TC3 signature v3)
        headers = "".join(f"{n}:{request.headers.get(n, '').strip().lower()}\n" for n in names)
        canonical = f"POST\n/\n\n{headers}\n{signed}\n{hashlib.sha256(payload).hexdigest()}"
        scope = f"{day}/sms/tc3_request"
        to_sign = (
            f"TC3-HMAC-SHA256\n{ts}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        key = ("TC3" + self.secret_key).encode()
        for part in (day, "sms", "tc3_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig):
            return "AuthFailure.SignatureFailure", "The provided credentials could not be validated"
        return None

    async def _send(self, request: web.Request) -> web.Response:
        self.requests += 1
        payload = await request.read()
        if request.headers.get("X-TC-Action") != "SendSms":
            return self._error("InvalidAction", "only SendSms is faked")
        if request.headers.get("X-TC-Version") != "2021-01-11":
            return self._error("InvalidParameterValue", "version")
        auth = self._auth_error(request, payload)
        if auth is not None:
            return self._error(*auth)
        if self.faults and self.faults[0][0] == "5xx":
            self.faults.popleft()
            return web.Response(status=502, text="bad gateway")
        if self.faults and self.faults[0][0] == "request":
            return self._error(self.faults.popleft()[1], "injected")
        try:
            body = json.loads(payload)
        except ValueError:
            return self._error("FailedOperation.JsonParseFail", "request body is not JSON")
        if body.get("SmsSdkAppId") != self.sdk_app_id:
            return self._error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId not exist")
        if body.get("SignName") != self.sign_name:
            return self._error(
                "FailedOperation.SignatureIncorrectOrUnapproved", "signature not approved"
            )
        template = self.templates.get(str(body.get("TemplateId")))
        if template is None:
            return self._error(
                "FailedOperation.TemplateIncorrectOrUnapproved", "template not approved"
            )
        count, verification, text = template
        params = [str(p) for p in body.get("TemplateParamSet") or []]
        if len(params) != count:
            return self._error(
                "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                f"template takes {count} parameters, got {len(params)}",
            )
        for value in params:
            if verification and not re.fullmatch(r"\d{0,6}", value):
                return self._error(
                    "InvalidParameterValue.TemplateParameterFormatError", "0-6 digits only"
                )
            if LINKISH.search(value):
                return self._error(
                    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter", "url in param"
                )
            if self.individual and len(value) > 12:
                return self._error(
                    "InvalidParameterValue.TemplateParameterLengthLimit", "over 12 characters"
                )
        if self.balance <= 0:
            return self._error(
                "FailedOperation.InsufficientBalanceInSmsPackage", "package balance is 0"
            )
        filled = text
        for i, value in enumerate(params, 1):
            filled = filled.replace("{" + str(i) + "}", value)
        statuses = [
            self._one(str(phone), body, params, filled) for phone in body.get("PhoneNumberSet", [])
        ]
        return web.json_response({"Response": {"SendStatusSet": statuses, "RequestId": _rid()}})

    def _one(self, phone: str, body: dict[str, Any], params: list[str], text: str) -> Any:
        now = self.now()
        code = ""
        if self.faults and self.faults[0][0] == "number":
            code = self.faults.popleft()[1]
        elif not MOBILE.match(phone):
            code = "InvalidParameterValue.IncorrectPhoneNumber"
        elif phone in self.blacklist:
            code = "FailedOperation.PhoneNumberInBlacklist"
        elif now - self._last.get(phone, -1e12) < 30:
            code = "LimitExceeded.PhoneNumberThirtySecondLimit"
        elif sum(1 for s in self.sent if s.phone == phone and now - s.at < DAY) >= self.daily_limit:
            code = "LimitExceeded.PhoneNumberDailyLimit"
        base = {"PhoneNumber": phone, "SessionContext": str(body.get("SessionContext", ""))}
        if code:
            return {
                **base,
                "SerialNo": "",
                "Fee": 0,
                "Code": code,
                "Message": code,
                "IsoCode": "CN",
            }
        serial = f"2433:{uuid.uuid4().int % 10**20}"
        self._last[phone] = now
        self.balance -= 1
        self.sent.append(
            Sent(phone, str(body["TemplateId"]), params, serial, base["SessionContext"], now, text)
        )
        length = len(self.sign_name) + 2 + len(text)  # 【签名】 + text
        fee = 1 if length <= 70 else math.ceil(length / 67)
        return {
            **base,
            "SerialNo": serial,
            "Fee": fee,
            "Code": "Ok",
            "Message": "send success",
            "IsoCode": "CN",
        }


def _rid() -> str:
    return str(uuid.uuid4())
