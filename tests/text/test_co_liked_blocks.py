"""The "also liked" neighbours are computed a block of items at a time (memory bound at scale)."""

import numpy as np
import pandas as pd

from ur4rec.text import catalog


def _liked(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(60), 12)
    items = np.concatenate([rng.choice(np.arange(1, 31), 12, replace=False) for _ in range(60)])
    return pd.DataFrame({"user_idx": users, "item_idx": items, "rating": 5.0})


def test_blocks_give_the_same_neighbours_as_one_product(monkeypatch):
    train = _liked()
    whole = catalog.co_liked_items(train, 30)
    assert sum(map(len, whole)) > 20  # the data has neighbours to find
    monkeypatch.setattr(catalog, "CO_LIKE_BLOCK_ENTRIES", 3 * 31)  # 3 items per block
    assert catalog.co_liked_items(train, 30) == whole
