"""Every rule and every threshold constant is documented in docs/diagnosis.md."""

from __future__ import annotations

from pathlib import Path

from ur4rec.diagnostics.rules import RULES, components, outcome, training

DOC = Path(__file__).resolve().parents[2] / "docs" / "diagnosis.md"


def _constants(module) -> list[str]:
    return [name for name, value in vars(module).items()
            if name.isupper() and isinstance(value, (int, float)) and not isinstance(value, bool)]


def test_rules_and_thresholds_are_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in RULES if f"`{name}`" not in text]
    for module in (components, outcome, training):
        missing += [name for name in _constants(module) if f"`{name}`" not in text]
    assert not missing, f"not in {DOC}: {missing}"


def test_documented_values_match_the_code():
    text = DOC.read_text(encoding="utf-8")
    for module in (components, outcome, training):
        for name in _constants(module):
            value = getattr(module, name)
            assert f"`{name}` = {value:g}" in text, f"{name} = {value:g} not in {DOC}"
