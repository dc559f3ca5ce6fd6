"""Reference points every model must clear: random scores and training-set popularity."""

from __future__ import annotations

import numpy as np
import torch

from ur4rec.models.base import Recommender, UserBatch

_MODULUS = 2_147_483_647  # a Park–Miller generator keeps integer products inside int64


class RandomRecommender(Recommender):
    """Scores drawn uniformly per (user, item), fixed by ``seed`` (independent of batching)."""

    trainable = False

    def __init__(self, num_items: int, seed: int = 0) -> None:
        super().__init__()
        self.num_items = num_items
        self.seed = seed

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        users = batch.users.long().unsqueeze(1)
        items = torch.arange(self.num_items + 1, device=users.device).unsqueeze(0)
        state = (users * 1_000_003 + items * 7_919 + self.seed * 104_729 + 1) % _MODULUS
        for _ in range(3):
            state = (state * 48_271) % _MODULUS
        return state.double() / _MODULUS


class PopularityRecommender(Recommender):
    """Scores an item by how often it occurs in the training parts of all histories."""

    trainable = False

    def __init__(self, train_item_counts: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("counts", torch.as_tensor(train_item_counts, dtype=torch.float32))

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        return self.counts.unsqueeze(0).expand(len(batch.users), -1)
