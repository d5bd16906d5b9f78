"""Monitoring a week: this week's features and scores against the champion's training window,
the share flagged per school, and the realised precision of past lists against the rules.

`monitor_week` computes (with model.monitoring), `store_monitoring` keeps the results in the
store (model.oversight; a re-run of a week and model version replaces its run), and
`latest_monitoring` is what the analysts' model page and `GET /v1/monitoring` read. The
reference distributions are the champion's MLflow artifact `monitoring/reference.json`, saved
at training time (training.tracking). Status: `ok`; `warning` when a column shifted (PSI at or
above the warning level) or the champion needs retraining after an erasure; `alarm` when a
judged column's PSI is above the limit or the realised precision fell below the rules'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from model import monitoring as mon
from model.errors import UserError
from model.inputs import Inputs, load_inputs
from model.labels import LabelSpec, attach_labels
from model.oversight import monitoring_precision, monitoring_psi, monitoring_runs, monitoring_schools
from model.records import flag_lists, flags
from model.registry import NEEDS_RETRAINING, REFERENCE_ARTIFACT, registry_client, run_artifact_uri
from serving.flags import EARLY_WARNING, resolve_week, score_week
from serving.stored_lists import early_warnings_per_school

MAX_DRIFT_LINES = 6


@dataclass
class Monitoring:
    """The results of one week's monitoring (aggregates only; no pupil ids)."""

    week: str
    as_of: date
    model_version: str
    status: str
    warnings: list[str]
    psi: pd.DataFrame
    schools: pd.DataFrame
    precision: pd.DataFrame
    per_list: pd.DataFrame = field(repr=False)
    reference_window: dict[str, Any] = field(default_factory=dict)
    needs_retraining: str | None = None
    precision_note: str = ""

    def summary(self) -> dict[str, Any]:
        """The run's JSON summary (stored beside the tables, logged to MLflow)."""
        judged = self.psi.loc[self.psi["judged"].isna()]
        top = judged.sort_values("psi", ascending=False).head(1)
        return {"week": self.week, "as_of": self.as_of.isoformat(),
                "model_version": self.model_version, "status": self.status,
                "warnings": list(self.warnings), "reference_window": self.reference_window,
                "needs_retraining": self.needs_retraining, "precision_note": self.precision_note,
                "max_psi": mon.finite(top["psi"].iloc[0]) if len(top) else None,
                "max_psi_column": (f"{top['scope'].iloc[0]}/{top['name'].iloc[0]}"
                                   if len(top) else None)}


# -- the reference, from the registry ----------------------------------------------------------


def champion_reference(settings, version: str) -> dict[str, Any]:
    """The reference distributions saved with `version`'s training run; UserError if that
    version was trained before they were saved (retrain it)."""
    client = registry_client(settings)
    mv = client.get_model_version(settings.registered_model_name, version)
    try:
        import mlflow

        reference = mlflow.artifacts.load_dict(run_artifact_uri(mv.run_id, REFERENCE_ARTIFACT))
        mon.check_reference(reference)
    except Exception as exc:  # noqa: BLE001 - missing or unreadable: one clear line
        raise UserError(f"model version {version} has no reference distributions "
                        f"({REFERENCE_ARTIFACT}); train a new version with `ews train`") from exc
    return reference


# -- computing ---------------------------------------------------------------------------------


def monitor_week(settings, engine: Engine, champion, reference: dict[str, Any],
                 week: str | None = None, *, inputs: Inputs | None = None,
                 today: date | None = None) -> Monitoring:
    """Compare the week (default: this one) with the champion's reference and judge the
    realised precision of the stored lists whose outcomes are known by now."""
    week, as_of = resolve_week(week, today)
    inputs = inputs if inputs is not None else load_inputs(engine)
    frame = score_week(settings, inputs, champion.model, as_of)
    if not len(frame):
        raise UserError(f"no pupils on roll on {as_of} (week {week})")
    psi = mon.population_stability(
        reference, frame, frame["risk"].to_numpy(), warn=settings.monitor_psi_warning,
        limit=settings.monitor_psi_limit, min_rows=settings.monitor_min_rows, month=as_of.month)
    schools = _schools(engine, settings, frame, reference, psi, week)
    per_list = realised_precision_of_lists(engine, inputs, LabelSpec.from_settings(settings),
                                           as_of, settings.monitor_precision_weeks)
    pooled = mon.pooled_precision(per_list)
    precision_level, note = mon.precision_verdict(pooled, settings.monitor_precision_margin,
                                                  settings.monitor_min_known)
    needs = (getattr(champion, "tags", {}) or {}).get(NEEDS_RETRAINING)
    warnings = _warnings(psi, settings) + ([f"precision: {note}"] if precision_level != mon.OK
                                           else [])
    if needs:
        warnings.append(f"model version {champion.version} needs retraining ({needs})")
    status = mon.worst([*psi["level"], precision_level, mon.WARNING if needs else mon.OK])
    return Monitoring(week, as_of, str(champion.version), status, warnings, psi, schools, pooled,
                      per_list, dict(reference.get("as_of_dates", {})), needs, note)


def _warnings(psi: pd.DataFrame, settings) -> list[str]:
    alarms = psi.loc[psi["level"] == mon.ALARM]
    lines = [f"drift: {r.name} at {'the municipality' if r.scope == mon.ALL else 'school ' + r.scope} "
             f"has PSI {r.psi:.2f} (limit {settings.monitor_psi_limit:.2f}, vs the training "
             f"window's {'same month' if r.basis == 'month' else 'whole window'})"
             for r in alarms.head(MAX_DRIFT_LINES).itertuples()]
    if len(alarms) > MAX_DRIFT_LINES:
        lines.append(f"drift: and {len(alarms) - MAX_DRIFT_LINES} more columns above the limit")
    shifted = psi.loc[psi["level"] == mon.WARNING]
    if len(shifted):
        names = ", ".join(f"{r.name}@{r.scope}" for r in shifted.head(4).itertuples())
        lines.append(f"shift: {len(shifted)} columns at PSI {settings.monitor_psi_warning:.2f}-"
                     f"{settings.monitor_psi_limit:.2f} ({names}{', ...' if len(shifted) > 4 else ''})")
    return lines


def _schools(engine: Engine, settings, frame: pd.DataFrame, reference: dict[str, Any],
             psi: pd.DataFrame, week: str) -> pd.DataFrame:
    """Per school: pupils on roll, early warnings this week (the stored list if there is one,
    else the list at capacity the scores give), shares, and the reference's shares."""
    from model.capacity import Capacity

    with engine.connect() as conn:
        stored = early_warnings_per_school(conn, week)
    capacity = Capacity.from_settings(settings)
    score_psi = psi.loc[psi["name"] == mon.SCORE].set_index("scope")["psi"].to_dict()
    rows = []
    for school_id, part in frame.groupby("school_id", sort=True):
        school_id = str(school_id)
        on_roll = len(part)
        if school_id in stored:
            flagged = stored[school_id]
        else:
            cap = capacity.for_school(on_roll, school_id)
            flagged = int(((part["early_rank"] >= 0) & (part["early_rank"] < cap)).sum())
        ref = reference["schools"].get(school_id, {})
        rows.append({"school_id": school_id, "pupils_on_roll": on_roll, "flagged": flagged,
                     "share_flagged": flagged / on_roll,
                     "share_already_concerning": float(part["already_concerning"].mean()),
                     "reference_already_concerning": ref.get("already_concerning"),
                     "mean_risk": float(part["risk"].mean()),
                     "reference_mean_risk": ref.get("mean_score"),
                     "score_psi": mon.finite(score_psi.get(school_id))})
    return pd.DataFrame(rows)


def realised_precision_of_lists(engine: Engine, inputs: Inputs, spec: LabelSpec, before: date,
                                weeks: int) -> pd.DataFrame:
    """Per stored list of the `weeks` weeks before `before` whose horizon has passed: the model's
    and every rule's listed, known and positive counts at the list's length
    (model.monitoring.realised_precision)."""
    days = inputs.register.days
    with engine.connect() as conn:
        header = pd.DataFrame(conn.execute(
            select(flag_lists.c.id, flag_lists.c.week, flag_lists.c.school_id, flag_lists.c.as_of,
                   flag_lists.c.capacity)
            .where(flag_lists.c.as_of < before,
                   flag_lists.c.as_of >= before - timedelta(weeks=weeks))).all(),
            columns=["list_id", "week", "school_id", "as_of", "capacity"])
        known = [bool(int(np.searchsorted(days, np.datetime64(d, "D"))) + spec.horizon <= len(days))
                 for d in header["as_of"]]
        header = header.loc[np.asarray(known, bool)] if len(header) else header
        listed = pd.DataFrame(conn.execute(
            select(flags.c.list_id, flags.c.pupil_id)
            .where(flags.c.section == EARLY_WARNING,
                   flags.c.list_id.in_([int(i) for i in header["list_id"]]))).all(),
            columns=["list_id", "pupil_id"]) if len(header) else pd.DataFrame(
            columns=["list_id", "pupil_id"])
    if not len(header):
        return mon.realised_precision(pd.DataFrame(), header, listed)
    builder = inputs.feature_builder()
    frame = builder.build(sorted(set(header["as_of"])), with_rules=True)
    labelled = attach_labels(frame, builder.day_major, builder.row_of, spec)
    return mon.realised_precision(labelled, header, listed)


# -- storing and reading -----------------------------------------------------------------------


def store_monitoring(engine: Engine, result: Monitoring) -> int:
    """Store the run (replacing an earlier run of the same week and model version); its id."""
    with engine.begin() as conn:
        conn.execute(delete(monitoring_runs).where(
            monitoring_runs.c.week == result.week,
            monitoring_runs.c.model_version == result.model_version))
        run_id = int(conn.execute(insert(monitoring_runs).values(
            week=result.week, as_of=result.as_of, model_version=result.model_version,
            created_at=datetime.now(UTC), status=result.status, summary=result.summary(),
        )).inserted_primary_key[0])
        for table, frame in ((monitoring_psi, result.psi), (monitoring_schools, result.schools),
                             (monitoring_precision, result.precision)):
            names = [c.name for c in table.columns if c.name != "run_id"]
            rows = [{"run_id": run_id, **{k: _plain(r[k]) for k in names}}
                    for r in frame.to_dict("records")]
            if rows:
                conn.execute(insert(table), rows)
    return run_id


def latest_monitoring(engine: Engine) -> dict[str, Any] | None:
    """The latest stored monitoring run as JSON-ready data (for the model page and
    GET /v1/monitoring), or None if `ews monitor` has not run yet."""
    with engine.connect() as conn:
        run = conn.execute(select(monitoring_runs).order_by(
            monitoring_runs.c.created_at.desc(), monitoring_runs.c.id.desc()).limit(1)).first()
        if run is None:
            return None

        def rows(table, order):
            result = conn.execute(select(table).where(table.c.run_id == run.id).order_by(*order))
            return [{k: v for k, v in r._mapping.items() if k != "run_id"} for r in result]

        psi = rows(monitoring_psi, [monitoring_psi.c.scope, monitoring_psi.c.psi.desc()])
        schools = rows(monitoring_schools, [monitoring_schools.c.school_id])
        precision = rows(monitoring_precision, [monitoring_precision.c.precision.desc()])
    psi.sort(key=lambda r: (r["scope"] != mon.ALL, r["scope"], r["judged"] is not None,
                            -(r["psi"] if r["psi"] is not None else -1)))
    precision.sort(key=lambda r: r["ranker"] != mon.MODEL_RANKER)
    summary = dict(run.summary or {})
    return {"id": int(run.id), "week": run.week, "as_of": run.as_of.isoformat(),
            "model_version": run.model_version, "created_at": run.created_at.isoformat(),
            "status": run.status, "warnings": summary.get("warnings", []),
            "needs_retraining": summary.get("needs_retraining"),
            "reference_window": summary.get("reference_window", {}),
            "precision_note": summary.get("precision_note", ""),
            "psi": psi, "schools": schools, "precision": precision}


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return mon.finite(value)
    return value


# -- the short table the command line prints ---------------------------------------------------


def table_lines(result: Monitoring, top: int = 8) -> list[str]:
    """A short table: the most shifted judged columns, the schools, the realised precision."""
    lines = [f"monitoring {result.week} (as of {result.as_of}) with model version "
             f"{result.model_version} against its training window "
             f"{result.reference_window.get('first')}..{result.reference_window.get('last')}"]
    everyone = result.psi.loc[(result.psi["scope"] == mon.ALL) & result.psi["judged"].isna()]
    lines.append(f"  {'column (municipality)':<34} {'PSI':>6}  level")
    for r in everyone.head(top).itertuples():
        lines.append(f"  {r.name:<34} {r.psi:6.3f}  {r.level}")
    lines.append(f"  {'school':<10} {'on roll':>7} {'flagged':>7} {'share':>6} {'concerning':>10} "
                 f"{'(train)':>8} {'mean risk':>9} {'(train)':>8} {'score PSI':>9}")
    for r in result.schools.itertuples():
        lines.append(f"  {r.school_id:<10} {r.pupils_on_roll:>7} {r.flagged:>7} "
                     f"{r.share_flagged:6.1%} {r.share_already_concerning:10.1%} "
                     f"{_pct(r.reference_already_concerning):>8} {r.mean_risk:9.3f} "
                     f"{_num(r.reference_mean_risk):>8} {_num(r.score_psi):>9}")
    if len(result.precision):
        lines.append(f"  {'realised precision of past lists':<34} {'known':>6} {'precision':>9}")
        for r in result.precision.itertuples():
            lines.append(f"  {r.ranker:<34} {r.known:>6} {_num(r.precision):>9}")
    lines.append(f"  precision: {result.precision_note}")
    return lines


def _pct(x) -> str:
    return "-" if x is None or x != x else f"{x:.1%}"


def _num(x) -> str:
    return "-" if x is None or x != x else f"{x:.3f}"
