"""Moving in the conversation: options picked, commands, 返回, 修改, 继续, 取消, language."""

from __future__ import annotations

import re
from typing import Any

from bot.dialogs import commands
from bot.dialogs.answering import Answering
from bot.dialogs.commands import CitizenAction, Command
from bot.dialogs.form import FieldDef
from bot.dialogs.lookups import action_from_json
from bot.dialogs.turn import CONFIRM, PICK_EDIT
from bot.dialogs.types import Effect
from bot.dialogs.validators import normalize_token
from bot.domain.tracking import ParsedNumber
from bot.messages import Choice

# "6不对，应该是南山路": the words before the new value
_NEW_VALUE_LEAD = re.compile(
    r"^(?:应该是|应是|就是|应该叫|改成|改为|换成|是|叫|should be|it is|it's)\s*", re.I
)


class Navigation(Answering):
    """Picks and commands."""

    def on_answer(self, text: str) -> None:
        """At "which answer to change?", a read-back number or label names the field."""
        draft = self.draft
        if draft is not None and draft["current"] == PICK_EDIT:
            f = self.resolve_field_ref(text)
            if f is None or f.name not in draft["answers"]:
                self.prompt_current(self.t("edit.unknown", ref=text))
                return
            self.on_edit(draft, f.name)
            return
        super().on_answer(text)

    # ------------------------------------------------------------------ picks

    def on_pick(self, value: str, waiting: dict[str, Any]) -> None:
        """An option that was shown, picked by its number, its words or a tap."""
        self.st["await"] = None
        draft = self.draft
        prefix, _, arg = value.partition(":")
        if prefix == "act" and arg:
            self.on_act(arg, waiting)
        elif prefix == "case" and arg:
            if waiting.get("kind") == "add_material":
                attachment = str(waiting.get("attachment") or "")
                effect = Effect(
                    kind="add_material", tracking_no=arg, attachment=attachment, confirmed=True
                )
                self.ask_effect(effect, attachment=attachment)
            elif waiting.get("kind") == "pick_case":
                self.on_citizen_action(action_from_json(waiting.get("action") or {}), arg)
            else:
                self.lookup(ParsedNumber("valid", arg))
        elif prefix == "menu" and arg:
            self.on_command(Command(arg), "")  # type: ignore[arg-type]
        elif prefix == "lang" and arg:
            self.st["lang"] = arg
            self.st["lang_from_hint"] = False
            self.prompt_current(self.t("lang.switched"))
        elif prefix == "field" and arg and draft is not None:
            self.on_edit(draft, arg)
        elif (action := commands.parse_citizen_action(value)) is not None:
            self.on_citizen_action(action)  # "满意 XF…" of an answered case's options
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
        elif act.startswith("rate_") and waiting.get("kind") == "feedback":
            comment = str(waiting.get("text") or "")
            self.on_citizen_action(CitizenAction("rate", rating=act[5:], comment=comment))
        elif act == "not_feedback":
            self.prompt_current(self.t("feedback.not_rating_reply"))
        elif act == "drop" and waiting.get("kind") == "add_material":
            self.answer_then_reask(self.t("material.not_added"))
        elif act == "drop":
            withdrawing = (waiting.get("action") or {}).get("kind") == "withdraw"
            self.answer_then_reask(self.t("withdraw.kept" if withdrawing else "review.dropped"))
        elif act in ("reuse", "fresh") and self.draft is not None:
            prior = self.draft.get("prior")
            self.draft["prior_open"] = False
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
        elif intent == "start":
            if draft is None:
                self.say(self.t("greeting"), self.menu_choices())
            else:
                self.prompt_current(self.t("draft.in_progress"))
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
            return
        own = [n for n in draft["answers"] if n not in draft.get("from_scene", [])]
        if not own and not draft["attachments"]:
            self.st["draft"] = None
            self.prompt_current(self.t("draft.cancelled"))
        else:
            self.st["await"] = {"kind": "cancel"}
            self.say(
                self.t("draft.cancel_confirm", count=len(own)),
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
        self.st["lang_from_hint"] = False
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
        if self.reopen_prior(draft, target):
            return
        draft["current"] = target
        self.prompt_current()

    def reopen_prior(self, draft: dict[str, Any], target: str) -> bool:
        """返回 to contact details taken from the earlier petition: the offer again (its
        answers are set aside until the citizen takes or declines it); True if reopened."""
        prior = draft.get("prior")
        if not isinstance(prior, dict) or target not in prior:
            return False
        if any(draft["answers"].get(name) != value for name, value in prior.items()):
            return False  # the citizen's own answers: 返回 goes to the question as usual
        for name in prior:
            draft["answers"].pop(name, None)
        self.prune(draft)
        draft["current"] = self.next_field(draft)
        draft["prior_open"] = True
        self.prompt_current()
        return True

    def resolve_field_ref(self, ref: str) -> FieldDef | None:
        """The field a citizen means by a read-back number, a label or one of the field's
        aliases in the form ("3", "手机号", "名字")."""
        draft = self.draft
        if draft is None:
            return None
        fields = self.summary_fields(draft)
        token = normalize_token(ref).replace(" ", "")
        if token.isdigit() and draft["current"] not in (CONFIRM, PICK_EDIT):
            return self.field_of_question(int(token), draft)  # "第3题" as it was asked
        if token.isdigit():  # a line of the read-back
            n = int(token)
            return fields[n - 1] if 1 <= n <= len(fields) else None
        for f in fields:  # its name, its label, or a word the form gives it ("名字")
            if token in {
                normalize_token(n).replace(" ", "")
                for n in (f.name, f.label.zh, f.label.en, *f.aliases)
            }:
                return f
        for f in fields:  # a unique partial label match ("电话" for "联系电话")
            if len(token) >= 2 and token in normalize_token(f.label.get(self.lang)):
                return f
        # the words citizens use for a field's role ("手机号码" for 联系电话, "地址" for 住址)
        by_cue = [
            f
            for f in fields
            if f.role and any(len(w) >= 2 and w in token for w in self.cfg.vocab.cue(f.role))
        ]
        return by_cue[0] if len(by_cue) == 1 else None

    def field_of_question(self, n: int, draft: dict[str, Any]) -> FieldDef | None:
        """The first field question ``n`` asked (mid-form "修改 3" names 第3题)."""
        asked = {str(name) for names in draft.get("asked") or [] for name in names}
        for f in self.summary_fields(draft):
            if (f.name in asked or f.name == draft["current"]) and self.question_number(f) == n:
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

    def on_correction(self, draft: dict[str, Any], ref: str, rest: str, text: str) -> None:
        """ "改一下地址" / "6不对，…": reopen the answer it names (with the new words as its
        answer when it gives them); words that name no answer are an ordinary answer."""
        f = self.resolve_field_ref(ref)
        if f is None or (f.name not in draft["answers"] and f.name != draft["current"]):
            self.on_answer(text)
            return
        draft["current"] = f.name
        rest = _NEW_VALUE_LEAD.sub("", rest)
        if len(rest) >= 2:
            self.on_answer(rest)
        else:
            self.prompt_current()

    def on_continue(self, draft: dict[str, Any]) -> None:
        current = draft["current"]
        if current == PICK_EDIT or current in draft["answers"]:
            draft["current"] = self.next_field(draft)
        self.prompt_current()
