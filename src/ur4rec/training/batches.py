"""Training batches: every position of a user's training prefix predicts its next item.

``seq2seq`` (default) feeds the last ``max_seq_len`` items of the training prefix and asks each
position for the item after it — ~100 targets per user per epoch on ML-100K. ``last_item`` keeps
only the final target per user, as the prototype did (one pair per user per epoch); it exists to
reproduce that failure, not to be used.

Each batch's loss is a mean over its targets, so how users are grouped sets each target's weight.
``batching``: ``length`` (default) groups users of similar length in batches of ``batch_size``
users — little padding, but a target of a short-history user weighs ~10× one of a long-history
user; ``random`` draws ``batch_size`` users at random (about equal weights, more padding);
``tokens`` groups similar lengths like ``length`` but sizes each batch by its number of targets
(about ``batch_size`` × the mean targets per user, so the number of steps stays the same), so
every target weighs about the same *and* padding stays low.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ur4rec.data.prepared import PreparedData
from ur4rec.data.sequences import PackedSequences, pad_right
from ur4rec.models.base import TrainBatch


class TrainingBatches:
    """Builds the padded training tensors once; each epoch shuffles users with its own seed.

    On an accelerator the tensors live on the device, so a batch is gathered there and nothing
    is copied per step.
    """

    def __init__(self, data: PreparedData, max_seq_len: int, batch_size: int,
                 sampling: str = "seq2seq", need_positives: bool = True,
                 device: torch.device | None = None, batching: str = "length") -> None:
        if batching not in ("length", "random", "tokens"):
            raise ValueError(f"unknown batching {batching!r}")
        train = data.train_sequences
        self.batch_size = batch_size
        self.batching = batching
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
        self.target_counts = (self.targets > 0).sum(dim=1)
        # positives are built per batch: a dense [users, items] mask would not fit at scale
        self.device = device or torch.device("cpu")
        self.train_sequences = PackedSequences(train, self.device) if need_positives else None
        self.num_items = data.num_items
        self.users = torch.arange(data.num_users)
        # users whose training prefix has a single item have nothing to predict
        self.active = torch.from_numpy(np.flatnonzero((self.target_counts > 0).numpy()))
        counts = self.target_counts[self.active]
        # ``tokens``: the target budget of a batch; never below the longest row, which must fit
        mean = float(counts.double().mean()) if len(counts) else 1.0
        self._token_len: int | None = None
        self.token_budget = max(int(round(batch_size * mean)), int(counts.max()) if len(counts)
                                else 1)
        # the whole (small) training set lives on the device for the run: a batch is gathered
        # there, from an index the epoch uploads once — no copy and no host sync per step
        self._on_device = {name: getattr(self, name).to(self.device) for name in
                           ("users", "inputs", "targets")}

    def __len__(self) -> int:
        if self.batching == "tokens":
            # the greedy packing in :meth:`_token_chunks` of the plain length order; an epoch's
            # noisy order can pack into a batch more or fewer (an estimate, for schedules/bars)
            if self._token_len is None:
                order = self.active[torch.argsort(self.lengths[self.active], stable=True)]
                self._token_len = len(self._token_chunks(order))
            return self._token_len
        return (len(self.active) + self.batch_size - 1) // self.batch_size

    def _token_chunks(self, order: torch.Tensor) -> list[torch.Tensor]:
        """Cut ``order`` into consecutive runs of users whose targets sum to at most the budget
        (a run closes when the next user would overflow it)."""
        counts = self.target_counts[order].tolist()
        chunks, start, total = [], 0, 0
        for i, count in enumerate(counts):
            if total + count > self.token_budget and i > start:
                chunks.append(order[start:i])
                start, total = i, 0
            total += count
        if start < len(counts):
            chunks.append(order[start:])
        return chunks

    def _gather(self, rows: torch.Tensor, rows_here: torch.Tensor) -> TrainBatch:
        """The batch of users ``rows`` (host tensor; ``rows_here`` the same on the device),
        cropped to its longest row (known on the host, so no device sync)."""
        longest = max(1, int(self.lengths[rows].max()))
        source = self._on_device
        positives = None
        if self.train_sequences is not None:
            positives = self.train_sequences.mask(rows, self.num_items, rows_here)
        return TrainBatch(source["users"][rows_here], source["inputs"][rows_here, :longest],
                          source["targets"][rows_here, :longest], positives,
                          int(self.target_counts[rows].sum()))

    def epoch(self, generator: torch.Generator) -> Iterator[TrainBatch]:
        """Batches (each cropped to its longest row) in random order.

        ``length``/``tokens``: sorting by log-length plus noise groups similar lengths so little
        compute goes to padding, while the noise changes which users share a batch from epoch
        to epoch; ``length`` cuts ``batch_size`` users at a time, ``tokens`` cuts by target
        budget. ``random``: a random permutation in runs of ``batch_size``. All random draws
        happen before the first batch, so the order does not depend on what the loss samples.
        """
        if self.batching == "random":
            order = self.active[torch.randperm(len(self.active), generator=generator)]
            chunks = list(torch.split(order, self.batch_size))
        else:
            lengths = self.lengths[self.active].double().log()
            noise = torch.rand(len(self.active), generator=generator, dtype=torch.float64) * 0.5
            order = self.active[torch.argsort(lengths + noise)]
            chunks = (self._token_chunks(order) if self.batching == "tokens"
                      else list(torch.split(order, self.batch_size)))
        chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]
        order = torch.cat(chunks) if chunks else torch.zeros(0, dtype=torch.long)
        order_here = order.to(self.device)  # one upload per epoch
        start = 0
        for rows in chunks:
            yield self._gather(rows, order_here[start:start + len(rows)])
            start += len(rows)
