"""Exports of one school's stored weekly list: CSV, Excel and a printable HTML page.

All three are made from `serving.stored_lists.stored_flag_list` (what is stored is what is handed out)
and hold only the pseudonymous pupil id - never a name or a CPR number. They carry no time of
their own: the same stored list always gives the same bytes (the Excel file's document dates are
the list's as-of date, its zip entries are dated 1980-01-01).

- CSV, for other systems: one row per flag with a `section` column, machine-readable values
  (shares as fractions, codes for band, level and decision); reason texts in the chosen language.
- Excel, for the team: one sheet per section with readable column names (Danish by default),
  a frozen header row, widths set and values formatted as percentages.
- HTML, to print for the meeting: the three sections apart, the band as a word on its colour, a
  print stylesheet, no external resources.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from model.errors import UserError
from model.estimator import BAND_DA
from model.records import SECTIONS

TEMPLATES = Path(__file__).with_name("templates")
FORMATS = ("csv", "xlsx", "html")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

SECTION_TITLES = {
    "da": {"early_warning": "Tidlig opsporing", "statutory": "Lovkrav",
           "already_concerning": "Allerede bekymrende"},
    "en": {"early_warning": "Early warning", "statutory": "Statutory",
           "already_concerning": "Already concerning"},
}
BAND_WORDS = {"da": BAND_DA, "en": {"high": "high", "raised": "raised", "watch": "watch",
                                    "low": "low"}}
# Background and text colour per band; the word is always shown too.
BAND_COLOURS = {"high": ("C62828", "FFFFFF"), "raised": ("EF6C00", "FFFFFF"),
                "watch": ("FBC02D", "000000"), "low": ("CFD8DC", "000000")}
LEVEL_WORDS = {
    "da": {"warning": "Varsel til forældrene (10 %)",
           "notification": "Underretning til kommunen (15 %)"},
    "en": {"warning": "Warn the parents (10%)",
           "notification": "Notify the municipality (15%)"},
}
DECISION_WORDS = {
    "da": {"investigate": "Afdækning", "already_known": "Allerede kendt",
           "no_action": "Ingen handling", "other": "Andet"},
    "en": {"investigate": "Investigate", "already_known": "Already known",
           "no_action": "No action", "other": "Other"},
}
YES_NO = {"da": ("Ja", "Nej"), "en": ("Yes", "No")}

CSV_COLUMNS = ["week", "school_id", "section", "rank", "pupil_id", "grade", "risk", "band",
               "reason_1", "reason_2", "reason_3", "absence_year", "trend", "statutory_level",
               "unauthorised_quarter", "new_this_week", "review_decision", "review_decided_on",
               "also"]


@dataclass(frozen=True)
class Column:
    """One column of the Excel sheets and HTML tables: a label per language, how to get the
    value from a row, the Excel number format and width (characters)."""

    key: str
    da: str
    en: str
    width: float
    number_format: str | None = None
    kind: str = "text"  # text | number | band | reason | level | review


COLUMNS: dict[str, Column] = {c.key: c for c in (
    Column("rank", "Nr.", "No.", 6, "0", "number"),
    Column("pupil_id", "Elev (pseudonym)", "Pupil (pseudonym)", 22),
    Column("grade", "Klassetrin", "Grade", 10, "0", "number"),
    Column("risk", "Risiko", "Risk", 9, "0%", "number"),
    Column("band", "Risikoniveau", "Risk band", 14, kind="band"),
    Column("reason_1", "Begrundelse 1", "Reason 1", 55, kind="reason"),
    Column("reason_2", "Begrundelse 2", "Reason 2", 55, kind="reason"),
    Column("reason_3", "Begrundelse 3", "Reason 3", 55, kind="reason"),
    Column("statutory_level", "Lovkrav", "Statutory level", 32, kind="level"),
    Column("unauthorised_quarter", "Ulovligt fravær i kvartalet",
           "Unauthorised absence this quarter", 14, "0.0%", "number"),
    Column("absence_year", "Fravær i skoleåret", "Absence this school year", 12, "0.0%", "number"),
    Column("trend", "Udvikling, 4 uger (procentpoint)", "Trend, 4 weeks (percentage points)", 14,
           "+0.0;-0.0;0.0", "number"),
    Column("new_this_week", "Ny på listen", "New on the list", 10),
    Column("review_decision", "Teamets beslutning", "Team's decision", 18, kind="review"),
    Column("review_decided_on", "Besluttet den", "Decided on", 12, "yyyy-mm-dd"),
    Column("also", "Også i afsnit", "Also in section", 20, kind="also"),
)}
SECTION_COLUMNS = {
    "early_warning": ["rank", "pupil_id", "grade", "risk", "band", "reason_1", "reason_2",
                      "reason_3", "absence_year", "trend", "new_this_week", "also",
                      "review_decision", "review_decided_on"],
    "statutory": ["rank", "pupil_id", "grade", "statutory_level", "unauthorised_quarter",
                  "absence_year", "trend", "new_this_week", "also", "review_decision",
                  "review_decided_on"],
    "already_concerning": ["rank", "pupil_id", "grade", "risk", "band", "absence_year", "trend",
                           "new_this_week", "review_decision", "review_decided_on"],
}


def export_flag_list(flag_list: dict[str, Any], folder: Path | str, language: str = "da",
                     formats: tuple[str, ...] = FORMATS, **html_options) -> list[Path]:
    """Write `folder/<week>/<school_id>.{csv,xlsx,html}` (names through `file_name`, every path
    checked to stay inside `folder`); returns the paths written."""
    out = inside(folder, file_name(flag_list["week"]))
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = []
    for fmt in formats:
        path = inside(folder, file_name(flag_list["week"]), file_name(flag_list["school_id"], fmt))
        if fmt == "csv":
            path.write_text(flag_list_csv(flag_list), encoding="utf-8")
        elif fmt == "xlsx":
            path.write_bytes(flag_list_xlsx(flag_list, language))
        elif fmt == "html":
            path.write_text(flag_list_html(flag_list, language, **html_options), encoding="utf-8")
        else:
            raise ValueError(f"unknown format {fmt!r}")
        os.chmod(path, 0o600)  # personal data: the owner's only
        paths.append(path)
    return paths


# -- values --------------------------------------------------------------------------------------


def _value(row: dict[str, Any], key: str) -> Any:
    """The raw value of a column for a row (None if empty)."""
    if key.startswith("reason_"):
        k = int(key[-1]) - 1
        return row["reasons"][k]["text"] if len(row["reasons"]) > k else None
    if key == "review_decision":
        return (row["review"] or {}).get("decision")
    if key == "review_decided_on":
        return (row["review"] or {}).get("decided_on")
    if key == "also":  # the other sections a pupil listed once is in (a badge)
        return ";".join(row.get("also") or []) or None
    return row.get(key)


def _rows(flag_list: dict[str, Any]):
    for section in SECTIONS:
        for row in flag_list["sections"][section]:
            yield section, row


# -- CSV -------------------------------------------------------------------------------------------


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4f}"
    return neutral_cell(str(value))


def flag_list_csv(flag_list: dict[str, Any]) -> str:
    """The list as CSV text: one row per flag, sections in order, ranks within them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for section, row in _rows(flag_list):
        values = {"week": flag_list["week"], "school_id": flag_list["school_id"],
                  "section": section}
        writer.writerow([_csv_cell(values[c] if c in values else _value(row, c))
                         for c in CSV_COLUMNS])
    return buffer.getvalue()


# -- Excel -----------------------------------------------------------------------------------------


def _excel_value(row: dict[str, Any], key: str, language: str) -> Any:
    value = _value(row, key)
    if value is None:
        return None
    if key == "band":
        return BAND_WORDS[language].get(value, value)
    if key == "statutory_level":
        return LEVEL_WORDS[language].get(value, value)
    if key == "review_decision":
        return DECISION_WORDS[language].get(value, value)
    if key == "review_decided_on":
        return date.fromisoformat(value)
    if key == "new_this_week":
        return YES_NO[language][0 if value else 1]
    if key == "also":
        return also_words(row, language)
    if key == "trend":
        return round(100 * value, 2)
    if isinstance(value, float):
        return round(value, 4)
    return value


def flag_list_xlsx(flag_list: dict[str, Any], language: str = "da") -> bytes:
    """The list as an Excel workbook: one sheet per section, frozen header, widths set."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="E0E0E0")
    wrap = Alignment(wrap_text=True, vertical="top")
    bands = {band: (PatternFill("solid", fgColor=fill), Font(color=ink, bold=True))
             for band, (fill, ink) in BAND_COLOURS.items()}
    for section in SECTIONS:
        sheet = workbook.create_sheet(SECTION_TITLES[language][section])
        columns = [COLUMNS[k] for k in SECTION_COLUMNS[section]]
        sheet.append([getattr(c, language) for c in columns])
        for cell in sheet[1]:
            cell.font, cell.fill, cell.alignment = bold, header_fill, wrap
        # Styles are set only where they differ from the default (openpyxl's per-cell styling
        # dominates the time of a long sheet); cells and styles are made once and reused.
        styled = [(j, c) for j, c in enumerate(columns) if c.number_format or c.kind == "reason"]
        band_at = next((j for j, c in enumerate(columns) if c.kind == "band"), None)
        for row in flag_list["sections"][section]:
            cells = [WriteOnlyCell(sheet, neutral_cell(_excel_value(row, c.key, language)))
                     for c in columns]
            for j, column in styled:
                if column.kind == "reason":
                    cells[j].alignment = wrap
                elif column.key == "risk":
                    cells[j].number_format = RISK_EXCEL_FORMAT[language]
                else:
                    cells[j].number_format = column.number_format
            if band_at is not None and row.get("band") in bands:
                cells[band_at].fill, cells[band_at].font = bands[row["band"]]
            sheet.append(cells)
        for j, column in enumerate(columns, start=1):
            sheet.column_dimensions[get_column_letter(j)].width = column.width
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(sheet.max_row, 1)}"
        sheet.print_title_rows = "1:1"
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
    return workbook_bytes(workbook, f"{flag_list['school_id']} {flag_list['week']}",
                          datetime.fromisoformat(flag_list["as_of"]))


def workbook_bytes(workbook, title: str, created: datetime) -> bytes:
    """The workbook as reproducible bytes: titled, dated `created` only (never the clock), so
    the same content gives the same file."""
    from openpyxl.writer.excel import ExcelWriter

    workbook.properties.title = title
    workbook.properties.creator = "Fraværsradar"
    workbook.properties.created = workbook.properties.modified = created
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()
    return _fixed_dates(raw.getvalue())


def _fixed_dates(data: bytes) -> bytes:
    """The same zip with every entry dated ZIP_DATE, so the file does not depend on when."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


# -- HTML ------------------------------------------------------------------------------------------


RISK_FLOOR, RISK_CEILING = 0.01, 0.99  # a displayed risk never reads 0 % or 100 %
# Excel's own conditional number format for the risk column: the cell keeps the number.
RISK_EXCEL_FORMAT = {"da": '[<0.01]"< 1 %";[>0.99]"> 99 %";0%',
                     "en": '[<0.01]"< 1%";[>0.99]"> 99%";0%'}


def risk_percent(x: float | None, language: str) -> str:
    """A probability as a team reads it: whole percent, but never 0 % or 100 % - below 1 % it
    reads "< 1 %", above 99 % "> 99 %" (the model is never that sure). "–" if unknown. The one
    formatting of a displayed risk: pages, Excel and the printed list."""
    if x is None or x != x:
        return "–"
    if x < RISK_FLOOR:
        return "< 1 %" if language == "da" else "< 1%"
    if x > RISK_CEILING:
        return "> 99 %" if language == "da" else "> 99%"
    return _pct(min(max(x, RISK_FLOOR), RISK_CEILING), language)


def _pct(x: float | None, language: str, decimals: int = 0) -> str:
    if x is None:
        return "–"
    text = f"{100 * x:.{decimals}f}"
    return (text.replace(".", ",") + " %") if language == "da" else text + "%"


def _points(x: float | None, language: str) -> str:
    if x is None:
        return "–"
    text = f"{100 * x:+.1f}".replace("-", "−")
    return text.replace(".", ",") + " pct.-point" if language == "da" else text + " pp"


def also_words(row: dict[str, Any], language: str) -> str | None:
    """The badge of a pupil listed once but in more sections: the other sections' titles."""
    also = row.get("also") or []
    return ", ".join(SECTION_TITLES[language].get(s, s) for s in also) or None


def _day(iso: str, language: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.day}.{d.month}.{d.year}" if language == "da" else d.isoformat()


def _html_cell(row: dict[str, Any], column: Column, language: str) -> dict[str, Any]:
    key = column.key
    if key == "risk":
        return {"text": risk_percent(row["risk"], language), "kind": "number"}
    if key in ("absence_year", "unauthorised_quarter"):
        return {"text": _pct(row[key], language, 1), "kind": "number"}
    if key == "trend":
        return {"text": _points(row["trend"], language), "kind": "number"}
    if key == "band":
        band = row["band"]
        return {"text": BAND_WORDS[language].get(band, band or "–"), "kind": "band",
                "band": band}
    if key.startswith("reason_"):
        return {"text": _value(row, key) or "", "kind": "reason"}
    if key == "statutory_level":
        return {"text": LEVEL_WORDS[language].get(row[key], row[key] or "–"), "kind": "level",
                "level": row[key]}
    if key == "new_this_week":
        return {"text": YES_NO[language][0 if row[key] else 1], "kind": "new",
                "new": bool(row[key])}
    if key == "also":
        return {"text": also_words(row, language) or "", "kind": "also"}
    if key == "review_decision":
        review = row["review"]
        if review is None:
            return {"text": "–", "kind": "review"}
        word = DECISION_WORDS[language].get(review["decision"], review["decision"])
        return {"text": f"{word}, {_day(review['decided_on'], language)}", "kind": "review"}
    return {"text": "" if row.get(key) is None else str(row[key]), "kind": column.kind}


HTML_TEXT = {
    "da": {
        "title": "Ugeliste", "week": "uge", "as_of": "Opgjort pr.", "model": "model version",
        "on_roll": "elever", "capacity": "kapacitet", "empty": "Ingen elever i dette afsnit "
        "denne uge.", "review": "Teamets beslutning",
        "note": "Beslutningsstøtte: en markering udløser intet i sig selv. Opsporingsteamet "
                "vurderer hver elev og registrerer sin beslutning. Eleverne vises kun med "
                "pseudonym.",
        "early_warning": "Elever, der endnu ikke har bekymrende fravær, ordnet efter modellens "
                         "risiko for at fraværet bliver bekymrende (mindst {threshold} de næste "
                         "{horizon} skoledage). Listen er skåret ved skolens kapacitet: "
                         "{capacity} elever.",
        "statutory": "Regel, ikke forudsigelse: elever med ulovligt fravær på mindst 10 % i "
                     "kvartalet indtil nu. Ved 10 % skal skolen varsle forældrene; ved 15 % "
                     "skal skolens leder underrette kommunen.",
        "already_concerning": "Kendte tilfælde til opfølgning: samlet fravær på mindst "
                              "{threshold} de seneste {trailing} skoledage.",
        "bands": "Risikoniveau: høj fra 50 %, forhøjet fra 25 %, opmærksomhed fra 10 %, "
                 "ellers lav.",
        "waits": "Der er endnu ingen godkendt model: afsnittet venter på, at en model bliver sat "
                 "i drift. Lovkrav og allerede bekymrende fravær er regler og vises som altid.",
    },
    "en": {
        "title": "Weekly list", "week": "week", "as_of": "As of", "model": "model version",
        "on_roll": "pupils", "capacity": "capacity", "empty": "No pupils in this section "
        "this week.", "review": "Team's decision",
        "note": "Decision support: a flag triggers nothing by itself. The detection team "
                "considers each pupil and records its decision. Pupils are shown by pseudonym "
                "only.",
        "early_warning": "Pupils whose absence is not yet concerning, ordered by the model's "
                         "risk that it becomes so (at least {threshold} over the next {horizon} "
                         "school days). The list is cut at the school's capacity: {capacity} "
                         "pupils.",
        "statutory": "A rule, not a prediction: pupils with at least 10% unauthorised absence "
                     "in the quarter so far. At 10% the school must warn the parents; at 15% "
                     "the head must notify the municipality.",
        "already_concerning": "Known cases, for follow-up: total absence of at least "
                              "{threshold} over the last {trailing} school days.",
        "bands": "Risk band: high from 50%, raised from 25%, watch from 10%, otherwise low.",
        "waits": "No model has been promoted yet: this section waits for a promoted model. The "
                 "statutory and already-concerning sections are rules and are shown as always.",
    },
}


def flag_list_html(flag_list: dict[str, Any], language: str = "da", threshold: float = 0.15,
                   horizon: int = 60, trailing: int = 60) -> str:
    """The list as one printable HTML page (Jinja2, styles inline, no external resources).
    `threshold`, `horizon` and `trailing` are the settings the explanations quote."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    text = HTML_TEXT[language]
    facts = {"threshold": _pct(threshold, language), "horizon": horizon, "trailing": trailing,
             "capacity": flag_list["capacity"]}
    sections = []
    for number, section in enumerate(SECTIONS, start=1):
        columns = [COLUMNS[k] for k in SECTION_COLUMNS[section] if k != "review_decided_on"]
        sections.append({
            "key": section,
            "number": number,
            "title": SECTION_TITLES[language][section],
            "intro": (text["waits"] if section == "early_warning" and not flag_list.get(
                "model_version") else text[section].format(**facts)),
            "headers": [text["review"] if c.key == "review_decision" else getattr(c, language)
                        for c in columns],
            "rows": [[_html_cell(row, c, language) for c in columns]
                     for row in flag_list["sections"][section]],
        })
    year, week = flag_list["week"].split("-W")
    return env.get_template("flag_list.html").render(
        language=language, text=text, list=flag_list, sections=sections,
        week_number=int(week), year=year, as_of=_day(flag_list["as_of"], language),
        colours=BAND_COLOURS,
    )


# -- safety: file names, folders, cells, downloads (issue 13) -----------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral_cell(value: Any) -> Any:
    """A cell value a spreadsheet shows as text, never runs (OWASP, CSV injection): a text that
    starts with = + - @ (after any whitespace), a tab or a carriage return gets a leading
    apostrophe. Numbers, dates and other values pass unchanged. The one helper for CSV and Excel."""
    if isinstance(value, str) and value and (value[0] in FORMULA_START
                                             or value.lstrip()[:1] in FORMULA_START[:4]):
        return "'" + value
    return value


def file_name(identifier: str, suffix: str | None = None) -> str:
    """The one way an id becomes a file name: letters, digits, - and _ kept, anything else
    (a path separator, a dot, a control character, a colon) percent-escaped as its UTF-8 bytes,
    so an id can never name another folder or a hidden file; `suffix` added after a dot."""
    out = []
    for ch in unicodedata.normalize("NFC", str(identifier)):
        if (ch.isascii() and ch.isalnum()) or ch in "-_" or (
                not ch.isascii() and unicodedata.category(ch)[0] == "L"):
            out.append(ch)
        else:
            out.append("".join(f"%{byte:02X}" for byte in ch.encode("utf-8")))
    name = "".join(out)[:200] or "_"
    return f"{name}.{suffix}" if suffix else name


def inside(folder: Path | str, *parts: str) -> Path:
    """`folder/part/...`, refused (UserError) unless it stays inside `folder` once resolved."""
    root = Path(folder).resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and not path.is_relative_to(root):
        raise UserError(f"refused to write outside {root}: {shown_name(path.name)}")
    return path


def shown_name(name: str) -> str:
    return repr(name[:60])


def export_flag_lists(flag_lists: list[dict[str, Any]], folder: Path | str, language: str = "da",
                      formats: tuple[str, ...] = FORMATS, **html_options) -> list[list[Path]]:
    """Write several schools' lists as one run: into a temporary folder inside `folder` (created
    as needed, owner-only) first, then moved into place file by file, so a failure on any list
    leaves no half-written list behind. Returns the final paths per list."""
    root = Path(folder).resolve()  # a relative --out (e.g. lists/) works the same as `inside`
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UserError(f"cannot create the folder {root}: {exc.strerror}") from None
    staging = Path(tempfile.mkdtemp(prefix=".ews-export-", dir=root))
    try:
        staged = [export_flag_list(fl, staging, language, formats, **html_options)
                  for fl in flag_lists]
        final = []
        for paths in staged:
            moved = []
            for path in paths:
                target = inside(root, *path.relative_to(staging).parts)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.replace(path, target)
                moved.append(target)
            final.append(moved)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_name(prefix: str, school_id: str, week: str, suffix: str) -> str:
    """The name of a downloaded export, built by `file_name`."""
    return f"{prefix}-{file_name(school_id)}-{file_name(week)}.{suffix}"


def content_disposition(name: str) -> str:
    """An attachment header for any file name (RFC 6266): an ASCII fallback `filename` and the
    exact name as RFC 5987 `filename*` (UTF-8, percent-encoded). Never raises on non-Latin-1."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\%' else "_"
                       for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"

# -- tables of aggregates (issue 15: the municipality's KPIs) ---------------------------------------


def table_xlsx(sheets: list[tuple[str, list[str], list[list[Any]], dict[int, str]]],
               title: str, created: datetime) -> bytes:
    """A workbook of plain tables: per sheet (name, header, rows, {column index: number
    format}); bold frozen header, filter, widths from the header. Written row by row
    (openpyxl's write-only mode: a national table of 11,000 rows in a second or two)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="E0E0E0")
    for name, header, rows, formats in sheets:
        sheet = workbook.create_sheet(name[:31])
        for j, text in enumerate(header, start=1):
            sheet.column_dimensions[get_column_letter(j)].width = max(10, min(len(str(text)) + 2,
                                                                              40))
        sheet.freeze_panes = "A2"
        if header:
            sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{len(rows) + 1}"
        cells = []
        for text in header:
            cell = WriteOnlyCell(sheet, text)
            cell.font, cell.fill = bold, fill
            cells.append(cell)
        sheet.append(cells)
        for row in rows:
            row = [neutral_cell(v) for v in row]  # text a spreadsheet shows, never runs
            if formats:
                for j, fmt in formats.items():
                    if row[j] is not None:
                        cell = WriteOnlyCell(sheet, row[j])
                        cell.number_format = fmt
                        row[j] = cell
            sheet.append(row)
    return workbook_bytes(workbook, title, created)
