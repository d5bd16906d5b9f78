"""The model card of a registered version, as serving and the command line see it: the evaluation
logged with the version (model.registry.CARD_EVALUATION, read by serving.champion), rendered by
`model.card` with the current contact. Written to EWS_HOME/model-cards/ by `ews model-card`;
served at /v1/model/card."""

from __future__ import annotations

from pathlib import Path

from model.card import model_card
from model.errors import UserError
from model.settings import Settings
from serving.champion import champion_version, version_details


def card_of_version(settings: Settings, version: str | None = None) -> tuple[str, str, str]:
    """(version, Markdown, HTML) of the card of `version` (default: the champion); a user error if
    there is no such version."""
    if version is None:
        version = champion_version(settings)
        if version is None:
            raise UserError("no champion model is registered yet: run `ews train` first, or name a version")
    try:
        details = version_details(settings, str(version))
    except Exception as exc:  # noqa: BLE001 - the registry answers an unknown version with an error
        raise UserError(f"model version {version!r} of {settings.registered_model_name} is not "
                        "registered") from exc
    markdown, html = model_card(settings.registered_model_name, str(version), details.get("evaluation"),
                                details, settings.contact)
    return str(version), markdown, html


def write_model_card(settings: Settings, version: str | None = None) -> tuple[Path, Path]:
    """Write the card of `version` (default: the champion) as Markdown and HTML to
    EWS_HOME/model-cards/; return both paths."""
    version, markdown, html = card_of_version(settings, version)
    out = settings.home_dir / "model-cards"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{settings.registered_model_name}-v{version}"
    md_path, html_path = out / f"{stem}.md", out / f"{stem}.html"
    md_path.write_text(markdown, encoding="utf-8")
    html_path.write_text(html, encoding="utf-8")
    return md_path, html_path
