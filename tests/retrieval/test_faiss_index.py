"""The FAISS item index against dense brute force on generated vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ur4rec.errors import UR4RecError
from ur4rec.evaluation.metrics import rank_bounds
from ur4rec.retrieval.faiss_index import THRESHOLD_ENV, ItemIndex, score_catalogue_threshold


def vectors(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)


def histories(users: int, items: int, seed: int = 1) -> list[np.ndarray]:
    """Exclusion lists of very different lengths (0 to most of the catalogue)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, items - 15, users)
    sizes[0] = 0
    return [rng.choice(np.arange(1, items + 1), size, replace=False) for size in sizes]


def dense_scores(users: np.ndarray, items: np.ndarray) -> torch.Tensor:
    """``[U, N + 1]`` scores with column 0 (padding) at -inf, as a model's ``score_all``."""
    scores = torch.from_numpy(users) @ torch.from_numpy(items).T
    return torch.cat([torch.full((len(users), 1), -torch.inf), scores], dim=1)


def test_top_k_equals_brute_force_with_history_excluded():
    items, users = vectors(300), vectors(64, seed=2)
    excluded = histories(64, 300)
    found, found_scores = ItemIndex(items).top_k(users, 10, excluded, batch_size=16)
    scores = dense_scores(users, items)
    for row, history in enumerate(excluded):
        scores[row, torch.from_numpy(history)] = -torch.inf
    expected = torch.topk(scores, 10)
    np.testing.assert_array_equal(found, expected.indices.numpy())
    np.testing.assert_allclose(found_scores, expected.values.numpy(), rtol=1e-5)
    assert not any(np.isin(found[row], history).any() for row, history in enumerate(excluded))


def test_top_k_pads_when_fewer_items_remain():
    items = vectors(20)
    found, scores = ItemIndex(items).top_k(vectors(1, seed=3), 10, [np.arange(1, 16)])
    assert (found[0, :5] > 15).all() and sorted(found[0, :5]) == [16, 17, 18, 19, 20]
    assert (found[0, 5:] == 0).all() and np.isneginf(scores[0, 5:]).all()


def test_top_k_deeper_than_the_catalogue():
    found, _ = ItemIndex(vectors(5)).top_k(vectors(2, seed=4), 8)
    assert sorted(found[0, :5]) == [1, 2, 3, 4, 5] and (found[:, 5:] == 0).all()


@pytest.mark.parametrize("mask_history", [True, False])
def test_rank_bounds_equal_dense_rank_bounds(mask_history):
    items, users = vectors(400), vectors(50, seed=5)
    excluded = histories(50, 400, seed=6)
    targets = np.random.default_rng(7).integers(1, 401, 50)
    lower, upper = ItemIndex(items).rank_bounds(users, targets,
                                                excluded if mask_history else None,
                                                batch_size=7)
    scores = dense_scores(users, items)
    competitors = torch.ones_like(scores, dtype=torch.bool)
    competitors[:, 0] = False
    if mask_history:
        for row, history in enumerate(excluded):
            competitors[row, torch.from_numpy(history)] = False
    competitors[torch.arange(50), torch.from_numpy(targets)] = False
    target_scores = scores[torch.arange(50), torch.from_numpy(targets)]
    dense_lower, dense_upper = rank_bounds(scores, target_scores, competitors)
    np.testing.assert_array_equal(lower, dense_lower.numpy())
    np.testing.assert_array_equal(upper, dense_upper.numpy())
    assert len(set(lower.tolist())) > 10  # the ranks are spread, not all 1


def test_identical_items_tie_pessimistically():
    items = vectors(50)
    items[10:20] = items[5]  # items 6 and 11..20 share one vector
    users = vectors(8, seed=8)
    lower, upper = ItemIndex(items).rank_bounds(users, np.full(8, 6))
    np.testing.assert_array_equal(upper - lower, np.full(8, 10))
    # excluding the copies from competition removes the ties
    lower_x, upper_x = ItemIndex(items).rank_bounds(users, np.full(8, 6),
                                                    [np.arange(11, 21)] * 8)
    np.testing.assert_array_equal(lower_x, upper_x)


def test_approximate_index_is_exact_when_it_probes_every_cluster():
    items, users = vectors(2000, seed=9), vectors(20, seed=10)
    exact, _ = ItemIndex(items).top_k(users, 10)
    approximate = ItemIndex(items, kind="ivf", nlist=16, nprobe=16)
    assert approximate.approximate and not ItemIndex(items).approximate
    found, _ = approximate.top_k(users, 10)
    np.testing.assert_array_equal(found, exact)


def test_bad_inputs_are_refused():
    index = ItemIndex(vectors(10))
    with pytest.raises(ValueError, match="matrix"):
        index.top_k(vectors(2, dim=8), 3)
    with pytest.raises(ValueError, match="item indices in 1..10"):
        index.rank_bounds(vectors(2), [0, 3])
    with pytest.raises(ValueError, match="kind"):
        ItemIndex(vectors(10), kind="hnsw")


def test_threshold_default_and_override(monkeypatch):
    monkeypatch.delenv(THRESHOLD_ENV, raising=False)
    assert score_catalogue_threshold() == 50_000
    monkeypatch.setenv(THRESHOLD_ENV, "0")
    assert score_catalogue_threshold() == 0
    monkeypatch.setenv(THRESHOLD_ENV, "many")
    with pytest.raises(UR4RecError, match="UR4REC_FAISS_THRESHOLD='many'"):
        score_catalogue_threshold()
