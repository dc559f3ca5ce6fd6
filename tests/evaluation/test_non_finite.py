"""Non-finite scores rank last: a diverged model must never look good."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ur4rec.config import EvaluationConfig
from ur4rec.evaluation.evaluator import Evaluator, split_inputs
from ur4rec.evaluation.metrics import random_guess_expectation, rank_bounds
from ur4rec.models.base import Recommender

NON_FINITE = [math.nan, math.inf, -math.inf]


class NaNTargetScorer(Recommender):
    """Finite random scores everywhere except the target, which scores ``value``."""

    trainable = False

    def __init__(self, targets, num_items, value=math.nan):
        super().__init__()
        self.targets = torch.as_tensor(targets)
        self.num_items = num_items
        self.value = value

    def score_all(self, batch):
        generator = torch.Generator().manual_seed(0)
        scores = torch.rand(len(batch.users), self.num_items + 1, generator=generator)
        scores[torch.arange(len(batch.users)), self.targets[batch.users]] = self.value
        return scores


class AllNaNScorer(Recommender):
    """What a diverged model returns: NaN for every item."""

    trainable = False

    def __init__(self, num_items):
        super().__init__()
        self.num_items = num_items

    def score_all(self, batch):
        return torch.full((len(batch.users), self.num_items + 1), math.nan)


def worst_full_ranks(data, split, mask_history=True) -> torch.Tensor:
    """``[U]`` 1 + the number of full-ranking competitors (every item but the target and,
    with ``mask_history``, the history read)."""
    histories, candidates = split_inputs(data, split)
    ranks = []
    for history, target in zip(histories, candidates[:, 0], strict=True):
        excluded = set(history.tolist()) if mask_history else set()
        ranks.append(1 + data.num_items - len(excluded | {int(target)}))
    return torch.tensor(ranks, dtype=torch.float64)


@pytest.mark.parametrize("value", NON_FINITE)
def test_non_finite_target_ranks_last_in_rank_bounds(value):
    scores = torch.tensor([[value, 0.3, value, 0.9, math.nan, -math.inf, 0.1]])
    competitors = torch.ones_like(scores, dtype=torch.bool)
    competitors[0, 0] = False
    competitors[0, 6] = False  # not a competitor: does not count
    lower, upper = rank_bounds(scores, scores[:, 0], competitors)
    assert lower.tolist() == [6] and upper.tolist() == [6]  # 1 + 5 competitors
    lower, upper = rank_bounds(scores, scores[:, 0])  # no mask: every other column competes
    assert lower.tolist() == [7] and upper.tolist() == [7]  # 1 + 6 (not the target's own)


@pytest.mark.parametrize("value", NON_FINITE)
def test_non_finite_competitor_does_not_beat_a_finite_target(value):
    scores = torch.tensor([[0.5, value, 0.7, value, 0.1],
                           [-1e30, value, value, value, value]])
    competitors = torch.ones_like(scores, dtype=torch.bool)
    competitors[:, 0] = False
    lower, upper = rank_bounds(scores, scores[:, 0], competitors)
    assert lower.tolist() == [2, 1] and upper.tolist() == [2, 1]


@pytest.mark.parametrize("mask_history", [True, False])
@pytest.mark.parametrize("value", [math.nan, math.inf])  # -inf: beaten by every finite score
def test_nan_target_is_worst_on_both_protocols(tiny_data, value, mask_history):
    model = NaNTargetScorer(tiny_data.test_targets, tiny_data.num_items, value)
    evaluator = Evaluator(tiny_data, EvaluationConfig(mask_history=mask_history, batch_size=7))
    result = evaluator.evaluate(model, "test", details=True)
    num_candidates = tiny_data.test_candidates.shape[1]
    assert result.metrics["sampled"]["avg_rank"] == num_candidates
    assert result.metrics["sampled"]["hit@5"] == 0
    torch.testing.assert_close(result.details["full_rank"],
                               worst_full_ranks(tiny_data, "test", mask_history))
    assert result.metrics["full"]["hit@20"] == 0


@pytest.mark.parametrize("ties", ["pessimistic", "expected", "optimistic"])
def test_all_nan_model_is_never_better_than_chance(tiny_data, ties):
    config = EvaluationConfig(ties=ties)
    metrics = Evaluator(tiny_data, config).evaluate(AllNaNScorer(tiny_data.num_items),
                                                    "valid").metrics
    num_candidates = tiny_data.valid_candidates.shape[1]
    chance = random_guess_expectation(num_candidates, config.ks)
    for protocol in ("sampled", "full"):
        assert metrics[protocol]["hit@5"] == 0
        assert metrics[protocol]["mrr"] <= chance["mrr"]
        for key in ("hit@10", "hit@20", "ndcg@5", "ndcg@10", "ndcg@20"):
            assert metrics[protocol][key] <= chance[key] + 1e-12
    assert metrics["sampled"]["avg_rank"] == num_candidates
    np.testing.assert_allclose(metrics["full"]["avg_rank"],
                               float(worst_full_ranks(tiny_data, "valid").mean()))
