import math

import pytest
import torch

from ur4rec.evaluation.metrics import (
    per_user_metrics,
    random_guess_expectation,
    rank_bounds,
    summarize,
)


def metrics_for(scores, ties="pessimistic"):
    scores = torch.tensor(scores, dtype=torch.float64)
    competitors = torch.ones_like(scores, dtype=torch.bool)
    competitors[:, 0] = False
    lower, upper = rank_bounds(scores, scores[:, 0], competitors)
    return summarize(per_user_metrics(lower, upper, (1, 5, 10, 20), ties))


def test_hand_checked_ranks():
    # target (column 0) beaten by two items -> rank 3
    m = metrics_for([[0.5, 0.9, 0.7, 0.1]])
    assert m["avg_rank"] == 3
    assert m["hit@1"] == 0 and m["hit@5"] == 1
    assert m["ndcg@5"] == pytest.approx(1 / math.log2(4))
    assert m["mrr"] == pytest.approx(1 / 3)


def test_ties_count_against_the_target_by_default():
    m = metrics_for([[0.5, 0.5, 0.1]])
    assert m["avg_rank"] == 2  # pessimistic: the tie ranks above
    assert metrics_for([[0.5, 0.5, 0.1]], "optimistic")["avg_rank"] == 1
    assert metrics_for([[0.5, 0.5, 0.1]], "expected")["avg_rank"] == 1.5


def test_constant_scorer_gets_exactly_random_guess_expectation_with_expected_ties():
    scores = [[0.0] * 100 for _ in range(7)]
    expected = metrics_for(scores, "expected")
    assert expected["hit@5"] == pytest.approx(0.05)
    assert expected["hit@10"] == pytest.approx(0.10)
    assert expected["hit@20"] == pytest.approx(0.20)
    assert expected["avg_rank"] == pytest.approx(50.5)
    assert expected["ndcg@10"] == pytest.approx(
        sum(1 / math.log2(p + 1) for p in range(1, 11)) / 100)
    assert expected["mrr"] == pytest.approx(sum(1 / p for p in range(1, 101)) / 100)
    chance = random_guess_expectation(100, (5, 10, 20))
    for key, value in chance.items():
        assert expected[key] == pytest.approx(value)
    # the pessimistic default never lets a constant scorer look better than chance
    pessimistic = metrics_for(scores)
    assert pessimistic["hit@5"] == 0 and pessimistic["avg_rank"] == 100
    # the prototype's rule would have called it perfect
    assert metrics_for(scores, "optimistic")["hit@5"] == 1


def test_chance_figures_match_the_prototype_analysis():
    chance = random_guess_expectation(100)
    assert chance["ndcg@10"] == pytest.approx(0.0454, abs=1e-4)
    assert chance["ndcg@5"] == pytest.approx(0.0295, abs=1e-4)
    assert chance["mrr"] == pytest.approx(0.0519, abs=1e-4)


def test_without_a_mask_the_target_does_not_tie_with_its_own_column():
    # the target's own column counted as a tie, (2, 3) instead of (2, 2)
    lower, upper = rank_bounds(torch.tensor([[0.5, 0.1, 0.9]]), torch.tensor([0.5]))
    assert (lower.tolist(), upper.tolist()) == ([2], [2])
    # a real tie still counts, and the result equals the masked call with the target's column out
    scores = torch.tensor([[0.5, 0.5, 0.9, 0.1], [0.2, 0.3, 0.2, 0.2]])
    competitors = torch.ones_like(scores, dtype=torch.bool)
    competitors[:, 0] = False
    unmasked = rank_bounds(scores, scores[:, 0])
    masked = rank_bounds(scores, scores[:, 0], competitors)
    assert [t.tolist() for t in unmasked] == [t.tolist() for t in masked] == [[2, 2], [3, 4]]
