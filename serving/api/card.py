"""A plain model card for parents and staff (domain.md, transparency): what the model is for,
what it reads and never reads, on which window it was trained, and how well and how fairly it
did - generated from the feature registry and what the registry says about the served version."""

from __future__ import annotations

from html import escape

from model.features import EXCLUDED_BY_DESIGN, FEATURES

INTENDED_USE = (
    "Fraværsradar helps a school's detection team (opsporingsteam) notice pupils whose absence "
    "may become concerning, earlier than the alarm lists do. It is decision support only: a flag "
    "never triggers anything by itself; a person decides, together with the family, and the "
    "decision is recorded. The statutory 10 %/15 % unauthorised-absence rule is shown apart: it "
    "is a rule, not a prediction.")


DIRECTION = {1: "+", -1: "-", 0: "±"}


def _metric_rows(metrics: dict[str, float]) -> str:
    wanted = [k for k in sorted(metrics) if k.startswith(("model.", "calibration.", "fairness.",
                                                          "lift_over"))]
    return "".join(f"<tr><td>{escape(k)}</td><td>{metrics[k]:.3f}</td></tr>" for k in wanted)


def model_card_html(name: str, version: str, details: dict) -> str:
    """The card as a small self-contained HTML page."""
    tags = details.get("tags", {})
    metrics = details.get("metrics", {})
    features = "".join(
        f"<tr><td>{escape(f.name)}</td><td>{escape(f.da)}</td><td>{escape(f.en)}</td>"
        f"<td>{escape(f.unit)}</td><td>{DIRECTION[f.direction]}</td></tr>" for f in FEATURES)
    excluded = ", ".join(escape(x) for x in EXCLUDED_BY_DESIGN)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Model card: {escape(name)} v{escape(version)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}}
td,th{{border-bottom:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}}</style>
</head><body>
<h1>Model card: {escape(name)} version {escape(version)}</h1>
<h2>Intended use</h2><p>{escape(INTENDED_USE)}</p>
<h2>Training</h2><ul>
<li>Trained: {escape(tags.get("trained_at", "unknown"))}</li>
<li>Training window (as-of dates): {escape(tags.get("train_window", "unknown"))}</li>
<li>Promotion gates: {escape(tags.get("gates", "unknown"))}</li></ul>
<h2>What it predicts</h2><p>The probability that a pupil's total absence over the next school
days after the as-of date reaches the municipality's threshold (defaults: 60 school days, 15 %),
from what was registered before that date only.</p>
<h2>Measured quality and fairness (later, held-out as-of dates)</h2>
<table><tr><th>metric</th><th>value</th></tr>{_metric_rows(metrics)}</table>
<h2>What it reads</h2>
<table><tr><th>feature</th><th>dansk</th><th>English</th><th>unit</th><th>raises risk</th></tr>
{features}</table>
<h2>What it never reads</h2><p>{excluded}. Individual wellbeing answers are never used; wellbeing
enters only as class-level indicators.</p>
</body></html>
"""
