"""`ews train`'s progress lines, and the simulator's options and latent truth (issue 12)."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pandas as pd

from simulator import ESCALATING, latent_truth, plan_demo
from training.progress import TrainProgress


def test_progress_is_one_plain_line_per_stage_without_a_terminal():
    stream = io.StringIO()
    with TrainProgress(3, stream=stream) as progress:  # a StringIO is not a terminal
        progress("features")
        progress("fold 1:autumn: fit 0.1/15/200")
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["train: features",
                                                       "train: fold 1:autumn: fit 0.1/15/200"]


def _plan(**options):
    return plan_demo(pupils=600, schools=2, years=3, seed=3, until=date(2026, 11, 20), **options)


def test_base_rate_multiplies_the_escalations():
    base, triple = _plan(), _plan(base_rate=3.0)
    n_base = int((base.risk.kind == ESCALATING).sum())
    n_triple = int((triple.risk.kind == ESCALATING).sum())
    assert 2.0 * n_base < n_triple < 4.0 * n_base


def test_trend_raises_absence_year_on_year():
    flat, rising = _plan(), _plan(trend=0.25)
    ratio = rising.risk.illness / flat.risk.illness
    assert np.allclose(ratio[:, 0], 1.0) and np.allclose(ratio[:, 2], 1.25**2)


def test_latent_truth_ranks_the_escalating_pupils_high_near_their_peak():
    plan = _plan()
    truth = latent_truth(plan)
    assert set(truth.columns) == {"pupil_id", "as_of", "school_year", "kind", "latent_rate",
                                  "latent_rate_as_of"}
    assert truth["latent_rate"].between(0, 1).all()
    assert (truth["as_of"].dt.dayofweek == 0).all()  # Mondays, like the as-of dates
    means = truth.groupby("kind")["latent_rate"].mean()
    assert means["escalating"] > means["none"]


def test_the_as_of_oracle_does_not_know_escalations_that_begin_later():
    plan = _plan()
    truth = latent_truth(plan)
    onset = dict(zip(plan.population.pupil_ids, plan.risk.onset, strict=True))
    day_of = {d: i for i, d in enumerate(pd.to_datetime(plan.calendar.days))}
    esc = truth[truth["kind"] == "escalating"].copy()
    first_day = esc["as_of"].map(lambda t: next((i for d, i in day_of.items() if d >= t), None))
    begun = esc["pupil_id"].map(onset) < first_day
    # the same as the clairvoyant once the escalation has begun ...
    assert np.allclose(esc.loc[begun, "latent_rate_as_of"], esc.loc[begun, "latent_rate"])
    # ... lower where it begins inside the next 60 school days, and never higher anywhere
    later = ~begun & (esc["pupil_id"].map(onset) < first_day + 60)
    assert later.any()
    assert (esc.loc[later, "latent_rate_as_of"] < esc.loc[later, "latent_rate"]).all()
    assert (truth["latent_rate_as_of"] <= truth["latent_rate"] + 1e-6).all()
    others = truth[truth["kind"] != "escalating"]
    assert np.array_equal(others["latent_rate_as_of"], others["latent_rate"])
