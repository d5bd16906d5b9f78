"""The model card as the API serves it (domain.md, transparency): the full card of the served
version, rendered by `model.card` from the evaluation logged with the version (read once, when
the version is loaded), or a shorter card from the registry's metrics for an older version."""

from __future__ import annotations

from model.card import model_card

DEFAULT_CONTACT = "the municipality"


def model_card_html(name: str, version: str, details: dict, contact: str = DEFAULT_CONTACT) -> str:
    """The card as a self-contained HTML page."""
    return model_card(name, version, details.get("evaluation"), details, contact)[1]


def model_card_markdown(name: str, version: str, details: dict, contact: str = DEFAULT_CONTACT) -> str:
    """The card as Markdown."""
    return model_card(name, version, details.get("evaluation"), details, contact)[0]
