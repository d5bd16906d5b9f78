"""The MLflow registry contract is defined once, in model/registry.py: training/ and serving/ (and
the command line) never spell out an alias, an experiment, an artifact path, a registry tag or a
metric key of it again.

Checks over the Python source, by its syntax tree (comments and docstrings do not count):
- no string literal equal to an alias, an artifact path with a dot or a slash in it, or one of
  the backtest's metric keys, nor starting with an artifact folder and a slash;
- no string literal handed straight to an MLflow call that names an experiment, an artifact, an
  alias or a tag, and no tag read from a `tags` mapping by a literal: the contract's ordinary
  words ("evaluation", "monitoring", "model", "train_window", ...) are checked where they mean
  the registry's thing, and may stay ordinary words (a JSON key, a progress step) elsewhere;
- no `models:/` or `runs:/` URI written by hand (model.registry.model_uri, run_artifact_uri).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from model import registry
from tests.source_scan import docstring_ids

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("training", "serving", "ews")

KINDS = (registry.EXPERIMENTS, registry.ALIASES, registry.ARTIFACTS, registry.FOLDERS,
         registry.TAGS, registry.METRICS)
DISTINCTIVE = ({*registry.ALIASES, *registry.METRICS}
               | {a for a in registry.ARTIFACTS if "." in a or "/" in a}) - set(registry.TAGS)
ORDINARY = {*registry.EXPERIMENTS, *registry.FOLDERS, *registry.ARTIFACTS, *registry.TAGS} - DISTINCTIVE
MLFLOW_CALLS = {
    "log_artifact", "log_artifacts", "log_dict", "log_text", "log_model", "list_artifacts",
    "download_artifacts", "load_dict", "load_text", "create_experiment", "get_experiment_by_name",
    "set_experiment", "set_registered_model_alias", "get_model_version_by_alias",
    "delete_registered_model_alias", "set_model_version_tag", "set_registered_model_tag",
    "delete_model_version_tag", "register_model", "set_tag", "log_metric",
}
NAMING_KEYWORDS = {"name", "artifact_path", "artifact_file", "artifact_uri", "key", "alias",
                   "experiment_name", "path"}


def _sources(root: Path) -> list[Path]:
    return sorted(p for d in SCANNED for p in (root / d).rglob("*.py"))



def _texts(node: ast.AST) -> list[ast.Constant]:
    """The literal text of an argument written straight in the call: a string or an f-string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, ast.JoinedStr):
        return [v for v in node.values if isinstance(v, ast.Constant)]
    return []


def _violations(root: Path = ROOT) -> list[str]:
    found = []
    for path in _sources(root):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = docstring_ids(tree)
        where = path.relative_to(root)
        for const in ast.walk(tree):
            if not (isinstance(const, ast.Constant) and isinstance(const.value, str)) or id(const) in skip:
                continue
            text = const.value
            if text in DISTINCTIVE or any(text.startswith(f + "/") for f in registry.FOLDERS):
                found.append(f"{where}:{const.lineno}: {text!r} (use model.registry)")
            if "models:/" in text or "runs:/" in text:
                found.append(f"{where}:{const.lineno}: {text!r} (use model.registry's URIs)")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                if name in MLFLOW_CALLS:
                    args = [*node.args, *(k.value for k in node.keywords if k.arg in NAMING_KEYWORDS)]
                    for const in (c for a in args for c in _texts(a)):
                        if any(ch.isalpha() for ch in const.value):
                            found.append(f"{where}:{const.lineno}: {const.value!r} handed to "
                                         f"{name} (use model.registry)")
                if (name == "get" and isinstance(node.func, ast.Attribute) and node.args
                        and "tags" in ast.unparse(node.func.value)):
                    for const in _texts(node.args[0]):
                        if const.value in registry.TAGS:
                            found.append(f"{where}:{const.lineno}: tag {const.value!r} read by a "
                                         "literal (use model.registry)")
            if isinstance(node, ast.Subscript) and "tags" in ast.unparse(node.value):
                for const in _texts(node.slice):
                    if const.value in registry.TAGS:
                        found.append(f"{where}:{const.lineno}: tag {const.value!r} read by a "
                                     "literal (use model.registry)")
            if isinstance(node, ast.Compare) and any(isinstance(o, ast.In | ast.NotIn) for o in node.ops) \
                    and "tags" in ast.unparse(node.comparators[-1]):
                for const in _texts(node.left):
                    if const.value in registry.TAGS:
                        found.append(f"{where}:{const.lineno}: tag {const.value!r} tested by a "
                                     "literal (use model.registry)")
    return found


def test_every_name_of_the_contract_is_checked():
    names = {v for k, v in vars(registry).items() if k.isupper() and isinstance(v, str)}
    assert names == {v for kind in KINDS for v in kind}, "a name of model/registry.py in no kind"
    assert {"champion", "challenger", "monitoring/reference.json", "model_card/evaluation.json",
            "fairness.csv", "evaluation.html"} <= DISTINCTIVE
    assert {"evaluation", "monitoring", "needs_retraining", "champion_history"} <= ORDINARY


def test_training_and_serving_do_not_spell_out_registry_names():
    assert _violations() == []


@pytest.mark.parametrize("source", [
    "NAME = 'champion'\n", 'NAME = "monitoring/reference.json"\n', 'NAME = f"evaluation/{x}.png"\n',
    'URI = f"runs:/{r}/x"\n', 'def f(mlflow, tmp):\n    mlflow.log_artifacts(tmp, "evaluation")\n',
    'def f(client):\n    client.set_model_version_tag("m", "1", "needs_retraining", "x")\n',
    'def f(mv):\n    return mv.tags.get("train_window")\n',
    'def f(tags):\n    return tags["trained_at"]\n',
    'def f(mlflow):\n    return mlflow.set_experiment("fravaersradar")\n'])
def test_the_scan_catches_a_copy(tmp_path, source):
    """The check is not vacuous: a module that spells a name out again is found."""
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "copy.py").write_text(source, encoding="utf-8")
    assert _violations(tmp_path)
