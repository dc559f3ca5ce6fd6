"""Loss components weighed by a rank's share of the batch, without torchrun:
``shard_weights`` stands in for the all-reduce of :meth:`DistributedContext.shard_weights`."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ur4rec.config import config_from_dict
from ur4rec.models.ur4rec import TextInputs, UR4Rec
from ur4rec.training.batches import TrainBatch, TrainingBatches
from ur4rec.training.objectives import compute_losses


def _model(data):
    config = config_from_dict({
        "model": "ur4rec", "sasrec": {"hidden_dim": 16, "num_blocks": 1, "max_seq_len": 10},
        "retriever": {"output_dim": 16, "num_heads": 2, "num_proxies": 2, "train_positions": 3,
                      "train_position_sampling": "last"},
        "texts": {"embedding_dim": 12}})
    rng = np.random.default_rng(0)
    inputs = TextInputs(rng.normal(size=(data.num_users, 12)).astype("f4"),
                        rng.normal(size=(data.num_items + 1, 12)).astype("f4"))
    torch.manual_seed(0)
    return UR4Rec(data.num_users, data.num_items, config, inputs), config


def _rows(batch, rows):
    targets = batch.targets[rows]
    return TrainBatch(batch.users[rows], batch.inputs[rows], targets, None,
                      int((targets > 0).sum()))


def _ranks_of_two(total_rows):
    """Weights of a 2-rank job in which the other rank holds ``total_rows - rows`` rows."""
    def weigh(rows):
        return {name: count.double() * 2 / max(int(total_rows[name]), 1)
                for name, count in rows.items()}
    return weigh


# the fusion standardises scores over an empty batch: torch warns of a std over nothing, and its
# NaN is masked out with the rest of the empty shard's loss
@pytest.mark.filterwarnings(r"ignore:std\(\):UserWarning")
@pytest.mark.parametrize("stage", ["pretrain_retriever", "end_to_end"])
def test_an_empty_shard_gives_zero_loss_and_finite_zero_gradients(tiny_data, stage):
    model, config = _model(tiny_data)
    batch = next(TrainingBatches(tiny_data, 10, 8, need_positives=False).epoch(
        torch.Generator().manual_seed(0)))
    empty = _rows(batch, slice(0, 0))
    weigh = _ranks_of_two({"sasrec": torch.tensor(5), "retrieval": torch.tensor(3),
                           "fused": torch.tensor(3)})
    losses = compute_losses(model, empty, stage, config.training, ["sasrec", "retriever"],
                            shard_weights=weigh)
    assert all(float(value.detach()) == 0.0 for value in losses.values()), losses
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() and not g.any() for g in grads)


def test_weighted_shards_average_to_the_whole_batch_loss(tiny_data):
    model, config = _model(tiny_data)
    model.eval()  # no dropout: the halves and the whole see the same network
    batch = next(TrainingBatches(tiny_data, 10, 7, need_positives=False).epoch(
        torch.Generator().manual_seed(0)))
    whole = compute_losses(model, batch, "end_to_end", config.training,
                           ["sasrec", "retriever"])
    shards = [_rows(batch, slice(rank, None, 2)) for rank in (0, 1)]  # 4 rows and 3 rows
    totals = {"sasrec": (batch.targets > 0).sum()}

    def positions(part):  # the retrieval/fused rows of a shard: its valid training positions
        lengths = (part.targets > 0).sum(dim=1)
        return torch.clamp(lengths, max=model.train_positions).sum()

    totals["retrieval"] = totals["fused"] = positions(batch)
    weigh = _ranks_of_two(totals)
    parts = [compute_losses(model, shard, "end_to_end", config.training,
                            ["sasrec", "retriever"], shard_weights=weigh) for shard in shards]
    for name, value in whole.items():
        average = sum(float(part[name].detach()) for part in parts) / 2
        assert math.isclose(average, float(value.detach()), rel_tol=1e-5), name
