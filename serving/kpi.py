"""The municipality's view as the CLI, the API and the page hand it out: the report of
model.kpi as JSON-ready rows, as `kpi.csv` / `kpi.xlsx`, cached per store state, every read
audited. Aggregates only: no pupil id is ever in it, and none is written to the audit log.
"""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from model.kpi import FOLLOW_UP_NOTE, KpiSpec, kpi_columns
from model.kpi_report import KpiReport, compute_report
from model.records import flag_lists, reviews
from model.store import import_batches

KPI_ROLES = ("municipality", "analyst", "admin")
READ_KPI = "read_kpi"
EXPORT_KPI = "export_kpi"
LIST_COLUMNS = ["school_id", "school_year", "period", "flags", "pupils_flagged", "reviewed",
                "share_reviewed", "investigate", "already_known", "no_action", "other",
                "suppressed", "suppressed_columns"]
FOLLOW_UP_COLUMNS = ["school_year", "band", "group", "pupils", "absence_before",
                     "absence_after", "change", "measured_after", "suppressed"]
COUNTS = {"pupils", "unauthorised_10", "unauthorised_15", "unauthorised_10_baseline",
          "unauthorised_15_baseline", "flags", "pupils_flagged", "reviewed", "investigate",
          "already_known", "no_action", "other", "measured_after"}


def records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """The frame's rows as plain dicts in `columns` order: None for blank, int for counts
    (through pandas' JSON writer: a national table of 11,000 rows in a fraction of a second)."""
    import json

    out = frame[columns].copy()
    for column in columns:
        if column in COUNTS:
            out[column] = pd.array([None if v is None or v != v else int(v)
                                    for v in out[column]], dtype="Int64")
    return json.loads(out.to_json(orient="records", double_precision=15))


def report_json(report: KpiReport) -> dict[str, Any]:
    """The whole report, as GET /v1/kpi returns it."""
    spec = report.spec
    return {
        "school_year": report.school_year,
        "baseline": report.baseline,
        "school_years": report.school_years,
        "lines": {"concerning": spec.concerning, "problematic": spec.problematic,
                  "warning": spec.warning, "notification": spec.notification,
                  "min_days": spec.min_days, "suppress_below": spec.suppress_below},
        "targets": dict(spec.targets),
        "rows": records(report.rows, kpi_columns()),
        "lists": records(report.lists, LIST_COLUMNS),
        "follow_up": {"note": FOLLOW_UP_NOTE,
                      "rows": records(report.follow_up, FOLLOW_UP_COLUMNS)},
    }


def _fingerprint(engine: Engine) -> tuple:
    with engine.connect() as conn:
        return (conn.execute(select(func.max(import_batches.c.id))).scalar(),
                conn.execute(select(func.max(flag_lists.c.id))).scalar(),
                *conn.execute(select(func.max(reviews.c.id), func.count())
                              .select_from(reviews)).one())


class KpiCache:
    """Reports by school year, computed again only when the store has changed (a new import,
    list or review)."""

    def __init__(self, engine: Engine, spec: KpiSpec):
        self.engine = engine
        self.spec = spec
        self._data: dict[str | None, tuple[tuple, KpiReport]] = {}
        self._lock = threading.Lock()

    def get(self, school_year: str | None) -> KpiReport:
        mark = _fingerprint(self.engine)
        with self._lock:
            found = self._data.get(school_year)
            if found is not None and found[0] == mark:
                return found[1]
            report = compute_report(self.engine, self.spec, school_year)
            if len(self._data) > 16:
                self._data.clear()
            self._data[school_year] = (mark, report)
            return report


def audit_read(engine: Engine, key: bytes, *, actor: str, role: str, action: str,
               report: KpiReport, **detail) -> None:
    """One audit row for a read or export of the KPIs (no pupil: aggregates only)."""
    from serving.audit import record

    record(engine, key, actor=actor, role=role, action=action,
           detail={"school_year": report.school_year, "rows": len(report.rows), **detail})


# -- files ---------------------------------------------------------------------------------------


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if value == value else ""
    return str(value)


def table_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(row[c]) for c in columns])
    return buffer.getvalue()


SHEETS = {"da": ("Nøgletal", "Listernes udfald", "Opfølgning", "Om tallene"),
          "en": ("KPIs", "What the lists led to", "Follow-up", "About the figures")}
ABOUT = {
    "da": ["Fravær = fraværsdage (delvise dage som brøk) / registrerede skoledage.",
           "Andele er brøker 0-1. Tal for 1-4 elever er skjult (tom celle, suppressed = true).",
           "unauthorised_10 / _15: elever hvis ulovlige fravær i et kvartal nåede 10 % / 15 % "
           "(lovkravet); et skoleår tæller hver elev én gang.",
           "Ændring = relativ ændring mod basisåret; on_track = på eller under målet "
           "(basis x (1 + målsat reduktion))."],
    "en": ["Absence = days absent (partial days as their fraction) / registered school days.",
           "Shares are fractions 0-1. Figures of 1-4 pupils are blank (suppressed = true).",
           "unauthorised_10 / _15: pupils whose unauthorised absence in a quarter reached 10 % "
           "/ 15 % (the statutory rule); a school year counts each pupil once.",
           "Change = relative change against the baseline year; on_track = at or below the "
           "target (baseline x (1 + target reduction))."],
}
PERCENT_COLUMNS = ("absence_rate", "share_", "_change", "absence_before", "absence_after")


def _formats(columns: list[str]) -> dict[int, str]:
    return {j: "0.0%" for j, c in enumerate(columns)
            if any(p in c for p in PERCENT_COLUMNS) and not c.startswith("unauthorised_")}


def write_kpi(report: KpiReport, out: Path | str, language: str = "da") -> list[Path]:
    """Write kpi.csv (one row per school or ALL and period), kpi_lists.csv, kpi_follow_up.csv
    and kpi.xlsx (the three tables and a sheet about the figures) into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = report_json(report)
    tables = ((kpi_columns(), data["rows"]), (LIST_COLUMNS, data["lists"]),
              (FOLLOW_UP_COLUMNS, data["follow_up"]["rows"]))
    paths = []
    for name, (columns, rows) in zip(("kpi.csv", "kpi_lists.csv", "kpi_follow_up.csv"), tables,
                                     strict=True):
        path = out / name
        path.write_text(table_csv(rows, columns), encoding="utf-8")
        paths.append(path)
    from serving.exports import table_xlsx

    names = SHEETS[language]
    sheets = [(names[i], columns, [[row[c] for c in columns] for row in rows], _formats(columns))
              for i, (columns, rows) in enumerate(tables)]
    about = [[line] for line in ABOUT[language]] + [[FOLLOW_UP_NOTE[language]]]
    sheets.append((names[3], [names[3]], about, {}))
    xlsx = out / "kpi.xlsx"
    xlsx.write_bytes(table_xlsx(sheets, f"KPI {report.school_year or ''}".strip(),
                                datetime.now(UTC).replace(tzinfo=None, microsecond=0)))
    paths.append(xlsx)
    return paths
