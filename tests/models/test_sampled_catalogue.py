"""UR4Rec's retriever and fused losses with shared negatives (``training.loss: shared_softmax``):
scored over the sampled set only, and equal to the full softmax when that set is everything."""

from __future__ import annotations

import pytest
import torch

from ur4rec.models.ur4rec import UR4Rec
from ur4rec.training.batches import TrainingBatches
from ur4rec.training.losses import SharedNegatives
from ur4rec.training.objectives import SampledCatalogue, _softmax_loss, compute_losses

from ..conftest import make_prepared, synthetic_interactions
from .test_ur4rec import random_inputs, small_config


@pytest.fixture
def data():
    return make_prepared(synthetic_interactions(num_users=24, num_items=30), num_candidates=8)


def test_scores_of_a_catalogue_subset_are_the_full_scores_restricted(data):
    model = UR4Rec(data.num_users, data.num_items, small_config(), random_inputs(data)).eval()
    users = torch.tensor([0, 1])
    history = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    positions = torch.tensor([[1, 2], [0, 1]])
    columns = torch.tensor([0, 4, 7, 29])
    full = model.branch_scores(users, history, positions, need="fused")
    part = model.branch_scores(users, history, positions, need="fused", catalogue=columns)
    for branch in ("sasrec", "retriever"):
        torch.testing.assert_close(part[branch], full[branch][..., columns])


def test_whole_catalogue_as_negatives_is_the_full_softmax():
    torch.manual_seed(0)
    scores = torch.randn(3, 4, 10)  # [B, P, N] over items 1..10
    targets = torch.randint(1, 11, (3, 4))
    valid = torch.rand(3, 4) > 0.3
    sampled = SampledCatalogue(targets, valid, torch.arange(1, 11), None)
    assert torch.equal(sampled.columns, torch.arange(10))
    assert sampled.loss(scores).item() == pytest.approx(
        _softmax_loss(scores, targets, valid).item(), rel=1e-6)


def test_retriever_stage_scores_only_targets_and_shared_negatives(data, monkeypatch):
    config = small_config(training={"loss": "shared_softmax", "num_negatives": 5})
    model = UR4Rec(data.num_users, data.num_items, config, random_inputs(data))
    shared = SharedNegatives(torch.as_tensor(data.train_item_counts), 5)
    seen = []
    real = model.retriever.item_representations

    def spy(item_text, item_image, rows=None):
        seen.append(None if rows is None else len(rows))
        return real(item_text, item_image, rows)

    monkeypatch.setattr(model.retriever, "item_representations", spy)
    batch = next(TrainingBatches(data, 12, 8, need_positives=False).epoch(
        torch.Generator().manual_seed(0)))
    losses = compute_losses(model, batch, "pretrain_retriever", config.training, ["retriever"],
                            torch.Generator().manual_seed(1), shared=shared)
    assert torch.isfinite(losses["loss"])
    assert seen and None not in seen  # the catalogue is never scored whole
    assert max(seen) <= 5 + 8 * config.retriever.train_positions
    losses["loss"].backward()
    assert model.retriever.item_id.weight.grad is not None


def test_cold_items_have_no_id_part_in_the_retrievers_candidates(data):
    """``data.cold_items``: a cold item's candidate vector is its text alone — noise in its
    (never trained) id vector moves nothing; a warm item's id still counts."""
    import numpy as np

    inputs = random_inputs(data)
    inputs.cold_items = np.array([3, 5])
    model = UR4Rec(data.num_users, data.num_items, small_config(), inputs).eval()
    before = model.candidate_vectors().clone()  # rows = items 1..N
    with torch.no_grad():
        model.retriever.item_id.weight.add_(torch.randn_like(model.retriever.item_id.weight))
    after = model.candidate_vectors()
    torch.testing.assert_close(after[[2, 4]], before[[2, 4]])
    assert not torch.allclose(after[0], before[0])
    sampled = model.candidate_vectors(torch.tensor([3, 1]))
    torch.testing.assert_close(sampled[0], after[2])


def test_fused_ranking_among_cold_items_is_the_retrievers(data):
    """SASRec never trained a cold item's id: the fused scores of cold items must follow the
    retriever alone (noise in SASRec's cold rows moves nothing), warm items keep both."""
    import numpy as np

    inputs = random_inputs(data)
    cold = np.array([3, 5, 8, 13])
    inputs.cold_items = cold
    model = UR4Rec(data.num_users, data.num_items, small_config(), inputs).eval()
    users, history = torch.tensor([0, 1]), torch.tensor([[1, 2, 4, 0], [6, 7, 0, 0]])
    positions = torch.tensor([[2], [1]])
    before = model.branch_scores(users, history, positions)
    with torch.no_grad():
        model.sasrec.item_embeddings[torch.as_tensor(cold)] += 5 * torch.randn(len(cold), 16)
    after = model.branch_scores(users, history, positions)
    columns = torch.as_tensor(cold - 1)
    torch.testing.assert_close(after["fused"][..., columns], before["fused"][..., columns])
    order = after["fused"][..., columns].argsort(dim=-1)
    assert torch.equal(order, after["retriever"][..., columns].argsort(dim=-1))


def test_fused_model_keeps_sasrecs_cold_scores_when_its_table_reads_text(data):
    """With ``sasrec.item_text: adapter`` a cold item's SASRec row is its text
    view (the id part is zeroed), so the fusion keeps SASRec's cold scores instead of
    neutralising them."""
    import numpy as np

    inputs = random_inputs(data)
    cold = np.array([3, 5, 8, 13])
    inputs.cold_items = cold
    counts = np.ones(data.num_items + 1, dtype=np.int64)
    counts[cold] = 0
    inputs.item_trained = counts
    model = UR4Rec(data.num_users, data.num_items,
                   small_config(sasrec={"item_text": "adapter"}), inputs).eval()
    users, history = torch.tensor([0, 1]), torch.tensor([[1, 2, 4, 0], [6, 7, 0, 0]])
    positions = torch.tensor([[2], [1]])
    out = model.branch_scores(users, history, positions)
    columns = torch.as_tensor(cold - 1)
    raw = out["sasrec_state"] @ model.sasrec.item_embeddings[1:].T
    torch.testing.assert_close(out["sasrec"][..., columns], raw[..., columns])
    assert out["sasrec"][..., columns].std() > 0  # not one neutral value per row
