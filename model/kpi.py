"""The municipality's figures: absence KPIs from the register per school and for the whole
municipality (`ALL`), per school year and calendar quarter, against a baseline year and the
plan's targets; and what the weekly lists led to. Aggregates only: nothing here names a pupil.

Vocabulary
- period: a school year ("2024/25") or a calendar quarter within one ("2024-Q4"). A quarter row
  counts the school days of that quarter that belong to the school year (July, with no school
  days in the Danish calendar, is the only month a quarter could share between two years).
  `last_day` is the period's last registered school day in the municipality: a period still
  running (the current quarter) ends before its calendar end, and its counts are so far.
- pupils: pupils enrolled at the school in the school year with at least one registered school
  day in the period. A pupil belongs to the school of that school year's enrolment.
- absence, as the register counts it: the sum of absent fractions (partial days as their
  fraction) over the registered school days. `absence_rate` pools all pupils of the group (all
  absent days over all school days enrolled, as the ministry's statistics count it); per category
  the same with only that status's absent fractions.
- share_over_10: pupils whose own total absence in the period is at or over 10 % (concerning,
  "bekymrende fravær"); share_over_15: at or over the configured "particularly problematic"
  line (Settings.particularly_problematic, default 15 %). Both are fractions 0-1 of `pupils`.
- unauthorised_10 / unauthorised_15: pupils whose unauthorised absence reached the statutory
  warning / notification line in a calendar quarter (model.rules.statutory_levels: the quarter's
  unauthorised days over its registered days so far, on any school day of the quarter from the
  `min_days`-th registered day on, as the weekly lists apply it). A school-year row counts each
  pupil once if it happened in any quarter of the year.
- suppression (small numbers, as in official statistics): a count, or a share whose numerator,
  is 1 to `suppress_below - 1` pupils is blank (None) and the row is marked `suppressed` with
  the names of the blanked columns. A row of fewer than `suppress_below` pupils shows no figure
  at all. Zero is shown: it names nobody. (Complementary suppression - hiding a second cell so
  a hidden one cannot be derived from ALL minus the other schools - is not done.)

The report (model.kpi_report.compute_report) reads the register strips (model.store: one
366-day strip per pupil and school year) one school year at a time, straight from the database
driver, and reduces them here to sums per pupil and quarter a cache-sized chunk at a time, then
per school: no per-pupil Python, no pupil x school-day matrix of the whole country
(docs/scaling.md: 550,000 pupils in 29 s).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from model.calendar import parse_school_year, school_year_start
from model.rules import statutory_levels
from model.store import FRACTION_SCALE, STATUS_CODES, STRIP_DAYS

ALL = "ALL"
CATEGORIES = ("illness", "authorised", "unauthorised")
# The figures of a row; counts are pupils. The columns of `ews kpi` are these, in this order,
# after school_id, school_year, period, kind.
FIGURES = ("pupils", "absence_rate", *(f"absence_rate_{c}" for c in CATEGORIES),
           "share_over_10", "share_over_15", "unauthorised_10", "unauthorised_15")
# Which pupil count is the numerator of each figure (None: not a count of pupils).
NUMERATOR = {"pupils": "pupils", "share_over_10": "over_10", "share_over_15": "over_15",
             "unauthorised_10": "unauthorised_10", "unauthorised_15": "unauthorised_15"}
COMPARED = ("absence_rate", "share_over_10", "share_over_15", "unauthorised_10",
            "unauthorised_15")  # shown beside the baseline
TARGETED = {"share_over_15": "target_problematic", "unauthorised_15": "target_notifications"}
BAND_ORDER = {"high": 0, "raised": 1, "watch": 2, "low": 3}
WINDOW_DAYS = 40  # "8 school weeks" before and after a team's decision
FOLLOW_UP_NOTE = {
    "da": "Beskrivende sammenligning, ikke et effektestimat: elever med afdækning mod listede "
          "elever med samme risikobånd uden afdækning. Forskellen kan skyldes andet end "
          "afdækningen (hvem teamet vælger, og at fravær ofte falder tilbage af sig selv).",
    "en": "A descriptive comparison, not an effect estimate: pupils the team investigated "
          "against listed pupils of the same risk band who were not investigated. The "
          "difference may come from other things than the investigation (whom the team chose, "
          "and absence that falls back by itself).",
}


@dataclass(frozen=True)
class KpiSpec:
    """The lines, the baseline and the targets the figures are computed and judged by."""

    concerning: float = 0.10
    problematic: float = 0.15
    warning: float = 0.10
    notification: float = 0.15
    min_days: int = 10
    suppress_below: int = 5
    baseline: str | None = None  # a school year; None: the earliest one in the register
    targets: dict[str, float] = field(default_factory=lambda: {
        "share_over_15": -0.15, "unauthorised_15": -0.10})

    @classmethod
    def from_settings(cls, settings) -> KpiSpec:
        """The KPI definitions configured in `settings`."""
        return cls(concerning=settings.kpi_concerning,
                   problematic=settings.particularly_problematic,
                   warning=settings.statutory_warning,
                   notification=settings.statutory_notification,
                   suppress_below=settings.kpi_suppress_below,
                   baseline=settings.kpi_baseline_school_year,
                   targets={"share_over_15": settings.kpi_target_problematic,
                            "unauthorised_15": settings.kpi_target_notifications})


# -- periods of a school year ------------------------------------------------------------------


def quarter_slices(school_year: str) -> list[tuple[str, slice]]:
    """The calendar quarters of a school year as (label, slice of the register strip's days)."""
    start = school_year_start(school_year)
    out, d = [], 0
    while d < STRIP_DAYS:
        day = start + timedelta(days=d)
        q = (day.month - 1) // 3 + 1
        next_q = date(day.year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
        end = min((next_q - start).days, STRIP_DAYS)
        out.append((f"{day.year}-Q{q}", slice(d, end)))
        d = end
    return out


def period_order(period: str) -> tuple:
    """Sort key: a school year before its quarters, quarters in time."""
    if "/" in period:
        return (int(period[:4]), 0, "")
    year, q = int(period[:4]), int(period[-1])
    return (year if q >= 3 else year - 1, 1, period)


# -- per school ------------------------------------------------------------------------------------

SUMS = ("pupils", "registered_days", "absent_days", *(f"{c}_days" for c in CATEGORIES),
        "over_10", "over_15", "unauthorised_10", "unauthorised_15")


CHUNK = 32_768  # strips reduced at a time: the passes over a chunk stay in the CPU's cache


def decode_strips(status: bytes, absent: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The (strips x 366) status codes and absent fractions (in 1/FRACTION_SCALE of a day) of
    concatenated register strips, as stored: `school_sums` counts the fractions on absence
    statuses only, as register_matrix does.
    """
    return (np.frombuffer(status, np.uint8).reshape(-1, STRIP_DAYS),
            np.frombuffer(absent, np.uint8).reshape(-1, STRIP_DAYS))


def _statutory_reached(unauth: np.ndarray, registered: np.ndarray, sl: slice,
                       spec: KpiSpec) -> np.ndarray:
    """Level code per pupil (0 none, 1 warning, 2 notification) reached on any school day of
    the quarter `sl` by model.rules.statutory_levels on the quarter-to-date sums; `unauth`
    holds the unauthorised absent fractions (1/FRACTION_SCALE of a day).
    """
    level = np.zeros(len(unauth), np.int8)
    # From the min_days-th registered day on, a line is reached only with at least
    # line x min_days unauthorised days in the quarter: the others need no running sums.
    need = min(spec.warning, spec.notification) * spec.min_days * FRACTION_SCALE
    maybe = np.flatnonzero(unauth[:, sl].sum(axis=1, dtype=np.int32) >= need - 1e-9)
    if len(maybe):
        reg = registered[maybe, sl]
        days = np.cumsum(reg, axis=1, dtype=np.int16)
        so_far = np.cumsum(unauth[maybe, sl], axis=1, dtype=np.int32) / FRACTION_SCALE
        _, lv = statutory_levels(days, so_far, spec.warning, spec.notification, spec.min_days)
        level[maybe] = np.where(reg, lv, 0).max(axis=1)
    return level


def _quarter_sums(status: np.ndarray, absent: np.ndarray, starts: list[int],
                  slices: list[slice], spec: KpiSpec) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per strip and quarter: registered days and absent fractions per category (int, in
    1/FRACTION_SCALE), and the statutory level reached, a chunk of strips at a time.
    """
    n, q = len(status), len(starts)
    keys = ("registered_days", "absent_days", "unauthorised_days", "authorised_days")
    sums = {k: np.zeros((n, q), np.int32) for k in keys}
    levels = np.zeros((n, q), np.int8)
    for lo in range(0, n, CHUNK):
        st, ab = status[lo:lo + CHUNK], absent[lo:lo + CHUNK]
        registered = st > 0
        ab = np.where(st > STATUS_CODES["present"], ab, np.uint8(0))
        unauth = np.where(st == STATUS_CODES["unauthorised"], ab, np.uint8(0))
        for key, values in (("registered_days", registered), ("absent_days", ab),
                            ("unauthorised_days", unauth),
                            ("authorised_days", np.where(st == STATUS_CODES["authorised"], ab,
                                                         np.uint8(0)))):
            sums[key][lo:lo + CHUNK] = np.add.reduceat(values, starts, axis=1, dtype=np.int32)
        for k, sl in enumerate(slices):
            levels[lo:lo + CHUNK, k] = _statutory_reached(unauth, registered, sl, spec)
    # the three categories add up to the total: illness is what remains
    sums["illness_days"] = (sums["absent_days"] - sums["authorised_days"]
                            - sums["unauthorised_days"])
    return sums, levels


def school_sums(pupil_ids: np.ndarray, school_year: str, status: np.ndarray, absent: np.ndarray,
                school_of_pupil: dict[str, str], spec: KpiSpec) -> pd.DataFrame:
    """Per school and period of one school year (the year and its quarters): the pupil counts
    and day sums behind the KPIs (SUMS) and the period's last registered day. `status` and
    `absent`: the year's register strips as `decode_strips` gives them, one row per pupil of
    `pupil_ids`; `school_of_pupil`: each pupil's school that year (a pupil without an
    enrolment that year is left out).
    """
    columns = ["school_id", "school_year", "period", "last_day", *SUMS]
    school_of = np.empty(len(pupil_ids), dtype=object)
    school_of[:] = [school_of_pupil.get(p) for p in pupil_ids]
    keep = pd.notna(school_of)
    if not keep.any():
        return pd.DataFrame(columns=columns)
    if not keep.all():
        status, absent, school_of = status[keep], absent[keep], school_of[keep]
    codes, names = pd.factorize(school_of, sort=True)
    n = len(names)
    quarters = quarter_slices(school_year)
    starts = [sl.start for _, sl in quarters]
    sums_q, levels = _quarter_sums(status, absent, starts, [sl for _, sl in quarters], spec)
    # the last registered day of each period: from the days any strip is registered on
    any_day = np.zeros(STRIP_DAYS, bool)
    for lo in range(0, len(status), CHUNK):
        any_day |= (status[lo:lo + CHUNK] > 0).any(axis=0)
    first = np.datetime64(school_year_start(school_year), "D")
    out = []
    periods = [(school_year, slice(0, len(quarters)), slice(0, STRIP_DAYS))] + [
        (label, slice(k, k + 1), sl) for k, (label, sl) in enumerate(quarters)]
    for label, cols, days_of in periods:
        days = sums_q["registered_days"][:, cols].sum(axis=1)
        on = days > 0
        if not on.any():
            continue
        last = int(np.flatnonzero(any_day[days_of])[-1]) + days_of.start
        # pupils without a registered day in the period add nothing to any sum
        sums = {"pupils": np.bincount(codes, weights=on, minlength=n)}
        totals = {key: values[:, cols].sum(axis=1) for key, values in sums_q.items()}
        for key, total in totals.items():
            sums[key] = np.bincount(codes, weights=total, minlength=n)
            if key != "registered_days":
                sums[key] = sums[key] / FRACTION_SCALE
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = totals["absent_days"] / FRACTION_SCALE / days
        sums["over_10"] = np.bincount(codes, weights=on & (rate >= spec.concerning), minlength=n)
        sums["over_15"] = np.bincount(codes, weights=on & (rate >= spec.problematic),
                                      minlength=n)
        level = levels[:, cols].max(axis=1)
        sums["unauthorised_10"] = np.bincount(codes, weights=level >= 1, minlength=n)
        sums["unauthorised_15"] = np.bincount(codes, weights=level >= 2, minlength=n)
        frame = pd.DataFrame({"school_id": np.asarray(names, dtype=object),
                              "school_year": school_year, "period": label,
                              "last_day": str(first + np.timedelta64(last, "D")), **sums})
        out.append(frame[frame["pupils"] > 0][columns])
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=columns)


def sums_of_pupils(per_pupil: pd.DataFrame, spec: KpiSpec) -> pd.DataFrame:
    """school_sums from one row per pupil and period (school_id, school_year, period, last_day,
    registered_days, absent_days, <category>_days, unauthorised_10, unauthorised_15).
    """
    p = per_pupil.assign(pupils=1)
    rate = p["absent_days"] / p["registered_days"]
    p["over_10"] = rate >= spec.concerning
    p["over_15"] = rate >= spec.problematic
    keys = ["school_id", "school_year", "period"]
    sums = p.groupby(keys, sort=False)[list(SUMS)].sum()
    sums["last_day"] = p.groupby(keys, sort=False)["last_day"].max()
    return sums.reset_index()


# -- per group ------------------------------------------------------------------------------------


def aggregate(sums: pd.DataFrame, spec: KpiSpec) -> pd.DataFrame:
    """One row per (school_id or ALL, school_year, period) with the figures and the pupil counts
    behind them (over_10, over_15), before suppression, from `school_sums`.
    """
    keys = ["school_year", "period"]
    everyone = sums.groupby(keys, sort=False)[list(SUMS)].sum()
    everyone["last_day"] = sums.groupby(keys, sort=False)["last_day"].max()
    everyone = everyone.reset_index().assign(school_id=ALL)
    out = pd.concat([sums, everyone], ignore_index=True)
    out["absence_rate"] = out["absent_days"] / out["registered_days"]
    for cat in CATEGORIES:
        out[f"absence_rate_{cat}"] = out[f"{cat}_days"] / out["registered_days"]
    out["share_over_10"] = out["over_10"] / out["pupils"]
    out["share_over_15"] = out["over_15"] / out["pupils"]
    for c in ("pupils", "over_10", "over_15", "unauthorised_10", "unauthorised_15"):
        out[c] = out[c].astype(int)
    out["kind"] = np.where(out["period"].str.contains("/"), "school_year", "quarter")
    return out[["school_id", "school_year", "period", "kind", "last_day", *FIGURES, "over_10",
                "over_15"]]


def suppress(rows: pd.DataFrame, columns: dict[str, str], spec: KpiSpec,
             rates: Sequence[str] = ()) -> pd.DataFrame:
    """Blank every column whose pupil numerator (`columns`: column -> numerator column) is 1 to
    suppress_below - 1, and the `rates` too where the row has that few pupils; mark the row.
    """
    out = rows.copy()
    hidden: list[list[str]] = [[] for _ in range(len(out))]
    few = (out["pupils"] > 0) & (out["pupils"] < spec.suppress_below) if rates else None
    for column, numerator in columns.items():
        n = rows[numerator].to_numpy()
        small = (n > 0) & (n < spec.suppress_below)
        if few is not None:
            small |= few.to_numpy()
        out[column] = out[column].astype(object).where(~small, None)
        for i in np.flatnonzero(small):
            hidden[i].append(column)
    if few is not None:
        for column in rates:
            out[column] = out[column].astype(object).where(~few, None)
            for i in np.flatnonzero(few.to_numpy()):
                hidden[i].append(column)
    out["suppressed"] = [bool(h) for h in hidden]
    out["suppressed_columns"] = [";".join(h) for h in hidden]
    return out


def baseline_year(school_years: Iterable[str], spec: KpiSpec) -> str | None:
    """The configured baseline, else the earliest school year there is."""
    if spec.baseline is not None:
        return spec.baseline
    years = sorted(set(school_years))
    return years[0] if years else None


def _baseline_period(period: str, school_year: str, baseline: str) -> str:
    """The same period in the baseline school year ("2025-Q1" of 2024/25 -> "2023-Q1")."""
    if "/" in period:
        return baseline
    shift = parse_school_year(school_year) - parse_school_year(baseline)
    return f"{int(period[:4]) - shift}{period[4:]}"


def against_plan(rows: pd.DataFrame, spec: KpiSpec, baseline: str | None) -> pd.DataFrame:
    """Each compared figure's baseline value and relative change; for the targeted ones the
    target value (baseline x (1 + target reduction)) and whether the row is on track (at or
    below it). Blank where either side is suppressed or the baseline has no such row; the
    baseline year's own rows are the reference and are not judged.
    """
    out = rows.copy()
    out["baseline"] = baseline
    if baseline is None:
        for m in COMPARED:
            out[f"{m}_baseline"] = out[f"{m}_change"] = None
        for m in TARGETED:
            out[f"{m}_target"] = out[f"{m}_on_track"] = None
        return out
    ref = rows[rows["school_year"] == baseline].set_index(["school_id", "period"])
    wanted = pd.MultiIndex.from_arrays([
        rows["school_id"],
        [_baseline_period(p, y, baseline) for p, y in zip(rows["period"], rows["school_year"],
                                                          strict=True)]])
    judged = (rows["school_year"] != baseline).to_numpy()
    for m in COMPARED:
        base = ref[m].reindex(wanted).to_numpy(object) if len(ref) else np.full(len(rows), None)
        value = rows[m].to_numpy(object)
        change = [None if b is None or v is None or pd.isna(b) or pd.isna(v) or b == 0
                  else float(v) / float(b) - 1 for v, b in zip(value, base, strict=True)]
        out[f"{m}_baseline"] = _objects([None if b is None or pd.isna(b) else b for b in base])
        out[f"{m}_change"] = _objects(change)
        if m in TARGETED:
            target = spec.targets.get(m)
            line = [None if b is None or pd.isna(b) or target is None
                    else float(b) * (1 + target) for b in base]
            out[f"{m}_target"] = _objects(line)
            out[f"{m}_on_track"] = _objects([
                None if (t is None or v is None or pd.isna(v) or not j) else bool(float(v) <= t)
                for v, t, j in zip(value, line, judged, strict=True)])
    return out


def _objects(values: list) -> np.ndarray:
    """A column that keeps None as None (not NaN) for what is blank."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def kpi_table(sums: pd.DataFrame, spec: KpiSpec,
              school_year: str | None = None) -> pd.DataFrame:
    """The rows of `ews kpi` from `school_sums`: figures per (school_id or ALL, period),
    suppressed, with the baseline, the change from it and the targets; only `school_year`'s
    rows if given.
    """
    if not len(sums):
        return pd.DataFrame(columns=kpi_columns())
    baseline = baseline_year(sums["school_year"].unique(), spec)
    rows = aggregate(sums, spec)
    rows = suppress(rows, {c: n for c, n in NUMERATOR.items()}, spec,
                    rates=["absence_rate", *(f"absence_rate_{c}" for c in CATEGORIES)])
    rows = against_plan(rows, spec, baseline)
    if school_year is not None:
        rows = rows[rows["school_year"] == school_year]
    rows = rows.assign(_o=[period_order(p) for p in rows["period"]],
                       _s=[(s == ALL, s) for s in rows["school_id"]])
    rows = rows.sort_values(["_s", "_o"]).drop(columns=["_o", "_s", "over_10", "over_15"])
    return rows[kpi_columns()].reset_index(drop=True)


def kpi_columns() -> list[str]:
    """The columns of `ews kpi` in order."""
    cols = ["school_id", "school_year", "period", "kind", "last_day", *FIGURES, "suppressed",
            "suppressed_columns", "baseline"]
    for m in COMPARED:
        cols += [f"{m}_baseline", f"{m}_change"]
        if m in TARGETED:
            cols += [f"{m}_target", f"{m}_on_track"]
    return cols


def school_years_needed(all_years: Iterable[str], spec: KpiSpec,
                        school_year: str | None) -> list[str]:
    """The school years to read for `school_year` (and its baseline), or all of them."""
    years = sorted(set(all_years))
    if school_year is None:
        return years
    base = spec.baseline if spec.baseline is not None else (years[0] if years else None)
    return sorted({y for y in (school_year, base) if y is not None and y in years})


# -- what the lists led to -------------------------------------------------------------------------


def _quarters_and_years(days: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Calendar quarter labels ("2024-Q4") and school years ("2024/25") of dates."""
    when = pd.to_datetime(pd.Series(days))
    year, month = when.dt.year.to_numpy(), when.dt.month.to_numpy()
    start = np.where(month >= 8, year, year - 1)
    quarter = pd.Series(year).astype(str) + "-Q" + pd.Series((month - 1) // 3 + 1).astype(str)
    school = (pd.Series(start).astype(str) + "/"
              + pd.Series((start + 1) % 100).astype(str).str.zfill(2))
    return quarter.to_numpy(object), school.to_numpy(object)


DECISION_COLUMNS = ("investigate", "already_known", "no_action", "other")


def list_outcomes(flags: pd.DataFrame, reviews: pd.DataFrame, spec: KpiSpec,
                  school_year: str | None = None) -> pd.DataFrame:
    """Per (school_id or ALL, quarter of the list's as-of date): flags handed out, pupils
    flagged, flags reviewed and their share, and the pupils per decision (the latest review of
    each flag); suppressed as the KPIs. `flags`: flag id, pupil_id, school_id, as_of, section;
    `reviews`: flag_id, decision, created_at.
    """
    cols = ["school_id", "school_year", "period", "flags", "pupils_flagged", "reviewed",
            "share_reviewed", *DECISION_COLUMNS, "suppressed", "suppressed_columns"]
    if not len(flags):
        return pd.DataFrame(columns=cols)
    f = flags.copy()
    f["period"], f["school_year"] = _quarters_and_years(f["as_of"])
    if school_year is not None:
        f = f[f["school_year"] == school_year]
    latest = (reviews.sort_values(["flag_id", "created_at"]).drop_duplicates("flag_id", keep="last")
              if len(reviews) else pd.DataFrame(columns=["flag_id", "decision"]))
    f = f.merge(latest[["flag_id", "decision"]], left_on="id", right_on="flag_id", how="left")
    f["reviewed"] = f["decision"].notna()
    for d in DECISION_COLUMNS:
        f[d] = np.where(f["decision"] == d, f["pupil_id"], None)
    parts = []
    for school, group in [*f.groupby("school_id"), (ALL, f)]:
        g = group.groupby(["school_year", "period"])
        part = pd.DataFrame({
            "flags": g.size(), "pupils_flagged": g["pupil_id"].nunique(),
            "reviewed": g["reviewed"].sum(),
            **{d: g[d].nunique() for d in DECISION_COLUMNS}}).reset_index()
        part.insert(0, "school_id", school)
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["share_reviewed"] = out["reviewed"] / out["flags"]
    numerators = {"flags": "flags", "pupils_flagged": "pupils_flagged", "reviewed": "reviewed",
                  "share_reviewed": "reviewed", **{d: d for d in DECISION_COLUMNS}}
    out = suppress(out.assign(pupils=out["pupils_flagged"]), numerators, spec)
    return out[cols].sort_values(["school_id", "period"]).reset_index(drop=True)


def _window_rates(status: np.ndarray, absent: np.ndarray, days: np.ndarray,
                  refs: np.ndarray, width: int = WINDOW_DAYS) -> tuple[np.ndarray, np.ndarray]:
    """Each row's absence over its own last `width` registered days before its reference date
    and its first `width` from it on; NaN where fewer than half of them are registered yet.
    """
    before = np.full(len(refs), np.nan)
    after = np.full(len(refs), np.nan)
    cut = np.searchsorted(days, refs.astype("datetime64[D]"), side="left")
    for i in range(len(refs)):
        on = np.flatnonzero(status[i] > 0)
        k = int(np.searchsorted(on, cut[i]))
        b, a = on[max(k - width, 0):k], on[k:k + width]
        if len(b) >= width // 2:
            before[i] = absent[i, b].sum() / len(b)
        if len(a) >= width // 2:
            after[i] = absent[i, a].sum() / len(a)
    return before, after


def follow_up(flags: pd.DataFrame, reviews: pd.DataFrame, register, spec: KpiSpec,
              school_year: str | None = None) -> pd.DataFrame:
    """Absence over the 8 school weeks before and after: pupils whose decision was
    `investigate` (from the decision date) against pupils listed in the early-warning section
    in the same school year with no such decision (from their first listing), per risk band of
    the flag. `register`: the pupil x school-day matrix of (at least) these pupils. A
    descriptive comparison, not an effect estimate (FOLLOW_UP_NOTE).
    """
    cols = ["school_year", "band", "group", "pupils", "absence_before", "absence_after",
            "change", "measured_after", "suppressed"]
    if not len(flags) or not len(reviews):
        return pd.DataFrame(columns=cols)
    f = flags[flags["risk"].notna()].copy()
    f["school_year"] = _quarters_and_years(f["as_of"])[1]
    inv = reviews[reviews["decision"] == "investigate"].merge(
        f[["id", "band", "school_year"]], left_on="flag_id", right_on="id")
    inv = inv.sort_values("decided_on").drop_duplicates(["pupil_id", "school_year"])
    inv = inv.assign(group="investigated", ref=pd.to_datetime(inv["decided_on"]))
    listed = f[f["section"] == "early_warning"].sort_values("as_of").drop_duplicates(
        ["pupil_id", "school_year"])
    investigated = pd.MultiIndex.from_frame(inv[["pupil_id", "school_year"]])
    listed = listed[~pd.MultiIndex.from_frame(listed[["pupil_id", "school_year"]])
                    .isin(investigated)]
    listed = listed.assign(group="listed, not investigated", ref=pd.to_datetime(listed["as_of"]))
    both = pd.concat([inv[["pupil_id", "school_year", "band", "group", "ref"]],
                      listed[["pupil_id", "school_year", "band", "group", "ref"]]],
                     ignore_index=True)
    if school_year is not None:
        both = both[both["school_year"] == school_year]
    row_of = pd.Index(register.pupil_ids).get_indexer(both["pupil_id"])
    both = both[row_of >= 0]
    row_of = row_of[row_of >= 0]
    if not len(both):
        return pd.DataFrame(columns=cols)
    before, after = _window_rates(register.status[row_of], register.absent[row_of],
                                  register.days, both["ref"].to_numpy("datetime64[D]"))
    both = both.assign(before=before, after=after)
    both = both[both["before"].notna()]
    rows = []
    for (year, band, group), g in both.groupby(["school_year", "band", "group"]):
        measured = g[g["after"].notna()]
        rows.append({"school_year": year, "band": band, "group": group, "pupils": len(g),
                     "absence_before": float(g["before"].mean()),
                     "absence_after": float(measured["after"].mean()) if len(measured) else None,
                     "change": (float((measured["after"] - measured["before"]).mean())
                                if len(measured) else None),
                     "measured_after": len(measured)})
    out = pd.DataFrame(rows, columns=cols[:-1])
    out = out.assign(_b=out["band"].map(BAND_ORDER).fillna(len(BAND_ORDER))).sort_values(
        ["school_year", "_b", "group"], kind="stable").drop(columns="_b").reset_index(drop=True)
    small = ((out["pupils"] > 0) & (out["pupils"] < spec.suppress_below)) | (
        (out["measured_after"] > 0) & (out["measured_after"] < spec.suppress_below))
    for c in ("pupils", "absence_before", "absence_after", "change", "measured_after"):
        out[c] = out[c].astype(object).where(~small, None)
    out["suppressed"] = small.to_numpy()
    return out[cols]
