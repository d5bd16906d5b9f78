"""The analysts' model page in Danish (issue 17, item 5) with the versions table (issue 12), and
the team pages without a champion and with one row a pupil (issues 12 and 17)."""

from __future__ import annotations

import html as htmllib
import json
import re
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from serving.pages.registry import VersionView
from tests.serving.conftest import FLAG_WEEK, KEY, NoChampion

ENGLISH_GATE_WORDS = ("beats the best rule", "calibration error", "exceeds", "within 0",
                      "the gate asks", "champion's", "precision at list length")


@pytest.fixture(scope="module")
def app(world):
    from serving.app import create_app

    return create_app(world.settings, poll_seconds=0, warm=False)


@contextmanager
def browser(app, world, who: str, language: str = "da"):
    from fastapi.testclient import TestClient

    with TestClient(app, follow_redirects=False) as c:
        assert c.post("/pages/login", data={"token": world.tokens[who]}).status_code == 303
        if language == "en":
            c.get("/pages/language?to=en")
        yield c


def visible_text(page: str) -> str:
    """What a reader sees: the body without tags, attributes, styles or scripts."""
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", body))


def _versions():
    tags = {"trained_at": "2026-11-30T08:00:00+00:00", "train_window": "2023-08-14..2026-08-24",
            "best_rule": "rule:days_15_in_60", "beats_best_rule": "true", "gates_passed": "true",
            "gate_results": json.dumps([
                {"gate": "lift", "passed": True, "value": 1.62, "threshold": 1.1, "fold": None,
                 "text": "beats the best rule (rule:days_15_in_60) 1.62x (gate 1.10x)"},
                {"gate": "calibration", "passed": True, "value": 0.021, "threshold": 0.05,
                 "fold": "spring", "text": "calibration error 0.021 within 0.050"}]),
            "backtest": json.dumps([{"fold": "autumn", "test_window": "2025-09-01..2025-11-24",
                                     "lift": 1.5, "roc_auc": 0.81, "ece": 0.02}])}
    metrics = {"model.precision_at_capacity": 0.25, "model.roc_auc": 0.76,
               "rule.days_15_in_60.precision_at_capacity": 0.15,
               "rule.days_4_last_month.roc_auc": 0.7, "logistic_baseline.roc_auc": 0.74,
               "calibration.ece": 0.04, "calibration.brier": 0.1,
               "calibration.ece_not_yet_concerning": 0.03, "calibration.mean_risk": 0.14,
               "calibration.observed_rate": 0.13, "fairness.grade_band.recall_ratio": 0.7,
               "fairness.gender.selection_rate_ratio": 0.9, "lift_over_best_rule": 1.62}
    legacy = {"trained_at": "2026-11-01T08:00:00+00:00", "train_window": "2022-09-12..2023-03-27",
              "best_rule": "rule:days_4_last_month", "lift_over_best_rule": "1.400",
              "gates": "beats the best rule (rule:days_4_last_month) 1.40x (gate 1.10x) | "
                       "calibration error 0.064 exceeds 0.050 | precision at list length 0.200 "
                       "is below the champion's 0.250"}
    return [VersionView("4", ["champion"], tags, metrics,
                        ["calibration.png", "shap_dependence_total_rate_4w.png"]),
            VersionView("3", ["challenger"], legacy, {"model.roc_auc": 0.7,
                                                      "calibration.ece": 0.064})]


@pytest.fixture
def fake_registry(monkeypatch):
    views = _versions()
    monitoring = SimpleNamespace(
        week="2026-W48", as_of="2026-11-23", model_version="4", status="ok",
        needs_retraining=None, warnings=[], precision_note=None,
        psi=[SimpleNamespace(scope="all", name="total_rate_4w", psi=0.02, judged=None,
                             level="ok")],
        schools=[], precision=[SimpleNamespace(ranker="rule:days_4_last_month", lists=3,
                                               listed=30, positives=9, precision=0.3),
                               SimpleNamespace(ranker="model", lists=3, listed=30,
                                               positives=12, precision=0.4)])
    monkeypatch.setattr("serving.pages.routes.registry_versions", lambda s: views)
    monkeypatch.setattr("serving.pages.routes.version_table", lambda s: [v.facts for v in views])
    monkeypatch.setattr("serving.pages.routes.fairness_by_group", lambda *a: [
        {"grouping": "grade_band", "group": "0-3", "selection_rate": 0.05, "precision": 0.3,
         "recall": 0.4, "rows": 120},
        {"grouping": "gender", "group": "F", "selection_rate": 0.05, "precision": 0.3,
         "recall": 0.4, "rows": 120}])
    monkeypatch.setattr("serving.pages.routes.latest_monitoring", lambda engine: monitoring)
    return views


def test_the_model_page_in_danish_has_no_metric_key_or_english_gate_text(app, world,
                                                                         fake_registry):
    with browser(app, world, "analyst") as c:
        page = c.get("/pages/model")
    assert page.status_code == 200, page.text
    text = visible_text(page.text)
    assert "_" not in text, re.findall(r"\S*_\S*", text)  # no metric key, rule code, file name
    assert not re.search(r"\brule[.:]|\b[a-z]+\.[a-z]+_[a-z_]+", text)
    for words in ENGLISH_GATE_WORDS:
        assert words not in text.lower(), words
    # rules by their plain names, gates as Danish sentences, figures in the table
    assert "15 fraværsdage inden for 60 skoledage" in text
    assert "Slår den bedste regel: listens præcision er 1,62× reglens (krav: mindst 1,10×)" in text
    assert "Kalibreringsfejlen 0,021 er inden for grænsen 0,050 (testperiode spring)" in text
    assert "Kalibreringsfejlen 0,064 er over grænsen 0,050" in text  # an older version's line
    assert "Dårligere end den nuværende champion (præcision 0,200 mod 0,250)" in text
    assert "Klassetrin: genfinding, forhold mellem laveste og højeste gruppe" in text
    assert "logistisk regression (sammenligning)" in text and "piger" in text
    assert "Alle registrerede versioner" in text and "2023-08-14..2026-08-24" in text
    assert "efterår (2025-09-01..2025-11-24): løft 1,50 ×, ROC AUC 0,810" in text
    assert "Kalibrering: forudsagt risiko mod observeret andel" in text


def test_the_model_page_in_english_keeps_the_gate_lines_as_written(app, world, fake_registry):
    with browser(app, world, "analyst", "en") as c:
        text = visible_text(c.get("/pages/model").text)
    assert "beats the best rule (rule:days_15_in_60) 1.62x (gate 1.10x)" in text
    assert "15 days absent within 60 school days" in text
    assert "Every registered version" in text


def test_the_list_page_shows_each_pupil_once_with_a_badge(world, monkeypatch):
    """The served town has no pupil in two sections: the list read is given one, as
    serving.stored_lists.one_row_per_pupil folds it (covered on the data in test_flags)."""
    import serving.stored_lists
    from serving.app import create_app

    real = serving.stored_lists.stored_flag_list

    def with_a_statutory_known_case(engine, school_id, week, language="da"):
        found = real(engine, school_id, week, language)
        rows = [r for part in found["sections"].values() for r in part]
        raw = {"early_warning": found["sections"]["early_warning"],
               "statutory": [{**rows[0], "statutory_level": "warning",
                              "unauthorised_quarter": 0.12}],
               "already_concerning": [rows[0], *(r for r in found["sections"]["already_concerning"]
                                                 if r["pupil_id"] != rows[0]["pupil_id"])]}
        raw["early_warning"] = [r for r in raw["early_warning"] if r["pupil_id"] != rows[0]["pupil_id"]]
        return {**found, "sections": serving.stored_lists.one_row_per_pupil(raw)}

    monkeypatch.setattr(serving.stored_lists, "stored_flag_list", with_a_statutory_known_case)
    app = create_app(world.settings, poll_seconds=0, warm=False)
    with browser(app, world, "team-S1") as c:
        page = c.get(f"/pages/schools/S1/flags?week={FLAG_WEEK}").text
    data = with_a_statutory_known_case(world.engine, "S1", FLAG_WEEK)
    listed = [r["pupil_id"] for rows in data["sections"].values() for r in rows]
    assert len(re.findall(r'<tr id="flag-(\d+)"', page)) == len(listed) == len(set(listed))
    assert page.count('name="decision"') == len(listed)  # one decision form a pupil
    [badged] = [r for rows in data["sections"].values() for r in rows if r["also"]]
    row = re.search(rf'<tr id="flag-{badged["id"]}".*?</tr>', page, flags=re.S).group(0)
    assert "Også: Allerede bekymrende" in row and "Varsel til forældrene" in row


def test_without_a_champion_the_pupil_page_shows_the_register_and_the_list_says_it_waits(
        world, monkeypatch):
    import serving.stored_lists
    from model.pseudonym import pseudonymise
    from serving.app import create_app

    real = serving.stored_lists.stored_flag_list

    def without_model(engine, school_id, week, language="da"):
        found = real(engine, school_id, week, language)
        if found is not None:
            found = {**found, "model_version": None, "message": serving.stored_lists.WAITS_FOR_MODEL,
                     "sections": {**found["sections"], "early_warning": []}}
        return found

    monkeypatch.setattr(serving.stored_lists, "stored_flag_list", without_model)
    app = create_app(world.settings, registry=NoChampion(), poll_seconds=0, warm=False)
    pupil = pseudonymise(world.pupils_of("S1")[1], KEY.encode())
    with browser(app, world, "team-S1") as c:
        listing = c.get(f"/pages/schools/S1/flags?week={FLAG_WEEK}")
        one = c.get(f"/pages/pupils/{pupil}")
    assert listing.status_code == 200
    assert "afsnittet om tidlig opsporing venter på, at en model bliver sat i drift" in listing.text
    assert one.status_code == 200, one.text
    assert "Der er endnu ingen godkendt model, så der vises ingen risiko" in one.text
    assert 'class="heatmap"' in one.text and "Traceback" not in one.text


def test_the_monitoring_warnings_are_danish_on_the_danish_model_page():
    from serving.pages.model_texts import monitoring_lines, precision_note

    monitoring = {
        "status": "alarm", "model_version": "3", "needs_retraining": "erasure:2026-12-01",
        "warnings": ["drift: abs_total_4w at school S2 has PSI 0.41 (limit 0.25, vs the training "
                     "window's same month)", "shift: 1 columns at PSI 0.10-0.25 (score@all)",
                     "precision: realised precision 0.150 over 4 lists vs 0.250 for "
                     "rule:days_4_last_month at the same list length",
                     "model version 3 needs retraining (erasure:2026-12-01)"],
        "precision_note": "realised precision 0.150 over 4 lists vs 0.250 for "
                          "rule:days_4_last_month at the same list length",
        "psi": [{"scope": "S2", "name": "abs_total_4w", "psi": 0.41, "level": "alarm",
                 "judged": None, "basis": "month"},
                {"scope": "all", "name": "score", "psi": 0.12, "level": "warning",
                 "judged": None, "basis": "window"},
                {"scope": "all", "name": "abs_total_year", "psi": 0.9, "level": "alarm",
                 "judged": "too few rows", "basis": "window"}],
        "precision": [{"ranker": "model", "lists": 4, "listed": 20, "known": 20, "positives": 3,
                       "precision": 0.15},
                      {"ranker": "rule:days_4_last_month", "lists": 4, "listed": 20, "known": 20,
                       "positives": 5, "precision": 0.25}],
    }
    danish = monitoring_lines(monitoring, "da")
    assert len(danish) == 4  # drift, shift, precision, retraining; the unjudged row is left out
    text = " ".join(danish) + precision_note(monitoring, "da")
    for english in ("drift:", "shift:", "precision:", "needs retraining", "realised", "limit",
                    "rule:", "abs_total_4w", "columns"):
        assert english not in text, english
    assert "på skole S2" in danish[0] and "0,41" in danish[0]
    assert "4+ fraværsdage" in precision_note(monitoring, "da")
    assert danish[-1].startswith("Modelversion 3 skal gentrænes")
    assert monitoring_lines(monitoring, "en") == monitoring["warnings"]  # English as stored
