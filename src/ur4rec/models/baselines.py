"""Reference points every model must clear: random scores and training-set popularity."""

from __future__ import annotations

import numpy as np
import torch

from ur4rec.models.base import Recommender, UserBatch

_MASK32 = 0xFFFF_FFFF


def _mul32_(x: torch.Tensor, factor: int, spare: torch.Tensor) -> None:
    """``x <- x * factor mod 2**32`` in place, for ``x`` in ``[0, 2**32)`` held in int64: split
    into 16-bit halves so no product leaves int64 (signed overflow is never relied on)."""
    torch.bitwise_right_shift(x, 16, out=spare)
    spare.mul_(factor).bitwise_and_(0xFFFF).bitwise_left_shift_(16)
    x.bitwise_and_(0xFFFF).mul_(factor).add_(spare).bitwise_and_(_MASK32)


def _mix32_(x: torch.Tensor) -> torch.Tensor:
    """A bijection of ``[0, 2**32)`` with full avalanche (Wellons' ``lowbias32``), in place
    (the score matrix is large: in-place ops are ~2.5× faster than fresh tensors)."""
    spare = torch.empty_like(x)
    x.bitwise_xor_(torch.bitwise_right_shift(x, 16, out=spare))
    _mul32_(x, 0x7FEB352D, spare)
    x.bitwise_xor_(torch.bitwise_right_shift(x, 15, out=spare))
    _mul32_(x, 0x846CA68B, spare)
    return x.bitwise_xor_(torch.bitwise_right_shift(x, 16, out=spare))


def hash_scores(seed: int, users: torch.Tensor, num_items: int) -> torch.Tensor:
    """``[B, num_items + 1]`` float64 in ``[0, 1)``: a hash of (seed, user, item) per entry.

    Each entry depends only on its own (seed, user, item), so a user's scores do not depend on
    the batch; within a row the hash is a bijection of the item, so no two items tie.
    """
    device = users.device
    # the golden-ratio constant moves seed 0 off the mixer's fixed point 0
    seed_key = _mix32_(torch.tensor(((seed >> 32) & _MASK32) ^ 0x9E3779B9, device=device))
    seed_key = _mix32_(seed_key ^ (seed & _MASK32))
    user_key = _mix32_(seed_key ^ (users.long().unsqueeze(1) & _MASK32))
    scores = _mix32_(user_key ^ torch.arange(num_items + 1, device=device).unsqueeze(0))
    return _mix32_(scores.bitwise_xor_(seed_key)).double().div_(2.0**32)


class RandomRecommender(Recommender):
    """Scores uniform per (user, item), fixed by ``seed``, independent of batching.

    A hash rather than a generator: the old linear congruential formula made each user's scores
    an arithmetic progression over item ids, far from chance on runs of consecutive ids.
    """

    trainable = False

    def __init__(self, num_items: int, seed: int = 0) -> None:
        super().__init__()
        self.num_items = num_items
        self.seed = seed

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        return hash_scores(self.seed, batch.users, self.num_items)


class PopularityRecommender(Recommender):
    """Scores an item by how often it occurs in the training parts of all histories."""

    trainable = False

    def __init__(self, train_item_counts: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("counts", torch.as_tensor(train_item_counts, dtype=torch.float32))

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        return self.counts.unsqueeze(0).expand(len(batch.users), -1)
