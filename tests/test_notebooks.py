"""The analysts' notebooks (notebooks/*.ipynb): stored without outputs, each stating its purpose, and
each running top to bottom on a small demo municipality (demo-data -> ingest -> train, built once
per session) in a Jupyter kernel of this Python, with a time limit per cell."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

from tests.cli import trained_demo

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell; the slowest (training in 02) takes well under a minute here
KERNEL = "python3"  # ipykernel's own spec: jupyter_client starts it with sys.executable


def _ids(paths):
    return [p.stem for p in paths]


def test_the_notebooks_are_there():
    names = {p.stem[:2] for p in NOTEBOOKS}
    assert {"01", "02", "03"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_a_notebook_is_stored_without_outputs_and_states_its_purpose(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.source[:60])
        assert "attachments" not in cell or not cell.attachments
    first = book.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "**Purpose:**" in first.source, f"{path.name} must state its purpose at the top"


def _kernel_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "EWS_HOME": str(home), "EWS_PSEUDONYM_KEY": "n" * 40, "OMP_NUM_THREADS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true", "MPLBACKEND": "Agg",
           # the kernel imports this checkout's packages, whatever is installed
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    for var in ("MLFLOW_TRACKING_URI", "EWS_DATABASE_URL", "EWS_INTERVENTION_LABELS"):
        env.pop(var, None)
    return env


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    """A demo municipality (1,600 pupils, 4 schools, three school years) ingested and trained."""
    root = tmp_path_factory.mktemp("notebooks")
    trained_demo(root, pupils=1600, schools=4, seed=11, env=_kernel_env(root / "home"))
    return root / "home"


def _execute(book, home: Path, cwd: Path):
    from nbclient import NotebookClient

    client = NotebookClient(book, timeout=CELL_TIMEOUT, kernel_name=KERNEL, allow_errors=False,
                            resources={"metadata": {"path": str(cwd)}})
    return client.execute(env=_kernel_env(home))


def test_the_kernel_is_this_python(tmp_path):
    book = nbformat.v4.new_notebook()
    source = "import sys, model; print(sys.executable); print(model.__file__)"
    book.cells = [nbformat.v4.new_code_cell(source)]
    _execute(book, tmp_path / "home", tmp_path)
    executable, package = book.cells[0].outputs[0]["text"].split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(package).resolve().is_relative_to(ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_a_notebook_runs_top_to_bottom_on_the_demo_municipality(path, demo_home):
    book = nbformat.read(path, as_version=4)
    _execute(book, demo_home, path.parent)  # raises CellExecutionError on the first failing cell
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    # the run must not have written into the stored notebook
    assert all(c.outputs == [] for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
