"""An exponential moving average of the parameters (Polyak averaging), evaluated and kept.

On small data the weights after each step are noisy; their running average generalises better
and makes the validation curve — and so early stopping — less jumpy. Buffers (such as user
memory) are never averaged: they always come from the live model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class ParameterEMA:
    """``shadow ← decay · shadow + (1 − decay) · parameter`` after every optimizer step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.params = [p for p in model.parameters()]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.decay)

    @contextmanager
    def swapped(self) -> Iterator[None]:
        """Inside the block the model holds the averaged weights; afterwards its own again."""
        backup = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow, strict=True):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, b in zip(self.params, backup, strict=True):
                    p.copy_(b)

    def state_dict(self) -> list[torch.Tensor]:
        return [s.clone() for s in self.shadow]

    def load_state_dict(self, shadow: list[torch.Tensor]) -> None:
        for s, saved in zip(self.shadow, shadow, strict=True):
            s.copy_(saved)
