"""Identifiers and CPR notations: the one rule for every *_id, and the one normalisation of text
before a CPR number is recognised, pseudonymised or masked.

Identifiers (data contract, "Identifiers"): 1 to 64 characters after trimming; letters, digits and
`- _ . :` only (Unicode letters for school ids, ASCII for the others); no path separator, no control
character, no leading `= + - @` (a spreadsheet would run it as a formula). The same rule applies at
the door of an ingest (file, line, column) and to ids in the API's paths, forms and queries (422).

CPR notations: school systems write the ten digits as DDMMYY-SSSS, DDMMYYSSSS, with a space, dots
or an underscore between the groups, with full-width or other Unicode digits. `cpr_digits` turns
every notation into the ten ASCII digits (Unicode NFKC, every decimal digit to ASCII, separators
space . _ - removed), so every notation of one number gets one pseudonym, and `mask_cpr` finds
them in free text (log lines, messages) the same way.
"""

from __future__ import annotations

import re
import unicodedata

ID_LENGTH = 64  # the store's String(64) keys
ID_PUNCTUATION = frozenset("-_.:")
FORMULA_START = frozenset("=+-@")
CPR_SEPARATORS = " ._-"
ID_RULE = ("1-64 characters: letters, digits and - _ . : only, not starting with = + - @ "
           "(data contract, Identifiers)")

# A CPR number in any notation, once the text is normalised: DD MM YY SSSS with a short gap (up to
# three separators: space . _ - /, control characters, or escapes such as \x00 as a log line
# writes them) allowed where the notations put one. A date and a time (2024-11-04 12:30) do not
# fit the groups, so they stay readable.
_GAP = r"(?:[\s._\-/\x00-\x1f\x7f]|\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\0){0,3}"
CPR_IN_TEXT = re.compile(r"(?<!\d)\d{2}" + _GAP + r"\d{2}" + _GAP + r"\d{2}" + _GAP
                         + r"\d" + _GAP + r"\d{3}(?!\d)|\d{10,}")  # and any long digit run


def normalised_text(text: str) -> str:
    """Unicode NFKC with every decimal digit (full-width, Arabic-Indic, ...) as its ASCII digit."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def cpr_digits(value: str) -> str | None:
    """The ten ASCII digits of a CPR number in any notation, or None if `value` is not ten digits
    once normalised and stripped of separators (space . _ -).
    """
    text = normalised_text(value).strip()
    if len(text) > 20:
        return None
    for sep in CPR_SEPARATORS:
        text = text.replace(sep, "")
    return text if len(text) == 10 and text.isascii() and text.isdigit() else None


def mask_cpr(text: object, replacement: str = "<CPR number>") -> str:
    """`text` with anything that is a CPR number in some notation replaced (on the normalised
    text, so full-width digits, separators and NUL bytes between the groups do not hide one).
    """
    return CPR_IN_TEXT.sub(replacement, normalised_text(str(text)))


def id_problem(value: str, *, unicode_letters: bool = False) -> str | None:
    """Which part of the identifier rule `value` (already trimmed) breaks, or None if it is fine."""
    if not value:
        return "is required"
    if len(value) > ID_LENGTH:
        return f"is longer than {ID_LENGTH} characters"
    if value[0] in FORMULA_START:
        return "must not start with = + - @ (a spreadsheet would run it as a formula)"
    for ch in value:
        if ch in ID_PUNCTUATION or (ch.isascii() and ch.isalnum()):
            continue
        if unicode_letters and unicodedata.category(ch)[0] == "L":
            continue
        if ch in "/\\":
            return "must not hold a path separator"
        if unicodedata.category(ch)[0] == "C":
            return "must not hold a control character"
        return "may hold only letters, digits and - _ . :"
    return None


def valid_id(value: str, *, unicode_letters: bool = False) -> bool:
    """Whether `value` keeps the identifier rule (see `id_problem`)."""
    return id_problem(value, unicode_letters=unicode_letters) is None
