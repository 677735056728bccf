"""Bad input at every door (WeChat, Telegram, web chat), on SQLite and PostgreSQL.

Each case gets a clear answer (a 4xx status, or the bot's own explanation), the process
keeps serving, and a refused request stores nothing. Cases already covered by the
channel tests (tests/channels/…, tests/e2e/test_webchat_e2e.py) are not repeated here:
forged signatures, stale timestamps, an inline DTD, oversize bodies, malformed JSON and a
missing secret token. This file adds external entities, entity expansion, invalid
UTF-8, unknown message and update types, empty and 100 000-character texts, control,
bidi, emoji and combining characters, NUL bytes, and SQL and markup in every answer; and
from the security review (issue 15): JSON nested 100 000 deep or with a 900 000-digit
number at every JSON door, NUL bytes in queries, forms, JSON and upload file names (400;
platform webhooks still drop them), dates outside 1990-2999 on the console list, exports
and API, a huge Last-Event-ID, more event streams than a session may hold, and request
bodies that trickle in (408).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.app import SERVICES, build_services, create_app
from bot.settings import Settings
from bot.staff.access import Role
from bot.storage.db import Database
from bot.storage.tables import cases, contacts, inbound_messages, outbox
from bot.web import input_guard
from tests.channels.wechat.payloads import AES_KEY, APP_ID, TOKEN, WeChatSide, event, message
from tests.fakes_telegram import TOKEN as TELEGRAM_TOKEN
from tests.fakes_telegram import FakeTelegram, text_update
from tests.fakes_wechat import FakeWeChat
from tests.petition import ANSWERS_ZH
from tests.reliability.support import (
    TELEGRAM_HEADERS,
    TELEGRAM_SECRET,
    count_rows,
    reference_petition,
)
from tests.web.conftest import PASSWORD, log_in

DECORATIONS = {
    "control": "\x01\x07\x1b[31m\x7f",
    "bidi": "\u202e\u2066\u200f",  # right-to-left override, isolate, mark
    "zero_width": "\u200b\u200d\ufeff",
    "emoji": "👩‍👩‍👧‍👦🇨🇳🙏🏽",
    "combining": "e\u0301\u0338\u20dd",  # e + acute + long solidus + enclosing circle
    "nul": "\x00",
}
INJECTIONS = {
    "sql": "'); DROP TABLE cases; --",
    "sql_like": "%' OR '1'='1",
    "html": "<script>alert('x')</script><img src=x onerror=alert(1)>",
    "template": "{{7*7}}${7*7}{0}%s",
    "xml": "]]><!ENTITY x SYSTEM 'file:///etc/passwd'>&x;",
}


@dataclass
class Doors:
    """An app with every channel, and what it talks to."""

    client: TestClient[Any, Any]
    db: Database
    wechat: FakeWeChat
    telegram: FakeTelegram
    api_token: str = ""

    async def wechat_post(self, xml: str | bytes, *, aes: bool = False) -> tuple[int, str]:
        side = WeChatSide(aes=aes)
        if aes:
            assert isinstance(xml, str)
            path, body = side.post(xml)
            data = body.encode()
        else:
            path, _ = side.post("")
            data = xml.encode() if isinstance(xml, str) else xml
        resp = await self.client.post(path, data=data, headers={"Content-Type": "text/xml"})
        text = await resp.text()
        if resp.status == 200 and text not in ("success", ""):
            text = side.reply_text(text)
        return resp.status, text

    async def telegram_post(self, body: Any) -> int:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        resp = await self.client.post(
            "/telegram",
            data=data,
            headers={"Content-Type": "application/json", **TELEGRAM_HEADERS},
        )
        return resp.status

    async def chat(self, text: Any) -> tuple[int, Any]:
        body = {"client_id": uuid.uuid4().hex, "text": text}
        resp = await self.client.post("/chat/api/messages", json=body)
        return resp.status, await resp.json()

    async def stored(self) -> int:
        return await count_rows(self.db, inbound_messages)


@pytest.fixture
async def doors(
    db: Database, db_url: str, tmp_path: Path, aiohttp_client: Any
) -> AsyncIterator[Doors]:
    wechat = FakeWeChat(app_id=APP_ID)
    telegram = FakeTelegram()
    await wechat.start()
    await telegram.start()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=db_url,
        data_dir=tmp_path / "data",
        wechat_token=TOKEN,
        wechat_app_id=APP_ID,
        wechat_app_secret=wechat.app_secret,
        wechat_aes_key=AES_KEY,
        wechat_allow_plaintext=True,  # both modes are attacked here
        wechat_api_base=wechat.url,
        telegram_token=TELEGRAM_TOKEN,
        telegram_secret=TELEGRAM_SECRET,
        telegram_api_base=telegram.url,
    )
    services = build_services(settings)
    await services.accounts.add("admin", PASSWORD, role=Role.ADMIN, departments=())
    token = await services.accounts.issue_token("admin", "bad input tests")
    client = await aiohttp_client(create_app(services, run_worker=False))
    async with client.get("/chat") as resp:  # a web chat session cookie
        assert resp.status == 200
    yield Doors(client, db, wechat, telegram, token)
    await telegram.stop()
    await wechat.stop()


XXE = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh_x</ToUserName><FromUserName>o-attacker</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>"""
PARAMETER_ENTITY = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd">%remote;]>
<xml><FromUserName>o-attacker</FromUserName><MsgType>text</MsgType><MsgId>2</MsgId></xml>"""
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]><xml><FromUserName>o-attacker</FromUserName><MsgType>text</MsgType>"
    "<Content>&lol9;</Content><MsgId>3</MsgId></xml>"
)


@pytest.mark.parametrize("attack", [XXE, PARAMETER_ENTITY, LAUGHS], ids=["xxe", "param", "laughs"])
@pytest.mark.parametrize("aes", [False, True], ids=["plaintext", "aes-inner"])
async def test_xml_entities_are_refused(doors: Doors, attack: str, aes: bool) -> None:
    status, reason = await doors.wechat_post(attack, aes=aes)
    assert status == 400 and reason.startswith("malformed"), (status, reason)
    assert await doors.stored() == 0
    status, _ = await doors.wechat_post(message("text", Content="你好"))
    assert status == 200  # still serving


async def test_invalid_utf8_is_refused_at_every_door(doors: Doors) -> None:
    status, reason = await doors.wechat_post(
        message("text", Content="X")
        .replace("X", "\ufffd")
        .encode()
        .replace(b"\xef\xbf\xbd", b"\xff\xfe")
    )
    assert (status, reason) == (400, "not_utf8")
    assert await doors.telegram_post(b'{"update_id": 9, "message": {"text": "\xff\xfe"}}') == 400
    resp = await doors.client.post(
        "/chat/api/messages",
        data=b'{"client_id": "abcdefgh1234", "text": "\xc3\x28"}',
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert await doors.stored() == 0


async def test_forged_msg_signature_and_replayed_requests(doors: Doors) -> None:
    side = WeChatSide(aes=True)
    path, body = side.post(message("text", Content="你好", msg_id=777))
    forged = path.replace("msg_signature=", "msg_signature=0")
    resp = await doors.client.post(forged, data=body.encode())
    assert resp.status == 403
    assert await doors.stored() == 0
    # the same signed request replayed inside the window: answered the same, stepped once
    first = await doors.client.post(path, data=body.encode())
    again = await doors.client.post(path, data=body.encode())
    assert first.status == again.status == 200
    assert side.reply_text(await first.text()) == side.reply_text(await again.text())
    assert await doors.stored() == 1
    update = text_update(4242, "/start", 5550009)
    assert [await doors.telegram_post(update) for _ in range(2)] == [200, 200]
    assert await doors.stored() == 2


UNKNOWN_UPDATES: dict[str, dict[str, Any]] = {
    "poll": {
        "poll": {
            "id": "1",
            "question": "?",
            "options": [],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
        }
    },
    "future_type": {"business_message_teleport": {"anything": [1, 2, 3]}},
    "chat_join_request": {
        "chat_join_request": {
            "chat": {"id": -1, "type": "group"},
            "from": {"id": 1, "is_bot": False, "first_name": "x"},
            "user_chat_id": 1,
            "date": 1,
        }
    },
    "sticker": text_update(0, "x")
    | {
        "message": {
            **text_update(0, "x")["message"],
            "text": None,
            "sticker": {
                "file_id": "s",
                "file_unique_id": "u",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            },
        }
    },
    "dice": text_update(0, "x")
    | {
        "message": {
            **text_update(0, "x")["message"],
            "text": None,
            "dice": {"emoji": "🎲", "value": 6},
        }
    },
}


async def test_unknown_message_and_update_types(doors: Doors) -> None:
    for n, (name, extra) in enumerate(UNKNOWN_UPDATES.items()):
        update = {**extra, "update_id": 90_000 + n}
        update.pop("message", None) if name not in ("sticker", "dice") else None
        if name in ("sticker", "dice"):
            update["message"] = {k: v for k, v in extra["message"].items() if v is not None}
        assert await doors.telegram_post(update) == 200, name
    assert await doors.stored() == 0
    status, _ = await doors.wechat_post(event("brand_new_event", EventKey="k"))
    assert status == 200
    assert await doors.stored() == 0
    # structure WeChat never sends (an element where text belongs): refused or answered
    # with help, never a server error
    nested = message("text", Content="x").replace("<![CDATA[text]]>", "<a>text</a>")
    status, _ = await doors.wechat_post(nested)
    assert status in (200, 400)
    stored = await doors.stored()
    # an unknown message type (with a MsgId) is a message: answered with help, not ignored
    status, text = await doors.wechat_post(message("miniprogrampage", Title="卡片", AppId="wx1"))
    assert status == 200 and text
    assert await doors.stored() == stored + 1


async def test_empty_and_huge_texts(doors: Doors) -> None:
    status, text = await doors.wechat_post(message("text", Content=""))
    assert status == 200 and text  # the bot explains what it can do
    status, reason = await doors.wechat_post(message("text", Content="长" * 100_000))
    assert (status, reason) == (413, "too_large")
    status, body = await doors.chat("")
    assert status == 400 and body["reason"] == "empty"
    status, body = await doors.chat("长" * 100_000)
    assert status == 413 and "5000" in body["error"]
    assert await doors.stored() == 1
    # Telegram caps texts at 4096 itself; a forged huge one is answered with the limit
    assert await doors.telegram_post(text_update(31, "/new", 5550031)) == 200
    assert await doors.telegram_post(text_update(32, "长" * 100_000, 5550031)) == 200
    async with doors.db.read() as conn:
        texts = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))).scalars().all()
    assert "5000" in texts[-1]["text"] or "5,000" in texts[-1]["text"]


async def test_nul_bytes_are_dropped_not_fatal(doors: Doors) -> None:
    # a platform's update is answered (NUL dropped): a 4xx would only make it redeliver;
    # the web chat, console and API refuse it (test_nul_bytes_are_refused_at_our_doors)
    assert await doors.telegram_post(text_update(41, "/start\x00", 5550041)) == 200
    document = text_update(42, "x", 5550041)
    document["message"].pop("text")
    document["message"]["document"] = {
        "file_id": "F\x00",
        "file_unique_id": "u",
        "file_name": "a\x00.pdf",
        "mime_type": "application/pdf\x00",
    }
    assert await doors.telegram_post(document) == 200
    async with doors.db.read() as conn:
        stored = (await conn.execute(select(inbound_messages.c.text))).scalars().all()
    assert len(stored) == 2 and not any("\x00" in t for t in stored)


def decorated(kind: str, injection: str) -> dict[str, str]:
    """The scripted answers with odd characters and an injection in every free-text field."""
    mark = DECORATIONS[kind]
    answers = dict(ANSWERS_ZH)
    for field in ("name", "address", "incident_place", "respondent", "request", "facts"):
        answers[field] = f"{mark}{ANSWERS_ZH[field]}{mark}{INJECTIONS[injection]}"[
            : 100 if field == "name" else 2000
        ]
    answers["name"] = f"{mark}张{DECORATIONS[kind]}三"
    return answers


@pytest.mark.parametrize(
    ("kind", "injection"),
    [(k, i) for k, i in zip(DECORATIONS, list(INJECTIONS) * 2, strict=False)],
)
async def test_odd_characters_and_injections_in_every_field(
    doors: Doors, kind: str, injection: str
) -> None:
    answers = decorated(kind, injection)
    typed, expected = reference_petition(answers)
    for text in typed:
        status, body = await doors.chat(text)
        if "\x00" in text:  # refused at the door; the citizen sends it again without
            assert status == 400 and body["error"] == "nul_byte"
            status, body = await doors.chat(text.replace("\x00", ""))
        assert status == 200, body
        assert body["replies"], f"no answer to {text!r}"
    async with doors.db.read() as conn:
        rows = (await conn.execute(select(cases.c.answers, cases.c.name))).all()
        assert (await conn.execute(select(contacts.c.id))).all()  # tables intact
    assert len(rows) == 1
    stored = rows[0].answers
    assert {k: stored.get(k) for k in expected} == expected
    # markup and SQL are kept as typed (they are data); control and bidi characters are not
    assert INJECTIONS[injection].strip() in stored["request"]
    for field in ("name", "address", "request", "facts"):
        assert not any(ch in stored[field] for ch in "\x00\x01\x1b\u202e\u200b\ufeff"), field


async def test_non_finite_coordinates_are_refused(doors: Doors) -> None:
    # "NaN" parses as a float and json.loads accepts NaN, but no JSON state can hold it
    status, reason = await doors.wechat_post(
        message("location", Location_X="NaN", Location_Y=120.1, Scale=15, Label="x")
    )
    assert status == 400 and reason.startswith("malformed")
    update = text_update(51, "x", 5550051)
    update["message"].pop("text")
    update["message"]["location"] = {"latitude": 1.0, "longitude": 2.0}
    raw = json.dumps(update).replace('"latitude": 1.0', '"latitude": NaN').encode()
    assert await doors.telegram_post(raw) == 400
    assert await doors.stored() == 0


DEEP = b"[" * 100_000
HUGE_INT = b"9" * 900_000


async def test_deep_json_and_huge_numbers_are_refused_at_every_json_door(doors: Doors) -> None:
    api = {"Authorization": f"Bearer {doors.api_token}", "Content-Type": "application/json"}
    chat = {"Content-Type": "application/json"}
    for body in (
        DEEP,
        b'{"client_id": "abcdefgh1234", "text": "x", "n": ' + HUGE_INT + b"}",
        b'{"client_id": "abcdefgh1234", "text": ' + b'{"a": ' * 40 + b"1" + b"}" * 41,
    ):
        resp = await doors.client.post("/chat/api/messages", data=body, headers=chat)
        assert resp.status == 400, body[:40]
        assert await doors.telegram_post(body.replace(b"client_id", b"update_id")) == 400
        resp = await doors.client.post("/api/v1/broadcasts/preview", data=body, headers=api)
        assert resp.status == 400, await resp.text()
    assert await doors.stored() == 0
    status, body = await doors.chat("你好")
    assert status == 200 and body["replies"]  # still serving


async def test_nul_bytes_are_refused_at_our_doors(doors: Doors) -> None:
    api = {"Authorization": f"Bearer {doors.api_token}"}
    status, body = await doors.chat("你\x00好")
    assert status == 400 and body["error"] == "nul_byte"
    for path in ("/chat/api/history?x=%00", "/api/v1/cases?q=a%00b", "/api/v1/cases?region=%00"):
        resp = await doors.client.get(path, headers=api)
        assert resp.status == 400, path
    staff = await log_in(doors.client, "admin")
    for name in ("q", "region", "category", "department"):
        resp = await doors.client.get(f"/staff/cases?{name}=x%00y")
        assert resp.status == 400, name
    resp = await staff.post("/staff/cases/XF000000-000000-0/actions/note", {"note": "a\x00b"})
    assert resp.status == 400
    status, _ = await doors.chat("新建")  # a draft, so that the upload gets to its file name
    assert status == 200
    # aiohttp's client refuses to write a NUL into a part header: the body by hand
    body = (
        b'--b\r\nContent-Disposition: form-data; name="client_id"\r\n\r\n'
        + uuid.uuid4().hex.encode()
        + b'\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00.pdf"\r\n'
        + b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n"
    )
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    resp = await doors.client.post("/chat/api/attachments", data=body, headers=headers)
    assert resp.status == 400
    assert not list((doors_root(doors)).rglob("*.pdf"))
    status, body = await doors.chat("你好")
    assert status == 200 and body["replies"]


def doors_root(doors: Doors) -> Path:
    """The attachments directory of the doors' app."""
    services = doors.client.app[SERVICES]
    return services.settings.attachments_dir


async def test_implausible_dates_are_refused_with_a_message(doors: Doors) -> None:
    api = {"Authorization": f"Bearer {doors.api_token}"}
    await log_in(doors.client, "admin")
    for query in (
        "to=9999-12-31",
        "from=0001-01-01",
        "kpi=on_time&kpi_from=0001-01-01&kpi_to=9999-12-31",
    ):
        resp = await doors.client.get(f"/staff/cases?{query}")
        assert resp.status == 400, query
        assert "2000" not in query and query.split("=")[1][:4] in await resp.text()
        for export in ("csv", "xlsx"):
            resp = await doors.client.get(f"/staff/cases/export.{export}?{query}")
            assert resp.status == 400 and "2999-12-31" in await resp.text(), (query, export)
    for query in ("submitted_to=9999-12-31", "submitted_from=0001-01-01"):
        resp = await doors.client.get(f"/api/v1/cases?{query}", headers=api)
        assert resp.status == 422, query
        resp = await doors.client.get(f"/api/v1/cases/export.csv?{query}", headers=api)
        assert resp.status == 422, query
    resp = await doors.client.get("/staff/cases?from=2026-01-01")
    assert resp.status == 200


async def test_event_streams_are_bounded(doors: Doors) -> None:
    huge = {"Last-Event-ID": "push-" + "9" * 5000}
    streams = [await doors.client.get("/chat/api/events", headers=huge)]
    assert streams[0].status == 200  # a huge id is no id: a fresh stream
    streams += [await doors.client.get("/chat/api/events") for _ in range(2)]
    assert [s.status for s in streams] == [200, 200, 200]
    refused = await doors.client.get("/chat/api/events")
    assert refused.status == 429 and (await refused.json())["reason"] == "streams"
    for stream in streams:
        stream.close()
    status, body = await doors.chat("你好")
    assert status == 200 and body["replies"]


async def test_slow_bodies_time_out(doors: Doors, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(input_guard, "BODY_SECONDS", 0.3)
    monkeypatch.setattr(input_guard, "STREAM_BODY_SECONDS", 0.3)

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"client_id": "abcdefgh1234", '
        await asyncio.sleep(1.5)
        yield b'"text": "x"}'

    json_headers = {"Content-Type": "application/json"}
    resp = await doors.client.post("/chat/api/messages", data=trickle(), headers=json_headers)
    assert resp.status == 408
    assert (await doors.chat("新建"))[0] == 200  # a draft: the upload's body is read
    upload = {"Content-Type": "multipart/form-data; boundary=b"}
    resp = await doors.client.post("/chat/api/attachments", data=trickle(), headers=upload)
    assert resp.status == 408
    status, body = await doors.chat("你好")
    assert status == 200 and body["replies"]
