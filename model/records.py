"""What the service records beside the register: scores, weekly flag lists and their flags, the
detection team's reviews, API tokens and the append-only audit log.

These tables share the store's metadata and migrations (revision 0002). Reasons are stored as
structured contributions (feature, group, value, effect), never as free text; texts are rendered
on read in the reader's language. The audit log names a pupil only by a one-way marker of the
pseudonym (`audit_marker`), so erasing a pupil leaves no identifier behind in it, and it never
has to be rewritten: the store refuses UPDATE and DELETE on it (triggers, on SQLite and
PostgreSQL alike).
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from model.store import metadata

SECTIONS = ("early_warning", "statutory", "already_concerning")
DECISIONS = ("investigate", "already_known", "no_action", "other")
ROLES = ("school", "team", "analyst", "admin", "municipality")

scores = Table(
    "scores",
    metadata,
    Column("as_of", Date, primary_key=True),
    Column("pupil_id", String(64), primary_key=True),
    Column("model_version", String(32), primary_key=True),
    Column("school_id", String(64), nullable=False, index=True),
    Column("grade", SmallInteger, nullable=False),
    Column("risk", Float, nullable=False),
    Column("margin", Float, nullable=False),
    Column("band", String(16), nullable=False),
    Column("already_concerning", Boolean, nullable=False),
    Column("reasons", JSON, nullable=False),  # [{feature, group, value, effect}]
)

flag_lists = Table(
    "flag_lists",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("week", String(8), nullable=False),
    Column("school_id", String(64), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("pupils_on_roll", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("week", "school_id", name="uq_flag_list_week_school"),
)

flags = Table(
    "flags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, ForeignKey("flag_lists.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("pupil_id", String(64), nullable=False, index=True),
    Column("section", String(24), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("grade", SmallInteger, nullable=False),
    Column("risk", Float),
    Column("band", String(16)),
    Column("reasons", JSON, nullable=False),
    Column("absence_year", Float),
    Column("trend", Float),
    Column("statutory_level", String(16)),
    Column("unauthorised_quarter", Float),
    Column("new_this_week", Boolean, nullable=False),
    UniqueConstraint("list_id", "pupil_id", "section", name="uq_flag"),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flag_id", Integer, ForeignKey("flags.id", ondelete="SET NULL"), index=True),
    Column("pupil_id", String(64), nullable=False, index=True),
    Column("school_id", String(64), nullable=False),
    Column("week", String(8), nullable=False),
    Column("decision", String(16), nullable=False),  # one of DECISIONS, coded, no free text
    Column("decided_on", Date, nullable=False),
    Column("decided_by", String(64), nullable=False),  # token name and role, never a person's name
    Column("created_at", DateTime(timezone=True), nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the token
    Column("role", String(16), nullable=False),
    Column("school_id", String(64)),
    Column("name", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),  # issue 13: None = until revoked
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(64), nullable=False),  # token name, or "cli:<command>"
    Column("role", String(16), nullable=False),
    Column("school_id", String(64)),
    Column("action", String(48), nullable=False),
    Column("pupil_marker", String(64), index=True),  # audit_marker(pseudonym), never the id
    Column("detail", JSON),
)


def audit_marker(pupil_id: str, key: bytes) -> str:
    """One-way marker of a pupil's pseudonym for the audit log (HMAC, domain-separated)."""
    return "a-" + hmac.new(key, b"audit:" + pupil_id.encode(), hashlib.sha256).hexdigest()[:24]


# -- issue 13: server-side sessions of the team pages (revision 0004) ---------------------------
# The pages' cookie holds a random session id; the store keeps only its SHA-256 and the token it
# stands for. Logout deletes the row; sessions end after an idle and an absolute limit.
page_sessions = Table(
    "page_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("token_id", Integer, ForeignKey("tokens.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)


# -- issue 14: the weekly job (revision 0005) ---------------------------------------------------
# Who is told that a week's list is ready, what each weekly run did, and every mail it owes.
# A mail never holds a pupil id, a CPR number or a reason: the outbox stores counts and links.

RECIPIENT_ROLES = ("team", "analyst")

recipients = Table(
    "recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, index=True),
    Column("role", String(16), nullable=False),  # team (one school) | analyst (no school)
    Column("school_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

weekly_runs = Table(
    "weekly_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("week", String(8), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("status", String(8), nullable=False),  # ok | warning | alarm | failed
    Column("batch_id", Integer),  # the store's latest import batch when the lists were cut
    Column("model_version", String(32)),
    Column("summary", JSON, nullable=False),  # deliveries, lists, verdict, stale, retraining due
)

mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),  # one mail per key, ever
    Column("week", String(8), nullable=False),
    Column("kind", String(16), nullable=False),  # team | analyst
    Column("school_id", String(64)),
    Column("recipient", String(254), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("last_error", String(300)),
    Column("sent_at", DateTime(timezone=True), index=True),
    Column("cancelled_at", DateTime(timezone=True)),  # the recipient was removed before sending
)
