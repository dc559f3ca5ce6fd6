"""Turning per-user item lists into padded tensors.

Right padding: a row holds the last ``max_len`` items oldest first, then zeros. With causal
attention a real position never sees the padding after it, so no key-padding mask is needed and
the fast fused attention kernels apply; a user's newest item sits at ``length - 1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def pad_right(sequences: Sequence[np.ndarray], max_len: int) -> torch.Tensor:
    """``[B, max_len]`` long tensor of the last ``max_len`` items of each sequence, 0-padded."""
    out = np.zeros((len(sequences), max_len), dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = seq[-max_len:]
        out[row, :len(tail)] = tail
    return torch.from_numpy(out)


def lengths_of(padded: torch.Tensor) -> torch.Tensor:
    """Number of real (non-zero) items per row of a right-padded ``[B, L]`` tensor."""
    return (padded > 0).sum(dim=1)


def crop_to_longest(*padded: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Drop the trailing all-padding columns shared by a batch of right-padded tensors."""
    longest = max(1, int((padded[0] > 0).sum(dim=1).max()))
    return tuple(t[:, :longest] for t in padded)


def history_mask(sequences: Sequence[np.ndarray], num_items: int) -> torch.Tensor:
    """``[B, num_items + 1]`` bool, True at every item index in each sequence."""
    mask = torch.zeros((len(sequences), num_items + 1), dtype=torch.bool)
    rows = np.repeat(np.arange(len(sequences)), [len(s) for s in sequences])
    cols = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if len(rows) else []
    mask[torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)] = True
    return mask
