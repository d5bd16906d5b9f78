"""The champion model as serving sees it: loaded from the MLflow registry by alias."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from model.errors import UserError
from model.estimator import RiskModel
from model.settings import Settings

CHAMPION = "champion"


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


def _client(settings: Settings):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    return MlflowClient(settings.tracking_uri)


def champion_version(settings: Settings) -> str | None:
    """The version the `champion` alias points at now, or None."""
    try:
        mv = _client(settings).get_model_version_by_alias(settings.registered_model_name, CHAMPION)
    except Exception:  # noqa: BLE001 - no model or alias registered yet
        return None
    return str(mv.version)


def load_champion(settings: Settings, version: str | None = None) -> Champion:
    """Load the champion (or a given version); a clear user error if there is none."""
    import mlflow

    client = _client(settings)
    name = settings.registered_model_name
    try:
        mv = (client.get_model_version(name, version) if version
              else client.get_model_version_by_alias(name, CHAMPION))
    except Exception as exc:  # noqa: BLE001
        raise UserError("no champion model is registered yet: run `ews train` first") from exc
    model = mlflow.sklearn.load_model(f"models:/{name}/{mv.version}")
    return Champion(model, str(mv.version), name, dict(mv.tags))
