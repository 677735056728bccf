"""The `xinfang` command line (also `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import socket
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import jinja2
from aiohttp import web

from bot.app import build_services, create_app
from bot.cases.document_pdf import missing_fonts
from bot.cases.documents import DocumentConfigError
from bot.channels import registry
from bot.channels.sms_templates import SmsConfigError
from bot.channels.sms_templates import load_config as load_sms_config
from bot.channels.wechat_config import WeChatConfigError
from bot.channels.wechat_config import load_config as load_wechat_config
from bot.dialogs.form import FormError
from bot.logging import configure_logging, get_logger
from bot.outbox_cli import add_cli as add_outbox_cli
from bot.settings import Settings, SettingsError, load_settings
from bot.staff.broadcast_cli import add_cli as add_broadcast_cli
from bot.staff.canned import CannedError, load_canned
from bot.staff.case_cli import add_cli as add_case_cli
from bot.staff.cli import add_cli as add_staff_cli
from bot.storage import migrate

log = get_logger("bot.cli")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    services = build_services(settings)
    app = create_app(services)
    app.on_startup.append(_freeze_startup_objects)  # last: after the app's own startup
    host, port = args.host or settings.host, args.port or settings.port
    timeout = args.shutdown_timeout
    if timeout is None:
        timeout = settings.shutdown_timeout_seconds
    log.info("serve.starting", host=host, port=port, database=services.db.dialect)
    missing = missing_fonts()
    if missing:  # documents would print Chinese as empty boxes
        log.warning("documents.fonts_missing", fonts=missing, hint="install fonts-noto-cjk")
    web.run_app(
        app,
        host=host,
        port=port,
        print=None,
        shutdown_timeout=timeout,
        access_log=None,
    )
    return 0


async def _freeze_startup_objects(_app: web.Application) -> None:
    """Move everything built at startup out of the garbage collector's sight.

    Configuration, templates, SQL caches and the libraries' module state live as long as
    the process; without this every full collection walks all of them again, which cost
    about a tenth of the webhook's CPU under load (docs/benchmarks.md). Objects created
    later are collected as usual. https://docs.python.org/3/library/gc.html#gc.freeze
    """
    gc.collect()
    gc.freeze()


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.channels.terminal import TerminalChat

    services = build_services(settings)

    async def main() -> None:
        await migrate.ensure_schema(services.db, auto_upgrade=settings.auto_migrate)
        user = args.user or f"{getpass.getuser()}@{socket.gethostname()}"
        try:
            await TerminalChat(services.intake, services.db, user).run()
        finally:
            await services.db.dispose()

    asyncio.run(main())
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.storage.db import Database

    db = Database(settings.effective_database_url)

    async def main() -> None:
        try:
            if args.action == "upgrade":
                await migrate.upgrade(db, args.revision or "head")
            elif args.action == "downgrade":
                await migrate.downgrade(db, args.revision or "-1")
            current = await migrate.current_revision(db)
            print(f"schema at {current or 'nothing'} (code expects {migrate.head_revision()})")
        finally:
            await db.dispose()

    asyncio.run(main())
    return 0


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from bot.storage.backup import BackupError, backup_sqlite, sqlite_path

    try:
        source = sqlite_path(settings.effective_database_url)
        pages = backup_sqlite(source, args.path)
    except (BackupError, sqlite3.Error) as exc:
        print(f"xinfang: backup failed: {exc}", file=sys.stderr)
        return 2
    print(f"backed up {source} to {args.path} ({pages} pages, integrity ok)")
    return 0


def _check_config(settings: Settings, _args: argparse.Namespace) -> int:
    services = build_services(settings)
    form = services.engine.forms.current()
    print(f"settings ok; database {services.db.dialect}; form {form.id} v{form.version} ok")
    for spec in registry.CHANNELS:
        state = "on" if spec.name in services.channels else "off"
        needs = f" (set {', '.join(spec.settings)})" if state == "off" and spec.settings else ""
        print(f"channel {spec.name}: {state}{needs}")
    # config/wechat.yaml and config/sms.yaml are checked even while their channel is off:
    # they are what turning it on reads
    wechat = load_wechat_config(settings.config_dir)
    problems = wechat.preselect_problems(form)
    if problems:
        raise WeChatConfigError("; ".join(problems))
    kinds = len(wechat.templates.notices)
    print(f"wechat.yaml ok: menu, template fields within their type limits for {kinds} notices")
    documents = services.documents
    for kind in documents.config.kinds:  # a template that does not compile fails here
        documents.files.renderer.env.get_template(f"{kind}.html")
    print(f"documents.yaml ok: {len(documents.config.kinds)} kinds, templates compile")
    missing = missing_fonts()
    if missing:
        print(f"warning: fonts missing for documents: {', '.join(missing)} (fonts-noto-cjk)")
    canned = load_canned(settings.config_dir)  # CannedError (a ValueError) names the entry
    counts = ", ".join(f"{g} {len(items)}" for g, items in canned.groups.items())
    print(f"canned.yaml ok: {counts or 'no canned texts'}")
    sms = load_sms_config(settings.config_dir)
    links = sms.check_links(settings.public_url)
    if links and settings.sms_enabled:
        raise SmsConfigError("; ".join(links))
    print(f"sms.yaml ok: signature, {len(sms.templates)} templates within Tencent's limits")
    print(
        f"wechat.yaml: {len(wechat.subscribe)} subscription templates, "
        f"{len(wechat.scenes or {})} QR scenes"
    )
    if settings.wechat_enabled and wechat.pages() and not settings.public_url:
        # the menu's case page button is built on the public origin (网页授权 redirect)
        raise WeChatConfigError("the menu opens the case page: set XINFANG_PUBLIC_URL")
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for --help tests and docs)."""
    p = argparse.ArgumentParser(
        prog="xinfang",
        description="xinfang-bot: petition intake over WeChat, Telegram and web chat. "
        "Settings come from XINFANG_* environment variables (see README).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web server and the outbox worker")
    serve.add_argument("--host", help="listen address (default XINFANG_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default XINFANG_PORT or 8080)")
    serve.add_argument(
        "--shutdown-timeout",
        type=float,
        help="seconds in-flight requests get to finish on SIGTERM "
        "(default XINFANG_SHUTDOWN_TIMEOUT_SECONDS or 10)",
    )
    serve.set_defaults(func=_serve)

    chat = sub.add_parser("chat", help="talk to the bot in this terminal (same engine and data)")
    chat.add_argument("--user", help="the citizen identity to use (default user@host)")
    chat.set_defaults(func=_chat)

    mig = sub.add_parser("migrate", help="apply or revert database migrations")
    mig.add_argument(
        "action", nargs="?", default="upgrade", choices=["upgrade", "downgrade", "current"]
    )
    mig.add_argument("revision", nargs="?", help="target revision (default head / one step)")
    mig.set_defaults(func=_migrate)

    backup = sub.add_parser(
        "backup", help="copy the SQLite database to PATH while the bot runs (online backup)"
    )
    backup.add_argument("path", type=Path, help="the new backup file (must not exist)")
    backup.set_defaults(func=_backup)

    check = sub.add_parser("check-config", help="validate settings, forms and texts, then exit")
    check.set_defaults(func=_check_config)
    add_case_cli(sub)
    add_outbox_cli(sub)
    add_staff_cli(sub)
    add_broadcast_cli(sub)
    for spec in registry.CHANNELS:
        if spec.add_cli is not None:
            spec.add_cli(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `xinfang` console script."""
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"xinfang: {exc}", file=sys.stderr)
        return 2
    log_file = None
    if args.command == "chat":  # the conversation owns the terminal: logs go to a file
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        log_file = settings.data_dir / "chat.log"
    configure_logging(settings.log_level, settings.log_json, log_file)
    try:
        return int(args.func(settings, args))
    except FormError as exc:
        print(f"xinfang: invalid form configuration: {exc}", file=sys.stderr)
        return 2
    except migrate.SchemaOutOfDate as exc:
        print(f"xinfang: {exc}", file=sys.stderr)
        return 2
    except WeChatConfigError as exc:
        print(f"xinfang: invalid WeChat configuration: {exc}", file=sys.stderr)
        return 2
    except (DocumentConfigError, jinja2.TemplateError) as exc:
        print(f"xinfang: invalid document configuration: {exc}", file=sys.stderr)
        return 2
    except CannedError as exc:
        print(f"xinfang: invalid canned texts: {exc}", file=sys.stderr)
        return 2
    except SmsConfigError as exc:
        print(f"xinfang: invalid SMS configuration: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
