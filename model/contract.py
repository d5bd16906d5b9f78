"""The data contract as code: read a municipality's delivery and check every rule.

A delivery is a folder of CSV files (comma or semicolon separated, UTF-8) or Parquet files with
the same columns; see docs `data-contract.md`. It is taken in three steps, each its own function
so the ingest can stop early:

- `locate` finds the contract's files in the folder (names and columns are case-insensitive);
- `read` parses them and, as the very first thing, replaces CPR numbers in `pupil_id` by keyed
  pseudonyms (deriving birth date and gender first): the raw column is dropped there, so nothing
  downstream ever holds a CPR number. Unknown and free-text columns are dropped with a warning;
- `validate` checks every rule and returns a `Delivery`: typed frames and the register as arrays.

Every broken rule becomes a `Problem` naming the file, the line (the header is line 1; Parquet
rows are numbered the same way), the column and the rule. Up to 20 are collected, then raised
together as one `UserError`. Rules are checked on the distinct values of a column
(`pd.factorize`) and mapped back to rows through the codes, so a 10M-row register costs a few
numpy passes, never a Python loop per row.

National scale: the register file (attendance, ~110M rows a school year for the whole
country) is never one frame. `read` only checks its header; `validate` reads it in chunks of
CHUNK_ROWS rows (Parquet row batches, or CSV blocks), checks each chunk's rows with the same
rules and line numbers, and keeps only compact arrays of the valid entries (about 14 bytes an
entry); duplicates across chunks are found on the pupil x school-day grid afterwards. A
delivery is still accepted or rejected whole.

Privacy: a value is echoed in a message only through `shown`, which masks anything shaped like a
CPR number, and pupil ids are never echoed at all: a problem on a row with a CPR names the line.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from model.calendar import school_year_label, weekday
from model.errors import Problem, UserError
from model.identifiers import CPR_IN_TEXT, cpr_digits, id_problem, mask_cpr, normalised_text
from model.pseudonym import parse_cpr, pseudonymise
from model.store import FRACTION_SCALE, STATUS_CODES, STRIP_DAYS

MAX_PROBLEMS = 20
CHUNK_ROWS = 2_000_000  # register rows validated at a time: bounds memory at national scale
STREAMED = ("attendance",)  # files read chunk by chunk (the others are at most a row a pupil)
ID_LENGTH = 64  # the store's String(64) keys
NAME_LENGTH = 200


@dataclass(frozen=True)
class FileSpec:
    """One file of the contract: its columns, which of them must be there, and its key."""

    name: str
    required: bool
    columns: tuple[str, ...]
    required_columns: tuple[str, ...]

    @property
    def csv(self) -> str:
        return f"{self.name}.csv"


FILES: tuple[FileSpec, ...] = (
    FileSpec("schools", True, ("school_id", "name"), ("school_id", "name")),
    FileSpec("pupils", True, ("pupil_id", "birth_date", "gender"), ("pupil_id",)),
    FileSpec(
        "enrolments",
        True,
        ("pupil_id", "school_id", "school_year", "grade", "class_id", "special_needs"),
        ("pupil_id", "school_id", "school_year", "grade"),
    ),
    FileSpec(
        "attendance",
        True,
        ("pupil_id", "date", "status", "absent_fraction"),
        ("pupil_id", "date", "status"),
    ),
    FileSpec(
        "concerns",
        False,
        ("pupil_id", "date", "source", "category", "severity"),
        ("pupil_id", "date", "source", "category"),
    ),
    FileSpec(
        "class_wellbeing",
        False,
        ("class_id", "school_year", "social", "academic", "calm_order", "support"),
        ("class_id", "school_year"),
    ),
)
SPECS = {spec.name: spec for spec in FILES}
FILE_ORDER = {spec.name: i for i, spec in enumerate(FILES)}

SOURCES = ("teacher", "parent", "pupil", "health", "social", "other")
CATEGORIES = ("wellbeing", "social", "bullying", "academic", "behaviour", "family", "health",
              "other")
WELLBEING_INDICATORS = ("social", "academic", "calm_order", "support")

# Status names as written in the file (after `normalise_status`) -> the contract's status.
STATUS_ALIASES = {
    "present": "present",
    "tilstede": "present",
    "til stede": "present",
    "illness": "illness",
    "sygdom": "illness",
    "syg": "illness",
    "authorised": "authorised",
    "authorized": "authorised",
    "ekstraordinær frihed": "authorised",
    "ekstraordinaer frihed": "authorised",
    "lovligt": "authorised",
    "lovligt fravær": "authorised",
    "fri": "authorised",
    "unauthorised": "unauthorised",
    "unauthorized": "unauthorised",
    "ulovligt": "unauthorised",
    "ulovligt fravær": "unauthorised",
}
STATUS_HINT = (
    "use present, illness, authorised or unauthorised "
    "(or tilstede, sygdom, ekstraordinær frihed, ulovligt)"
)

# A column whose name holds one of these words is free text: dropped at the door, never stored.
FREE_TEXT_WORDS = frozenset({
    "note", "notes", "comment", "comments", "text", "remark", "remarks", "description",
    "freetext", "notat", "noter", "bemærkning", "bemærkninger", "kommentar", "kommentarer",
    "tekst", "fritekst", "beskrivelse",
})
BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "ja": True, "nej": False,
            "yes": True, "no": False, "": None}

CPR_SHAPE = re.compile(r"^\d{6}-?\d{4}$")  # the plain notations; `cpr_digits` takes them all
CPR_ANYWHERE = CPR_IN_TEXT
ISO_DATE = r"\d{4}-\d{2}-\d{2}"
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def shown(value: object) -> str:
    """A value fit for a message: quoted, shortened, and anything shaped like a CPR masked."""
    text = mask_cpr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def normalise_status(text: str) -> str:
    """Lower case, single spaces, underscores as spaces: 'Ekstraordinær_Frihed' -> the alias key."""
    return " ".join(text.strip().lower().replace("_", " ").split())


def normalise_column(name: object) -> str:
    """Column names are case-insensitive; spaces and hyphens count as underscores."""
    text = str(name).replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def is_free_text(column: str) -> bool:
    return any(word in FREE_TEXT_WORDS for word in re.split(r"[^0-9a-zæøå]+", column))


# --- locating and reading ----------------------------------------------------------------------


@dataclass
class Located:
    """The contract's files found in a delivery folder (contract name -> path)."""

    folder: Path
    paths: dict[str, Path]
    warnings: list[str] = field(default_factory=list)


def locate(folder: Path | str) -> Located:
    """Find the contract's files (case-insensitive, .csv or .parquet); UserError if a required
    one is missing or one is given twice. Other .csv/.parquet files are ignored with a warning."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder")
    found: dict[str, list[Path]] = {}
    warnings = []
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        if path.name.startswith(".") or not path.is_file() or suffix not in (".csv", ".parquet"):
            continue
        stem = path.stem.lower()
        if stem in SPECS:
            found.setdefault(stem, []).append(path)
        else:
            warnings.append(f"unknown file {shown(path.name)} ignored (not stored)")
    problems = []
    for spec in FILES:
        paths = found.get(spec.name, [])
        if len(paths) > 1:
            names = " and ".join(p.name for p in paths)
            problems.append(Problem(paths[0].name, f"given twice ({names}): keep one"))
        elif not paths and spec.required:
            problems.append(Problem(spec.csv, "required file is missing"))
    if problems:
        raise UserError(problems)
    return Located(folder, {name: paths[0] for name, paths in found.items()}, warnings)


def sha256_of(path: Path) -> str:
    """The file's SHA-256 (hex), read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 23):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class PupilIds:
    """A pupil_id column after pseudonymisation: `codes` per row into `values` (distinct ids).

    Per distinct value: `bad_cpr` if the raw id had the shape of a CPR number but no valid birth
    date (rejected, as it may be a mistyped CPR number), and the birth date (NaT if none) and
    gender ('' if none) derived from a CPR number."""

    codes: np.ndarray
    values: np.ndarray
    bad_cpr: np.ndarray
    born: np.ndarray
    gender: np.ndarray

    def blank_rows(self) -> np.ndarray:
        return (self.values == "")[self.codes]

    def named(self) -> np.ndarray:
        """Per distinct value: a usable id (not blank, not a malformed CPR number)."""
        return (self.values != "") & ~self.bad_cpr


@dataclass
class SourceFile:
    """One read file: the contract's columns (pupil_id replaced by `ids`); index = line numbers."""

    spec: FileSpec
    path: Path
    sha256: str
    frame: pd.DataFrame
    ids: PupilIds | None

    @property
    def display(self) -> str:
        return self.path.name

    def __len__(self) -> int:
        return len(self.frame)


@dataclass
class RawDelivery:
    """Files read and pseudonymised, not yet validated."""

    files: dict[str, SourceFile]
    warnings: list[str]


def read(located: Located, key: bytes, hashes: dict[str, str] | None = None) -> RawDelivery:
    """Parse the located files, pseudonymise pupil ids, drop unknown and free-text columns.
    UserError for a file that cannot be parsed or lacks a required column."""
    problems: list[Problem] = []
    warnings = list(located.warnings)
    files = {}
    for spec in FILES:
        path = located.paths.get(spec.name)
        if path is None:
            continue
        sha = hashes[spec.name] if hashes and spec.name in hashes else None
        if spec.name in STREAMED:
            streamed, file_problems, column_warnings = _open_streamed(spec, path, sha, key)
            problems += file_problems
            warnings += column_warnings
            if streamed is not None:
                files[spec.name] = streamed
            continue
        frame, sha, file_problems = _read_table(path, sha)
        problems += file_problems
        if frame is None:
            continue
        frame, column_problems, column_warnings = _contract_columns(spec, path.name, frame)
        problems += column_problems
        warnings += column_warnings
        if column_problems:
            continue
        ids = None
        if "pupil_id" in frame.columns:
            ids = _pseudonymise(frame["pupil_id"], key)
            if ids is None:
                problems.append(Problem(path.name, "pupil_id must be a text column (a number "
                                        "loses a CPR number's leading zero)", 1, "pupil_id"))
                continue
            frame = frame.drop(columns="pupil_id")
        files[spec.name] = SourceFile(spec, path, sha, frame, ids)
    if problems:
        raise UserError(problems[:MAX_PROBLEMS])
    return RawDelivery(files, warnings)


def _read_table(path: Path, sha: str | None) -> tuple[pd.DataFrame | None, str, list[Problem]]:
    """A file as a frame indexed by line number (header = line 1), its SHA-256 and problems."""
    if path.suffix.lower() == ".parquet":
        sha = sha or sha256_of(path)
        try:
            frame = pd.read_parquet(path).reset_index(drop=True)
        except Exception:  # noqa: BLE001 - any failure: not a readable Parquet file
            return None, sha, [Problem(path.name, "cannot be read as Parquet")]
        frame.index = np.arange(len(frame)) + 2
        return frame, sha, []
    scanned_sha, inner_blank = _scan_csv(path)
    sha = sha or scanned_sha
    with open(path, "rb") as fh:
        header = fh.readline(1 << 16).decode("utf-8", errors="replace")
    if not header.strip():
        return None, sha, [Problem(path.name, "is empty: the first line must be the header", 1)]
    sep = ";" if header.count(";") > header.count(",") else ","
    if not inner_blank:
        # pyarrow is ten times faster; it skips blank lines, so it is used only when there are
        # none, and anything it refuses goes to the C parser below for an exact line number.
        try:
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, engine="pyarrow")
            frame.index = np.arange(len(frame)) + 2
            return frame, sha, []
        except Exception:  # noqa: BLE001, S110 - re-read below for a precise message
            pass
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                            skip_blank_lines=False, encoding="utf-8", engine="c")
    except UnicodeDecodeError:
        return None, sha, [Problem(path.name, "is not UTF-8 text: save it as UTF-8 CSV")]
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            want, line, saw = (int(g) for g in m.groups())
            return None, sha, [Problem(path.name, f"expected {want} fields, saw {saw}", line)]
        return None, sha, [Problem(path.name, "cannot be read as CSV (check quotes and "
                                   "separators)")]
    except pd.errors.EmptyDataError:
        return None, sha, [Problem(path.name, "is empty: the first line must be the header", 1)]
    frame.index = np.arange(len(frame)) + 2
    # Blank lines (kept above so that line numbers stay exact) are no rows.
    blank = frame.isna() | frame.eq("")
    return frame[~blank.all(axis=1)], sha, []


def _scan_csv(path: Path) -> tuple[str, bool]:
    """SHA-256 of the file and whether it has a blank line before some content."""
    digest = hashlib.sha256()
    inner_blank = pending_blank = False
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 23):
            digest.update(chunk)
            if inner_blank:
                continue
            if pending_blank and chunk.strip():
                inner_blank = True
                continue
            buf = tail + chunk
            positions = [p for p in (buf.find(b"\n\n"), buf.find(b"\n\r\n")) if p >= 0]
            if positions:
                if buf[min(positions):].strip():
                    inner_blank = True
                else:
                    pending_blank = True
            tail = buf[-2:]
    return digest.hexdigest(), inner_blank


def _contract_columns(spec: FileSpec, display: str, frame: pd.DataFrame):
    """Keep the contract's columns (renamed to their canonical names); warn about the rest."""
    problems, warnings, keep = [], [], {}
    for raw in frame.columns:
        name = normalise_column(raw)
        if name in spec.columns:
            if name in keep:
                problems.append(Problem(display, f"column {name} appears twice", 1, name))
            keep[name] = raw
        elif is_free_text(name):
            warnings.append(f"{display}: free-text column {shown(name)} dropped (never stored)")
        elif name:
            warnings.append(f"{display}: unknown column {shown(name)} ignored (not stored)")
    for name in spec.required_columns:
        if name not in keep:
            problems.append(Problem(display, f"required column {name} is missing", 1, name))
    out = frame[list(keep.values())]
    out.columns = list(keep)
    return out, problems, warnings


@dataclass
class StreamedFile:
    """A large file (the register) whose header is checked and whose rows are read chunk by chunk
    (`chunks`), each chunk a SourceFile indexed by line numbers; `len` counts the rows read."""

    spec: FileSpec
    path: Path
    sha256: str
    columns: dict[str, str]  # canonical name -> the file's own column name
    key: bytes
    sep: str | None = None  # CSV separator; None for Parquet
    inner_blank: bool = False
    chunk_rows: int | None = None  # None: CHUNK_ROWS
    rows: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def display(self) -> str:
        return self.path.name

    def __len__(self) -> int:
        return self.rows

    def chunks(self) -> Iterator[SourceFile]:
        """The file's rows as SourceFiles of at most `chunk_rows` rows, pupil ids pseudonymised
        (each distinct CPR number hashed once); UserError if the file cannot be parsed."""
        self.rows = 0
        self.chunk_rows = self.chunk_rows or CHUNK_ROWS
        for frame in self._frames():
            frame = frame[list(self.columns.values())]
            frame.columns = list(self.columns)
            ids = _pseudonymise(frame["pupil_id"], self.key, self._cache)
            if ids is None:
                raise UserError(Problem(self.display, "pupil_id must be a text column (a number "
                                        "loses a CPR number's leading zero)", 1, "pupil_id"))
            self.rows += len(frame)
            yield SourceFile(self.spec, self.path, self.sha256, frame.drop(columns="pupil_id"), ids)

    def _frames(self) -> Iterator[pd.DataFrame]:
        if self.sep is None:
            yield from self._parquet_frames()
            return
        done = 0
        if not self.inner_blank:
            # pyarrow's reader is several times faster; on anything it refuses, the C parser
            # below takes over where it stopped and names the exact line.
            try:
                for frame in self._arrow_frames():
                    done += len(frame)
                    yield frame
                return
            except Exception:  # noqa: BLE001, S110 - re-read below for a precise message
                pass
        yield from self._c_frames(skip=done)

    def _parquet_frames(self) -> Iterator[pd.DataFrame]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            schema = pq.ParquetFile(self.path).schema_arrow
            # Text columns come as dictionaries (codes into the distinct values): no Python
            # string per row, and the rules look at the distinct values anyway.
            text = [c for c in self.columns.values()
                    if pa.types.is_string(schema.field(c).type)
                    or pa.types.is_large_string(schema.field(c).type)]
            reader = pq.ParquetFile(self.path, read_dictionary=text)
            first = 0
            for batch in reader.iter_batches(batch_size=self.chunk_rows,
                                             columns=list(self.columns.values())):
                frame = batch.to_pandas()
                frame.index = np.arange(first, first + len(frame)) + 2
                first += len(frame)
                yield frame
        except UserError:
            raise
        except Exception:  # noqa: BLE001 - any failure: not a readable Parquet file
            raise UserError(Problem(self.display, "cannot be read as Parquet")) from None

    def _arrow_frames(self) -> Iterator[pd.DataFrame]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        reader = pacsv.open_csv(
            self.path, read_options=pacsv.ReadOptions(block_size=1 << 25),
            parse_options=pacsv.ParseOptions(delimiter=self.sep),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in self.columns.values()},
                include_columns=list(self.columns.values())))
        first, pending, size = 0, [], 0
        for batch in reader:
            pending.append(batch)
            size += batch.num_rows
            if size >= self.chunk_rows:
                yield self._arrow_frame(pending, first)
                first, pending, size = first + size, [], 0
        if pending or not first:
            yield self._arrow_frame(pending, first, reader.schema)

    @staticmethod
    def _arrow_frame(batches: list, first: int, schema=None) -> pd.DataFrame:
        import pyarrow as pa

        table = pa.Table.from_batches(batches, schema=schema)
        frame = table.to_pandas()
        frame.index = np.arange(first, first + len(frame)) + 2
        return frame

    def _c_frames(self, skip: int) -> Iterator[pd.DataFrame]:
        try:
            reader = pd.read_csv(self.path, sep=self.sep, dtype=str, keep_default_na=False,
                                 skip_blank_lines=False, encoding="utf-8", engine="c",
                                 chunksize=self.chunk_rows)
            lines = rows = 0
            for frame in reader:
                frame.index = np.arange(lines, lines + len(frame)) + 2
                lines += len(frame)
                # Blank lines are read (so that line numbers stay exact) but are no rows.
                frame = frame[~(frame.isna() | frame.eq("")).all(axis=1)]
                start = min(max(skip - rows, 0), len(frame))  # rows pyarrow already gave
                rows += len(frame)
                if start < len(frame):
                    yield frame.iloc[start:]
        except UnicodeDecodeError:
            raise UserError(Problem(self.display, "is not UTF-8 text: save it as UTF-8 CSV")) \
                from None
        except pd.errors.ParserError as exc:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
            if m:
                want, line, saw = (int(g) for g in m.groups())
                raise UserError(Problem(self.display, f"expected {want} fields, saw {saw}",
                                        line)) from None
            raise UserError(Problem(self.display, "cannot be read as CSV (check quotes and "
                                    "separators)")) from None


def _open_streamed(spec: FileSpec, path: Path, sha: str | None, key: bytes):
    """A StreamedFile for `path` after checking its header, with problems and warnings."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        sha = sha or sha256_of(path)
        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except Exception:  # noqa: BLE001 - any failure: not a readable Parquet file
            return None, [Problem(path.name, "cannot be read as Parquet")], []
        sep, inner_blank = None, False
    else:
        scanned_sha, inner_blank = _scan_csv(path)
        sha = sha or scanned_sha
        with open(path, "rb") as fh:
            header = fh.readline(1 << 16).decode("utf-8", errors="replace")
        if not header.strip():
            return None, [Problem(path.name, "is empty: the first line must be the header", 1)], []
        sep = ";" if header.count(";") > header.count(",") else ","
        try:
            names = list(pd.read_csv(path, sep=sep, dtype=str, nrows=0, encoding="utf-8",
                                     engine="c").columns)
        except UnicodeDecodeError:
            return None, [Problem(path.name, "is not UTF-8 text: save it as UTF-8 CSV")], []
        except (pd.errors.ParserError, pd.errors.EmptyDataError):
            return None, [Problem(path.name, "cannot be read as CSV (check quotes and "
                                  "separators)")], []
    _, problems, warnings = _contract_columns(spec, path.name, pd.DataFrame(columns=names))
    if problems:
        return None, problems, warnings
    columns = {normalise_column(raw): raw for raw in names
               if normalise_column(raw) in spec.columns}
    return StreamedFile(spec, path, sha, columns, key, sep, inner_blank), [], warnings


def _pseudonymise(column: pd.Series, key: bytes, cache: dict | None = None) -> PupilIds | None:
    """Replace CPR numbers by pseudonyms, hashing each distinct value once (once per delivery with
    a `cache` shared by the chunks of a streamed file). None if the column is numeric (Parquet),
    where a CPR number's leading zero would already be lost."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return None if len(column) else PupilIds(*_empty_ids())
    coded = _coded(column)
    raw = coded.uniques
    shaped = np.array([cpr_digits(v) is not None for v in raw], bool)
    values = raw.copy()
    born = np.full(len(raw), np.datetime64("NaT"), "datetime64[D]")
    gender = np.full(len(raw), "", object)
    bad_cpr = np.zeros(len(raw), bool)
    for i in np.flatnonzero(shaped):
        known = cache.get(raw[i]) if cache is not None else None
        if known is None:
            parsed = parse_cpr(raw[i])
            known = () if parsed is None else (pseudonymise(raw[i], key),
                                               np.datetime64(parsed[0], "D"), parsed[1])
            if cache is not None:  # held in memory for this ingest only, never written
                cache[raw[i]] = known
        if not known:
            # A placeholder of its own (never stored: the delivery is rejected for it).
            bad_cpr[i] = True
            values[i] = f"\0bad-cpr-{i}"
        else:
            values[i], born[i], gender[i] = known
    del raw
    # Two spellings of one CPR number (with and without hyphen) are one pupil.
    dense, distinct = pd.factorize(values)
    n = len(distinct)
    out_bad = np.zeros(n, bool)
    out_bad[dense] = bad_cpr
    out_born = np.full(n, np.datetime64("NaT"), "datetime64[D]")
    out_gender = np.full(n, "", object)
    out_born[dense] = born
    out_gender[dense] = gender
    return PupilIds(dense[coded.codes].astype(np.int32), np.asarray(distinct, object),
                    out_bad, out_born, out_gender)


def _empty_ids():
    return (np.zeros(0, np.int32), np.zeros(0, object), np.zeros(0, bool),
            np.zeros(0, "datetime64[D]"), np.zeros(0, object))


# --- distinct values ---------------------------------------------------------------------------


@dataclass
class _Coded:
    """A column as codes per row into distinct canonical strings ('' = blank)."""

    codes: np.ndarray
    uniques: np.ndarray

    def rows(self) -> np.ndarray:
        return self.uniques[self.codes]

    def blank_rows(self) -> np.ndarray:
        return (self.uniques == "")[self.codes]


def _coded(column: pd.Series | None, n: int = 0) -> _Coded:
    """Factorize a column and canonicalise its distinct values to stripped strings; a missing
    optional column is all blank."""
    if column is None:
        return _Coded(np.zeros(n, np.int32), np.array([""], object))
    codes, uniques = pd.factorize(column)
    canon = _canonical(uniques)
    if (codes < 0).any():
        canon = np.append(canon, np.array([""], object))
        codes = np.where(codes < 0, len(canon) - 1, codes)
    dense, distinct = pd.factorize(canon)
    return _Coded(dense[codes].astype(np.int32), np.asarray(distinct, object))


def _canonical(uniques) -> np.ndarray:
    """Distinct values as the text a CSV would hold (Parquet's typed values included)."""
    kind = uniques.dtype
    if pd.api.types.is_string_dtype(kind) and not pd.api.types.is_object_dtype(kind):
        return np.asarray(pd.Index(uniques).str.strip(), dtype=object)
    return np.array([_as_text(v) for v in uniques], dtype=object)


def _as_text(value) -> str:
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, datetime | pd.Timestamp):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return "" if np.isnat(value) else _as_text(pd.Timestamp(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _parse_dates(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct value: the date (datetime64[D], NaT if blank or bad) and whether it is bad
    (not blank and not an ISO 8601 date)."""
    s = pd.Series(values, dtype=object)
    blank = (s == "").to_numpy()
    iso = s.str.fullmatch(ISO_DATE).fillna(False).astype(bool)
    parsed = pd.to_datetime(s.where(iso), format="%Y-%m-%d", errors="coerce")
    days = parsed.to_numpy().astype("datetime64[D]")
    return days, ~blank & np.isnat(days)


def _parse_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct value: the number (NaN if blank or bad; a decimal comma is fine) and
    whether it is bad (not blank and not a finite number)."""
    s = pd.Series(values, dtype=object)
    blank = (s == "").to_numpy()
    text = s.str.replace(",", ".", regex=False).where(~blank)
    number = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return number, ~blank & ~np.isfinite(number)


def _parse_school_years(values: np.ndarray) -> np.ndarray:
    """Per distinct value: whether it is a well-formed school year like '2024/25'."""
    ok = np.zeros(len(values), bool)
    for i, v in enumerate(values):
        m = re.fullmatch(r"(\d{4})/(\d{2})", v)
        ok[i] = bool(m) and (int(m.group(1)) + 1) % 100 == int(m.group(2))
    return ok


def _school_years_of(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For valid datetime64[D] values: the school year's first calendar year and the day of the
    school year (days since 1 August: the index into a register strip)."""
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    start = np.where(month >= 8, year, year - 1)
    aug1 = (start - 1970).astype("datetime64[Y]").astype("datetime64[M]") + np.timedelta64(7, "M")
    return start, (days - aug1.astype("datetime64[D]")).astype(np.int64)


# --- the validated delivery ----------------------------------------------------------------------


@dataclass
class StoreKeys:
    """What the store already holds, so that a delivery may refer to it (foreign keys across
    imports): pupil and school ids, and enrolments (pupil_id, school_year, school_id, class_id)."""

    pupil_ids: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    school_ids: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    enrolments: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {c: pd.Series([], dtype=object)
         for c in ("pupil_id", "school_year", "school_id", "class_id")}
    ))


@dataclass
class RegisterEntries:
    """The register as arrays, one element per entry (identical duplicates collapsed).

    An entry's strip is (pupil_ids[pupil], school_years[year]) and its place in the strip is
    `day`, the days since 1 August; `status` holds STATUS_CODES and `absent` the absent fraction
    in 1/FRACTION_SCALE of a day (0 for present)."""

    pupil_ids: np.ndarray
    school_years: list[str]
    pupil: np.ndarray
    year: np.ndarray
    day: np.ndarray
    status: np.ndarray
    absent: np.ndarray

    def __len__(self) -> int:
        return len(self.status)

    def strips(self) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Keys (pupil_id, school_year) and the status and absent strips (n x STRIP_DAYS), with 0
        on days that have no entry in this delivery."""
        n_years = max(len(self.school_years), 1)
        # Strips in (pupil, year) order: a dense mark per pair and its rank, instead of sorting
        # every entry; entries are placed a slice at a time to bound the temporaries.
        has = np.zeros(len(self.pupil_ids) * n_years, bool)
        step = 10_000_000
        for lo in range(0, len(self), step):
            has[self.pupil[lo:lo + step].astype(np.int64) * n_years + self.year[lo:lo + step]] = True
        distinct = np.flatnonzero(has)
        rank = np.cumsum(has, dtype=np.int64) - 1
        del has
        status = np.zeros((len(distinct), STRIP_DAYS), np.uint8)
        absent = np.zeros((len(distinct), STRIP_DAYS), np.uint8)
        for lo in range(0, len(self), step):
            hi = lo + step
            codes = rank[self.pupil[lo:hi].astype(np.int64) * n_years + self.year[lo:hi]]
            status[codes, self.day[lo:hi]] = self.status[lo:hi]
            absent[codes, self.day[lo:hi]] = self.absent[lo:hi]
        keys = pd.DataFrame({
            "pupil_id": self.pupil_ids[distinct // n_years],
            "school_year": np.asarray(self.school_years, object)[distinct % n_years],
        })
        return keys, status, absent


@dataclass
class Delivery:
    """A validated delivery: typed frames keyed as in the store, the register as arrays, the
    school days (school_id, date) that the register implies, and what was read."""

    files: list[dict]
    warnings: list[str]
    schools: pd.DataFrame
    pupils: pd.DataFrame
    enrolments: pd.DataFrame
    register: RegisterEntries
    school_days: pd.DataFrame
    concerns: pd.DataFrame
    class_wellbeing: pd.DataFrame
    collapsed: int = 0  # identical duplicate rows dropped


def load(folder: Path | str, key: bytes, known: StoreKeys | None = None,
         today: date | None = None) -> Delivery:
    """Locate, read and validate a delivery folder in one call; UserError on any broken rule."""
    return validate(read(locate(folder), key), known, today)


def validate(raw: RawDelivery, known: StoreKeys | None = None,
             today: date | None = None) -> Delivery:
    """Check every rule of the contract (vectorised). Foreign keys may point into the delivery
    or into `known` (the store). UserError with up to 20 problems if any rule is broken."""
    return _Validator(raw, known or StoreKeys(), today or date.today()).run()


class _Problems:
    """Broken rules found so far, at most MAX_PROBLEMS per rule; sorted by file and line."""

    def __init__(self) -> None:
        self._found: list[tuple[int, int, int, Problem]] = []

    def add(self, src: SourceFile, line: int | None, column: str | None, rule: str) -> None:
        order = (FILE_ORDER[src.spec.name], line or 0, len(self._found))
        self._found.append((*order, Problem(src.display, rule, line, column)))

    def rows(self, src: SourceFile, mask: np.ndarray, column: str | None,
             rule: str | Callable[[int], str]) -> None:
        """One problem for each of the first rows where `mask` holds; `rule` may be a function
        of the row position (to name the offending value)."""
        for pos in np.flatnonzero(mask)[:MAX_PROBLEMS]:
            text = rule(int(pos)) if callable(rule) else rule
            self.add(src, int(src.frame.index[pos]), column, text)

    def values(self, src: SourceFile, coded: _Coded, bad: np.ndarray, column: str,
               template: str, only: np.ndarray | None = None) -> np.ndarray:
        """Flag rows whose distinct value is bad; `template` gets {value}. Returns the row mask."""
        mask = bad[coded.codes]
        if only is not None:
            mask &= only
        self.rows(src, mask, column,
                  lambda pos: template.format(value=shown(coded.uniques[coded.codes[pos]])))
        return mask

    def __bool__(self) -> bool:
        return bool(self._found)

    def raise_if_any(self) -> None:
        if self._found:
            self._found.sort(key=lambda item: item[:3])
            raise UserError([p for *_, p in self._found[:MAX_PROBLEMS]])


class _Validator:
    def __init__(self, raw: RawDelivery, known: StoreKeys, today: date):
        self.raw = raw
        self.known = known
        self.today = np.datetime64(today, "D")
        self.problems = _Problems()
        self.warnings = list(raw.warnings)
        self.collapsed = 0

    def run(self) -> Delivery:
        schools = self.schools()
        pupils = self.pupils()
        # Foreign keys point at every id the files name (a row with another problem is reported
        # for that problem, not again in each file that refers to it) and at the store.
        named_schools = _coded(self.raw.files["schools"].frame["school_id"]).uniques
        pupil_file_ids = self.raw.files["pupils"].ids
        named_pupils = pupil_file_ids.values[pupil_file_ids.named()]
        school_ids = pd.Index(self.known.school_ids, dtype=object).union(
            pd.Index(named_schools[named_schools != ""], dtype=object))
        self.pupil_ids = pd.Index(self.known.pupil_ids, dtype=object).union(
            pd.Index(named_pupils, dtype=object))
        enrolments, file_enrolments = self.enrolments(school_ids)
        register, school_days = self.attendance(enrolments)
        concerns = self.concerns()
        wellbeing = self.class_wellbeing(enrolments)
        self.problems.raise_if_any()
        files = [{"file": s.display, "sha256": s.sha256, "rows": len(s)}
                 for s in self.raw.files.values()]
        return Delivery(files, self.warnings, schools, pupils, file_enrolments, register,
                        school_days, concerns, wellbeing, self.collapsed)

    # --- shared rules ---

    def _required(self, src: SourceFile, coded: _Coded, column: str) -> np.ndarray:
        blank = coded.blank_rows()
        self.problems.rows(src, blank, column, f"{column} is required")
        return blank

    def _text(self, src: SourceFile, coded: _Coded, column: str, limit: int | None = None) -> None:
        """A stored text: not too long for the store (ids: the identifier rule checks the
        length), and never a CPR number."""
        if limit is not None:
            too_long = np.array([len(v) > limit for v in coded.uniques], bool)
            self.problems.rows(src, too_long[coded.codes], column,
                               f"{column} is longer than {limit} characters")
        control = np.array([any(ord(c) < 32 or 127 <= ord(c) < 160 for c in v)
                            for v in coded.uniques], bool)
        self.problems.rows(src, control[coded.codes], column,
                           f"{column} holds a control character (a NUL byte, a tab, ...)")
        cpr = np.array([bool(CPR_IN_TEXT.search(normalised_text(v))) for v in coded.uniques],
                       bool)
        self.problems.rows(src, cpr[coded.codes], column,
                           f"{column} looks like a CPR number: only pupil_id may hold one")

    def _identifier(self, src: SourceFile, coded: _Coded, column: str,
                    unicode_letters: bool = False, echo: bool = False) -> np.ndarray:
        """The identifier rule (model.identifiers) on a non-blank id column; the row mask of
        broken ids. A pupil id is never echoed; another id is, masked by `shown`."""
        rules = [id_problem(v, unicode_letters=unicode_letters) if v != "" else None
                 for v in coded.uniques]
        bad = np.array([r is not None for r in rules], bool)
        mask = bad[coded.codes]
        self.problems.rows(src, mask, column, lambda pos: (
            f"{column}{' ' + shown(coded.uniques[coded.codes[pos]]) if echo else ''} "
            f"{rules[coded.codes[pos]]} (ids: letters, digits and - _ . : only, 1-{ID_LENGTH} "
            "characters)"))
        return mask

    def _pupil(self, src: SourceFile) -> tuple[np.ndarray, np.ndarray]:
        """Row masks (blank or malformed id, unknown pupil) for a file's pupil_id column."""
        ids = src.ids
        self.problems.rows(src, ids.bad_cpr[ids.codes], "pupil_id",
                           "pupil_id has the shape of a CPR number but no valid birth date: "
                           "give a valid CPR number or a pseudonymous id")
        blank = ids.blank_rows()
        self.problems.rows(src, blank, "pupil_id", "pupil_id is required")
        checked = np.where(ids.bad_cpr, "", ids.values).astype(object)
        broken = self._identifier(src, _Coded(ids.codes, checked), "pupil_id")
        blank = blank | broken
        invalid = blank | ids.bad_cpr[ids.codes]
        if src.spec.name == "pupils":
            return invalid, np.zeros(len(src), bool)
        unknown_value = ~pd.Index(ids.values, dtype=object).isin(self.pupil_ids) & ids.named()
        unknown = unknown_value[ids.codes]
        self.problems.rows(src, unknown, "pupil_id",
                           "unknown pupil: not in pupils.csv (nor in the store)")
        return invalid, unknown

    def _dates(self, src: SourceFile, coded: _Coded, column: str, weekdays: bool = False):
        """Row dates (datetime64[D]) and the mask of rows without a valid one."""
        days_u, bad_u = _parse_dates(coded.uniques)
        bad = self.problems.values(src, coded, bad_u, column,
                                   column + " must be an ISO date (YYYY-MM-DD), not {value}")
        future_u = ~np.isnat(days_u) & (days_u > self.today)
        self.problems.rows(src, future_u[coded.codes], column, f"{column} is in the future")
        bad |= future_u[coded.codes]
        if weekdays:
            dow = weekday(np.where(np.isnat(days_u), np.datetime64("1970-01-05"), days_u))
            weekend_u = ~np.isnat(days_u) & (dow >= 5)
            self.problems.rows(src, weekend_u[coded.codes], column,
                               lambda pos: f"{column} is a {WEEKDAY_NAMES[dow[coded.codes[pos]]]}: "
                                           "the register has weekdays only")
            bad |= weekend_u[coded.codes]
        return days_u[coded.codes], bad, days_u

    def _duplicates(self, src: SourceFile, key: np.ndarray, value: np.ndarray,
                    eligible: np.ndarray, label: str) -> np.ndarray:
        """Rows with the same key: identical ones collapse (a warning), different ones are an
        error naming the first. Returns the mask of rows to keep."""
        keep = np.ones(len(key), bool)
        candidates = np.flatnonzero(eligible)
        dup = pd.Series(key[candidates]).duplicated(keep=False).to_numpy()
        if not dup.any():
            return keep
        idx = candidates[dup]
        order = idx[np.lexsort((idx, key[idx]))]
        k, v = key[order], value[order]
        start = np.r_[True, k[1:] != k[:-1]]
        first = order[np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))]
        identical = ~start & (v == value[first])
        conflict = ~start & ~identical
        keep[order[identical]] = False
        if identical.any():
            n = int(identical.sum())
            self.collapsed += n
            # Named by the earliest copy in the file and the row that repeats it (the key
            # order of `order` says nothing about lines).
            lines = np.asarray(src.frame.index)
            copy_lines = lines[order[identical]]
            at = int(np.argmin(copy_lines))
            original = int(lines[first[identical][at]])
            self.warnings.append(f"{src.display}: {n} identical duplicate row{'s' if n > 1 else ''}"
                                 f" collapsed (first on line {original}, repeated on line "
                                 f"{int(copy_lines[at])})")
        mask = np.zeros(len(key), bool)
        mask[order[conflict]] = True
        first_of = dict(zip(order[conflict].tolist(), first[conflict].tolist(), strict=True))
        self.problems.rows(src, mask, None, lambda pos: f"duplicate {label} with different values "
                           f"(first on line {int(src.frame.index[first_of[pos]])})")
        return keep

    def _hash_duplicates(self, src: SourceFile, typed: pd.DataFrame, key: list[str],
                         eligible: np.ndarray, label: str) -> np.ndarray:
        key_hash = pd.util.hash_pandas_object(typed[key], index=False).to_numpy()
        row_hash = pd.util.hash_pandas_object(typed, index=False).to_numpy()
        return self._duplicates(src, key_hash, row_hash, eligible, label)

    # --- the files ---

    def schools(self) -> pd.DataFrame:
        src = self.raw.files["schools"]
        school, name = _coded(src.frame["school_id"]), _coded(src.frame["name"])
        blank = self._required(src, school, "school_id")
        self._required(src, name, "name")
        blank |= self._identifier(src, school, "school_id", unicode_letters=True, echo=True)
        self._text(src, school, "school_id")
        self._text(src, name, "name", NAME_LENGTH)
        typed = pd.DataFrame({"school_id": school.rows(), "name": name.rows()})
        keep = self._hash_duplicates(src, typed, ["school_id"], ~blank, "school_id")
        return typed[keep & ~blank].reset_index(drop=True)

    def pupils(self) -> pd.DataFrame:
        src = self.raw.files["pupils"]
        ids, n = src.ids, len(src)
        invalid, _ = self._pupil(src)
        birth = _coded(src.frame.get("birth_date"), n)
        born, _, _ = self._dates(src, birth, "birth_date")
        gender = _coded(src.frame.get("gender"), n)
        gender_u = np.array([v.upper() for v in gender.uniques], object)
        self.problems.values(src, gender, ~np.isin(gender_u, ["F", "M", ""]), "gender",
                             "gender must be F, M or blank, not {value}")
        # A CPR number gives birth date and gender where the file leaves them blank.
        derived = birth.blank_rows()
        born = np.where(derived, ids.born[ids.codes], born)
        self.problems.rows(src, derived & ~np.isnat(born) & (born > self.today), "pupil_id",
                           "pupil_id is a CPR number with a birth date in the future")
        sex = np.where(gender.blank_rows(), ids.gender[ids.codes], gender_u[gender.codes])
        typed = pd.DataFrame({
            "pupil_id": ids.values[ids.codes],
            "birth_date": pd.Series(born.astype("datetime64[s]")),
            "gender": pd.Series(sex, dtype=object).replace("", None),
        })
        keep = self._hash_duplicates(src, typed, ["pupil_id"], ~invalid, "pupil_id")
        return typed[keep & ~invalid].reset_index(drop=True)

    def enrolments(self, school_ids: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The enrolments of the file, and those combined with the store's (the file wins)."""
        src = self.raw.files["enrolments"]
        f, n, ids = src.frame, len(src), src.ids
        invalid, unknown = self._pupil(src)
        school = _coded(f["school_id"])
        bad = invalid | unknown | self._required(src, school, "school_id")
        bad_school = self._identifier(src, school, "school_id", unicode_letters=True, echo=True)
        bad |= bad_school
        unknown_school = ~pd.Index(school.uniques).isin(school_ids) & (school.uniques != "")
        unknown_school &= ~np.array([id_problem(v, unicode_letters=True) is not None
                                     for v in school.uniques], bool)
        bad |= self.problems.values(src, school, unknown_school, "school_id",
                                    "unknown school {value}: not in schools.csv (nor in the store)")
        year = _coded(f["school_year"])
        bad |= self._required(src, year, "school_year")
        bad_year = ~_parse_school_years(year.uniques) & (year.uniques != "")
        bad |= self.problems.values(src, year, bad_year, "school_year",
                                    "school_year must look like 2024/25, not {value}")
        grade = _coded(f["grade"])
        bad |= self._required(src, grade, "grade")
        number, nan = _parse_numbers(grade.uniques)
        with np.errstate(invalid="ignore"):
            bad_grade = nan | ~np.isnan(number) & ((number != np.round(number)) | (number < 0)
                                                   | (number > 10))
        bad |= self.problems.values(src, grade, bad_grade, "grade",
                                    "grade must be a whole number from 0 to 10, not {value}")
        klass = _coded(f.get("class_id"), n)
        bad |= self._identifier(src, klass, "class_id", unicode_letters=True, echo=True)
        self._text(src, klass, "class_id")
        needs = _coded(f.get("special_needs"), n)
        needs_lower = np.array([v.lower() for v in needs.uniques], object)
        self.problems.values(src, needs, ~np.isin(needs_lower, list(BOOLEANS)), "special_needs",
                             "special_needs must be true/false, 1/0, ja/nej or blank, not {value}")
        needs_u = pd.array([BOOLEANS.get(v) for v in needs_lower], dtype="boolean")
        grade_rows = pd.array(np.where(np.isnan(number), 0, number).astype(int), dtype="Int16")
        typed = pd.DataFrame({
            "pupil_id": ids.values[ids.codes],
            "school_year": year.rows(),
            "school_id": school.rows(),
            "grade": grade_rows[grade.codes],
            "class_id": pd.Series(klass.rows(), dtype=object).replace("", None),
            "special_needs": needs_u[needs.codes],
        })
        keep = self._hash_duplicates(src, typed, ["pupil_id", "school_year"],
                                     ~(invalid | bad_year[year.codes] | year.blank_rows()),
                                     "(pupil_id, school_year)")
        mine = typed[keep & ~bad].reset_index(drop=True)
        cols = ["pupil_id", "school_year", "school_id", "class_id"]
        theirs = self.known.enrolments[cols]
        if len(theirs):
            mine_keys = pd.MultiIndex.from_frame(mine[["pupil_id", "school_year"]])
            kept = ~pd.MultiIndex.from_frame(theirs[["pupil_id", "school_year"]]).isin(mine_keys)
            combined = pd.concat([theirs[kept], mine[cols]], ignore_index=True)
        else:
            combined = mine[cols].copy()
        return combined, mine

    def attendance(self, enrolments: pd.DataFrame) -> tuple[RegisterEntries, pd.DataFrame]:
        """The register, checked chunk by chunk with the rules of `_attendance_chunk`; then
        duplicate (pupil, date) rows across the whole file, and the entries as arrays."""
        streamed = self.raw.files["attendance"]
        grid = _RegisterGrid(self.pupil_ids, enrolments)
        try:
            for src in streamed.chunks():
                self._attendance_chunk(src, grid)
        except UserError as exc:  # the file cannot be parsed to its end: rejected whole
            for problem in exc.problems:
                self.problems.add(streamed, problem.line, problem.column, problem.rule)
            return grid.entries(np.zeros(0, bool)), grid.school_days()
        grid.collect()
        keep = np.ones(grid.size, bool)
        involved = grid.repeated()
        if involved.any():
            # The rows that share a (pupil, date) with another row, in line order: the same rule
            # as for a file read whole (identical ones collapse, different ones are an error).
            rows = np.flatnonzero(involved)
            src = SourceFile(streamed.spec, streamed.path, streamed.sha256,
                             pd.DataFrame(index=grid.line[rows]), None)
            value = grid.status[rows].astype(np.int64) * 256 + grid.absent[rows]
            keep[rows] = self._duplicates(src, grid.cell_key(rows), value,
                                          np.ones(len(rows), bool), "(pupil_id, date)")
        return grid.entries(keep), grid.school_days()

    def _attendance_chunk(self, src: SourceFile, grid: _RegisterGrid) -> None:
        """Check the rules of one chunk of the register; its valid rows go to `grid`."""
        f, n, ids = src.frame, len(src), src.ids
        invalid, unknown = self._pupil(src)
        date_c = _coded(f["date"])
        bad = invalid | unknown | self._required(src, date_c, "date")
        _, bad_date, days_u = self._dates(src, date_c, "date", weekdays=True)
        bad |= bad_date

        status_c = _coded(f["status"])
        bad |= self._required(src, status_c, "status")
        status_u = np.array([STATUS_CODES.get(STATUS_ALIASES.get(normalise_status(v), ""), 0)
                             for v in status_c.uniques], np.uint8)
        bad |= self.problems.values(src, status_c, (status_u == 0) & (status_c.uniques != ""),
                                    "status", "unknown status {value}: " + STATUS_HINT)
        status = status_u[status_c.codes]

        frac_c = _coded(f.get("absent_fraction"), n)
        frac_u, frac_nan = _parse_numbers(frac_c.uniques)
        with np.errstate(invalid="ignore"):
            frac_bad = frac_nan | (frac_u < 0) | (frac_u > 1)
        bad |= self.problems.values(src, frac_c, frac_bad, "absent_fraction",
                                    "absent_fraction must be a number from 0 to 1, not {value}")
        frac_blank_u = frac_c.uniques == ""
        frac = np.where(frac_blank_u | frac_bad, 0.0, frac_u)[frac_c.codes]
        given = ~frac_blank_u[frac_c.codes]
        present, absence = status == STATUS_CODES["present"], status > STATUS_CODES["present"]
        present_absent = present & given & (frac > 0)
        self.problems.rows(src, present_absent, "absent_fraction",
                           "absent_fraction must be 0 or blank for present (a partial day is an "
                           "absence status with 0 < fraction < 1)")
        absence_zero = absence & given & (frac == 0) & ~frac_bad[frac_c.codes]
        self.problems.rows(src, absence_zero, "absent_fraction",
                           "absent_fraction must be above 0 for an absence status "
                           "(a day without absence is present)")
        bad |= present_absent | absence_zero
        absent = np.where(given, np.rint(frac * FRACTION_SCALE), FRACTION_SCALE)
        absent = np.where(absence, np.maximum(absent, 1), 0).astype(np.uint8)

        # The pupil must be enrolled in the school year of the date: a dense lookup per school
        # year (pupil -> school) instead of a join row by row.
        valid_day = ~np.isnat(days_u)
        start_u, day_u = _school_years_of(np.where(valid_day, days_u, np.datetime64("2000-01-03")))
        start = np.where(valid_day, start_u, -1)[date_c.codes]
        pupil = grid.pupil_ids.get_indexer(pd.Index(ids.values, dtype=object))[ids.codes]
        checkable = ~(invalid | unknown) & (start >= 0)
        school = np.full(n, -1, np.int32)
        years = np.unique(start_u[valid_day])  # few distinct dates: no pass over the rows
        for year in years:
            rows = checkable & (start == year)
            school[rows] = grid.enrolled(int(year))[pupil[rows]]
        not_enrolled = checkable & (school < 0)
        self.problems.rows(src, not_enrolled, "pupil_id", lambda pos: (
            f"pupil is not enrolled in school year {school_year_label(int(start[pos]))} "
            "(enrolments.csv)"))
        bad |= not_enrolled
        ok = ~bad
        codes = date_c.codes[ok]
        grid.add(years, pupil[ok], start[ok], day_u[codes], status[ok], absent[ok],
                 np.asarray(src.frame.index)[ok], school[ok])

    def concerns(self) -> pd.DataFrame:
        src = self.raw.files.get("concerns")
        cols = ["pupil_id", "date", "source", "category", "severity"]
        if src is None:
            return _empty(cols)
        f, n, ids = src.frame, len(src), src.ids
        invalid, unknown = self._pupil(src)
        date_c = _coded(f["date"])
        bad = invalid | unknown | self._required(src, date_c, "date")
        day, bad_date, _ = self._dates(src, date_c, "date")
        bad |= bad_date
        out = {}
        for column, allowed in (("source", SOURCES), ("category", CATEGORIES)):
            coded = _coded(f[column])
            bad |= self._required(src, coded, column)
            lower = np.array([v.lower() for v in coded.uniques], object)
            bad |= self.problems.values(src, coded, ~np.isin(lower, allowed) & (lower != ""),
                                        column, f"{column} must be one of {', '.join(allowed)}, "
                                        "not {value}")
            out[column] = lower[coded.codes]
        sev = _coded(f.get("severity"), n)
        number, nan = _parse_numbers(sev.uniques)
        with np.errstate(invalid="ignore"):
            bad_sev = nan | ~np.isnan(number) & ((number != np.round(number)) | (number < 1)
                                                 | (number > 3))
        bad |= self.problems.values(src, sev, bad_sev, "severity",
                                    "severity must be 1, 2, 3 or blank, not {value}")
        severity = pd.array(np.where(np.isnan(number) | bad_sev, -1, number).astype(int),
                            dtype="Int16")
        severity[severity == -1] = pd.NA
        typed = pd.DataFrame({
            "pupil_id": ids.values[ids.codes],
            "date": pd.Series(day.astype("datetime64[s]")),
            "source": out["source"],
            "category": out["category"],
            "severity": severity[sev.codes],
        })
        keep = self._hash_duplicates(src, typed, cols[:4], ~bad,
                                     "(pupil_id, date, source, category)")
        return typed[keep & ~bad].reset_index(drop=True)

    def class_wellbeing(self, enrolments: pd.DataFrame) -> pd.DataFrame:
        src = self.raw.files.get("class_wellbeing")
        cols = ["class_id", "school_year", *WELLBEING_INDICATORS]
        if src is None:
            return _empty(cols)
        f, n = src.frame, len(src)
        klass = _coded(f["class_id"])
        bad = self._required(src, klass, "class_id")
        bad |= self._identifier(src, klass, "class_id", unicode_letters=True, echo=True)
        self._text(src, klass, "class_id")
        year = _coded(f["school_year"])
        bad |= self._required(src, year, "school_year")
        bad_year = ~_parse_school_years(year.uniques) & (year.uniques != "")
        bad |= self.problems.values(src, year, bad_year, "school_year",
                                    "school_year must look like 2024/25, not {value}")
        typed = pd.DataFrame({"class_id": klass.rows(), "school_year": year.rows()})
        known = pd.MultiIndex.from_frame(enrolments[["class_id", "school_year"]].dropna())
        unknown = ~pd.MultiIndex.from_frame(typed).isin(known) & ~bad
        self.problems.rows(src, unknown, "class_id", lambda pos: (
            f"class {shown(typed['class_id'].iat[pos])} is not in enrolments.csv for school year "
            f"{typed['school_year'].iat[pos]}"))
        bad |= unknown
        for column in WELLBEING_INDICATORS:
            coded = _coded(f.get(column), n)
            number, nan = _parse_numbers(coded.uniques)
            with np.errstate(invalid="ignore"):
                out_of_range = nan | (number < 1) | (number > 5)
            bad |= self.problems.values(src, coded, out_of_range, column,
                                        column + " must be a number from 1 to 5 or blank, "
                                        "not {value}")
            typed[column] = pd.array(np.where(out_of_range, np.nan, number),
                                     dtype="Float64")[coded.codes]
        keep = self._hash_duplicates(src, typed, ["class_id", "school_year"], ~bad,
                                     "(class_id, school_year)")
        return typed[keep & ~bad].reset_index(drop=True)


class _RegisterGrid:
    """The valid rows of a streamed register as compact arrays (about 14 bytes a row), and per
    school year a pupil x day-of-year grid of cells already seen, which finds rows that repeat
    a (pupil, date) across chunks without hashing the whole register."""

    FIELDS = ("pupil", "start", "day", "status", "absent", "line")

    def __init__(self, pupil_ids: pd.Index, enrolments: pd.DataFrame):
        self.pupil_ids = pd.Index(pupil_ids, dtype=object)
        self.enrolments = enrolments
        self.school_code, self.school_ids = pd.factorize(enrolments["school_id"])
        self._enrolled: dict[int, np.ndarray] = {}
        self._seen: dict[int, np.ndarray] = {}
        self._repeated: dict[int, np.ndarray] = {}
        self._parts: dict[str, list[np.ndarray]] = {name: [] for name in self.FIELDS}
        self._days: dict[int, np.ndarray] = {}  # year -> school x day of the year: a school day
        self.size = 0

    def enrolled(self, start: int) -> np.ndarray:
        """Per pupil (position in pupil_ids): the school code in the school year, -1 if none."""
        if start not in self._enrolled:
            label = school_year_label(start)
            rows = (self.enrolments["school_year"] == label).to_numpy()
            pos = self.pupil_ids.get_indexer(self.enrolments["pupil_id"][rows])
            table = np.full(len(self.pupil_ids) + 1, -1, np.int32)  # last: no pupil
            table[pos[pos >= 0]] = self.school_code[rows][pos >= 0]
            self._enrolled[start] = table
        return self._enrolled[start]

    def add(self, years, pupil, start, day, status, absent, line, school) -> None:
        """Valid rows of one chunk (in line order) whose school years (first calendar year)
        are among `years`."""
        for year in years:
            year = int(year)
            rows = start == year
            cell = pupil[rows].astype(np.int64) * STRIP_DAYS + day[rows]
            if year not in self._seen:
                self._seen[year] = np.zeros(len(self.pupil_ids) * STRIP_DAYS, bool)
                self._repeated[year] = np.zeros(len(self.pupil_ids) * STRIP_DAYS, bool)
                self._days[year] = np.zeros((len(self.school_ids) + 1, STRIP_DAYS), bool)
            seen = self._seen[year]
            again = seen[cell]
            # a file in pupil and date order has no repeat within the chunk: no hashing then
            if len(cell) > 1 and not (cell[1:] > cell[:-1]).all():
                again |= pd.Series(cell).duplicated().to_numpy()
            self._repeated[year][cell[again]] = True
            seen[cell] = True
            self._days[year][school[rows], day[rows]] = True
        for name, values, dtype in (("pupil", pupil, np.int32), ("start", start, np.int16),
                                    ("day", day, np.int16), ("status", status, np.uint8),
                                    ("absent", absent, np.uint8), ("line", line, np.int64)):
            self._parts[name].append(np.asarray(values).astype(dtype, copy=False))
        self.size += len(pupil)

    def collect(self) -> None:
        """Join the chunks' arrays (one field at a time, so memory grows by one field only)."""
        for name in self.FIELDS:
            parts = self._parts[name]
            setattr(self, name, np.concatenate(parts) if parts else np.zeros(0, np.int64))
            parts.clear()
        self._seen.clear()

    def repeated(self) -> np.ndarray:
        """Rows whose (pupil, date) occurs more than once in the file."""
        out = np.zeros(self.size, bool)
        for year, grid in self._repeated.items():
            rows = np.flatnonzero(self.start == year)
            out[rows] = grid[self.pupil[rows].astype(np.int64) * STRIP_DAYS + self.day[rows]]
        self._repeated.clear()
        return out

    def cell_key(self, rows: np.ndarray) -> np.ndarray:
        """One int64 per (pupil, date) of the given rows."""
        return ((self.pupil[rows].astype(np.int64) * 10_000 + self.start[rows]) * STRIP_DAYS
                + self.day[rows])

    def years(self) -> list[int]:
        return sorted(int(y) for y in np.unique(self.start)) if self.size else []

    def entries(self, keep: np.ndarray) -> RegisterEntries:
        """The kept rows as RegisterEntries over all known pupil ids."""
        if not self.size or not keep.any():
            empty = np.zeros(0, np.int16)
            return RegisterEntries(np.asarray(self.pupil_ids, object), [], np.zeros(0, np.int32),
                                   empty, empty, np.zeros(0, np.uint8), np.zeros(0, np.uint8))
        starts = self.years()
        index = np.zeros(max(starts) - min(starts) + 1, np.int16)
        index[np.asarray(starts) - min(starts)] = np.arange(len(starts))
        return RegisterEntries(
            pupil_ids=np.asarray(self.pupil_ids, object),
            school_years=[school_year_label(y) for y in starts],
            pupil=self.pupil[keep],
            year=index[self.start[keep] - min(starts)],
            day=self.day[keep],
            status=self.status[keep],
            absent=self.absent[keep],
        )

    def school_days(self) -> pd.DataFrame:
        """(school_id, date) of every school day the valid rows imply, sorted."""
        schools, days = [np.zeros(0, np.int64)], [np.zeros(0, "datetime64[D]")]
        for year, grid in self._days.items():
            school, day = np.nonzero(grid)
            aug1 = np.datetime64(f"{year}-08-01", "D")
            schools.append(school)
            days.append(aug1 + day.astype("timedelta64[D]"))
        school, day = np.concatenate(schools), np.concatenate(days)
        order = np.lexsort((day, np.asarray(self.school_ids, object)[school].astype(str)
                            if len(school) else school))
        return pd.DataFrame({
            "school_id": pd.Series(np.asarray(self.school_ids, object)[school[order]], dtype=object),
            "date": pd.Series(day[order].astype("datetime64[s]")),
        })


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
