"""config/sms.yaml: the signature and one pre-approved template per notice kind.

Mainland SMS may only be sent through a signature (签名) and body templates (正文模板)
approved beforehand: the message is the approved text with its ``{1}``, ``{2}``, …
filled from ``TemplateParamSet`` in order. Tencent's rules checked here
(https://cloud.tencent.com/document/product/382/39023, /382/13301, /382/40653):

- a variable of a verification-code template is 0–6 digits only;
- a variable may not carry a link (InvalidParameterValue.ProhibitedUseUrlInTemplateParameter):
  the case page's address is a constant of the template, the variable only its path end;
- an individually verified account allows at most 12 characters per variable (汉字,
  letters, digits, punctuation and spaces count one each); an enterprise / government
  account has no such limit (``account: enterprise``), but a template is never only
  variables.

Each kind lists its parameters by name, in the template's order:
``tracking_no`` (XF + 13 digits), ``status`` (the kind's short status phrase),
``date`` (the notice's local date), ``due`` (the case's current deadline, local date),
``link`` (the signed case link after ``<XINFANG_PUBLIC_URL>/my/cases/``), ``code`` (a
verification code) and ``text`` (a broadcast's text, at most ``max_text_chars``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

# the notice kinds every office's table must have (check-config refuses it otherwise)
REQUIRED = (
    "push.accepted",  # 受理
    "push.rejected",  # 不予受理
    "push.transferred",  # 转送
    "push.extended",  # 延期
    "push.answered",  # 答复
    "push.reviewed",  # 复查意见
    "push.rechecked",  # 复核意见
    "push.staff_reply",  # 工作人员回复
    "broadcast",  # 群发通知
    "verification",  # /my 手机验证码
    "default",  # every other notice (交办, 办结, 回访, ...)
)
BROADCAST = "broadcast"
VERIFICATION = "verification"
DEFAULT = "default"
LINK_PATH = "/my/cases/"
# the longest value each parameter can take (``text``: max_text_chars; ``status``: its own)
PARAM_MAX = {"tracking_no": 15, "date": 10, "due": 10, "code": 6}
PARAMS = ("tracking_no", "status", "date", "due", "link", "code", "text")
INDIVIDUAL_LIMIT = 12  # characters per variable for an individually verified account
LINK_CHARS = 64  # tracking number + "?k=" + a case-link token (bot/case_links.py)
_PLACEHOLDER = re.compile(r"\{(\d+)\}")
_URLISH = re.compile(r"(https?://|www\.|\.(cn|com|net|org)\b)", re.IGNORECASE)
_SIGN = re.compile(r"^[\u4e00-\u9fffA-Za-z0-9]{2,12}$")


class SmsConfigError(Exception):
    """config/sms.yaml is missing, incomplete or breaks a template rule."""


@dataclass(frozen=True, slots=True)
class SmsTemplate:
    """One approved template: its id, its approved text, its parameters in order."""

    kind: str
    id: str
    text: str
    params: tuple[str, ...]
    status: str = ""  # the short status phrase of ``status``


@dataclass(frozen=True, slots=True)
class SmsConfig:
    """The signature, the account type and the template table."""

    sign_name: str
    account: str  # "enterprise" | "individual"
    max_text_chars: int
    templates: dict[str, SmsTemplate]

    def template(self, kind: str) -> SmsTemplate:
        """The template of a notice kind, else the default one."""
        return self.templates.get(kind) or self.templates[DEFAULT]

    def check_links(self, public_url: str) -> list[str]:
        """Templates with a ``link`` whose approved text lacks the case-page address."""
        prefix = public_url.rstrip("/") + LINK_PATH
        problems = []
        for t in self.templates.values():
            if "link" not in t.params:
                continue
            n = t.params.index("link") + 1
            if not public_url:
                problems.append(f"{t.kind}: a link needs XINFANG_PUBLIC_URL")
            elif prefix + "{" + str(n) + "}" not in t.text:
                problems.append(f"{t.kind}: the text must hold {prefix}{{{n}}} as approved")
        return problems


def load_config(config_dir: Path) -> SmsConfig:
    """Read and check config/sms.yaml."""
    path = config_dir / "sms.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SmsConfigError(f"{path}: {exc}") from exc
    return parse_config(data, str(path))


def parse_config(data: dict[str, Any], where: str = "sms.yaml") -> SmsConfig:
    """Check a template table against the rules above; every problem is reported."""
    sign = str(data.get("sign_name") or "")
    account = str(data.get("account") or "enterprise")
    max_text = int(data.get("max_text_chars") or 300)
    problems: list[str] = []
    if not _SIGN.match(sign):
        problems.append("sign_name: 2 to 12 汉字, letters or digits, as approved")
    if account not in ("enterprise", "individual"):
        problems.append("account: enterprise or individual")
    raw = data.get("templates") or {}
    templates: dict[str, SmsTemplate] = {}
    for kind, spec in raw.items() if isinstance(raw, dict) else []:
        if not isinstance(spec, dict):
            problems.append(f"{kind}: must be a mapping with id, text, params")
            continue
        t = SmsTemplate(
            kind=str(kind),
            id=str(spec.get("id") or ""),
            text=str(spec.get("text") or ""),
            params=tuple(str(p) for p in spec.get("params") or ()),
            status=str(spec.get("status") or ""),
        )
        problems += [f"{kind}: {p}" for p in _check(t, account, max_text)]
        templates[t.kind] = t
    missing = [k for k in REQUIRED if k not in templates]
    if missing:
        problems.append("missing templates for: " + ", ".join(missing))
    if problems:
        raise SmsConfigError(f"{where}: " + "; ".join(problems))
    return SmsConfig(sign, account, max_text, templates)


def _check(t: SmsTemplate, account: str, max_text: int) -> list[str]:
    problems = []
    if not t.id.isdigit():
        problems.append("id: the approved template's numeric id")
    unknown = [p for p in t.params if p not in PARAMS]
    if unknown:
        problems.append(f"unknown params {unknown} (known: {', '.join(PARAMS)})")
    numbers = sorted({int(n) for n in _PLACEHOLDER.findall(t.text)})
    if numbers != list(range(1, len(t.params) + 1)):
        problems.append(f"text has variables {numbers}, params name {len(t.params)}")
    if t.params and not _PLACEHOLDER.sub("", t.text).strip():
        problems.append("a template is never only variables")
    if "status" in t.params and not t.status:
        problems.append("status: the short phrase the status variable carries")
    if t.kind == VERIFICATION and t.params != ("code",):
        problems.append("a verification template carries the code alone")
    for param in t.params:
        if param not in PARAMS:
            continue  # reported above
        longest = _longest(param, t, max_text)
        if account == "individual" and longest > INDIVIDUAL_LIMIT:
            problems.append(
                f"{param} takes up to {longest} characters: an individually verified "
                f"account allows {INDIVIDUAL_LIMIT} per variable (use an enterprise account)"
            )
    if _URLISH.search(t.status):
        problems.append("status: no link in a variable")
    return problems


def _longest(param: str, t: SmsTemplate, max_text: int) -> int:
    if param == "status":
        return len(t.status)
    if param == "text":
        return max_text
    if param == "link":
        return LINK_CHARS
    return PARAM_MAX[param]


# -- filling a template ------------------------------------------------------------------


def link_tail(url: str, public_url: str) -> str:
    """The part of a signed case link after ``<public_url>/my/cases/`` ("" if not one)."""
    prefix = public_url.rstrip("/") + LINK_PATH
    return url[len(prefix) :] if public_url and url.startswith(prefix) else ""


def local_date(value: str, tz: ZoneInfo) -> str:
    """An ISO timestamp as the office's local date (2026-12-06), "-" when absent."""
    if not value:
        return "-"
    if len(value) == 10:  # a date already
        return value
    try:
        return datetime.fromisoformat(value).astimezone(tz).date().isoformat()
    except ValueError:
        return value[:10]


class FillError(Exception):
    """A parameter cannot be filled (no case number, no link, text too long)."""


def fill(
    t: SmsTemplate,
    data: dict[str, Any],
    text: str,
    *,
    public_url: str,
    tz: ZoneInfo,
    max_text_chars: int,
) -> list[str]:
    """The TemplateParamSet of template ``t`` for a notice (its template data and text)."""
    values: list[str] = []
    for param in t.params:
        if param == "tracking_no":
            value = str(data.get("tracking_no") or "")
        elif param == "status":
            value = t.status
        elif param == "date":
            value = local_date(str(data.get("at") or ""), tz)
        elif param == "due":
            value = local_date(str(data.get("due") or ""), tz)
        elif param == "link":
            value = link_tail(str(data.get("url") or ""), public_url)
        elif param == "code":
            value = str(data.get("code") or "")
        else:  # text
            value = " ".join(text.split())
            if len(value) > max_text_chars:
                raise FillError(f"text of {len(value)} characters, at most {max_text_chars}")
        if not value:
            raise FillError(f"{param} is empty (a notice without it cannot use {t.kind})")
        if param != "link" and _URLISH.search(value):
            raise FillError(f"{param} carries a link, which Tencent refuses in a variable")
        values.append(value)
    return values
