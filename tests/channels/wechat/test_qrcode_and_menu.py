"""`xinfang wechat qrcode` makes a poster's parametric QR code through the fake API, and the
menu in config/wechat.yaml is held to WeChat's limits (3 × 5 buttons, name bytes, click
keys, view buttons to a URL or to the case page) before menu/create ever sees it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.channels.wechat_config import WeChatConfigError, check_menu, parse_config
from bot.dialogs.engine import load_engine_config
from tests.conftest import CONFIG_DIR
from tests.fakes_wechat import FakeWeChat

COMMANDS = {"XF_NEW": "new", "XF_HELP": "help"}
PNG = b"\x89PNG\r\n\x1a\n"


async def run_cli(fake: FakeWeChat, tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    full_env = {
        **os.environ,
        "XINFANG_DATA_DIR": str(tmp_path),
        "XINFANG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}",
        "XINFANG_WECHAT_TOKEN": "t",
        "XINFANG_WECHAT_APP_ID": fake.app_id,
        "XINFANG_WECHAT_APP_SECRET": fake.app_secret,
        "XINFANG_WECHAT_API_BASE": fake.url,
        "XINFANG_WECHAT_MP_BASE": fake.url,
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_a_permanent_qr_code_for_a_hall_poster(fake: FakeWeChat, tmp_path: Path) -> None:
    target = tmp_path / "hall-xihu.png"
    code, out = await run_cli(
        fake, tmp_path, "wechat", "qrcode", "--scene", "hall-xihu", "--out", str(target)
    )
    assert code == 0, out
    assert target.read_bytes().startswith(PNG)
    (body,) = fake.qrcodes.values()
    assert body == {
        "action_name": "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": "hall-xihu"}},
    }
    assert "permanent" in out and "note:" not in out  # the scene has a greeting


async def test_a_temporary_qr_code_names_its_days(fake: FakeWeChat, tmp_path: Path) -> None:
    target = tmp_path / "event.png"
    code, out = await run_cli(
        fake,
        tmp_path,
        "wechat",
        "qrcode",
        "--scene",
        "open-day-2026",
        "--temporary",
        "7",
        "--out",
        str(target),
    )
    assert code == 0, out
    (body,) = fake.qrcodes.values()
    assert body["action_name"] == "QR_STR_SCENE" and body["expire_seconds"] == 7 * 86400
    assert target.read_bytes().startswith(PNG)
    assert "note: scene open-day-2026 has no greeting" in out


async def test_a_jpeg_from_showqrcode_is_written_as_jpeg(fake: FakeWeChat, tmp_path: Path) -> None:
    fake.qr_image = b"\xff\xd8\xff\xe0" + b"\x00" * 60
    code, out = await run_cli(
        fake, tmp_path, "wechat", "qrcode", "--scene", "hall-city", "--out", str(tmp_path / "q.png")
    )
    assert code == 0, out
    assert not (tmp_path / "q.png").exists()
    assert (tmp_path / "q.jpg").read_bytes().startswith(b"\xff\xd8\xff")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--scene", "x" * 65], "1 to 64"),
        (["--scene", "hall-xihu", "--temporary", "31"], "1 to 30 days"),
    ],
)
async def test_qr_arguments_are_checked_before_any_call(
    fake: FakeWeChat, tmp_path: Path, args: list[str], problem: str
) -> None:
    out_file = str(tmp_path / "q.png")
    code, out = await run_cli(fake, tmp_path, "wechat", "qrcode", *args, "--out", out_file)
    assert code == 2 and problem in out
    assert fake.qrcodes == {} and fake.token_requests == 0


def view(**fields: Any) -> dict[str, Any]:
    return {"type": "view", "name": "我的事项", **fields}


CLICK = {"type": "click", "name": "新建", "key": "XF_NEW"}
BROKEN_MENUS: dict[str, tuple[list[Any], str]] = {
    "four buttons": ([CLICK, CLICK, CLICK, CLICK], "1 to 3 buttons"),
    "six sub-buttons": ([{"name": "更多", "sub_button": [CLICK] * 6}], "1 to 5 sub-buttons"),
    "no sub-buttons": ([{"name": "更多", "sub_button": []}], "1 to 5 sub-buttons"),
    "a top name over 16 bytes": ([{**CLICK, "name": "新建信访投诉"}], "over 16 bytes"),
    "a sub name over 60 bytes": (
        [{"name": "更多", "sub_button": [{**CLICK, "name": "很" * 21}]}],
        "over 60 bytes",
    ),
    "nested groups": (
        [{"name": "更多", "sub_button": [{"name": "再多", "sub_button": [CLICK]}]}],
        "nest one level",
    ),
    "a click key without a command": ([{**CLICK, "key": "XF_NOPE"}], "has no command"),
    "a key over 128 bytes": ([{**CLICK, "key": "K" * 129}], "1 to 128 bytes"),
    "an unknown type": ([{**CLICK, "type": "scancode_push"}], "click or view"),
    "a view with neither": ([view()], "a page or a url"),
    "a view with both": ([view(page="my", url="https://a.example/")], "a page or a url"),
    "an unknown page": ([view(page="admin")], "unknown page"),
    "a url that is no web page": ([view(url="javascript:alert(1)")], "http(s) url"),
    "a url over 1024 bytes": ([view(url="https://a.example/" + "x" * 1010)], "1024 bytes"),
}


@pytest.mark.parametrize("name", list(BROKEN_MENUS))
def test_menu_limits(name: str) -> None:
    buttons, problem = BROKEN_MENUS[name]
    with pytest.raises(WeChatConfigError, match=re.escape(problem)):
        check_menu(buttons, COMMANDS, "wechat.yaml")


def test_the_largest_menu_wechat_allows_passes() -> None:
    group = {"name": "办事指南", "sub_button": [CLICK, view(page="my"), CLICK, CLICK, CLICK]}
    check_menu([group, view(url="https://a.example/guide"), group], COMMANDS, "wechat.yaml")


async def test_check_config_wants_the_public_url_for_the_case_page_button(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    env = {
        **os.environ,
        "XINFANG_CONFIG_DIR": str(config),
        "XINFANG_DATA_DIR": str(tmp_path),
        "XINFANG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}",
        "XINFANG_WECHAT_TOKEN": "t",
        "XINFANG_WECHAT_APP_ID": "wx-app",
    }
    for key in ("XINFANG_PUBLIC_URL", "XINFANG_SECRET_KEY"):
        env.pop(key, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check-config", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2 and "XINFANG_PUBLIC_URL" in err.decode()
    env.update(XINFANG_PUBLIC_URL="https://xf.example.gov.cn", XINFANG_SECRET_KEY="k" * 40)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check-config", env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and "2 QR scenes" in out.decode()


@pytest.mark.parametrize(
    ("preselect", "problem"),
    [
        ({"region": "330106"}, ""),
        ({"region": "330106", "category": "environment"}, ""),
        ({"region": "999999"}, "'999999' is not a choice of region"),
        ({"phone": "13900000000"}, "the form has no choice field phone"),
        ({"colour": "red"}, "the form has no choice field colour"),
    ],
)
def test_a_scene_pre_selects_only_what_the_form_offers(
    preselect: dict[str, str], problem: str
) -> None:
    """check-config refuses a poster that would pre-select what the form cannot take."""
    form = load_engine_config(CONFIG_DIR).forms.current()
    data = {
        "menu": {
            "buttons": [{"type": "click", "name": "新建", "key": "XF_NEW"}],
            "commands": COMMANDS,
        },
        "scenes": {"hall": {"zh": "欢迎", "preselect": preselect}},
    }
    config = parse_config(data, "wechat.yaml")
    assert config.scene("hall") is not None
    assert config.scene("hall").greeting == {"zh": "欢迎"}  # type: ignore[union-attr]
    assert config.preselect_problems(form) == ([f"scene hall: {problem}"] if problem else [])
