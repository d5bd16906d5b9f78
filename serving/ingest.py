"""Ingest: validate a delivery folder and load it into the store, all-or-nothing and idempotent.

Everything is validated (`model.contract`) before anything is written; then all writes happen in
one transaction, so any failure leaves the store as it was. Rows are upserted by key (schools,
pupils, enrolments, class wellbeing; concerns by (pupil, date, source, category)); the register
is merged into the register strips: a delivery's entries replace those of the same (pupil, date)
and every other day is kept, so a newer file's corrected rows replace older ones. Only rows that
are new or differ are written; when none do, no import batch is recorded ("nothing new"). Files
identical (SHA-256) to those of the latest batch are recognised before they are even parsed.

The data-quality report of a batch counts what the delivery held (schools, pupils, enrolments,
register entries, concerns by category) and describes the register of the delivery's school years
as the store holds it after the import: school days, entries, absence share by status, partial
days, and unregistered pupil-days (an enrolled pupil without an entry on a school day of the
school: counted, never taken as present or absent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Date, Engine, Float, Integer, SmallInteger, String, Table, select

from model import contract
from model.calendar import parse_school_year, school_year_start
from model.errors import UserError
from model.progress import Steps
from model.settings import Settings
from model.store import (
    FRACTION_SCALE,
    STATUS_CODES,
    STRIP_DAYS,
    class_wellbeing,
    concerns,
    enrolments,
    import_batches,
    pupils,
    read_strips,
    register,
    school_days,
    schools,
)

log = logging.getLogger(__name__)

BATCH_ROWS = 5000  # rows per executemany call
# table -> its upsert key, in the order the foreign keys need
UPSERT_KEYS: dict[str, list[str]] = {
    "schools": ["school_id"],
    "pupils": ["pupil_id"],
    "enrolments": ["pupil_id", "school_year"],
    "concerns": ["pupil_id", "date", "source", "category"],
    "class_wellbeing": ["class_id", "school_year"],
}
TABLES: dict[str, Table] = {
    "schools": schools,
    "pupils": pupils,
    "enrolments": enrolments,
    "concerns": concerns,
    "class_wellbeing": class_wellbeing,
}


@dataclass
class IngestResult:
    """What an ingest did: warnings (dropped columns, ignored files, collapsed duplicates), the
    data-quality report, whether the store changed, and the new batch's id (None if unchanged)."""

    warnings: list[str]
    report: dict
    changed: bool
    batch_id: int | None
    same_as_batch: int | None = None  # files identical to this earlier batch's
    seconds: float = 0.0

    def summary(self) -> str:
        """A short human summary, including the data-quality report."""
        if not self.changed:
            if self.same_as_batch is not None:
                return (f"Nothing new: these files were imported as batch {self.same_as_batch}; "
                        "the store is unchanged.")
            return "Nothing new: every row is already in the store; no batch recorded."
        return summarise_report(self.report, self.batch_id)


def summarise_report(report: dict, batch_id: int | None = None) -> str:
    """The data-quality report in a few lines of text."""
    years = ", ".join(report.get("school_years", [])) or "no register entries"
    changes = report.get("changes", {})
    lines = [
        f"Imported batch {batch_id} ({years}): {report['schools']} schools, {report['pupils']} "
        f"pupils, {report['register_entries_imported']:,} register entries "
        f"({changes.get('register_strips', 0):,} register strips new or changed).",
    ]
    if report.get("school_years"):
        share = report["absence_share"]
        lines += [
            f"Register {years} now: {report['school_days']} school days, "
            f"{report['register_entries']:,} entries, {report['unregistered_pupil_days']:,} "
            f"pupil-days not registered ({report['unregistered_share']:.1%}), "
            f"{report['partial_days']:,} partial days.",
            f"Absence {share['total']:.1%}: illness {share['illness']:.1%}, authorised "
            f"{share['authorised']:.1%}, unauthorised {share['unauthorised']:.1%}.",
        ]
    by_category = report.get("concerns", {})
    if by_category:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(by_category.items()))
        lines.append(f"Concerns: {sum(by_category.values())} ({parts}).")
    if report.get("identical_duplicates_collapsed"):
        lines.append(f"{report['identical_duplicates_collapsed']} identical duplicate rows "
                     "collapsed.")
    return "\n".join(lines)


INGEST_STEPS = 16  # the steps of the progress bar (about: files and tables vary)


def ingest_folder(settings: Settings, engine: Engine, folder: Path | str, progress: bool = False,
                  *, today: date | None = None, force: bool = False) -> IngestResult:
    """Validate the delivery in `folder` and load it into the store in one transaction.
    UserError (nothing written) if any rule of the contract is broken; idempotent. Files that
    are an earlier batch's, imported again after a later batch changed rows they hold, are
    refused (UserError naming both batches and the rows it would revert) unless `force`."""
    started = datetime.now(UTC)
    with Steps("ingest", INGEST_STEPS, enabled=progress) as steps:
        steps.next("finding files")
        located = contract.locate(folder)
        hashes = {}
        for name, path in located.paths.items():
            steps.next(f"checksum {path.name}")
            hashes[name] = contract.sha256_of(path)
        fingerprint = _fingerprint([{"file": located.paths[n].name, "sha256": h}
                                    for n, h in hashes.items()])
        with engine.connect() as conn:
            latest = conn.execute(
                select(import_batches.c.id, import_batches.c.files, import_batches.c.report,
                       import_batches.c.imported_at)
                .order_by(import_batches.c.id.desc()).limit(1)
            ).first()
        if latest is not None and _fingerprint(latest.files) == fingerprint:
            log.info("ingest %s: files identical to batch %s, nothing new", folder, latest.id)
            return IngestResult(located.warnings, latest.report, False, None, latest.id)
        earlier = None if latest is None else _earlier_batch(engine, fingerprint)

        steps.next("reading files")
        raw = contract.read(located, settings.secret_key(), hashes)
        with engine.begin() as conn:
            existing = {name: _read_table(conn, table) for name, table in TABLES.items()}
            steps.next("validating")
            delivery = contract.validate(raw, _store_keys(existing), today)
            del raw
            steps.next("merging the register")
            plan = _plan(conn, delivery, existing)
            report = _report(delivery, plan)
            if not plan.changed:
                log.info("ingest %s: no row differs from the store, nothing new", folder)
                return IngestResult(delivery.warnings, report, False, None)
            if earlier is not None and not force:
                _refuse_revert(earlier, latest, plan)
            if earlier is not None:
                report["forced_reimport_of_batch"] = int(earlier.id)
            for name in ("schools", "pupils", "enrolments"):
                steps.next(f"writing {name}")
                _upsert(conn, TABLES[name], plan.rows[name], UPSERT_KEYS[name])
            steps.next("writing register strips")
            _write_strips(conn, plan.strip_keys, plan.strip_status, plan.strip_absent)
            steps.next("writing school days")
            _upsert(conn, school_days, plan.new_school_days, ["school_id", "date"])
            for name in ("concerns", "class_wellbeing"):
                steps.next(f"writing {name}")
                _upsert(conn, TABLES[name], plan.rows[name], UPSERT_KEYS[name])
            steps.next("recording the batch")
            batch_id = conn.execute(import_batches.insert().values(
                imported_at=started, files=delivery.files, report=report,
            )).inserted_primary_key[0]
    seconds = (datetime.now(UTC) - started).total_seconds()
    log.info("ingest %s: batch %s, %d register entries, %d strips written, %.1f s", folder,
             batch_id, len(delivery.register), len(plan.strip_keys), seconds)
    return IngestResult(delivery.warnings, report, True, int(batch_id), None, seconds)


def _fingerprint(files: list[dict]) -> list[tuple[str, str]]:
    """What identifies a delivery's files: their names and SHA-256, in name order."""
    return sorted((f["file"], f["sha256"]) for f in files)


def _earlier_batch(engine: Engine, fingerprint: list[tuple[str, str]]):
    """The newest batch before the latest whose files are exactly these (the same delivery
    imported again), or None."""
    with engine.connect() as conn:
        rows = conn.execute(select(import_batches.c.id, import_batches.c.imported_at,
                                   import_batches.c.files)
                            .order_by(import_batches.c.id.desc()).offset(1)).all()
    return next((r for r in rows if _fingerprint(r.files) == fingerprint), None)


def _refuse_revert(earlier, latest, plan: _Plan) -> None:
    """One line: the files are an earlier batch's, and a later batch changed rows they would
    now revert (data contract, "What bad input gets")."""
    rows = plan.reverted + sum(v for k, v in plan.changes.items()
                               if k not in ("register_strips", "school_days"))
    raise UserError(
        f"these files are batch {earlier.id}'s (imported {_when(earlier.imported_at)}); "
        f"importing them again would revert {rows:,} row{'s' if rows != 1 else ''} that batch "
        f"{latest.id} (imported {_when(latest.imported_at)}) or one between changed: "
        "refused (`ews ingest --force` re-applies them)")


def _when(moment) -> str:
    return "at an unknown time" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


# --- what the store holds ----------------------------------------------------------------------


def _read_table(conn, table: Table) -> pd.DataFrame:
    columns = [c for c in table.columns if c.name != "id"]
    rows = conn.execute(select(*columns)).all()
    frame = pd.DataFrame(rows, columns=[c.name for c in columns])
    return _typed(table, frame)


def _store_keys(existing: dict[str, pd.DataFrame]) -> contract.StoreKeys:
    enrol = existing["enrolments"][["pupil_id", "school_year", "school_id", "class_id"]]
    return contract.StoreKeys(
        pupil_ids=pd.Index(existing["pupils"]["pupil_id"], dtype=object),
        school_ids=pd.Index(existing["schools"]["school_id"], dtype=object),
        enrolments=enrol.astype(object),
    )


def _typed(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame's columns in one dtype per store column type, so that rows read from the store
    and rows from a delivery compare equal when they hold the same values."""
    out = {}
    for column in table.columns:
        if column.name not in frame.columns:
            continue
        s = frame[column.name]
        kind = column.type
        if isinstance(kind, Date):
            out[column.name] = pd.to_datetime(s).astype("datetime64[s]")
        elif isinstance(kind, Boolean):
            out[column.name] = s.astype("boolean")
        elif isinstance(kind, SmallInteger | Integer):
            out[column.name] = s.astype("Int64")
        elif isinstance(kind, Float):
            out[column.name] = s.astype("Float64")
        elif isinstance(kind, String):
            out[column.name] = s.astype(object).where(s.notna(), None)
        else:
            out[column.name] = s
    return pd.DataFrame(out, index=frame.index)


def _new_or_changed(table: Table, new: pd.DataFrame, old: pd.DataFrame,
                    key: list[str]) -> pd.DataFrame:
    """The rows of `new` that are not in `old` or differ from it."""
    new = _typed(table, new).reset_index(drop=True)
    if new.empty or old.empty:
        return new
    values = [c for c in new.columns if c not in key]
    merged = new.merge(old[key + values], on=key, how="left", suffixes=("", "__old"),
                       indicator=True)
    differs = (merged["_merge"] == "left_only").to_numpy().copy()
    for c in values:
        a, b = merged[c], merged[c + "__old"]
        same = (a == b).fillna(False).astype(bool) | (a.isna() & b.isna())
        differs |= ~same.to_numpy()
    return new[differs].reset_index(drop=True)


# --- the plan: what to write --------------------------------------------------------------------


@dataclass
class _Plan:
    rows: dict[str, pd.DataFrame]
    strip_keys: pd.DataFrame  # strips to write (new or changed), with their merged arrays
    strip_status: np.ndarray
    strip_absent: np.ndarray
    new_school_days: pd.DataFrame
    # The register of the delivery's school years after the import, for the report.
    after_keys: pd.DataFrame
    after_status: np.ndarray
    after_absent: np.ndarray
    after_school_days: pd.DataFrame
    after_enrolments: pd.DataFrame
    changes: dict[str, int] = field(default_factory=dict)
    reverted: int = 0  # register entries of the store that this delivery changes

    @property
    def changed(self) -> bool:
        return any(self.changes.values())


def _plan(conn, delivery: contract.Delivery, existing: dict[str, pd.DataFrame]) -> _Plan:
    rows = {name: _new_or_changed(TABLES[name], getattr(delivery, name), existing[name],
                                  UPSERT_KEYS[name]) for name in TABLES}

    keys, status, absent = delivery.register.strips()
    years = list(delivery.register.school_years)
    old = read_strips(conn, school_years=years)
    old_status = _matrix(old["status"])
    old_absent = _matrix(old["absent"])
    old_index = pd.MultiIndex.from_frame(old[["pupil_id", "school_year"]].astype(object))
    pos = old_index.get_indexer(pd.MultiIndex.from_frame(keys.astype(object))) if len(keys) \
        else np.zeros(0, np.int64)
    has_old = pos >= 0
    base_status = np.zeros_like(status)
    base_absent = np.zeros_like(absent)
    base_status[has_old] = old_status[pos[has_old]]
    base_absent[has_old] = old_absent[pos[has_old]]
    entry = status > 0
    merged_status = np.where(entry, status, base_status)
    merged_absent = np.where(entry, absent, base_absent)
    write = ~has_old | (merged_status != base_status).any(axis=1) \
        | (merged_absent != base_absent).any(axis=1)

    after_status = old_status.copy()
    after_absent = old_absent.copy()
    after_status[pos[has_old]] = merged_status[has_old]
    after_absent[pos[has_old]] = merged_absent[has_old]
    after_keys = pd.concat([old[["pupil_id", "school_year"]], keys[~has_old]], ignore_index=True)
    after_status = np.concatenate([after_status, merged_status[~has_old]])
    after_absent = np.concatenate([after_absent, merged_absent[~has_old]])

    old_days = _school_days_of_years(conn, years)
    delivered_days = _typed(school_days, delivery.school_days)
    new_days = delivered_days
    if len(old_days) and len(delivered_days):
        known = pd.MultiIndex.from_frame(old_days)
        new_days = delivered_days[~pd.MultiIndex.from_frame(delivered_days).isin(known)]

    enrol = existing["enrolments"]
    enrol = enrol[enrol["school_year"].isin(years)]
    mine = delivery.enrolments[["pupil_id", "school_year", "school_id"]]
    if len(enrol):
        mine_keys = pd.MultiIndex.from_frame(mine[["pupil_id", "school_year"]].astype(object))
        overridden = pd.MultiIndex.from_frame(enrol[["pupil_id", "school_year"]]).isin(mine_keys)
        theirs = enrol[~overridden]
        after_enrolments = pd.concat([theirs[mine.columns], mine], ignore_index=True)
    else:
        after_enrolments = mine.reset_index(drop=True)

    differs = (merged_status != base_status) | (merged_absent != base_absent)
    reverted = int(differs[has_old].sum())
    changes = {name: len(frame) for name, frame in rows.items()}
    changes["register_strips"] = int(write.sum())
    changes["school_days"] = len(new_days)
    return _Plan(
        rows=rows,
        strip_keys=keys[write].reset_index(drop=True),
        strip_status=merged_status[write],
        strip_absent=merged_absent[write],
        new_school_days=new_days.reset_index(drop=True),
        after_keys=after_keys,
        after_status=after_status,
        after_absent=after_absent,
        after_school_days=pd.concat([old_days, new_days], ignore_index=True),
        after_enrolments=after_enrolments[after_enrolments["school_year"].isin(years)],
        changes=changes,
        reverted=reverted,
    )


def _matrix(strips: pd.Series) -> np.ndarray:
    """Strip bytes as an (n, STRIP_DAYS) uint8 matrix."""
    if not len(strips):
        return np.zeros((0, STRIP_DAYS), np.uint8)
    return np.frombuffer(b"".join(bytes(b) for b in strips), np.uint8).reshape(-1, STRIP_DAYS)


def _school_days_of_years(conn, years: list[str]) -> pd.DataFrame:
    frames = []
    for year in years:
        start = parse_school_year(year)
        rows = conn.execute(select(school_days.c.school_id, school_days.c.date).where(
            school_days.c.date >= school_year_start(start), school_days.c.date < school_year_start(start + 1)
        )).all()
        frames.append(pd.DataFrame(rows, columns=["school_id", "date"]))
    if not frames:
        return _typed(school_days, pd.DataFrame({"school_id": [], "date": []}))
    return _typed(school_days, pd.concat(frames, ignore_index=True))


# --- the data-quality report ---------------------------------------------------------------------


def _report(delivery: contract.Delivery, plan: _Plan) -> dict:
    """The data-quality report (plain JSON types); see the module docstring."""
    status, absent = plan.after_status, plan.after_absent
    entries = int((status > 0).sum())
    days_absent = {name: absent[status == code].sum(dtype=np.int64) / FRACTION_SCALE
                   for name, code in STATUS_CODES.items() if name != "present"}
    days_absent["total"] = sum(days_absent.values())
    share = {k: round(float(v / entries), 6) if entries else 0.0 for k, v in days_absent.items()}
    partial = int(((status > STATUS_CODES["present"]) & (absent < FRACTION_SCALE)).sum())
    expected, unregistered = _unregistered(plan)
    days = plan.after_school_days
    by_school = days.groupby("school_id").size()
    register_counts = delivery.concerns.groupby("category").size() if len(delivery.concerns) \
        else pd.Series(dtype=int)
    return {
        "school_years": list(delivery.register.school_years),
        "schools": len(delivery.schools),
        "pupils": len(delivery.pupils),
        "enrolments": len(delivery.enrolments),
        "register_entries_imported": len(delivery.register),
        "identical_duplicates_collapsed": int(delivery.collapsed),
        "school_days": int(days["date"].nunique()),
        "school_days_by_school": {str(k): int(v) for k, v in by_school.items()},
        "register_entries": entries,
        "pupil_days_expected": expected,
        "unregistered_pupil_days": unregistered,
        "unregistered_share": round(unregistered / expected, 6) if expected else 0.0,
        "absence_share": share,
        "partial_days": partial,
        "concerns": {str(k): int(v) for k, v in register_counts.items()},
        "class_wellbeing": len(delivery.class_wellbeing),
        "changes": {k: int(v) for k, v in plan.changes.items()},
    }


def _unregistered(plan: _Plan) -> tuple[int, int]:
    """(pupil-days expected, of which without an entry): every enrolled pupil on every school
    day of the pupil's school in the school year."""
    expected_total = unregistered_total = 0
    for year, enrol in plan.after_enrolments.groupby("school_year"):
        start = np.datetime64(school_year_start(year), "D")
        days = plan.after_school_days
        school_codes, school_ids = pd.factorize(days["school_id"])
        offsets = (days["date"].to_numpy().astype("datetime64[D]") - start).astype(np.int64)
        in_year = (offsets >= 0) & (offsets < STRIP_DAYS)
        calendar = np.zeros((len(school_ids) + 1, STRIP_DAYS), bool)  # last row: no school days
        calendar[school_codes[in_year], offsets[in_year]] = True
        school_of = pd.Index(school_ids).get_indexer(enrol["school_id"])
        school_of[school_of < 0] = len(school_ids)
        strip_rows = pd.MultiIndex.from_frame(plan.after_keys.astype(object)).get_indexer(
            pd.MultiIndex.from_arrays([enrol["pupil_id"].astype(object),
                                       enrol["school_year"].astype(object)]))
        expected = calendar[school_of]
        registered = np.zeros_like(expected)
        has = strip_rows >= 0
        registered[has] = plan.after_status[strip_rows[has]] > 0
        expected_total += int(expected.sum())
        unregistered_total += int((expected & ~registered).sum())
    return expected_total, unregistered_total


# --- writing -------------------------------------------------------------------------------------


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values (None for missing), as every DB driver takes them."""
    columns = {}
    for name in frame.columns:
        s = frame[name]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            values = [None if pd.isna(v) else v.date() for v in s]
        else:
            values = s.astype(object).where(s.notna(), None).tolist()
        columns[name] = values
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _insert(conn):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the store is SQLite or PostgreSQL (interfaces.md)
        raise NotImplementedError(f"ingest does not support {conn.dialect.name}")
    return insert


def _upsert(conn, table: Table, frame: pd.DataFrame, key: list[str]) -> None:
    """Insert the rows, replacing those with the same key."""
    if frame.empty:
        return
    stmt = _insert(conn)(table)
    values = [c for c in frame.columns if c not in key]
    if values:
        stmt = stmt.on_conflict_do_update(index_elements=key,
                                          set_={c: stmt.excluded[c] for c in values})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=key)
    records = _records(frame)
    for i in range(0, len(records), BATCH_ROWS):
        conn.execute(stmt, records[i : i + BATCH_ROWS])


def _write_strips(conn, keys: pd.DataFrame, status: np.ndarray, absent: np.ndarray) -> None:
    """Upsert register strips: COPY through a temporary table on PostgreSQL, executemany on
    SQLite."""
    if not len(keys):
        return
    pupil_ids = keys["pupil_id"].astype(object).tolist()
    years = keys["school_year"].astype(object).tolist()
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        cursor.execute("CREATE TEMPORARY TABLE ews_register_in (pupil_id text, school_year text, "
                       "status bytea, absent bytea) ON COMMIT DROP")
        with cursor.copy("COPY ews_register_in (pupil_id, school_year, status, absent) "
                         "FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "text", "bytea", "bytea"])
            for row in zip(pupil_ids, years, status, absent, strict=True):
                copy.write_row((row[0], row[1], row[2].tobytes(), row[3].tobytes()))
        cursor.execute(
            "INSERT INTO register (pupil_id, school_year, status, absent) "
            "SELECT pupil_id, school_year, status, absent FROM ews_register_in "
            "ON CONFLICT (pupil_id, school_year) DO UPDATE "
            "SET status = EXCLUDED.status, absent = EXCLUDED.absent"
        )
        cursor.execute("DROP TABLE ews_register_in")
        return
    stmt = _insert(conn)(register)
    stmt = stmt.on_conflict_do_update(
        index_elements=["pupil_id", "school_year"],
        set_={"status": stmt.excluded.status, "absent": stmt.excluded.absent},
    )
    for i in range(0, len(keys), BATCH_ROWS):
        conn.execute(stmt, [
            {"pupil_id": p, "school_year": y, "status": s.tobytes(), "absent": a.tobytes()}
            for p, y, s, a in zip(pupil_ids[i : i + BATCH_ROWS], years[i : i + BATCH_ROWS],
                                  status[i : i + BATCH_ROWS], absent[i : i + BATCH_ROWS],
                                  strict=True)
        ])
