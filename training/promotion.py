"""Which version serves: the analysts' decisions on the `champion` alias (issue 12).

`ews train` promotes a version that passes the gates; a person can promote another one
(`promote`, refused for a version whose backtest loses to the best rule) or go back to the
previous champion (`rollback`). Every move of the alias, automatic or by a person, is appended
to the registered model's `champion_history` tag (JSON list of {action, version, previous, at,
by}), so a rollback knows where to go. The reason a person gives is not kept here: the command
line writes it to the audit log (serving/audit.py), the one record of who decided what.
mlflow is imported lazily.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from model.errors import UserError
from model.registry import CHAMPION, CHAMPION_HISTORY, PREVIOUS_CHAMPION
from model.settings import Settings
from model.versions import (
    VersionFacts,
    champion_stack,
    parse_history,
    read_versions,
    run_metrics,
    version_facts,
)

HISTORY_LIMIT = 200  # moves kept in the tag (MLflow tag values are bounded; oldest dropped)


@dataclass(frozen=True)
class Move:
    """One move of the champion alias."""

    action: str  # train | promote | rollback
    version: str
    previous: str | None


def _client(settings: Settings):
    from model.registry import tracking_client

    return tracking_client(settings)


def _champion(client, name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except Exception:  # noqa: BLE001 - no registered model or no alias yet
        return None


def _history(client, name: str) -> list[dict]:
    try:
        return parse_history(client.get_registered_model(name).tags.get(CHAMPION_HISTORY))
    except Exception:  # noqa: BLE001 - no registered model yet
        return []


def record_move(client, name: str, move: Move, by: str) -> None:
    """Append a move of the champion alias to the registered model's history tag."""
    history = _history(client, name)
    history.append({"action": move.action, "version": move.version, "previous": move.previous,
                    "at": datetime.now(UTC).isoformat(timespec="seconds"), "by": by[:64]})
    client.set_registered_model_tag(name, CHAMPION_HISTORY,
                                    json.dumps(history[-HISTORY_LIMIT:], separators=(",", ":")))


def registered_versions(settings: Settings) -> list[VersionFacts]:
    """Every registered version, newest first, with its figures, gates and aliases."""
    return read_versions(_client(settings), settings.registered_model_name)


def promote(settings: Settings, version: str, by: str) -> Move:
    """Make `version` the champion by a person's decision. UserError for an unknown version,
    the champion itself, or a version whose backtest loses to the best rule."""
    client = _client(settings)
    name = settings.registered_model_name
    version = str(version).strip().lstrip("v")
    if not version.isdigit():
        raise UserError(f"VERSION must be a registered version number, not {version!r}")
    try:
        mv = client.get_model_version(name, version)
    except Exception:  # noqa: BLE001 - unknown version or no registered model
        raise UserError(f"no registered version {version} of {name}") from None
    facts = version_facts(version, list(mv.aliases or []), dict(mv.tags),
                          run_metrics(client, mv.run_id))
    current = _champion(client, name)
    if current == version:
        raise UserError(f"version {version} is the champion already")
    ok, why = facts.promotable()
    if not ok:
        raise UserError(f"refused: version {version} cannot be promoted because {why}")
    client.set_registered_model_alias(name, CHAMPION, version)
    move = Move("promote", version, current)
    record_move(client, name, move, by)
    return move


def rollback(settings: Settings, by: str) -> Move:
    """Make the previous champion the champion again (the one before the current one took
    over). UserError if there is no champion or no earlier one."""
    client = _client(settings)
    name = settings.registered_model_name
    current = _champion(client, name)
    if current is None:
        raise UserError("there is no champion to roll back from")
    stack = champion_stack(_history(client, name), current)
    target = stack[-2] if len(stack) >= 2 else None
    if target is None:  # versions registered before the history was kept
        target = client.get_model_version(name, current).tags.get(PREVIOUS_CHAMPION) or None
    if target is None or target == current:
        raise UserError(f"version {current} has no previous champion to roll back to")
    try:
        client.get_model_version(name, target)
    except Exception:  # noqa: BLE001
        raise UserError(f"the previous champion, version {target}, is no longer registered") from None
    client.set_registered_model_alias(name, CHAMPION, target)
    move = Move("rollback", target, current)
    record_move(client, name, move, by)
    return move
