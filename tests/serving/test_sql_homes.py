"""Each table's queries live beside its records (issue 16): the HTTP API (serving/api/), the team
pages (serving/pages/) and the command line (ews/) call query functions of serving (for example
serving.stored_lists, serving.risk) and hold no SQL of their own.

The scan reads the source's syntax tree: a call of sqlalchemy's select, insert, update, delete
or text (however imported), any `.execute(...)`-like call, pandas' read_sql, and a string that
reads as SQL all count. The scanner is tested on planted offenders too, so a scan that finds
nothing means the code is clean, not that the scanner is blind.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.source_scan import docstring_ids

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("serving/api", "serving/pages", "ews")
SQL_BUILDERS = {"select", "insert", "update", "delete", "text"}
EXECUTING = {"execute", "executemany", "executescript", "exec_driver_sql",
             "read_sql", "read_sql_query", "read_sql_table"}
# SQL as written in this code base (upper-case keywords); UI sentences such as "Select the
# week from the list" do not match.
SQL_STRING = re.compile(r"\bSELECT\s+(?:DISTINCT\s+)?\S[\s\S]*?\bFROM\s+\w|\bINSERT\s+INTO\s+\w|"
                        r"\bUPDATE\s+\w+\s+SET\s|\bDELETE\s+FROM\s+\w")
# (path, finding) -> why it may stay where it is
ALLOWED = {
    ("serving/api/routes/health.py", "text('SELECT 1')"):
        "the liveness probe asks the store whether it answers at all; it reads no table",
    ("serving/api/routes/health.py", ".execute()"):
        "runs the liveness probe's SELECT 1 (above)",
}


def _sqlalchemy_names(tree: ast.AST) -> tuple[dict[str, str], set[str]]:
    """Local names bound to sqlalchemy's query builders (local -> builder), and local names
    bound to the sqlalchemy package or one of its modules."""
    builders: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module == "sqlalchemy" or node.module.startswith("sqlalchemy.")):
            for alias in node.names:
                if alias.name in SQL_BUILDERS:
                    builders[alias.asname or alias.name] = alias.name
                elif alias.name in {"sql", "expression"}:
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sqlalchemy" or alias.name.startswith("sqlalchemy."):
                    modules.add(alias.asname or alias.name.split(".")[0])
    return builders, modules


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None



def sql_in(source: str) -> list[tuple[int, str]]:
    """(line, what) for every piece of SQL in a module's source."""
    tree = ast.parse(source)
    builders, modules = _sqlalchemy_names(tree)
    docstrings = docstring_ids(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = None
            if isinstance(func, ast.Name) and func.id in builders:
                name = builders[func.id]
            elif (isinstance(func, ast.Attribute) and func.attr in SQL_BUILDERS
                  and _root_name(func.value) in modules):
                name = func.attr
            if name is not None:
                first = node.args[0] if node.args else None
                shown = (repr(first.value) if isinstance(first, ast.Constant)
                         and isinstance(first.value, str) else "...")
                found.append((node.lineno, f"{name}({shown})"))
            elif isinstance(func, ast.Attribute) and func.attr in EXECUTING:
                found.append((node.lineno, f".{func.attr}()"))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings and SQL_STRING.search(node.value)):
            found.append((node.lineno, f"SQL string {node.value[:40]!r}"))
    return sorted(set(found))


def _scanned_files() -> list[Path]:
    return [p for folder in SCANNED for p in sorted((ROOT / folder).rglob("*.py"))]


def _findings() -> list[tuple[str, int, str]]:
    return [(path.relative_to(ROOT).as_posix(), line, what) for path in _scanned_files()
            for line, what in sql_in(path.read_text(encoding="utf-8"))]


def test_api_pages_and_cli_hold_no_sql():
    assert _scanned_files(), "nothing scanned: the folders moved?"
    offenders = [f"{path}:{line}: {what}" for path, line, what in _findings()
                 if (path, what) not in ALLOWED]
    assert not offenders, ("SQL outside its table's home; move it into a query function of "
                           "serving (e.g. serving.stored_lists, serving.risk):\n"
                           + "\n".join(offenders))


def test_every_allowance_is_still_needed():
    seen = {(path, what) for path, _, what in _findings()}
    assert set(ALLOWED) <= seen, f"stale allowances: {sorted(set(ALLOWED) - seen)}"


PLANTED = {
    "select": "from sqlalchemy import select\nselect(t.c.a)\n",
    "aliased": "from sqlalchemy import insert as ins\nins(t).values(a=1)\n",
    "module": "import sqlalchemy as sa\nsa.update(t).values(a=1)\n",
    "sql module": "from sqlalchemy import sql\nsql.delete(t)\n",
    "text": "from sqlalchemy import text\nq = text('SELECT 1')\n",
    "lazy import": "def f():\n    from sqlalchemy.sql import select\n    return select(t)\n",
    "execute": "def f(conn):\n    return conn.execute(q)\n",
    "driver sql": "def f(engine):\n    engine.connect().exec_driver_sql(q)\n",
    "read_sql": "import pandas as pd\npd.read_sql(q, engine)\n",
    "string": "Q = 'SELECT * FROM flags WHERE id = :id'\n",
    "insert string": "Q = \"\"\"\n    INSERT INTO reviews (id) VALUES (1)\"\"\"\n",
}


@pytest.mark.parametrize("source", PLANTED.values(), ids=PLANTED.keys())
def test_the_scanner_finds_a_planted_offender(source, tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(source, encoding="utf-8")
    assert sql_in(planted.read_text(encoding="utf-8"))


CLEAN = {
    "a method named text": "def f(c, language):\n    return c.text(language)\n",
    "a route named delete": "@router.delete('/v1/tokens/{id}')\ndef f():\n    pass\n",
    "select elsewhere": "from selectors import select\nselect(x)\n",
    "a UI sentence": "WORDS = 'Select the week from the list, or delete from view'\n",
    "a docstring": "def f():\n    \"\"\"Reads SELECT * FROM flags through serving.\"\"\"\n",
}


@pytest.mark.parametrize("source", CLEAN.values(), ids=CLEAN.keys())
def test_the_scanner_leaves_clean_code_alone(source):
    assert sql_in(source) == []
