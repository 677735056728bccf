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
    from_story         fields filled from a story message (marked in the read-back)
    suggested          {field name: choice value} guessed from a story, offered first when
                       the question comes, never recorded without the citizen's pick
    from_scene         fields pre-selected by the entry point (marked in the read-back;
                       a value the citizen states replaces them)
    asked              [[field name, …], …]: the questions asked, in order, each with the
                       fields it asked together (what "第N题" counts)
    started, updated   ISO times

``await``    null | {"kind": "tracking_no"} | {"kind": "verify", "tracking_no", "since"}
             | {"kind": "pick_case" | "confirm_review" | "action_or_answer" | "cancel", …}
``pending``  null | {"effect": …, "tracking_no", …}: the effect intake is resolving
``failures`` ISO times of failed lookups (not found / mistyped / failed verification)
``shown``    null | {"id", "options": [[value, label], …], "what", "since"}: what the last
             prompt showed; ``what`` names the question, ``since`` the first ask id of the
             run of prompts that showed the same question and options (older keyboards
             of it still answer it)
``lang_from_hint`` true while ``lang`` is only the platform's hint (no words yet)
``asks``     how many prompts with options were shown (the next ``shown.id``)
``preselect`` null | {"values": [[role, choice value], …], "at"}: what the entry point the
             citizen came through (a poster's QR code) pre-selects in a petition started
             within a day

Every text message is first understood (:mod:`bot.dialogs.understand`), and only then
applied to the form.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from bot.dialogs import commands
from bot.dialogs.commands import Command
from bot.dialogs.extract import extract
from bot.dialogs.files import MAX_ATTACHMENTS, Files, starts_petition
from bot.dialogs.lookups import RATINGS
from bot.dialogs.turn import (
    CONFIRM,
    PICK_EDIT,
    STATE_VERSION,
    EngineConfig,
    copy_json,
    load_engine_config,
    new_state,
    parse_time,
    state_lang,
    usable_state,
)
from bot.dialogs.types import Effect, Event, StepResult
from bot.dialogs.understand import Context, Meaning, after_social, understand
from bot.dialogs.validators import clean_text, parse_verify_digits
from bot.domain.tracking import ParsedNumber, parse_tracking_no
from bot.messages import Choice, Reply

__all__ = [
    "CONFIRM",
    "MAX_ATTACHMENTS",
    "PICK_EDIT",
    "STATE_VERSION",
    "EngineConfig",
    "draft_file_room",
    "kept_attachment_ids",
    "load_engine_config",
    "new_state",
    "starts_petition",
    "state_lang",
    "step",
]

log = logging.getLogger(__name__)

RESUME_AFTER = timedelta(hours=1)
VERIFY_TTL = timedelta(minutes=15)
_CONTACT_SPLIT = "，,；;\n、 "
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")  # an English word ("XF…" numbers are not)


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
        kept = state if usable_state(state) else new_state(state_lang(state))
        try:
            text = cfg.texts.get(state_lang(state), "error.internal")
        except Exception:
            text = "系统繁忙，请稍后再试。/ Something went wrong, please try again later."
        return StepResult(state=copy_json(kept) if kept else new_state(), replies=[Reply(text)])


def draft_file_room(cfg: EngineConfig, state: dict[str, Any] | None, now: datetime) -> int | None:
    """How many more files the conversation's live draft takes (None: no live draft)."""
    draft = (state or {}).get("draft")
    if not isinstance(draft, dict):
        return None
    updated = parse_time(draft.get("updated"))
    if updated is None or now - updated > cfg.draft_ttl:
        return None
    return max(0, MAX_ATTACHMENTS - len(draft.get("attachments") or []))


def kept_attachment_ids(state: dict[str, Any] | None) -> set[str]:
    """Attachment ids the conversation holds: the draft's files and a file waiting for the
    citizen to pick the case it adds to."""
    st = state or {}
    draft = st.get("draft")
    ids: set[str] = set()
    if isinstance(draft, dict):
        items = draft.get("attachments") or []
        ids = {str(a["media_ref"]) for a in items if isinstance(a, dict) and a.get("media_ref")}
    waiting = st.get("await")
    if isinstance(waiting, dict) and waiting.get("kind") == "add_material":
        ids.add(str(waiting.get("attachment") or ""))
    return ids


class _Turn(Files):
    """One engine step."""

    welcomed = False

    def result(self) -> StepResult:
        if not self.replies and self.effect is None:
            self.prompt_current()
        return StepResult(state=self.st, replies=self.finish_replies(), effect=self.effect)

    # ------------------------------------------------------------------ entry

    def run(self, event: Event) -> StepResult:
        if self.state_lost:
            self.say(self.t("draft.state_lost"))
        if event.kind == "resolved":
            self.on_resolved(event.resolution)
            return self.result()
        self.choose_lang(event)
        self.st["pending"] = None
        if event.kind == "command" and event.command == "start":  # an entry point, or none
            values = [[role, value] for role, value in event.preselect]
            entry = {"values": values, "at": self.now.isoformat()}
            self.st["preselect"] = entry if values else None
        self.check_draft()
        self.st["seen"] = self.now.isoformat()
        if self.draft is not None:
            self.draft["updated"] = self.now.isoformat()
        shown = self.st.get("shown") or {}
        if (
            event.tap
            and event.tap != shown.get("id")
            and not self.tap_still_open(event.tap, event.text)
        ):
            self.st["await"] = None
            self.prompt_current(self.t("input.old_button"))
        elif event.kind == "command":
            self.st["await"] = None
            self.on_command(commands.from_platform(event.command, event.command_arg), "")
        elif event.kind == "location" or (event.kind == "attachment" and event.location):
            self.st["await"] = None
            if event.location is not None:
                self.on_location(event.location)
            else:
                self.say(self.t("invalid.location"))
        elif event.kind == "attachment":
            self.st["await"] = None
            att = event.attachment
            if att is not None and clean_text(event.text) and not att.recognition:
                self.on_captioned(att, event.text)
            elif event.attachment is not None:
                self.on_attachment(event.attachment)
            else:
                self.prompt_current()
        else:
            self.on_text(event.text)
        return self.result()

    def choose_lang(self, event: Event) -> None:
        """English for a platform that says so (Telegram's language_code), until the
        citizen writes Chinese: many Chinese users' Telegram reports "en" (it has no
        official Simplified Chinese), and their own words win over it."""
        if (
            self.first_contact
            and event.lang_hint.lower().startswith("en")
            and not _CJK.search(event.text)
        ):
            self.st["lang"] = "en"
            # the hint alone (Telegram's /start): the citizen's first words decide
            self.st["lang_from_hint"] = not _LATIN_WORD.search(event.text)
        elif self.st.get("lang_from_hint") and not event.tap and event.text.strip():
            if _CJK.search(event.text):
                self.st["lang"] = "zh"
                self.st["lang_from_hint"] = False
            elif _LATIN_WORD.search(event.text):
                self.st["lang_from_hint"] = False  # English words: English it is

    def check_draft(self) -> None:
        """Expire a stale draft, greet a returning citizen, re-pin a vanished form version."""
        draft = self.draft
        if draft is None:
            return
        form = self.cfg.forms.get(str(draft.get("form_id")), int(draft.get("version", 0)))
        updated = parse_time(draft.get("updated")) or self.now
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
        seen = parse_time(self.st.get("seen"))
        if seen is not None and self.now - seen > RESUME_AFTER:
            self.welcomed = True
            draft["read_back"] = False
            current = self.current_field()
            if current is None:
                self.say(self.t("draft.welcome_back_confirm"))
            else:
                n, label = self.question_number(current), current.label.get(self.lang)
                self.say(self.t("draft.welcome_back", n=n, label=label))

    def normalise_draft(self, draft: dict[str, Any]) -> None:
        """Make a loaded draft consistent with its form (drop stale answers, fix current)."""
        for key, empty in (("answers", {}), ("history", []), ("buffers", {}), ("attachments", [])):
            draft.setdefault(key, empty)
        draft.setdefault("from_story", [])
        draft.setdefault("from_scene", [])
        if not isinstance(draft.get("asked"), list):  # a draft from before: one per answer
            form = self.current_form()
            asked = [f.name for f in form.fields if f.ask and f.name in draft["answers"]]
            draft["asked"] = [[name] for name in asked]
        if not isinstance(draft.get("suggested"), dict):
            draft["suggested"] = {}
        self.prune(draft)
        current = draft.get("current")
        f = self.current_form().field(current) if isinstance(current, str) else None
        if current not in (CONFIRM, PICK_EDIT) and (f is None or not f.applies(draft["answers"])):
            draft["current"] = self.next_field(draft)

    # ------------------------------------------------------------------ text

    def context(self) -> Context:
        draft = self.draft
        f = self.current_field()
        kind = f.kind if f else ("confirm" if draft is not None else "")
        return Context(
            options=self.shown_options(),
            in_draft=draft is not None,
            kind=kind,
            fresh_draft=draft is not None and not draft["answers"],
            expects_number=kind == "tracking_no",
        )

    def on_text(self, raw: str) -> None:
        if len(raw) > self.cfg.max_text_len:
            self.prompt_current(self.t("input.too_long", max=self.cfg.max_text_len, count=len(raw)))
            return
        text = clean_text(raw)
        if not text:
            self.prompt_current(self.t("input.empty"))
            return
        found = self.st.get("await")
        waiting: dict[str, Any] = found if isinstance(found, dict) else {}
        self.st["await"] = None
        if self.on_await(text, waiting):
            return
        meaning = understand(text, self.context(), self.cfg.vocab, self.cfg.gazetteer)
        self.on_meaning(meaning, text, waiting)

    def on_meaning(self, meaning: Meaning, text: str, waiting: dict[str, Any]) -> None:
        kind = meaning.kind
        if kind == "command" and meaning.command is not None:
            self.on_command(meaning.command, text)
        elif kind == "pick":
            self.on_pick(meaning.value, waiting)
        elif kind == "bad_pick":
            n = len(self.shown_options())
            self.prompt_current(self.t("input.bad_pick_one" if n == 1 else "input.bad_pick", n=n))
        elif kind == "action" and meaning.action is not None:
            f = self.current_field()
            if f is not None and f.kind == "longtext":  # "不满意…" may begin the facts
                self.st["await"] = {"kind": "action_or_answer", "text": text}
                self.say(
                    self.t("action.or_answer", label=f.label.get(self.lang)),
                    (
                        Choice("act:action", self.t("action.is_action")),
                        Choice("act:answer", self.t("action.is_answer")),
                    ),
                )
            elif meaning.action.mistyped:
                self.answer_then_reask(self.t("lookup.mistyped"))
            else:
                self.on_citizen_action(meaning.action)
        elif kind == "lookup" and meaning.number is not None:
            self.lookup(meaning.number)
        elif kind == "social":
            self.on_social(meaning.value)
        elif kind == "help":
            self.on_help()
        elif kind == "human":
            self.ask_effect(Effect(kind="ask_human", reason=text, in_form=self.draft is not None))
        elif kind == "opt_out":
            self.on_command(Command("unsubscribe"), text)
        elif kind == "feedback":
            self.st["await"] = {"kind": "feedback", "text": text, "rating": meaning.value}
            self.say(
                self.t("feedback.ask", rating=self.t(f"rating.{meaning.value}")),
                (
                    *(Choice(f"act:rate_{r}", self.t(f"rating.{r}")) for r in RATINGS),
                    Choice("act:not_feedback", self.t("feedback.not_rating")),
                ),
            )
        elif kind == "correction" and self.draft is not None:
            self.on_correction(self.draft, meaning.value, meaning.fields.get("rest", ""), text)
        elif kind == "story":
            self.on_story(meaning.fields, text)
        elif self.draft is not None:
            self.on_answer(text)
        elif commands.starts_petition(told := after_social(text, self.cfg.vocab)) or (
            self.names_type(told)
        ):  # "你好 俺要反映个事": the greeting aside
            self.on_story(extract(told, self.cfg.vocab, self.cfg.gazetteer), told)
        elif self.first_contact:
            self.greet()
        else:
            self.prompt_current(self.t("menu.unknown"))

    def greet(self) -> None:
        self.say(self.t("greeting"), self.menu_choices())

    def on_social(self, kind: str) -> None:
        """A greeting, thanks or filler answers nothing: carry on where we were."""
        if self.draft is None:
            if kind in ("greeting", "back"):
                self.greet()
            else:
                self.prompt_current(self.t(f"social.{kind}"))
            return
        self.prompt_current("" if self.welcomed else self.t(f"social.{kind}_draft"))

    def on_await(self, text: str, waiting: dict[str, Any]) -> bool:
        """A pending question (verification digits, a tracking number); True if handled."""
        if waiting.get("kind") == "verify":
            since = parse_time(waiting.get("since"))
            if since is None or self.now - since > VERIFY_TTL:
                return False
            if commands.parse_command(text) == Command("cancel"):
                self.prompt_current(self.t("lookup.verify_cancelled"))
                return True
            digits = parse_verify_digits(text)
            if digits is None:
                return False
            self.lookup(ParsedNumber("valid", str(waiting.get("tracking_no", ""))), digits)
            return True
        if waiting.get("kind") in ("confirm_review", "add_material"):
            self.on_yes_no(text, waiting)
            return True
        if waiting.get("kind") == "tracking_no" and commands.parse_command(text) is None:
            parsed = parse_tracking_no(text)
            if parsed.outcome != "none":
                self.lookup(parsed)
                return True
        if waiting.get("kind") in ("pick_case", "action_or_answer", "cancel", "feedback"):
            self.st["await"] = waiting  # kept for the pick that answers it
        return False

    def on_yes_no(self, text: str, waiting: dict[str, Any]) -> None:
        """The reply to "确认申请吗？" (复查, 复核, 撤回) or "要补充到信访事项…吗？": a yes or
        a no ("取消" is a no); at "确认申请吗？" words that are neither are the reason."""
        self.st["await"] = waiting  # the options shown take 是/对/好 and 不/算了
        meaning = understand(text, self.context(), self.cfg.vocab, self.cfg.gazetteer)
        cmd = meaning.command if meaning.kind == "command" else None
        action = meaning.action if meaning.kind == "action" else None
        if cmd is not None and cmd.intent == "cancel":
            self.on_pick("act:drop", waiting)
        elif waiting.get("kind") != "confirm_review":
            self.on_meaning(meaning, text, waiting)
        elif meaning.kind == "bad_pick":
            self.show_review_confirm(waiting, self.t("input.bad_pick", n=2))
        elif meaning.kind in ("social", "help"):
            self.show_review_confirm(waiting)  # nothing said: the question again
        elif meaning.kind in ("answer", "story", "feedback") or (
            action is not None and action.kind == "rate"  # "不满意，没人来核实" is a reason here
        ):
            self.add_review_reason(text, waiting)
        else:  # a pick, a command, a new request, a tracking number: the question is left
            self.st["await"] = None
            self.on_meaning(meaning, text, waiting)
