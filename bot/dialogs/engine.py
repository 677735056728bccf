"""The pure dialog engine: (config, state, event, clock) -> (state, replies, effect).

No I/O happens here. State is a plain JSON-serialisable dict (see :func:`new_state`):

``v``        schema version (1)
``lang``     "zh" | "en"
``seen``     ISO time of the last event, or null
``draft``    null (idle) or the petition being filled in::

    form_id, version   the form version the draft is pinned to
    answers            {field name: JSON value}; a skipped optional field holds null
    history            field names in the order they were answered (for 返回/back)
    current            field name, "__confirm__" (read-back) or "__edit__" (choosing an item)
    buffers            {field name: [text parts]} for longtext fields still being written
    attachments        [{kind, media_ref, mime, filename, size, recognition, field}
                        | {kind: "location", lat, lon, label, field}]
    started, updated   ISO times

``await``    null | {"kind": "tracking_no"} | {"kind": "verify", "tracking_no", "since"}
``pending``  null | {"effect": "lookup_case"|"list_cases"|"submit", "tracking_no", "verify"}
``failures`` ISO times of failed lookups (not found / mistyped / failed verification)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.cases.tracking import ParsedNumber, format_tracking_no, parse_tracking_no
from bot.dialogs import commands
from bot.dialogs.commands import Command
from bot.dialogs.form import ChoiceDef, FieldDef, Form, FormRegistry, I18n
from bot.dialogs.texts import Texts
from bot.dialogs.types import CaseView, Effect, Event, Resolution, StepResult, Submission
from bot.dialogs.validators import (
    Invalid,
    clean_text,
    match_choice,
    normalize_token,
    parse_count,
    parse_names,
    parse_phone,
    parse_text,
    parse_verify_digits,
)
from bot.messages import Attachment, Choice, Location, Reply

log = logging.getLogger(__name__)

STATE_VERSION = 1
CONFIRM = "__confirm__"
PICK_EDIT = "__edit__"
RESUME_AFTER = timedelta(hours=1)
VERIFY_TTL = timedelta(minutes=15)
MAX_ATTACHMENTS = 30
_TEXT_KINDS = frozenset({"text", "longtext", "place", "names"})

_MENU = (
    ChoiceDef("new", I18n("新建信访事项", "File a petition"), ("新建", "file a petition")),
    ChoiceDef("status", I18n("查询办理进度", "Check status"), ("查询", "进度", "check status")),
    ChoiceDef("my_cases", I18n("我的事项", "My cases"), ("我的", "my cases")),
    ChoiceDef("help", I18n("帮助", "Help"), ("help",)),
)

_MENU_CHOICES = {
    lang: tuple(Choice(c.value, c.label.get(lang)) for c in _MENU) for lang in ("zh", "en")
}

_RATINGS = ("satisfied", "basically_satisfied", "dissatisfied")  # rating.* text keys

_MENU_INTENTS = {
    "new": Command("new"),
    "status": Command("status"),
    "my_cases": Command("my_cases"),
    "help": Command("help"),
}


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine needs besides the state, the event and the clock."""

    forms: FormRegistry
    texts: Texts
    draft_ttl: timedelta = timedelta(hours=72)
    lookup_limit: int = 5
    lookup_window: timedelta = timedelta(hours=1)
    max_text_len: int = 5000


def new_state(lang: str = "zh") -> dict[str, Any]:
    """A fresh idle conversation state."""
    return {
        "v": STATE_VERSION,
        "lang": lang if lang in ("zh", "en") else "zh",
        "seen": None,
        "draft": None,
        "await": None,
        "pending": None,
        "failures": [],
    }


def state_lang(state: dict[str, Any] | None) -> str:
    """The conversation's language, "zh" or "en" (for intake's pushes)."""
    lang = state.get("lang") if isinstance(state, dict) else None
    return lang if lang in ("zh", "en") else "zh"


def step(
    cfg: EngineConfig, state: dict[str, Any] | None, event: Event, now: datetime
) -> StepResult:
    """Advance one conversation by one event. Never raises; replies explain every outcome.

    When the result carries an ``effect``, intake performs it and steps again with
    ``Event(kind="resolved", resolution=...)``; replies of both steps are sent, in order.
    """
    try:
        return _Turn(cfg, state, now).run(event)
    except Exception:  # the last line of defence: a conversation must never get stuck
        log.exception("dialog engine failed; conversation state kept")
        kept = state if _usable_state(state) else new_state(state_lang(state))
        try:
            text = cfg.texts.get(state_lang(state), "error.internal")
        except Exception:
            text = "系统繁忙，请稍后再试。/ Something went wrong, please try again later."
        return StepResult(state=_copy(kept) if kept else new_state(), replies=[Reply(text)])


def _usable_state(state: object) -> bool:
    return isinstance(state, dict) and state.get("v") == STATE_VERSION


def _copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): the state never holds
    anything else, and this is several times cheaper than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _iso(t: datetime) -> str:
    return t.isoformat()


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


class _Turn:
    """One engine step: holds the working copy of the state and the replies so far."""

    def __init__(self, cfg: EngineConfig, state: dict[str, Any] | None, now: datetime) -> None:
        self.cfg = cfg
        self.now = now
        self.first_contact = state is None
        self.state_lost = state is not None and not _usable_state(state)
        self.st: dict[str, Any] = (
            _copy(state) if state is not None and _usable_state(state) else new_state()
        )
        if self.state_lost:
            self.st["lang"] = state_lang(state)
        self.replies: list[Reply] = []
        self.effect: Effect | None = None
        self.form: Form | None = None

    # ------------------------------------------------------------------ basics

    @property
    def lang(self) -> str:
        return state_lang(self.st)

    def t(self, key: str, **kwargs: object) -> str:
        return self.cfg.texts.get(self.lang, key, **kwargs)

    def say(self, text: str, choices: tuple[Choice, ...] = ()) -> None:
        self.replies.append(Reply(text, choices))

    @property
    def draft(self) -> dict[str, Any] | None:
        draft = self.st.get("draft")
        return draft if isinstance(draft, dict) else None

    def result(self) -> StepResult:
        if not self.replies and self.effect is None:
            self.prompt_current()
        return StepResult(state=self.st, replies=self.replies, effect=self.effect)

    # ------------------------------------------------------------------ entry

    def run(self, event: Event) -> StepResult:
        if self.state_lost:
            self.say(self.t("draft.state_lost"))
        if event.kind == "resolved":
            self.on_resolved(event.resolution)
            return self.result()
        self.st["pending"] = None
        self.check_draft()
        self.st["seen"] = _iso(self.now)
        if self.draft is not None:
            self.draft["updated"] = _iso(self.now)
        if event.kind == "command":
            self.on_command(commands.from_platform(event.command, event.command_arg), "")
        elif event.kind == "location" or (event.kind == "attachment" and event.location):
            if event.location is not None:
                self.on_location(event.location)
            else:
                self.say(self.t("invalid.location"))
        elif event.kind == "attachment":
            if event.attachment is not None:
                self.on_attachment(event.attachment)
            else:
                self.prompt_current()
        else:
            self.on_text(event.text)
        return self.result()

    def check_draft(self) -> None:
        """Expire a stale draft, greet a returning citizen, re-pin a vanished form version."""
        draft = self.draft
        if draft is None:
            return
        form = self.cfg.forms.get(str(draft.get("form_id")), int(draft.get("version", 0)))
        updated = _parse_time(draft.get("updated")) or self.now
        if self.now - updated > self.cfg.draft_ttl:
            self.st["draft"] = None
            self.st["await"] = None
            hours = int(self.cfg.draft_ttl.total_seconds() // 3600)
            self.say(self.t("draft.expired", hours=hours))
            return
        if form is None:
            self.say(self.t("draft.form_changed"))
            self.start_draft(keep_attachments=draft.get("attachments", []), announce=False)
            return
        self.form = form
        self.normalise_draft(draft)
        seen = _parse_time(self.st.get("seen"))
        if seen is not None and self.now - seen > RESUME_AFTER:
            current = draft["current"]
            if current in (CONFIRM, PICK_EDIT):
                self.say(self.t("draft.welcome_back_confirm"))
            else:
                field = form.field(current)
                assert field is not None
                self.say(
                    self.t(
                        "draft.welcome_back",
                        n=self.question_number(field),
                        label=field.label.get(self.lang),
                    )
                )

    def normalise_draft(self, draft: dict[str, Any]) -> None:
        """Make a loaded draft consistent with its form (drop stale answers, fix current)."""
        assert self.form is not None
        draft.setdefault("answers", {})
        draft.setdefault("history", [])
        draft.setdefault("buffers", {})
        draft.setdefault("attachments", [])
        self.prune(draft)
        current = draft.get("current")
        field = self.form.field(current) if isinstance(current, str) else None
        if current not in (CONFIRM, PICK_EDIT) and (
            field is None or not field.applies(draft["answers"])
        ):
            draft["current"] = self.next_field(draft)

    def current_form(self) -> Form:
        if self.form is None:
            draft = self.draft
            form = None
            if draft is not None:
                form = self.cfg.forms.get(str(draft.get("form_id")), int(draft.get("version", 0)))
            self.form = form or self.cfg.forms.current()
        return self.form

    # ------------------------------------------------------------------ form navigation

    def prune(self, draft: dict[str, Any]) -> None:
        """Drop answers of fields whose condition no longer holds."""
        form = self.current_form()
        kept: dict[str, Any] = {}
        answers = draft["answers"]
        for f in form.fields:
            if f.name in answers and f.applies(kept):
                kept[f.name] = answers[f.name]
        draft["answers"] = kept
        draft["history"] = [n for n in draft["history"] if n in kept]
        draft["buffers"] = {
            n: parts for n, parts in draft["buffers"].items() if form.field(n) is not None
        }

    def next_field(self, draft: dict[str, Any]) -> str:
        for f in self.current_form().applicable(draft["answers"]):
            if f.name not in draft["answers"]:
                return f.name
        return CONFIRM

    def question_number(self, field: FieldDef) -> int:
        draft = self.draft
        answers = draft["answers"] if draft else {}
        names = [f.name for f in self.current_form().applicable(answers)]
        return names.index(field.name) + 1 if field.name in names else len(names) + 1

    def start_draft(self, keep_attachments: list[Any] | None = None, announce: bool = True) -> None:
        form = self.cfg.forms.current()
        self.form = form
        now = _iso(self.now)
        draft: dict[str, Any] = {
            "form_id": form.id,
            "version": form.version,
            "answers": {},
            "history": [],
            "current": "",
            "buffers": {},
            "attachments": list(keep_attachments or []),
            "started": now,
            "updated": now,
        }
        draft["current"] = self.next_field(draft)
        self.st["draft"] = draft
        self.st["await"] = None
        if announce:
            self.say(self.t("draft.started", title=form.title.get(self.lang)))
        self.prompt_current()

    # ------------------------------------------------------------------ prompts

    def field_choices(self, field: FieldDef, draft: dict[str, Any]) -> tuple[Choice, ...]:
        choices = [Choice(c.value, c.label.get(self.lang)) for c in field.choices]
        if field.kind == "longtext" and (draft["buffers"].get(field.name) or []):
            choices.append(Choice("done", self.t("choice.done")))
        if field.kind == "attachments":
            choices.append(Choice("done", self.t("choice.done")))
        if field.optional:
            choices.append(Choice("skip", self.t("choice.skip")))
        return tuple(choices)

    def question(self, field: FieldDef) -> tuple[str, tuple[Choice, ...]]:
        draft = self.draft
        assert draft is not None
        text = self.t(
            "ask.question",
            n=self.question_number(field),
            prompt=field.prompt.get(self.lang),
        )
        if field.name in draft["answers"]:
            text += "\n" + self.t("ask.current", answer=self.display(field, draft))
        return text, self.field_choices(field, draft)

    def prompt_current(self, prefix: str = "") -> None:
        """Ask the current question (or show the idle menu), optionally after ``prefix``."""
        draft = self.draft
        if draft is None:
            text = self.t("menu.prompt")
            self.say(f"{prefix}\n\n{text}" if prefix else text, self.menu_choices())
            return
        current = draft["current"]
        if current == CONFIRM:
            if prefix:
                self.say(prefix)
            self.show_summary()
            return
        if current == PICK_EDIT:
            if prefix:
                self.say(prefix)
            self.show_pick_edit()
            return
        field = self.current_form().field(current)
        if field is None:  # defensive: normalise_draft keeps current valid
            draft["current"] = self.next_field(draft)
            self.prompt_current(prefix)
            return
        text, choices = self.question(field)
        self.say(f"{prefix}\n\n{text}" if prefix else text, choices)

    def menu_choices(self) -> tuple[Choice, ...]:
        return _MENU_CHOICES[self.lang]

    def display(self, field: FieldDef, draft: dict[str, Any]) -> str:
        """An answer as the citizen reads it back: labels, never codes."""
        value = draft["answers"].get(field.name)
        if field.kind == "attachments":
            return self.t("summary.attachments", count=len(draft["attachments"]))
        if value is None:
            return self.t("summary.skipped")
        if field.choices:
            choice = field.choice(value)
            return choice.label.get(self.lang) if choice else str(value)
        if field.kind == "place" and isinstance(value, dict):
            label = str(value.get("label") or "")
            if value.get("lat") is not None:
                loc = self.t("summary.location", lat=value["lat"], lon=value["lon"])
                return f"{label} {loc}".strip()
            return label
        if field.kind == "names" and isinstance(value, list):
            return self.t("summary.names_sep").join(str(v) for v in value)
        if field.kind == "tracking_no" and isinstance(value, str):
            return format_tracking_no(value)
        return str(value)

    def summary_fields(self, draft: dict[str, Any]) -> list[FieldDef]:
        return self.current_form().applicable(draft["answers"])

    def show_summary(self) -> None:
        draft = self.draft
        assert draft is not None
        lines = [self.t("summary.header")]
        for i, field in enumerate(self.summary_fields(draft), 1):
            lines.append(
                self.t(
                    "summary.line",
                    n=i,
                    label=field.label.get(self.lang),
                    value=self.display(field, draft),
                )
            )
        self.say("\n".join(lines))
        self.say(
            self.t("confirm.prompt"),
            (
                Choice("confirm", self.t("confirm.submit")),
                Choice("edit", self.t("confirm.edit")),
                Choice("cancel", self.t("confirm.cancel")),
            ),
        )

    def answered_fields(self, draft: dict[str, Any]) -> list[FieldDef]:
        return [f for f in self.summary_fields(draft) if f.name in draft["answers"]]

    def show_pick_edit(self) -> None:
        draft = self.draft
        assert draft is not None
        lines = [self.t("edit.pick")]
        for i, field in enumerate(self.summary_fields(draft), 1):
            if field.name in draft["answers"]:
                lines.append(
                    self.t(
                        "summary.line",
                        n=i,
                        label=field.label.get(self.lang),
                        value=self.display(field, draft),
                    )
                )
        self.say("\n".join(lines))

    # ------------------------------------------------------------------ text

    def on_text(self, raw: str) -> None:
        if len(raw) > self.cfg.max_text_len:
            self.prompt_current(self.t("input.too_long", max=self.cfg.max_text_len, count=len(raw)))
            return
        text = clean_text(raw)
        if not text:
            self.prompt_current(self.t("input.empty"))
            return
        cmd = commands.parse_command(text)
        if self.on_await(text, cmd):
            return
        draft = self.draft
        if cmd is not None and not (
            draft is not None
            and cmd.intent == "edit"
            and cmd.arg
            and not cmd.slash
            and self.resolve_field_ref(cmd.arg) is None
            and self.current_kind() in _TEXT_KINDS
        ):
            self.on_command(cmd, text)
            return
        if draft is not None:
            if commands.is_new_word(text):
                self.prompt_current(self.t("draft.in_progress"))
                return
            self.on_answer(text)
            return
        action = commands.parse_citizen_action(text)
        if action is not None:
            self.on_citizen_action(action)
            return
        parsed = parse_tracking_no(text)
        if parsed.outcome != "none":
            self.lookup(parsed)
            return
        if commands.is_new_word(text):
            self.start_draft()
            return
        picked = match_choice(text, _MENU)
        if picked is not None:
            self.on_command(_MENU_INTENTS[_MENU[picked].value], text)
            return
        if self.first_contact:
            self.greet()
        else:
            self.prompt_current(self.t("menu.unknown"))

    def current_kind(self) -> str:
        draft = self.draft
        if draft is None:
            return ""
        field = self.current_form().field(draft["current"])
        return field.kind if field else ""

    def greet(self) -> None:
        self.say(self.t("greeting"), self.menu_choices())

    def on_await(self, text: str, cmd: Command | None) -> bool:
        """Handle a pending question (verification digits, a tracking number); True if done."""
        waiting = self.st.get("await")
        if not isinstance(waiting, dict):
            return False
        self.st["await"] = None
        if waiting.get("kind") == "verify":
            since = _parse_time(waiting.get("since"))
            if since is None or self.now - since > VERIFY_TTL:
                return False
            if cmd is not None and cmd.intent == "cancel":
                self.prompt_current(self.t("lookup.verify_cancelled"))
                return True
            digits = parse_verify_digits(text)
            if digits is None:
                return False
            number = str(waiting.get("tracking_no", ""))
            self.lookup(ParsedNumber("valid", number), verify_digits=digits)
            return True
        if waiting.get("kind") == "tracking_no":
            if cmd is not None:
                return False
            parsed = parse_tracking_no(text)
            if parsed.outcome == "none":
                return False
            self.lookup(parsed)
            return True
        return False

    # ------------------------------------------------------------------ commands

    def on_command(self, cmd: Command, text: str) -> None:
        intent = cmd.intent
        draft = self.draft
        if intent == "help":
            self.on_help()
        elif intent == "cancel":
            self.st["await"] = None
            if draft is None:
                self.prompt_current(self.t("draft.nothing_to_cancel"))
            else:
                self.st["draft"] = None
                self.prompt_current(self.t("draft.cancelled"))
        elif intent == "new":
            if draft is None:
                if self.first_contact:
                    self.say(self.t("greeting"))
                self.start_draft()
            else:
                self.prompt_current(self.t("draft.in_progress"))
        elif intent == "status":
            self.on_status(cmd.arg)
        elif intent == "my_cases":
            self.st["await"] = None
            self.st["pending"] = {"effect": "list_cases", "tracking_no": "", "verify": False}
            self.effect = Effect(kind="list_cases")
        elif intent == "lang":
            self.on_lang(cmd.arg)
        elif intent in ("unsubscribe", "subscribe"):
            self.st["await"] = None
            self.st["pending"] = {"effect": "broadcast_opt", "tracking_no": "", "verify": False}
            self.effect = Effect(kind="broadcast_opt", opt_out=intent == "unsubscribe")
        elif intent in ("back", "edit", "continue", "skip", "done", "confirm"):
            if draft is None:
                if intent == "continue":
                    self.prompt_current()
                else:
                    self.prompt_current(self.t("menu.unknown"))
            elif intent == "back":
                self.on_back(draft)
            elif intent == "edit":
                self.on_edit(draft, cmd.arg)
            elif intent == "continue":
                self.on_continue(draft)
            else:
                self.on_answer(text or intent)
        else:
            self.prompt_current(self.t("command.unknown", command=cmd.arg or text))

    def on_help(self) -> None:
        draft = self.draft
        if draft is None:
            self.say(self.t("help.idle"), self.menu_choices())
            return
        field = self.current_form().field(draft["current"])
        if field is not None:
            self.say(
                self.t(
                    "help.field", label=field.label.get(self.lang), help=field.help.get(self.lang)
                )
            )
        self.prompt_current(self.t("help.commands"))

    def on_lang(self, arg: str) -> None:
        code = commands.lang_code(arg) if arg else None
        if code is None:
            self.say(self.t("lang.choose"), (Choice("中文", "中文"), Choice("English", "English")))
            return
        self.st["lang"] = code
        self.prompt_current(self.t("lang.switched"))

    def on_back(self, draft: dict[str, Any]) -> None:
        history: list[str] = draft["history"]
        current = draft["current"]
        if current in history:
            idx = history.index(current)
            target = history[idx - 1] if idx > 0 else None
        else:
            target = history[-1] if history else None
        if target is None:
            self.prompt_current(self.t("draft.back_first"))
            return
        draft["current"] = target
        self.prompt_current()

    def resolve_field_ref(self, ref: str) -> FieldDef | None:
        """The field a citizen means by a summary number or a label ("3", "手机号")."""
        draft = self.draft
        if draft is None:
            return None
        fields = self.summary_fields(draft)
        token = normalize_token(ref).replace(" ", "")
        if token.isdigit():
            n = int(token)
            return fields[n - 1] if 1 <= n <= len(fields) else None
        for f in fields:
            names = {f.name, f.label.zh, f.label.en}
            if token in {normalize_token(n).replace(" ", "") for n in names}:
                return f
        for f in fields:  # a unique partial label match ("手机" for "手机号码")
            if len(token) >= 2 and token in normalize_token(f.label.get(self.lang)):
                return f
        return None

    def on_edit(self, draft: dict[str, Any], arg: str) -> None:
        if not arg:
            if not draft["history"]:
                self.prompt_current(self.t("edit.nothing"))
                return
            draft["return_to"] = draft["current"]
            draft["current"] = PICK_EDIT
            self.show_pick_edit()
            return
        field = self.resolve_field_ref(arg)
        if field is None or (field.name not in draft["answers"] and field.name != draft["current"]):
            self.prompt_current(self.t("edit.unknown", ref=arg))
            return
        draft["current"] = field.name
        self.prompt_current()

    def on_continue(self, draft: dict[str, Any]) -> None:
        current = draft["current"]
        if current == PICK_EDIT or current in draft["answers"]:
            draft["current"] = self.next_field(draft)
        self.prompt_current()

    # ------------------------------------------------------------------ answers

    def on_answer(self, text: str) -> None:
        draft = self.draft
        assert draft is not None
        current = draft["current"]
        if current == CONFIRM:
            self.on_confirm_answer(draft, text)
            return
        if current == PICK_EDIT:
            field = self.resolve_field_ref(text)
            if field is None or field.name not in draft["answers"]:
                self.say(self.t("edit.unknown", ref=text))
                self.show_pick_edit()
                return
            draft["current"] = field.name
            self.prompt_current()
            return
        field = self.current_form().field(current)
        assert field is not None
        try:
            value, done = self.parse_answer(field, draft, text)
        except Invalid as bad:
            self.prompt_current(self.t(bad.key, **bad.params))
            return
        if not done:
            return
        self.record(field, draft, value)

    def record(self, field: FieldDef, draft: dict[str, Any], value: Any) -> None:
        draft["answers"][field.name] = value
        draft["history"] = [n for n in draft["history"] if n != field.name] + [field.name]
        draft["buffers"].pop(field.name, None)
        self.prune(draft)
        draft.pop("return_to", None)
        note = None
        if field.choices:
            choice = field.choice(value)
            note = choice.note if choice else None
        if note is not None:
            self.say(note.get(self.lang))
        draft["current"] = self.next_field(draft)
        self.prompt_current()

    def parse_answer(self, field: FieldDef, draft: dict[str, Any], text: str) -> tuple[Any, bool]:
        """The value an answer gives ``field``; (value, False) when more input is expected."""
        kind = field.kind
        if kind in ("choice", "yesno"):
            idx = match_choice(text, field.choices)
            if idx is not None:
                return field.choices[idx].value, True
            if field.optional and commands.is_skip(text):
                return None, True
            labels = "、" if self.lang == "zh" else ", "
            raise Invalid(
                "invalid.choice",
                options=labels.join(c.label.get(self.lang) for c in field.choices),
            )
        if kind == "attachments":
            if commands.is_done(text) or commands.is_skip(text):
                return len(draft["attachments"]), True
            raise Invalid("invalid.attachments_text")
        if field.optional and commands.is_skip(text):
            return None, True
        if kind == "longtext":
            return self.collect_longtext(field, draft, text)
        if kind == "text":
            return parse_text(text, field.min_len, field.max_len), True
        if kind == "place":
            return {
                "label": parse_text(text, field.min_len, field.max_len),
                "lat": None,
                "lon": None,
            }, True
        if kind == "phone":
            return parse_phone(text), True
        if kind == "integer":
            return parse_count(text, field.min_value, field.max_value), True
        if kind == "names":
            return parse_names(text, field.max_items, field.max_len), True
        if kind == "tracking_no":
            parsed = parse_tracking_no(text)
            if parsed.outcome == "valid":
                return parsed.canonical, True
            if parsed.outcome == "mistyped":
                raise Invalid("invalid.tracking_mistyped")
            raise Invalid("invalid.tracking_format")
        raise Invalid("invalid.choice", options="")  # unreachable: kinds are validated

    def collect_longtext(
        self, field: FieldDef, draft: dict[str, Any], text: str
    ) -> tuple[Any, bool]:
        parts: list[str] = draft["buffers"].setdefault(field.name, [])
        if commands.is_done(text):
            if not parts:
                if field.name in draft["answers"]:
                    return draft["answers"][field.name], True
                raise Invalid("invalid.longtext_empty")
            joined = "\n".join(parts)
            if len(joined) < field.min_len:
                raise Invalid("invalid.too_short", min=field.min_len)
            return joined, True
        total = sum(len(p) for p in parts) + len(parts) + len(text)
        if total > field.max_len:
            raise Invalid("facts.total_too_long", max=field.max_len)
        parts.append(text)
        count = len("\n".join(parts))
        self.say(
            self.t("facts.received", parts=len(parts), count=count),
            (Choice("done", self.t("choice.done")),),
        )
        return None, False

    def on_confirm_answer(self, draft: dict[str, Any], text: str) -> None:
        if commands.is_confirm(text) or normalize_token(text) in ("1",):
            self.submit(draft)
            return
        token = normalize_token(text)
        if token in ("2", "edit"):
            self.on_edit(draft, "")
            return
        if token in ("3",):
            self.on_command(Command("cancel"), text)
            return
        self.say(self.t("confirm.invalid"))
        self.show_summary()

    def submit(self, draft: dict[str, Any]) -> None:
        form = self.current_form()
        answers: dict[str, Any] = {}
        for f in form.applicable(draft["answers"]):
            value = draft["answers"].get(f.name)
            answers[f.name] = len(draft["attachments"]) if f.kind == "attachments" else value
        self.st["pending"] = {"effect": "submit", "tracking_no": "", "verify": False}
        self.effect = Effect(
            kind="submit",
            submission=Submission(
                form_id=form.id,
                form_version=form.version,
                lang=self.lang,
                answers=answers,
                attachments=tuple(_copy(a) for a in draft["attachments"]),
            ),
        )

    # ------------------------------------------------------------------ attachments

    def keep_attachment(self, item: dict[str, Any]) -> bool:
        draft = self.draft
        assert draft is not None
        if len(draft["attachments"]) >= MAX_ATTACHMENTS:
            self.prompt_current(self.t("attachments.too_many", max=MAX_ATTACHMENTS))
            return False
        item["field"] = draft["current"]
        draft["attachments"].append(item)
        return True

    def on_attachment(self, att: Attachment) -> None:
        self.st["await"] = None
        draft = self.draft
        if draft is None:
            self.prompt_current(self.t("attachments.idle"))
            return
        item = {
            "kind": att.kind,
            "media_ref": att.media_ref,
            "mime": att.mime,
            "filename": att.filename,
            "size": att.size,
            "recognition": att.recognition,
        }
        if not self.keep_attachment(item):
            return
        recognition = clean_text(att.recognition)
        if (
            att.kind == "voice"
            and recognition
            and self.current_kind() in _TEXT_KINDS
            and len(recognition) <= self.cfg.max_text_len
        ):
            self.say(self.t("input.voice_recognised", text=recognition))
            self.on_answer(recognition)
            return
        self.prompt_current(self.t("attachments.received", count=len(draft["attachments"])))

    def on_location(self, loc: Location) -> None:
        self.st["await"] = None
        draft = self.draft
        if draft is None:
            self.prompt_current(self.t("attachments.idle"))
            return
        label = clean_text(loc.label)[:200]
        field = self.current_form().field(draft["current"])
        if field is not None and field.kind == "place":
            self.record(field, draft, {"label": label, "lat": loc.latitude, "lon": loc.longitude})
            return
        item = {"kind": "location", "lat": loc.latitude, "lon": loc.longitude, "label": label}
        if self.keep_attachment(item):
            self.prompt_current(
                self.t("attachments.location_received", count=len(draft["attachments"]))
            )

    # ------------------------------------------------------------------ status lookups

    def failures(self) -> list[datetime]:
        window_start = self.now - self.cfg.lookup_window
        times = [t for t in (_parse_time(v) for v in self.st.get("failures") or []) if t]
        kept = sorted(t for t in times if t > window_start)
        self.st["failures"] = [_iso(t) for t in kept]
        return kept

    def add_failure(self) -> None:
        self.failures()
        self.st["failures"].append(_iso(self.now))

    def throttled(self) -> bool:
        kept = self.failures()
        if len(kept) < self.cfg.lookup_limit:
            return False
        until = kept[0] + self.cfg.lookup_window
        if self.now.tzinfo is not None:
            until = until.astimezone(self.now.tzinfo)
        self.st["await"] = None
        self.answer_then_reask(self.t("lookup.throttled", time=until.strftime("%H:%M")))
        return True

    def answer_then_reask(self, text: str, choices: tuple[Choice, ...] = ()) -> None:
        """Reply, then (during a draft) ask the current question again."""
        if self.draft is not None:
            self.say(text, choices)
            self.prompt_current()
        else:
            self.say(text, choices or self.menu_choices())

    def on_status(self, arg: str) -> None:
        if arg:
            parsed = parse_tracking_no(arg)
            if parsed.outcome != "none":
                self.lookup(parsed)
                return
        if self.throttled():
            return
        self.st["await"] = {"kind": "tracking_no"}
        self.say(self.t("lookup.ask_number"), (Choice("my_cases", self.t("menu.my_cases")),))

    def lookup(self, parsed: ParsedNumber, verify_digits: str = "") -> None:
        if self.throttled():
            return
        if parsed.outcome == "mistyped":
            self.add_failure()
            self.answer_then_reask(self.t("lookup.mistyped"))
            return
        self.st["pending"] = {
            "effect": "lookup_case",
            "tracking_no": parsed.canonical,
            "verify": bool(verify_digits),
        }
        self.effect = Effect(
            kind="lookup_case", tracking_no=parsed.canonical, verify_digits=verify_digits
        )

    def on_resolved(self, res: Resolution | None) -> None:
        pending = self.st.get("pending")
        self.st["pending"] = None
        if res is None or not isinstance(pending, dict) or pending.get("effect") != res.effect:
            self.prompt_current()
            return
        number = str(pending.get("tracking_no") or "")
        if res.effect == "submit":
            self.on_submitted(res)
        elif res.effect in ("rate", "request_review"):
            self.on_citizen_action_done(res)
        elif res.effect == "list_cases":
            self.on_cases(res.cases)
        elif res.effect == "broadcast_opt":
            key = (
                "broadcasts.unsubscribed"
                if res.outcome == "unsubscribed"
                else "broadcasts.subscribed"
            )
            self.answer_then_reask(self.t(key))
        elif res.outcome in ("found", "verified") and res.case is not None:
            self.answer_then_reask(self.case_text(res.case, with_summary=res.outcome == "found"))
        elif res.outcome == "foreign" and number:
            self.st["await"] = {"kind": "verify", "tracking_no": number, "since": _iso(self.now)}
            self.say(self.t("lookup.foreign", number=format_tracking_no(number)))
        elif res.outcome == "verify_failed":
            self.add_failure()
            self.answer_then_reask(self.t("lookup.verify_failed"))
        elif res.outcome == "not_found":
            self.add_failure()
            self.answer_then_reask(
                self.t("lookup.not_found", number=format_tracking_no(number) if number else "")
            )
        else:
            self.answer_then_reask(self.t("lookup.unavailable"))

    def on_citizen_action(self, action: commands.CitizenAction) -> None:
        """A rating or a 复查/复核 request: intake applies it to the citizen's case."""
        self.st["await"] = None
        self.st["pending"] = {
            "effect": action.kind,
            "tracking_no": action.tracking_no,
            "verify": False,
        }
        self.effect = Effect(
            kind=action.kind,
            tracking_no=action.tracking_no,
            rating=action.rating,
            comment=action.comment,
            stage=action.stage,
        )

    def on_citizen_action_done(self, res: Resolution) -> None:
        number = format_tracking_no(res.tracking_no) if res.tracking_no else ""
        if res.effect == "rate":
            if res.outcome == "rated" and res.rating in _RATINGS:
                rating = self.t(f"rating.{res.rating}")
                self.answer_then_reask(self.t("rating.done", number=number, rating=rating))
            else:
                self.answer_then_reask(self.t("rating.none"))
        elif res.outcome == "requested":
            key = "review.recheck_requested" if res.stage == "recheck" else "review.requested"
            self.answer_then_reask(self.t(key, number=number, date=res.date))
        elif res.outcome == "window_closed":
            self.answer_then_reask(self.t("review.window_closed", number=number, date=res.date))
        else:
            self.answer_then_reask(self.t("review.none"))

    def fmt_time(self, value: str) -> str:
        t = _parse_time(value)
        if t is None:
            try:
                naive = datetime.fromisoformat(value)
            except ValueError:
                return value
            return naive.strftime("%Y-%m-%d %H:%M") if "T" in value or " " in value else value
        if self.now.tzinfo is not None:
            t = t.astimezone(self.now.tzinfo)
        return t.strftime("%Y-%m-%d %H:%M")

    def status_label(self, code: str) -> str:
        key = f"status.{code}"
        return self.t(key) if self.cfg.texts.has(key) else code

    def case_text(self, case: CaseView, with_summary: bool) -> str:
        lines = [
            self.t("lookup.header", number=format_tracking_no(case.tracking_no)),
            self.t("lookup.status", status=self.status_label(case.status)),
            self.t("lookup.submitted_at", time=self.fmt_time(case.submitted_at)),
        ]
        if case.updated_at:
            lines.append(self.t("lookup.updated_at", time=self.fmt_time(case.updated_at)))
        if case.category:
            category = self.cfg.forms.category_label(case.category, self.lang)
            lines.append(self.t("lookup.category", category=category))
        if with_summary and case.summary:
            lines.append(self.t("lookup.summary", summary=case.summary))
        if case.last_event:
            lines.append(self.t("lookup.last_event", event=case.last_event))
        if case.due_date:
            lines.append(self.t("lookup.due_date", date=self.fmt_time(case.due_date)))
        if not with_summary:
            lines.append(self.t("lookup.verified_note"))
        return "\n".join(lines)

    def on_cases(self, cases: tuple[CaseView, ...]) -> None:
        if not cases:
            self.answer_then_reask(self.t("cases.none"))
            return
        lines = [self.t("cases.header", count=len(cases))]
        for i, case in enumerate(cases, 1):
            category = (
                self.cfg.forms.category_label(case.category, self.lang) if case.category else ""
            )
            lines.append(
                self.t(
                    "cases.line",
                    n=i,
                    number=format_tracking_no(case.tracking_no),
                    status=self.status_label(case.status),
                    date=self.fmt_time(case.submitted_at)[:10],
                    category=category,
                ).rstrip(" ·")
            )
        lines.append(self.t("cases.footer"))
        self.answer_then_reask("\n".join(lines))

    def on_submitted(self, res: Resolution) -> None:
        parsed = parse_tracking_no(res.tracking_no) if res.tracking_no else ParsedNumber("none")
        if parsed.outcome != "valid" or self.draft is None:
            self.say(self.t("submit.failed"))
            if self.draft is not None:
                self.show_summary()
            return
        self.st["draft"] = None
        self.st["await"] = None
        self.say(
            self.t("submit.done", number=format_tracking_no(parsed.canonical)),
            self.menu_choices(),
        )
