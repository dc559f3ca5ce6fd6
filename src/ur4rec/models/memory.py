"""Per-user memory: a state vector per user, rewritten by a GRU cell with decay when a trigger fires.

The state is a buffer (saved in checkpoints); the GRU and the gate are trained because the
update of a batch is computed inside that batch's forward pass (truncated back-propagation of
length one) and only its detached result is stored. Everything is vectorised over the batch.

Triggers (the prototype's names):

- ``INTERACTION_COUNT``: once ``interaction_threshold`` interactions of the user arrived since
  the last update — items of the history the memory had not seen yet (the prototype never
  fired: it counted one target per user per epoch against 20). Offline training reads a fixed
  history, so this fires at a user's first visit and then only when the history grows; use
  ``DRIFT_THRESHOLD`` or ``TIME_BASED`` to rewrite the memory as the retriever learns;
- ``DRIFT_THRESHOLD``: once the user's current representation moved away from the memory by a
  cosine distance above ``drift_threshold`` (always for a user without memory);
- ``TIME_BASED``: once ``time_threshold`` epochs passed since the last update;
- ``EXPLICIT``: only when :meth:`UserMemory.request_update` asked for it (an application event).

Memory is only written during training, from the user as read from the items before the
retriever's training window (``retriever.train_window``), so no training position reads a state
written from its own target or later items; evaluation reads it — except for cold-item cases,
whose stored state may have been written from items after their target: those get the memory
written once from the history before the target (:meth:`UserMemory.written_once`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ur4rec.config import MemoryConfig, UpdateTrigger


class UserMemory(nn.Module):
    """Memory for ``num_users`` users of width ``dim``."""

    def __init__(self, num_users: int, dim: int, config: MemoryConfig) -> None:
        super().__init__()
        self.config = config
        self.gru = nn.GRUCell(dim, dim)
        self.gate = nn.Linear(2 * dim, dim)
        nn.init.constant_(self.gate.bias, -1.0)  # start mostly closed: memory earns its weight
        self.register_buffer("state", torch.zeros(num_users, dim))
        self.register_buffer("has_memory", torch.zeros(num_users, dtype=torch.bool))
        self.register_buffer("since_update", torch.zeros(num_users, dtype=torch.long))
        # how many history items of each user the memory has been shown (to count new ones)
        self.register_buffer("seen_items", torch.zeros(num_users, dtype=torch.long))
        self.register_buffer("last_update_epoch", torch.zeros(num_users, dtype=torch.long))
        self.register_buffer("history", torch.zeros(num_users, config.max_memory_size, dim))
        self.register_buffer("history_size", torch.zeros(num_users, dtype=torch.long))
        self.register_buffer("explicit", torch.zeros(num_users, dtype=torch.bool))
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        # users seen this epoch: lets data-parallel ranks merge their updates
        self.register_buffer("touched", torch.zeros(num_users, dtype=torch.bool),
                             persistent=False)
        self.updates_this_epoch = 0
        self.new_interactions_this_epoch = 0

    def request_update(self, users: torch.Tensor) -> None:
        """Mark users whose memory must be rewritten at their next training step."""
        self.explicit[users] = True

    def start_epoch(self) -> None:
        self.epoch += 1
        self.updates_this_epoch = 0
        self.new_interactions_this_epoch = 0

    def read(self, users: torch.Tensor, representation: torch.Tensor) -> torch.Tensor:
        """Gate the stored memory into ``representation`` ``[B, D]`` (no change without memory)."""
        memory = self.state[users] * self.has_memory[users].unsqueeze(-1)
        return self.gated(representation, memory)

    def _due(self, users: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        trigger = self.config.update_trigger
        if trigger == UpdateTrigger.INTERACTION_COUNT:
            return self.since_update[users] >= self.config.interaction_threshold
        if trigger == UpdateTrigger.DRIFT_THRESHOLD:
            drift = 1 - F.cosine_similarity(current, self.state[users], dim=-1)
            return ~self.has_memory[users] | (drift > self.config.drift_threshold)
        if trigger == UpdateTrigger.TIME_BASED:
            waited = self.epoch - self.last_update_epoch[users]
            return ~self.has_memory[users] | (waited >= self.config.time_threshold)
        return self.explicit[users]

    def update(self, users: torch.Tensor, current: torch.Tensor, items_read: torch.Tensor
               ) -> torch.Tensor:
        """Rewrite the due users' memory from ``current`` ``[B, D]``, the user as read from their
        first ``items_read`` ``[B]`` history items (those beyond what the memory was shown
        before count as new interactions).

        Returns the ``[B, D]`` memory to read in this forward pass: the fresh GRU output (with
        gradient) for updated users, the stored state for the others.
        """
        users = users.detach()
        self.touched[users] = True
        items_read = items_read.to(self.seen_items.dtype)
        new = (items_read - self.seen_items[users]).clamp(min=0)
        self.seen_items[users] = torch.maximum(self.seen_items[users], items_read)
        self.since_update[users] += new
        self.new_interactions_this_epoch = self.new_interactions_this_epoch + new.sum()
        due = self._due(users, current.detach())
        previous = self.state[users] * self.config.decay_factor
        fresh = self.gru(current, previous)
        memory = torch.where(due.unsqueeze(-1), fresh, self.state[users])
        # shape-stable writes (users in a batch are distinct): no host sync on an accelerator
        stored = fresh.detach().to(self.state.dtype)
        column = due.unsqueeze(-1)
        self.state[users] = torch.where(column, stored, self.state[users])
        self.has_memory[users] |= due
        self.since_update[users] = torch.where(due, 0, self.since_update[users])
        self.last_update_epoch[users] = torch.where(due, self.epoch, self.last_update_epoch[users])
        self.explicit[users] &= ~due
        slot = self.history_size[users] % self.config.max_memory_size
        rows = self.history[users, slot]
        self.history[users, slot] = torch.where(column, stored, rows)
        grown = torch.clamp(self.history_size[users] + 1, max=self.config.max_memory_size)
        self.history_size[users] = torch.where(due, grown, self.history_size[users])
        self.updates_this_epoch = self.updates_this_epoch + due.sum()
        has = self.has_memory[users]
        return memory * has.unsqueeze(-1)

    def written_once(self, current: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` memory of users written once from ``current`` ``[B, D]`` and from nothing
        before — what a user's first write in training gives (no previous state to decay).
        Reads and changes no stored state: for a case whose user may be read only as far as
        ``current`` shows them (a cold-item case, cut before its target)."""
        return self.gru(current, torch.zeros_like(current))

    def gated(self, representation: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """``representation + gate ⊙ memory`` for memory returned by :meth:`update`."""
        gate = torch.sigmoid(self.gate(torch.cat([representation, memory], dim=-1)))
        return representation + gate * memory

    def statistics(self) -> dict[str, Any]:
        return {
            "trigger": self.config.update_trigger.value,
            "users_with_memory": int(self.has_memory.sum()),
            "updates_this_epoch": int(self.updates_this_epoch),  # one sync, once per epoch
            "new_interactions_this_epoch": int(self.new_interactions_this_epoch),
            "avg_interactions_since_update": float(self.since_update.float().mean()),
            "avg_history_size": float(self.history_size.float().mean()),
        }
