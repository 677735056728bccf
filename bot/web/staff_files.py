"""What the registration page and the API share: the desk on the application, multipart
forms with files (streamed to disk within the upload limits), and field problems worded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from bot.cases.staff_registration import MAX_FILES, Problem, StoredFile
from bot.clock import utc_now
from bot.dialogs.texts import Texts
from bot.staff.registration_desk import ACCEPTED_TYPES, RegistrationDesk
from bot.storage.files import TooLarge, remove, save_stream
from bot.web.i18n import translate

DESK = web.AppKey("registration_desk", RegistrationDesk)
MAX_FIELD_CHARS = 25_000  # a text part of a form (the facts may be 20 000 characters)
MAX_FIELDS = 100


class UploadRefused(Exception):
    """A file of the form was refused: ``code`` is too_big, file_type, too_many_files or
    malformed; the files already written are removed."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass
class UploadForm:
    """A multipart form read: its text fields (the last value of each name, and every
    value) and the files written under the attachments directory."""

    values: dict[str, list[str]] = field(default_factory=dict)
    files: list[StoredFile] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        """The last value given for ``name``."""
        found = self.values.get(name)
        return found[-1] if found else default


async def read_upload_form(
    reader: MultipartReader, root: Path, max_bytes: int, *, file_names: tuple[str, ...]
) -> UploadForm:
    """Every part of the form; parts named in ``file_names`` with a file are stored (at
    most MAX_FILES, each at most ``max_bytes``, of ACCEPTED_TYPES); UploadRefused else."""
    form = UploadForm()
    try:
        fields = 0
        while (part := await _next(reader)) is not None:
            if not isinstance(part, BodyPartReader):
                raise UploadRefused("malformed")
            fields += 1
            if fields > MAX_FIELDS + MAX_FILES:
                raise UploadRefused("malformed")
            name = part.name or ""
            if name in file_names and part.filename is not None:
                stored = await _store(part, root, max_bytes)
                if stored is not None:
                    form.files.append(stored)
                if len(form.files) > MAX_FILES:
                    raise UploadRefused("too_many_files", max=MAX_FILES)
                continue
            try:
                text = await part.text()
            except (UnicodeDecodeError, LookupError):  # not UTF-8, or an unknown charset
                raise UploadRefused("malformed") from None
            if len(text) > MAX_FIELD_CHARS or "\x00" in text:
                raise UploadRefused("malformed")
            form.values.setdefault(name, []).append(text)
    except BaseException:
        for f in form.files:
            remove(root, f.media_ref)
        raise
    return form


async def _next(reader: MultipartReader) -> object:
    """The next part; a body aiohttp cannot parse (bad headers, bad boundaries) is refused."""
    try:
        return await reader.next()
    except (HttpProcessingError, ValueError):
        raise UploadRefused("malformed") from None


async def _store(part: BodyPartReader, root: Path, max_bytes: int) -> StoredFile | None:
    filename = part.filename or ""
    if "\x00" in filename:
        raise UploadRefused("malformed")
    mime = part.headers.get("Content-Type", "application/octet-stream").lower()
    mime = mime.split(";")[0].strip()
    if not filename:  # a file input left empty: browsers send an empty part
        await part.release()
        return None
    if not mime.startswith(ACCEPTED_TYPES):
        raise UploadRefused("file_type")
    try:
        key, size = await save_stream(root, filename, _chunks(part), max_bytes, utc_now())
    except TooLarge:
        raise UploadRefused("too_big", mb=max(max_bytes // 1_048_576, 1)) from None
    if size == 0:
        remove(root, key)
        return None
    return StoredFile(media_ref=key, size=size, mime=mime, filename=filename[:200])


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(65536):
        yield chunk


def problem_text(problem: Problem, lang: str, texts: Texts) -> str:
    """Why a field was refused, in ``lang``: the chat's own words for an answer a field
    kind refused (``invalid.*``), the console's for the rest (``register.*``)."""
    if problem.key.startswith("register."):
        return translate(lang, problem.key, **problem.params)
    try:
        return texts.get(lang, problem.key, **problem.params)
    except (KeyError, IndexError):
        return problem.key


def upload_refusal_text(exc: UploadRefused, lang: str) -> str:
    """A refused upload in words."""
    return translate(lang, f"register.upload.{exc.code}", **exc.params)
