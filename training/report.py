"""The evaluation report an analyst reads: plots and one HTML page (no pupil ids in it)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from model.registry import EVALUATION_PAGE, FAIRNESS_TABLE
from training.evaluation import list_flags
from training.pipeline import MODEL_RANKER, TrainResult


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(ranker: str) -> str:
    """A ranker in a plot's legend: the model, or a rule by its plain Danish name."""
    from model.rules import rule_label

    return "modellen (model)" if ranker == MODEL_RANKER else rule_label(ranker, "da")


def calibration_plot(result: TrainResult, path: Path) -> Path:
    from model.features import feature_matrix

    plt = _plt()
    known = result.test_frame["label"].notna().to_numpy()
    test = result.test_frame[known]
    # the backtest's out-of-fold risks: the refit was trained on these weeks
    risk = (result.test_risk[known] if result.test_risk is not None
            else result.model.predict_proba(feature_matrix(test))[:, 1])
    bins = np.linspace(0, 1, 11)
    idx = np.minimum(np.digitize(risk, bins) - 1, 9)
    frame = pd.DataFrame({"bin": idx, "risk": risk, "y": test["label"].to_numpy()})
    agg = frame.groupby("bin").agg(risk=("risk", "mean"), observed=("y", "mean"), n=("y", "size"))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfekt (perfect)")
    ax.plot(agg["risk"], agg["observed"], "o-", label="modellen (model)")
    # Danish first, English in brackets: the model page shows these plots to Danish analysts.
    ax.set(xlabel="forudsagt risiko (predicted risk)",
           ylabel="observeret andel bekymrende (observed share concerning)",
           title="Kalibrering (calibration), backtest uden for fold (out of fold)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def precision_curve_plot(result: TrainResult, path: Path, rankers: dict[str, np.ndarray]) -> Path:
    """Precision of the per-school list as the list grows from 1 % to 20 % of pupils."""
    from training.evaluation import Capacity

    plt = _plt()
    test = result.test_frame
    known = test["label"].notna().to_numpy()
    shares = np.array([0.01, 0.02, 0.03, 0.05, 0.075, 0.10, 0.15, 0.20])
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, score in rankers.items():
        prec = [np.nanmean(test["label"].to_numpy()[list_flags(test, score, Capacity(s, 1)) & known])
                for s in shares]
        ax.plot(shares * 100, prec, "o-" if name == MODEL_RANKER else ".--", label=_label(name))
    ax.axvline(result.capacity.share * 100, color="grey", lw=0.8)
    ax.set(xlabel="listelængde, % af skolens elever (list length, % of pupils)",
           ylabel="præcision (precision)",
           title="Præcision ved listelængde (precision at list length)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lead_time_plot(result: TrainResult, path: Path, names: list[str]) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.arange(0, 22, 1)
    for name in names:
        ax.hist(result.comparison.at[name, "lead_times"], bins=bins, alpha=0.5, label=_label(name))
    ax.set(xlabel="uger på listen før bekymrende (weeks listed before concerning)",
           ylabel="elever (pupils)", title="Varsling (lead time)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(float_format=lambda v: f"{v:.3f}", border=0, classes="t")


def _feedback_html(result: TrainResult) -> str:
    """The teams' uptake of the lists and the intervention rows (section of the report)."""
    if result.uptake.empty:
        uptake = "<p>No stored lists yet: no reviews to report.</p>"
    else:
        uptake = ("<p>Early-warning flags handed out and the team's latest decision on each, per "
                  "school; <i>acted on</i>: decision &ldquo;investigate&rdquo;.</p>" + _table(result.uptake))
    if result.interventions:
        rows = "".join(f"<li>{html.escape(k.replace('_', ' '))}: {v:g}</li>"
                       for k, v in result.interventions.items())
        interventions = f"<ul>{rows}</ul>"
    else:
        interventions = "<p>Reviews ignored in the evaluation (EWS_INTERVENTION_LABELS=ignore).</p>"
    return (f"<h2>Feedback from the detection teams</h2>{uptake}<h3>Pupils under an active "
            f"intervention (evaluation rows)</h3>{interventions}")


def _folds_text(result: TrainResult) -> str:
    if not result.folds:
        return f"calibrated on {result.split.describe()['calibration']}"
    return "; ".join(f"{f.fold.name} {f.fold.test_window} (lift {f.summary()['lift']}, "
                     f"ECE {f.calibration['ece_not_yet_concerning']:.3f})" for f in result.folds)


def write_report(result: TrainResult, out_dir: Path, gates=None, version: str | None = None,
                 extra_plots: dict[str, Path] | None = None) -> Path:
    """Write plots and `evaluation.html` into `out_dir`; return the HTML path."""
    from model.features import feature_matrix

    out_dir.mkdir(parents=True, exist_ok=True)
    test, best = result.test_frame, result.best_rule
    margin = (result.test_margin if result.test_margin is not None
              else result.model.decision_function(feature_matrix(test)))
    rankers = {MODEL_RANKER: margin,
               best: test[f"rule_{best.split(':', 1)[1]}"].to_numpy(float)}
    plots = {
        "Calibration": calibration_plot(result, out_dir / "calibration.png"),
        "Precision at list length": precision_curve_plot(result, out_dir / "precision_at_k.png", rankers),
        "Lead time": lead_time_plot(result, out_dir / "lead_time.png", [MODEL_RANKER, best]),
        **(extra_plots or {}),
    }
    comparison = result.comparison.drop(columns=["lead_times"])
    comparison.to_csv(out_dir / "comparison.csv")
    result.fairness.to_csv(out_dir / FAIRNESS_TABLE, index=False)
    if not result.uptake.empty:
        result.uptake.to_csv(out_dir / "uptake.csv")
    gate_html = "".join(f"<li>{html.escape(r)}</li>" for r in (gates.reasons if gates else []))
    plot_html = "".join(f"<figure><img src='{p.name}' alt='{html.escape(t)}'><figcaption>"
                        f"{html.escape(t)}</figcaption></figure>" for t, p in plots.items())
    page = f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>Fraværsradar evaluation {html.escape(version or '')}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#1a1a1a}}
table.t{{border-collapse:collapse;font-size:13px}}table.t td,table.t th{{padding:3px 8px;
border-bottom:1px solid #ddd;text-align:right}}figure{{display:inline-block;margin:8px}}
img{{max-width:520px}}</style>
<h1>Evaluation of model {html.escape(version or '(unregistered)')}</h1>
<p>Trained on as-of dates {result.split.describe()['train']} (every as-of date whose label
window had closed). The recipe was backtested on rolling folds, each trained only on as-of dates
whose label window closed before its test window: {html.escape(_folds_text(result))}; the figures
below are the folds' means, calibration from the folds' out-of-fold margins.
Label: total absence &ge; {result.spec.threshold:.0%} over the
next {result.spec.horizon} school days. Lists: {result.capacity.share:.0%} of each school's pupils
(at least {result.capacity.minimum}), among pupils who are not yet concerning.</p>
<h2>Against the rules at the same list length</h2>
<p>Best rule: <b>{html.escape(best)}</b>. Lift in precision at list length:
<b>{result.lift:.2f}x</b>.</p>{_table(comparison)}
<h2>Calibration</h2>{_table(pd.DataFrame([result.calibration]))}
<h2>Promotion gates</h2><ul>{gate_html}</ul>
<h2>Fairness of the list handed out</h2>
{_table(pd.DataFrame([result.fairness_ratios]).T.rename(columns={0: 'min/max ratio'}))}
{_table(result.fairness)}
{_feedback_html(result)}
<h2>Rows</h2>{_table(pd.DataFrame([result.counts]).T.rename(columns={0: 'rows'}))}
<h2>Plots</h2>{plot_html}
</html>"""
    path = out_dir / EVALUATION_PAGE
    path.write_text(page, encoding="utf-8")
    return path
