"""The dataset presets: one table (data/presets.py) that config and data both read."""

from __future__ import annotations

import pytest

from ur4rec.config import config_from_dict, resolved_dict
from ur4rec.data.prepared import effective_settings
from ur4rec.data.presets import PRESET_FIELDS, PRESETS, TEXT_RICH
from ur4rec.data.textrich import TEXT_RICH_SOURCES


def test_every_text_rich_preset_has_a_source():
    assert set(TEXT_RICH_SOURCES) == set(TEXT_RICH) <= set(PRESETS)
    assert all(PRESETS[name].source == name for name in TEXT_RICH)


@pytest.mark.parametrize("dataset", ["ml-100k", "ml-100k-seed"])
@pytest.mark.parametrize("data", [{}, {"min_rating": 3, "min_user_interactions": 4}])
def test_the_resolved_config_spells_out_the_filters_the_data_uses(dataset, data):
    config = config_from_dict({"data": {"dataset": dataset, **data}})
    settings = effective_settings(config.data)
    resolved = resolved_dict(config)["data"]
    assert {key: resolved[key] for key in PRESET_FIELDS} == {
        key: settings[key] for key in PRESET_FIELDS}
