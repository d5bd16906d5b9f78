"""The pages' Jinja2 environment: templates under serving/templates (page_*.html), escaped."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"


@lru_cache(maxsize=1)
def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)


def render(template: str, **context) -> str:
    """The template rendered with `context` (a missing variable is an error, not a blank)."""
    return environment().get_template(template).render(**context)
