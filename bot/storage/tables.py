"""The schema, as SQLAlchemy Core tables. Migrations in ``migrations/versions`` mirror it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BIGINT ids on PostgreSQL; INTEGER on SQLite so that the column is the rowid alias.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("address", String(128), nullable=False),  # platform chat/user id (web: cookie hash)
    Column("lang", String(8), nullable=False, server_default="zh"),
    Column("reachable", Boolean, nullable=False, server_default="1"),  # false after unsubscribe
    # the citizen asked for no broadcasts (pushes about their own cases still go out); 0003
    Column("broadcast_opt_out", Boolean, nullable=False, server_default="0"),
    Column("last_inbound_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("channel", "address"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), primary_key=True),
    Column("state", Json, nullable=True),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime(), nullable=False),
)

inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("external_id", String(128), nullable=False),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("text", Text, nullable=False, server_default=""),
    Column("meta", Json, nullable=True),  # attachment / location / command, PII-free
    Column("replies", Json, nullable=True),  # the replies given, returned to duplicates
    Column("reply_mode", String(8), nullable=False, server_default="direct"),  # or "outbox"
    UniqueConstraint("channel", "external_id"),
    Index("ix_inbound_contact", "contact_id", "id"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Id, primary_key=True),
    Column("tracking_no", String(20), nullable=False, unique=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(24), nullable=False),
    Column("lang", String(8), nullable=False),
    Column("form_id", String(32), nullable=False),
    Column("form_version", Integer, nullable=False),
    Column("appeal_type", String(24), nullable=False, server_default=""),
    Column("category", String(32), nullable=False, server_default=""),
    Column("region", String(32), nullable=False, server_default=""),
    Column("name", String(100), nullable=False, server_default=""),
    Column("phone", String(20), nullable=False, server_default=""),
    Column("people_count", Integer, nullable=False, server_default="1"),
    Column("answers", Json, nullable=False),
    Column("flags", Json, nullable=False),
    Column("submitted_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=True),  # the current step's deadline for staff
    # lifecycle (migration 0002)
    Column("department", String(32), nullable=False, server_default=""),  # 交办 department code
    Column("co_departments", Json, nullable=True),  # list of co-handling department codes
    Column("transferred_to", String(100), nullable=False, server_default=""),  # 转送 recipient
    Column("accepted_at", UTCDateTime(), nullable=True),
    Column("answer_due_at", UTCDateTime(), nullable=True),  # 60 days from acceptance + extensions
    Column("extensions", Integer, nullable=False, server_default="0"),
    Column("answered_at", UTCDateTime(), nullable=True),
    Column("answer_text", Text, nullable=False, server_default=""),
    Column("answer_outcome", String(16), nullable=False, server_default=""),
    Column("request_until", UTCDateTime(), nullable=True),  # last moment to ask for 复查/复核
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("rating", String(24), nullable=False, server_default=""),
    Column("rating_comment", Text, nullable=False, server_default=""),
    Column("rated_at", UTCDateTime(), nullable=True),
    Column("linked_to", Id, ForeignKey("cases.id"), nullable=True),  # primary of a linked group
    # full-text search (migration 0003): CJK bigrams + lower-cased words, see cases/search.py;
    # what every staff member may search, and the personal data (case.pii only, 0009)
    Column("search_doc", Text, nullable=False, server_default=""),
    Column("search_pii", Text, nullable=False, server_default=""),
    # the named handler's login, '' = the department's shared queue (migration 0014)
    Column("handler", String(64), nullable=False, server_default=""),
    Index("ix_cases_contact", "contact_id", "id"),
    Index("ix_cases_phone", "phone"),
    Index("ix_cases_status_submitted", "status", "submitted_at"),
    Index("ix_cases_status_due", "status", "due_at"),
    Index("ix_cases_department_status", "department", "status"),
    Index("ix_cases_linked_to", "linked_to"),
    # the list's sorts, then region and category filters (migration 0006)
    Index("ix_cases_submitted", "submitted_at", "id"),
    Index("ix_cases_updated", "updated_at", "id"),
    Index("ix_cases_due", "due_at", "id"),
    Index("ix_cases_status", "status", "id"),
    Index("ix_cases_region", "region", "submitted_at"),
    Index("ix_cases_category", "category", "submitted_at"),
    Index("ix_cases_handler_status", "handler", "status"),
)

# The lead and co-handling departments of each case, one row per department (migration
# 0004): the staff list's department filter and a handler's scope select through
# (department, case_id) instead of scanning cases.co_departments. Kept in step with
# cases.department / co_departments by storage.cases.insert_case and update_case.
case_departments = Table(
    "case_departments",
    metadata,
    Column("department", String(32), primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), primary_key=True),
    Column("role", String(8), nullable=False),  # lead | co
    Index("ix_case_departments_case", "case_id"),
)

# Case pairs: duplicates suggested at registration, and cases staff linked (handled as one).
case_links = Table(
    "case_links",
    metadata,
    Column("id", Id, primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("other_case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("kind", String(12), nullable=False),  # suggested | linked
    Column("score", Float, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("case_id", "other_case_id"),
    Index("ix_case_links_other", "other_case_id"),
)

case_events = Table(
    "case_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),  # "citizen", "system", or a staff login
    Column("kind", String(32), nullable=False),
    # what the petitioner was told (告知内容: pushed, and shown in their status answers)
    Column("message", Text, nullable=False, server_default=""),
    # staff-side text (internal notes, a citizen's own rating comment): never shown to citizens
    Column("note", Text, nullable=False, server_default=""),
    Column("public", Boolean, nullable=False, server_default="1"),  # on the citizen's timeline
    Column("data", Json, nullable=True),
    Index("ix_case_events_case", "case_id", "id"),
)

# every written opinion of a case (处理意见, 复查意见, 复核意见), kept in order: a later
# decision never overwrites an earlier one (cases.answer_text is the latest, for lists)
case_opinions = Table(
    "case_opinions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("stage", String(8), nullable=False),  # answer | review | recheck
    Column("outcome", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("decided_by", String(64), nullable=False),  # the staff login (actor) who decided
    Column("department", String(32), nullable=False, server_default=""),  # "" = the office
    Column("decided_at", UTCDateTime(), nullable=False),
    Index("ix_case_opinions_case", "case_id", "id"),
)

# The office's written notices (migration 0012): 受理告知书, 不予受理告知书, 转送告知,
# 延期告知书, 处理意见书, 复查意见书, 复核意见书. ``data`` is what the document says, frozen
# when it was issued (never an internal note); ``number`` its 文号, from (kind, year, seq).
case_documents = Table(
    "case_documents",
    metadata,
    Column("id", Id, primary_key=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("year", Integer, nullable=False),  # the office-local year of issue
    Column("seq", Integer, nullable=False),  # per kind and year, from document_numbers
    Column("number", String(64), nullable=False),  # the 文号 as printed
    Column("event_id", Id, ForeignKey("case_events.id"), nullable=True),  # the action's event
    Column("data", Json, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),  # the staff login (actor)
    Column("pdf_key", String(256), nullable=False, server_default=""),  # rendered file
    UniqueConstraint("kind", "year", "seq"),
    Index("ix_case_documents_case", "case_id", "id"),
)

# The last 文号 sequence number of each document kind and year: incremented in the issuing
# transaction (a row lock on PostgreSQL, the write lock on SQLite), so no gap, no repeat.
document_numbers = Table(
    "document_numbers",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last_seq", Integer, nullable=False),
)

# Paper delivery of a document as staff record it (当面送达 / 邮寄送达).
document_deliveries = Table(
    "document_deliveries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("document_id", Id, ForeignKey("case_documents.id"), nullable=False),
    Column("way", String(16), nullable=False),  # in_person | post
    Column("delivered_on", Date, nullable=False),  # the office-local day it was delivered
    Column("note", Text, nullable=False, server_default=""),  # e.g. the registered-mail number
    Column("recorded_by", String(64), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("ix_document_deliveries_document", "document_id", "id"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("media_ref", String(256), nullable=False),  # storage key under the attachments dir
    Column("mime", String(128), nullable=False, server_default=""),
    Column("filename", String(256), nullable=False, server_default=""),
    Column("size", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
    # migration 0011: "petitioner" (what they sent, or staff scanned for them) or "staff"
    # (the office's own: investigation material, signed opinions); an office file reaches
    # the petitioner only when staff mark it part of a document (in_document)
    Column("origin", String(16), nullable=False, server_default="petitioner"),
    Column("in_document", Boolean, nullable=False, server_default="0"),
    Column("uploaded_by", String(64), nullable=False, server_default=""),  # staff login
    Index("ix_attachments_case", "case_id"),
)

# Failed look-ups of other people's cases (migration 0010): one row per target case
# ("case", tracking number) and per client ("client", a hashed network address or platform
# id), shared by every process and session; past the limit ``locked_until`` is set.
lookup_limits = Table(
    "lookup_limits",
    metadata,
    Column("scope", String(8), primary_key=True),  # "case" | "client"
    Column("key", String(64), primary_key=True),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("locked_until", UTCDateTime(), nullable=True),
)

# A citizen asking for a person ("转人工", migration 0018): one open request per contact,
# listed in the console until staff mark it handled (after calling or writing back)
help_requests = Table(
    "help_requests",
    metadata,
    Column("id", Id, primary_key=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=True),  # their latest case, if any
    Column("text", Text, nullable=False, server_default=""),  # what the citizen wrote
    Column("in_form", Boolean, nullable=False, server_default="0"),  # asked while filling in
    Column("asked_at", UTCDateTime(), nullable=False),
    Column("times", Integer, nullable=False, server_default="1"),  # asked again while open
    Column("handled_at", UTCDateTime(), nullable=True),
    Column("handled_by", String(64), nullable=False, server_default=""),
    Index("ix_help_requests_open", "handled_at", "asked_at"),
    Index("ix_help_requests_contact", "contact_id"),
)

# Predicates of the outbox's partial indexes; queries repeat them word for word, with
# inline literals, because SQLite uses a partial index only when the query's WHERE has
# the index's terms (https://www.sqlite.org/partialindex.html#queries_using_partial_indexes)
OUTBOX_QUEUE_WHERE = "kind <> 'broadcast'"
OUTBOX_BROADCAST_QUEUE_WHERE = "kind = 'broadcast'"
OUTBOX_ACTIVE_WHERE = "status IN ('pending', 'sending')"

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # reply | push | broadcast | followup
    Column("payload", Json, nullable=False),  # Reply.to_json() + optional template data
    Column("case_id", Id, ForeignKey("cases.id"), nullable=True),
    # pending -> sending (claimed, leased) -> sent | failed ; pending | failed -> cancelled ;
    # scheduled (waits for next_attempt_at, then becomes a new pending row) -> cancelled
    Column("status", String(12), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("claimed_by", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("external_id", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("broadcast_id", Id, ForeignKey("broadcasts.id"), nullable=True),  # migration 0003
    # the platform's delivery report of a sent message (WeChat TEMPLATESENDJOBFINISH:
    # delivered | blocked | failed), found by external_id (the msgid); migration 0016
    Column("receipt", String(16), nullable=True),
    Index("ix_outbox_external", "channel", "external_id"),  # receipts and reports (0013)
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_broadcast", "broadcast_id", "status"),
    Index("ix_outbox_contact", "contact_id", "id"),
    # migration 0005: the claim walks each queue in id order and checks a chat's other
    # active rows, without a sort or a scan of the chat's history (storage/outbox.py)
    Index(
        "ix_outbox_queue",
        "status",
        "id",
        sqlite_where=text(OUTBOX_QUEUE_WHERE),
        postgresql_where=text(OUTBOX_QUEUE_WHERE),
    ),
    Index(
        "ix_outbox_broadcast_queue",
        "status",
        "id",
        sqlite_where=text(OUTBOX_BROADCAST_QUEUE_WHERE),
        postgresql_where=text(OUTBOX_BROADCAST_QUEUE_WHERE),
    ),
    Index(
        "ix_outbox_active",
        "contact_id",
        "id",
        sqlite_where=text(OUTBOX_ACTIVE_WHERE),
        postgresql_where=text(OUTBOX_ACTIVE_WHERE),
    ),
)

# 订阅通知 consent per WeChat openid and template (migration 0016): long-term consent, or
# the number of one-time consents left (each allows one subscription notification)
wechat_consents = Table(
    "wechat_consents",
    metadata,
    Column("openid", String(128), primary_key=True),
    Column("template_id", String(128), primary_key=True),
    Column("long_term", Boolean, nullable=False, server_default="0"),
    Column("remaining", Integer, nullable=False, server_default="0"),
    Column("last_event", BigInteger, nullable=True),  # CreateTime of the last grant counted
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Subscription notifications whose bizsend answer was lost (a timeout after the request
# left): WeChat's subscribe_msg_sent_event decides whether the outbox row was delivered
# before it is sent again (bizsend has no client_msg_id to de-duplicate; migration 0019)
wechat_unconfirmed = Table(
    "wechat_unconfirmed",
    metadata,
    Column("outbox_id", Id, primary_key=True),
    Column("openid", String(128), nullable=False),
    Column("template_id", String(128), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=False),
    Column("msgid", String(64), nullable=True),  # set by the sent event that matched it
    Column("receipt", String(16), nullable=True),  # delivered | blocked | failed
    Index("ix_wechat_unconfirmed_citizen", "openid", "template_id"),
)

# The parametric QR code (scene_str) a WeChat contact last came through: which service
# hall's poster, for instance (migration 0016)
wechat_scenes = Table(
    "wechat_scenes",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), primary_key=True),
    Column("scene", String(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Small shared values with an optional expiry: the WeChat access_token (one for all
# processes), the Telegram polling offset. ``version`` guards compare-and-set updates.
kv = Table(
    "kv",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Json, nullable=True),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# --- staff console (migration 0003) -------------------------------------------------------

staff = Table(
    "staff",
    metadata,
    Column("id", Id, primary_key=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False, server_default=""),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # admin | supervisor | handler | viewer
    Column("departments", Json, nullable=False),  # department codes a handler works for
    Column("lang", String(8), nullable=False, server_default="zh"),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", UTCDateTime(), nullable=True),
    Column("password_changed_at", UTCDateTime(), nullable=False),
    # set by an administrator's reset: nothing but a new password until it is chosen
    Column("must_change_password", Boolean, nullable=False, server_default="0"),
    Column("last_login_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Console sessions: the cookie holds a random token; only its SHA-256 is stored.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_staff_sessions_staff", "staff_id"),
)

# Bearer tokens for integrations (the JSON API); only the SHA-256 is stored.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("scope", String(8), nullable=False, server_default="write"),  # read | write
)

# Every staff read of a case and every staff action (PIPL; DESIGN §4 Privacy).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("staff_id", Id, ForeignKey("staff.id"), nullable=True),
    Column("actor", String(64), nullable=False),  # staff login, "cli:<user>" or "system"
    Column("action", String(48), nullable=False),  # e.g. case.read, case.accept, staff.add
    Column("case_id", Id, ForeignKey("cases.id"), nullable=True),
    Column("target", String(128), nullable=False, server_default=""),
    Column("detail", Json, nullable=True),
    Column("ip", String(64), nullable=False, server_default=""),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_case", "case_id", "id"),
    Index("ix_audit_log_staff", "staff_id", "id"),
)

broadcasts = Table(
    "broadcasts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("created_by", String(64), nullable=False),  # staff login
    Column("created_at", UTCDateTime(), nullable=False),
    Column("text", Text, nullable=False),
    Column("audience", Json, nullable=False),  # the audience filter, as chosen
    # awaiting (approval) | scheduled | sending | done | cancelled | rejected (0015)
    Column("status", String(12), nullable=False),
    Column("total", Integer, nullable=False, server_default="0"),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("cancelled_at", UTCDateTime(), nullable=True),
    Column("scheduled_at", UTCDateTime(), nullable=True),  # queued then (0015)
    Column("decided_by", String(64), nullable=False, server_default=""),  # approver (0015)
    Column("decided_at", UTCDateTime(), nullable=True),
    Index("ix_broadcasts_status_scheduled", "status", "scheduled_at"),
)

# Search objects that only migrations create, in each database's own dialect, and so not in
# the metadata: FTS5 virtual tables on SQLite (0003, two columns since 0009); on PostgreSQL
# the generated column ``cases.search_tsv`` (search_doc weighted A, search_pii B: 0006,
# 0009) and its GIN index, and the descending deadline index (0006).
DIALECT_SEARCH_OBJECTS = ("cases_fts", "ix_cases_search", "search_tsv", "ix_cases_due_desc")

# ``cases.search_tsv`` for queries (PostgreSQL only; ``select(cases)`` never reads it).
cases_search_tsv = literal_column("cases.search_tsv", TSVECTOR)


def in_metadata(name: str | None, type_: str, _parent: Any) -> bool:
    """Alembic ``include_name`` hook: skip the dialect-only search objects when comparing."""
    return not (name or "").startswith(DIALECT_SEARCH_OBJECTS)


# What the SMS provider's delivery receipt (回执) said of a sent outbox row (migration 0013)
delivery_receipts = Table(
    "delivery_receipts",
    metadata,
    Column("outbox_id", Id, ForeignKey("outbox.id"), primary_key=True),
    Column("status", String(16), nullable=False),  # delivered | undelivered
    Column("detail", String(200), nullable=False, server_default=""),  # the carrier's code
    Column("at", UTCDateTime(), nullable=False),
)

# The mobile (11 digits) a contact confirmed by an SMS code on /my (migration 0013): /my
# then lists every case filed with that number
contact_phones = Table(
    "contact_phones",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), primary_key=True),
    Column("phone", String(20), nullable=False),
    Column("verified_at", UTCDateTime(), nullable=False),
)
