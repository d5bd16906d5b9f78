"""The data contract at the door (data tier), for what the outside probe found:
- an id that breaks the identifier rule (path traversal, a spreadsheet formula, a NUL byte, a
  non-letter) is rejected with file, line and column (defects 1, 2 and 4);
- every notation of a CPR number is normalised, then pseudonymised: the same pseudonym for all
  of them, and none of the digits in the delivery, the store or a message (defect 3);
- the identical-duplicate warning names the line of the first copy (defect 8)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, select

from model.contract import load
from model.errors import UserError
from model.identifiers import cpr_digits, id_problem
from model.pseudonym import pseudonymise
from tests.factories import small_municipality

KEY = b"test-key-" + b"x" * 32


def problems_of(folder):
    with pytest.raises(UserError) as err:
        load(folder, KEY)
    return err.value.problems


@pytest.mark.parametrize("value", [
    "../../../../tmp/x/pwned", "S\\01", "=HYPERLINK(\"http://evil.example/?q\",\"klik\")",
    "+S1", "@S1", "-S1", "S€2", "S\x0001", "S 01", "x" * 65])
def test_a_school_id_breaking_the_identifier_rule_is_rejected_at_its_place(tmp_path, value):
    town = small_municipality(pupils=6, schools=2, weeks=1)
    town["schools"].loc[1, "school_id"] = value
    problems = problems_of(town.write(tmp_path))
    assert any(p.file == "schools.csv" and p.line == 3 and p.column == "school_id"
               for p in problems), [str(p) for p in problems]


@pytest.mark.parametrize("value", [
    "=HYPERLINK(\"http://evil.example/?q\",\"klik\")", "+1", "@SUM(A1)", "-2+3", "a/b",
    "P\x0001", "Pœ1", " =1+2"])
def test_a_pupil_id_breaking_the_identifier_rule_is_rejected_at_its_place(tmp_path, value):
    town = small_municipality(pupils=6, schools=2, weeks=1)
    old = town["pupils"].loc[2, "pupil_id"]
    for name in ("pupils", "enrolments", "attendance", "concerns"):
        frame = town[name]
        frame.loc[frame.pupil_id == old, "pupil_id"] = value
    problems = problems_of(town.write(tmp_path))
    assert any(p.file == "pupils.csv" and p.line == 4 and p.column == "pupil_id"
               for p in problems), [str(p) for p in problems]
    assert not any("HYPERLINK" in str(p) for p in problems)  # a pupil id is never echoed


def test_unicode_letters_are_fine_in_school_ids_only():
    assert id_problem("Østskolen", unicode_letters=True) is None
    assert id_problem("Østskolen") is not None
    assert id_problem("S-01.a:b_c") is None
    assert id_problem("p-0123abcd") is None


# --- CPR notations -------------------------------------------------------------------------------

FULL_WIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}
ARABIC_INDIC = {str(d): chr(0x0660 + d) for d in range(10)}


@st.composite
def notations(draw, number: str):
    """Some notation of the ten digits of `number`: groups split by a separator (space, dot,
    underscore, hyphen or none), digits maybe full-width or Arabic-Indic."""
    digits = number.replace("-", "")
    layout = draw(st.sampled_from(["6-4", "2-2-2-4", "2-2-2-1-3", "10"]))
    seps = draw(st.lists(st.sampled_from(["", " ", ".", "_", "-"]), min_size=4, max_size=4))
    parts, i = [], 0
    for size in map(int, layout.split("-")):
        parts.append(digits[i:i + size])
        i += size
    text = parts[0] + "".join(seps[k] + p for k, p in enumerate(parts[1:]))
    script = draw(st.sampled_from([None, FULL_WIDTH, ARABIC_INDIC]))
    if script:
        text = "".join(script.get(c, c) for c in text)
    return text


def _digit_runs(values) -> str:
    """All text of `values` with the digits of every notation made plain ASCII."""
    from model.identifiers import normalised_text

    return " ".join(normalised_text(str(v)) for v in values)


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_notation_of_a_cpr_number_is_one_pseudonymous_pupil(tmp_path_factory, data):
    town = small_municipality(pupils=6, schools=2, weeks=1, cpr=True, concerns=False,
                              wellbeing=False)
    number = sorted(town.cpr)[0]
    digits = number.replace("-", "")
    written = {}
    for name in ("pupils", "enrolments", "attendance"):
        frame = town[name]
        rows = frame.index[frame.pupil_id == number]
        for row in rows:  # each row its own notation: all of them must be one pupil
            written[(name, row)] = data.draw(notations(number))
            frame.loc[row, "pupil_id"] = written[(name, row)]
    assert all(cpr_digits(n) == digits for n in written.values())
    d = load(town.write(tmp_path_factory.mktemp("notations")), KEY)
    pseudonym = pseudonymise(number, KEY)
    assert all(pseudonymise(n, KEY) == pseudonym for n in written.values())
    assert pseudonym in set(d.pupils.pupil_id) and pseudonym in set(d.enrolments.pupil_id)
    assert pseudonym in set(d.register.pupil_ids)
    held = _digit_runs(list(d.pupils.pupil_id) + list(d.enrolments.pupil_id)
                       + list(d.register.pupil_ids) + d.warnings)
    assert digits not in held.replace(" ", "")


def test_cpr_notations_leave_no_digits_in_the_store(tmp_path, store_url):
    from model.settings import Settings
    from model.store import open_store
    from serving.ingest import ingest_folder

    town = small_municipality(pupils=8, schools=2, weeks=1, cpr=True)
    numbers = sorted(town.cpr)[:4]
    spelled = dict(zip(numbers, ["{0} {1}", "{0}.{1}", "{0}_{1}", "{2}"], strict=True))
    for number, pattern in spelled.items():
        head, tail = number.replace("-", "")[:6], number.replace("-", "")[6:]
        full = "".join(chr(0xFF10 + int(c)) for c in head + tail)
        text = pattern.format(head, tail, full)
        for name in ("pupils", "enrolments", "attendance", "concerns"):
            frame = town[name]
            frame.loc[frame.pupil_id == number, "pupil_id"] = text
    settings = Settings(home=tmp_path / "home", pseudonym_key=KEY.decode(), environment="test",
                        database_url=store_url)
    engine = open_store(store_url)
    result = ingest_folder(settings, engine, town.write(tmp_path / "delivery"))
    assert result.changed
    meta = MetaData()
    meta.reflect(engine)
    stored = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)).all():
                stored += [v for v in row if isinstance(v, str)]
                stored += [str(v) for v in row if isinstance(v, dict | list)]
    text = _digit_runs(stored + result.warnings + [result.summary()]).replace(" ", "")
    for number in numbers:
        assert number.replace("-", "") not in text
        assert pseudonymise(number, KEY) in stored
    engine.dispose()


# --- duplicate lines ---------------------------------------------------------------------------


@pytest.mark.parametrize("streamed_chunk", [None, 7])
def test_the_duplicate_warning_names_the_line_of_the_first_copy(tmp_path, streamed_chunk,
                                                                monkeypatch):
    from model import contract

    if streamed_chunk:
        monkeypatch.setattr(contract, "CHUNK_ROWS", streamed_chunk)
    town = small_municipality(pupils=20, schools=2, weeks=2)
    att = town["attendance"]
    # the first row repeated at the very end: its first copy is line 2
    town.files["attendance"] = pd.concat([att, att.iloc[[0]]], ignore_index=True)
    last = len(town["attendance"]) + 1
    d = load(town.write(tmp_path), KEY)
    assert any(f"first on line 2, repeated on line {last}" in w for w in d.warnings), d.warnings


def test_a_control_character_in_a_school_name_is_rejected(tmp_path):
    town = small_municipality(pupils=6, schools=2, weeks=1)
    town["schools"].loc[0, "name"] = "Øst\x00skolen"
    problems = problems_of(town.write(tmp_path))
    assert any(p.file == "schools.csv" and p.line == 2 and p.column == "name"
               and "control character" in p.rule for p in problems)
