"""How a model is made: as-of training set, temporal split, fit, calibrate, evaluate, gates.

`train_and_evaluate` is pure (no MLflow); `training.tracking` logs and registers its result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from model.estimator import RiskModel
from model.features import feature_matrix
from model.inputs import Inputs
from model.labels import LabelSpec
from model.monitoring import reference_distributions
from model.registry import (
    BACKTEST,
    BACKTEST_ECE_MAX,
    BACKTEST_FOLDS,
    BACKTEST_LIFT,
    BACKTEST_PRECISION,
    BACKTEST_ROC_AUC,
    CHAMPION,
    LIFT_METRIC,
    metric_key,
)
from model.settings import Settings
from model.threads import limit_threads
from training.dataset import build_training_set, candidate_as_of_dates, label_counts
from training.evaluation import (
    Capacity,
    calibration_metrics,
    compare,
    evaluate_ranker,
    list_flags,
    rule_rankers,
)
from training.fairness import fairness_table
from training.feedback import (
    Feedback,
    apply_interventions,
    intervention_summary,
    review_uptake,
)
from training.splits import (  # noqa: F401 - temporal_split stays public
    Fold,
    TemporalSplit,
    label_end_date,
    rolling_folds,
    temporal_split,
)

MODEL_RANKER = "model"
LOGISTIC_RANKER = "logistic_baseline"


def logistic_baseline(random_state: int = 0):
    """The linear baseline: median-imputed, standardised logistic regression."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                         LogisticRegression(C=0.5, max_iter=2000, random_state=random_state))


@dataclass
class GateResult:
    """Whether a version may become the champion, and why (not)."""

    passed: bool
    reasons: list[str]
    # issue 12: one record per check (gate, passed, value, threshold, fold, text)
    results: list[dict] = field(default_factory=list)


@dataclass
class TrainResult:
    model: RiskModel
    split: TemporalSplit
    spec: LabelSpec
    capacity: Capacity
    comparison: pd.DataFrame
    calibration: dict[str, float]
    fairness: pd.DataFrame
    fairness_ratios: dict[str, float]
    counts: dict[str, int]
    test_frame: pd.DataFrame = field(repr=False)
    lead_frame: pd.DataFrame = field(repr=False)
    train_window: tuple[str, str] = ("", "")
    reference: dict = field(default_factory=dict, repr=False)  # model.monitoring's, for drift
    # What the teams did with the lists (per school and `all`), and the intervention rows.
    uptake: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    interventions: dict[str, float] = field(default_factory=dict)
    # issue 12: the backtest's folds, the grid and the chosen hyperparameters, and the chosen
    # recipe's out-of-fold margins and calibrated risks on `test_frame` (all folds' test windows)
    folds: list = field(default_factory=list, repr=False)
    grid: list[dict] = field(default_factory=list, repr=False)
    chosen: dict = field(default_factory=dict)
    test_margin: np.ndarray | None = field(default=None, repr=False)
    test_risk: np.ndarray | None = field(default=None, repr=False)

    def backtest(self) -> list[dict]:
        """One compact record per fold (the registry's `backtest` tag)."""
        return [f.summary() for f in self.folds]

    @property
    def beats_best_rule(self) -> bool:
        """The backtest's mean precision at list length is above the best rule's."""
        best = self.comparison.at[self.best_rule, "precision_at_capacity"]
        return bool(self.comparison.at[MODEL_RANKER, "precision_at_capacity"] > best)

    @property
    def best_rule(self) -> str:
        rules = self.comparison.loc[self.comparison.index.str.startswith("rule:")]
        return str(rules["precision_at_capacity"].idxmax())

    @property
    def lift(self) -> float:
        best = self.comparison.at[self.best_rule, "precision_at_capacity"]
        model = self.comparison.at[MODEL_RANKER, "precision_at_capacity"]
        return float(model / best) if best > 0 else float("inf")

    def metrics(self) -> dict[str, float]:
        """Flat metrics for MLflow: `<ranker>.<metric>`, calibration, fairness ratios."""
        out: dict[str, float] = {}
        for name, row in self.comparison.iterrows():
            for metric in ("roc_auc", "pr_auc", "precision_at_capacity", "recall_at_capacity",
                           "precision_at_5pct", "lead_time_median_weeks", "lead_time_mean_weeks",
                           "detected_before_onset"):
                value = row[metric]
                if value == value:  # not NaN
                    out[metric_key(name, metric)] = float(value)
        out.update({f"calibration.{k}": v for k, v in self.calibration.items()})
        out.update({f"fairness.{k}": v for k, v in self.fairness_ratios.items() if v == v})
        out[LIFT_METRIC] = self.lift
        for school, row in self.uptake.iterrows():
            out.update({f"feedback.{school}.{k}": float(v) for k, v in row.items() if v == v})
        out.update({f"intervention.{k}": v for k, v in self.interventions.items() if v == v})
        if self.folds:
            model = self.comparison.loc[MODEL_RANKER]
            out[BACKTEST_LIFT] = self.lift
            out[BACKTEST_ROC_AUC] = float(model["roc_auc"])
            out[BACKTEST_PRECISION] = float(model["precision_at_capacity"])
            out[BACKTEST_ECE_MAX] = float(self.calibration["ece_max"])
            out[BACKTEST_FOLDS] = float(len(self.folds))
            for f in self.folds:
                key = f.fold.name.split(":")[0]
                for name, value in f.summary().items():
                    if isinstance(value, float):
                        out[f"{BACKTEST}.fold{key}.{name}"] = value
        return out


def truncate_inputs(inputs: Inputs, before: date) -> Inputs:
    """What was known before `before`: the register, concerns and enrolments up to then."""
    from model.calendar import parse_school_year, school_year_of

    reg = inputs.register.select_days(before)
    last_year = parse_school_year(school_year_of(before))
    enrol = inputs.enrolments[inputs.enrolments["school_year"].map(parse_school_year) <= last_year]
    concerns = inputs.concerns[pd.to_datetime(inputs.concerns["date"]) < pd.Timestamp(before)]
    return Inputs(reg, enrol, concerns, inputs.class_wellbeing, inputs.pupils)


# -- issue 12: backtest on rolling folds, then refit on every closed label window ---------------

# A small, bounded grid (fixed seeds): tree structure x learning rate; the number of iterations is
# chosen from the same fits' stages (`staged_decision_function`), so it costs no extra fit.
PARAM_GRID: tuple[dict, ...] = (
    {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 200, "iterations": (100, 150)},
    {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 400, "iterations": (100, 150)},
    {"learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 100, "iterations": (200, 300)},
)


@dataclass
class FoldResult:
    """One fold of the backtest: its dates, the rankers' metrics on its test window, and the
    chosen recipe's out-of-fold margins and calibrated risk there."""

    fold: Fold
    comparison: pd.DataFrame
    calibration: dict[str, float]
    test: pd.DataFrame = field(repr=False)
    lead: pd.DataFrame = field(repr=False)
    margin: np.ndarray = field(repr=False)
    risk: np.ndarray = field(default=None, repr=False)
    rankers_test: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def best_rule(self) -> str:
        rules = self.comparison.loc[self.comparison.index.str.startswith("rule:")]
        return str(rules["precision_at_capacity"].idxmax())

    def summary(self) -> dict[str, object]:
        """The registry's compact per-fold record (the `backtest` tag)."""
        best = self.best_rule
        model, rule = self.comparison.loc[MODEL_RANKER], self.comparison.loc[best]
        lift = (model["precision_at_capacity"] / rule["precision_at_capacity"]
                if rule["precision_at_capacity"] > 0 else float("inf"))

        def r(x: float, n: int = 4):
            return None if x != x else round(float(x), n)

        out = {"fold": self.fold.name, "test_window": self.fold.test_window,
               "precision": r(model["precision_at_capacity"]), "best_rule": best,
               "best_rule_precision": r(rule["precision_at_capacity"]), "lift": r(lift, 3),
               "roc_auc": r(model["roc_auc"]), "best_rule_roc_auc": r(rule["roc_auc"]),
               "ece": r(self.calibration["ece_not_yet_concerning"]),
               "lead_share": r(model["lead_share"]), "lead_median_weeks": r(model["lead_median_weeks"], 1)}
        for oracle in ("oracle", "oracle_clairvoyant"):
            if oracle in self.comparison.index:
                out[f"{oracle}_precision"] = r(self.comparison.at[oracle, "precision_at_capacity"])
        return out


def _staged(booster: RiskModel, X: np.ndarray, stages: tuple[int, ...]) -> dict[int, np.ndarray]:
    """The booster's margins after each of `stages` iterations (one pass over the trees)."""
    out, want = {}, set(stages)
    for i, margin in enumerate(booster.booster_.staged_decision_function(booster._prepare(X)), 1):
        if i in want:
            out[i] = np.asarray(margin, float).ravel()
    return out


def _grid_configs(settings: Settings) -> list[tuple[dict, int]]:
    return [(g, it) for g in PARAM_GRID[:settings.train_grid_size] for it in g["iterations"]]


def _params(config: dict, iterations: int, seed: int) -> dict:
    return {"learning_rate": config["learning_rate"], "max_leaf_nodes": config["max_leaf_nodes"],
            "min_samples_leaf": config["min_samples_leaf"], "max_iter": iterations,
            "random_state": seed}


def _mean_comparison(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The backtest's mean per ranker over folds (lead times pooled, list sizes summed)."""
    numeric = [t.drop(columns=["lead_times"]) for t in tables]
    mean = pd.concat(numeric).groupby(level=0, sort=False).mean(numeric_only=True)
    mean["listed"] = pd.concat(numeric).groupby(level=0, sort=False)["listed"].sum()
    pooled = {name: sum((list(t.at[name, "lead_times"]) for t in tables), []) for name in mean.index}
    mean["lead_times"] = pd.Series(pooled)
    return mean.loc[tables[-1].index]


def train_and_evaluate(inputs: Inputs, settings: Settings, as_of: date | None = None,
                       model_params: dict | None = None, feedback: Feedback | None = None,
                       progress=None, extra_rankers=None) -> TrainResult:
    """Backtest the recipe on rolling folds (grid, calibration, every rule at the same list
    length), then refit the version to register on every as-of date whose label window has
    closed. `feedback` adds uptake and the intervention handling; `model_params` fixes the
    hyperparameters (no grid); `progress(stage, advance)` is told each stage; `extra_rankers(frame)`
    adds rankers to the evaluation (e.g. the simulator's oracle)."""
    limit_threads(settings.threads)
    step = progress or (lambda stage, advance=1: None)
    feedback = feedback if feedback is not None else Feedback.empty()
    if as_of is not None:
        inputs = truncate_inputs(inputs, as_of)
        feedback = feedback.known_before(as_of)
    spec = LabelSpec.from_settings(settings)
    capacity = Capacity(settings.capacity_share, settings.capacity_min)
    builder = inputs.feature_builder()
    candidates = candidate_as_of_dates(inputs)
    days = builder.day_major.days
    folds = rolling_folds(candidates, days, spec.horizon, n_folds=settings.backtest_folds,
                          fold_weeks=settings.backtest_fold_weeks)
    step("features")
    data = build_training_set(builder, candidates, spec)
    as_of_col = data["as_of"].dt.date
    mode = settings.intervention_labels
    seed = settings.train_seed

    if model_params:
        fixed = dict(model_params)
        configs = [({"learning_rate": fixed.get("learning_rate", 0.05),
                     "max_leaf_nodes": fixed.get("max_leaf_nodes", 15),
                     "min_samples_leaf": fixed.get("min_samples_leaf", 100)},
                    int(fixed.get("max_iter", 300)))]
    else:
        configs = _grid_configs(settings)
    structures = []
    for config, it in configs:
        key = (config["learning_rate"], config["max_leaf_nodes"], config["min_samples_leaf"])
        if key not in [s[0] for s in structures]:
            structures.append((key, config, []))
        next(s for s in structures if s[0] == key)[2].append(it)

    # 1. the backtest: every structure fitted once per fold, its stages are the iterations
    fold_frames, margins, boosters = [], {}, {}  # margins[(key, it)][k]; boosters[(k, key)]
    for fold in folds:
        train = data[as_of_col.isin(fold.train) & data["label"].notna()]
        test = data[as_of_col.isin(fold.test)].reset_index(drop=True)
        test, mask = apply_interventions(test, feedback, days, spec.horizon, mode)
        fold_frames.append((train, test, mask))
        X_test = feature_matrix(test)
        for key, config, its in structures:
            step(f"fold {fold.name}: fit {config['learning_rate']}/{config['max_leaf_nodes']}/"
                 f"{config['min_samples_leaf']}")
            booster = RiskModel(**_params(config, max(its), seed)).fit(
                feature_matrix(train), train["label"].to_numpy())
            boosters[(len(fold_frames) - 1, key)] = booster
            for it, margin in _staged(booster, X_test, tuple(its)).items():
                margins.setdefault((key, it), []).append(margin)
    grid = []
    for (key, it), per_fold in margins.items():
        precision = [evaluate_ranker(MODEL_RANKER, t, m, capacity).precision_at_capacity
                     for (_, t, _), m in zip(fold_frames, per_fold, strict=True)]
        grid.append({"learning_rate": key[0], "max_leaf_nodes": key[1], "min_samples_leaf": key[2],
                     "max_iter": it, "precision_at_capacity": float(np.mean(precision))})
    chosen = max(grid, key=lambda g: (round(g["precision_at_capacity"], 4), -g["max_iter"]))
    chosen_key = (chosen["learning_rate"], chosen["max_leaf_nodes"], chosen["min_samples_leaf"])
    oof = margins[(chosen_key, chosen["max_iter"])]

    # 2. calibration from out-of-fold margins: each fold is judged with the map fitted on the
    # other folds' margins and labels; the refit gets the map fitted on all folds. The map's
    # level is then anchored on the booster's own training rows (`RiskModel.anchor_level`) where
    # those rows hold every month to be scored; otherwise it stays the out-of-fold level.
    def platt(ks: list[int], season_rows: pd.DataFrame) -> RiskModel:
        """The calibration map fitted on folds `ks`' out-of-fold margins, with the season's
        offset from `season_rows` (training labels known before the judged weeks) as input."""
        m = np.concatenate([oof[j] for j in ks])
        y = np.concatenate([fold_frames[j][1]["label"].to_numpy() for j in ks])
        when = np.concatenate([fold_frames[j][1]["as_of"].to_numpy() for j in ks])
        known = ~np.isnan(y)
        calibrator = RiskModel()
        if settings.calibrate_season:
            calibrator.fit_season(season_rows["as_of"].to_numpy(), season_rows["label"].to_numpy())
        return calibrator.calibrate_margins(m[known], y[known],
                                            when[known] if settings.calibrate_season else None)

    results: list[FoldResult] = []
    for k, fold in enumerate(folds):
        step(f"fold {fold.name}: evaluation")
        train, test, _ = fold_frames[k]
        others = [j for j in range(len(folds)) if j != k] or [k]
        calibrator = platt(others, train)
        X_train = feature_matrix(train)
        if calibrator.knows_season(test["as_of"].to_numpy()):  # else no use for the margins
            in_sample = _staged(boosters[(k, chosen_key)], X_train, (chosen["max_iter"],))
            calibrator.anchor_level(in_sample[chosen["max_iter"]], train["label"].to_numpy(),
                                    train["as_of"].to_numpy(), test["as_of"].to_numpy())
        risk = calibrator.probability(oof[k], test["as_of"].to_numpy())
        logistic = logistic_baseline(seed).fit(X_train, train["label"].to_numpy().astype(int))
        rankers = {MODEL_RANKER: oof[k], LOGISTIC_RANKER: logistic.decision_function(feature_matrix(test)),
                   **rule_rankers(test), **(extra_rankers(test) if extra_rankers else {})}
        table = compare(test, test, rankers, rankers, capacity)
        results.append(FoldResult(fold, table, calibration_metrics(test, risk), test, test, oof[k], risk,
                                  rankers))

    # 3. the refit: every as-of date whose label window has closed before the training as-of date
    step("refit")
    refit_dates = [t for t in candidates if label_end_date(days, t, spec.horizon) is not None]
    refit_rows = data[as_of_col.isin(refit_dates) & data["label"].notna()]
    model = RiskModel(**_params({"learning_rate": chosen["learning_rate"],
                                 "max_leaf_nodes": chosen["max_leaf_nodes"],
                                 "min_samples_leaf": chosen["min_samples_leaf"]},
                                chosen["max_iter"], seed))
    X_refit = feature_matrix(refit_rows)
    model.fit(X_refit, refit_rows["label"].to_numpy())
    all_folds = platt(list(range(len(folds))), refit_rows)
    model.calibration_ = all_folds.calibration_
    model.season_ = getattr(all_folds, "season_", None)
    model.season_weight_ = all_folds.season_weight_
    model.season_months_ = getattr(all_folds, "season_months_", None)
    model.anchor_level(model.decision_function(X_refit), refit_rows["label"].to_numpy(),
                       refit_rows["as_of"].to_numpy(), np.array(candidates, dtype="datetime64[D]"))

    step("evaluation")
    test = pd.concat([r.test.assign(fold=r.fold.name) for r in results], ignore_index=True)
    margin = np.concatenate([r.margin for r in results])
    risk = np.concatenate([r.risk for r in results])
    comparison = _mean_comparison([r.comparison for r in results])
    calibration = calibration_metrics(test, risk)
    calibration["ece_max"] = max(r.calibration["ece_not_yet_concerning"] for r in results)
    fairness, ratios = fairness_table(test, list_flags(test, margin, capacity))
    counts = {f"train.{k}": v for k, v in label_counts(data[as_of_col.isin(refit_dates)]).items()}
    counts |= {f"test.{k}": v for k, v in label_counts(test).items()}
    counts["train_rows"], counts["test_rows"] = len(refit_rows), len(test)
    window = (str(refit_dates[0]), str(refit_dates[-1]))
    # Every row of the refit's training window's last school year (also those without a label),
    # as a week on roll is monitored: the bins and proportions drift is judged against. The last
    # year only: earlier rows lack last year's absence where the register began, which a week on
    # roll now has (every month of the school year is in it).
    from datetime import timedelta

    recent = [t for t in refit_dates if t > refit_dates[-1] - timedelta(days=364)]
    window_rows = data[as_of_col.isin(recent)]
    reference = reference_distributions(
        window_rows, model.probability(model.decision_function(feature_matrix(window_rows)),
                                       window_rows["as_of"].to_numpy()),
        min_rows=settings.monitor_min_rows)
    mask = np.concatenate([m for _, _, m in fold_frames]) if mode != "ignore" else None
    interventions = intervention_summary(test, mask, mode, margin, capacity)
    uptake = review_uptake(feedback) if len(feedback.flags) else pd.DataFrame()
    split = TemporalSplit(refit_dates, [], sorted({t for f in folds for t in f.test}))
    return TrainResult(model, split, spec, capacity, comparison, calibration, fairness, ratios,
                       counts, test, test, window, reference, uptake, interventions,
                       folds=results, grid=grid, chosen=chosen, test_margin=margin, test_risk=risk)


@dataclass
class ChampionRecord:
    """What the gates need of the current champion: its model, the last as-of date of its
    training window, and the mean precision at list length its own backtest recorded."""

    model: RiskModel | None
    window_end: date | None = None
    backtest_precision: float | None = None


def promotion_gates(result: TrainResult, settings: Settings,
                    champion: RiskModel | ChampionRecord | None = None) -> GateResult:
    """The gates judge the backtest of the recipe: its mean precision at list length beats the
    best rule's by the configured lift; it is calibrated within tolerance in every fold (among
    the not-yet-concerning); and it is not worse than the current champion on the same folds."""
    checks: list[dict] = []

    def check(gate: str, passed: bool, value: float, threshold: float, fold: str | None, text: str):
        checks.append({"gate": gate, "passed": bool(passed), "value": round(float(value), 4),
                       "threshold": round(float(threshold), 4), "fold": fold, "text": text})

    gate = settings.gate_min_lift_over_rules
    lift = result.lift
    where = f"mean over {len(result.folds)} folds" if result.folds else "test slice"
    if lift < gate:
        check("lift", False, lift, gate, None,
              f"precision at list length is {lift:.2f}x the best rule ({result.best_rule}, {where}); "
              f"the gate asks {gate:.2f}x")
    else:
        check("lift", True, lift, gate, None,
              f"beats the best rule ({result.best_rule}) {lift:.2f}x ({where}; gate {gate:.2f}x)")
    limit = settings.gate_max_calibration_error
    per_fold = ([(f.fold.name, f.calibration["ece_not_yet_concerning"]) for f in result.folds]
                or [(None, result.calibration["ece_not_yet_concerning"])])
    for name, ece in per_fold:
        label = f" in fold {name}" if name else ""
        if ece > limit:
            check("calibration", False, ece, limit, name,
                  f"calibration error {ece:.3f}{label} exceeds {limit:.3f} (among the not-yet-concerning)")
        else:
            check("calibration", True, ece, limit, name,
                  f"calibration error {ece:.3f}{label} within {limit:.3f} (among the not-yet-concerning)")
    record = champion if isinstance(champion, ChampionRecord) else ChampionRecord(champion)
    if record.model is not None:
        _champion_gate(result, record, settings, check)
    passed = all(c["passed"] for c in checks)
    return GateResult(passed, [c["text"] for c in checks], checks)


def _champion_gate(result: TrainResult, record: ChampionRecord, settings: Settings, check) -> None:
    """Compare with the champion on the folds' test rows it was not trained on (as-of dates after
    its training window); if it was trained on all of them, with its own recorded backtest."""
    mine = float(result.comparison.at[MODEL_RANKER, "precision_at_capacity"])
    tolerance = settings.gate_champion_tolerance
    folds = [f for f in result.folds
             if record.window_end is None or f.fold.test[0] > record.window_end]
    theirs, how = None, ""
    if folds:
        try:
            scores = [(f, record.model.decision_function(feature_matrix(f.test))) for f in folds]
        except Exception as exc:  # noqa: BLE001 - an incompatible champion cannot be compared
            check(CHAMPION, True, mine, 0.0, None,
                  f"current champion could not be scored on the folds ({exc}); replaced")
            return
        theirs = float(np.mean([evaluate_ranker(CHAMPION, f.test, sc, result.capacity)
                                .precision_at_capacity for f, sc in scores]))
        mine = float(np.mean([f.comparison.at[MODEL_RANKER, "precision_at_capacity"] for f in folds]))
        how = f"on the {len(folds)} fold(s) after its training window"
    elif record.backtest_precision is not None:
        theirs, how = record.backtest_precision, "its own recorded backtest"
    if theirs is None:
        check(CHAMPION, True, mine, 0.0, None,
              "the current champion has no backtest to compare with; not compared")
        return
    if mine + tolerance + 1e-9 < theirs:
        check(CHAMPION, False, mine, theirs, None,
              f"precision at list length {mine:.3f} is below the champion's {theirs:.3f} ({how})")
    else:
        check(CHAMPION, True, mine, theirs, None,
              f"precision at list length {mine:.3f} >= the champion's {theirs:.3f} ({how})")


def feature_list() -> list[dict[str, object]]:
    from model.features import FEATURES

    return [{"name": f.name, "group": f.group, "unit": f.unit, "direction": f.direction,
             "da": f.da, "en": f.en} for f in FEATURES]


