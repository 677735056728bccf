"""Prometheus metrics (text exposition at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

INBOUND = Counter(
    "xinfang_inbound_messages_total", "Inbound messages processed", ["channel"], registry=REGISTRY
)
STT_RESULTS = Counter(
    "xinfang_stt_transcriptions_total",
    "Voice messages sent to the speech-to-text service, by result",
    ["result"],
    registry=REGISTRY,
)
INBOUND_DUPLICATES = Counter(
    "xinfang_inbound_duplicates_total",
    "Inbound messages recognised as platform retries",
    ["channel"],
    registry=REGISTRY,
)
REJECTED_REQUESTS = Counter(
    "xinfang_rejected_requests_total",
    "Requests refused before intake (signature, size, format, rate)",
    ["channel", "reason"],
    registry=REGISTRY,
)
CASES_SUBMITTED = Counter(
    "xinfang_cases_submitted_total", "Cases registered", ["channel"], registry=REGISTRY
)
OUTBOX_SENT = Counter(
    "xinfang_outbox_sent_total", "Outbox messages delivered", ["channel"], registry=REGISTRY
)
OUTBOX_RETRIED = Counter(
    "xinfang_outbox_retries_total", "Outbox send attempts to retry", ["channel"], registry=REGISTRY
)
OUTBOX_FAILED = Counter(
    "xinfang_outbox_failed_total",
    "Outbox messages failed permanently",
    ["channel"],
    registry=REGISTRY,
)
OUTBOX_ROWS = Gauge(
    "xinfang_outbox_rows",
    "Outbox rows by channel and status (read at scrape time)",
    ["channel", "status"],
    registry=REGISTRY,
)
