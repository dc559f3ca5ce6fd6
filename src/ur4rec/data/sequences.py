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


class PackedSequences:
    """Variable-length item sequences in one flat tensor (CSR layout) on one device.

    Built once per split or training run, so a batch's history mask is made where the scores
    are — no per-user Python, no host-to-device copy per batch and no host synchronisation on an
    accelerator (every size it needs is known on the host). ``flat`` ``[total]`` holds the items
    of all sequences back to back, ``starts`` ``[U]`` where each begins; ``lengths`` ``[U]`` is
    kept on the host too, so the size of a batch's index is computed without the device.
    """

    def __init__(self, sequences: Sequence[np.ndarray], device: torch.device | str = "cpu"
                 ) -> None:
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        flat = (np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
                if len(sequences) else np.zeros(0, dtype=np.int64))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else lengths
        self.device = torch.device(device)
        self.lengths = torch.from_numpy(lengths)
        self.flat = torch.from_numpy(flat).to(self.device)
        self.starts = torch.from_numpy(starts.astype(np.int64)).to(self.device)
        self.lengths_on_device = self.lengths.to(self.device)

    def mask(self, rows: torch.Tensor, num_items: int, rows_on_device: torch.Tensor | None = None
             ) -> torch.Tensor:
        """``[B, num_items + 1]`` bool on this object's device, True at every item of each of
        the sequences ``rows`` ``[B]`` (host tensor; ``rows_on_device`` the same on the
        device, when the caller already has it there)."""
        rows_here = rows.to(self.device) if rows_on_device is None else rows_on_device
        counts = self.lengths_on_device[rows_here]
        total = int(self.lengths[rows].sum())  # on the host: no device sync
        batch = torch.arange(len(rows), device=self.device)
        owner = torch.repeat_interleave(batch, counts, output_size=total)  # [total]
        first = torch.cumsum(counts, dim=0) - counts  # each row's first slot in ``owner``
        within = torch.arange(total, device=self.device) - first[owner]
        items = self.flat[self.starts[rows_here][owner] + within]
        mask = torch.zeros(len(rows), num_items + 1, dtype=torch.bool, device=self.device)
        mask.view(-1).index_fill_(0, owner * (num_items + 1) + items, True)
        return mask
