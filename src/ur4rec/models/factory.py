"""Build the configured model for a prepared dataset."""

from __future__ import annotations

from typing import Any

from ur4rec.config import RunConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.models.base import Recommender
from ur4rec.models.baselines import PopularityRecommender, RandomRecommender
from ur4rec.models.sasrec import SASRec


def build_model(config: RunConfig, data: PreparedData, inputs: Any = None) -> Recommender:
    """``config.model`` → a fresh model; ``inputs`` (:class:`TextInputs`) feeds the text models."""
    if config.model == "random":
        return RandomRecommender(data.num_items, config.training.seed)
    if config.model == "pop":
        return PopularityRecommender(data.train_item_counts)
    if config.model == "sasrec":
        return SASRec(data.num_items, config.sasrec)
    from ur4rec.models.ur4rec import build_ur4rec  # text models need the text stack

    return build_ur4rec(config, data, inputs)


def count_parameters(model: Recommender) -> int:
    """Trainable parameters (frozen text encoders are not part of the model)."""
    return sum(p.numel() for p in model.parameters())
