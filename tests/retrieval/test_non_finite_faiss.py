"""FAISS retrieval with non-finite vectors: they rank last, as in dense scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ur4rec.config import EvaluationConfig
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.evaluation.metrics import rank_bounds
from ur4rec.retrieval.faiss_index import ItemIndex
from ur4rec.retrieval.search import FaissScorer

from .test_faiss_index import dense_scores, histories, vectors
from .test_search import random_sasrec

BAD_ITEMS = [4, 9, 12, 40]  # 1-based item indices given non-finite vectors


def poisoned_items(count: int = 60) -> np.ndarray:
    items = vectors(count)
    items[BAD_ITEMS[0] - 1] = np.nan
    items[BAD_ITEMS[1] - 1, 3] = np.inf
    items[BAD_ITEMS[2] - 1, 0] = -np.inf
    items[BAD_ITEMS[3] - 1, 5] = np.nan
    return items


def dense_bounds(users, items, targets, excluded=None):
    """What the dense evaluator computes: ``metrics.rank_bounds`` on ``users @ items.T``."""
    scores = dense_scores(users, items)
    competitors = torch.ones_like(scores, dtype=torch.bool)
    competitors[:, 0] = False
    for row, history in enumerate(excluded or []):
        competitors[row, torch.from_numpy(history)] = False
    rows = torch.arange(len(users))
    competitors[rows, torch.from_numpy(targets)] = False
    lower, upper = rank_bounds(scores, scores[rows, torch.from_numpy(targets)], competitors)
    return lower.numpy(), upper.numpy()


def worst(num_items, targets, excluded=None):
    excluded = excluded or [np.empty(0, dtype=np.int64)] * len(targets)
    return np.array([1 + num_items - len(set(e.tolist()) | {int(t)})
                     for e, t in zip(excluded, targets, strict=True)])


@pytest.mark.parametrize("mask_history", [True, False])
def test_non_finite_user_ranks_last_and_spares_its_batch(mask_history):
    items, users = vectors(60), vectors(20, seed=2)
    users[3] = np.nan
    users[5, 2] = np.inf
    users[11, 0] = -np.inf
    excluded = histories(20, 60) if mask_history else None
    targets = np.random.default_rng(3).integers(1, 61, 20)
    lower, upper = ItemIndex(items).rank_bounds(users, targets, excluded, batch_size=7)
    bad = [3, 5, 11]
    expected = worst(60, targets, excluded)
    np.testing.assert_array_equal(lower[bad], expected[bad])
    np.testing.assert_array_equal(upper[bad], expected[bad])
    dense_lower, dense_upper = dense_bounds(users, items, targets, excluded)
    np.testing.assert_array_equal(lower, dense_lower)
    np.testing.assert_array_equal(upper, dense_upper)
    assert (lower[np.setdiff1d(np.arange(20), bad)] < expected.min()).any()


def test_non_finite_items_rank_last_as_in_dense_scoring():
    items, users = poisoned_items(), vectors(30, seed=4)
    excluded = histories(30, 60, seed=5)
    targets = np.random.default_rng(6).integers(1, 61, 30)
    targets[:4] = BAD_ITEMS
    lower, upper = ItemIndex(items).rank_bounds(users, targets, excluded, batch_size=8)
    dense_lower, dense_upper = dense_bounds(users, items, targets, excluded)
    np.testing.assert_array_equal(lower, dense_lower)
    np.testing.assert_array_equal(upper, dense_upper)
    expected = worst(60, targets, excluded)
    np.testing.assert_array_equal(lower[:4], expected[:4])
    # finite targets are not pushed down by the non-finite items: they never compete
    good = ~np.isin(targets, BAD_ITEMS)
    without_bad = worst(60, targets, [np.union1d(e, BAD_ITEMS) for e in excluded])
    assert (upper[good] <= without_bad[good]).all()
    assert (without_bad[good] < expected[good]).any()


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_top_k_never_offers_non_finite_items_or_scores(kind):
    items, users = poisoned_items(), vectors(12, seed=7)
    users[2] = np.nan
    options = {"nlist": 2, "nprobe": 2} if kind == "ivf" else {}
    found, scores = ItemIndex(items, kind=kind, **options).top_k(users, 56)
    assert not np.isin(found, BAD_ITEMS).any()
    assert (found[2] == 0).all() and np.isneginf(scores[2]).all()  # a NaN user: nothing
    good = np.setdiff1d(np.arange(12), [2])
    assert (found[good, :56] > 0).all() and np.isfinite(scores[good]).all()
    dense = dense_scores(users, items)
    dense[~torch.isfinite(dense)] = -torch.inf
    expected = torch.topk(dense[good], 56)
    np.testing.assert_array_equal(found[good], expected.indices.numpy())


@pytest.mark.parametrize("mask_history", [True, False])
def test_split_result_equals_the_evaluator_with_nan_embeddings(tiny_data, mask_history):
    model = random_sasrec(tiny_data.num_items)
    with torch.no_grad():
        model.item_embeddings[[3, 17]] = math.nan  # users who read them get NaN states too
    config = EvaluationConfig(mask_history=mask_history, batch_size=7)
    dense = Evaluator(tiny_data, config).evaluate(model, "test", details=True)
    through_faiss = Evaluator(tiny_data, config, FaissScorer(tiny_data, config)
                              ).evaluate(model, "test", details=True)
    assert torch.isnan(dense.details["scores"]).any(dim=1).sum() > 1
    torch.testing.assert_close(through_faiss.details["full_rank"], dense.details["full_rank"])
    for protocol in ("sampled", "full"):
        assert through_faiss.metrics[protocol] == pytest.approx(dense.metrics[protocol])
    assert dense.metrics["full"]["hit@20"] < 1
