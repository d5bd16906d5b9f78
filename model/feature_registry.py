"""The feature registry: the one place a model input is described.

Each `Feature` has a name, a reason group, a unit, the direction in which it raises risk (which
becomes the model's monotonic constraint), and a plain Danish and English description. The
builder (model.features), the estimator, the reasons and the docs all read it. Every feature
that an added absence day can change rises with it and carries direction +1, so more recent
absence can never lower a pupil's risk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.register import CATEGORIES

WEEK = 5  # school days in a school week
WINDOWS = {"2w": 2 * WEEK, "4w": 4 * WEEK, "8w": 8 * WEEK, "12w": 12 * WEEK}
CATEGORY_DA = {"total": "Samlet fravær", "unauthorised": "Ulovligt fravær",
               "illness": "Sygefravær", "authorised": "Ekstraordinær frihed"}
CATEGORY_EN = {"total": "Total absence", "unauthorised": "Unauthorised absence",
               "illness": "Illness absence", "authorised": "Authorised leave"}
WINDOW_DA = {"2w": "de sidste 2 skoleuger", "4w": "de sidste 4 skoleuger",
             "8w": "de sidste 8 skoleuger", "12w": "de sidste 12 skoleuger"}
WINDOW_EN = {"2w": "over the last 2 school weeks", "4w": "over the last 4 school weeks",
             "8w": "over the last 8 school weeks", "12w": "over the last 12 school weeks"}


@dataclass(frozen=True)
class Feature:
    """One model input, as the builder, the estimator, the reasons and the docs read it.

    Attributes
    ----------
    name : str
        The feature's column name, e.g. "total_rate_4w".
    group : str
        The idea a reason talks about; contributions are summed per group.
    unit : str
        share, days, count, weeks, grade, flag, score or difference: how a value is shown.
    direction : int
        +1: a larger value raises the risk (the model's monotonic constraint); -1: lowers it;
        0: learned freely.
    da, en : str
        A plain description in Danish and English.
    """

    name: str
    group: str
    unit: str  # share | days | count | weeks | grade | flag | score | difference
    direction: int
    da: str
    en: str


def _absence_features() -> list[Feature]:
    out = []
    for cat in CATEGORIES:
        for win in WINDOWS:
            out.append(Feature(
                f"{cat}_rate_{win}", f"{cat}_recent", "share", +1,
                f"{CATEGORY_DA[cat]} {WINDOW_DA[win]} (andel af skoledage)",
                f"{CATEGORY_EN[cat]} {WINDOW_EN[win]} (share of school days)",
            ))
    return out


FEATURES: tuple[Feature, ...] = (
    *_absence_features(),
    Feature("total_rate_year", "total_year", "share", +1,
            "Samlet fravær i skoleåret indtil nu", "Total absence this school year so far"),
    Feature("unauthorised_rate_year", "unauthorised_recent", "share", +1,
            "Ulovligt fravær i skoleåret indtil nu", "Unauthorised absence this school year so far"),
    Feature("illness_rate_year", "illness_recent", "share", +1,
            "Sygefravær i skoleåret indtil nu", "Illness absence this school year so far"),
    Feature("total_rate_40w", "long_term", "share", +1,
            "Samlet fravær de sidste 40 skoleuger (et skoleår)",
            "Total absence over the last 40 school weeks (a school year)"),
    Feature("unauthorised_rate_40w", "long_term", "share", +1,
            "Ulovligt fravær de sidste 40 skoleuger", "Unauthorised absence over the last 40 school weeks"),
    Feature("illness_rate_40w", "long_term", "share", +1,
            "Sygefravær de sidste 40 skoleuger", "Illness absence over the last 40 school weeks"),
    Feature("total_rate_long", "long_term", "share", +1,
            "Samlet fravær de sidste to skoleår (udjævnet ved kort historik)",
            "Total absence over the last two school years (smoothed when the history is short)"),
    Feature("authorised_rate_long", "long_term", "share", +1,
            "Ekstraordinær frihed de sidste to skoleår (udjævnet ved kort historik)",
            "Authorised leave over the last two school years (smoothed when the history is short)"),
    Feature("total_rate_last_year", "last_year", "share", +1,
            "Samlet fravær sidste skoleår", "Total absence last school year"),
    Feature("unauthorised_rate_last_year", "last_year", "share", +1,
            "Ulovligt fravær sidste skoleår", "Unauthorised absence last school year"),
    Feature("trend_4w", "trend", "difference", +1,
            "Fravær de sidste 4 skoleuger minus fraværet i de 8 uger før",
            "Absence over the last 4 school weeks minus the 8 weeks before"),
    Feature("slope_8w", "trend", "difference", +1,
            "Hældning af det ugentlige fravær over 8 skoleuger (ændring pr. uge)",
            "Slope of weekly absence over 8 school weeks (change per week)"),
    Feature("change_vs_last_year", "trend", "difference", +1,
            "Fravær de sidste 12 skoleuger minus samme periode sidste år",
            "Absence over the last 12 school weeks minus the same weeks last year"),
    Feature("monday_friday_days_12w", "monday_friday", "days", +1,
            "Fraværsdage på mandage og fredage de sidste 12 skoleuger",
            "Days absent on Mondays and Fridays over the last 12 school weeks"),
    Feature("after_break_days_year", "after_break", "days", +1,
            "Fravær på første skoledag efter ferier og fridage i skoleåret",
            "Absence on the first school day after holidays and breaks this school year"),
    Feature("same_weekday_days_12w", "same_weekday", "days", +1,
            "Flest fraværsdage på én og samme ugedag de sidste 12 skoleuger",
            "Most days absent on one and the same weekday over the last 12 school weeks"),
    Feature("weeks_with_absence_12w", "spread", "weeks", +1,
            "Antal af de sidste 12 skoleuger med fravær", "Of the last 12 school weeks, weeks with absence"),
    Feature("longest_spell_12w", "spells", "days", +1,
            "Længste sammenhængende fravær de sidste 12 skoleuger (skoledage)",
            "Longest run of absence over the last 12 school weeks (school days)"),
    Feature("current_spell", "spells", "days", +1,
            "Igangværende sammenhængende fravær (skoledage)", "Current run of absence (school days)"),
    Feature("partial_days_12w", "partial_days", "days", +1,
            "Dage med delvist fravær (sent mødt, gået tidligt) de sidste 12 skoleuger",
            "Partial days (late arrival, left early) over the last 12 school weeks"),
    Feature("unauthorised_rate_quarter", "statutory", "share", +1,
            "Ulovligt fravær i kvartalet indtil nu (lovkrav: 10 % og 15 %)",
            "Unauthorised absence this quarter so far (statutory marks 10 % and 15 %)"),
    Feature("unauthorised_rate_last_quarter", "statutory", "share", +1,
            "Ulovligt fravær i forrige kvartal", "Unauthorised absence last quarter"),
    Feature("concerns_90d", "concerns", "count", +1,
            "Registrerede bekymringer de sidste 90 dage", "Recorded concerns over the last 90 days"),
    Feature("concerns_year", "concerns", "count", +1,
            "Registrerede bekymringer i skoleåret", "Recorded concerns this school year"),
    Feature("concern_wellbeing_180d", "concerns", "count", +1,
            "Bekymringer om trivsel, sociale forhold eller mobning de sidste 180 dage",
            "Concerns about wellbeing, social life or bullying over the last 180 days"),
    Feature("concern_max_severity_90d", "concerns", "score", +1,
            "Alvorligste bekymring de sidste 90 dage (1-3)",
            "Most serious concern over the last 90 days (1-3)"),
    Feature("days_since_concern", "concerns", "days", -1,
            "Dage siden seneste bekymring", "Days since the latest concern"),
    Feature("class_wellbeing_social", "class_wellbeing", "score", -1,
            "Klassens sociale trivsel (trivselsmåling, 1-5)", "The class's social wellbeing (survey, 1-5)"),
    Feature("class_wellbeing_academic", "class_wellbeing", "score", -1,
            "Klassens faglige trivsel (1-5)", "The class's academic wellbeing (1-5)"),
    Feature("class_wellbeing_calm_order", "class_wellbeing", "score", -1,
            "Ro og orden i klassen (1-5)", "Calm and order in the class (1-5)"),
    Feature("class_wellbeing_support", "class_wellbeing", "score", -1,
            "Støtte og inspiration i klassen (1-5)", "Support and inspiration in the class (1-5)"),
    Feature("class_wellbeing_change", "class_wellbeing", "difference", 0,
            "Ændring i klassens trivsel siden forrige måling",
            "Change in the class's wellbeing since the survey before"),
    Feature("grade", "grade", "grade", 0, "Klassetrin (0-10)", "Grade (0-10)"),
    Feature("special_needs", "special_needs", "flag", 0,
            "Modtager specialpædagogisk bistand", "Receives special educational support"),
    Feature("new_school", "school_change", "flag", 0,
            "Ny skole i år", "New school this year"),
    Feature("class_rate_12w", "context", "share", 0,
            "Klassekammeraternes fravær de sidste 12 skoleuger",
            "Classmates' absence over the last 12 school weeks"),
    Feature("school_rate_12w", "context", "share", 0,
            "Skolens øvrige elevers fravær de sidste 12 skoleuger",
            "Other pupils' absence at the school over the last 12 school weeks"),
    Feature("week_of_school_year", "season", "weeks", 0,
            "Skoleuger gået af skoleåret (årstiden)",
            "School weeks gone of the school year (the season)"),
)

# Groups that are inputs but never a reason about a pupil: the season is the same for every
# pupil in a week (it moves everyone's risk with the winter's illness ahead), so it is neither
# shown as a reason nor judged for drift (a week holds one value of it).
NOT_A_REASON = ("season",)

FEATURE_NAMES: list[str] = [f.name for f in FEATURES]
FEATURE_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
MONOTONIC_CST: list[int] = [f.direction for f in FEATURES]
# Not features, never inputs to the model: kept beside the features for evaluation and fairness.
KEY_COLUMNS = ["pupil_id", "as_of"]
# grade and special_needs are features and are read as group columns too.
META_COLUMNS = ["school_id", "class_id", "gender"]
# Excluded by design (domain.md, data minimisation): never add these as features.
EXCLUDED_BY_DESIGN = ("ethnicity", "parental education", "income", "social-services data",
                      "individual wellbeing answers", "free-text notes", "gender")


def feature_matrix(frame: pd.DataFrame, names: Sequence[str] = FEATURE_NAMES) -> np.ndarray:
    """The model's input matrix (float32) in registry order."""
    return frame[list(names)].to_numpy(np.float32, na_value=np.nan)
