"""SASRec with item text inside its item table: e_i = m_i·id_i + g·A(t_i)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ur4rec.config import SASRecConfig
from ur4rec.errors import ConfigError
from ur4rec.models.base import UserBatch
from ur4rec.models.sasrec import SASRec


def _model(counts=None, num_items=12, text_seed=0, **options):
    rng = np.random.default_rng(text_seed)
    text = rng.normal(size=(num_items + 1, 10)).astype("f4")
    counts = np.ones(num_items + 1, dtype=int) if counts is None else counts
    config = SASRecConfig(hidden_dim=8, max_seq_len=6, dropout=0.0, item_text="adapter",
                          **options)
    torch.manual_seed(0)
    return SASRec(num_items, config, text, counts), text


def test_the_item_table_adds_the_gated_text_view_and_drops_untrained_ids():
    counts = np.ones(13, dtype=int)
    counts[4] = 0  # never trained: its id vector must not add noise
    model, _ = _model(counts)
    view = model.encoder.item_view
    table = model.item_embeddings
    text_part = view.gate * view.norm(view.project(view.text))
    ids = model.encoder.item_emb.weight
    torch.testing.assert_close(table[1:4], ids[1:4] + text_part[1:4])
    torch.testing.assert_close(table[4], text_part[4])  # text alone
    assert not table[0].any()  # padding
    batch = UserBatch(torch.tensor([0]), torch.tensor([[1, 2, 3, 0, 0, 0]]))
    before = model.score_all(batch)
    with torch.no_grad():
        model.encoder.item_emb.weight[4].normal_()  # the untrained id: no effect
    torch.testing.assert_close(model.score_all(batch), before)


def test_the_text_view_is_read_and_trained():
    model, _ = _model()
    batch = UserBatch(torch.tensor([0]), torch.tensor([[1, 2, 3, 0, 0, 0]]))
    before = model.score_all(batch).detach()
    model.score_all(batch).sum().backward()
    view = model.encoder.item_view
    assert view.gate.grad is not None and view.project.weight.grad.abs().sum() > 0
    with torch.no_grad():
        view.text.normal_()
    assert not torch.allclose(model.score_all(batch), before)


def test_pca_initialisation_starts_at_the_principal_directions():
    model, text = _model()
    weight = model.encoder.item_view.project.weight.detach().numpy()
    torch.testing.assert_close(torch.as_tensor(weight @ weight.T), torch.eye(8),
                               atol=1e-4, rtol=0)
    centred = text[1:] - text[1:].mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[2][0]
    assert abs(abs(float(weight[0] @ top)) - 1) < 1e-4


def test_adapter_without_texts_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="sasrec.item_text is 'adapter'"):
        SASRec(12, SASRecConfig(hidden_dim=8, max_seq_len=6, item_text="adapter"))


def test_id_dropout_drops_whole_id_rows_in_training_only():
    model, _ = _model(num_items=200, item_text_id_dropout=0.5)
    view = model.encoder.item_view
    text_part = (view.gate * view.norm(view.project(view.text))).detach()
    ids = model.encoder.item_emb.weight.detach()
    model.train()
    table = model.item_embeddings.detach()
    text_alone = torch.isclose(table, text_part).all(dim=1)[1:]
    with_id = torch.isclose(table, ids + text_part).all(dim=1)[1:]
    assert bool((text_alone ^ with_id).all())  # each row: its whole id part, or none of it
    assert 60 < int(text_alone.sum()) < 140  # about half of 200
    model.eval()
    torch.testing.assert_close(model.item_embeddings.detach()[1:], (ids + text_part)[1:])


def test_alignment_pulls_the_text_view_towards_trained_ids_only():
    counts = np.ones(13, dtype=int)
    counts[4] = 0  # a cold item: no id to align to
    model, _ = _model(counts, item_text_align_weight=0.5)
    view = model.encoder.item_view
    loss = model.alignment_loss()
    rows = [i for i in range(1, 13) if i != 4]
    by_hand = 1 - torch.nn.functional.cosine_similarity(
        view.norm(view.project(view.text[rows])), model.encoder.item_emb.weight[rows], dim=-1)
    assert loss.item() == pytest.approx(0.5 * by_hand.mean().item(), rel=1e-6)
    loss.backward()
    assert model.encoder.item_emb.weight.grad is None  # the ids are not moved
    assert view.project.weight.grad.abs().sum() > 0
    with torch.no_grad():
        model.encoder.item_emb.weight[4].normal_()  # the cold item's id plays no part
    assert model.alignment_loss().item() == pytest.approx(loss.item(), rel=1e-6)


def test_alignment_is_off_by_default_and_needs_the_adapter():
    model, _ = _model()
    assert model.alignment_loss() is None
    with pytest.raises(ValueError, match="sasrec.item_text_align_weight acts on the item-text"):
        SASRecConfig(item_text_align_weight=0.1)
    with pytest.raises(ValueError, match="sasrec.item_text_id_dropout acts on the item-text"):
        SASRecConfig(item_text_id_dropout=0.1)


def test_sasrec_objective_adds_the_alignment_term():
    from ur4rec.models.base import TrainBatch, TrainingStep

    aligned, _ = _model(item_text_align_weight=0.5)
    plain, _ = _model()  # the same weights (seed 0), no alignment
    batch = TrainBatch(torch.tensor([0]), torch.tensor([[1, 2, 3, 0, 0, 0]]),
                       torch.tensor([[2, 3, 5, 0, 0, 0]]), None)
    step = TrainingStep(("sasrec",), ("sasrec",), "ce", 1)
    with_term = aligned.sequence_loss(aligned.encoder(batch.inputs), batch, step)
    without = plain.sequence_loss(plain.encoder(batch.inputs), batch, step)
    assert with_term.item() == pytest.approx(without.item() + aligned.alignment_loss().item(),
                                             rel=1e-5)


def test_pca_start_is_fitted_on_trained_items_only():
    """A never-trained (cold) item's text must not shape the adapter's start —
    changing the cold rows leaves the projection (basis and centring) exactly as it was."""
    counts = np.ones(13, dtype=int)
    counts[[3, 7, 11]] = 0  # cold: never trained
    model, text = _model(counts)
    rng = np.random.default_rng(5)
    other = text.copy()
    other[[3, 7, 11]] = 10 * rng.normal(size=(3, text.shape[1]))
    config = SASRecConfig(hidden_dim=8, max_seq_len=6, dropout=0.0, item_text="adapter")
    torch.manual_seed(0)
    moved = SASRec(12, config, other, counts)
    for name in ("weight", "bias"):
        torch.testing.assert_close(getattr(moved.encoder.item_view.project, name),
                                   getattr(model.encoder.item_view.project, name))
    warm = np.flatnonzero(counts > 0)[1:]  # padding row 0 left out
    centred = text[warm] - text[warm].mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[2][0]
    weight = model.encoder.item_view.project.weight.detach().numpy()
    assert abs(abs(float(weight[0] @ top)) - 1) < 1e-4


def test_the_mixture_adaptor_mixes_whitening_experts_by_a_gate_over_the_text():
    """``item_text_experts: K`` replaces the one linear map by UniSRec's MoE adaptor: the view
    is Σ_k softmax(t·G)_k (t − b_k)·W_k, exactly, and the gate decides per item."""
    from ur4rec.models.item_text import MixtureTextProjection

    model, text = _model(item_text_experts=3)
    project = model.encoder.item_view.project
    assert isinstance(project, MixtureTextProjection)
    with torch.no_grad():
        project.router.weight.normal_()
    t = torch.as_tensor(text)
    gates = torch.softmax(t @ project.router.weight.T, dim=-1)
    expected = sum(gates[:, [k]] * ((t - project.shift[k]) @ project.weight[k]) for k in range(3))
    torch.testing.assert_close(project(t), expected)
    positive = t.abs() + 0.1
    only_first = torch.zeros_like(project.router.weight)
    only_first[0] = 1e4  # positive texts: a gate that picks expert 0 for every one
    with torch.no_grad():
        project.router.weight.copy_(only_first)
        project.weight[1:].normal_()  # experts the gate never picks: no effect
    torch.testing.assert_close(project(positive), (positive - project.shift[0]) @ project.weight[0])


def test_the_mixture_adaptor_starts_near_the_principal_components_map():
    linear, text = _model()
    mixture, _ = _model(item_text_experts=4)
    t = torch.as_tensor(text)
    one = linear.encoder.item_view.project(t)
    many = mixture.encoder.item_view.project(t)
    assert (many - one).norm() < 0.2 * one.norm()  # the experts differ by a little noise only
    weights = mixture.encoder.item_view.project.weight
    assert not torch.equal(weights[0], weights[1])


def test_experts_without_the_adapter_are_an_error():
    with pytest.raises(ValueError, match="item_text_experts acts on the item-text adapter.*at 1"):
        SASRecConfig(item_text_experts=2)
