"""Text floors every text model must clear, through the same train/evaluate path.

- ``text_zero_shot``: no training at all. The user is the mean of the frozen sentence vectors of
  their last ``text_baselines.history_len`` items; an item scores its cosine with that mean
  (:mod:`ur4rec.models.text_similarity`, which SASRec can blend in as well). It shows what
  the text alone says about the next item (warm items: little; cold items: all there is).
  With ``text_baselines.lexical_share`` > 0 the score is the MiniLM + TF-IDF mix SASRec blends
  in (:class:`~ur4rec.models.text_similarity.HybridTextScore`), so the text half of a preset can
  be measured on its own.
- ``text_to_id``: a trained SASRec (``training.init_from``) whose items without any training
  interaction get an embedding mapped from their text: a ridge regression from the frozen text
  vectors to the SASRec item embeddings, fitted on the items that were trained. It is the
  linear way to place a new item where its id would be. Its strength is chosen, by default, by
  the exact leave-one-out error over the trained items (:func:`loo_ridge_strength`) — from the
  training data alone, as a floor other models must clear should be tuned.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from ur4rec.config import SASRecConfig, TextBaselineConfig
from ur4rec.errors import ConfigError
from ur4rec.models.base import Recommender, UserBatch
from ur4rec.models.sasrec import SASRec
from ur4rec.models.text_similarity import recent_text_score

log = logging.getLogger(__name__)

RIDGE_GRID = tuple(float(v) for v in np.logspace(-2, 3, 21))
"""strengths ``text_baselines.ridge: loo`` chooses from: 0.01 … 1000, four per decade"""


class TextZeroShot(Recommender):
    """Cosine between an item's text vector and the mean text vector of the recent history
    (:class:`~ur4rec.models.text_similarity.RecentTextSimilarity`), mixed with the TF-IDF cosine
    where ``text_baselines.lexical_share`` > 0."""

    trainable = False

    def __init__(self, item_text: np.ndarray, config: TextBaselineConfig,
                 item_terms: Any = None) -> None:
        """``item_text`` ``[N + 1, E]``; ``item_terms`` scipy CSR ``[N + 1, V]`` (TF-IDF), read
        only with ``lexical_share`` > 0."""
        super().__init__()
        self.similarity = recent_text_score(item_text, item_terms, config.history_len,
                                            config.lexical_share, "text_baselines.lexical_share")

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        """``[B, N + 1]`` cosine scores (z-scored mix with ``lexical_share``); padding −inf."""
        return self.similarity(batch.history, batch.lengths)


def _with_bias(inputs: torch.Tensor) -> torch.Tensor:
    return torch.cat([inputs, torch.ones(len(inputs), 1, dtype=inputs.dtype)], dim=1)


def ridge_map(inputs: torch.Tensor, targets: torch.Tensor, strength: float) -> torch.Tensor:
    """``[E + 1, D]`` weights (last row: bias) minimising ‖[X 1]W − Y‖² + strength‖W‖²."""
    design = _with_bias(inputs)
    gram = design.T @ design + strength * torch.eye(design.shape[1], dtype=inputs.dtype)
    return torch.linalg.solve(gram, design.T @ targets)


def loo_errors(inputs: torch.Tensor, targets: torch.Tensor, strengths: tuple[float, ...]
               ) -> list[float]:
    """Mean squared leave-one-out error of :func:`ridge_map` per strength, in closed form.

    ``inputs`` ``[n, E]``, ``targets`` ``[n, D]``. With ``[X 1] = U S Vᵀ`` the fit is
    ``Ŷ = U diag(s²/(s²+λ)) UᵀY`` and the hat diagonal ``h = Σ_k U²·s²/(s²+λ)``; the residual of
    row i fitted without row i is ``(y_i − ŷ_i) / (1 − h_i)`` — no refit per row.
    """
    left, singular, _ = torch.linalg.svd(_with_bias(inputs), full_matrices=False)
    projected = left.T @ targets
    errors = []
    for strength in strengths:
        shrink = singular.square() / (singular.square() + strength)
        fitted = left @ (shrink.unsqueeze(1) * projected)
        leverage = (left.square() * shrink).sum(dim=1)
        residual = (targets - fitted) / (1 - leverage).clamp_min(1e-12).unsqueeze(1)
        errors.append(float(residual.square().sum(dim=1).mean()))
    return errors


def loo_ridge_strength(inputs: torch.Tensor, targets: torch.Tensor,
                       strengths: tuple[float, ...] = RIDGE_GRID) -> float:
    """The strength of ``strengths`` with the least leave-one-out error (the first on ties)."""
    errors = loo_errors(inputs, targets, strengths)
    return strengths[int(np.argmin(errors))]


class TextToIdMap(SASRec):
    """SASRec with text-mapped embeddings for the items it never trained on (no gradient ever
    reached their id vectors); the map is fitted once on the trained items' embeddings.

    It blends the text score as SASRec does where the ``sasrec`` section asks for it
    (``select_text_score_share`` etc.): the share is then chosen on validation without
    training, and a new item gets both its mapped embedding and its text score."""

    trainable = False

    def __init__(self, num_items: int, sasrec: SASRecConfig, config: TextBaselineConfig,
                 item_text: np.ndarray, train_item_counts: np.ndarray,
                 item_terms: Any = None) -> None:
        """``item_text`` ``[N + 1, E]``, ``train_item_counts`` ``[N + 1]``; ``item_terms``
        (TF-IDF CSR) only for ``sasrec.text_score_lexical_share`` > 0."""
        if sasrec.item_text == "adapter":  # the RunConfig refuses it first; direct construction
            raise ConfigError("model text_to_id maps texts onto an id-only SASRec: leave "
                              "sasrec.item_text at none")
        super().__init__(num_items, sasrec, item_text, train_item_counts, item_terms)
        self.ridge = config.ridge
        self.strength: float | None = None if config.ridge == "loo" else float(config.ridge)
        self.register_buffer("text", torch.as_tensor(item_text, dtype=torch.float64),
                             persistent=False)
        untrained = torch.as_tensor(np.asarray(train_item_counts) == 0)
        untrained[0] = False
        self.register_buffer("untrained", untrained, persistent=False)
        self._mapped: torch.Tensor | None = None

    def load_state_dict(self, *args, **kwargs):  # new weights: the map is fitted again
        self._mapped = None
        return super().load_state_dict(*args, **kwargs)

    def fit_summary(self) -> dict[str, object]:
        """``results.json["fit"]``: the ridge strength used and how it was chosen."""
        self.item_embeddings  # noqa: B018 — fits the map if it is not fitted yet
        rule = ("least leave-one-out error over the trained items, grid "
                f"{RIDGE_GRID[0]:g}-{RIDGE_GRID[-1]:g}" if self.ridge == "loo"
                else "text_baselines.ridge")
        return {"ridge": self.strength, "ridge_rule": rule}

    @property
    def item_embeddings(self) -> torch.Tensor:
        if self._mapped is None:
            self._mapped = self.mapped_embeddings()
        return self._mapped

    @torch.no_grad()
    def mapped_embeddings(self) -> torch.Tensor:
        """``[N + 1, D]``: trained rows as they are, untrained rows mapped from their text."""
        trained_rows = self.encoder.item_emb.weight.detach()
        warm = ~self.untrained
        warm[0] = False
        inputs, targets = self.text[warm], trained_rows[warm].double()
        strength = self.strength
        if self.ridge == "loo":
            strength = self.strength = loo_ridge_strength(inputs, targets)
            log.info("text→id map: ridge strength %g (least leave-one-out error over %d trained "
                     "items)", strength, len(inputs))
        weights = ridge_map(inputs, targets, strength)
        out = trained_rows.clone()
        if self.untrained.any():
            out[self.untrained] = (_with_bias(self.text[self.untrained]) @ weights).to(out.dtype)
        return out
