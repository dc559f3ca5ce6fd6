"""What each model is trained to minimise, per stage; returns the loss and its logged parts."""

from __future__ import annotations

import torch

from ur4rec.config import TrainingConfig
from ur4rec.models.sasrec import SASRec
from ur4rec.training.batches import TrainBatch
from ur4rec.training.losses import next_item_loss, sample_negatives


def sequence_loss(model: SASRec, batch: TrainBatch, kind: str, num_negatives: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """SASRec's next-item loss at every position that has a target (seq-to-seq)."""
    hidden = model.encoder(batch.inputs)
    present = batch.targets > 0
    negatives = None
    if kind != "ce":
        rows = present.nonzero()[:, 0]
        negatives = sample_negatives(batch.positives, rows, num_negatives, model.num_items,
                                     generator)
    return next_item_loss(kind, hidden[present], batch.targets[present], model.item_embeddings,
                          negatives)


def compute_losses(model: torch.nn.Module, batch: TrainBatch, stage: str,
                   config: TrainingConfig, active: list[str],
                   generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """``{"loss": objective, <component>: detached value, …}`` for one batch.

    ``active`` names the parameter groups being trained this epoch (alternating stages train one
    at a time); models with several branches use it to pick the objective.
    """
    if isinstance(model, SASRec):
        loss = sequence_loss(model, batch, config.loss, config.num_negatives, generator)
        return {"loss": loss, "sasrec": loss.detach()}
    objective = getattr(model, "objective", None)
    if objective is None:
        raise TypeError(f"{type(model).__name__} has no training objective")
    return objective(batch, stage, config, active, generator)
