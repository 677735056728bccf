"""Voice without the platform's recognition: transcribed by the configured STT service,
read back and taken as the answer; any failure leaves the voice as material (nothing lost)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.intake import Intake
from bot.messages import Address, Attachment
from bot.storage.db import Database
from bot.transcription import OpenAICompatibleTranscriber
from tests.conftest import FixedClock
from tests.fakes_stt import FakeTranscriptionServer
from tests.test_intake import make_intake, message, state_of

AUDIO = b"#!AMR\n" + bytes(range(200))  # what WeChat's media/get returns for a voice
SPOKEN = "我叫王秀英"


@pytest.fixture
async def stt() -> AsyncIterator[FakeTranscriptionServer]:
    server = await FakeTranscriptionServer(transcripts={AUDIO: SPOKEN}, api_key="k").start()
    yield server
    await server.stop()


def _stored(root: Path, data: bytes = AUDIO) -> str:
    key = "2026/12/abc-voice.amr"
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_bytes(data)
    return key


async def test_the_transcript_is_sent_the_bytes_and_model(
    stt: FakeTranscriptionServer, tmp_path: Path
) -> None:
    t = OpenAICompatibleTranscriber(stt.url, model="paraformer-zh", api_key="k")
    try:
        assert await t.transcribe(tmp_path / _stored(tmp_path), "audio/amr", "zh") == SPOKEN
    finally:
        await t.close()
    (sent,) = stt.received
    assert sent["file"] == AUDIO and sent["model"] == "paraformer-zh"
    assert sent["language"] == "zh" and sent["content_type"] == "audio/amr"


@pytest.mark.parametrize(
    ("setup", "key"),
    [
        ({"fail_status": 500}, "k"),
        ({"fail_status": 429}, "k"),
        ({}, "wrong key"),  # 401
        ({"stall_seconds": 1.0}, "k"),  # past the timeout
        ({"garbage": True}, "k"),
        ({"transcripts": {}}, "k"),  # heard nothing
    ],
)
async def test_failures_give_no_text(
    stt: FakeTranscriptionServer, tmp_path: Path, setup: dict[str, object], key: str
) -> None:
    for name, value in setup.items():
        setattr(stt, name, value)
    t = OpenAICompatibleTranscriber(stt.url, api_key=key, timeout=0.3)
    try:
        assert await t.transcribe(tmp_path / _stored(tmp_path), "audio/amr", "zh") == ""
    finally:
        await t.close()


async def test_unreachable_server_and_missing_file_give_no_text(tmp_path: Path) -> None:
    t = OpenAICompatibleTranscriber("http://127.0.0.1:9", timeout=0.5)
    try:
        assert await t.transcribe(tmp_path / _stored(tmp_path), "", "") == ""
        assert await t.transcribe(tmp_path / "missing.amr", "", "") == ""
    finally:
        await t.close()


async def _intake(
    db: Database, tmp_path: Path, url: str
) -> tuple[Intake, OpenAICompatibleTranscriber]:
    intake = make_intake(db, FixedClock())
    intake.attachments_dir = tmp_path
    transcriber = OpenAICompatibleTranscriber(url, api_key="k", timeout=1.0)
    intake.transcriber = transcriber
    return intake, transcriber


async def test_a_spoken_answer_is_read_back_and_recorded(
    db: Database, stt: FakeTranscriptionServer, tmp_path: Path
) -> None:
    intake, transcriber = await _intake(db, tmp_path, stt.url)
    address = Address("wechat", "o-elderly")
    try:
        await intake.handle(message(address, "新建"))
        await intake.handle(message(address, "申诉求决"))  # then the contact question
        voice = Attachment("voice", _stored(tmp_path), mime="audio/amr", recognition="")
        result = await intake.handle(message(address, attachment=voice))
    finally:
        await transcriber.close()
    text = "\n".join(r.text for r in result.replies)
    assert f"识别内容为：“{SPOKEN}”" in text and "已记录姓名（名称）：王秀英" in text
    state = await state_of(db, address)
    assert state is not None and state["draft"]["answers"]["name"] == "王秀英"
    assert state["draft"]["attachments"] == []  # a spoken name is its text, not material


async def test_without_a_transcript_the_voice_is_kept_and_text_asked_for(
    db: Database, stt: FakeTranscriptionServer, tmp_path: Path
) -> None:
    stt.fail_status = 503
    intake, transcriber = await _intake(db, tmp_path, stt.url)
    address = Address("wechat", "o-elderly-2")
    try:
        await intake.handle(message(address, "新建"))
        await intake.handle(message(address, "申诉求决"))
        voice = Attachment("voice", _stored(tmp_path), mime="audio/amr", recognition="")
        result = await intake.handle(message(address, attachment=voice))
    finally:
        await transcriber.close()
    assert "语音暂时不能转成文字" in "\n".join(r.text for r in result.replies)
    state = await state_of(db, address)
    assert state is not None and "name" not in state["draft"]["answers"]
