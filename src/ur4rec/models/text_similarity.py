"""The text zero-shot score: how close an item's text is to the texts a user read last.

The user is the mean of the unit text vectors of their last ``history_len`` items; an item
scores its cosine with that mean. ``model: text_zero_shot`` ranks by it alone
(:mod:`ur4rec.models.text_baselines`); SASRec blends it into its own ranking
(``sasrec.text_score_share``, :class:`ur4rec.models.sasrec.SASRec`). No parameter is trained.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class RecentTextSimilarity(nn.Module):
    """``(history [B, L], lengths [B]) → [B, N + 1]`` cosine scores; padding scores −inf."""

    def __init__(self, item_text: Any, history_len: int) -> None:
        """``item_text`` ``[N + 1, E]`` frozen text vectors (row 0: padding)."""
        super().__init__()
        vectors = F.normalize(torch.as_tensor(item_text, dtype=torch.float32), dim=-1)
        self.register_buffer("item_text", vectors, persistent=False)  # [N + 1, E]
        self.history_len = history_len

    def forward(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        columns = torch.arange(history.shape[1], device=history.device).unsqueeze(0)
        ends = lengths.unsqueeze(1)
        recent = (columns < ends) & (columns >= ends - self.history_len)  # right-padded rows
        summed = (self.item_text[history] * recent.unsqueeze(-1)).sum(dim=1)  # [B, E]
        scores = F.normalize(summed, dim=-1) @ self.item_text.T
        scores[:, 0] = -torch.inf
        return scores
