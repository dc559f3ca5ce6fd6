"""docs/scale.md describes what the code does: its commands, its threshold, its sections."""

from __future__ import annotations

from ur4rec.cli import COMMANDS
from ur4rec.data.converters import CONVERTERS
from ur4rec.retrieval.faiss_index import DEFAULT_FAISS_THRESHOLD, THRESHOLD_ENV

from .conftest import REPO

DOC = (REPO / "docs" / "scale.md").read_text(encoding="utf-8")


SCALE_COMMANDS = ("tune", "recommend-all", "convert")


def test_commands_and_converters_are_documented():
    assert set(SCALE_COMMANDS) <= set(COMMANDS)
    missing = [f"ur4rec {name}" for name in SCALE_COMMANDS if f"ur4rec {name}" not in DOC]
    missing += [f"convert {kind}" for kind in CONVERTERS if f"convert {kind}" not in DOC]
    assert not missing, missing


def test_threshold_is_the_documented_one():
    assert f"{DEFAULT_FAISS_THRESHOLD:,}" in DOC and THRESHOLD_ENV in DOC


def test_sections():
    for heading in ("## Larger datasets", "## Full-catalogue retrieval through FAISS",
                    "## Hyper-parameter search", "## GPU",
                    "## Data-parallel training (torchrun)"):
        assert heading in DOC, heading
