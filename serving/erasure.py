"""Erasure of one pupil (GDPR art. 17): everywhere the system keeps data, nothing left behind.

- The store, in one transaction: reviews, flags (the stored weekly lists), scores, concerns,
  register strips, enrolments and the pupil row. Import batches, school days, class wellbeing,
  monitoring results and tokens never name a pupil; the audit log names pupils only by a
  one-way marker (model.records.audit_marker), kept so earlier reads stay accountable, and the
  erasure itself is recorded there with that marker only. A SQLite file is then compacted
  (WAL checkpoint and VACUUM) so the deleted pages do not keep the pseudonym.
- Files under EWS_HOME (the exports of `ews flags` and `ews score` written there, anything
  else): CSV files are rewritten without the rows that name the pupil, Excel workbooks without
  those rows, HTML pages without those table rows; any other file that still names the pupil is
  deleted. The store's and MLflow's own files are not exports and are left to them.
- Models trained before the erasure are tagged for retraining in the registry; the command line
  does that (training.tracking.flag_for_retraining), as serving never writes the registry.

Idempotent: erasing the same pupil again finds nothing, changes nothing and says when it was
erased; a pupil the system has never held is a user error.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, delete, select

from model.errors import UserError
from model.pseudonym import pseudonymise
from model.records import audit_log, audit_marker, flags, reviews, scores
from model.store import concerns, enrolments, pupils, register
from serving.audit import record
from serving.retention import compact

ERASE = "erase"
ERASE_FILES = "erase_files"
# Children before parents (foreign keys).
PUPIL_TABLES = (reviews, flags, scores, concerns, register, enrolments, pupils)
# The store's and the registry's own files under EWS_HOME: not exports.
OWN_FILES = re.compile(r"^(ews\.db|mlflow\.db)(-wal|-shm|-journal)?$|^pseudonym\.key$")
OWN_FOLDERS = ("mlartifacts",)
_TABLE_ROW = re.compile(r"<tr\b[^>]*>(?:(?!</tr>).)*?</tr>\s*", re.DOTALL)


@dataclass
class ErasureResult:
    pseudonym_marker: str
    deleted: dict[str, int] = field(default_factory=dict)
    rewritten: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    erased_before: datetime | None = None  # set when an earlier run already erased the pupil
    problem: str | None = None

    @property
    def changed(self) -> bool:
        return bool(sum(self.deleted.values()) or self.rewritten or self.removed)

    def lines(self, home: Path) -> list[str]:
        if not self.changed and self.erased_before is not None:
            return [f"already erased on {self.erased_before:%Y-%m-%d %H:%M} UTC: nothing of the "
                    f"pupil is left (audit marker {self.pseudonym_marker})"]
        out = [f"erased pupil (audit marker {self.pseudonym_marker}):"]
        out += [f"  deleted {n:>6} rows from {t}" for t, n in self.deleted.items() if n]
        out += [f"  rewrote {p.relative_to(home)} without the pupil" for p in self.rewritten]
        out += [f"  deleted {p.relative_to(home)} (it named the pupil)" for p in self.removed]
        if self.problem:
            out.append(f"  warning: {self.problem}")
        return out


def erase_pupil(settings, engine: Engine, pupil: str) -> ErasureResult:
    """Remove the pupil (CPR number or pseudonym) from the store and the files under EWS_HOME;
    UserError if the system has never held the pupil."""
    key = settings.secret_key()
    pupil_id = pseudonymise(pupil, key)
    marker = audit_marker(pupil_id, key)
    result = ErasureResult(marker)
    with engine.begin() as conn:
        for table in PUPIL_TABLES:
            result.deleted[table.name] = int(conn.execute(
                delete(table).where(table.c.pupil_id == pupil_id)).rowcount or 0)
        earlier = conn.execute(select(audit_log.c.at).where(
            audit_log.c.pupil_marker == marker, audit_log.c.action == ERASE)
            .order_by(audit_log.c.at).limit(1)).scalar()
        if not sum(result.deleted.values()) and earlier is None and not _named_in_files(
                settings.home_dir, pupil_id):
            raise UserError(f"unknown pupil {'(CPR number)' if pupil_id != pupil.strip() else repr(pupil)}: "
                            "nothing is held about this pupil")
        if sum(result.deleted.values()):
            record(conn, key, actor="cli:erase", role="admin", action=ERASE, pupils=[pupil_id],
                   detail={"deleted": result.deleted})
    result.erased_before = _aware(earlier)
    if sum(result.deleted.values()):
        result.problem = compact(engine)
    result.rewritten, result.removed = erase_from_files(settings.home_dir, pupil_id)
    if result.rewritten or result.removed:
        record(engine, key, actor="cli:erase", role="admin", action=ERASE_FILES, pupils=[pupil_id],
               detail={"rewritten": len(result.rewritten), "deleted": len(result.removed)})
    return result


def _aware(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# -- files under EWS_HOME ----------------------------------------------------------------------


def export_files(home: Path) -> list[Path]:
    """Every file under `home` but the store's and the registry's own."""
    out = []
    for path in sorted(home.rglob("*")):
        rel = path.relative_to(home)
        if not path.is_file() or rel.parts[0] in OWN_FOLDERS or (
                len(rel.parts) == 1 and OWN_FILES.match(rel.name)):
            continue
        out.append(path)
    return out


def file_text(path: Path) -> bytes:
    """The bytes a search for an id must look at: a zip container's (xlsx) members unpacked."""
    data = path.read_bytes()
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return b"".join(z.read(name) for name in z.namelist())
    return data


def _named_in_files(home: Path, pupil_id: str) -> bool:
    needle = pupil_id.encode()
    return any(needle in file_text(p) for p in export_files(home))


def erase_from_files(home: Path, pupil_id: str) -> tuple[list[Path], list[Path]]:
    """Rewrite or delete every export under `home` that names the pupil; (rewritten, deleted)."""
    needle = pupil_id.encode()
    rewritten, removed = [], []
    for path in export_files(home):
        if needle not in file_text(path):
            continue
        suffix = path.suffix.lower()
        try:
            if suffix == ".csv":
                _rewrite_csv(path, pupil_id)
            elif suffix == ".xlsx":
                _rewrite_xlsx(path, pupil_id)
            elif suffix in (".html", ".htm"):
                path.write_text(_TABLE_ROW.sub(
                    lambda m: "" if pupil_id in m.group(0) else m.group(0),
                    path.read_text(encoding="utf-8")), encoding="utf-8")
        except Exception:  # noqa: BLE001 - a file we cannot rewrite is deleted below
            pass
        if needle in file_text(path):
            path.unlink()
            removed.append(path)
        else:
            rewritten.append(path)
    return rewritten, removed


def _rewrite_csv(path: Path, pupil_id: str) -> None:
    text = path.read_text(encoding="utf-8")
    dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ",", delimiters=",;\t")
    rows = list(csv.reader(io.StringIO(text), dialect))
    kept = [r for i, r in enumerate(rows) if i == 0 or pupil_id not in r]
    out = io.StringIO()
    csv.writer(out, delimiter=dialect.delimiter, lineterminator="\n").writerows(kept)
    path.write_text(out.getvalue(), encoding="utf-8")


def _rewrite_xlsx(path: Path, pupil_id: str) -> None:
    from openpyxl import load_workbook

    book = load_workbook(path)
    for sheet in book.worksheets:
        doomed = [row[0].row for row in sheet.iter_rows()
                  if any(cell.value == pupil_id for cell in row)]
        for r in reversed(doomed):
            sheet.delete_rows(r)
    book.save(path)
