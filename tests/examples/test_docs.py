"""The docs show what the code does: snippets equal the example DAGs, screenshots exist."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    p
    for p in (
        ROOT / "docs" / "README-sections.md",
        ROOT / "docs" / "run-job-and-task-nomad.md",
        ROOT / "README.md",
    )
    if p.is_file()
]
SNIPPET = re.compile(r"<!-- snippet: (\S+) (\w+) -->\n```python\n(.*?)```", re.DOTALL)
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def marked_section(path: Path, marker: str) -> str:
    text = path.read_text()
    match = re.search(rf"^[ \t]*# \[START {marker}\]\n(.*?)^[ \t]*# \[END {marker}\]", text,
                      re.DOTALL | re.MULTILINE)  # fmt: skip
    assert match, f"{path.name} has no {marker} section"
    return textwrap.dedent(match.group(1))


def snippets() -> list[tuple[str, str, str, str]]:
    found = []
    for doc in DOCS:
        for file, marker, code in SNIPPET.findall(doc.read_text()):
            found.append((doc.name, file, marker, code))
    return found


def test_the_docs_quote_every_example_section() -> None:
    quoted = {marker for _, _, marker, _ in snippets()}
    assert len(quoted) >= 6
    defined = set()
    for path in (ROOT / "example_dags").glob("*.py"):
        defined |= set(re.findall(r"# \[START (\w+)\]", path.read_text()))
    assert quoted <= defined


@pytest.mark.parametrize(("doc", "file", "marker", "code"), snippets(), ids=lambda v: str(v)[:40])
def test_snippet_equals_the_example_dag(doc: str, file: str, marker: str, code: str) -> None:
    # Trailing blank lines differ by formatter (ruff keeps two after a function in a module, and
    # takes them out of a Markdown code block); they are not part of what the snippet shows.
    section = marked_section(ROOT / file, marker)
    assert code.rstrip("\n") == section.rstrip("\n"), f"{doc}: {marker} is out of date"


def test_referenced_screenshots_exist_and_are_png() -> None:
    images = {image for doc in DOCS for image in IMAGE.findall(doc.read_text())}
    assert len(images) >= 5
    for image in images:
        path = ROOT / image
        assert path.is_file(), image
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, image
