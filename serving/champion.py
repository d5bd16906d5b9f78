"""The champion model as serving sees it: loaded from the MLflow registry by alias. The names
(alias, artifact paths, the client) are model.registry's; `registry_client` stays importable here."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from model.errors import UserError
from model.estimator import RiskModel
from model.registry import CARD_EVALUATION, CHAMPION, model_uri, registry_client
from model.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Champion:
    """A loaded model version and what the registry says about it."""

    model: RiskModel
    version: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name}/v{self.version}"


def champion_version(settings: Settings) -> str | None:
    """The version the `champion` alias points at now, or None."""
    try:
        mv = registry_client(settings).get_model_version_by_alias(settings.registered_model_name, CHAMPION)
    except Exception:  # noqa: BLE001 - no model or alias registered yet
        return None
    return str(mv.version)


def load_champion(settings: Settings, version: str | None = None) -> Champion:
    """Load the champion (or a given version); a clear user error if there is none."""
    import mlflow

    client = registry_client(settings)
    name = settings.registered_model_name
    try:
        mv = (client.get_model_version(name, version) if version
              else client.get_model_version_by_alias(name, CHAMPION))
    except Exception as exc:  # noqa: BLE001
        raise UserError("no champion model is registered yet: run `ews train` first") from exc
    model = mlflow.sklearn.load_model(model_uri(name, mv.version))
    return Champion(model, str(mv.version), name, dict(mv.tags))


# --- the service's champion: loaded once, checked in the background, swapped atomically --------

NO_CHAMPION_CODES = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


class RegistryUnavailable(Exception):
    """The model registry could not be asked (down, unreachable, unreadable)."""


class IncompatibleModel(Exception):
    """A registered version that this code cannot feed: trained on other features."""


def check_compatible(champion: Champion) -> None:
    """IncompatibleModel unless the model was trained on the features this code computes, in
    the same order (a model from before a feature was added would fail every request)."""
    from model.features import FEATURE_NAMES

    model = champion.model
    names = getattr(model, "feature_names_", None)
    n = getattr(model, "n_features_in_", None)
    if (names is not None and list(names) != FEATURE_NAMES) or (
            n is not None and n != len(FEATURE_NAMES)):
        raise IncompatibleModel(
            f"champion version {champion.version} was trained on {n} features, this code "
            f"computes {len(FEATURE_NAMES)}: train a new version (ews train)")


def champion_pointer(settings: Settings, client=None) -> str | None:
    """The version the `champion` alias points at, None if there is no champion yet; raises
    RegistryUnavailable when the registry cannot be asked (unlike `champion_version`)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    try:
        from mlflow.exceptions import MlflowException

        client = client if client is not None else registry_client(settings)
        mv = client.get_model_version_by_alias(settings.registered_model_name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in NO_CHAMPION_CODES:
            return None
        raise RegistryUnavailable(
            f"model registry: {type(exc).__name__}: {exc.error_code}") from exc
    except Exception as exc:  # noqa: BLE001 - any other failure: the registry cannot be asked
        raise RegistryUnavailable(f"model registry unreachable: {type(exc).__name__}") from exc
    return str(mv.version)


def version_details(settings: Settings, version: str) -> dict:
    """What the registry and the training run say about a version: tags (trained_at,
    train_window, gates, ...), evaluation metrics, parameters, registration time, aliases and the
    model card's logged evaluation (None if absent). Aggregates only, never pupil-level data."""
    client = registry_client(settings)
    mv = client.get_model_version(settings.registered_model_name, version)
    metrics, params = {}, {}
    if mv.run_id:
        try:
            run = client.get_run(mv.run_id)
            metrics, params = dict(run.data.metrics), dict(run.data.params)
        except Exception:  # noqa: BLE001 - a version registered without its run
            pass
    return {"tags": dict(mv.tags), "metrics": metrics, "params": params,
            "registered_at": mv.creation_timestamp, "aliases": list(mv.aliases),
            "evaluation": logged_card_evaluation(client, mv.run_id)}


def logged_card_evaluation(client, run_id: str | None) -> dict | None:
    """The card evaluation logged in the version's run, or None (a version registered without it)."""
    if not run_id:
        return None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = client.download_artifacts(run_id, CARD_EVALUATION, tmp)
            return json.loads(Path(path).read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - no such artifact: the card falls back to the registry's metrics
        return None


class MlflowRegistry:
    """The registry as the holder sees it: which version is the champion, load one, describe it.
    Tests substitute an object with the same three methods."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def champion_version(self) -> str | None:
        return champion_pointer(self.settings, self.registry_client())

    def registry_client(self):
        client = getattr(self, "_mlflow_client", None)
        if client is None:
            try:
                client = self._mlflow_client = registry_client(self.settings)
            except Exception:  # noqa: BLE001 - champion_pointer reports it
                return None
        return client

    def load(self, version: str) -> Champion:
        try:
            return load_champion(self.settings, version)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - the artifacts cannot be read: keep the old one
            raise RegistryUnavailable(f"model {version} could not be loaded: "
                                      f"{type(exc).__name__}") from exc

    def details(self, version: str) -> dict:
        try:
            return version_details(self.settings, version)
        except Exception:  # noqa: BLE001 - details are a nicety; the model itself is loaded
            return {}


@dataclass(frozen=True)
class ServedModel:
    """One loaded champion as the service uses it; never changed after it is made, so a request
    that took it keeps a consistent model even when the holder swaps to a newer one."""

    champion: Champion
    details: dict
    loaded_at: datetime

    @property
    def version(self) -> str:
        return self.champion.version

    @property
    def model(self) -> RiskModel:
        return self.champion.model


class ChampionHolder:
    """The service's champion: loaded at start-up, re-checked by `refresh` (in the background
    every N seconds, and on demand). A newly promoted version is loaded first and then swapped in
    with one reference assignment, so requests in flight finish on the model they started with.
    When the registry cannot be asked, the last good model stays in use and `status` says so."""

    def __init__(self, settings: Settings, registry=None):
        self.registry = registry if registry is not None else MlflowRegistry(settings)
        self._served: ServedModel | None = None
        self._refresh_lock = threading.Lock()
        self.registry_reachable: bool | None = None  # None: not asked yet
        self.problem: str | None = None
        self.checked_at: datetime | None = None
        self.swaps = 0
        self._listeners: list = []

    @property
    def served(self) -> ServedModel | None:
        """The model to use for one request: read once, use throughout."""
        return self._served

    def on_swap(self, listener) -> None:
        """Call `listener(served_model)` after each swap (e.g. to warm caches)."""
        self._listeners.append(listener)

    def refresh(self) -> bool:
        """Ask the registry for the champion and swap to it if it changed. Never raises; returns
        whether a new model was swapped in."""
        with self._refresh_lock:
            self.checked_at = datetime.now(UTC)
            try:
                version = self.registry.champion_version()
                current = self._served
                if version is None:
                    self.registry_reachable = True
                    self.problem = ("no champion model is registered yet" if current is None else
                                    "the registry has no champion alias now; serving the last one")
                    return False
                if current is not None and current.version == version:
                    self.registry_reachable, self.problem = True, None
                    return False
                champion = self.registry.load(version)
                check_compatible(champion)
                details = self.registry.details(version)
            except IncompatibleModel as exc:
                self.registry_reachable = True
                self.problem = (f"{exc}; serving the last good model" if self._served is not None
                                else f"{exc}; no model loaded")
                log.warning("champion not usable: %s", self.problem)
                return False
            except Exception as exc:  # noqa: BLE001 - RegistryUnavailable or a broken model
                self.registry_reachable = False
                self.problem = (f"{exc}; serving the last good model" if self._served is not None
                                else f"{exc}; no model loaded")
                log.warning("champion check failed: %s", self.problem)
                return False
            self._served = ServedModel(champion, details, datetime.now(UTC))
            self.swaps += 1
            self.registry_reachable, self.problem = True, None
        log.info("serving champion %s", champion.label)
        for listener in self._listeners:
            try:
                listener(self._served)
            except Exception:  # noqa: BLE001 - a listener must not undo a swap
                log.exception("after-swap listener failed")
        return True

    def status(self) -> dict:
        """For /health: the served version, whether the registry answered, and any problem."""
        served = self._served
        return {"model_version": served.version if served else None,
                "registry_reachable": self.registry_reachable,
                "problem": self.problem,
                "checked_at": self.checked_at,
                "loaded_at": served.loaded_at if served else None}
