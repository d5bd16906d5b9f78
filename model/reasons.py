"""Reasons (begrundelser): why the model ranks a pupil where it does, in one plain sentence each.

The model's margin (log-odds, `RiskModel.decision_function`) is split exactly into one SHAP
contribution per feature with TreeSHAP on the booster: base value + contributions = margin.
Contributions are summed per reason group (`Feature.group`), so a detection team reads one
reason per idea ("ulovligt fravær") rather than five near-duplicate windows of it.

- A *reason* is a group whose summed contribution raises the risk (effect > 0); the sentence
  talks about the group's most contributing feature, with the pupil's own value and, where it
  helps, the school's average of the same feature.
- What lowers the risk is reported apart (`protective_for`), never mixed into the reasons.
- Every feature of the registry renders in Danish and English: a specific template where one
  is written below, otherwise a sentence driven by the registry's unit and description.

Rows of `Explanation.values` follow the rows of the feature frame they were computed from
(`feature_matrix(frame)`); `reasons_for` relies on that order.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from model.feature_registry import (
    CATEGORY_DA,
    CATEGORY_EN,
    FEATURE_BY_NAME,
    FEATURE_NAMES,
    FEATURES,
    WINDOW_DA,
    WINDOW_EN,
    WINDOWS,
    Feature,
    feature_matrix,
)

if TYPE_CHECKING:
    from model.estimator import RiskModel

LANGUAGES = ("da", "en")
UNKNOWN = {"da": "ukendt", "en": "unknown"}

# Reason groups in registry order, and each feature's group as an index into them.
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(f.group for f in FEATURES))
_GROUP_OF = np.array([GROUPS.index(f.group) for f in FEATURES])
_MEMBERSHIP = np.zeros((len(FEATURES), len(GROUPS)))
_MEMBERSHIP[np.arange(len(FEATURES)), _GROUP_OF] = 1.0
_GROUP_COLUMNS = [np.flatnonzero(np.equal(_GROUP_OF, g)) for g in range(len(GROUPS))]


# -- explanations ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Explanation:
    """SHAP contributions to the margin (log-odds) of n rows: `base_value + values.sum(1)` is
    `model.decision_function(X)`. Columns follow the registry (`FEATURE_NAMES`)."""

    base_value: float
    values: np.ndarray  # (n, n_features), log-odds

    def __len__(self) -> int:
        return len(self.values)

    @property
    def margin(self) -> np.ndarray:
        """The model's margin rebuilt from the contributions."""
        return self.base_value + self.values.sum(axis=1)

    def group_values(self) -> np.ndarray:
        """Contributions summed per reason group, (n, len(GROUPS)), columns in `GROUPS` order."""
        return self.values @ _MEMBERSHIP

    def by_group(self) -> pd.DataFrame:
        """`group_values` as a frame with one column per reason group."""
        return pd.DataFrame(self.group_values(), columns=list(GROUPS))

    def by_feature(self) -> pd.DataFrame:
        """The contributions as a frame with one column per feature."""
        return pd.DataFrame(self.values, columns=FEATURE_NAMES)


# TreeExplainer per booster, so scoring many batches builds it once. Keyed weakly by the booster
# (not the RiskModel): a refit replaces `booster_` and so the explainer, and a model that is
# dropped takes its explainer with it (shap keeps no reference back to a HistGradientBoosting
# booster, so the weak key can die).
_EXPLAINERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_EXPLAINERS_LOCK = threading.Lock()


def _import_shap() -> None:
    with warnings.catch_warnings():  # shap's colour maps call deprecated matplotlib functions
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap  # noqa: F401


def _shap() -> Any:
    """shap, imported on first use (~1-4 s, numba). The first import runs on a thread of its
    own: shap keeps tracebacks of optional imports, whose frames would otherwise keep the
    caller's stack (and the model being explained) alive for the life of the process."""
    if "shap" not in sys.modules:
        importer = threading.Thread(target=_import_shap, name="import-shap")
        importer.start()
        importer.join()
    import shap

    return shap


def _explainer(booster: Any) -> Any:
    with _EXPLAINERS_LOCK:
        explainer = _EXPLAINERS.get(booster)
        if explainer is None:
            explainer = _EXPLAINERS[booster] = _shap().TreeExplainer(booster)
        return explainer


@functools.cache
def _threadpools() -> Any:
    """One ThreadpoolController: `threadpool_limits()` rescans the loaded libraries (~10 ms) on
    every call, more than explaining one pupil takes."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def explain(model: RiskModel, X: np.ndarray, n_threads: int = 1) -> Explanation:
    """SHAP contributions of each feature to `model.decision_function(X)` (log-odds, exact).

    TreeSHAP's C core runs on one thread and holds the GIL; `n_threads` only caps the OpenMP and
    BLAS pools around it (oversubscription on a 2-core machine costs more than it gives). To use
    both cores, explain halves of a large batch in two processes.
    """
    # The booster predicts on float32 input widened to float64; explain exactly that input.
    X = np.asarray(X, dtype=np.float32).astype(np.float64)
    if X.ndim != 2 or X.shape[1] != len(FEATURES):
        raise ValueError(f"X must have shape (n, {len(FEATURES)}), got {X.shape}")
    explainer = _explainer(getattr(model, "booster_", model))
    if len(X) == 0:
        values = np.zeros((0, len(FEATURES)))
    else:
        with _threadpools().limit(limits=n_threads):
            values = explainer.shap_values(X, check_additivity=False)
    values = np.asarray(values, dtype=np.float64).reshape(len(X), len(FEATURES))
    if explainer.expected_value is None:  # shap fills it on the first non-empty call
        explainer.shap_values(np.zeros((1, len(FEATURES))), check_additivity=False)
    base = float(np.ravel(explainer.expected_value)[0])
    return Explanation(base, values)


def global_importance(explanation: Explanation) -> pd.DataFrame:
    """Mean |SHAP| (and mean SHAP) per feature and per reason group, largest first per level.

    Columns: level ("feature" or "group"), name, group, mean_abs_shap, mean_shap, rank. A group's
    importance is the mean of |sum of its contributions|, not the sum of its features' means.
    """
    rows = []
    for level, values, names, groups in (
        ("feature", explanation.values, FEATURE_NAMES, [f.group for f in FEATURES]),
        ("group", explanation.group_values(), list(GROUPS), list(GROUPS)),
    ):
        n = max(len(values), 1)
        part = pd.DataFrame({
            "level": level,
            "name": names,
            "group": groups,
            "mean_abs_shap": np.abs(values).sum(axis=0) / n,
            "mean_shap": values.sum(axis=0) / n,
        }).sort_values("mean_abs_shap", ascending=False, kind="stable")
        part["rank"] = np.arange(1, len(part) + 1)
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


# -- reasons ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """One reason group's contribution for one pupil: `feature` is the group's most contributing
    feature and `value` the pupil's value of it (None if unknown); `effect` is the group's summed
    contribution in log-odds; `text` the sentence shown to the team."""

    feature: str
    group: str
    value: float | None
    effect: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reasons_for(
    frame: pd.DataFrame,
    explanation: Explanation,
    language: str = "da",
    top: int = 3,
    context: Mapping[str, Any] | None = None,
    min_effect: float = 0.0,
) -> list[list[Reason]]:
    """Per row of `frame`, up to `top` reasons: the groups whose summed contribution raises the
    risk by more than `min_effect`, largest first.

    `context` gives the comparison shown in the sentences: per feature, the school's mean, either
    as {school_id: mean} or one number for every row. Without it, school means are computed from
    `frame` itself (per school and as-of date) - pass a frame of every pupil on roll then, not a
    short list, or pass `school_means(full_frame)`.
    """
    return _collect(frame, explanation, +1, language, top, context, min_effect)


def protective_for(
    frame: pd.DataFrame,
    explanation: Explanation,
    language: str = "da",
    top: int = 3,
    context: Mapping[str, Any] | None = None,
    min_effect: float = 0.0,
) -> list[list[Reason]]:
    """Per row, up to `top` groups that lower the risk (effect < -`min_effect`), most lowering
    first; `feature` is the group's most lowering feature. Same arguments as `reasons_for`."""
    return _collect(frame, explanation, -1, language, top, context, min_effect)


def reason_columns(reasons: Sequence[Sequence[Reason]], top: int = 3) -> pd.DataFrame:
    """The texts as columns reason_1 ... reason_<top> ("" where a pupil has fewer reasons)."""
    return pd.DataFrame({
        f"reason_{k + 1}": [r[k].text if len(r) > k else "" for r in reasons] for k in range(top)
    })


def school_means(
    frame: pd.DataFrame, features: Sequence[str] | None = None
) -> dict[str, dict[Hashable, float]]:
    """Per feature, {school_id: mean over the school's pupils} (unknown values skipped): the
    `context` of `reasons_for`. Compute it from every pupil on roll at one as-of date."""
    if features is None:
        features = [f.name for f in FEATURES if f.name in frame.columns]
    names = list(features)
    means = frame.groupby("school_id")[names].mean()
    return {name: means[name].dropna().to_dict() for name in names}


def _select(explanation: Explanation, sign: int, top: int, min_effect: float):
    """Vectorised choice of (row, group, feature, effect) for every shown reason, in order."""
    signed = sign * explanation.group_values()
    n = len(signed)
    top = max(0, min(top, signed.shape[1]))
    eligible = np.where(signed > min_effect, signed, -np.inf)
    order = np.argsort(-eligible, axis=1, kind="stable")[:, :top]
    chosen = np.take_along_axis(eligible, order, axis=1)
    keep = np.isfinite(chosen)  # ranks sorted, so a row's reasons are a prefix
    rows = np.repeat(np.arange(n), top).reshape(n, top)[keep]
    groups = order[keep]
    effects = sign * chosen[keep]
    # The most contributing feature of each group in its direction, for all rows at once.
    best = np.empty((n, len(GROUPS)), dtype=np.intp)
    signed_values = sign * explanation.values
    for g, cols in enumerate(_GROUP_COLUMNS):
        best[:, g] = cols[np.argmax(signed_values[:, cols], axis=1)]
    features = best[rows, groups]
    return rows, groups, features, effects


def _collect(frame: pd.DataFrame, explanation: Explanation, sign: int, language: str, top: int,
             context: Mapping[str, Any] | None, min_effect: float) -> list[list[Reason]]:
    _check_language(language)
    if len(frame) != len(explanation):
        raise ValueError(f"frame has {len(frame)} rows, the explanation {len(explanation)}")
    rows, groups, features, effects = _select(explanation, sign, top, min_effect)
    texts = np.empty(len(rows), dtype=object)
    values = np.empty(len(rows), dtype=np.float64)
    means = _comparisons(frame, {FEATURES[i].name for i in np.unique(features)
                                 if _template(FEATURES[i].name).compare}, context)
    for i in np.unique(features):
        name = FEATURES[i].name
        at = np.flatnonzero(features == i)
        pupil_rows = rows[at]
        values[at] = _column(frame, name)[pupil_rows]
        needs = {need: _column(frame, need)[pupil_rows] for need in _template(name).needs}
        comparison = means[name][pupil_rows] if name in means else None
        texts[at] = render(name, values[at], language, comparison, needs)
    out: list[list[Reason]] = [[] for _ in range(len(frame))]
    names = [FEATURES[i].name for i in features.tolist()]
    group_names = [GROUPS[g] for g in groups.tolist()]
    shown = [None if math.isnan(v) else v for v in values.tolist()]
    for row, name, group, value, effect, text in zip(
        rows.tolist(), names, group_names, shown, effects.tolist(), texts.tolist(), strict=True
    ):
        out[row].append(Reason(name, group, value, effect, text))
    return out


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return frame[name].to_numpy(np.float64, na_value=np.nan)


def _comparisons(
    frame: pd.DataFrame, names: set[str], context: Mapping[str, Any] | None
) -> dict[str, np.ndarray]:
    """Per feature, the comparison value of each row (NaN where none)."""
    if not names:
        return {}
    if context is not None:
        out = {}
        school = (frame["school_id"] if "school_id" in frame.columns
                  else pd.Series(np.nan, index=frame.index))
        for name in names:
            given = context.get(name)
            if given is None:
                out[name] = np.full(len(frame), np.nan)
            elif isinstance(given, Mapping):
                out[name] = school.map(given).to_numpy(np.float64, na_value=np.nan)
            else:
                out[name] = np.full(len(frame), float(given))
        return out
    if "school_id" not in frame.columns:
        return {}
    keys = ["school_id"] + (["as_of"] if "as_of" in frame.columns else [])
    cols = [n for n in sorted(names) if n in frame.columns]
    means = frame[keys + cols].groupby(keys, sort=False)[cols].transform("mean")
    return {name: means[name].to_numpy(np.float64, na_value=np.nan) for name in cols}


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")


# -- sentences ------------------------------------------------------------------------------


def _round_half_up(x: float, decimals: int = 0) -> float:
    scale = 10.0**decimals
    return math.copysign(math.floor(abs(x) * scale + 0.5) / scale, x)


def _num(x: float, lang: str, decimals: int = 1) -> str:
    """A whole number when it is one at the shown precision, else `decimals` decimals with the
    language's decimal separator (a comma in Danish)."""
    r = _round_half_up(x, decimals)
    text = f"{int(r)}" if r == int(r) else f"{r:.{decimals}f}"
    return text.replace(".", ",") if lang == "da" else text


def _pct(x: float, lang: str) -> str:
    """A share in whole percents: "12 %" (da), "12%" (en); a small non-zero share is "under 1"."""
    p = int(_round_half_up(100 * x))
    if p == 0 and x > 0:
        return "under 1 %" if lang == "da" else "under 1%"
    return f"{p} %" if lang == "da" else f"{p}%"


def _plural(x: float, lang: str, da: tuple[str, str], en: tuple[str, str]) -> str:
    one, many = da if lang == "da" else en
    return f"{_num(x, lang)} {one if _round_half_up(x, 1) == 1 else many}"


def _days(x: float, lang: str) -> str:
    return _plural(x, lang, ("dag", "dage"), ("day", "days"))


def _school_days(x: float, lang: str) -> str:
    return _plural(x, lang, ("skoledag", "skoledage"), ("school day", "school days"))


def _weeks(x: float, lang: str) -> str:
    return _plural(x, lang, ("uge", "uger"), ("week", "weeks"))


def _score(x: float, lang: str) -> str:
    """A survey score with one decimal: "3,2" (da), "3.2" (en)."""
    text = f"{_round_half_up(x, 1):.1f}"
    return text.replace(".", ",") if lang == "da" else text


def _pp(x: float, lang: str) -> str:
    """A difference of shares in percentage points, without sign."""
    return _plural(100 * abs(x), lang, ("procentpoint", "procentpoint"),
                   ("percentage point", "percentage points"))


def _vs(mean: float, lang: str, fmt: Callable[[float, str], str]) -> str:
    """' (skolens gennemsnit 2 %)', or '' when there is no comparison."""
    if mean is None or not math.isfinite(mean):
        return ""
    school = "skolens gennemsnit" if lang == "da" else "school average"
    return f" ({school} {fmt(mean, lang)})"


def _label(feature: Feature, lang: str, strip: bool = True) -> str:
    """The registry's description, by default without a trailing parenthesis such as
    "(andel af skoledage)"."""
    text = feature.da if lang == "da" else feature.en
    return re.sub(r"\s*\([^)]*\)$", "", text) if strip else text


Sentence = str | Callable[..., str]


@dataclass(frozen=True)
class Template:
    """How one feature becomes a sentence, in Danish and English.

    A sentence is either a format string with `{value}` (the value shown by `fmt`) and `{vs}`
    (the school comparison, or ""), or a function of (value, comparison, *needs) for wording
    that depends on the value. Values and needs reaching a sentence are known (finite); the
    comparison may be NaN. `needs` are other features of the same pupil the sentence reads;
    `compare` asks for the school mean of the feature.
    """

    da: Sentence
    en: Sentence
    fmt: Callable[[float, str], str] = _num
    compare: bool = False
    vs_fmt: Callable[[float, str], str] | None = None  # the comparison's format, if not `fmt`
    needs: tuple[str, ...] = ()
    unknown_da: str | None = None  # the sentence when the value is unknown
    unknown_en: str | None = None

    def text(self, language: str, value: float, comparison: float, *needs: float) -> str:
        sentence = self.da if language == "da" else self.en
        if callable(sentence):
            return sentence(value, comparison, *needs)
        vs = _vs(comparison, language, self.vs_fmt or self.fmt) if self.compare else ""
        return sentence.format(value=self.fmt(value, language), vs=vs)


def _yes_no(x: float, lang: str) -> str:
    return ("ja" if x >= 0.5 else "nej") if lang == "da" else ("yes" if x >= 0.5 else "no")


def _signed(x: float, lang: str) -> str:
    return ("+" if x > 0 else "") + _num(x, lang, 2)


# How a value of each unit is shown when no specific template exists.
_UNIT_FORMAT: dict[str, Callable[[float, str], str]] = {
    "share": _pct, "days": _days, "flag": _yes_no, "difference": _signed, "score": _score,
    "grade": lambda x, lang: _num(x, lang, 0),
}


def _generic(feature: Feature) -> Template:
    """A sentence from the registry alone: description, value in its unit, school mean."""
    # A share or a day count says its unit itself; other descriptions keep theirs, e.g. "(1-5)".
    strip = feature.unit in ("share", "days", "flag")
    return Template(
        _label(feature, "da", strip).replace("{", "{{").replace("}", "}}") + ": {value}{vs}",
        _label(feature, "en", strip).replace("{", "{{").replace("}", "}}") + ": {value}{vs}",
        fmt=_UNIT_FORMAT.get(feature.unit, _num),
        compare=feature.unit not in ("flag", "grade", "difference"),
    )


def _rate_templates() -> dict[str, Template]:
    out = {}
    for cat in CATEGORY_DA:
        for win in WINDOWS:
            out[f"{cat}_rate_{win}"] = Template(
                f"{CATEGORY_DA[cat]} {WINDOW_DA[win]}: {{value}}{{vs}}",
                f"{CATEGORY_EN[cat]} {WINDOW_EN[win]}: {{value}}{{vs}}",
                fmt=_pct, compare=True)
        if f"{cat}_rate_year" not in FEATURE_BY_NAME:
            continue
        out[f"{cat}_rate_year"] = Template(
            f"{CATEGORY_DA[cat]} i skoleåret indtil nu: {{value}}{{vs}}",
            f"{CATEGORY_EN[cat]} this school year so far: {{value}}{{vs}}",
            fmt=_pct, compare=True)
    return out


def _up_down(shown: float, lang: str, words: dict[str, tuple[str, str, str]]) -> str:
    """The word for up / down / unchanged, judged on the difference as it is shown."""
    up, down, same = words[lang]
    return up if shown > 0 else down if shown < 0 else same


_RISING = {"da": ("Stigende fravær", "Faldende fravær", "Uændret fravær"),
           "en": ("Rising absence", "Falling absence", "Unchanged absence")}
_VS_LAST_YEAR = {
    "da": ("Mere fravær end sidste år", "Mindre fravær end sidste år",
           "Samme fravær som sidste år"),
    "en": ("More absence than last year", "Less absence than last year",
           "Same absence as last year"),
}


def _shown_difference(recent: float, before: float) -> float:
    return _round_half_up(100 * recent) - _round_half_up(100 * before)


def _recent_vs_before(lang: str, words: dict, recent_da: str, before_da: str, recent_en: str,
                      before_en: str) -> Callable[..., str]:
    """'<rising/falling>: X % <recent window> against Y % <earlier window>', where the feature's
    value is the difference recent - before."""
    def text(v: float, m: float, recent: float) -> str:
        before = recent - v
        head = _up_down(_shown_difference(recent, before), lang, words)
        if lang == "da":
            return f"{head}: {_pct(recent, lang)} {recent_da} mod {_pct(before, lang)} {before_da}"
        return f"{head}: {_pct(recent, lang)} {recent_en} against {_pct(before, lang)} {before_en}"
    return text


def _trend_4w(lang: str) -> Callable[..., str]:
    return _recent_vs_before(lang, _RISING, "de sidste 4 skoleuger", "i de 8 skoleuger før",
                             "over the last 4 school weeks", "in the 8 school weeks before")


def _slope_8w(lang: str) -> Callable[..., str]:
    def text(v: float, m: float) -> str:
        shown = _round_half_up(100 * v, 1)
        if shown == 0:
            return ("Stabilt fravær de sidste 8 skoleuger" if lang == "da"
                    else "Steady absence over the last 8 school weeks")
        head = _up_down(shown, lang, _RISING)
        if lang == "da":
            more = "mere" if shown > 0 else "mindre"
            return f"{head}: ca. {_pp(v, lang)} {more} hver uge de sidste 8 skoleuger"
        more = "more" if shown > 0 else "less"
        return f"{head}: about {_pp(v, lang)} {more} each week over the last 8 school weeks"
    return text


def _change_vs_last_year(lang: str) -> Callable[..., str]:
    return _recent_vs_before(lang, _VS_LAST_YEAR, "de sidste 12 skoleuger",
                             "i samme periode sidste år", "over the last 12 school weeks",
                             "in the same weeks last year")


# Monday and Friday are 2 of 5 weekdays; "mostly" when they hold clearly more than that share.
MOSTLY_MONDAY_FRIDAY = 0.6


def _monday_friday(lang: str) -> Callable[..., str]:
    def text(v: float, m: float, rate_12w: float) -> str:
        # Absent days over 12 weeks from the rate: exact for a pupil registered all 60 days, too
        # many for one registered fewer, so "mostly" is then said less often, never wrongly.
        mostly = v >= 2 and v >= MOSTLY_MONDAY_FRIDAY * rate_12w * 60
        if lang == "da":
            head = "Fravær især mandage og fredage" if mostly else "Fravær på mandage og fredage"
            return f"{head}: {_days(v, lang)} de sidste 12 skoleuger{_vs(m, lang, _days)}"
        head = ("Absence mostly on Mondays and Fridays" if mostly
                else "Absence on Mondays and Fridays")
        return f"{head}: {_days(v, lang)} over the last 12 school weeks{_vs(m, lang, _days)}"
    return text


def _concerns(lang: str, about: str, when: str) -> Callable[..., str]:
    """ "2 bekymringer om trivsel de sidste 180 dage", "Ingen bekymringer ..." """
    one, many, none = (("bekymring", "bekymringer", "Ingen bekymringer") if lang == "da"
                       else ("concern", "concerns", "No concerns"))

    def text(v: float, m: float) -> str:
        n = int(_round_half_up(v))
        head = none if n == 0 else f"{n} {one if n == 1 else many}"
        return f"{head}{about} {when}"
    return text


def _concern_template(about_da: str, about_en: str, when_da: str, when_en: str) -> Template:
    return Template(_concerns("da", about_da, when_da), _concerns("en", about_en, when_en))


def _severity(lang: str) -> Callable[..., str]:
    def text(v: float, m: float) -> str:
        if _round_half_up(v) < 1:
            return ("Ingen bekymringer de sidste 90 dage" if lang == "da"
                    else "No concerns over the last 90 days")
        if lang == "da":
            return f"Alvorligste bekymring de sidste 90 dage: niveau {_num(v, lang)} af 3"
        return f"Most serious concern over the last 90 days: level {_num(v, lang)} of 3"
    return text


def _wellbeing(da: str, en: str) -> Template:
    return Template(f"{da}: {{value}} af 5{{vs}}", f"{en}: {{value}} of 5{{vs}}",
                    fmt=_score, compare=True)


def _wellbeing_change(lang: str) -> Callable[..., str]:
    def text(v: float, m: float) -> str:
        shown = _round_half_up(v, 1)
        size = _score(abs(v), lang)
        if lang == "da":
            if shown == 0:
                return "Klassens trivsel er uændret siden forrige måling"
            way = "steget" if shown > 0 else "faldet"
            return f"Klassens trivsel er {way} {size} point siden forrige måling"
        if shown == 0:
            return "The class's wellbeing is unchanged since the previous survey"
        way = "risen" if shown > 0 else "fallen"
        return f"The class's wellbeing has {way} {size} points since the previous survey"
    return text


def _grade(lang: str) -> Callable[..., str]:
    def text(v: float, m: float) -> str:
        g = int(_round_half_up(v))
        if lang == "da":
            return "Går i børnehaveklasse" if g == 0 else f"Går i {g}. klasse"
        return "In grade 0 (reception class)" if g == 0 else f"In grade {g}"
    return text


def _current_spell(lang: str) -> Callable[..., str]:
    def text(v: float, m: float) -> str:
        n = _round_half_up(v, 1)
        if lang == "da":
            if n <= 0:
                return "Ikke fraværende på den seneste skoledag"
            if n == 1:
                return "Fraværende på den seneste skoledag"
            return f"Fraværende de seneste {_num(v, lang)} skoledage i træk"
        if n <= 0:
            return "Not absent on the latest school day"
        if n == 1:
            return "Absent on the latest school day"
        return f"Absent on the latest {_num(v, lang)} school days in a row"
    return text


def _flag(yes_da: str, no_da: str, yes_en: str, no_en: str) -> Template:
    return Template(lambda v, m: yes_da if v >= 0.5 else no_da,
                    lambda v, m: yes_en if v >= 0.5 else no_en)


TEMPLATES: dict[str, Template] = {
    **_rate_templates(),
    "total_rate_last_year": Template(
        "Fravær sidste skoleår: {value}{vs}",
        "Absence last school year: {value}{vs}", fmt=_pct, compare=True),
    "unauthorised_rate_last_year": Template(
        "Ulovligt fravær sidste skoleår: {value}{vs}",
        "Unauthorised absence last school year: {value}{vs}", fmt=_pct, compare=True),
    "trend_4w": Template(_trend_4w("da"), _trend_4w("en"), needs=("total_rate_4w",)),
    "slope_8w": Template(_slope_8w("da"), _slope_8w("en")),
    "change_vs_last_year": Template(_change_vs_last_year("da"), _change_vs_last_year("en"),
                                    needs=("total_rate_12w",)),
    "monday_friday_days_12w": Template(_monday_friday("da"), _monday_friday("en"),
                                       compare=True, needs=("total_rate_12w",)),
    "after_break_days_year": Template(
        "Fravær på første skoledag efter ferier og fridage: {value} i skoleåret{vs}",
        "Absence on the first school day after holidays and breaks: {value} this school year{vs}",
        fmt=_days, compare=True),
    "same_weekday_days_12w": Template(
        "Fravær på samme ugedag: {value} de sidste 12 skoleuger{vs}",
        "Absence on the same weekday: {value} over the last 12 school weeks{vs}",
        fmt=_days, compare=True),
    "weeks_with_absence_12w": Template(
        "Fravær i {value} af de sidste 12 skoleuger{vs}",
        "Absent in {value} of the last 12 school weeks{vs}", compare=True, vs_fmt=_weeks),
    "longest_spell_12w": Template(
        "Længste fraværsperiode de sidste 12 skoleuger: {value}{vs}",
        "Longest absence spell over the last 12 school weeks: {value}{vs}",
        fmt=_school_days, compare=True),
    "current_spell": Template(_current_spell("da"), _current_spell("en")),
    "partial_days_12w": Template(
        "Sent mødt eller gået tidligt: {value} de sidste 12 skoleuger{vs}",
        "Late or left early: {value} over the last 12 school weeks{vs}", fmt=_days, compare=True),
    "unauthorised_rate_quarter": Template(
        "Ulovligt fravær i dette kvartal indtil nu: {value}{vs}",
        "Unauthorised absence this quarter so far: {value}{vs}", fmt=_pct, compare=True),
    "unauthorised_rate_last_quarter": Template(
        "Ulovligt fravær i forrige kvartal: {value}{vs}",
        "Unauthorised absence last quarter: {value}{vs}", fmt=_pct, compare=True),
    "concerns_90d": _concern_template("", "", "de sidste 90 dage", "over the last 90 days"),
    "concerns_year": _concern_template("", "", "i dette skoleår", "this school year"),
    "concern_wellbeing_180d": _concern_template(" om trivsel", " about wellbeing",
                                                "de sidste 180 dage", "over the last 180 days"),
    "concern_max_severity_90d": Template(_severity("da"), _severity("en")),
    "days_since_concern": Template(
        "Seneste bekymring for {value} siden", "Latest concern {value} ago", fmt=_days,
        unknown_da="Ingen registrerede bekymringer", unknown_en="No concerns recorded"),
    "class_wellbeing_social": _wellbeing("Klassens sociale trivsel",
                                         "The class's social wellbeing"),
    "class_wellbeing_academic": _wellbeing("Klassens faglige trivsel",
                                           "The class's academic wellbeing"),
    "class_wellbeing_calm_order": _wellbeing("Ro og orden i klassen",
                                             "Calm and order in the class"),
    "class_wellbeing_support": _wellbeing("Støtte og inspiration i klassen",
                                          "Support and inspiration in the class"),
    "class_wellbeing_change": Template(_wellbeing_change("da"), _wellbeing_change("en")),
    "grade": Template(_grade("da"), _grade("en")),
    "special_needs": _flag("Modtager specialpædagogisk bistand",
                           "Modtager ikke specialpædagogisk bistand",
                           "Receives special educational support",
                           "Does not receive special educational support"),
    "new_school": _flag("Ny skole i dette skoleår", "Intet skoleskift i dette skoleår",
                        "New school this school year", "No change of school this school year"),
    "class_rate_12w": Template(
        "Klassekammeraternes fravær de sidste 12 skoleuger: {value}{vs}",
        "Classmates' absence over the last 12 school weeks: {value}{vs}", fmt=_pct, compare=True),
    # The school's own level: a school mean of it would compare the school with itself.
    "school_rate_12w": Template(
        "Fravær blandt skolens øvrige elever de sidste 12 skoleuger: {value}",
        "Absence among the school's other pupils over the last 12 school weeks: {value}",
        fmt=_pct),
}
_GENERIC: dict[str, Template] = {}


def _template(name: str, generic: bool = False) -> Template:
    """The feature's specific template, else (or with `generic`) the registry-driven one."""
    if not generic and name in TEMPLATES:
        return TEMPLATES[name]
    if name not in _GENERIC:
        _GENERIC[name] = _generic(FEATURE_BY_NAME[name])
    return _GENERIC[name]


def render(
    feature: str,
    values: Sequence[float] | np.ndarray,
    language: str = "da",
    comparison: Sequence[float] | np.ndarray | None = None,
    needs: Mapping[str, Sequence[float] | np.ndarray] | None = None,
    generic: bool = False,
) -> list[str]:
    """The sentence for each value of one feature. `comparison` holds school means (NaN: none);
    `needs` the other features its template reads (`TEMPLATES[feature].needs`). An unknown value
    says so ("ukendt"/"unknown"); with `generic`, the registry-driven sentence is used even
    where a specific template exists."""
    _check_language(language)
    template = _template(feature, generic)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    n = len(values)
    comparison = (np.full(n, np.nan) if comparison is None
                  else np.asarray(comparison, dtype=np.float64).reshape(-1))
    given = needs or {}
    extra = [np.asarray(given.get(name, np.full(n, np.nan)), dtype=np.float64).reshape(-1)
             for name in template.needs]
    unknown = (template.unknown_da if language == "da" else template.unknown_en) or (
        f"{_label(FEATURE_BY_NAME[feature], language)}: {UNKNOWN[language]}")
    out = []
    for k, v in enumerate(values.tolist()):
        args = [e[k] for e in extra]
        if not math.isfinite(v):
            out.append(unknown)
        elif all(math.isfinite(a) for a in args):
            out.append(template.text(language, v, comparison[k], *args))
        else:  # the template needs what is unknown here; the registry's sentence does not
            out.append(_template(feature, True).text(language, v, comparison[k]))
    return out


# -- plots for analysts -----------------------------------------------------------------------


def _as_matrix(X: np.ndarray | pd.DataFrame) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        return feature_matrix(X)
    return np.asarray(X, dtype=np.float64)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # No pyplot: no global backend or figure state, safe inside the API and in threads.
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def summary_plot(explanation: Explanation, X: np.ndarray | pd.DataFrame, path: str | Path,
                 max_display: int = 15, seed: int = 0) -> Path:
    """A beeswarm of the `max_display` most important features (mean |SHAP|): one dot per row at
    its contribution, coloured by the feature's value (percentile within the feature; grey =
    unknown). Written as PNG to `path`."""
    X = _as_matrix(X)
    order = np.argsort(-np.abs(explanation.values).mean(axis=0), kind="stable")[:max_display]
    rng = np.random.default_rng(seed)
    fig = _figure(8, 0.45 * len(order) + 1.5)
    ax = fig.add_subplot()
    import matplotlib as mpl

    cmap = mpl.colormaps["coolwarm"]
    for pos, j in enumerate(order[::-1]):
        shap_j, x_j = explanation.values[:, j], X[:, j]
        known = np.isfinite(x_j)
        colour = np.full(len(x_j), 0.5)
        if known.any():
            ranks = pd.Series(x_j[known]).rank(pct=True).to_numpy()
            colour[known] = ranks
        jitter = rng.uniform(-0.3, 0.3, len(shap_j))
        ax.scatter(shap_j[~known], pos + jitter[~known], s=6, c="0.6", alpha=0.6, linewidths=0)
        ax.scatter(shap_j[known], pos + jitter[known], s=6, c=cmap(colour[known]), alpha=0.7,
                   linewidths=0)
    ax.set_yticks(range(len(order)), [FEATURE_NAMES[j] for j in order[::-1]], fontsize=8)
    ax.axvline(0, color="0.3", linewidth=0.8)
    # Danish first, English in brackets: the analysts' model page shows these plots.
    ax.set_xlabel("SHAP-værdi, bidrag til log-odds (SHAP value, contribution to log-odds)")
    ax.set_title(f"Målenes bidrag, {len(explanation)} rækker: blå = lav værdi, rød = høj, "
                 "grå = ukendt (feature contributions)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def importance_plot(explanation: Explanation, path: str | Path, level: str = "group",
                    max_display: int = 20) -> Path:
    """A bar chart of mean |SHAP| per reason group (or per feature, `level="feature"`) as PNG."""
    imp = global_importance(explanation)
    imp = imp.loc[imp["level"] == level].head(max_display)
    fig = _figure(7, 0.35 * len(imp) + 1.2)
    ax = fig.add_subplot()
    ax.barh(imp["name"][::-1], imp["mean_abs_shap"][::-1], color="#4c72b0")
    ax.set_xlabel("gennemsnitlig |SHAP| (mean |SHAP|, log-odds)")
    ax.set_title(("Betydning pr. begrundelse" if level == "group" else "Betydning pr. mål")
                 + f" (importance per {level})", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def dependence_plot(explanation: Explanation, X: np.ndarray | pd.DataFrame, feature: str,
                    path: str | Path, color_by: str | None = None) -> Path:
    """Contribution of `feature` against its value, one dot per row, optionally coloured by
    another feature's value; rows with an unknown value are counted in the title. PNG to `path`."""
    X = _as_matrix(X)
    j = FEATURE_NAMES.index(feature)
    x, y = X[:, j], explanation.values[:, j]
    known = np.isfinite(x)
    fig = _figure(6.5, 4.5)
    ax = fig.add_subplot()
    if color_by is not None:
        c = X[known, FEATURE_NAMES.index(color_by)]
        points = ax.scatter(x[known], y[known], s=8, c=c, cmap="coolwarm", alpha=0.7, linewidths=0)
        fig.colorbar(points, ax=ax, label=color_by)
    else:
        ax.scatter(x[known], y[known], s=8, color="#4c72b0", alpha=0.6, linewidths=0)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xlabel(f"{feature} ({FEATURE_BY_NAME[feature].unit})")
    ax.set_ylabel("SHAP-værdi (SHAP value, log-odds)")
    ax.set_title(f"{feature}: {int((~known).sum())} af {len(x)} rækker ukendte "
                 "(rows unknown)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    return path
