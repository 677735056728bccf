"""Filling the form: answers, questions asked together, stories, the echo, submission.

An answer is applied only after the understanding layer read it as one. Free-text
answers are checked for plausibility first; a question that asks for several fields takes
each one the answer states; a story fills every field it states, marked as such in the
read-back. Every accepted answer is echoed in one line together with the next question.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import timedelta
from typing import Any

from bot.dialogs import commands
from bot.dialogs.extract import extract, sure_category
from bot.dialogs.form import FieldDef
from bot.dialogs.kinds import KINDS
from bot.dialogs.kinds.integer import SELF_ONLY
from bot.dialogs.lookups import Lookups
from bot.dialogs.turn import CONFIRM, copy_json, parse_time
from bot.dialogs.types import Effect, Submission
from bot.dialogs.understand import after_social
from bot.dialogs.validators import Invalid, normalize_token
from bot.dialogs.vocabulary import fold
from bot.messages import Choice

_CONTACT_PARTS = re.compile(r"[，,；;\n、\s]+")  # "张三 138… 西湖区…": spaces too
_ENGLISH_PARTS = re.compile(r"[，,；;\n]+")  # "Li Ming, …": a space is inside a name
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_ADDRESS = re.compile(
    r"\d|\b(?:road|rd|street|st|avenue|ave|lane|district|village|town|city|building|"
    r"block|floor|room|apartment|apt|hotel|community|estate|no)\b",
    re.I,
)
# roles whose value a story only suggests: the citizen confirms it when the question comes
# (a category guessed from a word or two is wrong too often to be recorded silently)
SUGGESTED_ONLY = ("category",)
# "不晓得谁管路灯", "没有编号" under an optional question: the citizen does not know, or
# has none
_UNKNOWN = re.compile(
    r"^(?:我|俺)?(?:也)?(?:不知道|不晓得|不清楚|不太清楚|说不清|不记得|搞不清|忘了|记不得|记不清)"
    r"|^(?:我|俺)?(?:没有|没|无)(?:编号|号码|单号|回执|这个)?(?:了|啊|呢|的)?$"
    r"|^(?:i\s+)?(?:don'?t|do\s+not)\s+(?:know|have)|^not\s+sure|^unknown$|^no\s+number$"
)
_CLAUSE_BREAK = re.compile(r"[，,。；;]")
_SKIP = frozenset(("跳过", "略过", "skip"))
# a poster's QR code pre-selects for the petitions started within this time of the scan
PRESELECT_TTL = timedelta(days=1)


class Answering(Lookups):
    """Answers, stories and the draft they fill."""

    def start_draft(
        self,
        keep_attachments: list[Any] | None = None,
        announce: bool = True,
        stated: Collection[str] = (),
    ) -> str:
        """Open a new draft (and ask its first question when ``announce``); the line naming
        what the entry point pre-selected (roles the citizen ``stated`` aside), or ""."""
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
            "from_scene": [],
            "asked": [],
            "started": now,
            "updated": now,
        }
        self.st["draft"] = draft
        self.st["await"] = None
        chosen = self.preselect(draft, stated)
        draft["current"] = self.next_field(draft)
        line = self.t("draft.preselected", items=chosen) if chosen else ""
        if announce:
            started = self.t("draft.started", title=form.title.get(self.lang))
            self.prompt_current("\n".join(filter(None, (started, line))))
        return line

    def preselect(self, draft: dict[str, Any], stated: Collection[str]) -> str:
        """Record what the entry point the citizen came through pre-selects (a poster of
        the Xihu district hall: 事发地 西湖区); the choices named for the start message."""
        entry = self.st.get("preselect")
        if not isinstance(entry, dict):
            return ""
        at = parse_time(entry.get("at"))
        if at is None or self.now - at > PRESELECT_TTL:
            self.st["preselect"] = None
            return ""
        chosen = []
        for role, value in entry.get("values") or []:
            f = self.current_form().by_role(str(role))
            if role in stated or f is None or f.choice(value) is None:
                continue
            if not f.applies(draft["answers"]):
                continue
            draft["answers"][f.name] = value
            draft["history"].append(f.name)
            draft["from_scene"].append(f.name)
            chosen.append(f)
        return self.echo_items(chosen, draft) if chosen else ""

    # ------------------------------------------------------------------ answers

    def on_answer(self, text: str) -> None:
        """Text the understanding layer read as an answer to the current question."""
        draft = self.draft
        assert draft is not None
        if draft["current"] == CONFIRM:  # the read-back was shown: only its question again
            self.prompt_current(self.t("confirm.invalid"))
            return
        f = self.current_field()
        assert f is not None
        if f.kind != "longtext":  # "你好，西湖区文三路": the greeting is no part of the answer
            text = after_social(text, self.cfg.vocab) or text
        group = self.group_pending(f, draft)
        if normalize_token(text) in _SKIP and not any(g.optional for g in group or [f]):
            self.prompt_current(self.t("invalid.required"))  # "跳过" a required question
            return
        if group:
            refusal = self.implausible(f, text)
            if refusal:
                self.prompt_current(refusal)
                return
            self.on_group_answer(group, text)
            return
        if f.kind == "longtext":
            self.collect_longtext(f, draft, text)
            return
        if f.role == "representatives" and SELF_ONLY.match(normalize_token(text)):
            count = self.current_form().by_role("people_count")
            if count is not None:  # "就俺自己": no group, so no representatives
                self.record([(count, 1)])
                return
        # "不知道厂名，就是港南路那家印染厂" goes on to say it: only a lone clause is unknown
        lone = not _CLAUSE_BREAK.search(text.strip().rstrip("。.!！"))
        if f.optional and not f.choices and lone and _UNKNOWN.match(normalize_token(text)):
            self.record([(f, None)])  # "不晓得谁管": not known, skipped (said in the echo)
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
            if not self.suggest(f, draft, text):
                self.prompt_current(self.t(bad.key, **bad.params))
            return
        self.record([(f, value), *self.also_stated(found, draft, exclude=f)])

    def suggest(self, f: FieldDef, draft: dict[str, Any], text: str) -> bool:
        """A sentence under a list ("楼下路灯坏了 不知道选哪个"): the option its words suggest
        is offered first; True when there was one."""
        if f.role not in SUGGESTED_ONLY:
            return False
        guess = extract(text, self.cfg.vocab, self.cfg.gazetteer, (f.role,)).get(f.role)
        if guess is None or f.choice(guess) is None:
            return False
        draft.setdefault("suggested", {})[f.name] = guess
        self.prompt_current()
        return True

    def implausible(self, f: FieldDef, text: str) -> str:
        """Why a free-text answer is plainly the answer to something else: a bare option
        number, a yes or a no ("对" as 姓名), or an option of another question ("申诉求决" as
        被反映对象); "" if none."""
        token = normalize_token(text)
        if token.isdigit() and len(token) <= 3:
            return self.t("invalid.bare_number")
        if commands.starts_petition(text) and not commands.without_start_words(text):
            return self.t("draft.in_progress")  # "新建" while filling one in: never a name
        compact = token.replace(" ", "")
        if compact in self.cfg.vocab.agree or compact in self.cfg.vocab.decline:
            return self.t("invalid.yes_no", text=text.strip(" 。.，,！!？?"))  # never a name
        for other in self.current_form().fields:
            if other is not f and any(token in c.tokens() for c in other.choices):
                return self.t("invalid.other_question", label=other.label.get(self.lang))
        return ""

    def stated(self, text: str) -> dict[str, str]:
        """What an answer states besides itself: only personal data said with a cue
        ("我叫张三，电话…"); a district in an address is not where the matter happened."""
        vocab = self.cfg.vocab
        cues = (*vocab.cue("name"), *vocab.cue("phone"), *vocab.cue("address"))
        folded = fold(text)
        if len(text) < 6 or not any(cue in folded for cue in cues):
            return {}
        return extract(text, vocab, self.cfg.gazetteer, ("name", "phone", "address"))

    def parse(self, f: FieldDef, text: str, draft: dict[str, Any]) -> Any:
        """The value ``text`` gives ``f`` (raises Invalid)."""
        return KINDS[f.kind].parse(f, text, self.current_form().by_roles(draft["answers"]))

    def also_stated(
        self, found: dict[str, str], draft: dict[str, Any], *, exclude: FieldDef | None = None
    ) -> list[tuple[FieldDef, Any]]:
        """Other unanswered fields a message states ("我叫张三，电话…" at the name question);
        a pre-selected answer counts as unanswered (the citizen's words replace it)."""
        preselected = set(draft.get("from_scene", []))
        fields = [
            f
            for f in self.current_form().fields
            if f is not exclude
            and (f.name not in draft["answers"] or f.name in preselected)
            and f.kind != "longtext"
        ]
        return self.take(fields, found, draft)

    def take(
        self, fields: list[FieldDef], found: dict[str, str], draft: dict[str, Any]
    ) -> list[tuple[FieldDef, Any]]:
        """The fields whose value ``found`` states (by role) and their kind accepts, in order
        (each answer taken counts for the conditions of the next)."""
        out = []
        answers = dict(draft["answers"])
        for f in fields:
            if not f.role or f.role not in found or not f.applies(answers):
                continue
            try:
                value = KINDS[f.kind].parse(f, found[f.role], self.current_form().by_roles(answers))
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
        found = extract(text, self.cfg.vocab, self.cfg.gazetteer, tuple(roles))
        if "name" in roles or "phone" in roles:
            parts = self.contact_parts(group, text, draft)
            # Chinese: the story reading knows "我叫…"; a latin line is read by its parts
            found = {**parts, **found} if _CJK.search(text) else {**found, **parts}
        if "incident_place" in roles and text.strip() and not self.is_only_region(text):
            found["incident_place"] = text
        facts = next((f for f in group if f.role == "facts"), None)
        if facts is not None and len(text) - len(found.get("request", "")) >= facts.min_len:
            found["facts"] = text  # more than the request alone: the story of the matter
        elif "request" in found:
            found["request"] = text  # the message is the request, as typed
        picked = self.take(group, found, draft)
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
        splitter = _CONTACT_PARTS if _CJK.search(text) else _ENGLISH_PARTS
        parts = [p.strip() for p in splitter.split(text) if p.strip()]
        by_role = {f.role: f for f in group}
        latin = not _CJK.search(text)
        for part in parts:
            for role in ("phone", "address", "name"):
                f = by_role.get(role)
                if f is None or role in out:
                    continue
                if role == "address" and not any(
                    ch in part for ch in "省市区县镇乡街道村路号弄组幢栋"
                ):
                    continue
                if role == "name" and len(part) > (40 if latin else 10):
                    continue
                try:
                    KINDS[f.kind].parse(f, part, self.current_form().by_roles(draft["answers"]))
                except Invalid:
                    continue
                out[role] = part
                break
        if latin and "address" in by_role and "address" not in out:
            # "Anna Schmidt, +49 …, Hotel Hangzhou, 2 Hubin Road, Shangcheng": what is
            # left after the name and the phone is the address, when it looks like one
            rest = [p for p in parts if p not in (out.get("name"), out.get("phone"))]
            if rest and any(_LATIN_ADDRESS.search(p) for p in rest):
                out["address"] = ", ".join(rest)
        return out

    def is_only_region(self, text: str) -> bool:
        """The answer is just a district ("西湖区"): no exact place in it."""
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
        prior = draft.get("prior")
        if isinstance(prior, dict) and any(f.name in prior for f, _ in values):
            draft["prior_open"] = False  # the contact question was answered: offer closed
        for f, value in values:
            draft["answers"][f.name] = value
            draft["history"] = [n for n in draft["history"] if n != f.name] + [f.name]
            draft["buffers"].pop(f.name, None)
            marked = [n for n in draft["from_story"] if n != f.name]
            draft["from_story"] = [*marked, f.name] if story else marked
            draft["from_scene"] = [n for n in draft.get("from_scene", []) if n != f.name]
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

    def names_type(self, text: str) -> bool:
        """ "举报" or "检举控告" alone (the greeting's own words) start a petition of that type."""
        f = self.current_form().by_role("appeal_type")
        return f is not None and any(normalize_token(text) in c.tokens() for c in f.choices)

    def on_story(self, found: dict[str, str], text: str) -> None:
        """A message that tells the matter: start (or fill) a petition with what it states."""
        if self.draft is None:
            line = self.start_draft(announce=False, stated=found)
            self.say("\n".join(filter(None, (self.t("story.started"), line))))
        draft = self.draft
        assert draft is not None
        found = dict(found)
        facts = self.current_form().by_role("facts")
        told = commands.without_start_words(text)  # "我要投诉…": the rest tells the matter
        if facts is not None and len(told) >= facts.min_len and not self.names_type(told):
            found["facts"] = text
        # a subject guessed from a word or two is offered when its question comes, not
        # recorded; one the story's words leave no doubt about is taken (and read back)
        f = self.current_form().by_role("category")
        guess = found.pop("category", "")
        if f is not None and f.choice(guess) is not None:
            if sure_category(text, self.cfg.gazetteer) == guess:
                found["category"] = guess
            else:
                draft.setdefault("suggested", {})[f.name] = guess
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
        for f in self.summary_fields(draft):  # a field never asked only when answered
            value = draft["answers"].get(f.name)
            answers[f.name] = len(draft["attachments"]) if f.kind == "attachments" else value
        answers = form.by_roles(answers)
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
