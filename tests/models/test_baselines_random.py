"""The random baseline is at chance on any fixed candidate set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ur4rec.evaluation.metrics import per_user_metrics, rank_bounds
from ur4rec.models.base import UserBatch
from ur4rec.models.baselines import RandomRecommender

NUM_ITEMS, NUM_USERS, NUM_CANDIDATES, SEEDS = 1682, 1000, 100, range(5)
KEYS = ("hit@5", "hit@10", "hit@20", "ndcg@10")


def batch(users) -> UserBatch:
    users = torch.as_tensor(users, dtype=torch.long)
    return UserBatch(users, torch.zeros(len(users), 1, dtype=torch.long))


def candidate_sets() -> dict[str, np.ndarray]:
    """``[users, 100]`` item indices, target first: scores independent of them must be at
    chance whatever their structure — uniform draws, or runs of consecutive item ids."""
    rng = np.random.default_rng(0)
    uniform = np.stack([rng.choice(np.arange(1, NUM_ITEMS + 1), NUM_CANDIDATES, replace=False)
                        for _ in range(NUM_USERS)])
    starts = rng.integers(1, NUM_ITEMS - NUM_CANDIDATES + 2, NUM_USERS)
    return {"uniform": uniform, "consecutive": starts[:, None] + np.arange(NUM_CANDIDATES)}


def chance_moments(key: str) -> tuple[float, float]:
    """Mean and standard deviation of ``key`` for a target rank uniform on 1..100."""
    ranks = torch.arange(1, NUM_CANDIDATES + 1)
    values = per_user_metrics(ranks, ranks)[key]
    return float(values.mean()), float(values.std(unbiased=False))


@pytest.mark.parametrize("design", ["uniform", "consecutive"])
def test_random_scores_are_at_chance(design):
    candidates = torch.from_numpy(candidate_sets()[design])
    per_seed = []
    for seed in SEEDS:
        scores = RandomRecommender(NUM_ITEMS, seed).score_all(batch(range(NUM_USERS))).float()
        picked = scores.gather(1, candidates)
        competitors = torch.ones_like(picked, dtype=torch.bool)
        competitors[:, 0] = False
        per_seed.append(per_user_metrics(*rank_bounds(picked, picked[:, 0], competitors)))
    count = NUM_USERS * len(SEEDS)
    for key in KEYS:
        mean, std = chance_moments(key)
        observed = float(torch.cat([values[key] for values in per_seed]).mean())
        assert abs(observed - mean) < 4 * std / count ** 0.5, (key, observed, mean)


def test_scores_do_not_depend_on_batching_and_follow_the_seed():
    model = RandomRecommender(NUM_ITEMS, seed=3)
    whole = model.score_all(batch(range(50)))
    order = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    pieces = torch.empty_like(whole)
    for rows in torch.split(order, 7):
        pieces[rows] = model.score_all(batch(rows))
    assert torch.equal(pieces, whole)
    assert torch.equal(RandomRecommender(NUM_ITEMS, seed=3).score_all(batch(range(50))), whole)
    assert not torch.equal(RandomRecommender(NUM_ITEMS, seed=4).score_all(batch(range(50))), whole)
    assert whole.shape == (50, NUM_ITEMS + 1)
    assert ((whole >= 0) & (whole < 1)).all()
    assert all(len(torch.unique(row)) == NUM_ITEMS + 1 for row in whole)  # no ties in a row
