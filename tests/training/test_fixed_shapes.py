"""The accelerator path of the losses (every padded position, weighted 0/1, fixed shapes: no host
sync per step) gives the same values and gradients as the CPU path (real targets selected).

Both run on the CPU here: ``fixed_shapes`` and ``fused_logits_fit`` decide the path, and are
switched by hand."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import ur4rec.models.losses as losses_module
import ur4rec.models.sasrec as sasrec_module
from ur4rec.config import config_from_dict
from ur4rec.models.losses import SharedNegatives
from ur4rec.models.sasrec import SASRec
from ur4rec.training.batches import TrainingBatches

from ..conftest import make_prepared, synthetic_interactions
from ..models.building import stage_losses, ur4rec_model
from ..models.test_ur4rec import random_inputs, small_config


@pytest.fixture
def data():
    """Histories of 12 and of 5 items, so that batches hold padding."""
    long = synthetic_interactions(num_users=12, num_items=30, length=12)
    short = synthetic_interactions(num_users=12, num_items=30, length=5, seed=1)
    short["user"] = "s" + short["user"]
    return make_prepared(pd.concat([long, short], ignore_index=True), num_candidates=8)


def _first_batch(data, **options):
    batches = TrainingBatches(data, 12, 8, batching="random", **options)
    return next(batches.epoch(torch.Generator().manual_seed(0)))


def _loss_and_grads(monkeypatch, model, batch, stage, training, fixed, fused=False, **extra):
    for module in (losses_module, sasrec_module):  # where the losses ask
        monkeypatch.setattr(module, "fixed_shapes", lambda device: fixed)
    monkeypatch.setattr(losses_module, "fused_logits_fit", lambda hidden, size: fused)
    model.zero_grad()
    losses = stage_losses(model, batch, stage, training, None,
                          torch.Generator().manual_seed(3), **extra)
    losses["loss"].backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return losses["loss"].detach(), grads


def _same(a, b):
    torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-6)
    assert a[1].keys() == b[1].keys() and a[1]
    for name in a[1]:
        torch.testing.assert_close(a[1][name], b[1][name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("loss", ["ce", "bce", "bpr", "sampled_softmax", "shared_softmax"])
def test_sasrec_losses_are_the_same_on_both_paths(data, monkeypatch, loss):
    config = config_from_dict({"model": "sasrec", "sasrec": {"hidden_dim": 16, "max_seq_len": 12,
                                                             "dropout": 0.0},
                               "training": {"loss": loss, "num_negatives": 3}})
    torch.manual_seed(0)
    model = SASRec(data.num_items, config.sasrec)
    batch = _first_batch(data, need_positives=loss != "ce")
    assert bool((batch.targets == 0).any()), "the batch must hold padding to test anything"
    extra = {}
    if loss == "shared_softmax":
        extra["shared"] = SharedNegatives(torch.as_tensor(data.train_item_counts), 7)
    selecting = _loss_and_grads(monkeypatch, model, batch, "pretrain_sasrec", config.training,
                                fixed=False, **extra)
    for fused in (False, True):
        _same(selecting, _loss_and_grads(monkeypatch, model, batch, "pretrain_sasrec",
                                         config.training, fixed=True, fused=fused, **extra))


def test_ur4rec_retriever_loss_is_the_same_on_both_paths(data, monkeypatch):
    config = small_config(retriever={"dropout": 0.0}, sasrec={"dropout": 0.0},
                          training={"stages": ["pretrain_retriever"]})
    torch.manual_seed(0)
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data))
    model.train()
    batch = _first_batch(data)
    for stage in ("pretrain_retriever", "end_to_end"):
        state = {k: v.clone() for k, v in model.state_dict().items()}
        selecting = _loss_and_grads(monkeypatch, model, batch, stage, config.training, False)
        model.load_state_dict(state)  # the memory was written by the first pass
        fixed = _loss_and_grads(monkeypatch, model, batch, stage, config.training, True)
        _same(selecting, fixed)
