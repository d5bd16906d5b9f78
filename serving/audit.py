"""The audit log: every read or export of pupil-level data and every review, appended.

A row says who (token name or `cli:<command>`), in which role and school scope, did what, to
which pupil and when. The pupil is named only by `audit_marker` of the pseudonym (a keyed
one-way marker), never by a pupil id, so the log can be kept after a pupil is erased and need
never be rewritten; the store refuses UPDATE and DELETE on the table (model.records). `detail`
is a small JSON of context without ids (as-of date, week, language, row counts).

A weekly list names many pupils: the first read of a version of a list by a token on a day is
recorded once per pupil on it; a repeated read of the same version that day is one row without
a pupil (`detail.pupils_recorded` false). Every read is there, and every pupil a list showed is
named on that day, without tens of rows per page reload (at 100 list reads a second, one row
per pupil per read was 6,700 index inserts a second and 40 MB/s of SQLite WAL).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from model.pseudonym import pseudonymise
from model.records import audit_log, audit_marker

# What is recorded (the `action` column).
READ_RISK = "read_risk"
READ_HISTORY = "read_history"
READ_FLAG_LIST = "read_flag_list"
READ_FLAG = "read_flag"
REVIEW = "review"
EXPORT_SCORES = "export_scores"
EXPORT_FLAGS = "export_flags"
PUSH_REGISTER = "push_register"
TOKEN_CREATE = "token_create"
TOKEN_REVOKE = "token_revoke"
MODEL_PROMOTE = "model_promote"  # issue 12: a person made a version the champion
MODEL_ROLLBACK = "model_rollback"  # issue 12: back to the previous champion

REASON_MAX = 300  # characters of an analyst's reason kept in the audit log
_CPR_LIKE = re.compile(r"\d{6}[\s-]?\d{4}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def analyst_reason(text: str) -> str:
    """An analyst's reason for a decision about a model, as the audit log keeps it: one line,
    at most REASON_MAX characters, anything shaped like a CPR number masked. It is about a
    model, never about a pupil; masking is the safety net if a number slips in."""
    line = " ".join(_CONTROL.sub(" ", text or "").split())
    line = _CPR_LIKE.sub("##########", line)
    return line if len(line) <= REASON_MAX else line[: REASON_MAX - 1] + "…"



class GroupCommit:
    """Appends audit rows for many threads in few transactions (leader/follower group commit).

    A caller queues its rows and waits until they are committed, so a read is audited before
    its data is returned. Whoever then holds the write lock (the leader) writes everything
    queued so far in one transaction, its own rows and those of the threads that arrived while
    the previous transaction ran; they find theirs done. One thread writes at a time (SQLite's
    busy handler would back off in sleeps of up to 100 ms), without a hand-over to a writer
    thread when there is no contention. If a transaction fails, every caller in it gets the
    error (nothing is returned unaudited).
    """

    COLUMNS = ("at", "actor", "role", "school_id", "action", "pupil_marker", "detail")

    def __init__(self, engine: Engine):
        self.engine = engine
        dialect = engine.dialect
        # The statement is compiled once and run through the driver's executemany: the rows of
        # one read share everything but the marker, so `at` and `detail` are converted to what
        # the driver takes (the column types' own bind processors) once per read, not per row.
        compiled = insert(audit_log).values({c: None for c in self.COLUMNS}).compile(
            dialect=dialect)
        self._sql = str(compiled)
        self._order = list(compiled.positiontup) if compiled.positional else None
        self._convert = {c: audit_log.c[c].type.dialect_impl(dialect).bind_processor(dialect)
                         for c in self.COLUMNS}
        self._pending: list[_Pending] = []
        self._pending_lock = threading.Lock()
        self._write_lock = threading.Lock()

    def append(self, base: dict, markers: list[str | None]) -> None:
        """Commit one row per marker, with the other columns from `base`; return when done."""
        mine = _Pending(self._rows(base, markers))
        with self._pending_lock:
            self._pending.append(mine)
        with self._write_lock:
            if not mine.done:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._write(batch)
        if mine.error is not None:
            raise mine.error

    def _write(self, batch: list[_Pending]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(self._sql, [row for item in batch for row in item.rows])
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
            for item in batch:
                item.error = exc
        for item in batch:
            item.done = True

    def _rows(self, base: dict, markers: list[str | None]) -> list:
        values = {c: (conv(base[c]) if conv is not None else base[c])
                  for c, conv in self._convert.items() if c != "pupil_marker"}
        if self._order is None:
            return [{**values, "pupil_marker": m} for m in markers]
        template = [values.get(c) for c in self._order]
        slot = self._order.index("pupil_marker")
        rows = []
        for m in markers:
            row = list(template)
            row[slot] = m
            rows.append(tuple(row))
        return rows


class _Pending:
    __slots__ = ("rows", "done", "error")

    def __init__(self, rows: list):
        self.rows = rows
        self.done = False
        self.error: BaseException | None = None


_WRITERS: dict[int, tuple[Engine, GroupCommit]] = {}
_WRITERS_LOCK = threading.Lock()


def _writer(engine: Engine) -> GroupCommit:
    with _WRITERS_LOCK:
        found = _WRITERS.get(id(engine))
        if found is None or found[0] is not engine:
            found = _WRITERS[id(engine)] = (engine, GroupCommit(engine))
        return found[1]


def record(target: Engine | Connection, key: bytes, *, actor: str, role: str, action: str,
           school_id: str | None = None, pupils: Iterable[str] = (),
           detail: Mapping[str, Any] | None = None, at: datetime | None = None) -> int:
    """Append one row per pupil (ids as stored: pseudonyms), or one row without a pupil if none
    is given, and return when they are committed: in the given connection's transaction, or
    through the engine's group commit. Returns the number of rows appended."""
    at = at or datetime.now(UTC)
    base = {"at": at, "actor": actor[:64], "role": role[:16], "school_id": school_id,
            "action": action, "detail": dict(detail) if detail else None}
    markers: list[str | None] = list(dict.fromkeys(_marker(p, key) for p in pupils)) or [None]
    if isinstance(target, Connection):
        target.execute(insert(audit_log), [{**base, "pupil_marker": m} for m in markers])
    else:
        _writer(target).append(base, markers)
    return len(markers)


@functools.lru_cache(maxsize=65536)
def _marker(pupil_id: str, key: bytes) -> str:
    return audit_marker(pupil_id, key)


def marker_of(pupil: str, key: bytes) -> str:
    """The audit marker of a pupil given as a CPR number, a pseudonym or a pseudonymous id."""
    return audit_marker(pseudonymise(pupil, key), key)


def entries(engine: Engine, key: bytes, since: date | None = None,
            pupil: str | None = None) -> list[dict]:
    """Audit rows, oldest first: all of them, or since a date and/or about one pupil (CPR number
    or pseudonym)."""
    query = select(audit_log).order_by(audit_log.c.id)
    if since is not None:
        query = query.where(audit_log.c.at >= datetime(since.year, since.month, since.day,
                                                       tzinfo=UTC))
    if pupil is not None:
        query = query.where(audit_log.c.pupil_marker == marker_of(pupil, key))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query).all()]
