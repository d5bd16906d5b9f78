"""Records: scores, weekly flag lists, flags, reviews, tokens and the append-only audit log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

APPEND_ONLY_SQLITE = """
CREATE TRIGGER audit_log_no_{verb} BEFORE {VERB} ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
"""
APPEND_ONLY_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$ LANGUAGE plpgsql
"""
APPEND_ONLY_PG_TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("as_of", sa.Date, primary_key=True),
        sa.Column("pupil_id", sa.String(64), primary_key=True),
        sa.Column("model_version", sa.String(32), primary_key=True),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("grade", sa.SmallInteger, nullable=False),
        sa.Column("risk", sa.Float, nullable=False),
        sa.Column("margin", sa.Float, nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("already_concerning", sa.Boolean, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
    )
    op.create_index("ix_scores_school_id", "scores", ["school_id"])
    op.create_table(
        "flag_lists",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("week", sa.String(8), nullable=False),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("pupils_on_roll", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("week", "school_id", name="uq_flag_list_week_school"),
    )
    op.create_table(
        "flags",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("list_id", sa.Integer, sa.ForeignKey("flag_lists.id", ondelete="CASCADE"), nullable=False),
        sa.Column("pupil_id", sa.String(64), nullable=False),
        sa.Column("section", sa.String(24), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("grade", sa.SmallInteger, nullable=False),
        sa.Column("risk", sa.Float),
        sa.Column("band", sa.String(16)),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("absence_year", sa.Float),
        sa.Column("trend", sa.Float),
        sa.Column("statutory_level", sa.String(16)),
        sa.Column("unauthorised_quarter", sa.Float),
        sa.Column("new_this_week", sa.Boolean, nullable=False),
        sa.UniqueConstraint("list_id", "pupil_id", "section", name="uq_flag"),
    )
    op.create_index("ix_flags_list_id", "flags", ["list_id"])
    op.create_index("ix_flags_pupil_id", "flags", ["pupil_id"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("flag_id", sa.Integer, sa.ForeignKey("flags.id", ondelete="SET NULL")),
        sa.Column("pupil_id", sa.String(64), nullable=False),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("week", sa.String(8), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_on", sa.Date, nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reviews_flag_id", "reviews", ["flag_id"])
    op.create_index("ix_reviews_pupil_id", "reviews", ["pupil_id"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("school_id", sa.String(64)),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("school_id", sa.String(64)),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("pupil_marker", sa.String(64)),
        sa.Column("detail", sa.JSON),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_pupil_marker", "audit_log", ["pupil_marker"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_PG_FUNCTION)
        op.execute(APPEND_ONLY_PG_TRIGGER)
    else:
        for verb in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(verb=verb, VERB=verb.upper()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for table in ("audit_log", "tokens", "reviews", "flags", "flag_lists", "scores"):
        op.drop_table(table)
