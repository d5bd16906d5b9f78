"""Locating and reading a delivery's files: CSV or Parquet, whole or (the register) in chunks."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from model.contract.pseudonymising import PupilIds, _pseudonymise
from model.contract.specs import (
    FILES,
    MAX_PROBLEMS,
    SPECS,
    STREAMED,
    FileSpec,
    is_free_text,
    normalise_column,
    shown,
)
from model.errors import Problem, UserError

CHUNK_ROWS = 2_000_000  # register rows validated at a time: bounds memory at national scale


@dataclass
class Located:
    """The contract's files found in a delivery folder (contract name -> path)."""

    folder: Path
    paths: dict[str, Path]
    warnings: list[str] = field(default_factory=list)


def locate(folder: Path | str) -> Located:
    """Find the contract's files (case-insensitive, .csv or .parquet); UserError if a required
    one is missing or one is given twice. Other .csv/.parquet files are ignored with a warning.
    """
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
class SourceFile:
    """One read file: the contract's columns (pupil_id replaced by `ids`); index = line numbers."""

    spec: FileSpec
    path: Path
    sha256: str
    frame: pd.DataFrame
    ids: PupilIds | None

    @property
    def display(self) -> str:
        """The file name shown in messages."""
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
    UserError for a file that cannot be parsed or lacks a required column.
    """
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
    (`chunks`), each chunk a SourceFile indexed by line numbers; `len` counts the rows read.
    """

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
        """The file name shown in messages."""
        return self.path.name

    def __len__(self) -> int:
        return self.rows

    def chunks(self) -> Iterator[SourceFile]:
        """The file's rows as SourceFiles of at most `chunk_rows` rows, pupil ids pseudonymised
        (each distinct CPR number hashed once); UserError if the file cannot be parsed.
        """
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
