"""Template messages per WeChat's rules of May 2023: typed keyword fields, no header or remark.

Since 2023-05-04 a template message shows only its keyword fields; ``first`` and
``remark`` are gone and colours are ignored, and each field's value is limited by its
type (``thing`` at most 20 characters, ``phrase`` at most 5 汉字, ``character_string``
at most 32 letters, digits and symbols, ``time`` a 24-hour date or time, ...).
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Operation_Specifications.html

config/wechat.yaml names the template's fields with their types and a format string
each; every notice kind (the push text key: ``push.accepted``, ``followup.ask``, ...)
supplies its words (``status``, ``thing``) and may map the fields differently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.tracking import format_tracking_no

DEFAULT_KIND = "default"
REMOVED_FIELDS = frozenset({"first", "remark"})  # removed by WeChat in May 2023
SAMPLE = {  # what a real notice fills in, for the start-up check
    "tracking_no": "XF261121-048273-5",
    "time": "2026年11月21日 09:30",
    "text": "您的信访事项有新进展",
}
_CANONICAL_NO = re.compile(r"^XF\d{13}$")  # bot/cases/tracking.py: XF + 12 digits + check
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
_ASCII_STRING = re.compile(r"^[\x21-\x7e]+$")  # letters, digits and symbols, no spaces
_TIME = re.compile(r"^(\d{4}年\d{1,2}月\d{1,2}日( \d{1,2}:\d{2})?|\d{1,2}:\d{2})$")
_NUMBER = re.compile(r"^\d{1,32}(\.\d+)?$")
_LETTER = re.compile(r"^[A-Za-z]{1,32}$")
_AMOUNT = re.compile(r"^[¥$￥]?\d{1,10}(\.\d{1,2})?元?$")
_PHONE = re.compile(r"^[\d+\-() ]{1,17}$")
_LATIN_NAME = re.compile(r"^[A-Za-z ]{1,20}$")


class TemplateError(Exception):
    """A template field's value breaks its type's rule, or the configuration is invalid."""


def _check_name(value: str) -> str:
    if (_CJK.match(value) and len(value) <= 10) or _LATIN_NAME.match(value):
        return ""
    return "at most 10 汉字 or 20 letters"


# type -> a check returning "" or what is wrong; limits from the 2023 field rules
CHECKS: dict[str, Callable[[str], str]] = {
    "thing": lambda v: "" if len(v) <= 20 else "at most 20 characters",
    "phrase": lambda v: "" if _CJK.match(v) and len(v) <= 5 else "at most 5 汉字, 汉字 only",
    "character_string": lambda v: (
        "" if _ASCII_STRING.match(v) and len(v) <= 32 else "at most 32 ASCII letters/digits"
    ),
    "time": lambda v: "" if _TIME.match(v) else "a 24-hour date/time like 2023年5月4日 15:01",
    "number": lambda v: "" if _NUMBER.match(v) else "at most 32 digits",
    "letter": lambda v: "" if _LETTER.match(v) else "at most 32 letters",
    "amount": lambda v: "" if _AMOUNT.match(v) else "an amount like ¥12.50 or 12元",
    "phone_number": lambda v: "" if _PHONE.match(v) else "at most 17 digits and symbols",
    "car_number": lambda v: "" if 0 < len(v) <= 8 else "at most 8 characters",
    "name": _check_name,
    "const": lambda v: "" if len(v) <= 20 else "at most 20 characters",
}


@dataclass(frozen=True, slots=True)
class TemplateField:
    """One keyword field of the template: its type and a format string over the notice."""

    type: str
    value: str


@dataclass(frozen=True, slots=True)
class Notice:
    """A notice kind's words (status, thing, ...) and the fields it fills."""

    words: dict[str, str]
    fields: dict[str, TemplateField]


@dataclass(frozen=True, slots=True)
class Templates:
    """The template configuration: per notice kind, the fields and their words."""

    notices: dict[str, Notice]

    def notice(self, kind: str) -> Notice:
        """The notice kind's configuration, or the default one."""
        return self.notices.get(kind) or self.notices[DEFAULT_KIND]

    def data(self, kind: str, values: Mapping[str, str], *, fit: bool = True) -> dict[str, str]:
        """The template's data for one notice; TemplateError when a value breaks its type.

        ``fit``: free text (``thing``) is shortened to its limit; the start-up check turns
        it off, so that configured words that are too long are reported, not cut.
        """
        notice = self.notice(kind)
        context = _Blank({**values, **notice.words})
        data: dict[str, str] = {}
        for name, spec in notice.fields.items():
            value = spec.value.format_map(context).strip()
            if fit:
                value = _fit(spec.type, value)
            problem = CHECKS[spec.type](value) if value else "empty"
            if problem:
                raise TemplateError(f"template field {name} ({spec.type}) {value!r}: {problem}")
            data[name] = value
        return data


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _fit(kind: str, value: str) -> str:
    """Shorten free text to its type's limit; other types must fit as they are."""
    if kind == "thing" and len(value) > 20:
        return value[:19] + "…"
    return value


def parse_templates(data: Mapping[str, Any], where: str) -> Templates:
    """Read the ``template`` block of config/wechat.yaml, checking every notice's fields."""
    default_fields = _parse_fields(data.get("fields") or {}, where)
    notices: dict[str, Notice] = {}
    raw_notices = data.get("notices") or {}
    if not isinstance(raw_notices, dict):
        raise TemplateError(f"{where}: template.notices must map notice kinds to their words")
    raw_notices = {DEFAULT_KIND: {}, **raw_notices}
    for kind, spec in raw_notices.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise TemplateError(f"{where}: template notice {kind} must be a mapping")
        fields = (
            _parse_fields(spec["fields"], f"{where}: {kind}")
            if "fields" in spec
            else default_fields
        )
        words = {str(k): str(v) for k, v in spec.items() if k != "fields"}
        notices[str(kind)] = Notice(words, fields)
    templates = Templates(notices)
    for kind, notice in notices.items():
        if not notice.fields:
            continue
        try:
            templates.data(kind, SAMPLE, fit=False)
        except TemplateError as exc:
            raise TemplateError(f"{where}: notice {kind}: {exc}") from None
    return templates


def _parse_fields(raw: Any, where: str) -> dict[str, TemplateField]:
    if not isinstance(raw, dict):
        raise TemplateError(f"{where}: template fields must be a mapping")
    fields: dict[str, TemplateField] = {}
    for name, spec in raw.items():
        if str(name) in REMOVED_FIELDS:
            raise TemplateError(f"{where}: template field {name} was removed by WeChat in 2023")
        if not isinstance(spec, dict) or "value" not in spec or "type" not in spec:
            raise TemplateError(f"{where}: template field {name} needs a type and a value")
        if "color" in spec:
            raise TemplateError(f"{where}: template field {name}: colours are ignored since 2023")
        kind = str(spec["type"])
        if kind not in CHECKS:
            raise TemplateError(f"{where}: template field {name}: unknown type {kind}")
        fields[str(name)] = TemplateField(kind, str(spec["value"]))
    return fields


def notice_values(
    template: Mapping[str, Any], text: str, tz: ZoneInfo, now: datetime
) -> dict[str, str]:
    """The values a notice fills in: its data, the formatted number, its time, its text."""
    values = {str(k): str(v) for k, v in template.items() if v is not None}
    tracking_no = str(template.get("tracking_no") or "")
    if _CANONICAL_NO.match(tracking_no):  # anything else is shown as it came
        values["tracking_no"] = format_tracking_no(tracking_no)
    at = now
    if template.get("at"):
        try:
            at = datetime.fromisoformat(str(template["at"]))
        except ValueError:
            at = now
    values["time"] = at.astimezone(tz).strftime("%Y年%m月%d日 %H:%M")
    values["text"] = text.split("\n", 1)[0]
    return values
