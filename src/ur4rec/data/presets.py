"""The built-in dataset names (``data.dataset``): the source each reads and the filters it
applies where a config leaves them unset.

A leaf module (it imports nothing of ur4rec), so both floors read the one table: the config
schema writes a preset's filters out in full (:func:`ur4rec.config.resolved_dict`), the data room
prepares the data (:func:`ur4rec.data.prepared.effective_settings`). Where a text-rich preset's
files come from lives in :mod:`ur4rec.data.textrich`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TEXT_RICH = ("amazon-beauty", "amazon-scientific", "yelp")
"""the presets of the published text-rich splits (docs/data.md), read by data/textrich.py"""

PRESET_FIELDS = ("min_rating", "min_user_interactions", "min_item_interactions")
"""the filters a preset sets: ``data.*`` keys a config may still set itself"""


@dataclass(frozen=True)
class DatasetPreset:
    """What a built-in name means; ``source`` names the loader (``ml-100k`` or a text-rich
    preset's own name)."""

    source: str
    min_rating: float | None = None
    min_user_interactions: int = 3
    min_item_interactions: int = 1


PRESETS: dict[str, DatasetPreset] = {
    "ml-100k": DatasetPreset("ml-100k"),
    "ml-100k-seed": DatasetPreset("ml-100k", min_rating=4.0, min_user_interactions=5),
    # the published splits, already 5-core: these filters remove nothing
    **{name: DatasetPreset(name) for name in TEXT_RICH},
}


def preset_filters(dataset: str, explicit: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: value}`` of :data:`PRESET_FIELDS` for the preset ``dataset``: the value in
    ``explicit`` (what a config set itself) where there is one, else the preset's."""
    preset = PRESETS[dataset]
    return {key: explicit[key] if key in explicit else getattr(preset, key)
            for key in PRESET_FIELDS}
