"""The shared-negative softmax with the log-Q correction (``training.loss: shared_softmax``)."""

import pytest
import torch
import torch.nn.functional as F

from ur4rec.models.losses import SharedNegatives, full_cross_entropy, shared_softmax


def test_whole_catalogue_once_without_correction_is_the_full_softmax():
    torch.manual_seed(0)
    items = torch.randn(31, 8)  # row 0 padding, 30 items
    hidden = torch.randn(12, 8)
    targets = torch.randint(1, 31, (12,))
    negatives = torch.arange(1, 31)  # each target also appears here: the accidental hit is masked
    shared = shared_softmax(hidden, targets, negatives, items)
    assert shared.item() == pytest.approx(full_cross_entropy(hidden, targets, items).item(),
                                          rel=1e-5)


def test_accidental_hits_are_masked():
    items = torch.eye(4)
    hidden = torch.tensor([[3.0, 0.0, 0.0, 0.0]])
    # target 1 drawn again as a negative: without the mask it would count as its own competitor
    loss = shared_softmax(hidden, torch.tensor([1]), torch.tensor([1, 2]), items)
    expected = F.cross_entropy(torch.tensor([[0.0, 0.0]]), torch.tensor([0]))  # item1=0, item2=0
    assert loss.item() == pytest.approx(expected.item())


def test_sampler_never_draws_padding_or_excluded_and_follows_popularity():
    counts = torch.tensor([0, 99, 0, 9, 1000])  # item 4 is excluded (cold)
    excluded = torch.tensor([False, False, False, False, True])
    sampler = SharedNegatives(counts, 20_000, "popularity", excluded)
    drawn = sampler.draw(torch.Generator().manual_seed(0))
    frequency = torch.bincount(drawn, minlength=5).double() / len(drawn)
    assert frequency[0] == 0 and frequency[4] == 0
    assert frequency[1] == pytest.approx(100 / 111, abs=0.01)  # counts + 1: 100, 1, 10
    assert frequency[2] == pytest.approx(1 / 111, abs=0.005)
    uniform = SharedNegatives(counts, 20_000, "uniform", excluded).draw(
        torch.Generator().manual_seed(0))
    assert torch.bincount(uniform, minlength=5)[1:4].min() > 6_000


def _fit_free_logits(correct: bool, seed: int = 0) -> torch.Tensor:
    """KL(p ‖ learned) of free item logits fitted to targets ~ p (Zipf over 40 items) with 8
    shared negatives per batch drawn ∝ p."""
    generator = torch.Generator().manual_seed(seed)
    p = torch.cat([torch.zeros(1), 1.0 / torch.arange(1, 41)])
    p /= p.sum()
    sampler = SharedNegatives(p * 1e6, 8, "popularity")
    logits = torch.zeros(41, 1, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    hidden = torch.ones(256, 1)
    for _ in range(500):
        targets = torch.multinomial(p, 256, replacement=True, generator=generator)
        loss = shared_softmax(hidden, targets, sampler.draw(generator), logits,
                              sampler.log_q if correct else None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    learned = torch.softmax(logits.detach()[1:, 0], dim=0)
    return F.kl_div(learned.log(), p[1:], reduction="sum")


def test_log_q_correction_removes_the_popularity_bias():
    # without the correction the model learns p / Q ≈ uniform instead of p
    corrected, biased = _fit_free_logits(True), _fit_free_logits(False)
    assert corrected < 0.08  # 0.014-0.037 over seeds 0-4; the biased fit is 0.52-0.72
    assert biased > 0.3


def test_log_q_corrects_the_target_and_the_negatives_by_hand():
    items = torch.eye(3)
    hidden = torch.tensor([[2.0, 1.0, 0.0]])
    log_q = torch.tensor([0.0, -0.5, -2.0])
    loss = shared_softmax(hidden, torch.tensor([1]), torch.tensor([2, 0]), items, log_q)
    logits = torch.tensor([[1.0 + 0.5, 0.0 + 2.0, 2.0 - 0.0]])  # each minus its own log Q
    assert loss.item() == pytest.approx(F.cross_entropy(logits, torch.tensor([0])).item())


def test_sasrec_learns_with_shared_negatives_through_the_trainer(tmp_path):
    """End to end: ``training.loss: shared_softmax`` trains a SASRec that beats its own
    untrained start on validation, and the batches carry no dense positives mask."""
    from ur4rec.config import config_from_dict
    from ur4rec.evaluation.evaluator import Evaluator
    from ur4rec.models.sasrec import SASRec
    from ur4rec.training.trainer import Trainer

    from ..conftest import make_prepared, synthetic_interactions

    data = make_prepared(synthetic_interactions(num_users=60, num_items=80, length=16))
    config = config_from_dict({
        "model": "sasrec", "sasrec": {"hidden_dim": 16, "max_seq_len": 16},
        "training": {"loss": "shared_softmax", "num_negatives": 32, "epochs_per_stage": 12,
                     "patience": 12, "batch_size": 8, "sasrec_lr": 5e-3}})
    torch.manual_seed(0)
    model = SASRec(data.num_items, config.sasrec)
    evaluator = Evaluator(data, config.evaluation)
    before = evaluator.evaluate(model, "valid").metrics["full"]["ndcg@10"]
    trainer = Trainer(model, "sasrec", data, config.training, config.resolved_stages(),
                      tmp_path, torch.device("cpu"), evaluator,
                      progress=False)
    assert trainer.loss_module.shared is not None and trainer.batches.train_sequences is None
    trainer.fit()
    after = evaluator.evaluate(model, "valid").metrics["full"]["ndcg@10"]
    assert after > before + 0.1
