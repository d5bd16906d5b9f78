"""`ews demo-hints`: the values the README's examples need, read from the home just made.

The examples in the README's "Use" section name a school, a week, an as-of date and a pupil.
On a demo made today those change with the day (the register ends yesterday), so `make demo`
prints them as one line of shell to paste, and the README's test takes them from that line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from model.errors import UserError

HEADER = "# The README's examples on this home: paste this line into the shell you run them in"


def example_values(engine, school: str) -> dict[str, str]:
    """SCHOOL, WEEK (its newest stored list), AS_OF (that list's as-of date) and PUPIL (the top
    of that list's early warnings, else its first flag). UserError if no list is stored."""
    from serving.flags import EARLY_WARNING
    from serving.stored_lists import newest_list_flags

    found = newest_list_flags(engine, school)
    if found is None:
        raise UserError(f"no list is stored for school {school!r}: run `ews flags --out DIR` first")
    newest, rows = found
    if not rows:
        raise UserError(f"school {school!r}'s list of {newest.week} is empty")
    early = [r.pupil_id for r in rows if r.section == EARLY_WARNING]
    return {"SCHOOL": school, "WEEK": newest.week, "AS_OF": newest.as_of.isoformat(),
            "PUPIL": (early or [rows[0].pupil_id])[0]}


def export_line(values: dict[str, str]) -> str:
    return "export " + " ".join(f"{name}={value}" for name, value in values.items())


def demo_hints(
    school: Annotated[str, typer.Option(help="the school of the examples")] = "S01",
) -> None:
    """Print the README's example values for this home: a school, its newest stored week, that
    week's as-of date and a pupil on its list, as one `export` line to paste into a shell."""
    from ews.app import _store

    typer.echo(HEADER)
    typer.echo(export_line(example_values(_store(), school)))
