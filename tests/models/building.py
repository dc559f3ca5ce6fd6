"""Models built as a run builds them, and one batch's losses as the trainer asks for them."""

from __future__ import annotations

import torch

from ur4rec.config import RunConfig, TrainingConfig
from ur4rec.models.base import Recommender, TrainBatch
from ur4rec.models.factory import ur4rec_settings
from ur4rec.models.stages import stage_for
from ur4rec.models.ur4rec import TextInputs, UR4Rec


def ur4rec_model(num_users: int, num_items: int, config: RunConfig,
                 inputs: TextInputs) -> UR4Rec:
    """UR4Rec (or, for ``model: retriever``, the retriever alone) of ``config``."""
    return UR4Rec(num_users, num_items, ur4rec_settings(config), inputs)


def stage_losses(model: Recommender, batch: TrainBatch, stage: str, training: TrainingConfig,
                 active: list[str] | None = None, generator: torch.Generator | None = None,
                 excluded: torch.Tensor | None = None, shared=None, shard_weights=None
                 ) -> dict[str, torch.Tensor]:
    """``model``'s losses on ``batch`` in stage ``stage`` while ``active`` (default: every
    group the stage trains) trains."""
    plan = stage_for(stage, list(model.parameter_groups()))
    step = plan.step(list(plan.trains) if active is None else active, training, generator,
                     excluded, shared, shard_weights)
    return model.training_loss(batch, step)
