"""Review dates (defect 6): a team's decision is dated between its list's Monday and today; any
other date, or a number instead of a date, gets 422 naming the rule, on both stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from model.calendar import iso_week, monday_of_week

WEEK = iso_week(date.today() - timedelta(days=21))


@pytest.fixture
def flag_id(bare) -> int:
    from model.records import flag_lists, flags

    with bare.engine.begin() as conn:
        list_id = conn.execute(insert(flag_lists).values(
            week=WEEK, school_id="S01", as_of=monday_of_week(WEEK), model_version="1",
            capacity=3, pupils_on_roll=20, created_at=datetime.now(UTC))).inserted_primary_key[0]
        return int(conn.execute(insert(flags).values(
            list_id=list_id, pupil_id="P1", section="early_warning", rank=1, grade=5, risk=0.4,
            band="raised", reasons=[], new_this_week=True)).inserted_primary_key[0])


@pytest.mark.parametrize("decided_on", ["0001-01-01", 0, "1970-01-01",
                                        (monday_of_week(WEEK) - timedelta(days=1)).isoformat(),
                                        (date.today() + timedelta(days=1)).isoformat()])
def test_a_decision_outside_the_lists_week_and_today_is_422(bare, flag_id, decided_on):
    r = bare.client.post(f"/v1/flags/{flag_id}/review",
                         json={"decision": "investigate", "decided_on": decided_on},
                         headers=bare.headers("team"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("decided_on", [monday_of_week(WEEK).isoformat(),
                                        date.today().isoformat(), None])
def test_a_decision_from_the_lists_monday_to_today_is_recorded(bare, flag_id, decided_on):
    body = {"decision": "investigate"} | ({"decided_on": decided_on} if decided_on else {})
    r = bare.client.post(f"/v1/flags/{flag_id}/review", json=body, headers=bare.headers("team"))
    assert r.status_code == 201, r.text
    assert r.json()["decided_on"] == (decided_on or date.today().isoformat())


def test_the_rule_is_named(bare, flag_id):
    r = bare.client.post(f"/v1/flags/{flag_id}/review",
                         json={"decision": "investigate", "decided_on": "0001-01-01"},
                         headers=bare.headers("team"))
    assert "between the list's Monday" in r.json()["detail"]
