"""`xinfang case register …`: 登记 a petition received by letter, visit or phone from the
command line, through the same registration function as the console and the API.

Answers are given as ``--answer field=text`` (the intake form's field names, see
config/forms) or in a JSON/YAML file; scans with ``--file`` (within the upload limits).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.cases.service import LifecycleService
from bot.cases.staff_registration import InvalidPetition, Petition, StoredFile, register_petition
from bot.clock import utc_now
from bot.dialogs.form import load_forms
from bot.dialogs.texts import Texts
from bot.domain.arrival import ARRIVAL_CHANNELS
from bot.domain.tracking import format_tracking_no
from bot.storage import cases
from bot.storage.files import TooLarge, remove, save_stream
from bot.uploads import ACCEPTED_TYPES


def add_register(cmds: Any) -> None:
    """The `register` subcommand of `xinfang case`."""
    p: argparse.ArgumentParser = cmds.add_parser(
        "register",
        help="登记: register a petition received by letter, visit or phone",
        description=(
            "Register a petition received by letter (来信), visit (来访) or phone (来电), "
            "checked with the chat's intake form. Example: xinfang case --actor staff:li "
            "register --channel letter --received-on 2026-11-20 "
            "--answer appeal_type=申诉求决 --answer name=张三 --answer phone=13812345678 … "
            "--file scan.jpg"
        ),
    )
    p.add_argument("--channel", required=True, choices=ARRIVAL_CHANNELS, help="how it came")
    p.add_argument(
        "--received-on",
        required=True,
        type=date.fromisoformat,
        help="the day it arrived, YYYY-MM-DD (the clocks start there)",
    )
    p.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="FIELD=TEXT",
        help="one answer of the intake form (repeat for each field)",
    )
    p.add_argument("--answers-file", help="the answers as a JSON or YAML mapping")
    p.add_argument(
        "--file", action="append", default=[], help="a scan or material (repeat for several)"
    )
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="petitioner's language")
    p.set_defaults(handler=register)


async def register(svc: LifecycleService, args: argparse.Namespace) -> str:
    """Register the petition of the command line; the files are copied in first."""
    settings = args.settings
    answers = _answers(args)
    petition = Petition(args.channel, args.received_on, answers, args.lang)
    form = load_forms(settings.config_dir).current("intake")
    root = settings.attachments_dir
    files: list[StoredFile] = []
    now = svc.clock()
    try:
        for name in args.file:
            files.append(await _store(Path(name), root, settings.max_upload_bytes))
        async with svc.db.transaction() as conn:
            done = await register_petition(
                conn,
                form=form,
                petition=petition,
                actor=args.actor,
                now=now,
                tz=svc.tz,
                enrich=svc.registrar.enrich,
                files=files,
            )
            case = await cases.by_tracking_no(conn, done.tracking_no)
    except BaseException:
        for f in files:
            remove(root, f.media_ref)
        raise
    assert case is not None
    due = case.due_at.astimezone(svc.tz).date().isoformat() if case.due_at else "-"
    return (
        f"{format_tracking_no(done.tracking_no)}: registered ({args.channel} received "
        f"{args.received_on.isoformat()}, acceptance due {due}); department "
        f"{case.department or '-'}; notices by {done.notice_channel}; {len(files)} file(s)"
    )


def refused_text(exc: InvalidPetition, texts: Texts) -> str:
    """Every problem of a refused petition, one per line (the chat's words where it has
    them, else the problem's key)."""
    lines = ["xinfang case register: the petition was not registered:"]
    for p in exc.problems:
        try:
            why = p.key if p.key.startswith("register.") else texts.get("zh", p.key, **p.params)
        except (KeyError, IndexError):
            why = p.key
        lines.append(f"  {p.field}: {why}")
    return "\n".join(lines)


def _answers(args: argparse.Namespace) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    if args.answers_file:
        text = Path(args.answers_file).read_text(encoding="utf-8")
        loaded = json.loads(text) if args.answers_file.endswith(".json") else yaml.safe_load(text)
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.answers_file}: not a mapping of field to answer")
        answers.update({str(k): v for k, v in loaded.items()})
    for item in args.answer:
        name, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--answer {item!r}: write FIELD=TEXT")
        answers[name.strip()] = text
    return answers


async def _store(path: Path, root: Path, max_bytes: int) -> StoredFile:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if not mime.startswith(ACCEPTED_TYPES):
        raise ValueError(f"{path}: this kind of file is not accepted ({mime})")
    try:
        key, size = await save_stream(root, path.name, _read(path), max_bytes, utc_now())
    except TooLarge:
        raise ValueError(f"{path}: larger than {max_bytes} bytes") from None
    return StoredFile(media_ref=key, size=size, mime=mime, filename=path.name)


async def _read(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(65536):
            yield chunk
