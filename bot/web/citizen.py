"""The citizen's case page: /my (their cases) and /my/cases/{tracking_no}, public-facing.

Reached only by a session of :mod:`bot.web.citizen_access`; a case of another contact is
"not found", the same page as a number that does not exist. The buttons (评价, 复查/复核,
撤回) go through the same :class:`LifecycleService` methods the conversation uses, with
the same rules. Server-rendered (Jinja2, autoescaped), no script needed but the 大字
toggle, no external resource, except what a channel's consent block (:class:`ConsentBlock`,
e.g. WeChat's 订阅通知 button) loads; the page's CSP then allows those origins only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.cases.citizen_page import PageWords
from bot.cases.service import CitizenAction, LifecycleService
from bot.citizen_phone import OUTCOMES as PHONE_OUTCOMES
from bot.citizen_phone import PhoneConfirmation, masked, national
from bot.dialogs.form import FormRegistry
from bot.domain.statuses import RATINGS, LifecycleError
from bot.domain.tracking import format_tracking_no, parse_tracking_no
from bot.logging import get_logger
from bot.staff.documents import StaffDocuments
from bot.storage import cases, contacts, sms_receipts
from bot.storage import documents as document_store
from bot.storage.cases import CaseRow
from bot.storage.contacts import Contact
from bot.storage.db import Database
from bot.web.citizen_access import CITIZEN_ACCESS, PREFIX, CitizenAccess, Visitor
from bot.web.document_response import pdf_response
from bot.web.security import SECURITY_HEADERS, csp_allowing_scripts

log = get_logger(__name__)

ACTIONS = ("rate", "review", "withdraw")
MAX_REASON = 1_000
# what a successful action's page says (PRG: ?done=<action>)
_DONE = {"rate": "rating.done", "withdraw": "withdraw.done"}


@dataclass(frozen=True, slots=True)
class ConsentView:
    """A consent block on a citizen page: the context of ``citizen_consent.html`` and the
    external script origins it loads (the page's CSP allows them, and only then)."""

    context: dict[str, Any]
    script_origins: tuple[str, ...] = ()

    def csp(self) -> str:
        """The page's Content-Security-Policy with this block on it."""
        return csp_allowing_scripts(self.script_origins)


class ConsentBlock(Protocol):
    """A channel's consent block on /my and the case page (set by the channel's install)."""

    async def view(self, request: web.Request, contact: Contact) -> ConsentView | None:
        """The block for ``contact`` on this request's page; None: no block."""
        ...


CONSENT_BLOCK: web.AppKey[ConsentBlock] = web.AppKey("citizen_consent_block")


class CitizenPages:
    """The handlers of /my."""

    def __init__(
        self,
        db: Database,
        service: LifecycleService,
        forms: FormRegistry,
        access: CitizenAccess,
        documents: StaffDocuments | None = None,
        phones: PhoneConfirmation | None = None,
    ) -> None:
        self.db = db
        self.service = service
        self.forms = forms
        self.access = access
        self.documents = documents
        self.phones = phones

    def words(self, lang: str) -> PageWords:
        """The page texts in ``lang``."""
        return PageWords(self.service.lifecycle, lang, self.forms.category_label)

    # -- rendering -------------------------------------------------------------------

    def _render(
        self,
        request: web.Request,
        template: str,
        words: PageWords,
        context: dict[str, Any],
        *,
        visitor: Visitor | None = None,
        status: int = 200,
        consent: ConsentView | None = None,
    ) -> web.Response:
        ctx = {
            "t": words.t,
            "lang": words.lang,
            "csrf": self.access.csrf(visitor) if visitor else "",
            "static": lambda name: str(request.app.router["citizen_static"].url_for(filename=name)),
            "consent": consent.context if consent else None,
            **context,
        }
        response = aiohttp_jinja2.render_template(template, request, ctx, status=status)
        response.headers.update(SECURITY_HEADERS)
        if consent is not None:
            response.headers["Content-Security-Policy"] = consent.csp()
        # "same-origin", not "no-referrer": Chromium sends `Origin: null` on form posts
        # under no-referrer, and the origin check would refuse them (see console.render)
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Robots-Tag"] = "noindex"
        if visitor is not None and visitor.fresh:
            self.access.set_cookie(response, visitor)
        return response

    def _message(
        self, request: web.Request, lang: str, key: str, status: int, visitor: Visitor | None = None
    ) -> web.Response:
        words = self.words(lang)
        return self._render(
            request,
            "citizen_message.html",
            words,
            {"message": words.t(key)},
            visitor=visitor,
            status=status,
        )

    async def _enter(self, request: web.Request) -> Visitor | web.Response:
        """The visitor, after a case link (``?k=``) opened a session; else a refusal page."""
        token = request.query.get("k")
        if token is not None:
            contact_id = self.access.from_link(token)
            if contact_id is None:
                log.info("citizen_page.link_refused")
                return self._message(request, _lang(request), "page.link_invalid", 403)
            response = web.HTTPSeeOther(_target(request))  # the token leaves the address
            self.access.set_cookie(response, self.access.open(contact_id))
            raise response
        visitor = await self.access.visitor(request)
        if visitor is None:
            return self._message(request, _lang(request), "page.no_access", 403)
        return visitor

    async def _lang(self, visitor: Visitor) -> str:
        async with self.db.read() as conn:
            return (await contacts.get(conn, visitor.contact_id)).lang

    @staticmethod
    async def _consent(request: web.Request, contact: Contact) -> ConsentView | None:
        """The consent block of the contact's channel, if one is installed."""
        block = request.app.get(CONSENT_BLOCK)
        return await block.view(request, contact) if block is not None else None

    # -- pages -----------------------------------------------------------------------

    async def cases_page(self, request: web.Request) -> web.Response:
        """GET /my: the citizen's cases, newest first."""
        visitor = await self._enter(request)
        if isinstance(visitor, web.Response):
            return visitor
        now = self.service.clock()
        async with self.db.read() as conn:
            contact = await contacts.get(conn, visitor.contact_id)
            own = await cases.for_contact(conn, visitor.contact_id, limit=100)
            phone = await sms_receipts.verified_phone(conn, visitor.contact_id)
            by_phone = await cases.for_phone(conn, phone, limit=100)
            pending = (
                await self.phones.pending(conn, visitor.contact_id, now) if self.phones else ""
            )
        words = self.words(contact.lang)
        seen = {c.id for c in own}
        every = sorted([*own, *(c for c in by_phone if c.id not in seen)], key=lambda c: -c.id)
        done = request.query.get("phone", "")
        context = {
            "cases": [words.line(c) for c in every],
            "sms_on": bool(self.phones and self.phones.enabled),
            "verified": masked(phone) if phone else "",
            "pending": pending,
            "phone_notice": words.t(f"phone.{done}") if done in PHONE_OUTCOMES else "",
            "phone_ok": done in ("sent", "confirmed"),
        }
        consent = await self._consent(request, contact)
        return self._render(
            request, "citizen_cases.html", words, context, visitor=visitor, consent=consent
        )

    async def phone(self, request: web.Request) -> web.StreamResponse:
        """POST /my/phone (send a code) and /my/phone/confirm (check it)."""
        visitor = await self.access.visitor(request)
        if visitor is None:
            return self._message(request, _lang(request), "page.no_access", 403)
        posted = await request.post()
        form = {k: v for k, v in posted.items() if isinstance(v, str)}
        lang = await self._lang(visitor)
        if not self.access.csrf_ok(request, visitor, form.get("_csrf", "")):
            log.info("citizen_page.csrf_refused", action="phone")
            return self._message(request, lang, "page.expired", 403, visitor)
        if self.phones is None or not self.phones.enabled:
            return self._message(request, lang, "phone.unavailable", 404, visitor)
        now = self.service.clock()
        client = request.remote or ""
        confirm = request.match_info.get("step") == "confirm"
        async with self.db.transaction() as conn:
            if confirm:
                typed = form.get("code", "")[:20]
                outcome = await self.phones.confirm(conn, visitor.contact_id, typed, now, client)
            else:
                typed = form.get("phone", "")[:40]
                outcome = await self.phones.request(conn, visitor.contact_id, typed, now, client)
        log.info(
            "citizen_page.phone", step="confirm" if confirm else "send", outcome=outcome.outcome
        )
        raise web.HTTPSeeOther(f"{PREFIX}?phone={outcome.outcome}")

    async def case_page(self, request: web.Request) -> web.Response:
        """GET /my/cases/{tracking_no}: one of the citizen's cases."""
        visitor = await self._enter(request)
        if isinstance(visitor, web.Response):
            return visitor
        done = request.query.get("done", "")
        return await self._show(request, visitor, notice_of=done if done in ACTIONS else "")

    async def _show(
        self,
        request: web.Request,
        visitor: Visitor,
        *,
        notice_of: str = "",
        error: str = "",
        status: int = 200,
    ) -> web.Response:
        parsed = parse_tracking_no(request.match_info["tracking_no"])
        async with self.db.read() as conn:
            contact = await contacts.get(conn, visitor.contact_id)
            lang = contact.lang
            case = (
                await cases.own_case(conn, visitor.contact_id, parsed.canonical)
                if parsed.outcome == "valid"
                else None
            )
            owner = case is not None
            if case is None and parsed.outcome == "valid":
                # a case filed with the mobile this citizen confirmed: shown, not acted on
                phone = await sms_receipts.verified_phone(conn, visitor.contact_id)
                found = await cases.by_tracking_no(conn, parsed.canonical)
                mine = found is not None and phone and national(found.phone) == phone
                case = found if mine else None
            words = self.words(lang)
            if case is None:
                return self._message(request, lang, "page.not_found", 404, visitor)
            page = await words.page(conn, case, self.service.clock())
            issued = await document_store.of_case(conn, case.id)
            if not owner:
                page = replace(page, can_rate=False, remedy="", can_withdraw=False)
        notice = ""
        if notice_of:
            number = page.line.number
            if notice_of == "review":
                key = (
                    "review.recheck_requested"
                    if case.status == "recheck_requested"
                    else "review.requested"
                )
                due = words.date(case.due_at) if case.due_at else "-"
                notice = words.t(key, number=number, date=due)
            else:
                notice = words.t(_DONE[notice_of], number=number, rating=page.rating)
        documents = [
            (
                str(d.data.get("title") or ""),
                d.number,
                f"{PREFIX}/cases/{case.tracking_no}/documents/{d.id}",
            )
            for d in issued
        ]
        context = {"page": page, "notice": notice, "error": error, "documents": documents}
        consent = await self._consent(request, contact)
        return self._render(
            request,
            "citizen_case.html",
            words,
            context,
            visitor=visitor,
            status=status,
            consent=consent,
        )

    async def document(self, request: web.Request) -> web.StreamResponse:
        """GET /my/cases/{tracking_no}/documents/{document_id}: the PDF of a document of
        one of the visitor's own cases (the link in a notice opens a session first)."""
        token = request.query.get("k")
        if token is not None:
            contact_id = self.access.from_link(token)
            if contact_id is None:
                log.info("citizen_page.link_refused")
                return self._message(request, _lang(request), "page.link_invalid", 403)
            response = web.HTTPSeeOther(request.path)  # the token leaves the address
            self.access.set_cookie(response, self.access.open(contact_id))
            raise response
        visitor = await self.access.visitor(request)
        if visitor is None:
            return self._message(request, _lang(request), "page.no_access", 403)
        found = None
        if self.documents is not None:
            found = await self.documents.for_contact(
                visitor.contact_id,
                request.match_info["tracking_no"],
                int(request.match_info["document_id"]),  # digits: the route says so
            )
        if found is None:
            lang = await self._lang(visitor)
            return self._message(request, lang, "page.not_found", 404, visitor)
        document, path = found
        log.info("citizen_page.document", kind=document.kind)
        served = pdf_response(document, path)
        if visitor.fresh:
            self.access.set_cookie(served, visitor)
        return served

    # -- actions ---------------------------------------------------------------------

    async def act(self, request: web.Request) -> web.StreamResponse:
        """POST /my/cases/{tracking_no}/{action}: rate, ask for 复查/复核, withdraw."""
        visitor = await self.access.visitor(request)
        if visitor is None:
            return self._message(request, _lang(request), "page.no_access", 403)
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise web.HTTPNotFound()
        posted = await request.post()
        form = {k: v for k, v in posted.items() if isinstance(v, str)}
        lang = await self._lang(visitor)
        if not self.access.csrf_ok(request, visitor, form.get("_csrf", "")):
            log.info("citizen_page.csrf_refused", action=action)
            return self._message(request, lang, "page.expired", 403, visitor)
        parsed = parse_tracking_no(request.match_info["tracking_no"])
        words = self.words(lang)
        now = self.service.clock()
        try:
            async with self.db.transaction() as conn:
                case = (
                    await cases.own_case(conn, visitor.contact_id, parsed.canonical)
                    if parsed.outcome == "valid"
                    else None
                )
                if case is None:
                    return self._message(request, lang, "page.not_found", 404, visitor)
                outcome = await self._apply(conn, visitor.contact_id, case, action, form, now)
        except LifecycleError as exc:
            log.info("citizen_page.refused", action=action, code=exc.code or "transition")
            outcome = CitizenAction("refused")
        log.info("citizen_page.action", action=action, outcome=outcome.outcome)
        if outcome.outcome in ("rated", "requested", "withdrawn"):
            raise web.HTTPSeeOther(f"{PREFIX}/cases/{parsed.canonical}?done={action}")
        error = _refusal(words, action, outcome)
        return await self._show(request, visitor, error=error, status=409)

    async def _apply(
        self,
        conn: AsyncConnection,
        contact_id: int,
        case: CaseRow,
        action: str,
        form: dict[str, str],
        now: datetime,
    ) -> CitizenAction:
        svc = self.service
        if action == "rate":
            rating = form.get("rating", "")
            if rating not in RATINGS:
                return CitizenAction("bad_rating")
            comment = form.get("comment", "").strip()[:MAX_REASON]
            return await svc.rate_for_contact(
                conn,
                contact_id,
                rating=rating,
                comment=comment,
                tracking_no=case.tracking_no,
                now=now,
            )
        if action == "review":
            reason = form.get("reason", "").strip()[:MAX_REASON]
            stage = "recheck" if case.status in ("reviewed", "recheck_requested") else "review"
            if not reason:
                return CitizenAction("no_reason", stage=stage)
            return await svc.request_review_for_contact(
                conn, contact_id, stage=stage, tracking_no=case.tracking_no, now=now, reason=reason
            )
        if form.get("confirm") != "yes":  # the box the citizen ticks to confirm
            return CitizenAction("unconfirmed", case.tracking_no)
        return await svc.withdraw_for_contact(
            conn, contact_id, tracking_no=case.tracking_no, now=now
        )


def _refusal(words: PageWords, action: str, done: CitizenAction) -> str:
    """Why an action was not done, in the citizen's words."""
    number = format_tracking_no(done.tracking_no) if done.tracking_no else "-"
    if done.outcome == "unconfirmed":
        return words.t("withdraw.confirm", number=number)
    if done.outcome == "no_reason":
        return words.t("page.reason_required")
    if done.outcome == "window_closed":
        return words.t("review.window_closed", number=number, date=done.date or "-")
    if done.outcome == "already":
        return words.t("review.already", number=number, date=done.date or "-")
    if done.outcome == "answered":
        return words.t("withdraw.answered", number=number)
    if done.outcome == "none":
        return words.t(
            {"rate": "rating.none", "review": "review.none"}.get(action, "withdraw.none")
        )
    return words.t("page.refused")


def _target(request: web.Request) -> str:
    """Where a case link leads once its token opened a session: the page, canonically."""
    number = parse_tracking_no(request.match_info.get("tracking_no", ""))
    return f"{PREFIX}/cases/{number.canonical}" if number.outcome == "valid" else PREFIX


def _lang(request: web.Request) -> str:
    """The language of a page shown to nobody in particular: the browser's."""
    return "en" if request.headers.get("Accept-Language", "")[:2].lower() == "en" else "zh"


def install(
    app: web.Application,
    db: Database,
    service: LifecycleService,
    forms: FormRegistry,
    access: CitizenAccess,
    static_dir: Path,
    documents: StaffDocuments | None = None,
    phones: PhoneConfirmation | None = None,
) -> None:
    """Mount /my (the templates are the console's Jinja2 environment, set up before)."""
    app[CITIZEN_ACCESS] = access
    pages = CitizenPages(db, service, forms, access, documents, phones)
    app.router.add_get(PREFIX, pages.cases_page)
    app.router.add_get(PREFIX + "/", pages.cases_page)
    app.router.add_get(PREFIX + "/cases/{tracking_no}", pages.case_page)
    app.router.add_post(PREFIX + "/cases/{tracking_no}/{action}", pages.act)
    app.router.add_get(PREFIX + "/cases/{tracking_no}/documents/{document_id:\\d+}", pages.document)
    app.router.add_post(PREFIX + "/phone", pages.phone)
    app.router.add_post(PREFIX + "/phone/{step:confirm}", pages.phone)
    app.router.add_static(
        PREFIX + "/static", static_dir, append_version=True, name="citizen_static"
    )
