"""Every link in the README and docs/ resolves inside the repository: a clone has no
`../shared/` beside it, and an absolute path names someone else's machine."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]

INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
HTML = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
WEB = {"http", "https", "mailto"}


def documents() -> list[Path]:
    docs = sorted((ROOT / "docs").rglob("*.md"))
    return [ROOT / "README.md", *docs]


def links(text: str) -> list[str]:
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # code blocks hold no links
    text = re.sub(r"`[^`\n]*`", "", text)  # nor does inline code
    return INLINE.findall(text) + REFERENCE.findall(text) + HTML.findall(text)


def problem(document: Path, target: str) -> str | None:
    """Why the link leaves the repository or points nowhere; None if it is fine."""
    parsed = urlparse(target)
    if parsed.scheme in WEB:
        return None
    if parsed.scheme:
        return f"{parsed.scheme}: link"
    if not parsed.path:  # an anchor in the same document
        return None
    if parsed.path.startswith("/"):
        return "absolute path"
    resolved = (document.parent / unquote(parsed.path)).resolve()
    if not resolved.is_relative_to(ROOT):
        return "outside the repository"
    if not resolved.exists():
        return "does not exist"
    return None


def test_the_link_finder_sees_the_kinds_of_link():
    text = ('See [a](docs/a.md), ![img](docs/img/x.png "t"), <a href="../x">x</a>\n'
            "[ref]: ../shared/spec/interfaces.md\n`[not](../code.md)`\n"
            "```\n[nor](../block.md)\n```\n")
    assert sorted(links(text)) == sorted(["docs/a.md", "docs/img/x.png", "../x",
                                          "../shared/spec/interfaces.md"])
    readme = ROOT / "README.md"
    assert problem(readme, "../shared/spec/interfaces.md") == "outside the repository"
    assert problem(readme, "/work/shared/spec/interfaces.md") == "absolute path"
    assert problem(readme, "file:///etc/passwd") == "file: link"
    assert problem(readme, "docs/no-such-file.md") == "does not exist"
    assert problem(readme, "docs/interfaces.md#exit-codes") is None
    assert problem(readme, "https://example.org/x") is None


def test_no_link_in_the_readme_or_docs_points_outside_the_repository():
    found = {doc: links(doc.read_text(encoding="utf-8")) for doc in documents()}
    assert sum(map(len, found.values())) >= 5  # the README links the docs and screenshots
    bad = [f"{doc.relative_to(ROOT)}: {target} ({why})"
           for doc, targets in found.items() for target in targets
           if (why := problem(doc, target))]
    assert bad == []


def test_the_readme_links_the_interfaces_and_the_data_contract():
    targets = links((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "docs/interfaces.md" in targets and "docs/data-contract.md" in targets
