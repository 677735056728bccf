"""`xinfang wechat …`: install the custom menu, make parametric QR codes for posters."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.channels.wechat_api import WeChatApi, WeChatApiError, WeChatTransportError
from bot.channels.wechat_config import MAX_SCENE_CHARS, WeChatConfigError, load_config
from bot.channels.wechat_oauth import authorize_url
from bot.settings import Settings
from bot.storage.db import Database

MAX_TEMPORARY_DAYS = 30  # QR_STR_SCENE: expire_seconds of at most 2592000
# what showqrcode may answer, by the image's first bytes
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg"}


def add_cli(sub: Any) -> None:
    """Add `xinfang wechat menu` and `xinfang wechat qrcode` to the command line."""
    wechat = sub.add_parser("wechat", help="WeChat Official Account administration")
    actions = wechat.add_subparsers(dest="wechat_action", required=True, metavar="ACTION")
    menu = actions.add_parser("menu", help="install the custom menu from config/wechat.yaml")
    menu.set_defaults(func=_cli_menu)
    qr = actions.add_parser(
        "qrcode",
        help="make a parametric QR code (a poster's scene, greeted as config/wechat.yaml says)",
    )
    qr.add_argument("--scene", required=True, help="the scene_str, 1 to 64 characters")
    qr.add_argument(
        "--temporary",
        type=int,
        metavar="DAYS",
        help=f"a temporary code valid 1 to {MAX_TEMPORARY_DAYS} days (default: permanent)",
    )
    qr.add_argument("--out", required=True, type=Path, help="the image file to write (.png)")
    qr.set_defaults(func=_cli_qrcode)


def _fail(message: str, code: int = 1) -> int:
    print(f"xinfang: {message}", file=sys.stderr)
    return code


def _with_api(settings: Settings, job: Callable[[WeChatApi], Awaitable[int]]) -> int:
    """Run ``job`` with an API client on the bot's database (which shares the token)."""
    from bot.storage.migrate import ensure_schema

    if not (settings.wechat_app_id and settings.wechat_app_secret):
        return _fail("set XINFANG_WECHAT_APP_ID and XINFANG_WECHAT_APP_SECRET first", 2)

    async def main() -> int:
        db = Database(settings.effective_database_url)
        await ensure_schema(db, auto_upgrade=settings.auto_migrate)
        api = WeChatApi(
            db,
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret,
            api_base=settings.wechat_api_base,
            mp_base=settings.wechat_mp_base,
        )
        try:
            return await job(api)
        finally:
            await api.close()
            await db.dispose()

    return asyncio.run(main())


def _cli_menu(settings: Settings, _args: Any) -> int:
    config = load_config(settings.config_dir)
    public = settings.public_url.rstrip("/")
    page_url = None
    if public:

        def page_url(path: str) -> str:
            # the case page through 网页授权: the follower is known without a login
            return authorize_url(settings.wechat_oauth_base, settings.wechat_app_id, public + path)

    try:
        menu = config.menu(page_url)
    except WeChatConfigError as exc:
        return _fail(str(exc), 2)

    async def job(api: WeChatApi) -> int:
        try:
            await api.create_menu(menu)
        except (WeChatApiError, WeChatTransportError) as exc:
            return _fail(f"menu not installed: {exc}")
        names = " / ".join(str(b["name"]) for b in config.buttons)
        print(f"menu installed: {names}")
        return 0

    return _with_api(settings, job)


def _cli_qrcode(settings: Settings, args: Any) -> int:
    scene = str(args.scene)
    if not 1 <= len(scene) <= MAX_SCENE_CHARS:
        return _fail(f"--scene must be 1 to {MAX_SCENE_CHARS} characters", 2)
    days = args.temporary
    if days is not None and not 1 <= days <= MAX_TEMPORARY_DAYS:
        return _fail(f"--temporary must be 1 to {MAX_TEMPORARY_DAYS} days", 2)
    known = load_config(settings.config_dir).scene(scene) is not None

    async def job(api: WeChatApi) -> int:
        try:
            created = await api.create_qrcode(scene, days * 86400 if days else None)
            image = await api.show_qrcode(str(created.get("ticket") or ""))
        except (WeChatApiError, WeChatTransportError) as exc:
            return _fail(f"QR code not made: {exc}")
        suffix = next((s for magic, s in IMAGE_TYPES.items() if image.startswith(magic)), "")
        if not suffix:
            return _fail("showqrcode answered something that is not a PNG or JPEG image")
        out: Path = args.out
        if out.suffix.lower() not in (suffix, ".jpeg" if suffix == ".jpg" else suffix):
            out = out.with_suffix(suffix)  # the name says what the file is
        out.write_bytes(image)
        kind = f"temporary, {days} days" if days else "permanent"
        print(f"QR code for scene {scene} ({kind}) written to {out}")
        if not known:
            print(f"note: scene {scene} has no greeting in config/wechat.yaml (scenes:)")
        return 0

    return _with_api(settings, job)
