"""The code cites only documents that exist: ``docs/*.md`` files of this repository, never a
numbered part of a design document or an issue that a reader of the code cannot open."""

from __future__ import annotations

import re

from .conftest import REPO

CITED_DOC = re.compile(r"\bdocs/[\w./-]+?\.md\b")
ABSENT_SOURCE = re.compile(r"\bdesign parts? \d|\b[Ii]ssues? \d+\b")


def python_files() -> list:
    own = __file__.rsplit("/", 1)[-1]
    return [path for folder in ("src", "tests", "benchmarks")
            for path in sorted((REPO / folder).rglob("*.py")) if path.name != own]


def test_cited_docs_exist_and_nothing_cites_a_design_part_or_an_issue():
    missing, absent = [], []
    for path in python_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"{path.relative_to(REPO)}:{number}"
            missing += [f"{where} {doc}" for doc in CITED_DOC.findall(line)
                        if not (REPO / doc).is_file()]
            if ABSENT_SOURCE.search(line):
                absent.append(f"{where}: {line.strip()}")
    assert missing == [] and absent == []
