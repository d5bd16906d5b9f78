"""Files that hold personal data are the owner's only: 0600 for files, 0700 for folders.

The `ews` process runs under umask 077 (`owner_only`), so whatever it or a library (SQLite,
MLflow, pandas) creates is private from the start; the store's and the registry's files, the
state folder and the exports are also created or set explicitly (`private_file`,
`private_dir`), for code that runs outside the command line (the API under another server,
tests, notebooks).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
UMASK = 0o077


@contextmanager
def owner_only() -> Iterator[None]:
    """Run the block under umask 077 (new files 0600, new folders 0700)."""
    old = os.umask(UMASK)
    try:
        yield
    finally:
        os.umask(old)


def private_dir(path: Path | str) -> Path:
    """Create the folder (and its parents) if needed and make it owner-only."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path | str) -> Path:
    """Create an empty file owner-only if it does not exist, or make an existing one so."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    os.chmod(path, FILE_MODE)
    return path


def sqlite_file(url: str) -> Path | None:
    """The database file of a sqlite:/// URL, or None (memory, or another database)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    name = url[len(prefix):].split("?", 1)[0]
    return None if name in ("", ":memory:") else Path(name)
