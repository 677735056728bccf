"""One engine step's working state, and the form navigation every part of the engine uses.

The engine is split along its seams: this base holds the working copy of the state, the
replies so far and the form; :mod:`bot.dialogs.prompting` asks and reads back;
:mod:`bot.dialogs.lookups` answers status queries and citizen actions;
:mod:`bot.dialogs.engine` reads each message and fills the form.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.dialogs.extract import Gazetteer
from bot.dialogs.form import FieldDef, Form, FormRegistry, load_forms
from bot.dialogs.kinds import KINDS
from bot.dialogs.texts import Texts, load_texts
from bot.dialogs.types import Effect
from bot.dialogs.vocabulary import Vocabulary, load_vocabulary
from bot.messages import Choice, Reply

STATE_VERSION = 1
CONFIRM = "__confirm__"
PICK_EDIT = "__edit__"


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine needs besides the state, the event and the clock."""

    forms: FormRegistry
    texts: Texts
    vocab: Vocabulary = field(default_factory=Vocabulary)
    draft_ttl: timedelta = timedelta(hours=72)
    lookup_limit: int = 5
    lookup_window: timedelta = timedelta(hours=1)
    max_text_len: int = 5000

    @functools.cached_property
    def gazetteer(self) -> Gazetteer:
        """Districts and subjects with every word that names them: the form's catalogues
        and the subject words of the vocabulary (built once)."""
        return self.forms.gazetteer.with_subject_words(self.vocab.category_words)


def load_engine_config(config_dir: Path, **settings: Any) -> EngineConfig:
    """The form, the texts and the vocabulary from ``config_dir``, with ``settings``."""
    forms = load_forms(config_dir)
    categories = tuple(c.value for c in forms.categories)
    return EngineConfig(
        forms=forms,
        texts=load_texts(config_dir),
        vocab=load_vocabulary(config_dir, categories),
        **settings,
    )


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
        "shown": None,  # {"id": str, "options": [[value, label], ...]}: what numbers mean
        "asks": 0,
    }


def state_lang(state: dict[str, Any] | None) -> str:
    """The conversation's language, "zh" or "en" (for intake's pushes)."""
    lang = state.get("lang") if isinstance(state, dict) else None
    return lang if lang in ("zh", "en") else "zh"


def usable_state(state: object) -> bool:
    """True for a state this engine version can continue."""
    return isinstance(state, dict) and state.get("v") == STATE_VERSION


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): the state never holds
    anything else, and this is several times cheaper than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def parse_time(value: object) -> datetime | None:
    """An aware datetime from its ISO text, or None."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


class TurnBase:
    """The working copy of the state, the replies so far, and form navigation."""

    def __init__(self, cfg: EngineConfig, state: dict[str, Any] | None, now: datetime) -> None:
        self.cfg = cfg
        self.now = now
        self.first_contact = state is None
        self.state_lost = state is not None and not usable_state(state)
        self.st: dict[str, Any] = copy_json(state) if usable_state(state) else new_state()
        self.st.setdefault("shown", None)
        self.st.setdefault("asks", 0)
        if self.state_lost:
            self.st["lang"] = state_lang(state)
        self.replies: list[Reply] = []
        self.effect: Effect | None = None
        self.form: Form | None = None

    # ------------------------------------------------------------------ basics

    @property
    def lang(self) -> str:
        """The conversation's language."""
        return state_lang(self.st)

    def t(self, key: str, **kwargs: object) -> str:
        """A text in the conversation's language."""
        return self.cfg.texts.get(self.lang, key, **kwargs)

    def say(
        self,
        text: str,
        choices: tuple[Choice, ...] = (),
        location_hint: str = "",
        consent: bool = False,
    ) -> None:
        """Add a reply to this turn (``location_hint``: shown where a location can be sent;
        ``consent``: point to the page where notices are turned on, where there is one)."""
        hint = self.t("consent.hint") if consent else ""
        self.replies.append(Reply(text, choices, location_hint=location_hint, consent_hint=hint))

    @property
    def draft(self) -> dict[str, Any] | None:
        """The petition being filled in, if any."""
        draft = self.st.get("draft")
        return draft if isinstance(draft, dict) else None

    def prompt_current(self, prefix: str = "") -> None:
        """Ask the current question again (implemented by the prompting part)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the form

    def current_form(self) -> Form:
        """The form version the draft is pinned to (the newest when idle)."""
        if self.form is None:
            draft = self.draft
            form = None
            if draft is not None:
                form = self.cfg.forms.get(str(draft.get("form_id")), int(draft.get("version", 0)))
            self.form = form or self.cfg.forms.current()
        return self.form

    def current_field(self) -> FieldDef | None:
        """The field the draft is asking, None at the read-back or when idle."""
        draft = self.draft
        if draft is None:
            return None
        return self.current_form().field(str(draft.get("current")))

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
        draft["from_story"] = [n for n in draft.get("from_story", []) if n in kept]
        draft["from_scene"] = [n for n in draft.get("from_scene", []) if n in kept]

    def next_field(self, draft: dict[str, Any]) -> str:
        """The first applicable question still unanswered, else the read-back."""
        for f in self.current_form().applicable(draft["answers"]):
            if f.ask and f.name not in draft["answers"]:
                return f.name
        return CONFIRM

    def summary_fields(self, draft: dict[str, Any]) -> list[FieldDef]:
        """The fields the read-back lists, in order (a field that is never asked, such as
        the representatives' phones staff record, only when it holds an answer)."""
        answers = draft["answers"]
        return [
            f
            for f in self.current_form().applicable(answers)
            if f.ask or f.name in answers or KINDS[f.kind].collects
        ]

    def question_number(self, f: FieldDef) -> int:
        """The question's number among the questions the citizen is asked, in the form's
        order: fields asked together count once, an answer a story, a poster or the earlier
        petition gave without asking is not a question (see ``asked`` in the state)."""
        draft = self.draft
        if draft is None:
            return 1
        answers = draft["answers"]
        raw = draft.get("asked")
        asked = {
            str(name): i
            for i, names in enumerate(raw if isinstance(raw, list) else [])
            if isinstance(names, list)
            for name in names
        }
        keys: list[str] = []
        for x in self.current_form().applicable(answers):
            if not x.ask or (x.name in answers and x.name not in asked and x is not f):
                continue  # filled without being asked
            mates = [g for g in self.current_form().group_of(x) if g.applies(answers)]
            mate = next((g.name for g in mates if g.name in asked), None)
            if x.name in asked:
                key = f"asked:{asked[x.name]}"
            elif mate is not None:  # a part of a question asked before
                key = f"asked:{asked[mate]}"
            elif x.group and not any(g.name in answers for g in mates):
                key = f"group:{x.group}"  # still to be asked together
            else:
                key = x.name
            if not keys or keys[-1] != key:
                keys.append(key)
            if x is f:
                return len(keys)
        return len(keys) + 1
