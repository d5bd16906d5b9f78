"""Oversight: monitoring results, and the audit log's own retention (a guarded purge path).

The audit log stays append-only for everything but its own retention: DELETE of a row is
refused unless an `audit_purge` row in the same transaction names a cut-off after the row's
time. UPDATE (and on PostgreSQL TRUNCATE) stay refused always.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

SQLITE_GUARDED_DELETE = """
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_purge WHERE OLD.at < audit_purge.before)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
"""
SQLITE_PLAIN_DELETE = """
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
"""
PG_NO_CHANGE = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
"""
PG_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_guarded_delete() RETURNS trigger AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM audit_purge WHERE OLD.at < audit_purge.before) THEN
    RAISE EXCEPTION 'audit_log is append-only';
  END IF;
  RETURN OLD;
END $$ LANGUAGE plpgsql
"""
PG_GUARD_TRIGGER = """
CREATE TRIGGER audit_log_guarded_delete BEFORE DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_guarded_delete()
"""
PG_ALL_REFUSED = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "monitoring_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("week", sa.String(8), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_index("ix_monitoring_runs_week", "monitoring_runs", ["week"])
    op.create_index("ix_monitoring_runs_created_at", "monitoring_runs", ["created_at"])
    run_fk = sa.ForeignKey("monitoring_runs.id", ondelete="CASCADE")
    op.create_table(
        "monitoring_psi",
        sa.Column("run_id", sa.Integer, run_fk, primary_key=True),
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("psi", sa.Float),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("judged", sa.String(64)),
        sa.Column("basis", sa.String(8), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
    )
    op.create_table(
        "monitoring_schools",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("monitoring_runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("school_id", sa.String(64), primary_key=True),
        sa.Column("pupils_on_roll", sa.Integer, nullable=False),
        sa.Column("flagged", sa.Integer, nullable=False),
        sa.Column("share_flagged", sa.Float, nullable=False),
        sa.Column("share_already_concerning", sa.Float, nullable=False),
        sa.Column("reference_already_concerning", sa.Float),
        sa.Column("mean_risk", sa.Float),
        sa.Column("reference_mean_risk", sa.Float),
        sa.Column("score_psi", sa.Float),
    )
    op.create_table(
        "monitoring_precision",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("monitoring_runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("ranker", sa.String(64), primary_key=True),
        sa.Column("lists", sa.Integer, nullable=False),
        sa.Column("listed", sa.Integer, nullable=False),
        sa.Column("known", sa.Integer, nullable=False),
        sa.Column("positives", sa.Integer, nullable=False),
        sa.Column("precision", sa.Float),
    )
    op.create_table(
        "audit_purge",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("before", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute(PG_NO_CHANGE)
        op.execute(PG_GUARD_FUNCTION)
        op.execute(PG_GUARD_TRIGGER)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute(SQLITE_GUARDED_DELETE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_guarded_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_guarded_delete()")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute(PG_ALL_REFUSED)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        op.execute(SQLITE_PLAIN_DELETE)
    for table in ("audit_purge", "monitoring_precision", "monitoring_schools", "monitoring_psi",
                  "monitoring_runs"):
        op.drop_table(table)
