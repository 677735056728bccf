"""Asking: questions with their options, the read-back, the menu, and what numbers mean.

Only the last reply of a turn carries options, and the state remembers them (``shown``):
a number or a label picks exactly what was displayed, on every channel, and a button of
an earlier question (a Telegram keyboard still on screen) is recognised as such.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from bot.dialogs import commands
from bot.dialogs.form import ChoiceDef, FieldDef, I18n
from bot.dialogs.kinds import KINDS
from bot.dialogs.turn import CONFIRM, PICK_EDIT, TurnBase
from bot.dialogs.types import Effect
from bot.dialogs.understand import Option
from bot.dialogs.validators import normalize_token
from bot.logging import mask_phone
from bot.messages import Choice, Reply

CONTACT_ROLES = ("name", "phone", "address")  # offered again to a returning citizen
# a read-back fits one WeChat message (2048 bytes) and a phone screen: a longer text the
# citizen wrote is shown by its start and its length
READ_BACK_CHARS = 400
READ_BACK_HEAD = 150


MENU = (
    ChoiceDef("menu:new", I18n("新建信访事项", "File a petition"), ("新建", "file a petition")),
    ChoiceDef(
        "menu:status", I18n("查询办理进度", "Check status"), ("查询", "进度", "check status")
    ),
    ChoiceDef("menu:my_cases", I18n("我的事项", "My cases"), ("我的", "my cases")),
    ChoiceDef("menu:help", I18n("帮助", "Help"), ("help",)),
)
# words that pick a special option besides its label (field choices bring their aliases)
OPTION_WORDS: dict[str, tuple[str, ...]] = {
    "done": commands.DONE_WORDS,
    "skip": commands.SKIP_WORDS,
    "confirm": commands.CONFIRM_WORDS,
    "edit": commands.WORDS["edit"],
    "cancel": commands.WORDS["cancel"],
    "keep": commands.WORDS["continue"],
    "act:file": commands.CONFIRM_WORDS,  # 确认申请 / 确认撤回
    "lang:zh": ("中文", "chinese", "zh"),
    "lang:en": ("english", "英文", "英语", "en"),
    **{c.value: (c.label.zh, c.label.en, *c.aliases) for c in MENU},
}
# "是的" to "可能是“城乡建设”，是的话请选择它", "对" to the read-back, to "确认申请吗？", to
# "沿用您上次留的联系方式吗？": the option that says yes; "不用" the one that says no
# (config/understanding.yaml: agree, decline)
REUSE, FRESH = "act:reuse", "act:fresh"


@functools.lru_cache(maxsize=4096)
def _option_tokens(value: str, label: str) -> frozenset[str]:
    """Every spelling that picks an option shown as ``label`` (read for every message)."""
    tokens = {normalize_token(w) for w in (value, label, *OPTION_WORDS.get(value, ())) if w}
    return frozenset(tokens | {t.replace(" ", "") for t in tokens})


class Prompting(TurnBase):
    """Questions, options, the read-back and the menu."""

    # ------------------------------------------------------------------ the turn's end

    def finish_replies(self) -> list[Reply]:
        """The turn's replies: only the last keeps its options, which become ``shown``."""
        replies = [r if not r.choices else replace(r, choices=()) for r in self.replies[:-1]]
        last = self.replies[-1] if self.replies else None
        if last is not None and last.choices:
            self.st["asks"] = int(self.st.get("asks") or 0) + 1
            ask = str(self.st["asks"])
            options = [[c.value, c.label] for c in last.choices]
            before = self.st.get("shown") or {}
            what = self.question_key()
            # the same question asked again (after a refused answer): the keyboards of the
            # earlier asks still answer it (see :meth:`tap_still_open`)
            same = before.get("what") == what and before.get("options") == options
            since = str(before.get("since") or before.get("id")) if same else ask
            self.st["shown"] = {"id": ask, "options": options, "what": what, "since": since}
            last = replace(last, ask=ask)
        elif last is not None:
            self.st["shown"] = None
        return [*replies, last] if last is not None else replies

    def question_key(self) -> str:
        """What the question now open is: the draft's current field and what is awaited."""
        draft = self.st.get("draft")
        current = draft.get("current") if isinstance(draft, dict) else ""
        waiting = self.st.get("await")
        kind = waiting.get("kind") if isinstance(waiting, dict) else ""
        return f"{current or ''}|{kind or ''}"

    def tap_still_open(self, tap: str, value: str) -> bool:
        """A tap on an older keyboard of the question open now, naming one of its options."""
        shown = self.st.get("shown")
        if not isinstance(shown, dict) or not tap.isdigit():
            return False
        since, last = str(shown.get("since") or shown.get("id") or ""), str(shown.get("id") or "")
        if not (since.isdigit() and last.isdigit() and int(since) <= int(tap) <= int(last)):
            return False
        return any(str(v) == value for v, _ in shown.get("options") or [])

    def shown_options(self) -> tuple[Option, ...]:
        """The options the last prompt showed, with every spelling that picks each."""
        shown = self.st.get("shown")
        if not isinstance(shown, dict):
            return ()
        current = self.current_field()
        choices = {c.value: c for c in current.choices} if current else {}
        values = [str(value) for value, _ in shown.get("options") or []]
        yes, no = self.agreeing_option(values), self.refusing_option(values)
        out = []
        for value, label in shown.get("options") or []:
            tokens = _option_tokens(str(value), str(label))
            if value in choices:
                tokens |= choices[value].tokens() | choices[value].compact_tokens()
            if value == yes:
                tokens |= self.cfg.vocab.agree
            elif value == no:
                tokens |= self.cfg.vocab.decline
            out.append(Option(str(value), tokens))
        return tuple(out)

    def agreeing_option(self, values: list[str]) -> str | None:
        """The shown option a plain "是"/"对"/"好的" picks: the suggested answer, the read-back's
        确认提交, the 确认申请 of a described request, the rating a 回访 reply was read as,
        the one case a file is offered to."""
        if REUSE in values:
            return REUSE
        found = self.st.get("await")
        waiting: dict[str, Any] = found if isinstance(found, dict) else {}
        kind = waiting.get("kind")
        if kind == "confirm_review":
            return "act:file"
        if kind == "feedback":
            return f"act:rate_{waiting['rating']}" if waiting.get("rating") else None
        if kind == "add_material":
            cases = [v for v in values if v.startswith("case:")]
            return cases[0] if len(cases) == 1 else None
        draft = self.draft
        if draft is None:
            return None
        if draft["current"] == CONFIRM:
            return "confirm"
        current = self.current_field()
        if current is not None and current.name not in draft["answers"]:
            guess = (draft.get("suggested") or {}).get(current.name)
            return str(guess) if guess is not None else None
        return None

    def refusing_option(self, values: list[str]) -> str | None:
        """The shown option a plain "不"/"算了" picks: 重新填写, 暂不申请, 不撤回, 不补充."""
        if FRESH in values:
            return FRESH
        found = self.st.get("await")
        kind = found.get("kind") if isinstance(found, dict) else None
        return "act:drop" if kind in ("confirm_review", "add_material") else None

    # ------------------------------------------------------------------ questions

    def field_choices(self, f: FieldDef, draft: dict[str, Any]) -> tuple[Choice, ...]:
        """The options shown with a question: its choices, 完成, 跳过, 保留原答案."""
        choices = [Choice(c.value, c.label.get(self.lang)) for c in f.choices]
        guess = (draft.get("suggested") or {}).get(f.name)
        if guess is not None and f.name not in draft["answers"]:  # the story's guess first
            choices.sort(key=lambda c: c.value != guess)
        kind = KINDS[f.kind]
        collected = draft["buffers"].get(f.name) or (f.kind == "attachments")
        if kind.done_option and collected:
            choices.append(Choice("done", self.t("choice.done")))
        if f.optional:
            choices.append(Choice("skip", self.t("choice.skip")))
        if f.name in draft["answers"] and not f.choices:
            choices.append(Choice("keep", self.t("choice.keep")))
        return tuple(choices)

    def group_pending(self, f: FieldDef, draft: dict[str, Any]) -> list[FieldDef]:
        """The fields of ``f``'s group asked together now: none of them answered yet."""
        group = [g for g in self.current_form().group_of(f) if g.applies(draft["answers"])]
        if len(group) < 2 or any(g.name in draft["answers"] for g in group):
            return []
        return group

    def question(self, f: FieldDef) -> tuple[str, tuple[Choice, ...]]:
        """The question for ``f`` (its group's question when the group is untouched)."""
        draft = self.draft
        assert draft is not None
        group = self.group_pending(f, draft)
        prompt = self.current_form().groups[f.group] if group else f.prompt
        self.note_asked(f, group, draft)
        text = self.t("ask.question", n=self.question_number(f), prompt=prompt.get(self.lang))
        if f.name in draft["answers"]:
            text += "\n" + self.t("ask.current", answer=self.display(f, draft))
        else:
            guess = f.choice((draft.get("suggested") or {}).get(f.name))
            if guess is not None and not group:
                text += "\n" + self.t("ask.suggested", label=guess.label.get(self.lang))
        choices = () if group else self.field_choices(f, draft)
        return text, choices

    def note_asked(self, f: FieldDef, group: list[FieldDef], draft: dict[str, Any]) -> None:
        """Remember the question being asked, for its number: a question asked before keeps
        its number, and so does what a question asking several fields left open ("请写明事实
        和理由" after the matter question gave only the request)."""
        asked = draft.setdefault("asked", [])
        if not any(f.name in names for names in asked):
            asked.append([g.name for g in group] if group else [f.name])

    def location_hint(self, f: FieldDef) -> str:
        """ "也可以直接发送位置" when ``f`` (or the group asked with it) takes a place."""
        draft = self.draft
        asked = (self.group_pending(f, draft) if draft is not None else []) or [f]
        return self.t("ask.location_hint") if any(g.kind == "place" for g in asked) else ""

    def prompt_current(self, prefix: str = "") -> None:
        """Ask the current question (or show the idle menu), optionally after ``prefix``."""
        draft = self.draft
        if draft is None:
            text = self.t("menu.prompt")
            self.say(f"{prefix}\n\n{text}" if prefix else text, self.menu_choices())
            return
        current = draft["current"]
        if current in (CONFIRM, PICK_EDIT):
            if prefix:
                self.say(prefix)
            if current == PICK_EDIT:
                self.show_pick_edit()
            elif draft.get("read_back"):  # shown already: only the question again
                self.show_confirm()
            else:
                self.show_summary()
            return
        f = self.current_form().field(current)
        if f is None:  # defensive: normalise_draft keeps current valid
            draft["current"] = self.next_field(draft)
            self.prompt_current(prefix)
            return
        if f.role in CONTACT_ROLES and self.group_pending(f, draft):
            prior = draft.get("prior")
            if not prior:  # a citizen who filed before is offered their contact details again
                draft["prior"] = "asked"
                self.ask_effect(Effect(kind="last_contact"), prefix=prefix)
                return
            if isinstance(prior, dict) and draft.get("prior_open") and f.name in prior:
                self.show_prior(prefix)  # still open: a greeting or 返回 does not drop it
                return
        text, choices = self.question(f)
        self.say(f"{prefix}\n\n{text}" if prefix else text, choices, self.location_hint(f))

    def offer_prior(self, prior: dict[str, str], prefix: str) -> None:
        """ "沿用上次的联系方式吗？" with what the last petition gave; else the question."""
        draft = self.draft
        f = self.current_field()
        fields = [
            g
            for g in (self.group_pending(f, draft) if f is not None and draft is not None else [])
            if prior.get(g.role)
        ]
        if draft is None or not fields:
            self.prompt_current(prefix)
            return
        draft["prior"] = {g.name: prior[g.role] for g in fields}
        draft["prior_open"] = True
        self.show_prior(prefix)

    def show_prior(self, prefix: str = "") -> None:
        """The offer of the earlier contact details (``draft["prior"]``, by field name)."""
        draft = self.draft
        assert draft is not None
        form = self.current_form()
        fields = [g for g in form.fields if g.name in draft["prior"]]
        shown = "，".join(
            KINDS[g.kind].display(
                g,
                mask_phone(draft["prior"][g.name]) if g.role == "phone" else draft["prior"][g.name],
                self.lang,
                self.t,
            )
            for g in fields
        )
        text = self.t("prior.offer", details=shown)
        self.say(
            f"{prefix}\n\n{text}" if prefix else text,
            (
                Choice(REUSE, self.t("prior.reuse")),
                Choice(FRESH, self.t("prior.fresh")),
            ),
        )

    def ask_effect(self, effect: Effect, **pending: Any) -> None:
        """Hand ``effect`` to intake; its resolution comes back as the next event."""
        self.st["pending"] = {"effect": effect.kind, "tracking_no": effect.tracking_no, **pending}
        self.effect = effect

    def menu_choices(self) -> tuple[Choice, ...]:
        """The idle menu."""
        return tuple(Choice(c.value, c.label.get(self.lang)) for c in MENU)

    # ------------------------------------------------------------------ read-back

    def display(self, f: FieldDef, draft: dict[str, Any]) -> str:
        """An answer as the citizen reads it back: labels, never codes."""
        if f.kind == "attachments":
            return self.t("summary.attachments", count=len(draft["attachments"]))
        value = draft["answers"].get(f.name)
        if value is None:
            return self.t("summary.skipped")
        return KINDS[f.kind].display(f, value, self.lang, self.t)

    def echo(self, fields: list[FieldDef], draft: dict[str, Any]) -> str:
        """One line saying what was just recorded ("已记录姓名：张三。")."""
        return self.t("echo.recorded", items=self.echo_items(fields, draft)) if fields else ""

    def echo_items(self, fields: list[FieldDef], draft: dict[str, Any]) -> str:
        """The recorded answers, "姓名：张三；联系电话：…"."""
        return self.t("echo.sep").join(
            self.t("echo.item", label=f.label.get(self.lang), value=self.short(f, draft))
            for f in fields
        )

    def short(self, f: FieldDef, draft: dict[str, Any]) -> str:
        """A recorded answer, shortened for the echo line."""
        text = self.display(f, draft)
        if f.kind == "longtext" and len(text) > 20:
            return self.t("echo.long", count=len(text))
        return text if len(text) <= 40 else text[:38] + "…"

    def summary_lines(self, draft: dict[str, Any]) -> list[str]:
        """The read-back, one numbered line per field; story answers are marked."""
        story = set(draft.get("from_story", []))
        scene = set(draft.get("from_scene", []))
        lines = []
        for i, f in enumerate(self.summary_fields(draft), 1):
            key = "summary.line_story" if f.name in story else "summary.line"
            key = "summary.line_scene" if f.name in scene else key
            value = self.display(f, draft)
            if f.kind == "longtext" and len(value) > READ_BACK_CHARS:
                # the citizen's own long text, recorded in full: its start and its length
                head = value[:READ_BACK_HEAD].rstrip()
                value = self.t("summary.long", head=head, count=len(value))
            lines.append(self.t(key, n=i, label=f.label.get(self.lang), value=value))
        return lines

    def show_summary(self) -> None:
        """The read-back and the confirmation question (the stand-in for 签名确认)."""
        draft = self.draft
        assert draft is not None
        draft["read_back"] = True
        lines = [self.t("summary.header"), *self.summary_lines(draft)]
        if draft.get("from_story"):
            lines.append(self.t("summary.story_note"))
        self.say("\n".join(lines))
        self.show_confirm()

    def show_confirm(self) -> None:
        """The confirmation question of the read-back."""
        self.say(
            self.t("confirm.prompt"),
            (
                Choice("confirm", self.t("confirm.submit")),
                Choice("edit", self.t("confirm.edit")),
                Choice("cancel", self.t("confirm.cancel")),
            ),
        )

    def show_pick_edit(self) -> None:
        """Which answer to change: every read-back line, numbered as in the read-back."""
        draft = self.draft
        assert draft is not None
        fields = self.summary_fields(draft)
        self.say(
            self.t("edit.pick"),
            tuple(
                Choice(f"field:{f.name}", f"{f.label.get(self.lang)}：{self.short(f, draft)}")
                for f in fields
            ),
        )
