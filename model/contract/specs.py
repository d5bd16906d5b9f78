"""The contract's files, columns and vocabularies, and how a value is shown in a message."""

from __future__ import annotations

import re
from dataclasses import dataclass

from model.identifiers import CPR_IN_TEXT, mask_cpr

MAX_PROBLEMS = 20
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
        """The file name as a CSV file."""
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
    """Whether a column name marks free text (dropped at the door, never stored)."""
    return any(word in FREE_TEXT_WORDS for word in re.split(r"[^0-9a-zæøå]+", column))
