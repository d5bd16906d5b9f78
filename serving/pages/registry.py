"""The model registry as the analysts' page reads it: every version with its aliases, tags and
evaluation metrics, and the evaluation report's plots, read through MLflow (serving never imports
training/). Aggregates only: nothing here is pupil-level. mlflow is imported lazily.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from model.registry import CHAMPION, EVALUATION_DIR, FAIRNESS_TABLE, registry_client, split_metric_key
from model.settings import Settings
from model.versions import VersionFacts, read_versions, version_facts

PLOT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}\.png$")
RANKER_METRICS = ("precision_at_capacity", "recall_at_capacity", "lead_time_median_weeks",
                  "detected_before_onset", "roc_auc")
MAX_CHALLENGERS = 5


@dataclass
class VersionView:
    """One registered version as the page shows it."""

    version: str
    aliases: list[str]
    tags: dict[str, str]
    metrics: dict[str, float]
    plots: list[str] = field(default_factory=list)

    @property
    def champion(self) -> bool:
        return CHAMPION in self.aliases

    def rankers(self) -> list[tuple[str, dict[str, float]]]:
        """(ranker, {metric: value}) for the model and every alarm-list rule evaluated, the model
        first: metrics are logged as `<ranker>.<metric>` (e.g. `rule.days_4_last_month.roc_auc`)."""
        found: dict[str, dict[str, float]] = {}
        for key, value in self.metrics.items():
            if (ranker_metric := split_metric_key(key, RANKER_METRICS)) is not None:
                ranker, metric = ranker_metric
                found.setdefault(ranker, {})[metric] = value
        return sorted(found.items(), key=lambda kv: (kv[0] != "model", kv[0]))

    def with_prefix(self, prefix: str) -> list[tuple[str, float]]:
        return sorted((k[len(prefix):], v) for k, v in self.metrics.items()
                      if k.startswith(prefix))

    @property
    def facts(self) -> VersionFacts:
        """Training window, backtest figures, gate verdicts (model.versions, as `ews models`)."""
        return version_facts(self.version, self.aliases, self.tags, self.metrics)


MAX_TABLE = 30  # versions in the page's table of every registered version, newest first


def version_table(settings: Settings) -> list[VersionFacts]:
    """Every registered version (the newest MAX_TABLE), newest first, read as `ews models` reads
    them: training window, backtest figures, gate verdicts and aliases."""
    return read_versions(registry_client(settings), settings.registered_model_name, MAX_TABLE)


def registry_versions(settings: Settings) -> list[VersionView]:
    """The champion first, then up to MAX_CHALLENGERS other versions, newest first."""
    client = registry_client(settings)
    name = settings.registered_model_name
    try:
        found = client.search_model_versions(f"name='{name}'")
    except Exception:  # noqa: BLE001 - no registered model yet
        return []
    # Search results do not carry aliases; the version itself does.
    found = sorted(found, key=lambda mv: int(mv.version), reverse=True)
    try:
        champion_version = str(client.get_model_version_by_alias(name, CHAMPION).version)
    except Exception:  # noqa: BLE001 - no champion yet
        champion_version = None
    champion = [mv for mv in found if str(mv.version) == champion_version]
    others = [mv for mv in found if str(mv.version) != champion_version][:MAX_CHALLENGERS]
    views = []
    for listed in champion + others:
        mv = client.get_model_version(name, listed.version)
        metrics: dict[str, float] = {}
        plots: list[str] = []
        if mv.run_id:
            try:
                metrics = dict(client.get_run(mv.run_id).data.metrics)
                plots = sorted(Path(a.path).name for a in
                               client.list_artifacts(mv.run_id, EVALUATION_DIR)
                               if PLOT_NAME.match(Path(a.path).name))
            except Exception:  # noqa: BLE001 - a version registered without its run
                pass
        views.append(VersionView(str(mv.version), list(mv.aliases or []), dict(mv.tags),
                                 metrics, plots))
    return views


class ArtifactCache:
    """The report's plots (PNG) and fairness table by (version, name), downloaded through MLflow
    once; no other artifact (the model itself, say) is ever handed out."""

    def __init__(self, size: int = 64):
        self.size = size
        self._data: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, settings: Settings, version: str, name: str) -> bytes | None:
        """The artifact's bytes, or None if the version has no such plot or table."""
        if not (PLOT_NAME.match(name) or name == FAIRNESS_TABLE) or not version.isdigit():
            return None
        key = (version, name)
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        client = registry_client(settings)
        try:
            mv = client.get_model_version(settings.registered_model_name, version)
            names = {Path(a.path).name for a in client.list_artifacts(mv.run_id, EVALUATION_DIR)}
            if name not in names:
                return None
            with tempfile.TemporaryDirectory(prefix="ews-plot-") as tmp:
                path = client.download_artifacts(mv.run_id, f"{EVALUATION_DIR}/{name}", tmp)
                data = Path(path).read_bytes()
        except Exception:  # noqa: BLE001 - unknown version or unreadable artifacts
            return None
        with self._lock:
            self._data[key] = data
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return data


def fairness_by_group(cache: ArtifactCache, settings: Settings, version: str) -> list[dict]:
    """The version's fairness table (the list handed out, per group), [] if it has none."""
    import csv
    import io

    data = cache.get(settings, version, FAIRNESS_TABLE)
    if data is None:
        return []
    rows = []
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        try:
            rows.append({"grouping": row["grouping"], "group": row["group"],
                         **{k: float(row[k]) for k in ("selection_rate", "precision", "recall")},
                         "rows": int(float(row["pupils"])) if row.get("pupils") else None})
        except (KeyError, ValueError):
            continue  # a table of another shape: show what can be read
    return rows
