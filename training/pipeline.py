"""How a model is made: as-of training set, temporal split, fit, calibrate, evaluate, gates.

`train_and_evaluate` is pure (no MLflow); `training.tracking` logs and registers its result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from model.estimator import RiskModel
from model.features import feature_matrix
from model.inputs import Inputs
from model.labels import LabelSpec
from model.monitoring import reference_distributions
from model.settings import Settings
from training.dataset import build_training_set, candidate_as_of_dates, label_counts
from training.evaluation import Capacity, calibration_metrics, compare, list_flags, rule_rankers
from training.fairness import fairness_table
from training.feedback import (
    Feedback,
    apply_interventions,
    intervention_summary,
    review_uptake,
)
from training.splits import TemporalSplit, temporal_split

MODEL_RANKER = "model"
LOGISTIC_RANKER = "logistic_baseline"


def limit_threads(n: int = 1) -> None:
    """Keep OpenMP/BLAS from oversubscribing the two cores (library-notes: 40x slow-downs)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)


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
            key = str(name).replace(":", ".")
            for metric in ("roc_auc", "pr_auc", "precision_at_capacity", "recall_at_capacity",
                           "precision_at_5pct", "lead_time_median_weeks", "lead_time_mean_weeks",
                           "detected_before_onset"):
                value = row[metric]
                if value == value:  # not NaN
                    out[f"{key}.{metric}"] = float(value)
        out.update({f"calibration.{k}": v for k, v in self.calibration.items()})
        out.update({f"fairness.{k}": v for k, v in self.fairness_ratios.items() if v == v})
        out["lift_over_best_rule"] = self.lift
        for school, row in self.uptake.iterrows():
            out.update({f"feedback.{school}.{k}": float(v) for k, v in row.items() if v == v})
        out.update({f"intervention.{k}": v for k, v in self.interventions.items() if v == v})
        return out


def truncate_inputs(inputs: Inputs, before: date) -> Inputs:
    """What was known before `before`: the register, concerns and enrolments up to then."""
    from model.calendar import parse_school_year, school_year_of

    reg = inputs.register.select_days(before)
    last_year = parse_school_year(school_year_of(before))
    enrol = inputs.enrolments[inputs.enrolments["school_year"].map(parse_school_year) <= last_year]
    concerns = inputs.concerns[pd.to_datetime(inputs.concerns["date"]) < pd.Timestamp(before)]
    return Inputs(reg, enrol, concerns, inputs.class_wellbeing, inputs.pupils)


def train_and_evaluate(inputs: Inputs, settings: Settings, as_of: date | None = None,
                       model_params: dict | None = None, feedback: Feedback | None = None) -> TrainResult:
    """Build the as-of training set, split in time, fit, calibrate and evaluate on later dates;
    `feedback` (the teams' flags and reviews) adds uptake and the intervention handling."""
    limit_threads(settings.threads)
    feedback = feedback if feedback is not None else Feedback.empty()
    if as_of is not None:
        inputs = truncate_inputs(inputs, as_of)
        feedback = feedback.known_before(as_of)
    spec = LabelSpec.from_settings(settings)
    capacity = Capacity(settings.capacity_share, settings.capacity_min)
    builder = inputs.feature_builder()
    candidates = candidate_as_of_dates(inputs)
    split = temporal_split(candidates, builder.day_major.days, spec.horizon)
    lead_dates = [t for t in candidates if t >= split.test[0]]
    data = build_training_set(builder, split.train + split.calibration + lead_dates, spec)
    as_of_col = data["as_of"].dt.date
    train = data[as_of_col.isin(split.train) & data["label"].notna()]
    cal = data[as_of_col.isin(split.calibration) & data["label"].notna()]
    test = data[as_of_col.isin(split.test)].reset_index(drop=True)
    lead = data[as_of_col.isin(lead_dates)].reset_index(drop=True)
    mode = settings.intervention_labels
    test, intervention_mask = apply_interventions(test, feedback, builder.day_major.days, spec.horizon, mode)
    lead, _ = apply_interventions(lead, feedback, builder.day_major.days, spec.horizon, mode)

    model = RiskModel(**(model_params or {})).fit(feature_matrix(train), train["label"].to_numpy())
    model.calibrate(feature_matrix(cal), cal["label"].to_numpy())
    logistic = logistic_baseline().fit(feature_matrix(train), train["label"].to_numpy().astype(int))

    rankers_test = {MODEL_RANKER: model.decision_function(feature_matrix(test)),
                    LOGISTIC_RANKER: logistic.decision_function(feature_matrix(test)),
                    **rule_rankers(test)}
    rankers_lead = {MODEL_RANKER: model.decision_function(feature_matrix(lead)),
                    LOGISTIC_RANKER: logistic.decision_function(feature_matrix(lead)),
                    **rule_rankers(lead)}
    comparison = compare(test, lead, rankers_test, rankers_lead, capacity)
    risk = model.predict_proba(feature_matrix(test))[:, 1]
    calibration = calibration_metrics(test, risk)
    fairness, ratios = fairness_table(test, list_flags(test, rankers_test[MODEL_RANKER], capacity))
    counts = {f"train.{k}": v for k, v in label_counts(data[as_of_col.isin(split.train)]).items()}
    counts |= {f"test.{k}": v for k, v in label_counts(test).items()}
    counts["train_rows"], counts["test_rows"] = len(train), len(test)
    window = (str(split.train[0]), str(split.train[-1]))
    # Every row of the training window's as-of dates (also those without a label), as a week
    # on roll is monitored: the bins and proportions drift is judged against.
    window_rows = data[as_of_col.isin(split.train)]
    reference = reference_distributions(
        window_rows, model.predict_proba(feature_matrix(window_rows))[:, 1],
        min_rows=settings.monitor_min_rows)
    interventions = intervention_summary(test, intervention_mask, mode, rankers_test[MODEL_RANKER], capacity)
    uptake = review_uptake(feedback) if len(feedback.flags) else pd.DataFrame()
    return TrainResult(model, split, spec, capacity, comparison, calibration, fairness, ratios,
                       counts, test, lead, window, reference, uptake, interventions)


def promotion_gates(result: TrainResult, settings: Settings,
                    champion: RiskModel | None = None) -> GateResult:
    """A version becomes the champion only if it beats the best rule by the configured margin,
    is calibrated within tolerance, and beats the current champion on the same slice."""
    reasons, passed = [], True
    if result.lift < settings.gate_min_lift_over_rules:
        passed = False
        reasons.append(f"precision at list length is {result.lift:.2f}x the best rule "
                       f"({result.best_rule}); the gate asks {settings.gate_min_lift_over_rules:.2f}x")
    else:
        reasons.append(f"beats the best rule ({result.best_rule}) {result.lift:.2f}x "
                       f"(gate {settings.gate_min_lift_over_rules:.2f}x)")
    ece = result.calibration["ece"]
    if ece > settings.gate_max_calibration_error:
        passed = False
        reasons.append(f"calibration error {ece:.3f} exceeds {settings.gate_max_calibration_error:.3f}")
    else:
        reasons.append(f"calibration error {ece:.3f} within {settings.gate_max_calibration_error:.3f}")
    if champion is not None:
        mine = result.comparison.at[MODEL_RANKER, "precision_at_capacity"]
        try:
            theirs_score = champion.decision_function(feature_matrix(result.test_frame))
        except Exception as exc:  # noqa: BLE001 - an incompatible champion cannot be compared
            reasons.append(f"current champion could not be scored on this slice ({exc}); replaced")
        else:
            from training.evaluation import evaluate_ranker

            theirs = evaluate_ranker("champion", result.test_frame, theirs_score,
                                     result.capacity).precision_at_capacity
            if mine + 1e-9 < theirs:
                passed = False
                reasons.append(f"precision at list length {mine:.3f} is below the champion's {theirs:.3f}")
            else:
                reasons.append(f"precision at list length {mine:.3f} >= the champion's {theirs:.3f}")
    return GateResult(passed, reasons)


def feature_list() -> list[dict[str, object]]:
    from model.features import FEATURES

    return [{"name": f.name, "group": f.group, "unit": f.unit, "direction": f.direction,
             "da": f.da, "en": f.en} for f in FEATURES]


