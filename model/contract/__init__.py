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

The package has one module per job: `specs` (the files, columns and vocabularies), `reading`
(locating and reading the files), `pseudonymising` (CPR numbers to pseudonyms as they are read),
`parsing` (a column's distinct values), `validation` (every rule, and the `Delivery`) and `grid`
(the register's valid entries and the duplicate grid). Every public name is importable from
`model.contract`.

Privacy: a value is echoed in a message only through `shown`, which masks anything shaped like a
CPR number, and pupil ids are never echoed at all: a problem on a row with a CPR names the line.
"""

from model.contract.grid import (
    RegisterEntries,
)
from model.contract.pseudonymising import (
    PupilIds,
)
from model.contract.reading import (
    CHUNK_ROWS,
    Located,
    RawDelivery,
    SourceFile,
    StreamedFile,
    locate,
    read,
    sha256_of,
)
from model.contract.specs import (
    BOOLEANS,
    CATEGORIES,
    CPR_ANYWHERE,
    CPR_SHAPE,
    FILE_ORDER,
    FILES,
    FREE_TEXT_WORDS,
    ID_LENGTH,
    ISO_DATE,
    MAX_PROBLEMS,
    NAME_LENGTH,
    SOURCES,
    SPECS,
    STATUS_ALIASES,
    STATUS_HINT,
    STREAMED,
    WEEKDAY_NAMES,
    WELLBEING_INDICATORS,
    FileSpec,
    is_free_text,
    normalise_column,
    normalise_status,
    shown,
)
from model.contract.validation import (
    Delivery,
    StoreKeys,
    load,
    validate,
)

__all__ = [
    "BOOLEANS",
    "CATEGORIES",
    "CPR_ANYWHERE",
    "CPR_SHAPE",
    "FILE_ORDER",
    "FILES",
    "FREE_TEXT_WORDS",
    "FileSpec",
    "ID_LENGTH",
    "ISO_DATE",
    "MAX_PROBLEMS",
    "NAME_LENGTH",
    "SOURCES",
    "SPECS",
    "STATUS_ALIASES",
    "STATUS_HINT",
    "STREAMED",
    "WEEKDAY_NAMES",
    "WELLBEING_INDICATORS",
    "is_free_text",
    "normalise_column",
    "normalise_status",
    "shown",
    "CHUNK_ROWS",
    "Located",
    "RawDelivery",
    "SourceFile",
    "StreamedFile",
    "locate",
    "read",
    "sha256_of",
    "PupilIds",
    "Delivery",
    "StoreKeys",
    "load",
    "validate",
    "RegisterEntries",
]
