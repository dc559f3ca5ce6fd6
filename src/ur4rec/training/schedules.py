"""Learning-rate warm-up and the module alternation of ``joint_finetune``."""

from __future__ import annotations

import math
from typing import Any

import torch


def warmup_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                    kind: str = "constant") -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_steps``, then constant or cosine decay to 10 %."""

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if kind == "cosine" and total_steps > warmup_steps:
            progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class AlternatingScheduler:
    """Chooses which module ``joint_finetune`` trains in the next epoch.

    Fixed: switch every ``every`` epochs. Adaptive: after at least ``min_steps`` epochs on a
    module, switch when its loss improved by less than ``threshold`` *relative* to the epoch
    before (``(prev - cur) / |prev|``) — a scale-free test, unlike the prototype's absolute one,
    which compared a BPR loss of ~1 with a threshold meant for ~22. A module is never kept for
    more than ``4 × min_steps`` epochs in a row, so the other one always gets its turn.
    """

    def __init__(self, modules: list[str], adaptive: bool, threshold: float = 0.01,
                 min_steps: int = 2, every: int = 1) -> None:
        if not modules:
            raise ValueError("alternation needs at least one module")
        self.modules = modules
        self.adaptive = adaptive
        self.threshold = threshold
        self.min_steps = min_steps
        self.every = every
        self.index = 0
        self.steps_on_current = 0
        self.switch_count = 0
        self.previous_loss: float | None = None
        self.last_relative_improvement: float | None = None

    @property
    def current(self) -> str:
        return self.modules[self.index]

    def _switch(self) -> None:
        if len(self.modules) > 1:
            self.index = (self.index + 1) % len(self.modules)
            self.switch_count += 1
        self.steps_on_current = 0
        self.previous_loss = None

    def step(self, loss: float) -> bool:
        """Record the trained module's epoch loss; returns True if the module switches."""
        self.steps_on_current += 1
        if not self.adaptive:
            if self.steps_on_current >= self.every:
                self._switch()
                return True
            return False
        previous, self.previous_loss = self.previous_loss, loss
        self.last_relative_improvement = None
        if previous is not None and math.isfinite(previous) and previous != 0:
            self.last_relative_improvement = (previous - loss) / abs(previous)
        stalled = (self.last_relative_improvement is not None
                   and self.last_relative_improvement < self.threshold)
        if self.steps_on_current >= self.min_steps and (
                stalled or self.steps_on_current >= 4 * self.min_steps):
            self._switch()
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in
                ("index", "steps_on_current", "switch_count", "previous_loss")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
