"""The weekly list's length and how a ranking is cut at it: shared by serving (the weekly flag
lists) and training (evaluation at the list length the teams actually get).

A school's *capacity* is how many early warnings its detection team can take up in a week:
by default 5 % of the school's pupils on roll, at least 3, or a fixed number set per school
(`Settings.capacity_overrides`). Only pupils who are not already concerning are listed; ties in
the score are broken deterministically (recent absence, then a hash of the pupil id), so the
same scores always give the same list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Capacity:
    """How many early warnings a school's team can take up in a week."""

    share: float = 0.05
    minimum: int = 3
    overrides: Mapping[str, int] = field(default_factory=dict)  # school_id -> list length

    @classmethod
    def from_settings(cls, settings) -> Capacity:
        """The capacity configured in `settings`."""
        return cls(settings.capacity_share, settings.capacity_min,
                   dict(settings.capacity_overrides))

    def for_school(self, pupils_on_roll: int, school_id: str | None = None) -> int:
        """The school's list length: its override if it has one, else max(minimum, ceil(share x
        pupils on roll)).
        """
        if school_id is not None and school_id in self.overrides:
            return int(self.overrides[school_id])
        # Round before ceil so 5 % of 100 is 5, not 6 (0.05 * 100 = 5.000000000000001).
        return max(self.minimum, math.ceil(round(self.share * pupils_on_roll, 9)))


def tiebreak(frame: pd.DataFrame) -> np.ndarray:
    """A deterministic tie-break: recent total absence, then a hash of the pupil id."""
    ids = pd.util.hash_pandas_object(frame["pupil_id"], index=False).to_numpy() % 1_000_003
    return np.nan_to_num(frame["total_rate_12w"].to_numpy(np.float64)) + ids / 1e13


def list_ranks(frame: pd.DataFrame, score: np.ndarray, by: str | None = "school_id") -> np.ndarray:
    """0-based rank of each row among the not-yet-concerning rows of its (as_of[, by]) group,
    highest score first; -1 for rows that are already concerning (never listed).
    """
    keys = ["as_of"] + ([by] if by else [])
    eligible = ~frame["already_concerning"].to_numpy(bool)
    work = pd.DataFrame({
        "s": np.where(eligible, np.asarray(score, dtype=float), -np.inf),
        "tie": tiebreak(frame),
    })
    for k in keys:
        work[k] = frame[k].to_numpy()
    order = work.sort_values(keys + ["s", "tie"], ascending=[True] * len(keys) + [False, False],
                             kind="stable")
    rank = order.groupby(keys, sort=False).cumcount().reindex(work.index).to_numpy()
    return np.where(eligible, rank, -1)


def list_flags(frame: pd.DataFrame, score: np.ndarray, capacity: Capacity,
               by: str | None = "school_id") -> np.ndarray:
    """Boolean: is the row on the list at capacity? Capacity per (as_of, school) is computed from
    all pupils on roll there, overrides included (by=None: the whole municipality per as-of
    date, without overrides).
    """
    keys = ["as_of"] + ([by] if by else [])
    groups = frame[keys]
    on_roll = groups.groupby(keys, sort=False)[keys[0]].transform("size").to_numpy()
    cap = np.maximum(capacity.minimum, np.ceil(np.round(capacity.share * on_roll, 9))).astype(int)
    if by == "school_id" and capacity.overrides:
        fixed = frame["school_id"].map(dict(capacity.overrides)).to_numpy(dtype=float)
        cap = np.where(np.isnan(fixed), cap, fixed).astype(int)
    rank = list_ranks(frame, score, by)
    return (rank >= 0) & (rank < cap)
