"""``training.batching``: how users are grouped into batches, and so what each target weighs
(each batch's loss is a mean over its targets)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ur4rec.training.batches import TrainingBatches


def _data(lengths: list[int]) -> SimpleNamespace:
    """Users whose training prefixes have these lengths (a prefix of n items has n - 1 targets)."""
    sequences = [np.arange(1, n + 1) for n in lengths]
    return SimpleNamespace(train_sequences=sequences, num_items=max(lengths) + 1,
                           num_users=len(lengths))


def _target_weights(batches: TrainingBatches, seed: int = 0) -> dict[tuple[int, int], float]:
    """(user, position) → the weight of that target in its batch's mean loss."""
    weights = {}
    for batch in batches.epoch(torch.Generator().manual_seed(seed)):
        assert batch.num_targets == int((batch.targets > 0).sum())
        for row, user in enumerate(batch.users.tolist()):
            for position in torch.nonzero(batch.targets[row] > 0).flatten().tolist():
                weights[(user, position)] = 1.0 / batch.num_targets
    return weights


# four users with 1 target each, two with 4: 12 targets, mean 2 per user
LENGTHS = [2, 2, 2, 2, 5, 5]


def test_tokens_batching_weighs_every_target_equally_by_hand():
    batches = TrainingBatches(_data(LENGTHS), 8, batch_size=2, need_positives=False,
                              batching="tokens")
    assert batches.token_budget == 4  # 2 users × 2 targets per user
    for seed in range(5):
        weights = _target_weights(batches, seed)
        assert len(weights) == 12  # every target once
        assert set(weights.values()) == {0.25}  # batches {1,1,1,1}, {4}, {4}
    assert len(batches) == 3


def test_length_batching_overweights_short_histories_by_hand():
    batches = TrainingBatches(_data(LENGTHS), 8, batch_size=2, need_positives=False)
    weights = _target_weights(batches)
    assert len(weights) == 12
    short = {w for (user, _), w in weights.items() if user < 4}
    long = {w for (user, _), w in weights.items() if user >= 4}
    assert short == {0.5} and long == {0.125}  # a short user's target weighs 4× a long one's


def test_random_batching_mixes_lengths():
    lengths = [2, 2, 60, 60]
    grouped = TrainingBatches(_data(lengths), 64, batch_size=2, need_positives=False)
    mixed = TrainingBatches(_data(lengths), 64, batch_size=2, need_positives=False,
                            batching="random")

    def pairs(batches: TrainingBatches) -> set[frozenset[int]]:
        return {frozenset(b.users.tolist()) for seed in range(20)
                for b in batches.epoch(torch.Generator().manual_seed(seed))}

    assert pairs(grouped) == {frozenset({0, 1}), frozenset({2, 3})}
    assert any(len(p & {0, 1}) == 1 for p in pairs(mixed))
    assert len(_target_weights(mixed)) == 2 + 2 * 59


def test_tokens_batches_stay_within_budget_and_cover_every_user():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 120, size=200).tolist()
    batches = TrainingBatches(_data(lengths), 64, batch_size=16, need_positives=False,
                              batching="tokens")
    seen = []
    for batch in batches.epoch(torch.Generator().manual_seed(3)):
        assert batch.num_targets <= batches.token_budget
        seen += batch.users.tolist()
    assert sorted(seen) == list(range(200))


def test_unknown_batching_is_an_error():
    with pytest.raises(ValueError):
        TrainingBatches(_data(LENGTHS), 8, batch_size=2, need_positives=False, batching="nope")
