"""The oracle ranker of a generated municipality: the simulator's latent truth (issue 12).

`ews demo-data` writes each pupil's expected absence over the next 60 school days from the
generator's latent risk to `_truth/latent.parquet` beside the contract's files. It is not part of
the data contract and never ingested; the evaluation matrix reads it to rank pupils as an oracle
would, so the share of the best-rule-to-oracle gap the model closes can be reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ORACLE = "oracle"


def load_truth(folder: Path | str) -> pd.DataFrame | None:
    """The latent truth beside a generated municipality's files, or None."""
    path = Path(folder) / "_truth" / "latent.parquet"
    if not path.exists():
        return None
    truth = pd.read_parquet(path, columns=["pupil_id", "as_of", "latent_rate"])
    truth["as_of"] = pd.to_datetime(truth["as_of"])
    return truth


def oracle_rankers(truth: pd.DataFrame):
    """`extra_rankers` for `train_and_evaluate`: the latent rate of each (pupil, as-of) row,
    looked up by the stored (pseudonymised or plain) pupil id; -inf where unknown."""
    lookup = truth.set_index(["pupil_id", "as_of"])["latent_rate"]

    def rankers(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        keys = pd.MultiIndex.from_arrays([frame["pupil_id"].astype(str),
                                          pd.to_datetime(frame["as_of"])])
        score = lookup.reindex(keys).to_numpy(float)
        return {ORACLE: np.where(np.isnan(score), -np.inf, score)}

    return rankers


def gap_closed(comparison: pd.DataFrame, best_rule: str, metric: str = "precision_at_capacity") -> float:
    """(model - best rule) / (oracle - best rule) in `metric`; NaN without an oracle gap."""
    if ORACLE not in comparison.index:
        return float("nan")
    model, rule, oracle = (comparison.at[n, metric] for n in ("model", best_rule, ORACLE))
    return float((model - rule) / (oracle - rule)) if oracle > rule else float("nan")
