"""The docs stay a reference that can be trusted.

Guards: (a) every figure of README's "Headline results" table is the value recorded in
docs/headline.json, and the table holds exactly those entries; (b) each value of docs/headline.json
appears verbatim in the row of the doc it names, so the headline cannot drift from the measured
tables; (c) every relative link in README.md, CHANGELOG.md and docs/**/*.md points to a file that
exists, and a `#anchor` into a .md file matches one of its headings (GitHub's rule); (d)
docs/benchmarks.md stays short enough to read as current results (the dated record lives in
docs/history/). Files are found from this test file, never from the installed package.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEADLINE = json.loads((REPO / "docs" / "headline.json").read_text(encoding="utf-8"))["entries"]
METRICS = ("NDCG@10", "hit@5", "Recall@10")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
BENCHMARKS_MAX_LINES = 300


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def figure(entry: dict) -> str:
    return f"{entry['value']} ± {entry['std']}" if entry["std"] else entry["value"]


def headline_rows() -> list[dict]:
    """The README's headline table as dicts keyed by its header."""
    section = text(REPO / "README.md").split("## Headline results", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]


def test_readme_headline_equals_headline_json():
    shown = set()
    for row in headline_rows():
        for metric in METRICS:
            if row[metric] not in ("–", ""):
                value, _, std = row[metric].partition(" ± ")
                shown.add((row["dataset"], row["model"], row["protocol"], row["seeds"], metric,
                           value, std or None))
        for entry in HEADLINE:
            if (entry["dataset"], entry["model"], entry["protocol"]) == (
                    row["dataset"], row["model"], row["protocol"]):
                assert f"]({entry['source']}" in row["from"], (row, entry["source"])
    recorded = {(e["dataset"], e["model"], e["protocol"], str(e["seeds"]), e["metric"],
                 e["value"], e["std"]) for e in HEADLINE}
    assert shown == recorded


def test_readme_first_screen_keeps_commands_and_shows_headline():
    readme = text(REPO / "README.md")
    first_heading = re.search(r"^## .*$", readme, re.M).group(0)
    assert first_heading == "## Headline results"
    before = readme.split(first_heading)[0]
    assert "make demo   #" in before and "make test   #" in before
    assert "](docs/headline.png)" in readme.split("\n## ", 2)[1]


@pytest.mark.parametrize("entry", HEADLINE, ids=lambda e: f"{e['dataset']}-{e['model']}-"
                         f"{e['protocol'].split()[0]}-{e['metric']}")
def test_headline_value_is_verbatim_in_its_doc(entry):
    doc = REPO / entry["source"]
    number = re.compile(r"(?<![\d.])" + re.escape(figure(entry)) + r"(?![\d])")
    rows = [line for line in text(doc).splitlines()
            if entry["row"] in line and number.search(line)]
    assert rows, f"{figure(entry)} not in a row of {entry['source']} holding {entry['row']!r}"


def slug(heading: str) -> str:
    """GitHub's heading anchor: links and markup dropped, lowercase, punctuation out, spaces -."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    for line in FENCE.sub("", text(path)).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            yield base if count == 0 else f"{base}-{count}"


def doc_files() -> list[Path]:
    return [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").rglob("*.md"))]


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_and_anchors_resolve(path):
    broken = []
    body = re.sub(r"`[^`\n]*`", "", FENCE.sub("", text(path)))
    for target in LINK.findall(body):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
            continue  # a URL or an absolute path: not this test's business
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in set(anchors(resolved)):
            broken.append(f"{target}: no heading gives #{anchor}")
    assert broken == [], f"{path.relative_to(REPO)}: {broken}"


def test_benchmarks_is_short():
    lines = text(REPO / "docs" / "benchmarks.md").splitlines()
    assert len(lines) <= BENCHMARKS_MAX_LINES, f"{len(lines)} lines: move dated rows to docs/history/"
