import numpy as np
import pytest
import torch

from ur4rec.config import EvaluationConfig
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.evaluation.metrics import random_guess_expectation
from ur4rec.models.base import Recommender, UserBatch
from ur4rec.models.baselines import PopularityRecommender, RandomRecommender


class ConstantScorer(Recommender):
    trainable = False

    def __init__(self, num_items):
        super().__init__()
        self.num_items = num_items

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        return torch.zeros(len(batch.users), self.num_items + 1)


class OracleScorer(Recommender):
    """Knows the targets: the ideal model, for checking the plumbing."""

    trainable = False

    def __init__(self, targets, num_items):
        super().__init__()
        self.targets = torch.as_tensor(targets)
        self.num_items = num_items

    def score_all(self, batch):
        scores = torch.zeros(len(batch.users), self.num_items + 1)
        scores[torch.arange(len(batch.users)), self.targets[batch.users]] = 1.0
        return scores


def test_constant_scorer_is_exactly_chance_on_sampled_protocol(tiny_data):
    evaluator = Evaluator(tiny_data, EvaluationConfig(ties="expected", ks=[1, 5], metric="ndcg@5"))
    result = evaluator.evaluate(ConstantScorer(tiny_data.num_items), "test")
    chance = random_guess_expectation(tiny_data.test_candidates.shape[1], (1, 5))
    for key, value in chance.items():
        assert result.metrics["sampled"][key] == pytest.approx(value)


def test_oracle_is_perfect_on_both_protocols(tiny_data):
    oracle = OracleScorer(tiny_data.test_targets, tiny_data.num_items)
    metrics = Evaluator(tiny_data, EvaluationConfig()).evaluate(oracle, "test").metrics
    assert metrics["sampled"]["hit@5"] == 1.0 and metrics["full"]["avg_rank"] == 1.0


def test_full_ranking_masks_history_unless_switched_off(tiny_data):
    class HistoryLover(Recommender):
        """Scores the user's own history highest, then the target."""

        trainable = False

        def score_all(self, batch):
            scores = torch.zeros(len(batch.users), tiny_data.num_items + 1)
            scores.scatter_(1, batch.history, 2.0)
            scores[torch.arange(len(batch.users)),
                   torch.as_tensor(tiny_data.test_targets)[batch.users]] = 1.0
            return scores

    masked = Evaluator(tiny_data, EvaluationConfig()).evaluate(HistoryLover(), "test")
    unmasked = Evaluator(tiny_data, EvaluationConfig(mask_history=False)).evaluate(
        HistoryLover(), "test")
    assert masked.metrics["full"]["avg_rank"] == 1.0
    assert unmasked.metrics["full"]["avg_rank"] > 5


def test_details_are_in_user_order(tiny_data):
    oracle = OracleScorer(tiny_data.test_targets, tiny_data.num_items)
    result = Evaluator(tiny_data, EvaluationConfig(batch_size=4)).evaluate(
        oracle, "test", details=True)
    np.testing.assert_array_equal(result.details["candidates"][:, 0], tiny_data.test_targets)
    assert (result.details["scores"][:, 0] == 1).all()


@pytest.mark.slow
def test_baselines_on_real_ml100k(ml100k):
    evaluator = Evaluator(ml100k, EvaluationConfig())
    pop = evaluator.evaluate(PopularityRecommender(ml100k.train_item_counts), "test").metrics
    assert 0.040 <= pop["full"]["ndcg@10"] <= 0.050  # RecBole's Pop: 0.0446
    assert 0.20 <= pop["sampled"]["ndcg@10"] <= 0.27
    rand = evaluator.evaluate(RandomRecommender(ml100k.num_items, 0), "test").metrics
    chance = random_guess_expectation(100)
    assert abs(rand["sampled"]["hit@10"] - chance["hit@10"]) < 0.03
    assert abs(rand["sampled"]["avg_rank"] - chance["avg_rank"]) < 3


def test_full_ranking_masks_are_built_per_batch_never_for_all_users(tiny_data, monkeypatch):
    """Memory bound: no ``[users, items]`` tensor — the history mask of at most one batch of
    users exists at a time (100k users × 20k items would be 2 GB per split)."""
    import ur4rec.evaluation.evaluator as evaluator_module
    from ur4rec.config import EvaluationConfig
    from ur4rec.data.sequences import PackedSequences
    from ur4rec.models.baselines import PopularityRecommender

    sizes = []
    real = PackedSequences.mask

    def spy(self, rows, num_items, rows_on_device=None):
        sizes.append(len(rows))
        return real(self, rows, num_items, rows_on_device)

    monkeypatch.setattr(PackedSequences, "mask", spy)
    evaluator = evaluator_module.Evaluator(tiny_data, EvaluationConfig(batch_size=7))
    evaluator.evaluate(PopularityRecommender(tiny_data.train_item_counts), "test")
    assert sizes and max(sizes) <= 7 and sum(sizes) == tiny_data.num_users
