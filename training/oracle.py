"""The oracle rankers of a generated municipality: the simulator's latent truth (issue 12).

`ews demo-data` writes each pupil's expected absence over the next 60 school days from the
generator's latent risk to `_truth/latent.parquet` beside the contract's files. It is not part of
the data contract and never ingested; the evaluation matrix reads it to rank pupils as an oracle
would, so the share of the best-rule-to-oracle gap the model closes can be reported.

Two oracles (`simulator.latent_truth`):

- `oracle`: the latent state *at* the as-of date: every pupil's propensities and every
  escalation that has begun, however faint its signs so far. This is the ceiling of what any
  ranker can learn from the past; the gap the model closes is measured against it.
- `oracle_clairvoyant`: also knows the escalations that begin *after* the as-of date (future
  events no data can show); reported beside it, so the headroom is not overstated either way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ORACLE = "oracle"
CLAIRVOYANT = "oracle_clairvoyant"
ORACLE_COLUMNS = {ORACLE: "latent_rate_as_of", CLAIRVOYANT: "latent_rate"}


def load_truth(folder: Path | str) -> pd.DataFrame | None:
    """The latent truth beside a generated municipality's files, or None."""
    path = Path(folder) / "_truth" / "latent.parquet"
    if not path.exists():
        return None
    truth = pd.read_parquet(path, columns=["pupil_id", "as_of", *ORACLE_COLUMNS.values()])
    truth["as_of"] = pd.to_datetime(truth["as_of"])
    return truth


def oracle_rankers(truth: pd.DataFrame):
    """`extra_rankers` for `train_and_evaluate`: both oracles' latent rate of each (pupil, as-of)
    row, looked up by the stored (pseudonymised or plain) pupil id; -inf where unknown."""
    lookup = truth.set_index(["pupil_id", "as_of"])[list(ORACLE_COLUMNS.values())]

    def rankers(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        keys = pd.MultiIndex.from_arrays([frame["pupil_id"].astype(str),
                                          pd.to_datetime(frame["as_of"])])
        found = lookup.reindex(keys)
        out = {}
        for name, column in ORACLE_COLUMNS.items():
            score = found[column].to_numpy(float)
            out[name] = np.where(np.isnan(score), -np.inf, score)
        return out

    return rankers


def gap_closed(comparison: pd.DataFrame, best_rule: str, metric: str = "precision_at_capacity",
               oracle: str = ORACLE) -> float:
    """(model - best rule) / (oracle - best rule) in `metric`; NaN without an oracle gap."""
    if oracle not in comparison.index:
        return float("nan")
    model, rule, top = (comparison.at[n, metric] for n in ("model", best_rule, oracle))
    return float((model - rule) / (top - rule)) if top > rule else float("nan")
