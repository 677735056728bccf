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
    started, updated   ISO times

``await``    null | {"kind": "tracking_no"} | {"kind": "verify", "tracking_no", "since"}
             | {"kind": "pick_case" | "confirm_review" | "action_or_answer" | "cancel", …}
``pending``  null | {"effect": …, "tracking_no", …}: the effect intake is resolving
``failures`` ISO times of failed lookups (not found / mistyped / failed verification)
``shown``    null | {"id", "options": [[value, label], …]}: what the last prompt showed
``asks``     how many prompts with options were shown (the next ``shown.id``)

Every text message is first understood (:mod:`bot.dialogs.understand`), and only then
applied to the form.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from bot.cases.tracking import ParsedNumber, parse_tracking_no
from bot.dialogs import commands
from bot.dialogs.commands import Command
from bot.dialogs.extract import extract
from bot.dialogs.form import FieldDef
from bot.dialogs.kinds import KINDS
from bot.dialogs.lookups import Lookups, action_from_json
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
from bot.dialogs.types import Effect, Event, StepResult, Submission
from bot.dialogs.understand import Context, Meaning, understand
from bot.dialogs.validators import Invalid, clean_text, normalize_token, parse_verify_digits
from bot.dialogs.vocabulary import fold
from bot.messages import Attachment, Choice, Location, Reply

__all__ = [
    "CONFIRM",
    "PICK_EDIT",
    "STATE_VERSION",
    "EngineConfig",
    "load_engine_config",
    "new_state",
    "state_lang",
    "step",
]

log = logging.getLogger(__name__)

RESUME_AFTER = timedelta(hours=1)
VERIFY_TTL = timedelta(minutes=15)
MAX_ATTACHMENTS = 30
_CONTACT_SPLIT = "，,；;\n、 "
_CJK = re.compile(r"[\u3400-\u9fff]")


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


class _Turn(Lookups):
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
        if self.first_contact and event.lang_hint.lower().startswith("en"):
            self.st["lang"] = "en"
        self.st["pending"] = None
        self.check_draft()
        self.st["seen"] = self.now.isoformat()
        if self.draft is not None:
            self.draft["updated"] = self.now.isoformat()
        shown = self.st.get("shown") or {}
        if event.tap and event.tap != shown.get("id"):
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
        self.prune(draft)
        current = draft.get("current")
        f = self.current_form().field(current) if isinstance(current, str) else None
        if current not in (CONFIRM, PICK_EDIT) and (f is None or not f.applies(draft["answers"])):
            draft["current"] = self.next_field(draft)

    def start_draft(self, keep_attachments: list[Any] | None = None, announce: bool = True) -> None:
        form = self.cfg.forms.current()
        self.form = form
        now = self.now.isoformat()
        draft: dict[str, Any] = {
            "form_id": form.id,
            "version": form.version,
            "answers": {},
            "history": [],
            "current": "",
            "buffers": {},
            "attachments": list(keep_attachments or []),
            "from_story": [],
            "started": now,
            "updated": now,
        }
        draft["current"] = self.next_field(draft)
        self.st["draft"] = draft
        self.st["await"] = None
        if announce:
            self.prompt_current(self.t("draft.started", title=form.title.get(self.lang)))

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
        meaning = understand(text, self.context(), self.cfg.vocab, self.cfg.forms.gazetteer)
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
            self.answer_then_reask(self.t("human.contact"))
        elif kind == "opt_out":
            self.on_command(Command("unsubscribe"), text)
        elif kind == "story":
            self.on_story(meaning.fields, text)
        elif self.draft is not None:
            self.on_answer(text)
        elif commands.starts_petition(text) or self.names_type(text):
            self.on_story(extract(text, self.cfg.vocab, self.cfg.forms.gazetteer), text)
        elif self.first_contact:
            self.greet()
        else:
            self.prompt_current(self.t("menu.unknown"))

    def names_type(self, text: str) -> bool:
        """ "举报" or "检举控告" alone (the greeting's own words) start a petition of that type."""
        f = self.current_form().by_role("appeal_type")
        return f is not None and any(normalize_token(text) in c.tokens() for c in f.choices)

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
        if waiting.get("kind") == "tracking_no" and commands.parse_command(text) is None:
            parsed = parse_tracking_no(text)
            if parsed.outcome != "none":
                self.lookup(parsed)
                return True
        if waiting.get("kind") in ("pick_case", "confirm_review", "action_or_answer", "cancel"):
            self.st["await"] = waiting  # kept for the pick that answers it
        return False

    # ------------------------------------------------------------------ picks

    def on_pick(self, value: str, waiting: dict[str, Any]) -> None:
        """An option that was shown, picked by its number, its words or a tap."""
        self.st["await"] = None
        draft = self.draft
        prefix, _, arg = value.partition(":")
        if prefix == "act" and arg:
            self.on_act(arg, waiting)
        elif prefix == "case" and arg:
            if waiting.get("kind") == "pick_case":
                self.on_citizen_action(action_from_json(waiting.get("action") or {}), arg)
            else:
                self.lookup(ParsedNumber("valid", arg))
        elif prefix == "menu" and arg:
            self.on_command(Command(arg), "")  # type: ignore[arg-type]
        elif prefix == "lang" and arg:
            self.st["lang"] = arg
            self.prompt_current(self.t("lang.switched"))
        elif prefix == "field" and arg and draft is not None:
            self.on_edit(draft, arg)
        elif draft is None:
            self.prompt_current()
        elif draft["current"] == CONFIRM:
            if value == "confirm":
                self.submit(draft)
            elif value == "edit":
                self.on_edit(draft, "")
            else:
                self.on_command(Command("cancel"), "")
        elif value == "keep":
            self.on_continue(draft)
        else:
            self.on_field_pick(draft, value)

    def on_act(self, act: str, waiting: dict[str, Any]) -> None:
        if act == "file" and waiting.get("kind") == "confirm_review":
            self.file_review(waiting)
        elif act == "drop":
            self.answer_then_reask(self.t("review.dropped"))
        elif act in ("reuse", "fresh") and self.draft is not None:
            prior = self.draft.get("prior")
            form = self.current_form()
            if act == "reuse" and isinstance(prior, dict):
                values = [(f, prior[f.name]) for f in form.fields if f.name in prior]
                self.record(values)
            else:
                self.prompt_current()
        elif act == "cancel_yes" and self.draft is not None:
            self.st["draft"] = None
            self.prompt_current(self.t("draft.cancelled"))
        elif act == "action" and waiting.get("kind") == "action_or_answer":
            action = commands.parse_citizen_action(str(waiting.get("text") or ""))
            if action is not None:
                self.on_citizen_action(action)
                return
            self.prompt_current()
        elif act == "answer" and waiting.get("kind") == "action_or_answer" and self.draft:
            self.on_answer(str(waiting.get("text") or ""))
        else:  # cancel_no, or a stale option
            self.prompt_current()

    def on_field_pick(self, draft: dict[str, Any], value: str) -> None:
        f = self.current_field()
        if f is None:
            self.prompt_current()
            return
        if value == "skip" and f.optional:
            self.record([(f, None)])
        elif value == "done" and f.kind == "longtext":
            self.finish_longtext(f, draft)
        elif value == "done" and f.kind == "attachments":
            self.record([(f, len(draft["attachments"]))])
        elif f.choice(value) is not None:
            self.record([(f, value)])
        else:
            self.prompt_current()

    # ------------------------------------------------------------------ commands

    def on_command(self, cmd: Command, text: str) -> None:
        intent = cmd.intent
        draft = self.draft
        if intent == "help":
            self.on_help()
        elif intent == "cancel":
            self.on_cancel()
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
            self.ask_effect(Effect(kind="list_cases"))
        elif intent == "lang":
            self.on_lang(cmd.arg)
        elif intent in ("unsubscribe", "subscribe"):
            self.ask_effect(Effect(kind="broadcast_opt", opt_out=intent == "unsubscribe"))
        elif intent in ("back", "edit", "continue", "skip", "done", "confirm"):
            if draft is None:
                self.prompt_current("" if intent == "continue" else self.t("menu.unknown"))
            elif intent == "back":
                self.on_back(draft)
            elif intent == "edit":
                self.on_edit(draft, cmd.arg)
            elif intent == "continue":
                self.on_continue(draft)
            elif intent == "confirm" and draft["current"] == CONFIRM:
                self.submit(draft)
            else:
                self.on_field_pick(draft, intent)
        else:
            self.prompt_current(self.t("command.unknown", command=cmd.arg or text))

    def on_cancel(self) -> None:
        """取消: nothing to lose goes at once; a draft with answers asks first."""
        draft = self.draft
        if draft is None:
            self.prompt_current(self.t("draft.nothing_to_cancel"))
        elif not draft["answers"] and not draft["attachments"]:
            self.st["draft"] = None
            self.prompt_current(self.t("draft.cancelled"))
        else:
            self.st["await"] = {"kind": "cancel"}
            self.say(
                self.t("draft.cancel_confirm", count=len(draft["answers"])),
                (
                    Choice("act:cancel_yes", self.t("draft.cancel_yes")),
                    Choice("act:cancel_no", self.t("draft.cancel_no")),
                ),
            )

    def on_help(self) -> None:
        f = self.current_field()
        if self.draft is None:
            self.say(self.t("help.idle"), self.menu_choices())
            return
        if f is not None:
            self.say(self.t("help.field", label=f.label.get(self.lang), help=f.help.get(self.lang)))
        self.prompt_current(self.t("help.commands"))

    def on_lang(self, arg: str) -> None:
        code = commands.lang_code(arg) if arg else None
        if code is None:
            self.say(
                self.t("lang.choose"), (Choice("lang:zh", "中文"), Choice("lang:en", "English"))
            )
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
        """The field a citizen means by a read-back number or a label ("3", "手机号")."""
        draft = self.draft
        if draft is None:
            return None
        fields = self.summary_fields(draft)
        token = normalize_token(ref).replace(" ", "")
        if token.isdigit():
            n = int(token)
            return fields[n - 1] if 1 <= n <= len(fields) else None
        for f in fields:
            if token in {
                normalize_token(n).replace(" ", "") for n in (f.name, f.label.zh, f.label.en)
            }:
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
            draft["current"] = PICK_EDIT
            self.show_pick_edit()
            return
        f = self.current_form().field(arg) or self.resolve_field_ref(arg)
        if f is None or (f.name not in draft["answers"] and f.name != draft["current"]):
            self.prompt_current(self.t("edit.unknown", ref=arg))
            return
        draft["current"] = f.name
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
        if draft["current"] == CONFIRM:
            self.say(self.t("confirm.invalid"))
            self.show_summary()
            return
        if draft["current"] == PICK_EDIT:
            f = self.resolve_field_ref(text)
            if f is None or f.name not in draft["answers"]:
                self.prompt_current(self.t("edit.unknown", ref=text))
                return
            self.on_edit(draft, f.name)
            return
        f = self.current_field()
        assert f is not None
        group = self.group_pending(f, draft)
        if group:
            self.on_group_answer(group, text)
            return
        if f.kind == "longtext":
            self.collect_longtext(f, draft, text)
            return
        if KINDS[f.kind].free_text:
            refusal = self.implausible(f, text)
            if refusal:
                self.prompt_current(refusal)
                return
        found = self.stated(text)
        try:
            value = self.parse(f, found.get(f.role) or text, draft)
        except Invalid as bad:
            self.prompt_current(self.t(bad.key, **bad.params))
            return
        self.record([(f, value), *self.also_stated(found, draft, exclude=f)])

    def implausible(self, f: FieldDef, text: str) -> str:
        """Why a free-text answer is plainly the answer to something else: a bare option
        number, or an option of another question ("申诉求决" as 被反映对象); "" if none."""
        token = normalize_token(text)
        if token.isdigit() and len(token) <= 3:
            return self.t("invalid.bare_number")
        for other in self.current_form().fields:
            if other is not f and any(token in c.tokens() for c in other.choices):
                return self.t("invalid.other_question", label=other.label.get(self.lang))
        return ""

    def stated(self, text: str) -> dict[str, str]:
        """What an answer states besides itself: only personal data said with a cue
        ("我叫张三，电话…"); a district in an address is not where the matter happened."""
        vocab = self.cfg.vocab
        cues = (*vocab.cue("name"), *vocab.cue("phone"), *vocab.cue("address"))
        if len(text) < 6 or not any(cue in fold(text) for cue in cues):
            return {}
        return extract(text, vocab, self.cfg.forms.gazetteer, ("name", "phone", "address"))

    def parse(self, f: FieldDef, text: str, draft: dict[str, Any]) -> Any:
        """The value ``text`` gives ``f`` (raises Invalid)."""
        return KINDS[f.kind].parse(f, text, draft["answers"])

    def also_stated(
        self, found: dict[str, str], draft: dict[str, Any], *, exclude: FieldDef | None = None
    ) -> list[tuple[FieldDef, Any]]:
        """Other unanswered fields a message states ("我叫张三，电话…" at the name question)."""
        out = []
        answers = dict(draft["answers"])
        for f in self.current_form().fields:
            if f is exclude or not f.role or f.role not in found or f.name in answers:
                continue
            if not f.applies(answers) or f.kind == "longtext":
                continue
            try:
                value = KINDS[f.kind].parse(f, found[f.role], answers)
            except Invalid:
                continue
            answers[f.name] = value
            out.append((f, value))
        return out

    def on_group_answer(self, group: list[FieldDef], text: str) -> None:
        """One answer to a question asking for several fields: take each it states."""
        draft = self.draft
        assert draft is not None
        roles = {f.role for f in group}
        found = extract(text, self.cfg.vocab, self.cfg.forms.gazetteer, tuple(roles))
        if "name" in roles or "phone" in roles:
            found = {**self.contact_parts(group, text, draft), **found}
        if "incident_place" in roles and text.strip() and not self.is_only_region(text, found):
            found["incident_place"] = text
        facts = next((f for f in group if f.role == "facts"), None)
        if facts is not None and len(text) - len(found.get("request", "")) >= facts.min_len:
            found["facts"] = text  # more than the request alone: the story of the matter
        elif "request" in found:
            found["request"] = text  # the message is the request, as typed
        picked: list[tuple[FieldDef, Any]] = []
        answers = dict(draft["answers"])
        for f in group:
            if f.role not in found:
                continue
            try:
                value = KINDS[f.kind].parse(f, found[f.role], answers)
            except Invalid:
                continue
            answers[f.name] = value
            picked.append((f, value))
        if not picked:  # none of the group stated: an answer to its first question
            first = group[0]
            try:
                picked = [(first, self.parse(first, text, draft))]
            except Invalid as bad:
                self.prompt_current(self.t(bad.key, **bad.params))
                return
        self.record(picked)

    def contact_parts(
        self, group: list[FieldDef], text: str, draft: dict[str, Any]
    ) -> dict[str, str]:
        """ "张三，13812345678，杭州市西湖区文三路100号": each part by what it can be."""
        out: dict[str, str] = {}
        # spaces separate the parts of Chinese text ("张三 138… 西湖区…"), not of English names
        separators = _CONTACT_SPLIT if _CJK.search(text) else _CONTACT_SPLIT.replace(" ", "")
        parts = [p for p in _split(text, separators) if p]
        by_role = {f.role: f for f in group}
        for part in parts:
            for role in ("phone", "address", "name"):
                f = by_role.get(role)
                if f is None or role in out:
                    continue
                if role == "address" and not any(
                    ch in part for ch in "省市区县镇乡街道村路号弄组幢栋"
                ):
                    continue
                if role == "name" and len(part) > 10:
                    continue
                try:
                    KINDS[f.kind].parse(f, part, draft["answers"])
                except Invalid:
                    continue
                out[role] = part
                break
        return out

    def is_only_region(self, text: str, found: dict[str, str]) -> bool:
        f = self.current_form().by_role("region")
        token = normalize_token(text)
        return f is not None and any(token in c.tokens() for c in f.choices)

    def collect_longtext(self, f: FieldDef, draft: dict[str, Any], text: str) -> None:
        try:
            part = self.parse(f, text, draft)
        except Invalid as bad:
            self.prompt_current(self.t(bad.key, **bad.params))
            return
        parts: list[str] = draft["buffers"].setdefault(f.name, [])
        if sum(len(p) for p in parts) + len(parts) + len(part) > f.max_len:
            self.prompt_current(self.t("facts.total_too_long", max=f.max_len))
            return
        parts.append(part)
        count = len("\n".join(parts))
        self.say(
            self.t("facts.received", parts=len(parts), count=count),
            (Choice("done", self.t("choice.done")),),
        )

    def finish_longtext(self, f: FieldDef, draft: dict[str, Any]) -> None:
        parts = draft["buffers"].get(f.name) or []
        if not parts:
            if f.name in draft["answers"]:
                self.record([(f, draft["answers"][f.name])])
            else:
                self.prompt_current(self.t("invalid.longtext_empty"))
            return
        joined = "\n".join(parts)
        if len(joined) < f.min_len:
            self.prompt_current(self.t("invalid.too_short", min=f.min_len))
            return
        self.record([(f, joined)])

    def record(self, values: list[tuple[FieldDef, Any]], *, story: bool = False) -> None:
        """Write answers, then echo them with the next question in one message."""
        draft = self.draft
        assert draft is not None
        notes = []
        for f, value in values:
            draft["answers"][f.name] = value
            draft["history"] = [n for n in draft["history"] if n != f.name] + [f.name]
            draft["buffers"].pop(f.name, None)
            marked = [n for n in draft["from_story"] if n != f.name]
            draft["from_story"] = [*marked, f.name] if story else marked
            chosen = f.choice(value) if f.choices else None
            if chosen is not None and chosen.note is not None:
                notes.append(chosen.note.get(self.lang))
        self.prune(draft)
        draft["read_back"] = False
        kept = [f for f, _ in values if f.name in draft["answers"]]
        draft["current"] = self.next_field(draft)
        if story:
            echo = self.t("story.recorded", items=self.echo_items(kept, draft))
        elif kept and all(draft["answers"][f.name] is None for f in kept):
            echo = self.t("echo.skipped", labels="、".join(f.label.get(self.lang) for f in kept))
        else:
            echo = self.echo(kept, draft)
        self.prompt_current("\n".join(x for x in (echo, *notes) if x))

    def echo_items(self, fields: list[FieldDef], draft: dict[str, Any]) -> str:
        return self.t("echo.sep").join(
            self.t("echo.item", label=f.label.get(self.lang), value=self.short(f, draft))
            for f in fields
        )

    def on_story(self, found: dict[str, str], text: str) -> None:
        """A message that tells the matter: start (or fill) a petition with what it states."""
        if self.draft is None:
            self.start_draft(announce=False)
            self.say(self.t("story.started"))
        draft = self.draft
        assert draft is not None
        found = dict(found)
        facts = self.current_form().by_role("facts")
        if facts is not None and len(text) >= facts.min_len:
            found["facts"] = text
        if "address" in found and "region" in found and "incident_place" not in found:
            found["incident_place"] = found["address"]  # a local matter happened at home
        values = self.also_stated(found, draft)
        if facts is not None and "facts" in found and facts.applies(draft["answers"]):
            values.append((facts, text))
        values.sort(key=lambda item: self.current_form().fields.index(item[0]))
        if values:
            self.record(values, story=True)
        else:
            self.prompt_current()

    def submit(self, draft: dict[str, Any]) -> None:
        form = self.current_form()
        answers: dict[str, Any] = {}
        for f in form.applicable(draft["answers"]):
            value = draft["answers"].get(f.name)
            answers[f.name] = len(draft["attachments"]) if f.kind == "attachments" else value
        self.ask_effect(
            Effect(
                kind="submit",
                submission=Submission(
                    form_id=form.id,
                    form_version=form.version,
                    lang=self.lang,
                    answers=answers,
                    attachments=tuple(copy_json(a) for a in draft["attachments"]),
                ),
            )
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
        """A file is kept with the draft; a voice message's recognised text is read as typed."""
        draft = self.draft
        recognition = clean_text(att.recognition)
        if att.kind == "voice" and recognition and len(recognition) <= self.cfg.max_text_len:
            if draft is not None:
                self.keep_attachment(_attachment_item(att))
            self.say(self.t("input.voice_recognised", text=recognition))
            self.on_text(recognition)
            return
        if draft is None:
            self.prompt_current(self.t("attachments.idle"))
            return
        if self.keep_attachment(_attachment_item(att)):
            self.prompt_current(self.t("attachments.received", count=len(draft["attachments"])))

    def on_location(self, loc: Location) -> None:
        draft = self.draft
        if draft is None:
            self.prompt_current(self.t("attachments.idle"))
            return
        label = clean_text(loc.label)[:200]
        place = self.current_form().by_role("incident_place")
        if (
            place is not None
            and place.applies(draft["answers"])
            and (
                draft["current"] == place.name
                or place.name in {f.name for f in self.group_of_current()}
            )
        ):
            self.record([(place, {"label": label, "lat": loc.latitude, "lon": loc.longitude})])
            return
        item = {"kind": "location", "lat": loc.latitude, "lon": loc.longitude, "label": label}
        if self.keep_attachment(item):
            self.prompt_current(
                self.t("attachments.location_received", count=len(draft["attachments"]))
            )

    def group_of_current(self) -> list[FieldDef]:
        f = self.current_field()
        draft = self.draft
        return self.group_pending(f, draft) if f is not None and draft is not None else []


def _attachment_item(att: Attachment) -> dict[str, Any]:
    return {
        "kind": att.kind,
        "media_ref": att.media_ref,
        "mime": att.mime,
        "filename": att.filename,
        "size": att.size,
        "recognition": att.recognition,
    }


def _split(text: str, separators: str) -> list[str]:
    parts, current = [], ""
    for ch in text:
        if ch in separators:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts
