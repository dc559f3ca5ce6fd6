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

    def to(self, device: torch.device) -> UserBatch:
        return UserBatch(self.users.to(device, non_blocking=True),
                         self.history.to(device, non_blocking=True))

    @property
    def lengths(self) -> torch.Tensor:
        """``[B]`` number of real items in each history row."""
        return (self.history > 0).sum(dim=1)


class Recommender(nn.Module):
    """Base class: ``score_all`` returns ``[B, num_items + 1]`` scores (column 0 is padding)."""

    max_seq_len: int = 200
    trainable: bool = True

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        raise NotImplementedError

    def score_items(self, batch: UserBatch, items: torch.Tensor) -> torch.Tensor:
        """Scores of chosen items ``[B, C]``; models may override with a cheaper path."""
        return self.score_all(batch).gather(1, items)
