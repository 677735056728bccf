"""Recorded WeChat payloads (the XML WeChat posts) and a signer that plays WeChat's side."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

TOKEN = "xf-test-token"
APP_ID = "wx-fake-app"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues
ACCOUNT = "gh_10f6c3c3ac5a"
OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"

# WeChat's published sample (WXBizMsgCrypt demo): token, key, app id, and a message.
SAMPLE = {
    "token": "spamtest",
    "aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "app_id": "wx2c2769f8efd9abc2",
    "timestamp": "1409735669",
    "nonce": "1320562132",
    "signature": "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a",
    "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    "encrypt": (
        "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeU"
        "gmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyW"
        "NlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4"
        "kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v"
        "6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM66"
        "9WuMyVWQLCzpu9GhglF2PE="
    ),
    "openid": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
    "content": "abcdteT",
    "msg_id": "6054768590064713728",
}
# wechatpy's test vector (same AES scheme; the trailing id is a corp id there)
WECHATPY_VECTOR = {
    "token": "123456",
    "aes_key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "app_id": "wx49f0ab532d5d035a",
    "timestamp": "1411525903",
    "nonce": "461056294",
    "msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
    "encrypt": (
        "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu"
        "6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm"
        "7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e2"
        "9mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5"
        "t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdC"
        "RxthuL0="
    ),
}


def _xml(fields: dict[str, Any]) -> str:
    parts = []
    for key, value in fields.items():
        if isinstance(value, int | float):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            # a "]]>" in the text is split across two CDATA sections, as any XML writer does
            text = str(value).replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{key}><![CDATA[{text}]]></{key}>")
    return "<xml>" + "".join(parts) + "</xml>"


def message(msg_type: str, openid: str = OPENID, msg_id: int = 0, **fields: Any) -> str:
    """A message as WeChat posts it (MsgId random unless given)."""
    return _xml(
        {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": int(time.time()),
            "MsgType": msg_type,
            **fields,
            "MsgId": msg_id or secrets.randbelow(10**18) + 10**18,
        }
    )


def event(name: str, openid: str = OPENID, create_time: int = 0, **fields: Any) -> str:
    """An event as WeChat posts it (no MsgId: FromUserName + CreateTime identify it)."""
    return _xml(
        {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": create_time or int(time.time()),
            "MsgType": "event",
            "Event": name,
            **fields,
        }
    )


# The recorded table: (case name, payload, what the channel must make of it).
# Shapes follow the examples in the message reference:
# https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
def recorded() -> list[tuple[str, str, dict[str, Any]]]:
    """Every message and event type the bot handles, freshly stamped."""
    now = int(time.time())
    return [
        ("text", message("text", Content="我要投诉"), {"text": "我要投诉"}),
        (
            "image",
            message("image", PicUrl="http://mmbiz.qpic.cn/x", MediaId="MEDIA_IMG"),
            {"attachment": "image", "media_id": "MEDIA_IMG"},
        ),
        (
            "voice_recognition",
            message("voice", MediaId="MEDIA_VOICE", Format="amr", Recognition="文三路"),
            {"attachment": "voice", "media_id": "MEDIA_VOICE", "recognition": "文三路"},
        ),
        (
            "voice_plain",
            message("voice", MediaId="MEDIA_VOICE2", Format="amr"),
            {"attachment": "voice", "media_id": "MEDIA_VOICE2", "recognition": ""},
        ),
        (
            "location",
            message("location", Location_X=30.27, Location_Y=120.13, Scale=15, Label="文三路100号"),
            {"location": (30.27, 120.13, "文三路100号")},
        ),
        (
            "file",
            message(
                "file",
                Title="合同.pdf",
                Description="",
                MediaId="MEDIA_FILE",
                FileKey="k1",
                FileMd5="d41d8cd98f00b204e9800998ecf8427e",
                FileTotalLen=1234,
            ),
            {"attachment": "file", "media_id": "MEDIA_FILE"},
        ),
        ("subscribe", event("subscribe", create_time=now - 9, EventKey=""), {"event": "subscribe"}),
        ("click_new", event("CLICK", create_time=now - 3, EventKey="XF_NEW"), {"command": "new"}),
        (
            "click_status",
            event("CLICK", create_time=now - 2, EventKey="XF_STATUS"),
            {"command": "status"},
        ),
        (
            "click_help",
            event("CLICK", create_time=now - 1, EventKey="XF_HELP"),
            {"command": "help"},
        ),
        (
            "unsubscribe",
            event("unsubscribe", create_time=now, EventKey=""),
            {"event": "unsubscribe"},
        ),
    ]


@dataclass
class WeChatSide:
    """Signs (and in AES mode encrypts) requests the way WeChat does."""

    token: str = TOKEN
    aes_key: str = AES_KEY
    app_id: str = APP_ID
    aes: bool = False

    @property
    def crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, self.aes_key, self.app_id)

    def query(self, timestamp: int | None = None, body_encrypt: str = "") -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = str(secrets.randbelow(10**9))
        signer = WeChatSigner()
        signer.add_data(self.token, ts, nonce)
        q = {"signature": signer.signature, "timestamp": ts, "nonce": nonce, "openid": OPENID}
        if self.aes:
            q["encrypt_type"] = "aes"
            msg_signer = WeChatSigner()
            msg_signer.add_data(self.token, ts, nonce, body_encrypt)
            q["msg_signature"] = msg_signer.signature
        return q

    def post(self, xml: str, timestamp: int | None = None) -> tuple[str, str]:
        """(path with query, body) for one POST /wechat."""
        if not self.aes:
            return "/wechat?" + urlencode(self.query(timestamp)), xml
        ts = str(timestamp if timestamp is not None else int(time.time()))
        wrapped = self.crypto.encrypt_message(xml, "1234567", ts)
        encrypt = wrapped.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        query = self.query(int(ts), encrypt)
        body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"  # noqa: E501
        return "/wechat?" + urlencode(query), body

    def reply_text(self, body: str) -> str:
        """The text of a passive reply (decrypted in AES mode)."""
        import xmltodict

        data = xmltodict.parse(body)["xml"]
        if "Encrypt" in data:
            inner = self.crypto.decrypt_message(
                body, data["MsgSignature"], data["TimeStamp"], data["Nonce"]
            )
            data = xmltodict.parse(inner)["xml"]
        assert data["MsgType"] == "text"
        return str(data["Content"])


# Hostile bodies (case name, body, the status the webhook must answer, never a 500).
# Each is posted signed, as a captured or forged request would be: in AES mode the body
# is read before msg_signature can be checked (the signature covers the Encrypt inside).
def hostile() -> list[tuple[str, str, int]]:
    """Bodies that must be refused with a 4xx before anything is stored."""
    deep = "<xml>" + "<a>" * 1000 + "x" + "</a>" * 1000 + "</xml>"
    wide = "<xml>" + "<a>1</a>" * 5000 + "</xml>"
    huge = message("text", Content="长" * 30_000)  # 90 000 bytes of UTF-8
    return [
        ("deep_1000_levels", deep, 400),
        ("deep_just_over", "<xml>" + "<a>" * 6 + "</a>" * 6 + "</xml>", 400),
        ("five_thousand_elements", wide, 400),
        ("huge_text", huge, 413),
        ("entity_bomb", '<!DOCTYPE x [<!ENTITY a "aaaa">]><xml>&a;</xml>', 400),
    ]


def bounded_event() -> str:
    """The deepest event WeChat sends (pictures sent from the menu): must still be read."""
    return event(
        "pic_sysphoto",
        EventKey="XF_PIC",
        SendPicsInfo="",
    ).replace(
        "<SendPicsInfo><![CDATA[]]></SendPicsInfo>",
        "<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]>"
        "</PicMd5Sum></item></PicList></SendPicsInfo>",
    )
