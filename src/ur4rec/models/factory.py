"""Build the configured model for a prepared dataset."""

from __future__ import annotations

from typing import Any

from ur4rec.config import RunConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.errors import ConfigError
from ur4rec.models.base import Recommender
from ur4rec.models.baselines import PopularityRecommender, RandomRecommender
from ur4rec.models.sasrec import SASRec
from ur4rec.models.stages import final_scoring
from ur4rec.models.text_baselines import TextToIdMap, TextZeroShot
from ur4rec.models.ur4rec import UR4RecSettings, build_ur4rec


def build_model(config: RunConfig, data: PreparedData, inputs: Any = None) -> Recommender:
    """``config.model`` → a fresh model; ``inputs`` (:class:`TextInputs`) feeds the text models."""
    if config.model == "random":
        return RandomRecommender(data.num_items, config.training.seed)
    if config.model == "pop":
        return PopularityRecommender(data.train_item_counts)
    if config.model == "sasrec":
        return SASRec(data.num_items, config.sasrec,
                      None if inputs is None else inputs.item_text, data.train_item_counts,
                      None if inputs is None else inputs.item_terms)
    if config.model in ("text_zero_shot", "text_to_id"):
        if inputs is None:
            raise ValueError(f"model {config.model} needs text inputs")
        if config.model == "text_zero_shot":
            return TextZeroShot(inputs.item_text, config.text_baselines, inputs.item_terms)
        if config.training.init_from is None:
            raise ConfigError("model text_to_id maps texts onto a trained SASRec: set "
                              "training.init_from to a SASRec checkpoint (e.g. "
                              "RUN/checkpoints/final.pt of a model: sasrec run)")
        return TextToIdMap(data.num_items, config.sasrec, config.text_baselines,
                           inputs.item_text, data.train_item_counts, inputs.item_terms)
    return build_ur4rec(ur4rec_settings(config), data, inputs)


def ur4rec_settings(config: RunConfig) -> UR4RecSettings:
    """What UR4Rec (``model: ur4rec``, or ``retriever``: the retriever alone) reads of a run
    config: its sections, and the scoring its stage plan leaves it with
    (:func:`~ur4rec.models.stages.final_scoring`; ``training.init_from`` preloads SASRec)."""
    preloaded = ("sasrec",) if config.training.init_from is not None else ()
    return UR4RecSettings(
        config.sasrec, config.retriever, config.memory, config.fusion,
        with_sasrec=config.model == "ur4rec",
        uncertainty_weighting=config.training.use_uncertainty_weighting,
        scoring=final_scoring(config.resolved_stages(), preloaded))


def count_parameters(model: Recommender) -> int:
    """Trainable parameters (frozen text encoders are not part of the model)."""
    return sum(p.numel() for p in model.parameters())
