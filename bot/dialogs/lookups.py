"""Status queries, ratings and 复查/复核 requests: what the engine asks intake to look up.

A tracking number works at any step (the open draft is kept and its question asked
again). A rating or a review request applies to the case it names, else to the only case
it can mean; with several, the citizen picks one from a numbered list. A review request
is described and confirmed before it is filed, and acknowledged once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.dialogs.case_choices import answered_choices
from bot.dialogs.commands import MAX_COMMENT_CHARS, CitizenAction
from bot.dialogs.prompting import Prompting
from bot.dialogs.turn import parse_time
from bot.dialogs.types import CaseView, Effect, Resolution
from bot.dialogs.vocabulary import fold
from bot.domain.tracking import ParsedNumber, format_tracking_no, parse_tracking_no
from bot.messages import Choice

RATINGS = ("satisfied", "basically_satisfied", "dissatisfied")  # rating.* text keys
MAX_REASON_CHARS = MAX_COMMENT_CHARS  # a 复查 reason typed in several messages, in all
REASON_SEPARATORS = " ,，.。:：;；!！-—~～"


class Lookups(Prompting):
    """Status queries and citizen actions on their cases."""

    # ------------------------------------------------------------------ throttling

    def failures(self) -> list[datetime]:
        """Failed look-ups within the window (older ones are forgotten)."""
        window_start = self.now - self.cfg.lookup_window
        times = [t for t in (parse_time(v) for v in self.st.get("failures") or []) if t]
        kept = sorted(t for t in times if t > window_start)
        self.st["failures"] = [t.isoformat() for t in kept]
        return kept

    def add_failure(self) -> None:
        """Count a failed look-up (not found, mistyped, wrong digits)."""
        self.failures()
        self.st["failures"].append(self.now.isoformat())

    def throttled(self) -> bool:
        """Refuse look-ups past the limit; True when refused."""
        kept = self.failures()
        if len(kept) < self.cfg.lookup_limit:
            return False
        until = kept[0] + self.cfg.lookup_window
        if self.now.tzinfo is not None:
            until = until.astimezone(self.now.tzinfo)
        self.st["await"] = None
        self.answer_then_reask(self.t("lookup.throttled", time=until.strftime("%H:%M")))
        return True

    def answer_then_reask(
        self, text: str, choices: tuple[Choice, ...] = (), consent: bool = False
    ) -> None:
        """Reply, then (during a draft) ask the current question again."""
        if self.draft is not None and not choices:
            self.say(text, consent=consent)
            self.prompt_current()
        else:
            self.say(text, choices or self.menu_choices(), consent=consent)

    # ------------------------------------------------------------------ status

    def on_status(self, arg: str) -> None:
        """查询: by the number given, else ask for one."""
        if arg:
            parsed = parse_tracking_no(arg)
            if parsed.outcome != "none":
                self.lookup(parsed)
                return
        if self.throttled():
            return
        self.st["await"] = {"kind": "tracking_no"}
        self.say(self.t("lookup.ask_number"), (Choice("menu:my_cases", self.t("menu.my_cases")),))

    def lookup(self, parsed: ParsedNumber, verify_digits: str = "") -> None:
        """Look a case up by its number (mistyped numbers are told at once)."""
        if self.throttled():
            return
        if parsed.outcome == "mistyped":
            self.add_failure()
            self.answer_then_reask(self.t("lookup.mistyped"))
            return
        self.ask_effect(
            Effect(kind="lookup_case", tracking_no=parsed.canonical, verify_digits=verify_digits),
            verify=bool(verify_digits),
        )

    def on_resolved(self, res: Resolution | None) -> None:
        """What intake found or did for the effect this conversation asked for."""
        pending = self.st.get("pending")
        self.st["pending"] = None
        if res is None or not isinstance(pending, dict) or pending.get("effect") != res.effect:
            self.prompt_current()
            return
        number = str(pending.get("tracking_no") or "")
        if res.effect == "submit":
            self.on_submitted(res)
        elif res.effect in ("rate", "request_review", "withdraw"):
            self.on_citizen_action_done(res, pending)
        elif res.effect == "list_cases":
            self.on_cases(res.cases)
        elif res.effect == "add_material":
            self.on_material(res, str(pending.get("attachment") or ""), bool(pending.get("voice")))
        elif res.effect == "last_contact":
            self.offer_prior(dict(res.prior), str(pending.get("prefix") or ""))
        elif res.effect == "ask_human":
            self.answer_then_reask(f"{self.t('human.contact')}\n{self.t('human.noted')}")
        elif res.effect == "broadcast_opt":
            key = (
                "broadcasts.unsubscribed"
                if res.outcome == "unsubscribed"
                else "broadcasts.subscribed"
            )
            self.answer_then_reask(self.t(key))
        elif res.outcome in ("found", "verified") and res.case is not None:
            owner = res.outcome == "found"  # the citizen's own case: where to get its notices
            # the owner's answered case: rate it or contest it from here (not mid-petition)
            status = res.case.status if owner and self.draft is None else ""
            choices = answered_choices(self.cfg.texts, self.lang, status, res.case.tracking_no)
            text = self.case_text(res.case, with_summary=owner)
            self.answer_then_reask(text, choices, consent=owner)
        elif res.outcome == "foreign" and number:
            self.st["await"] = {
                "kind": "verify",
                "tracking_no": number,
                "since": self.now.isoformat(),
            }
            self.say(self.t("lookup.foreign", number=format_tracking_no(number)))
        elif res.outcome == "unverifiable":
            self.add_failure()
            shown = format_tracking_no(number) if number else ""
            self.answer_then_reask(self.t("lookup.unverifiable", number=shown))
        elif res.outcome == "locked":
            self.st["await"] = None
            self.answer_then_reask(self.t("lookup.locked", time=self.fmt_time(res.date)))
        elif res.outcome == "verify_failed":
            self.add_failure()
            self.answer_then_reask(self.t("lookup.verify_failed"))
        elif res.outcome == "not_found":
            self.add_failure()
            shown = format_tracking_no(number) if number else ""
            self.answer_then_reask(self.t("lookup.not_found", number=shown))
        else:
            self.answer_then_reask(self.t("lookup.unavailable"))

    # ------------------------------------------------------------------ citizen actions

    def on_citizen_action(self, action: CitizenAction, tracking_no: str = "") -> None:
        """A rating or a 复查/复核 request: intake finds the case it is about."""
        self.st["await"] = None
        number = tracking_no or action.tracking_no
        action = replace(action, reason=self.without_reason_lead(action.reason))
        effect = Effect(
            kind=action.kind,
            tracking_no=number,
            rating=action.rating,
            comment=action.comment,
            stage=action.stage,
            reason=action.reason,
        )
        self.ask_effect(effect, action=_action_json(action))

    def on_citizen_action_done(self, res: Resolution, pending: dict[str, Any]) -> None:
        """Say what became of a rating or review request, or ask what is missing."""
        number = format_tracking_no(res.tracking_no) if res.tracking_no else ""
        action = pending.get("action") or {}
        if res.outcome == "choose" and res.candidates:
            self.st["await"] = {"kind": "pick_case", "action": action}
            self.say(
                self.t("action.choose_case"),
                tuple(Choice(f"case:{c.tracking_no}", self.case_line(c)) for c in res.candidates),
            )
        elif res.effect == "withdraw":
            self.on_withdraw_done(res, action)
        elif res.effect == "rate":
            if res.outcome == "rated" and res.rating in RATINGS:
                rating = self.t(f"rating.{res.rating}")
                text = self.t("rating.done", number=number, rating=rating)
                if res.date and res.rating == "dissatisfied":  # the 复查/复核 window is open
                    stage = "recheck" if res.stage == "recheck" else "review"
                    text += "\n" + self.t(f"rating.remedy_{stage}", date=res.date)
                self.answer_then_reask(text)
            else:
                self.answer_then_reask(self.t("rating.none"))
        elif res.outcome == "confirm":
            stage = "recheck" if res.stage == "recheck" else "review"
            waiting = {"action": action, "tracking_no": res.tracking_no, "date": res.date}
            self.show_review_confirm({**waiting, "stage": stage})
        elif res.outcome == "requested":
            key = "review.recheck_requested" if res.stage == "recheck" else "review.requested"
            self.answer_then_reask(self.t(key, number=number, date=res.date))
        elif res.outcome == "already":
            self.answer_then_reask(self.t("review.already", number=number, date=res.date))
        elif res.outcome == "window_closed":
            self.answer_then_reask(self.t("review.window_closed", number=number, date=res.date))
        else:
            self.answer_then_reask(self.t("review.none"))

    def on_material(self, res: Resolution, attachment: str, voice: bool = False) -> None:
        """A file sent outside a form: which open case it adds to (asked), or why none (a
        voice message without words and without an open case: ask for it in writing)."""
        number = format_tracking_no(res.tracking_no) if res.tracking_no else ""
        if res.outcome == "added":
            self.answer_then_reask(self.t("material.added", number=number))
        elif res.outcome == "confirm":
            self.st["await"] = {"kind": "add_material", "attachment": attachment}
            self.say(
                self.t("material.confirm", number=number),
                (
                    Choice(f"case:{res.tracking_no}", self.t("material.add_to", number=number)),
                    Choice("act:drop", self.t("material.keep_out")),
                ),
            )
        elif res.outcome == "choose":
            self.st["await"] = {"kind": "add_material", "attachment": attachment}
            self.say(
                self.t("material.choose"),
                (
                    *(Choice(f"case:{c.tracking_no}", self.case_line(c)) for c in res.candidates),
                    Choice("act:drop", self.t("material.keep_out")),
                ),
            )
        else:
            key = "attachments.voice_idle" if voice else "attachments.idle"
            self.answer_then_reask(self.t(key))

    def on_withdraw_done(self, res: Resolution, action: dict[str, Any]) -> None:
        """撤回: confirm first, then say it is done (or why it cannot be)."""
        number = format_tracking_no(res.tracking_no) if res.tracking_no else ""
        if res.outcome == "confirm":
            self.show_review_confirm({"action": action, "tracking_no": res.tracking_no})
        elif res.outcome == "withdrawn":
            self.answer_then_reask(self.t("withdraw.done", number=number))
        elif res.outcome == "answered":
            self.answer_then_reask(self.t("withdraw.answered", number=number))
        else:
            self.answer_then_reask(self.t("withdraw.none"))

    def show_review_confirm(self, waiting: dict[str, Any], prefix: str = "") -> None:
        """ "确认申请吗？" (or "撤回吗？") for the request described in ``waiting``: its case,
        its reason so far, until when it may be filed; a reply in words adds to the reason."""
        action = waiting.get("action") or {}
        number = format_tracking_no(str(waiting.get("tracking_no") or ""))
        reason = str(action.get("reason") or "")
        if action.get("kind") == "withdraw":
            text = self.t("withdraw.confirm", number=number)
            if reason:
                text += "\n" + self.t("withdraw.reason", reason=reason)
            choices = (
                Choice("act:file", self.t("withdraw.do_it")),
                Choice("act:drop", self.t("withdraw.keep_it")),
            )
        elif not waiting.get("date"):  # a request described before the date was kept
            self.on_citizen_action(action_from_json(action), str(waiting.get("tracking_no") or ""))
            return
        else:
            stage = "recheck" if waiting.get("stage") == "recheck" else "review"
            shown = reason or self.t("review.no_reason")
            text = self.t(
                f"review.confirm_{stage}", number=number, reason=shown, date=waiting["date"]
            )
            choices = (
                Choice("act:file", self.t("review.file")),
                Choice("act:drop", self.t("review.drop")),
            )
        self.st["await"] = {**waiting, "kind": "confirm_review"}
        self.say(f"{prefix}\n\n{text}" if prefix else text, choices)

    def add_review_reason(self, text: str, waiting: dict[str, Any]) -> None:
        """Words typed at "确认申请吗？" are the request's reason (added to what it had), and
        the request is described again with them, to be confirmed."""
        action = dict(waiting.get("action") or {})
        joined = _joined(str(action.get("reason") or ""), self.without_reason_lead(text))
        if len(joined) > MAX_REASON_CHARS:
            prefix = self.t("review.reason_too_long", max=MAX_REASON_CHARS)
            self.show_review_confirm(waiting, prefix)
            return
        action["reason"] = joined
        self.show_review_confirm({**waiting, "action": action})

    def without_reason_lead(self, reason: str) -> str:
        """The reason without a lead-in such as "理由是" or "因为" (finding its words)."""
        text = reason.strip()
        folded = fold(text)
        for lead in self.cfg.vocab.reason_lead:  # longest first
            if folded.startswith(lead):
                rest = (text if len(folded) == len(text) else folded)[len(lead) :]
                return rest.strip().lstrip(REASON_SEPARATORS).strip() or text
        return text

    def file_review(self, waiting: dict[str, Any]) -> None:
        """The citizen confirmed the described request (复查, 复核 or 撤回): do it."""
        action = waiting.get("action") or {}
        effect = Effect(
            kind="withdraw" if action.get("kind") == "withdraw" else "request_review",
            tracking_no=str(waiting.get("tracking_no") or ""),
            stage=str(action.get("stage") or ""),
            reason=str(action.get("reason") or ""),
            confirmed=True,
        )
        self.ask_effect(effect, action=action)

    # ------------------------------------------------------------------ answers

    def fmt_time(self, value: str) -> str:
        """A stored time in the office's local time, to the minute."""
        t = parse_time(value)
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
        """A status code in words."""
        key = f"status.{code}"
        return self.t(key) if self.cfg.texts.has(key) else code

    def case_text(self, case: CaseView, with_summary: bool) -> str:
        """A status answer."""
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
        lines.extend(case.details)
        if case.due_date:
            lines.append(self.t("lookup.due_date", date=self.fmt_time(case.due_date)))
        if not with_summary:
            lines.append(self.t("lookup.verified_note"))
        return "\n".join(lines)

    def case_line(self, case: CaseView) -> str:
        """One case in a list: number, status, date."""
        category = self.cfg.forms.category_label(case.category, self.lang) if case.category else ""
        return self.t(
            "cases.item",
            number=format_tracking_no(case.tracking_no),
            status=self.status_label(case.status),
            date=self.fmt_time(case.submitted_at)[:10],
            category=category,
        ).rstrip(" ·")

    def on_cases(self, cases: tuple[CaseView, ...]) -> None:
        """我的事项: the citizen's cases; a number (or a tap) shows one."""
        if not cases:
            self.answer_then_reask(self.t("cases.none"))
            return
        self.say(
            self.t("cases.header", count=len(cases)),
            tuple(Choice(f"case:{c.tracking_no}", self.case_line(c)) for c in cases),
        )

    def on_submitted(self, res: Resolution) -> None:
        """The new case's number, or why it could not be registered."""
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
            consent=True,
        )


def _joined(had: str, more: str) -> str:
    """Two parts of a reason as one text: "A。B", "A, B", "A. B"."""
    if not had or not more:
        return had or more
    if had[-1] not in "。！？.!?；;，,":
        had += "." if had[-1].isascii() else "。"
    return had + (" " if had[-1].isascii() else "") + more


def _action_json(action: CitizenAction) -> dict[str, str]:
    return {
        "kind": action.kind,
        "rating": action.rating,
        "comment": action.comment,
        "stage": action.stage,
        "reason": action.reason,
    }


def action_from_json(data: dict[str, Any]) -> CitizenAction:
    """The citizen action kept in the state while the citizen picks its case."""
    kind = data.get("kind")
    return CitizenAction(
        kind if kind in ("rate", "withdraw") else "request_review",
        rating=str(data.get("rating") or ""),
        comment=str(data.get("comment") or ""),
        stage=str(data.get("stage") or ""),
        reason=str(data.get("reason") or ""),
    )
