"""Text floors every text model must clear, through the same train/evaluate path.

- ``text_zero_shot``: no training at all. The user is the mean of the frozen sentence vectors of
  their last ``text_baselines.history_len`` items; an item scores its cosine with that mean. It
  shows what the text alone says about the next item (warm items: little; cold items: all there
  is).
- ``text_to_id``: a trained SASRec (``training.init_from``) whose items without any training
  interaction get an embedding mapped from their text: a ridge regression from the frozen text
  vectors to the SASRec item embeddings, fitted on the items that were trained. It is the
  linear way to place a new item where its id would be.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ur4rec.config import SASRecConfig, TextBaselineConfig
from ur4rec.models.base import Recommender, UserBatch
from ur4rec.models.sasrec import SASRec


class TextZeroShot(Recommender):
    """Cosine between an item's text vector and the mean text vector of the recent history."""

    trainable = False

    def __init__(self, item_text: np.ndarray, config: TextBaselineConfig) -> None:
        super().__init__()
        vectors = F.normalize(torch.as_tensor(item_text, dtype=torch.float32), dim=-1)
        self.register_buffer("item_text", vectors, persistent=False)  # [N + 1, E]
        self.history_len = config.history_len

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        """``[B, N + 1]`` cosine scores; padding scores −inf."""
        history = batch.history
        lengths = batch.lengths.unsqueeze(1)
        columns = torch.arange(history.shape[1], device=history.device).unsqueeze(0)
        recent = (columns < lengths) & (columns >= lengths - self.history_len)
        summed = (self.item_text[history] * recent.unsqueeze(-1)).sum(dim=1)  # [B, E]
        user = F.normalize(summed, dim=-1)
        scores = user @ self.item_text.T
        scores[:, 0] = -torch.inf
        return scores


def ridge_map(inputs: torch.Tensor, targets: torch.Tensor, strength: float) -> torch.Tensor:
    """``[E + 1, D]`` weights (last row: bias) minimising ‖[X 1]W − Y‖² + strength‖W‖²."""
    design = torch.cat([inputs, torch.ones(len(inputs), 1, dtype=inputs.dtype)], dim=1)
    gram = design.T @ design + strength * torch.eye(design.shape[1], dtype=inputs.dtype)
    return torch.linalg.solve(gram, design.T @ targets)


class TextToIdMap(SASRec):
    """SASRec with text-mapped embeddings for the items it never trained on (no gradient ever
    reached their id vectors); the map is fitted once on the trained items' embeddings."""

    trainable = False

    def __init__(self, num_items: int, sasrec: SASRecConfig, config: TextBaselineConfig,
                 item_text: np.ndarray, train_item_counts: np.ndarray) -> None:
        super().__init__(num_items, sasrec)
        self.strength = config.ridge
        self.register_buffer("text", torch.as_tensor(item_text, dtype=torch.float64),
                             persistent=False)
        untrained = torch.as_tensor(np.asarray(train_item_counts) == 0)
        untrained[0] = False
        self.register_buffer("untrained", untrained, persistent=False)
        self._mapped: torch.Tensor | None = None

    def load_state_dict(self, *args, **kwargs):  # new weights: the map is fitted again
        self._mapped = None
        return super().load_state_dict(*args, **kwargs)

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
        weights = ridge_map(self.text[warm], trained_rows[warm].double(), self.strength)
        out = trained_rows.clone()
        if self.untrained.any():
            cold = self.text[self.untrained]
            design = torch.cat([cold, torch.ones(len(cold), 1, dtype=cold.dtype)], dim=1)
            out[self.untrained] = (design @ weights).to(out.dtype)
        return out
