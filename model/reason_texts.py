"""Reason texts: the sentence for each feature, in Danish and English.

Every feature of the registry renders in both languages: a specific template in `TEMPLATES`
where one is written, otherwise a sentence driven by the registry's unit and description
(`Feature.unit`, `Feature.da`/`Feature.en`). `render` turns values of one feature into its
sentences; model.reasons chooses which features a pupil's reasons talk about.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model.feature_registry import (
    CATEGORY_DA,
    CATEGORY_EN,
    FEATURE_BY_NAME,
    WINDOW_DA,
    WINDOW_EN,
    WINDOWS,
    Feature,
)

LANGUAGES = ("da", "en")
UNKNOWN = {"da": "ukendt", "en": "unknown"}


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")


def _round_half_up(x: float, decimals: int = 0) -> float:
    scale = 10.0**decimals
    return math.copysign(math.floor(abs(x) * scale + 0.5) / scale, x)


def _num(x: float, lang: str, decimals: int = 1) -> str:
    """A whole number when it is one at the shown precision, else `decimals` decimals with the
    language's decimal separator (a comma in Danish).
    """
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
    "(andel af skoledage)".
    """
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
        """The sentence for one value in `language`, with its comparison and the values it needs."""
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
    value is the difference recent - before.
    """
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
    """Concern counts: "2 bekymringer om trivsel de sidste 180 dage", "Ingen bekymringer ..."."""
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
    "total_rate_long": Template(
        "Samlet fravær de sidste to skoleår: omkring {value}{vs}",
        "Total absence over the last two school years: about {value}{vs}", fmt=_pct, compare=True),
    "authorised_rate_long": Template(
        "Ekstraordinær frihed de sidste to skoleår: omkring {value}{vs}",
        "Authorised leave over the last two school years: about {value}{vs}", fmt=_pct, compare=True),
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
    # never shown (feature_registry.NOT_A_REASON): the same for every pupil in a week
    "week_of_school_year": Template(
        "Skoleuger gået af skoleåret: {value}", "School weeks gone of the school year: {value}"),
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
    """The sentence for each value of one feature.

    An unknown value says so ("ukendt"/"unknown"); where the template needs a value that is
    unknown, the registry-driven sentence is used.

    Parameters
    ----------
    feature : str
        A feature of the registry.
    values : sequence of float
        The pupils' values of it (NaN: unknown).
    language : {"da", "en"}, default="da"
        The language of the sentences.
    comparison : sequence of float, optional
        The school means shown beside the values (NaN: none).
    needs : mapping of str to sequence of float, optional
        The other features its template reads (`TEMPLATES[feature].needs`).
    generic : bool, default=False
        Use the registry-driven sentence even where a specific template exists.

    Returns
    -------
    list of str
        One sentence per value.
    """
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
