"""Training batches: every position of a user's training prefix predicts its next item.

``seq2seq`` (default) feeds the last ``max_seq_len`` items of the training prefix and asks each
position for the item after it — ~100 targets per user per epoch on ML-100K. ``last_item`` keeps
only the final target per user, as the prototype did (one pair per user per epoch); it exists to
reproduce that failure, not to be used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ur4rec.data.prepared import PreparedData
from ur4rec.data.sequences import crop_to_longest, history_mask, pad_right


@dataclass
class TrainBatch:
    """``users`` ``[B]``; ``inputs``/``targets`` ``[B, L]`` (target 0 = no loss at that position);
    ``positives`` ``[B, N + 1]`` bool: the user's training items (never sampled as negatives)."""

    users: torch.Tensor
    inputs: torch.Tensor
    targets: torch.Tensor
    positives: torch.Tensor

    def to(self, device: torch.device) -> TrainBatch:
        return TrainBatch(*(t.to(device, non_blocking=True) for t in
                            (self.users, self.inputs, self.targets, self.positives)))

    @property
    def num_targets(self) -> int:
        return int((self.targets > 0).sum())


class TrainingBatches:
    """Builds the padded training tensors once; each epoch shuffles users with its own seed."""

    def __init__(self, data: PreparedData, max_seq_len: int, batch_size: int,
                 sampling: str = "seq2seq", pin_memory: bool = False) -> None:
        train = data.train_sequences
        self.batch_size = batch_size
        self.inputs = pad_right([seq[:-1] for seq in train], max_seq_len)
        self.targets = pad_right([seq[1:] for seq in train], max_seq_len)
        self.lengths = (self.inputs > 0).sum(dim=1)
        if sampling == "last_item":
            last = (self.lengths - 1).clamp(min=0)
            kept = self.targets[torch.arange(len(last)), last].clone()
            self.targets.zero_()
            self.targets[torch.arange(len(last)), last] = kept
        elif sampling != "seq2seq":
            raise ValueError(f"unknown sampling {sampling!r}")
        self.positives = history_mask(train, data.num_items)
        self.users = torch.arange(data.num_users)
        # users whose training prefix has a single item have nothing to predict
        self.active = torch.from_numpy(np.flatnonzero((self.targets > 0).any(dim=1).numpy()))
        if pin_memory:
            self.inputs, self.targets, self.positives = (
                t.pin_memory() for t in (self.inputs, self.targets, self.positives))

    def __len__(self) -> int:
        return (len(self.active) + self.batch_size - 1) // self.batch_size

    def epoch(self, generator: torch.Generator) -> Iterator[TrainBatch]:
        """Batches of users of similar length (cropped to their longest), in random order.

        Sorting by log-length plus noise groups similar lengths so little compute goes to
        padding, while the noise changes which users share a batch from epoch to epoch.
        """
        lengths = self.lengths[self.active].double().log()
        noise = torch.rand(len(self.active), generator=generator, dtype=torch.float64) * 0.5
        order = self.active[torch.argsort(lengths + noise)]
        chunks = list(torch.split(order, self.batch_size))
        for index in torch.randperm(len(chunks), generator=generator).tolist():
            rows = chunks[index]
            inputs, targets = crop_to_longest(self.inputs[rows], self.targets[rows])
            yield TrainBatch(self.users[rows], inputs, targets, self.positives[rows])
