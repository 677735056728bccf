"""Tencent Cloud SMS, API 3.0 ``SendSms`` (version 2021-01-11), signed with TC3-HMAC-SHA256.

Request: POST https://sms.tencentcloudapi.com/ with a JSON body (SmsSdkAppId, SignName,
TemplateId, TemplateParamSet, PhoneNumberSet in E.164, SessionContext) and the headers
X-TC-Action/-Version/-Timestamp/-Region and Authorization.
https://cloud.tencent.com/document/api/382/55981 (SendSms)
https://cloud.tencent.com/document/api/382/52072 (signature v3, TC3-HMAC-SHA256)

Answer: ``{"Response": {"SendStatusSet": [{"SerialNo", "PhoneNumber", "Fee", "Code",
"Message", ...}], "RequestId"}}``, one status per number (``Code`` "Ok" when accepted),
or ``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`` when the whole request
is refused. Error codes: https://cloud.tencent.com/document/api/382/55981#6.-.E9.94.99.E8.AF.AF.E7.A0.81
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"
OK = "Ok"  # the Code of a number whose message was accepted


class SmsApiError(Exception):
    """Tencent refused the request or one number: ``code`` is its error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SmsTransportError(Exception):
    """The API could not be reached or answered something that is not its JSON."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature(secret_key: str, host: str, payload: bytes, timestamp: int) -> tuple[str, str]:
    """(credential scope, signature) of a POST / with ``payload`` at ``timestamp``.

    The canonical request covers the method, path "/", no query, the content-type and
    host headers and the payload's SHA-256; the key is derived from the UTC date, the
    service and "tc3_request".
    """
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        (
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\n",
            SIGNED_HEADERS,
            _sha256(payload),
        )
    )
    scope = f"{day}/{SERVICE}/tc3_request"
    to_sign = "\n".join((ALGORITHM, str(timestamp), scope, _sha256(canonical.encode())))
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), day), SERVICE), "tc3_request")
    return scope, hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(secret_id: str, secret_key: str, host: str, payload: bytes, ts: int) -> str:
    """The Authorization header of a signed request."""
    scope, sig = signature(secret_key, host, payload, ts)
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={SIGNED_HEADERS}, Signature={sig}"
    )


@dataclass(frozen=True, slots=True)
class SendStatus:
    """One number's outcome: accepted (``serial_no``) or refused (``code``)."""

    phone: str
    code: str
    message: str
    serial_no: str = ""
    fee: int = 0


class TencentSms:
    """A minimal async client of SendSms (aiohttp; one session per client)."""

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        endpoint: str = "https://sms.tencentcloudapi.com",
        region: str = "ap-guangzhou",
        timeout: float = 10.0,
    ) -> None:
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.endpoint = endpoint.rstrip("/")
        self.host = urlsplit(self.endpoint).netloc
        self.region = region
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        phone: str,
        *,
        sign_name: str,
        template_id: str,
        params: list[str],
        context: str = "",
    ) -> SendStatus:
        """Send one templated message to one E.164 number; raises :class:`SmsApiError`
        with the request's or the number's error code."""
        body = {
            "PhoneNumberSet": [phone],
            "SmsSdkAppId": self.sdk_app_id,
            "SignName": sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": params,
            "SessionContext": context,
        }
        data = await self._call(ACTION, body)
        statuses = data.get("SendStatusSet") or []
        if not statuses:
            raise SmsTransportError("SendSms answered no SendStatusSet")
        first = statuses[0]
        status = SendStatus(
            phone=str(first.get("PhoneNumber", phone)),
            code=str(first.get("Code", "")),
            message=str(first.get("Message", "")),
            serial_no=str(first.get("SerialNo", "")),
            fee=int(first.get("Fee") or 0),
        )
        if status.code != OK:
            raise SmsApiError(status.code, status.message)
        return status

    async def _call(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        ts = int(time.time())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": self.host,
            "X-TC-Action": action,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(ts),
            "X-TC-Region": self.region,
            "Authorization": authorization(self.secret_id, self.secret_key, self.host, payload, ts),
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(
                self.endpoint + "/", data=payload, headers=headers
            ) as resp:
                if resp.status >= 500:
                    raise SmsTransportError(f"HTTP {resp.status} from {action}")
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SmsTransportError(f"{action}: {type(exc).__name__}") from exc
        response = answer.get("Response") if isinstance(answer, dict) else None
        if not isinstance(response, dict):
            raise SmsTransportError(f"{action}: no Response object")
        error = response.get("Error")
        if isinstance(error, dict):
            raise SmsApiError(str(error.get("Code", "")), str(error.get("Message", "")))
        return response
