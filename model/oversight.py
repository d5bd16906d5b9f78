"""Tables of monitoring and of the audit log's own retention (revision 0003).

- `monitoring_runs`: one row per `ews monitor` run (week, model version, status) with a small
  JSON summary; `monitoring_psi`, `monitoring_schools` and `monitoring_precision` hold its
  results. Aggregates only: no pupil id is ever stored here, so retention and erasure never
  need to touch these tables.
- `audit_purge`: the one way an audit row can be deleted. The store refuses DELETE on
  audit_log unless the row is older than a cut-off written here in the same transaction
  (triggers on SQLite and PostgreSQL); UPDATE and TRUNCATE stay refused always. Only
  `serving.retention.purge_audit_log` writes it, and it records the purge in the log itself.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, DateTime, Float, ForeignKey, Integer, String, Table

from model.store import metadata

monitoring_runs = Table(
    "monitoring_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("week", String(8), nullable=False, index=True),
    Column("as_of", Date, nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("status", String(8), nullable=False),  # ok | warning | alarm
    Column("summary", JSON, nullable=False),  # warnings, reference window, needs_retraining
)

monitoring_psi = Table(
    "monitoring_psi",
    metadata,
    Column("run_id", Integer, ForeignKey("monitoring_runs.id", ondelete="CASCADE"),
           primary_key=True),
    Column("scope", String(64), primary_key=True),  # "all" or a school id
    Column("name", String(64), primary_key=True),  # a feature or "score"
    Column("psi", Float),
    Column("level", String(8), nullable=False),
    Column("judged", String(64)),  # None, or why a shift in this column is not judged
    Column("basis", String(8), nullable=False),  # month | window
    Column("rows", Integer, nullable=False),
)

monitoring_schools = Table(
    "monitoring_schools",
    metadata,
    Column("run_id", Integer, ForeignKey("monitoring_runs.id", ondelete="CASCADE"),
           primary_key=True),
    Column("school_id", String(64), primary_key=True),
    Column("pupils_on_roll", Integer, nullable=False),
    Column("flagged", Integer, nullable=False),
    Column("share_flagged", Float, nullable=False),
    Column("share_already_concerning", Float, nullable=False),
    Column("reference_already_concerning", Float),
    Column("mean_risk", Float),
    Column("reference_mean_risk", Float),
    Column("score_psi", Float),
)

monitoring_precision = Table(
    "monitoring_precision",
    metadata,
    Column("run_id", Integer, ForeignKey("monitoring_runs.id", ondelete="CASCADE"),
           primary_key=True),
    Column("ranker", String(64), primary_key=True),  # "model" or "rule:<name>"
    Column("lists", Integer, nullable=False),
    Column("listed", Integer, nullable=False),
    Column("known", Integer, nullable=False),
    Column("positives", Integer, nullable=False),
    Column("precision", Float),
)

audit_purge = Table(
    "audit_purge",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("before", DateTime(timezone=True), nullable=False),
)
