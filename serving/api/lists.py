"""The weekly lists as the API serves them: rendered once per list version, then sent as bytes.

Rendering a stored list (reason sentences in the reader's language, latest reviews) costs a few
milliseconds; a list changes only when it is built again (`ews flags`) or a review is recorded.
So each (school, week, language) is kept as validated JSON bytes together with a fingerprint of
what it was rendered from - the list's header and flag rows as stored, and the newest review of
the school - and rendered again only when that fingerprint changes. The fingerprint (three small
reads) is checked at most every `recheck_seconds`; a review recorded through this service
invalidates its school's lists at once, a list rebuilt by `ews flags` shows within that time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from serving.api.schemas import FlagList
from serving.stored_lists import stored_list_state


@dataclass(frozen=True)
class RenderedList:
    fingerprint: str
    body: bytes  # the FlagList as JSON
    week: str
    pupils: tuple[str, ...]  # every pupil on the list, for the audit log


class FlagListCache:
    """Rendered lists by (school, week, language), checked against the store on every read."""

    def __init__(self, engine: Engine, size: int = 256, recheck_seconds: float = 1.0):
        self.engine = engine
        self.size = size
        self.recheck_seconds = recheck_seconds
        self._data: OrderedDict[tuple[str, str, str], RenderedList] = OrderedDict()
        self._verified: dict[tuple[str, str, str], float] = {}
        self._read: set[tuple] = set()
        self._lock = threading.Lock()

    def first_read(self, token_id: int, school_id: str, entry: RenderedList) -> bool:
        """Whether this token reads this version of the list for the first time today (in this
        process): then the audit log records the read once per pupil on it; a repeated read of
        the same list on the same day is recorded as one row (see serving.audit)."""
        key = (token_id, school_id, entry.week, entry.fingerprint, date.today())
        with self._lock:
            if key in self._read:
                return False
            if len(self._read) > 100_000:
                self._read.clear()
            self._read.add(key)
            return True

    def invalidate(self, school_id: str) -> None:
        """Check the school's lists against the store on their next read."""
        with self._lock:
            for key in [k for k in self._verified if k[0] == school_id]:
                del self._verified[key]

    def fingerprint(self, school_id: str, week: str) -> str | None:
        """A digest of the stored list and the school's reviews; None if there is no list."""
        state = stored_list_state(self.engine, school_id, week)
        if state is None:
            return None
        digest = hashlib.sha256(repr(state).encode())
        return digest.hexdigest()

    def get(self, school_id: str, week: str, language: str) -> RenderedList | None:
        """The list rendered in `language`, current with the store; None if there is none."""
        from serving.stored_lists import stored_flag_list

        key = (school_id, week, language)
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and time.monotonic() - self._verified.get(
                    key, float("-inf")) < self.recheck_seconds:
                self._data.move_to_end(key)
                return entry
        checked_at = time.monotonic()
        fingerprint = self.fingerprint(school_id, week)
        if fingerprint is None:
            return None
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and entry.fingerprint == fingerprint:
                self._data.move_to_end(key)
                self._verified[key] = checked_at
                return entry
        found = stored_flag_list(self.engine, school_id, week, language)
        if found is None:
            return None
        pupils = tuple(f["pupil_id"] for rows in found["sections"].values() for f in rows)
        body = FlagList.model_validate(found).model_dump_json().encode()
        entry = RenderedList(fingerprint, body, found["week"], pupils)
        with self._lock:
            self._data[key] = entry
            self._verified[key] = checked_at
            while len(self._data) > self.size:
                old, _ = self._data.popitem(last=False)
                self._verified.pop(old, None)
        return entry
