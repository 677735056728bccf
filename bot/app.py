"""Composition root: builds every service once and wires the aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import broadcast_scheduler, reminders, uploads
from bot.cases.document_pdf import DocumentFiles, DocumentRenderer
from bot.cases.service import LifecycleService, load_case_config
from bot.channels import registry, sms
from bot.channels import web as webchat
from bot.channels.base import Channel
from bot.channels.mailbox import MailboxChannel
from bot.citizen_phone import PhoneConfirmation
from bot.deliveries import Deliveries
from bot.dialogs.engine import load_engine_config
from bot.intake import Intake
from bot.logging import get_logger
from bot.metrics import OUTBOX_ROWS, REGISTRY
from bot.services import Services
from bot.settings import Settings
from bot.staff.accounts import StaffAccounts
from bot.staff.broadcasts import BroadcastService
from bot.staff.casework import Casework
from bot.staff.documents import StaffDocuments
from bot.staff.export import CaseExporter
from bot.staff.labels import load_labels
from bot.storage import outbox
from bot.storage.db import Database
from bot.storage.migrate import current_revision, ensure_schema, head_revision
from bot.transcription import OpenAICompatibleTranscriber
from bot.web import citizen
from bot.web import setup as staff_web
from bot.web.citizen_access import CITIZEN_ACCESS, CitizenAccess
from bot.web.forwarded import forwarded_middleware, parse_networks
from bot.web.input_guard import input_guard

log = get_logger(__name__)

# the outbox worker gets at least this long on SIGTERM, even when requests used up the
# whole shutdown timeout: long enough to hand its rows back to the table
MIN_WORKER_GRACE_SECONDS = 1.0


def build_services(settings: Settings) -> Services:
    """Load and validate configuration, then build the services (no I/O on the database)."""
    engine = load_engine_config(
        settings.config_dir,
        draft_ttl=settings.draft_ttl,
        lookup_limit=settings.lookup_limit,
        lookup_window=settings.lookup_window,
        max_text_len=settings.max_text_len,
    )
    texts = engine.texts
    db = Database(settings.effective_database_url)
    case_config = load_case_config(settings.config_dir)
    # the channels that deliver, filled below and by the channel packages as they mount:
    # the lifecycle records a notice for any other channel as failed (NoticeRoutes)
    channels: dict[str, Channel] = {}
    lifecycle = LifecycleService(
        db,
        case_config,
        texts,
        timezone=settings.timezone,
        links=settings.case_links,
        channels=channels,
        off=registry.off_reasons(settings),
    )
    accounts = StaffAccounts(
        db,
        known_departments=case_config.routing.departments.keys(),
        max_failed_logins=settings.staff_max_failed_logins,
        lockout=timedelta(minutes=settings.staff_lockout_minutes),
        session_idle=timedelta(minutes=settings.staff_session_idle_minutes),
        session_max=timedelta(hours=settings.staff_session_max_hours),
        token_days=settings.api_token_days,
    )
    intake = Intake(
        db,
        engine,
        timezone=settings.timezone,
        lifecycle=lifecycle,
        attachments_dir=settings.attachments_dir,
        transcriber=(
            OpenAICompatibleTranscriber(
                settings.stt_url,
                model=settings.stt_model,
                api_key=settings.stt_api_key,
                timeout=settings.stt_timeout_seconds,
                max_bytes=settings.max_upload_bytes,
            )
            if settings.stt_url
            else None
        ),
    )
    # the same mapping the lifecycle holds: it knows which channels deliver
    channels.update({spec.name: spec.build(settings, db) for spec in registry.enabled(settings)})
    mailboxes = {n: c for n, c in channels.items() if isinstance(c, MailboxChannel)}
    casework = Casework(db, lifecycle, texts, attachments_dir=settings.attachments_dir)
    broadcasts = BroadcastService(
        db,
        channels=set(channels),
        approval_for_all=settings.broadcast_all_needs_approval,
    )
    exporter = CaseExporter(db, load_labels(settings.config_dir), timezone=settings.timezone)
    assert case_config.documents is not None  # load_case_config always reads it
    documents = StaffDocuments(
        db,
        DocumentFiles(DocumentRenderer(case_config.documents), settings.documents_dir),
        case_config.documents,
        tz=lifecycle.tz,
        clock=casework.clock,
    )
    return Services(
        settings,
        db,
        engine,
        intake,
        mailboxes,
        accounts,
        casework,
        broadcasts,
        exporter,
        Deliveries(db),
        documents,
        channels,
    )


SERVICES = web.AppKey("services", Services)


def create_app(services: Services, *, run_worker: bool = True) -> web.Application:
    """The aiohttp application: web chat, health, metrics, and the outbox worker."""
    s = services.settings
    proxies = parse_networks(s.trusted_proxies)
    middlewares = [forwarded_middleware(proxies)] if proxies else []
    middlewares.append(input_guard)
    app = web.Application(client_max_size=s.max_body_bytes, middlewares=middlewares)
    app[SERVICES] = services
    access = CitizenAccess.build(s.secret_key, s.citizen_session_minutes, s.web_cookie_secure)
    app[CITIZEN_ACCESS] = access
    staff_web.install(app, services)
    citizen.install(
        app,
        services.db,
        services.casework.lifecycle,
        services.engine.forms,
        access,
        webchat.STATIC_DIR,
        services.documents,
        PhoneConfirmation(access.secret, enabled=sms.NAME in services.channels),
    )
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)

    stop = asyncio.Event()
    shutdown_deadline: list[float] = []

    async def begin_shutdown(_app: web.Application) -> None:
        # runs before aiohttp waits for in-flight requests: open event streams end now
        # instead of holding the shutdown for its whole timeout, and the outbox stops
        # claiming (what it already holds is finished or handed back below)
        shutdown_deadline.append(asyncio.get_running_loop().time() + s.shutdown_timeout_seconds)
        stop.set()
        log.info("serve.stopping", timeout=s.shutdown_timeout_seconds)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await ensure_schema(services.db, auto_upgrade=s.auto_migrate)
        worker_task = reminders_task = sweep_task = schedule_task = None
        if run_worker:
            worker = services.worker()
            services.broadcasts.on_enqueued = worker.wake  # a new broadcast starts at once
            services.deliveries.on_requeued = worker.wake  # so does a staff retry
            worker_task = asyncio.create_task(worker.run(stop), name="outbox-worker")
            reminders_task = asyncio.create_task(
                reminders.run(
                    services.db,
                    services.engine.texts,
                    stop,
                    ttl=s.draft_ttl,
                    before=s.draft_reminder,
                ),
                name="draft-reminders",
            )
            sweep_task = asyncio.create_task(
                uploads.run(services.db, s.attachments_dir, stop, ttl=s.draft_ttl),
                name="orphan-files",
            )
            schedule_task = asyncio.create_task(
                broadcast_scheduler.run(services.broadcasts, stop), name="broadcast-schedule"
            )
        lifecycle_service = services.intake.lifecycle
        gaps = lifecycle_service.calendar_gaps() if lifecycle_service is not None else []
        if gaps:
            # DOMAIN.md: never invent a holiday schedule; count Mon-Fri until one is added
            log.warning(
                "calendar.missing_years",
                years=gaps,
                hint="add config/calendar/<year>.yaml; working days count Monday-Friday until then",
            )
        log.info("serve.ready", database=services.db.dialect, channels=sorted(services.channels))
        yield
        stop.set()
        if reminders_task is not None:
            await reminders_task  # stop is set: it ends after its current sweep
        if sweep_task is not None:
            await sweep_task
        if schedule_task is not None:
            await schedule_task
        if worker_task is not None:
            loop_now = asyncio.get_running_loop().time()
            deadline = shutdown_deadline[0] if shutdown_deadline else loop_now
            await _finish_worker(worker_task, max(deadline - loop_now, MIN_WORKER_GRACE_SECONDS))
        transcriber = services.intake.transcriber
        if isinstance(transcriber, OpenAICompatibleTranscriber):
            await transcriber.close()
        await services.db.dispose()
        log.info("serve.stopped")

    app.on_shutdown.append(begin_shutdown)
    app.cleanup_ctx.append(lifecycle)
    for spec in registry.enabled(s):
        spec.install(app, services)
    return app


async def _finish_worker(task: asyncio.Task[None], grace: float) -> None:
    """Let the worker finish its current sends for ``grace`` seconds, then cancel it.

    A cancelled send may have reached the platform: the row goes back to pending and is
    sent again by the next worker (at most once more where the platform cannot tell).
    """
    try:
        await asyncio.wait_for(asyncio.shield(task), grace)
    except TimeoutError:
        log.warning("outbox.stop_timeout", grace=round(grace, 2))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _index(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/chat")


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        revision = await current_revision(services.db)
        async with services.db.read() as conn:
            counts = await outbox.counts_by_status(conn)
    except Exception as exc:
        log.warning("readyz.database_unavailable", error=type(exc).__name__)
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    backlog = sum(n for (_, status), n in counts.items() if status in ("pending", "sending"))
    failed = sum(n for (_, status), n in counts.items() if status == "failed")
    ok = revision == head_revision()
    body = {
        "status": "ready" if ok else "schema_out_of_date",
        "schema": revision,
        "outbox_backlog": backlog,
        "outbox_failed": failed,
    }
    return web.json_response(body, status=200 if ok else 503)


async def _metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.db.read() as conn:
        counts = await outbox.counts_by_status(conn)
    OUTBOX_ROWS.clear()
    for (channel, status), n in counts.items():
        OUTBOX_ROWS.labels(channel, status).set(n)
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
