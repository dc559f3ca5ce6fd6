"""What every recommender offers the evaluator and the trainer: scores for all items."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class UserBatch:
    """A batch of users with the part of their history the model may read.

    ``users``: ``[B]`` user indices. ``history``: ``[B, L]`` item indices, oldest first,
    right-padded with 0 — only interactions before the target being predicted.
    """

    users: torch.Tensor
    history: torch.Tensor
    user_text: torch.Tensor | None = None
    """``[B, E]`` or None. Given for rows whose user-level state must come from the
    interactions before the target alone (cold-item cases, :mod:`ur4rec.evaluation.cold`): each
    row's user-text vector written from them. A model that keeps per-user state
    (:attr:`Recommender.reads_user_state`) then reads none of it — this text replaces its
    stored one, and memory is written afresh from ``history``. None: the stored state."""

    def to(self, device: torch.device) -> UserBatch:
        text = None if self.user_text is None else self.user_text.to(device, non_blocking=True)
        return UserBatch(self.users.to(device, non_blocking=True),
                         self.history.to(device, non_blocking=True), text)

    @property
    def lengths(self) -> torch.Tensor:
        """``[B]`` number of real items in each history row."""
        return (self.history > 0).sum(dim=1)


class Recommender(nn.Module):
    """Base class: ``score_all`` returns ``[B, num_items + 1]`` scores (column 0 is padding)."""

    max_seq_len: int = 200
    trainable: bool = True
    reads_user_state: bool = False
    """whether scores read per-user state beside the history (UR4Rec: user texts written from
    the training part, memory written in training); such a model must get
    :attr:`UserBatch.user_text` for cases cut before the end of that part (cold-item cases)"""

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        raise NotImplementedError

    def score_items(self, batch: UserBatch, items: torch.Tensor) -> torch.Tensor:
        """Scores of chosen items ``[B, C]``; models may override with a cheaper path."""
        return self.score_all(batch).gather(1, items)
