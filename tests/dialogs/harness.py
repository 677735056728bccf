"""Golden-transcript harness: drives the engine with a fixed clock and a fake case store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.dialogs.engine import EngineConfig, load_engine_config, step
from bot.dialogs.types import CaseView, Effect, Event, Resolution, StepResult
from bot.domain.statuses import WITHDRAWABLE
from bot.domain.tracking import new_tracking_no
from bot.messages import Attachment, Location, Reply

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
START = "2026-11-21T09:00:00+08:00"


def make_config(config_dir: Path = CONFIG_DIR, **overrides: Any) -> EngineConfig:
    """An engine configuration from the shipped config files."""
    return load_engine_config(config_dir, **overrides)


@dataclass
class FakeCase:
    """A case in the fake store: what lookups may reveal, and who owns it."""

    view: CaseView
    owner: bool
    phone_last4: str


@dataclass
class FakeStore:
    """What intake would answer for effects, without a database."""

    cases: dict[str, FakeCase] = field(default_factory=dict)
    seq: int = 0
    submissions: list[dict[str, Any]] = field(default_factory=list)
    prior: tuple[tuple[str, str], ...] = ()  # contact details of an earlier petition
    help_requests: list[str] = field(default_factory=list)  # what 转人工 messages said

    @classmethod
    def from_yaml(cls, raw: list[dict[str, Any]] | None) -> FakeStore:
        """Build from a transcript's ``cases`` list."""
        store = cls()
        for item in raw or []:
            if "prior" in item:  # {prior: {name: …, phone: …, address: …}}
                store.prior = tuple((k, str(v)) for k, v in item["prior"].items())
                continue
            view = CaseView(
                tracking_no=item["tracking_no"],
                status=item.get("status", "submitted"),
                submitted_at=item.get("submitted_at", "2026-11-01T10:00:00+08:00"),
                updated_at=item.get("updated_at", ""),
                category=item.get("category", ""),
                summary=item.get("summary", ""),
                last_event=item.get("last_event", ""),
                due_date=item.get("due_date", ""),
            )
            store.cases[view.tracking_no] = FakeCase(
                view, bool(item.get("owner", True)), str(item.get("phone_last4", ""))
            )
        return store

    def resolve(self, effect: Effect, now: datetime) -> Resolution:
        """The Resolution intake would produce for ``effect``."""
        if effect.kind == "submit":
            assert effect.submission is not None
            self.seq += 1
            number = new_tracking_no(date(now.year, now.month, now.day), f"{self.seq:06d}")
            self.submissions.append({"tracking_no": number, **effect.submission.answers})
            self.cases[number] = FakeCase(
                CaseView(number, "submitted", now.isoformat(), now.isoformat(), "", ""),
                True,
                "",
            )
            return Resolution(effect="submit", tracking_no=number)
        if effect.kind in ("rate", "request_review", "withdraw"):
            return self.citizen_action(effect, now)
        if effect.kind == "broadcast_opt":
            outcome = "unsubscribed" if effect.opt_out else "subscribed"
            return Resolution(effect="broadcast_opt", outcome=outcome)
        if effect.kind == "add_material":  # a file sent outside a form, for an open case
            open_cases = [
                c for c in self.cases.values() if c.owner and c.view.status in WITHDRAWABLE
            ]
            if effect.tracking_no:
                open_cases = [c for c in open_cases if c.view.tracking_no == effect.tracking_no]
            if not open_cases:
                return Resolution("add_material", "none")
            if len(open_cases) > 1:
                views = tuple(c.view for c in open_cases)
                return Resolution("add_material", "choose", candidates=views)
            number = open_cases[0].view.tracking_no
            outcome = "added" if effect.confirmed else "confirm"
            return Resolution("add_material", outcome, tracking_no=number)
        if effect.kind == "last_contact":  # the citizen's earlier petition, if the store has one
            return Resolution("last_contact", "found" if self.prior else "none", prior=self.prior)
        if effect.kind == "ask_human":  # listed for staff; asking twice renews the request
            self.help_requests.append(effect.reason)
            return Resolution(
                "ask_human", "recorded" if len(self.help_requests) == 1 else "renewed"
            )
        if effect.kind == "list_cases":
            mine = tuple(c.view for c in self.cases.values() if c.owner)
            return Resolution(effect="list_cases", cases=mine)
        case = self.cases.get(effect.tracking_no)
        if case is None:
            return Resolution(effect="lookup_case", outcome="not_found")
        if case.owner:
            return Resolution(effect="lookup_case", outcome="found", case=case.view)
        if not case.phone_last4:  # someone else's anonymous case: nothing to verify with
            return Resolution(effect="lookup_case", outcome="unverifiable")
        if not effect.verify_digits:
            return Resolution(effect="lookup_case", outcome="foreign")
        if effect.verify_digits == case.phone_last4:
            hidden = replace(case.view, summary="")  # intake never hands out the summary here
            return Resolution(effect="lookup_case", outcome="verified", case=hidden)
        return Resolution(effect="lookup_case", outcome="verify_failed")

    def citizen_action(self, effect: Effect, now: datetime) -> Resolution:
        """A rating or a 复查/复核 request on the citizen's newest matching case.

        A case's ``due_date`` stands for the last day the citizen may ask for a review.
        """
        if effect.kind == "withdraw":
            statuses: tuple[str, ...] = tuple(WITHDRAWABLE)
        elif effect.kind == "rate":
            statuses = ("answered", "reviewed", "rechecked", "closed")
        else:
            statuses = ("reviewed",) if effect.stage == "recheck" else ("answered",)
        fitting = [
            (number, case)
            for number, case in reversed(self.cases.items())
            if case.owner
            and case.view.status in statuses
            and (not effect.tracking_no or number == effect.tracking_no)
        ]
        if len(fitting) > 1:
            views = tuple(case.view for _, case in fitting)
            return Resolution(effect.kind, "choose", stage=effect.stage, candidates=views)
        for number, case in fitting:
            if effect.kind == "withdraw":
                if not effect.confirmed:
                    return Resolution("withdraw", "confirm", tracking_no=number)
                case.view = replace(case.view, status="withdrawn")
                return Resolution("withdraw", "withdrawn", tracking_no=number)
            last_day = case.view.due_date
            if effect.kind == "rate":
                status = case.view.status
                window = status in ("answered", "reviewed") and last_day >= now.date().isoformat()
                if effect.rating != "dissatisfied" or not last_day or not window:
                    return Resolution("rate", "rated", tracking_no=number, rating=effect.rating)
                stage = "recheck" if status == "reviewed" else "review"  # told how to ask
                return Resolution(
                    "rate",
                    "rated",
                    tracking_no=number,
                    rating=effect.rating,
                    date=last_day,
                    stage=stage,
                )
            if last_day and now.date().isoformat() > last_day:
                return Resolution(
                    "request_review",
                    "window_closed",
                    tracking_no=number,
                    date=last_day,
                    stage=effect.stage,
                )
            if not effect.confirmed:  # described first; filed once the citizen confirms
                return Resolution(
                    "request_review",
                    "confirm",
                    tracking_no=number,
                    date=last_day or now.date().isoformat(),
                    stage=effect.stage,
                )
            case.view = replace(case.view, status=f"{effect.stage}_requested")
            decided_by = (now + timedelta(days=30)).date().isoformat()
            return Resolution(
                "request_review",
                "requested",
                tracking_no=number,
                date=decided_by,
                stage=effect.stage,
            )
        return Resolution(effect.kind, "none", stage=effect.stage)


def event_from(spec: dict[str, Any]) -> Event | None:
    """The engine event a transcript step describes (None for a pure time advance)."""
    if "send" in spec:  # typed text, optionally with the platform's language
        return Event(kind="text", text=str(spec["send"]), lang_hint=str(spec.get("lang", "")))
    if "tap" in spec:  # a button tap: the question it belonged to, and its value
        return Event(kind="text", text=str(spec["tap"]["value"]), tap=str(spec["tap"]["ask"]))
    if "command" in spec:  # a platform command; "start" may come from a poster's QR code
        preselect = tuple((str(k), str(v)) for k, v in (spec.get("preselect") or {}).items())
        return Event(
            kind="command",
            command=spec["command"],
            command_arg=spec.get("arg", ""),
            preselect=preselect,
            lang_hint=str(spec.get("lang", "")),
        )
    if "attachment" in spec:
        a = spec["attachment"]
        return Event(
            kind="attachment",
            attachment=Attachment(
                kind=a.get("kind", "image"),
                media_ref=a.get("media_ref", "m1"),
                mime=a.get("mime", ""),
                filename=a.get("filename", ""),
                size=int(a.get("size", 0)),
                recognition=a.get("recognition", ""),
            ),
            text=str(a.get("caption", "")),  # a Telegram caption
            lang_hint=str(spec.get("lang", "")),
        )
    if "location" in spec:
        loc = spec["location"]
        return Event(
            kind="location",
            location=Location(float(loc["lat"]), float(loc["lon"]), loc.get("label", "")),
        )
    return None


def render_reply(reply: Reply) -> dict[str, Any]:
    """A reply as recorded in a transcript."""
    out: dict[str, Any] = {"text": reply.text}
    if reply.choices:
        out["choices"] = [f"{c.value} = {c.label}" for c in reply.choices]
    if reply.location_hint:
        out["location_hint"] = reply.location_hint
    if reply.consent_hint:
        out["consent_hint"] = reply.consent_hint
    return out


@dataclass
class Conversation:
    """One conversation: state kept as JSON text between steps, like intake stores it."""

    cfg: EngineConfig
    store: FakeStore
    now: datetime
    state_json: str | None = None

    @property
    def state(self) -> dict[str, Any] | None:
        """The stored state, decoded."""
        return None if self.state_json is None else json.loads(self.state_json)

    def _step(self, event: Event) -> StepResult:
        result = step(self.cfg, self.state, event, self.now)
        self.state_json = json.dumps(result.state, ensure_ascii=False)
        assert json.loads(self.state_json) == result.state
        return result

    def handle(self, event: Event) -> dict[str, Any]:
        """Step the engine, resolving effects like intake; returns the recorded outcome."""
        record: dict[str, Any] = {}
        replies: list[Reply] = []
        result = self._step(event)
        replies.extend(result.replies)
        if result.effect is not None:
            eff: dict[str, Any] = {"kind": result.effect.kind}
            if result.effect.tracking_no:
                eff["tracking_no"] = result.effect.tracking_no
            if result.effect.verify_digits:
                eff["verify_digits"] = result.effect.verify_digits
            for name in ("rating", "comment", "stage", "reason", "confirmed"):
                if getattr(result.effect, name):
                    eff[name] = getattr(result.effect, name)
            if result.effect.kind == "broadcast_opt":
                eff["opt_out"] = result.effect.opt_out
            if result.effect.submission is not None:
                eff["answers"] = result.effect.submission.answers
                eff["attachments"] = len(result.effect.submission.attachments)
            record["effect"] = eff
            resolution = self.store.resolve(result.effect, self.now)
            second = self._step(Event(kind="resolved", resolution=resolution))
            assert second.effect is None
            replies.extend(second.replies)
        assert replies, "the engine must always answer"
        record["replies"] = [render_reply(r) for r in replies]
        return record

    def advance(self, spec: dict[str, Any]) -> None:
        """Move the clock forward."""
        self.now += timedelta(
            days=spec.get("days", 0), hours=spec.get("hours", 0), minutes=spec.get("minutes", 0)
        )


def run_transcript(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Play a transcript's inputs and return the recorded outcome of every step."""
    cfg = make_config(**doc.get("config", {}))
    conv = Conversation(
        cfg, FakeStore.from_yaml(doc.get("cases")), datetime.fromisoformat(doc.get("start", START))
    )
    if "state" in doc:
        conv.state_json = json.dumps(doc["state"])
    outcomes: list[dict[str, Any]] = []
    for spec in doc["steps"]:
        if "advance" in spec:
            conv.advance(spec["advance"])
        if spec.get("restart"):
            conv.cfg = make_config(**doc.get("config", {}))  # a new process: fresh config
        event = event_from(spec)
        if event is None:
            outcomes.append({})
            continue
        outcomes.append(conv.handle(event))
    return outcomes
