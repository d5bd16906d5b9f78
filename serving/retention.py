"""Retention: delete what is older than the configured windows, and nothing else.

Windows (Settings; counted in school years, the current one included, see model.calendar):
- scores, weekly flag lists and their flags, reviews and monitoring runs:
  `retention_school_years` (default 2: the current and the previous school year, domain.md);
- register data - register strips, enrolments, school days, concerns, class wellbeing, import
  batches, and pupils left with nothing: `retention_register_school_years` (default 3: the
  model reads last year's absence, and training needs a year of history before its window);
- the audit log has its own window, `audit_retention_days` (default five years), so that a
  read can be accounted for long after the data read is gone. Its rows are removed only by
  `purge_audit_log`, the one path the store's triggers let through (model.oversight), and
  every purge is itself written to the log.

`apply_retention` runs everything in one transaction and writes one audit entry with the
counts per table; then deletes the weekly-list exports under EWS_HOME of the weeks whose lists
are gone (`<folder>/<YYYY-Www>/...`, as `ews flags` writes them). `dry_run` counts without
deleting or recording anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, func, insert, not_, or_, select

from model.calendar import (
    iso_week,
    parse_school_year,
    school_year_label,
    school_year_of,
    school_year_start,
)
from model.oversight import (
    audit_purge,
    monitoring_precision,
    monitoring_psi,
    monitoring_runs,
    monitoring_schools,
)
from model.records import audit_log, flag_lists, flags, reviews, scores
from model.store import class_wellbeing, concerns, enrolments, import_batches, pupils, register, school_days
from serving.audit import record

RETENTION_APPLY = "retention_apply"
AUDIT_PURGE = "audit_purge"


@dataclass
class Cutoffs:
    """What is kept: lists from `lists_from`, register data from school year `register_from`,
    audit rows from `audit_from`."""

    lists_from: date
    register_from: str
    audit_from: datetime

    @property
    def first_kept_week(self) -> str:
        """The ISO week of the first Monday on or after `lists_from`."""
        monday = self.lists_from + timedelta(days=(7 - self.lists_from.weekday()) % 7)
        return iso_week(monday)

    def describe(self) -> dict[str, str]:
        return {"lists_from": self.lists_from.isoformat(), "register_from": self.register_from,
                "audit_from": self.audit_from.isoformat(timespec="seconds")}


@dataclass
class RetentionResult:
    cutoffs: Cutoffs
    counts: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        c = self.cutoffs
        out = [f"keeping scores, lists and reviews from {c.lists_from}, register data from school "
               f"year {c.register_from}, audit entries from {c.audit_from:%Y-%m-%d}"]
        out += [f"  {verb} {n:>8} {'' if table == EXPORT_FILES else 'rows from '}{table}"
                for table, n in self.counts.items()]
        return out


def cutoffs(settings, today: date | None = None, now: datetime | None = None) -> Cutoffs:
    """The windows of `settings` counted back from `today`'s school year."""
    today = today or date.today()
    current = parse_school_year(school_year_of(today))
    lists_from = school_year_start(school_year_label(current - settings.retention_school_years + 1))
    register_from = school_year_label(current - settings.retention_register_school_years + 1)
    now = now or datetime.now(UTC)
    return Cutoffs(lists_from, register_from, now - timedelta(days=settings.audit_retention_days))


def apply_retention(settings, engine: Engine, *, dry_run: bool = False, today: date | None = None,
                    now: datetime | None = None) -> RetentionResult:
    """Delete (or with `dry_run` only count) everything older than the windows, in one
    transaction with an audit entry of the counts; then compact a SQLite file."""
    cut = cutoffs(settings, today, now)
    result = RetentionResult(cut, dry_run=dry_run)
    with engine.begin() as conn:
        for table, condition in _targets(cut):
            if dry_run:
                n = conn.execute(select(func.count()).select_from(table).where(condition)).scalar()
            else:
                n = conn.execute(delete(table).where(condition)).rowcount
            result.counts[table.name] = int(n or 0)
        purged = count_audit_purge(conn, cut.audit_from) if dry_run else purge_audit_log(
            conn, settings.secret_key(), cut.audit_from)
        result.counts[audit_log.name] = purged
        if not dry_run:
            record(conn, settings.secret_key(), actor="cli:retention", role="admin",
                   action=RETENTION_APPLY, detail={**cut.describe(), "deleted": result.counts})
    old_exports = expired_exports(settings.home_dir, cut.first_kept_week)
    if not dry_run:
        for path in old_exports:
            path.unlink()
        for folder in sorted({p.parent for p in old_exports}, reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        compact(engine)
    result.counts[EXPORT_FILES] = len(old_exports)
    return result


EXPORT_FILES = "export files under EWS_HOME"
_WEEK_FOLDER = re.compile(r"^\d{4}-W\d{2}$")


def expired_exports(home: Path, first_kept_week: str) -> list[Path]:
    """The weekly-list exports under `home` (`<folder>/<YYYY-Www>/<school>.csv|xlsx|html`, as
    `ews flags` writes them) of weeks before `first_kept_week`: the lists they copy are gone."""
    out = []
    for folder in home.rglob("*"):
        if folder.is_dir() and _WEEK_FOLDER.match(folder.name) and folder.name < first_kept_week:
            out += [p for p in folder.iterdir()
                    if p.is_file() and p.suffix.lower() in (".csv", ".xlsx", ".html")]
    return sorted(out)


def _targets(cut: Cutoffs):
    """(table, condition) in an order the foreign keys allow: children before parents."""
    old_lists = select(flag_lists.c.id).where(flag_lists.c.as_of < cut.lists_from)
    old_runs = select(monitoring_runs.c.id).where(monitoring_runs.c.as_of < cut.lists_from)
    register_from = school_year_start(cut.register_from)
    yield reviews, reviews.c.week < cut.first_kept_week
    yield flags, flags.c.list_id.in_(old_lists)
    yield flag_lists, flag_lists.c.as_of < cut.lists_from
    yield scores, scores.c.as_of < cut.lists_from
    for child in (monitoring_psi, monitoring_schools, monitoring_precision):
        yield child, child.c.run_id.in_(old_runs)
    yield monitoring_runs, monitoring_runs.c.as_of < cut.lists_from
    yield register, register.c.school_year < cut.register_from
    yield enrolments, enrolments.c.school_year < cut.register_from
    yield class_wellbeing, class_wellbeing.c.school_year < cut.register_from
    yield concerns, concerns.c.date < register_from
    yield school_days, school_days.c.date < register_from
    yield import_batches, import_batches.c.imported_at < datetime.combine(
        register_from, datetime.min.time(), tzinfo=UTC)
    # A pupil with nothing left anywhere (a dry run counts before the rest is gone: those
    # whose every row is old).
    yield pupils, not_(or_(
        pupils.c.pupil_id.in_(select(enrolments.c.pupil_id).where(
            enrolments.c.school_year >= cut.register_from)),
        pupils.c.pupil_id.in_(select(register.c.pupil_id).where(
            register.c.school_year >= cut.register_from)),
        pupils.c.pupil_id.in_(select(concerns.c.pupil_id).where(concerns.c.date >= register_from)),
        pupils.c.pupil_id.in_(select(scores.c.pupil_id).where(scores.c.as_of >= cut.lists_from)),
        pupils.c.pupil_id.in_(select(flags.c.pupil_id).where(
            flags.c.list_id.in_(select(flag_lists.c.id).where(
                flag_lists.c.as_of >= cut.lists_from)))),
        pupils.c.pupil_id.in_(select(reviews.c.pupil_id).where(
            reviews.c.week >= cut.first_kept_week)),
    ))


def count_audit_purge(conn: Connection, before: datetime) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_log)
                            .where(audit_log.c.at < before)).scalar() or 0)


def purge_audit_log(conn: Connection, key: bytes, before: datetime) -> int:
    """Delete the audit rows older than `before` - the only deletion the store allows on the
    log (a guard row in `audit_purge` for this transaction only) - and record the purge in the
    log; returns the number of rows removed."""
    n = count_audit_purge(conn, before)
    if not n:
        return 0
    guard = conn.execute(insert(audit_purge).values(before=before)).inserted_primary_key[0]
    removed = conn.execute(delete(audit_log).where(audit_log.c.at < before)).rowcount
    conn.execute(delete(audit_purge).where(audit_purge.c.id == guard))
    record(conn, key, actor="cli:retention", role="admin", action=AUDIT_PURGE,
           detail={"before": before.isoformat(timespec="seconds"), "rows": int(removed)})
    return int(removed)


def compact(engine: Engine) -> str | None:
    """Make deleted rows unrecoverable from a SQLite file: checkpoint the WAL and VACUUM (free
    pages would still hold them). On PostgreSQL, VACUUM the tables. Returns a problem, if any."""
    try:
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.exec_driver_sql("VACUUM")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("reviews", "flags", "scores", "concerns", "register", "enrolments",
                              "pupils"):
                    conn.exec_driver_sql(f"VACUUM {table}")
    except Exception as exc:  # noqa: BLE001 - the rows are gone for every reader either way
        return f"could not compact the store ({type(exc).__name__}); run VACUUM when it is idle"
    return None

