"""The whole municipality: every stage in order, in memory or streamed to the contract's files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.concerns import build_class_wellbeing, build_concerns
from simulator.parameters import ESCALATING, KIND_NAMES
from simulator.register import DemoPlan, iter_attendance_chunks, iter_register, plan_demo
from simulator.truth import TRUTH_DIR, write_latent_truth


@dataclass
class DemoMunicipality:
    """The contract's tables plus the ground truth behind them (for evaluation and tests).

    `truth` has one row per pupil: kind (none, escalating, chronic_illness, shared_custody),
    high_absence (the persistent high-absence group), and for escalations the onset, peak
    (start of the long spells) and recovery dates; NaT where not applicable or not yet reached.
    An onset before the demo is dated approximately (by the school days before it).
    """

    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    plan: DemoPlan


def static_tables(plan: DemoPlan) -> dict[str, pd.DataFrame]:
    pop, cal = plan.population, plan.calendar
    p, y = np.nonzero(pop.grade >= 0)
    return {
        "schools": pd.DataFrame({"school_id": pop.school_ids, "name": pop.school_names}),
        "pupils": pd.DataFrame(
            {"pupil_id": pop.pupil_ids, "birth_date": pop.birth_date, "gender": pop.gender}
        ),
        "enrolments": pd.DataFrame(
            {
                "pupil_id": pop.pupil_ids[p],
                "school_id": np.array(pop.school_ids, dtype=object)[pop.school[p, y]],
                "school_year": np.array(cal.school_years, dtype=object)[y],
                "grade": pop.grade[p, y].astype(np.int64),
                "class_id": pop.classes["class_id"].to_numpy()[pop.class_code[p, y]],
                "special_needs": pop.special_needs[p, y],
            }
        ),
    }


def _truth(plan: DemoPlan) -> pd.DataFrame:
    risk, cal = plan.risk, plan.calendar
    esc = risk.kind == ESCALATING
    nat = np.datetime64("NaT", "D")

    def dates(index: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = np.full(len(index), nat)
        ok = mask & (index < len(cal.days))
        out[ok] = cal.date_of(index[ok])
        return out

    return pd.DataFrame(
        {
            "pupil_id": plan.population.pupil_ids,
            "kind": KIND_NAMES[risk.kind],
            "high_absence": risk.high,
            "onset": dates(risk.onset, esc),
            "peak": dates(risk.peak, esc),
            "recovery": dates(risk.plateau_end, esc & risk.recovers),
        }
    )


def simulate_municipality(**options) -> DemoMunicipality:
    """All six stages in memory: the tables of `generate_demo` plus the ground truth.
    `options`: the fields of `DemoOptions`."""
    plan = plan_demo(**options)
    seed = plan.seed
    tables = static_tables(plan)
    chunks = list(iter_attendance_chunks(plan))
    tables["attendance"] = (
        pd.concat(chunks, ignore_index=True)
        if chunks
        else pd.DataFrame(columns=["pupil_id", "date", "status", "absent_fraction"])
    )
    tables["concerns"] = build_concerns(plan, np.random.default_rng([seed, 6]))
    tables["class_wellbeing"] = build_class_wellbeing(plan, np.random.default_rng([seed, 7]))
    order = ["schools", "pupils", "enrolments", "attendance", "concerns", "class_wellbeing"]
    return DemoMunicipality({k: tables[k] for k in order}, _truth(plan), plan)


def generate_demo(**options) -> dict[str, pd.DataFrame]:
    """A demo municipality as the contract's six tables (schools, pupils, enrolments,
    attendance, concerns, class_wellbeing). `options`: the fields of `DemoOptions` (`years`
    school years end with the one holding `until`, default yesterday); the same options always
    give the same tables."""
    return simulate_municipality(**options).tables


def write_demo_municipality(out_dir: str | Path, **options) -> str:
    """Write the six CSV files into `out_dir` (created if missing), streaming the register
    chunk by chunk so any size fits in memory; returns a one-paragraph summary.
    `options`: the fields of `DemoOptions`."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_demo(**options)
    seed = plan.seed
    write_latent_truth(plan, out / TRUTH_DIR / "latent.parquet")
    cal = plan.calendar
    for name, table in static_tables(plan).items():
        table.to_csv(out / f"{name}.csv", index=False, date_format="%Y-%m-%d")
    n, n_years = plan.population.grade.shape
    days = np.zeros((n, n_years))
    absent = np.zeros((n, n_years))
    rows = 0
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(out / "attendance.csv", "wb") as sink:
        sink.write(b"pupil_id,date,status,absent_fraction\n")
        for chunk in iter_register(plan):
            registered = chunk.status > 0
            for y in range(n_years):
                part = slice(cal.year_start[y], cal.year_stop[y])
                days[chunk.pupils, y] = registered[:, part].sum(axis=1)
                absent[chunk.pupils, y] = chunk.absent[:, part].sum(axis=1)
            frame = chunk.to_frame(plan)
            rows += len(frame)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            table = table.set_column(1, "date", table["date"].cast(pa.date32()))
            pacsv.write_csv(table, sink, options)
    concerns = build_concerns(plan, np.random.default_rng([seed, 6]))
    concerns.to_csv(out / "concerns.csv", index=False, date_format="%Y-%m-%d")
    wellbeing = build_class_wellbeing(plan, np.random.default_rng([seed, 7]))
    wellbeing.to_csv(out / "class_wellbeing.csv", index=False)
    return _summary(out, plan, rows, days, absent, len(concerns), len(wellbeing))


def _summary(
    out: Path,
    plan: DemoPlan,
    rows: int,
    days: np.ndarray,
    absent: np.ndarray,
    n_concerns: int,
    n_wellbeing: int,
) -> str:
    cal = plan.calendar
    years = cal.complete if cal.complete.any() else np.ones(len(cal.school_years), bool)
    scope = "complete school years" if cal.complete.any() else "the year so far"
    d, a = days[:, years], absent[:, years]
    counted = d >= 20
    rate = a[counted] / d[counted]
    mean = a.sum() / max(d.sum(), 1)
    over = (rate >= 0.10).mean() if len(rate) else 0.0
    first, last = cal.school_years[0], cal.school_years[-1]
    span = f"school year {first}" if first == last else f"school years {first}-{last}"
    if not cal.complete[-1]:
        upto = cal.days[-1] if len(cal.days) else cal.until
        span += f" ({'the last ' if first != last else ''}up to {upto})"
    return (
        f"Demo municipality written to {out}: {len(plan.population.school_ids)} "
        f"school{'s' if len(plan.population.school_ids) > 1 else ''} with "
        f"{int((plan.population.school[:, -1] >= 0).sum()):,} pupils on roll in {last}, "
        f"{len(plan.population.pupil_ids):,} different pupils over {span}; {rows:,} register rows, "
        f"{n_concerns:,} concerns, {n_wellbeing:,} class wellbeing rows. Mean absence "
        f"{100 * mean:.1f} % and {100 * over:.1f} % of pupils at >= 10 % in a school year "
        f"({scope})."
    )
