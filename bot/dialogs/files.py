"""Files, locations and captions a citizen sends: kept with the draft, read, or offered
to an open case (the attachment half of the engine's turn)."""

from __future__ import annotations

from typing import Any

from bot.dialogs import commands
from bot.dialogs.extract import extract
from bot.dialogs.form import FieldDef
from bot.dialogs.navigation import Navigation
from bot.dialogs.turn import EngineConfig, copy_json
from bot.dialogs.types import Effect
from bot.dialogs.understand import Context, after_social, understand
from bot.dialogs.validators import clean_text
from bot.messages import Attachment, Location, Reply

MAX_ATTACHMENTS = 30
# a recognised voice message is kept as material where it tells the matter (facts told,
# materials given); a spoken short answer ("确认提交", a name, "3") is its text alone
SPOKEN_RECORD_KINDS = ("longtext", "attachments")
STORY_CAPTION_CHARS = 10  # a caption this long, sent when idle, tells a matter


def starts_petition(cfg: EngineConfig, text: str) -> bool:
    """Whether words sent when idle (a file's caption) tell a matter and so start a petition
    (the file is then kept with it): the same reading :meth:`_Turn.on_meaning` makes."""
    told = clean_text(text)
    meaning = understand(told, Context(), cfg.vocab, cfg.gazetteer)
    if meaning.kind != "answer":
        return meaning.kind == "story"
    told = after_social(told, cfg.vocab)
    # a file with a sentence about it ("这就是那家饭店后厨，直接往下水道倒地沟油") reports
    # something; "现场照片" only names the file
    return commands.starts_petition(told) or len(told) >= STORY_CAPTION_CHARS


class Files(Navigation):
    """Attachments, locations and captions."""

    def on_text(self, raw: str) -> None:
        """A typed message (the engine's turn reads it)."""
        raise NotImplementedError

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
        """A file is kept with the draft; a voice message's recognised text is read as typed
        (and its audio kept where it tells the matter)."""
        draft = self.draft
        recognition = clean_text(att.recognition)
        if att.kind == "voice" and recognition and len(recognition) <= self.cfg.max_text_len:
            f = self.current_field() if draft is not None else None
            asked = self.group_of_current() or ([f] if f is not None else [])
            kept = any(g.kind in SPOKEN_RECORD_KINDS for g in asked)
            if kept:  # the citizen's own telling of the matter
                kept = self.keep_attachment(_attachment_item(att))
            key = "input.voice_recognised" if kept else "input.voice_heard"
            self.say(self.t(key, text=recognition))
            # a short spoken answer loses the full stop recognition ends it with ("王秀英。")
            self.on_text(recognition if kept else recognition.rstrip("。．.！!"))
            if draft is None and self.draft is not None:  # a spoken story started a petition
                self.keep_attachment(_attachment_item(att))
            return
        if draft is None:  # material for a filed case: offered to one of the citizen's open cases
            material = Effect(kind="add_material", attachment=att.media_ref)
            self.ask_effect(material, attachment=att.media_ref, voice=att.kind == "voice")
            return
        if self.keep_attachment(_attachment_item(att)):
            # a voice message without recognised text answers nothing: ask for it in writing
            key = "attachments.voice_kept" if att.kind == "voice" else "attachments.received"
            self.prompt_current(self.t(key, count=len(draft["attachments"])))

    def on_captioned(self, att: Attachment, caption: str) -> None:
        """A file with the citizen's words on it (a Telegram caption): the file is kept as
        material and the words are read as if typed — an answer to the open question, or
        the story that starts a petition (which the file then belongs to). Words the open
        question does not take are added to the facts; sent when idle, words that only
        name the file ("现场照片") leave it to the offer to add it to an open case."""
        if self.draft is None:
            if not starts_petition(self.cfg, caption) or len(caption) > self.cfg.max_text_len:
                self.on_attachment(att)  # "现场照片" names the file: offered to an open case
                return
            told = after_social(clean_text(caption), self.cfg.vocab)
            self.on_story(extract(told, self.cfg.vocab, self.cfg.gazetteer), told)
            assert self.draft is not None  # a story starts one
            if self.keep_attachment(_attachment_item(att, caption)):
                # before the question the story led to: only the last reply has options
                text = self.t("attachments.received", count=len(self.draft["attachments"]))
                self.replies.insert(max(0, len(self.replies) - 1), Reply(text))
            return
        if not self.keep_attachment(_attachment_item(att, caption)):
            return
        count = len(self.draft["attachments"])
        before, said = copy_json(self.st), len(self.replies)
        self.say(self.t("attachments.received", count=count))
        self.on_text(caption)
        if self.effect is None and _same_draft(before, self.st):  # refused: to the facts
            self.st.clear()
            self.st.update(before)
            del self.replies[said:]
            self.caption_to_facts(clean_text(caption), count)

    def caption_to_facts(self, caption: str, count: int) -> None:
        """Add a caption the open question did not take to the facts (事实和理由)."""
        draft = self.draft
        assert draft is not None
        f = self.current_form().by_role("facts")
        if f is None or not f.applies(draft["answers"]):
            self.prompt_current(self.t("attachments.received", count=count))
            return
        if f.name in draft["answers"]:
            told = str(draft["answers"][f.name] or "")
            draft["answers"][f.name] = f"{told}\n{caption}"[: f.max_len] if told else caption
        else:
            draft["buffers"].setdefault(f.name, []).append(caption)
        label = f.label.get(self.lang)
        self.prompt_current(self.t("attachments.caption_kept", count=count, label=label))

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
            spot = {"label": label, "lat": loc.latitude, "lon": loc.longitude}
            # a label naming the district ("…西湖区文一西路…") answers 事发地 too
            stated = self.also_stated(extract(label, self.cfg.vocab, self.cfg.gazetteer), draft)
            self.record([(place, spot), *[(f, v) for f, v in stated if f.role == "region"]])
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


def _attachment_item(att: Attachment, caption: str = "") -> dict[str, Any]:
    item = {
        "kind": att.kind,
        "media_ref": att.media_ref,
        "mime": att.mime,
        "filename": att.filename,
        "size": att.size,
        "recognition": att.recognition,
    }
    if caption:
        item["caption"] = clean_text(caption)
    return item


def _same_draft(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether a message left the draft and the awaited question as they were (refused)."""
    keys = ("answers", "buffers", "current")
    old, new = before.get("draft") or {}, after.get("draft") or {}
    return (
        after.get("await") is None
        and isinstance(after.get("draft"), dict)
        and all(old.get(k) == new.get(k) for k in keys)
    )
