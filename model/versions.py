"""What a registered model version says about itself, read from its registry tags and its
training run's metrics: training window, backtest figures per fold and their mean, the gate
verdicts and aliases. One reading for the command line (`ews models`, `ews promote`) and the
analysts' model page, so both show the same. Pure: no mlflow here (the callers fetch the tags
and metrics), aggregates only.

Tags written by `ews train` (training/tracking.py): `train_window` ("a..b"), `gates` (English
lines joined by " | "), `gates_passed`, `gate_results` (JSON list of {gate, passed, value,
threshold, fold, text}), `beats_best_rule`, `backtest` (JSON list per fold: fold, test_window,
precision, best_rule, best_rule_precision, lift, roc_auc, best_rule_roc_auc, ece, lead_share,
lead_median_weeks). Versions registered before the backtest have only `gates`, `train_window`,
`lift_over_best_rule`, `best_rule` and run metrics like `model.roc_auc`, `calibration.ece`,
`lift_over_best_rule`: those are read instead.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from model.registry import (
    BACKTEST,
    BACKTEST_ECE_MAX,
    BACKTEST_LIFT,
    BACKTEST_ROC_AUC,
    BEATS_BEST_RULE,
    BEST_RULE,
    CHAMPION,
    GATE_RESULTS,
    GATES_PASSED,
    GATES_TAG,
    LIFT_METRIC,
    LIFT_OVER_BEST_RULE,
    PREVIOUS_CHAMPION,
    TRAIN_WINDOW,
    TRAINED_AT,
    metric_key,
)

GATES = ("lift", "calibration", CHAMPION)  # the champion gate: against the `champion` alias's version


@dataclass(frozen=True)
class Fold:
    """One backtest fold's figures (None where not recorded)."""

    fold: str
    test_window: str | None = None
    lift: float | None = None
    roc_auc: float | None = None
    best_rule_roc_auc: float | None = None
    ece: float | None = None
    precision: float | None = None
    best_rule: str | None = None
    best_rule_precision: float | None = None


@dataclass(frozen=True)
class Gate:
    """One gate's verdict: which gate, passed or not, the measured value, the threshold, the
    fold it was judged on (None: all or the mean) and the English line `ews train` printed.
    """

    gate: str
    passed: bool | None
    value: float | None = None
    threshold: float | None = None
    fold: str | None = None
    text: str = ""


@dataclass
class VersionFacts:
    """A registered version as the analysts see it."""

    version: str
    aliases: list[str] = field(default_factory=list)
    train_window: str | None = None
    trained_at: str | None = None
    best_rule: str | None = None
    folds: list[Fold] = field(default_factory=list)
    lift: float | None = None
    roc_auc: float | None = None
    ece: float | None = None
    gates: list[Gate] = field(default_factory=list)
    gates_passed: bool | None = None
    beats_best_rule: bool | None = None
    previous_champion: str | None = None

    @property
    def champion(self) -> bool:
        """Whether this version carries the champion alias."""
        return CHAMPION in self.aliases

    def promotable(self) -> tuple[bool, str]:
        """Whether a person may make this version the champion, and why not: refused when its
        backtest loses to the best rule (or records no comparison at all).
        """
        if self.beats_best_rule is False:
            lift = f" ({_x(self.lift)} the best rule)" if self.lift is not None else ""
            return False, f"its backtest loses to the best rule{lift}"
        if self.beats_best_rule is None:
            if self.lift is None:
                return False, "it records no backtest against the rules"
            if self.lift <= 1.0:
                return False, f"its backtest loses to the best rule ({_x(self.lift)} the best rule)"
        return True, ""


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _float(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    return {"true": True, "false": False}.get(text)


def _json_list(text: str | None) -> list[dict]:
    if not text:
        return []
    try:
        found = json.loads(text)
    except ValueError:
        return []
    return [x for x in found if isinstance(x, dict)] if isinstance(found, list) else []


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


# The English gate lines of versions registered before `gate_results`: which gate, passed.
_LEGACY_GATES = (
    (re.compile(r"^beats the best rule"), "lift", True),
    (re.compile(r"^precision at list length is .* the best rule"), "lift", False),
    (re.compile(r"^calibration error .* within"), "calibration", True),
    (re.compile(r"^calibration error .* exceeds"), "calibration", False),
    (re.compile(r"^precision at list length .* >= the champion"), CHAMPION, True),
    (re.compile(r"^precision at list length .* below the champion"), CHAMPION, False),
    (re.compile(r"^current champion could not be scored"), CHAMPION, True),
)
_NUMBERS = re.compile(r"(\d+\.\d+)")


def legacy_gate(text: str) -> Gate:
    """A gate line of an older version (English text only) as a Gate: its kind and verdict by
    the line's wording, value and threshold the first and last decimal in it.
    """
    numbers = [float(n) for n in _NUMBERS.findall(text)]
    for pattern, gate, passed in _LEGACY_GATES:
        if pattern.search(text):
            return Gate(gate, passed, numbers[0] if numbers else None,
                        numbers[-1] if len(numbers) > 1 else None, None, text)
    return Gate("other", None, None, None, None, text)


def version_facts(version: str, aliases: list[str], tags: dict[str, str],
                  metrics: dict[str, float]) -> VersionFacts:
    """Read a version's tags and run metrics (new keys first, older ones as the fallback)."""
    folds = []
    for item in _json_list(tags.get(BACKTEST)):
        folds.append(Fold(
            fold=str(item.get("fold") or len(folds) + 1), test_window=item.get("test_window"),
            lift=_float(item.get("lift")), roc_auc=_float(item.get("roc_auc")),
            best_rule_roc_auc=_float(item.get("best_rule_roc_auc")), ece=_float(item.get("ece")),
            precision=_float(item.get("precision")),
            best_rule=item.get("best_rule"), best_rule_precision=_float(item.get("best_rule_precision"))))

    def first(*values):
        return next((v for v in values if v is not None), None)

    lift = first(_float(metrics.get(BACKTEST_LIFT)), _mean([f.lift for f in folds]),
                 _float(tags.get(LIFT_OVER_BEST_RULE)), _float(metrics.get(LIFT_METRIC)))
    roc_auc = first(_float(metrics.get(BACKTEST_ROC_AUC)), _mean([f.roc_auc for f in folds]),
                    _float(metrics.get(metric_key("model", "roc_auc"))))
    ece = first(_float(metrics.get(BACKTEST_ECE_MAX)),
                max((f.ece for f in folds if f.ece is not None), default=None),
                _float(metrics.get("calibration.ece")))
    gates = [Gate(gate=str(g.get("gate") or "other"), passed=_bool(g.get("passed")),
                  value=_float(g.get("value")), threshold=_float(g.get("threshold")),
                  fold=(str(g["fold"]) if g.get("fold") not in (None, "") else None),
                  text=str(g.get("text") or ""))
             for g in _json_list(tags.get(GATE_RESULTS))]
    if not gates and tags.get(GATES_TAG):
        gates = [legacy_gate(line.strip()) for line in tags[GATES_TAG].split(" | ") if line.strip()]
    gates_passed = _bool(tags.get(GATES_PASSED))
    if gates_passed is None and gates and all(g.passed is not None for g in gates):
        gates_passed = all(g.passed for g in gates)
    best_rule = tags.get(BEST_RULE) or next((f.best_rule for f in folds if f.best_rule), None)
    return VersionFacts(
        version=str(version), aliases=sorted(aliases or []),
        train_window=tags.get(TRAIN_WINDOW) or None, trained_at=tags.get(TRAINED_AT) or None,
        best_rule=best_rule, folds=folds, lift=lift, roc_auc=roc_auc, ece=ece, gates=gates,
        gates_passed=gates_passed, beats_best_rule=_bool(tags.get(BEATS_BEST_RULE)),
        previous_champion=tags.get(PREVIOUS_CHAMPION) or None)


def champion_stack(history: list[dict], current: str | None) -> list[str]:
    """The champions in the order they served, replaying the recorded alias moves: a promotion
    (by a person or by `ews train`) pushes a version, a rollback pops back to the one before.
    The last element is the current champion.
    """
    stack: list[str] = []
    for move in history:
        version = str(move.get("version") or "")
        if not version:
            continue
        if move.get("action") == "rollback":
            while stack and stack[-1] != version:
                stack.pop()
            if not stack:
                stack.append(version)
        else:
            stack.append(version)
    if current is not None and (not stack or stack[-1] != current):
        stack.append(current)
    return stack


def parse_history(text: str | None) -> list[dict]:
    """The registered model's `champion_history` tag as a list of moves ([] if absent)."""
    return _json_list(text)


def run_metrics(client, run_id: str | None) -> dict[str, float]:
    """A version's training-run metrics ({} for a version registered without its run)."""
    if not run_id:
        return {}
    try:
        return dict(client.get_run(run_id).data.metrics)
    except Exception:  # noqa: BLE001 - the run is gone or unreadable
        return {}


def read_versions(client, name: str, limit: int | None = None) -> list[VersionFacts]:
    """Every registered version of `name` (the newest `limit`), newest first, with its figures,
    gate verdicts and aliases, read through an MLflow client the caller made (this module never
    imports mlflow): what `ews models` prints and the model page shows.
    """
    try:
        found = client.search_model_versions(f"name='{name}'")
    except Exception:  # noqa: BLE001 - no registered model yet
        return []
    newest = sorted(found, key=lambda mv: int(mv.version), reverse=True)[:limit]
    out = []
    for listed in newest:
        mv = client.get_model_version(name, listed.version)  # search results lack aliases
        out.append(version_facts(str(mv.version), list(mv.aliases or []), dict(mv.tags),
                                 run_metrics(client, mv.run_id)))
    return out
