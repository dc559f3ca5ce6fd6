"""docs/configuration.md names every key the config accepts, so a new key cannot go undocumented."""

from pathlib import Path

from ur4rec.config import valid_keys

DOC = Path(__file__).parents[1] / "docs" / "configuration.md"


def test_every_config_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [key for key in valid_keys() if f"`{key}`" not in text]
    assert not missing, f"{DOC.name} does not document these config keys: {', '.join(missing)}"
