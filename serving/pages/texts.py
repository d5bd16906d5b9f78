"""The pages' words, Danish first, English second, and the number formats of each language.

The words for sections, bands, statutory levels and decisions are the exports' (serving.exports),
so a printed list, the Excel file and the pages say the same; reason sentences come from
model.reasons through the stored lists and the risk service.
"""

from __future__ import annotations

from datetime import date

from model.registry import CHALLENGER, CHAMPION
from serving.exports import (
    BAND_WORDS,
    DECISION_WORDS,
    HTML_TEXT,
    LEVEL_WORDS,
    SECTION_TITLES,
    risk_percent,  # noqa: F401 - the pages read every number format from here
)

LANGUAGES = ("da", "en")
DEFAULT_LANGUAGE = "da"

STATUS_WORDS = {
    "da": {"present": "Til stede", "illness": "Sygdom", "authorised": "Ekstraordinær frihed",
           "unauthorised": "Ulovligt fravær", "partial": "Delvist fravær",
           "none": "Ingen registrering"},
    "en": {"present": "Present", "illness": "Illness", "authorised": "Authorised leave",
           "unauthorised": "Unauthorised", "partial": "Partial day",
           "none": "Not registered"},
}
SOURCE_WORDS = {
    "da": {"teacher": "lærer", "parent": "forælder", "pupil": "elev", "health": "sundhedspleje",
           "social": "socialrådgiver", "other": "andet"},
    "en": {"teacher": "teacher", "parent": "parent", "pupil": "pupil", "health": "health",
           "social": "social worker", "other": "other"},
}
CATEGORY_WORDS = {
    "da": {"wellbeing": "trivsel", "social": "sociale relationer", "bullying": "mobning",
           "academic": "faglighed", "behaviour": "adfærd", "family": "familie",
           "health": "helbred", "other": "andet"},
    "en": {"wellbeing": "wellbeing", "social": "social", "bullying": "bullying",
           "academic": "academic", "behaviour": "behaviour", "family": "family",
           "health": "health", "other": "other"},
}
WEEKDAYS = {"da": ("man", "tir", "ons", "tor", "fre"), "en": ("Mon", "Tue", "Wed", "Thu", "Fri")}
MONTHS = {"da": ("jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov",
                 "dec"),
          "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                 "Dec")}

UI = {
    "da": {
        "app": "Fraværsradar", "skip": "Gå til indhold", "language": "English",
        "language_code": "en", "logout": "Log ud", "login": "Log ind",
        "login_title": "Log ind med din adgangsnøgle",
        "login_intro": "Indsæt den adgangsnøgle (token), som kommunens administrator har givet "
                       "dit team. Nøglen gemmes kun i en sikker cookie i denne browser.",
        "token": "Adgangsnøgle", "login_failed": "Adgangsnøglen er ukendt eller spærret.",
        "logged_out": "Du er logget ud.",
        "signed_in_as": "Logget ind som", "roles": {"school": "skole", "team": "opsporingsteam",
                                                    "analyst": "analytiker",
                                                    "admin": "administrator",
                                                    "municipality": "kommune"},
        "nav_list": "Ugeliste", "nav_find": "Find elev", "nav_model": "Model",
        "school": "Skole", "week": "Uge", "show": "Vis", "previous_week": "Forrige uge",
        "next_week": "Næste uge", "download_excel": "Hent som Excel", "print": "Udskriftsvenlig",
        "no_list": "Der er ingen ugeliste for denne skole og uge.",
        "pupil": "Elev (pseudonym)", "grade": "Klassetrin", "risk": "Risiko",
        "reasons": "Begrundelser", "absence_year": "Fravær i skoleåret",
        "trend": "Udvikling, 4 uger", "new_or_not": "Ny eller fortsat",
        "new": "Ny", "continuing": "Fortsat", "review": "Teamets beslutning",
        "not_reviewed": "Ikke gennemgået", "decide": "Beslutning", "save": "Gem",
        "choose": "Vælg …", "statutory_level": "Lovkrav",
        "unauthorised_quarter": "Ulovligt fravær i kvartalet",
        "sparkline": "Fravær pr. uge de seneste {n} uger: {values}",
        "saved": "Beslutningen er gemt.",
        "find_title": "Find en elev", "find_intro": "Skriv elevens pseudonym eller CPR-nummer. "
                      "Et CPR-nummer omdannes til pseudonymet, før det slås op, og gemmes "
                      "aldrig.", "pupil_id": "Pseudonym eller CPR-nummer", "find": "Find",
        "pupil_title": "Elev {pupil}", "as_of": "Opgjort pr.",
        "band": "Risikoniveau", "already_concerning": "Allerede bekymrende fravær",
        "calendar": "Fravær i skoleåret {year}",
        "calendar_desc": "Kalender over skoledagene: én firkant pr. dag, uger som kolonner.",
        "registered_until": "Registreret til og med {day}.",
        "status_counts": "Dage pr. fraværsårsag",
        "days": "dage", "risk_over_time": "Risiko uge for uge",
        "risk_desc": "Risikoen opgjort hver mandag i skoleåret; trekanter markerer bekymringer.",
        "show_table": "Vis som tabel", "absence_week": "Fravær i ugen",
        "reasons_title": "Hvorfor eleven er på listen",
        "reasons_intro": "Søjlen viser, hvor meget hver begrundelse trækker risikoen op i "
                         "modellen (størst først).",
        "no_reasons": "Ingen begrundelser trækker risikoen op.",
        "share_of_push": "{share} af det, der trækker risikoen op",
        "concerns": "Bekymringer", "no_concerns": "Ingen registrerede bekymringer i skoleåret.",
        "date": "Dato", "source": "Fra", "category": "Om", "severity": "Alvor",
        "decisions": "Teamets beslutninger", "no_decisions": "Ingen beslutninger endnu.",
        "decided_on": "Besluttet den", "decided_by": "Af",
        "record_decision": "Registrér teamets beslutning", "flag_in": "På ugelisten {week}: {section}",
        "not_on_list": "Eleven er ikke på en ugeliste denne uge.",
        "back_to_list": "Tilbage til ugelisten",
        "monitoring": "Overvågning", "monitoring_none": "Der er ikke kørt nogen overvågning endnu "
                      "(ews monitor).",
        "monitoring_intro": "Uge {week} (opgjort {as_of}, model {version}) sammenlignet med "
                            "modellens træningsvindue.",
        "status": "Status", "status_words": {"ok": "i orden", "warning": "advarsel",
                                            "alarm": "alarm"},
        "needs_retraining": "Skal gentrænes", "drift_top": "Største forskydninger (PSI, hele kommunen)",
        "feature": "Mål", "psi": "PSI", "not_judged": "ikke bedømt",
        "per_school": "Pr. skole", "share_flagged": "Andel på tidlig opsporing",
        "share_concerning": "Andel allerede bekymrende", "score_psi": "PSI for risiko",
        "realised": "Realiseret præcision af tidligere lister (udfald kendt)",
        "lists": "Lister", "listed": "Listede", "positives": "Blev bekymrende",
        "model_title": "Modeller", CHAMPION: "Champion (i brug)", "challengers": "Udfordrere",
        "version": "Version", "trained_at": "Trænet", "train_window": "Træningsvindue",
        "gates": "Godkendelseskrav", "lift": "Præcision i forhold til bedste regel",
        "best_rule": "Bedste regel", "ranker": "Rangering",
        "precision": "Præcision ved listelængde", "recall": "Genfinding ved listelængde",
        "lead_time": "Varsling, median (uger)", "detected": "Fundet før det blev bekymrende",
        "auc": "ROC AUC", "calibration": "Kalibrering", "fairness": "Retfærdighed",
        "fairness_intro": "Forhold mellem den laveste og højeste gruppe på den udleverede "
                          "liste; 0,8-1,25 er det sædvanlige pejlemærke.",
        "fairness_by_group": "Den udleverede liste pr. gruppe", "grouping": "Opdeling",
        "group": "Gruppe", "selection_rate": "Andel på listen", "precision_short": "Præcision",
        "recall_short": "Genfinding", "rows": "Rækker (elev × opgørelsesdato)",
        "within": "inden for", "outside": "uden for", "metric": "Mål", "value": "Værdi",
        "plots": "Figurer fra evalueringsrapporten", "card": "Modelkort",
        "card_link": "Læs modelkortet (for forældre og personale)",
        "no_versions": "Der er ikke registreret nogen model endnu.",
        "no_metrics": "Ingen evalueringstal registreret for denne version.",
        "evaluated_note": "Alle tal er målt på senere opgørelsesdatoer end træningsdataene.",
        "the_model": "modellen",
        "error_title": "Ikke tilgængelig",
        "forbidden": "Siden findes ikke, eller dit login må ikke se den.",
        "not_found": "Siden findes ikke.",
        "role_forbidden": "Dit login giver ikke adgang til denne side.",
        "csrf": "Formularen er udløbet eller kom ikke fra denne side. Prøv igen.",
        "no_model": "Der er ingen model i brug endnu.",
        "invalid": "Ugyldig forespørgsel.",
        "sections": SECTION_TITLES["da"], "bands": BAND_WORDS["da"],
        "levels": LEVEL_WORDS["da"], "decisions_words": DECISION_WORDS["da"],
        "rank": "Nr.", "on_roll": "elever", "capacity": "kapacitet",
        "model_version": "modelversion", "note": HTML_TEXT["da"]["note"],
        "empty_section": HTML_TEXT["da"]["empty"],
        "list_title": "Ugeliste {school}, uge {week} {year}",
        # -- issue 17 (one row a pupil) and issue 12 (lists without a model) --
        "also_in": "Også: {sections}",
        "waits_for_model": "Der er endnu ingen godkendt model: afsnittet om tidlig opsporing "
                           "venter på, at en model bliver sat i drift. Lovkrav og allerede "
                           "bekymrende fravær er regler og vises som altid.",
        "no_risk": "Der er endnu ingen godkendt model, så der vises ingen risiko. Registreringen "
                   "og lovkravet vises som altid.",
        # -- issue 12: the versions table of the model page --
        "versions_title": "Alle registrerede versioner",
        "versions_intro": "Kun til læsning. En analytiker sætter en version i drift med "
                          "ews promote VERSION --reason TEKST og går tilbage til den forrige med "
                          "ews rollback; begge skrives i revisionsloggen.",
        "role": "Rolle", "alias_words": {CHAMPION: "champion (i brug)",
                                         CHALLENGER: "udfordrer"},
        "lift_short": "Løft over bedste regel", "ece_short": "Kalibreringsfejl (ECE)",
        "folds": "Testperioder", "verdict": "Godkendt",
        "verdict_words": {True: "ja", False: "nej", None: "–"},
        "fold_line": "{fold} ({window}): løft {lift}, ROC AUC {auc}, kalibreringsfejl {ece}",
        # -- issue 17: holiday weeks in the sparklines
        "sparkline_gap": "Uge uden skoledage (ferie)",
        "sparkline_gaps": "grå felter er uger uden skoledage (ferie)",
        "sparkline_legend": "Kurven ved fraværet viser fravær pr. uge de seneste uger. Et "
                            "gråt felt med stiplet kant er en uge uden skoledage (ferie): der er "
                            "intet fravær at vise, så kurven holder pause.",
    },
    "en": {
        "app": "Fraværsradar", "skip": "Skip to content", "language": "Dansk",
        "language_code": "da", "logout": "Log out", "login": "Log in",
        "login_title": "Log in with your access token",
        "login_intro": "Paste the access token your municipality's administrator gave your "
                       "team. It is kept only in a secure cookie in this browser.",
        "token": "Access token", "login_failed": "The access token is unknown or revoked.",
        "logged_out": "You are logged out.",
        "signed_in_as": "Signed in as", "roles": {"school": "school", "team": "detection team",
                                                  "analyst": "analyst", "admin": "admin",
                                                  "municipality": "municipality"},
        "nav_list": "Weekly list", "nav_find": "Find pupil", "nav_model": "Model",
        "school": "School", "week": "Week", "show": "Show", "previous_week": "Previous week",
        "next_week": "Next week", "download_excel": "Download as Excel", "print": "Print view",
        "no_list": "There is no weekly list for this school and week.",
        "pupil": "Pupil (pseudonym)", "grade": "Grade", "risk": "Risk",
        "reasons": "Reasons", "absence_year": "Absence this school year",
        "trend": "Trend, 4 weeks", "new_or_not": "New or continuing",
        "new": "New", "continuing": "Continuing", "review": "Team's decision",
        "not_reviewed": "Not reviewed", "decide": "Decision", "save": "Save",
        "choose": "Choose …", "statutory_level": "Statutory level",
        "unauthorised_quarter": "Unauthorised absence this quarter",
        "sparkline": "Absence per week over the last {n} weeks: {values}",
        "saved": "The decision is saved.",
        "find_title": "Find a pupil", "find_intro": "Enter the pupil's pseudonym or CPR number. "
                      "A CPR number is turned into the pseudonym before the lookup and is never "
                      "stored.", "pupil_id": "Pseudonym or CPR number", "find": "Find",
        "pupil_title": "Pupil {pupil}", "as_of": "As of",
        "band": "Risk band", "already_concerning": "Already concerning absence",
        "calendar": "Absence in school year {year}",
        "calendar_desc": "Calendar of the school days: one square a day, weeks as columns.",
        "registered_until": "Registered up to and including {day}.",
        "status_counts": "Days per status",
        "days": "days", "risk_over_time": "Risk week by week",
        "risk_desc": "The risk as of each Monday of the school year; triangles mark concerns.",
        "show_table": "Show as a table", "absence_week": "Absence in the week",
        "reasons_title": "Why the pupil is listed",
        "reasons_intro": "The bar shows how much each reason raises the risk in the model "
                         "(largest first).",
        "no_reasons": "No reason raises the risk.",
        "share_of_push": "{share} of what raises the risk",
        "concerns": "Concerns", "no_concerns": "No concerns recorded this school year.",
        "date": "Date", "source": "From", "category": "About", "severity": "Severity",
        "decisions": "The team's decisions", "no_decisions": "No decisions yet.",
        "decided_on": "Decided on", "decided_by": "By",
        "record_decision": "Record the team's decision", "flag_in": "On the list of {week}: {section}",
        "not_on_list": "The pupil is not on a weekly list this week.",
        "back_to_list": "Back to the weekly list",
        "monitoring": "Monitoring", "monitoring_none": "No monitoring has run yet (ews monitor).",
        "monitoring_intro": "Week {week} (as of {as_of}, model {version}) compared with the "
                            "model's training window.",
        "status": "Status", "status_words": {"ok": "ok", "warning": "warning", "alarm": "alarm"},
        "needs_retraining": "Needs retraining", "drift_top": "Largest shifts (PSI, whole municipality)",
        "feature": "Measure", "psi": "PSI", "not_judged": "not judged",
        "per_school": "Per school", "share_flagged": "Share on early warning",
        "share_concerning": "Share already concerning", "score_psi": "PSI of the risk",
        "realised": "Realised precision of past lists (outcome known)",
        "lists": "Lists", "listed": "Listed", "positives": "Became concerning",
        "model_title": "Models", CHAMPION: "Champion (in use)", "challengers": "Challengers",
        "version": "Version", "trained_at": "Trained", "train_window": "Training window",
        "gates": "Promotion gates", "lift": "Precision relative to the best rule",
        "best_rule": "Best rule", "ranker": "Ranking",
        "precision": "Precision at list length", "recall": "Recall at list length",
        "lead_time": "Lead time, median (weeks)", "detected": "Found before it became concerning",
        "auc": "ROC AUC", "calibration": "Calibration", "fairness": "Fairness",
        "fairness_intro": "Ratio of the lowest to the highest group on the list handed out; "
                          "0.8-1.25 is the usual yardstick.",
        "fairness_by_group": "The list handed out, per group", "grouping": "Grouping",
        "group": "Group", "selection_rate": "Share listed", "precision_short": "Precision",
        "recall_short": "Recall", "rows": "Rows (pupil × as-of date)",
        "within": "within", "outside": "outside", "metric": "Metric", "value": "Value",
        "plots": "Plots from the evaluation report", "card": "Model card",
        "card_link": "Read the model card (for parents and staff)",
        "no_versions": "No model is registered yet.",
        "no_metrics": "No evaluation figures are recorded for this version.",
        "evaluated_note": "Every figure is measured on later as-of dates than the training data.",
        "the_model": "the model",
        "error_title": "Not available",
        "forbidden": "The page does not exist, or your login may not see it.",
        "not_found": "The page does not exist.",
        "role_forbidden": "Your login does not give access to this page.",
        "csrf": "The form has expired or did not come from this page. Please try again.",
        "no_model": "No model is in use yet.",
        "invalid": "Invalid request.",
        "sections": SECTION_TITLES["en"], "bands": BAND_WORDS["en"],
        "levels": LEVEL_WORDS["en"], "decisions_words": DECISION_WORDS["en"],
        "rank": "No.", "on_roll": "pupils", "capacity": "capacity",
        "model_version": "model version", "note": HTML_TEXT["en"]["note"],
        "empty_section": HTML_TEXT["en"]["empty"],
        "list_title": "Weekly list {school}, week {week} {year}",
        # -- issue 17 (one row a pupil) and issue 12 (lists without a model) --
        "also_in": "Also: {sections}",
        "waits_for_model": "No model has been promoted yet: the early-warning section waits for "
                           "a promoted model. The statutory and already-concerning sections are "
                           "rules and are shown as always.",
        "no_risk": "No model has been promoted yet, so no risk is shown. The register and the "
                   "statutory rule are shown as always.",
        # -- issue 12: the versions table of the model page --
        "versions_title": "Every registered version",
        "versions_intro": "Read only. An analyst makes a version the champion with "
                          "ews promote VERSION --reason TEXT and goes back to the previous one "
                          "with ews rollback; both are written to the audit log.",
        "role": "Role", "alias_words": {CHAMPION: "champion (in use)",
                                        CHALLENGER: CHALLENGER},  # in English: the alias by its name
        "lift_short": "Lift over the best rule", "ece_short": "Calibration error (ECE)",
        "folds": "Test windows", "verdict": "Passed",
        "verdict_words": {True: "yes", False: "no", None: "–"},
        "fold_line": "{fold} ({window}): lift {lift}, ROC AUC {auc}, calibration error {ece}",
        # -- issue 17: holiday weeks in the sparklines
        "sparkline_gap": "Week without school days (holiday)",
        "sparkline_gaps": "grey boxes are weeks without school days (holiday)",
        "sparkline_legend": "The line beside the absence shows absence per week over recent "
                            "weeks. A grey box with a dotted edge is a week without school "
                            "days (a holiday): there is no absence to show, so the line pauses.",
    },
}


def section_intro(language: str, section: str, **facts) -> str:
    """The printed list's explanation of a section (serving.exports.HTML_TEXT)."""
    return HTML_TEXT[language][section].format(**facts)


def percent(x: float | None, language: str, decimals: int = 0) -> str:
    """A share as a percentage: "12,5 %" in Danish, "12.5%" in English; "–" if unknown."""
    if x is None or x != x:
        return "–"
    text = f"{100 * x:.{decimals}f}"
    return text.replace(".", ",") + " %" if language == "da" else text + "%"


def points(x: float | None, language: str) -> str:
    """A change of a share in percentage points, signed."""
    if x is None or x != x:
        return "–"
    text = f"{100 * x:+.1f}".replace("-", "−")
    return text.replace(".", ",") + " pct.-point" if language == "da" else text + " pp"


def number(x: float | None, language: str, decimals: int = 2) -> str:
    """A plain number in the language's decimal mark."""
    if x is None or x != x:
        return "–"
    text = f"{x:.{decimals}f}"
    return text.replace(".", ",") if language == "da" else text


def day(d: date | str | None, language: str) -> str:
    """A date as "21.10.2024" in Danish, ISO in English."""
    if d is None:
        return "–"
    if isinstance(d, str):
        d = date.fromisoformat(d[:10])
    return f"{d.day}.{d.month}.{d.year}" if language == "da" else d.isoformat()


# -- issue 15: the municipality's KPI page ---------------------------------------------------------
KPI_UI = {
    "da": {
        "nav": "Nøgletal", "title": "Fravær i kommunen: nøgletal og mål",
        "intro": "Tal fra fraværsregistreringen for hele kommunen (ALLE) og hver skole, pr. "
                 "skoleår og kvartal. Fravær tælles som i registreringen: delvise dage som brøk "
                 "af dagen, over de skoledage eleven er indskrevet. Siden viser kun samlede tal, "
                 "aldrig en enkelt elev.",
        "suppression": "Tal for 1-4 elever er skjult (–), som i officiel statistik.",
        "baseline": "Basisår", "targets": "Mål",
        "target_problematic": "Andel med særligt problematisk fravær (≥ {line}): {target} "
                              "mod basisåret",
        "target_notifications": "Elever der når 15 % ulovligt fravær i et kvartal "
                                "(underretning): {target} mod basisåret",
        "school_year": "Skoleår", "show": "Vis", "all": "Hele kommunen",
        "charts": "Udvikling pr. kvartal, hele kommunen",
        "chart_desc": "{name} pr. kvartal for hele kommunen; den stiplede linje er {ref}.",
        "target_line": "mål", "baseline_line": "basisår",
        "tables": "Tal pr. skole", "period": "Periode", "pupils": "Elever",
        "absence_rate": "Fravær i alt", "absence_rate_illness": "Sygdom",
        "absence_rate_authorised": "Ekstraordinær frihed",
        "absence_rate_unauthorised": "Ulovligt fravær",
        "share_over_10": "Andel ≥ 10 % fravær", "share_over_15": "Andel ≥ {line} fravær",
        "unauthorised_10": "Elever ≥ 10 % ulovligt i et kvartal (varsel)",
        "unauthorised_15": "Elever ≥ 15 % ulovligt i et kvartal (underretning)",
        "change": "Ændring mod basisår", "on_track": "På sporet", "yes": "ja", "no": "nej",
        "suppressed": "skjult (1-4 elever)", "school": "Skole",
        "lists": "Hvad ugelisterne førte til",
        "lists_intro": "Pr. skole og kvartal: markeringer udleveret, hvor stor en del teamet har "
                       "taget stilling til, og elever pr. beslutning (den seneste pr. markering).",
        "flags": "Markeringer", "pupils_flagged": "Elever markeret", "reviewed": "Behandlet",
        "share_reviewed": "Andel behandlet", "no_lists": "Der er ingen ugelister endnu.",
        "follow_up": "Fravær før og efter afdækning",
        "before": "Fravær 8 uger før", "after": "Fravær 8 uger efter",
        "follow_change": "Ændring (pct.-point)", "band": "Risikoniveau", "group": "Gruppe",
        "investigated": "Afdækning", "not_investigated": "Listet, ikke afdækket",
        "measured": "Målt efter", "no_follow_up": "Ingen afdækninger at sammenligne endnu.",
        "period_kind": {"school_year": "hele skoleåret", "quarter": "kvartal"},
        "short": {"pupils": "Elever", "absence_rate": "Fravær", "absence_rate_illness": "Sygdom",
                  "absence_rate_authorised": "Frihed", "absence_rate_unauthorised": "Ulovligt",
                  "share_over_10": "≥ 10 %", "share_over_15": "≥ {line}",
                  "unauthorised_10": "Varsel (10 % ulovligt)",
                  "unauthorised_15": "Underretning (15 % ulovligt)"},
        "short_change": "Ændring", "through": "til og med {day}",
        "table_note": "Fravær: andel af skoledagene. ≥ 10 % og ≥ {line}: andel af eleverne med "
                      "så meget fravær. Varsel og underretning: elever hvis ulovlige fravær i "
                      "et kvartal nåede 10 % / 15 %. Ændring: mod samme periode i basisåret.",
    },
    "en": {
        "nav": "KPIs", "title": "Absence in the municipality: KPIs and targets",
        "intro": "Figures from the attendance register for the whole municipality (ALL) and "
                 "each school, per school year and quarter. Absence is counted as the register "
                 "counts it: partial days as their fraction, over the school days a pupil is "
                 "enrolled. This page shows aggregates only, never a single pupil.",
        "suppression": "Figures of 1-4 pupils are hidden (–), as in official statistics.",
        "baseline": "Baseline year", "targets": "Targets",
        "target_problematic": "Share with particularly problematic absence (≥ {line}): {target} "
                              "against the baseline",
        "target_notifications": "Pupils reaching 15 % unauthorised absence in a quarter "
                                "(notification): {target} against the baseline",
        "school_year": "School year", "show": "Show", "all": "Whole municipality",
        "charts": "Quarter by quarter, whole municipality",
        "chart_desc": "{name} per quarter for the whole municipality; the dashed line is {ref}.",
        "target_line": "target", "baseline_line": "baseline",
        "tables": "Figures per school", "period": "Period", "pupils": "Pupils",
        "absence_rate": "Total absence", "absence_rate_illness": "Illness",
        "absence_rate_authorised": "Authorised leave",
        "absence_rate_unauthorised": "Unauthorised",
        "share_over_10": "Share ≥ 10 % absence", "share_over_15": "Share ≥ {line} absence",
        "unauthorised_10": "Pupils ≥ 10 % unauthorised in a quarter (warning)",
        "unauthorised_15": "Pupils ≥ 15 % unauthorised in a quarter (notification)",
        "change": "Change from baseline", "on_track": "On track", "yes": "yes", "no": "no",
        "suppressed": "hidden (1-4 pupils)", "school": "School",
        "lists": "What the weekly lists led to",
        "lists_intro": "Per school and quarter: flags handed out, the share the team decided "
                       "on, and pupils per decision (the latest per flag).",
        "flags": "Flags", "pupils_flagged": "Pupils flagged", "reviewed": "Reviewed",
        "share_reviewed": "Share reviewed", "no_lists": "There are no weekly lists yet.",
        "follow_up": "Absence before and after an investigation",
        "before": "Absence 8 weeks before", "after": "Absence 8 weeks after",
        "follow_change": "Change (points)", "band": "Risk band", "group": "Group",
        "investigated": "Investigated", "not_investigated": "Listed, not investigated",
        "measured": "Measured after", "no_follow_up": "No investigations to compare yet.",
        "period_kind": {"school_year": "whole school year", "quarter": "quarter"},
        "short": {"pupils": "Pupils", "absence_rate": "Absence", "absence_rate_illness": "Illness",
                  "absence_rate_authorised": "Leave", "absence_rate_unauthorised": "Unauthorised",
                  "share_over_10": "≥ 10 %", "share_over_15": "≥ {line}",
                  "unauthorised_10": "Warning (10 % unauthorised)",
                  "unauthorised_15": "Notification (15 % unauthorised)"},
        "short_change": "Change", "through": "through {day}",
        "table_note": "Absence: share of school days. ≥ 10 % and ≥ {line}: share of pupils with "
                      "that much absence. Warning and notification: pupils whose unauthorised "
                      "absence in a quarter reached 10 % / 15 %. Change: against the same period "
                      "of the baseline year.",
    },
}
