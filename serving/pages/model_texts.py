"""The analysts' model page in words (issue 17, item 5): metric keys, rankers, gate verdicts,
groups and plots as a Danish (or English) reader says them, never as the keys MLflow stores.

Rules carry their plain names from model.rules (one place), features theirs from model.features;
gate lines are written from the structured `gate_results` (model.versions.Gate), so the Danish
page never shows the English line `ews train` printed.
"""

from __future__ import annotations

from collections.abc import Mapping

from model.registry import CHAMPION
from model.versions import Gate
from serving.pages.texts import number

CALIBRATION_WORDS = {
    "da": {"brier": "Brier-score (lavere er bedre)", "ece": "Kalibreringsfejl (ECE)",
           "ece_not_yet_concerning": "Kalibreringsfejl blandt elever, der endnu ikke er "
                                     "bekymrende (ECE)",
           "ece_max": "Største kalibreringsfejl i en testperiode (ECE)",
           "mean_risk": "Gennemsnitlig forudsagt risiko",
           "observed_rate": "Observeret andel med bekymrende fravær"},
    "en": {"brier": "Brier score (lower is better)", "ece": "Calibration error (ECE)",
           "ece_not_yet_concerning": "Calibration error among the not-yet-concerning (ECE)",
           "ece_max": "Largest calibration error in a test window (ECE)",
           "mean_risk": "Mean predicted risk", "observed_rate": "Observed share concerning"},
}
GROUPING_WORDS = {
    "da": {"gender": "Køn", "grade_band": "Klassetrin", "school_id": "Skole",
           "special_needs": "Specialundervisning"},
    "en": {"gender": "Gender", "grade_band": "Grade band", "school_id": "School",
           "special_needs": "Special needs"},
}
GROUP_WORDS = {
    "da": {"F": "piger", "M": "drenge", "unknown": "ukendt", "yes": "ja", "no": "nej"},
    "en": {"F": "girls", "M": "boys", "unknown": "unknown", "yes": "yes", "no": "no"},
}
FAIRNESS_METRIC_WORDS = {
    "da": {"selection_rate": "andel på listen", "precision": "præcision", "recall": "genfinding"},
    "en": {"selection_rate": "share listed", "precision": "precision", "recall": "recall"},
}
RATIO_WORDS = {"da": "{grouping}: {metric}, forhold mellem laveste og højeste gruppe",
               "en": "{grouping}: {metric}, ratio of the lowest to the highest group"}
PLOT_WORDS = {
    "da": {"calibration": "Kalibrering: forudsagt risiko mod observeret andel",
           "precision_at_k": "Præcision ved listelængde, modellen mod den bedste regel",
           "lead_time": "Varsling: uger på listen, før fraværet blev bekymrende",
           "shap_summary": "SHAP: hvert måls bidrag til risikoen",
           "shap_groups": "SHAP: betydning pr. begrundelse",
           "shap_dependence": "SHAP-afhængighed: {feature}"},
    "en": {"calibration": "Calibration: predicted risk against the observed share",
           "precision_at_k": "Precision at list length, the model against the best rule",
           "lead_time": "Lead time: weeks listed before the absence became concerning",
           "shap_summary": "SHAP: each measure's contribution to the risk",
           "shap_groups": "SHAP: importance per reason",
           "shap_dependence": "SHAP dependence: {feature}"},
}
RANKER_WORDS = {"da": {"model": "modellen", CHAMPION: "den nuværende champion",
                        "logistic_baseline": "logistisk regression (sammenligning)",
                        "oracle": "orakel (generatorens sande risiko)"},
                "en": {"model": "the model", CHAMPION: "the current champion",
                       "logistic_baseline": "logistic regression (baseline)",
                       "oracle": "oracle (the generator's true risk)"}}
FOLD_WORDS = {"da": {"autumn": "efterår", "winter": "vinter", "spring": "forår"},
              "en": {}}
VERDICT_WORDS = {"da": {True: "bestået", False: "ikke bestået", None: "ukendt"},
                 "en": {True: "passed", False: "not passed", None: "unknown"}}


def rule_or_model(name: str | None, language: str) -> str:
    """A ranker's plain name: the model, or an alarm-list rule by its Danish/English name."""
    from model.rules import rule_label

    if not name:
        return "–"
    if name in RANKER_WORDS[language]:
        return RANKER_WORDS[language][name]
    return rule_label(name, language)


def fold_word(name: str, language: str) -> str:
    return FOLD_WORDS[language].get(str(name), str(name))


def feature_label(name: str, language: str) -> str:
    """A feature's description from the feature registry (the code for an unknown one)."""
    from model.features import FEATURE_BY_NAME

    feature = FEATURE_BY_NAME.get(name)
    if feature is None:
        return name.replace("_", " ")
    return feature.da if language == "da" else feature.en


def _word(words: Mapping[str, str], key: str) -> str:
    """The word for a code, or the code itself with spaces for underscores."""
    return words.get(key, key.replace("_", " "))


def calibration_label(key: str, language: str) -> str:
    return _word(CALIBRATION_WORDS[language], key)


def fairness_label(key: str, language: str) -> str:
    """`grade_band.recall_ratio` -> "Klassetrin: genfinding, forhold mellem ..."."""
    grouping, _, metric = key.partition(".")
    metric = metric.removesuffix("_ratio")
    return RATIO_WORDS[language].format(
        grouping=grouping_word(grouping, language),
        metric=_word(FAIRNESS_METRIC_WORDS[language], metric))


def grouping_word(name: str, language: str) -> str:
    return _word(GROUPING_WORDS[language], name)


def group_word(name: str, language: str) -> str:
    return GROUP_WORDS[language].get(str(name), str(name))


def plot_caption(file_name: str, language: str) -> str:
    """The caption of a report plot from its file name (`shap_dependence_<feature>.png`)."""
    stem = file_name.removesuffix(".png")
    words = PLOT_WORDS[language]
    if stem.startswith("shap_dependence_"):
        return words["shap_dependence"].format(
            feature=feature_label(stem[len("shap_dependence_"):], language))
    return _word(words, stem)


def _n(value: float | None, language: str, decimals: int) -> str:
    return number(value, language, decimals)


_GATE_DA = {
    ("lift", True): "Slår den bedste regel: listens præcision er {value}× reglens (krav: mindst "
                    "{threshold}×)",
    ("lift", False): "Slår ikke den bedste regel nok: listens præcision er {value}× reglens "
                     "(krav: mindst {threshold}×)",
    ("calibration", True): "Kalibreringsfejlen {value} er inden for grænsen {threshold}",
    ("calibration", False): "Kalibreringsfejlen {value} er over grænsen {threshold}",
    (CHAMPION, True): "Mindst lige så god som den nuværende champion (præcision {value} mod "
                        "{threshold})",
    (CHAMPION, False): "Dårligere end den nuværende champion (præcision {value} mod "
                         "{threshold})",
}
_GATE_EN = {
    ("lift", True): "Beats the best rule: the list's precision is {value}x the rule's (gate: at "
                    "least {threshold}x)",
    ("lift", False): "Does not beat the best rule enough: the list's precision is {value}x the "
                     "rule's (gate: at least {threshold}x)",
    ("calibration", True): "Calibration error {value} within {threshold}",
    ("calibration", False): "Calibration error {value} exceeds {threshold}",
    (CHAMPION, True): "At least as good as the current champion (precision {value} against "
                        "{threshold})",
    (CHAMPION, False): "Worse than the current champion (precision {value} against "
                         "{threshold})",
}
_DECIMALS = {"lift": 2, "calibration": 3, CHAMPION: 3}


def gate_sentence(gate: Gate, language: str) -> str:
    """One gate verdict as a sentence. English mode keeps the line `ews train` wrote when there is
    one; Danish mode always writes its own, from the gate's kind, verdict and figures."""
    if language == "en" and gate.text:
        return gate.text
    templates = _GATE_DA if language == "da" else _GATE_EN
    template = templates.get((gate.gate, gate.passed))
    fold = ""
    if gate.fold:
        fold = f" (testperiode {gate.fold})" if language == "da" else f" (test window {gate.fold})"
    if template is None:
        verdict = VERDICT_WORDS[language][gate.passed]
        return (f"Andet godkendelseskrav: {verdict}{fold}" if language == "da"
                else f"Other gate: {verdict}{fold}")
    decimals = _DECIMALS.get(gate.gate, 2)
    return template.format(value=_n(gate.value, language, decimals),
                           threshold=_n(gate.threshold, language, decimals)) + fold



# -- the latest monitoring run in words (issue 17, item 5) ----------------------------------------
# `ews monitor` stores its warnings as English lines for the command line and MLflow; the page
# writes them in Danish from the stored rows themselves (PSI per column and scope, realised
# precision per ranker), so nothing a Danish analyst reads is left in English.

MAX_DRIFT_LINES = 5


def _where(scope: str, language: str) -> str:
    if scope == "all":
        return "i hele kommunen" if language == "da" else "in the whole municipality"
    return f"på skole {scope}" if language == "da" else f"at school {scope}"


def _get(monitoring, key: str):
    """A field of the monitoring run, given as a mapping or as an object."""
    if isinstance(monitoring, dict):
        return monitoring.get(key)
    return getattr(monitoring, key, None)


def _rows(items) -> list[dict]:
    return [r if isinstance(r, dict) else vars(r) for r in items or []]


def monitoring_lines(monitoring, language: str) -> list[str]:
    """The monitoring run's warnings: the stored lines in English, sentences in Danish."""
    monitoring = {k: _get(monitoring, k) for k in ("warnings", "psi", "precision", "status",
                                                     "needs_retraining", "model_version",
                                                     "precision_note")}
    if language != "da":
        return list(monitoring.get("warnings") or [])
    rows = [r for r in _rows(monitoring.get("psi")) if not r.get("judged")]
    lines = []
    alarms = [r for r in rows if r.get("level") == "alarm"]
    for r in alarms[:MAX_DRIFT_LINES]:
        basis = "samme måned" if r.get("basis") == "month" else "hele træningsvinduet"
        lines.append(f"Drift: {feature_label(r['name'], language)} {_where(r['scope'], language)} "
                     f"har PSI {_n(r.get('psi'), language, 2)} (over grænsen; sammenlignet med "
                     f"træningsvinduets {basis})")
    if len(alarms) > MAX_DRIFT_LINES:
        lines.append(f"Drift: og {len(alarms) - MAX_DRIFT_LINES} kolonner mere over grænsen")
    shifted = [r for r in rows if r.get("level") == "warning"]
    if shifted:
        names = ", ".join(f"{feature_label(r['name'], language)} ({_where(r['scope'], language)})"
                          for r in shifted[:4])
        more = ", …" if len(shifted) > 4 else ""
        lines.append(f"Forskydning: {len(shifted)} kolonner over advarselsgrænsen ({names}{more})")
    note = precision_note(monitoring, language)
    if note and monitoring.get("status") != "ok" and any(
            w.startswith("precision:") for w in monitoring.get("warnings") or []):
        lines.append(f"Præcision: {note}")
    if monitoring.get("needs_retraining"):
        lines.append(f"Modelversion {monitoring.get('model_version')} skal gentrænes "
                     f"({monitoring['needs_retraining']})")
    return lines


def precision_note(monitoring, language: str) -> str:
    """The realised precision in a sentence: the stored note in English; in Danish from the
    rows (the model against the best rule at the same list length)."""
    monitoring = {k: _get(monitoring, k) for k in ("precision", "precision_note")}
    if language != "da":
        return monitoring.get("precision_note") or ""
    rows = {r["ranker"]: r for r in _rows(monitoring.get("precision"))}
    model = rows.get("model")
    rules = [r for name, r in rows.items() if name.startswith("rule:") and r.get("precision") is not None]
    if model is None or model.get("precision") is None or not rules:
        known = int(model["known"]) if model else 0
        return (f"{known} listede elever med kendt udfald; præcisionen bedømmes, når der er nok"
                if monitoring.get("precision_note") else "")
    best = max(rules, key=lambda r: r["precision"])
    return (f"realiseret præcision {_n(model['precision'], language, 3)} over {int(model['lists'])} "
            f"lister mod {_n(best['precision'], language, 3)} for "
            f"{rule_or_model(best['ranker'], language)} ved samme listelængde")
