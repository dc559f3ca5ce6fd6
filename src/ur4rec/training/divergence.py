"""A diverged epoch: how it is recognised, and what the user is told to change."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ur4rec.errors import TrainingDiverged


def diverged(stats: dict[str, Any], loss_scaled: bool) -> bool:
    """A non-finite mean loss, or a non-finite gradient norm (except the skipped steps of an
    fp16 loss scaler, ``loss_scaled``, which are how it finds its scale)."""
    if not math.isfinite(stats["losses"]["loss"]):
        return True
    return not loss_scaled and not math.isfinite(stats["grad_norm_max"])


def where_diverged(stage: str, epoch: int, stats: dict[str, Any]) -> str:
    """The stage, epoch (0-based ``epoch``, said 1-based), loss, gradient norm and learning
    rates of a diverged epoch, for the message."""
    lrs = ", ".join(f"{name} {lr:g}" for name, lr in stats["lr"].items())
    return (f"stage {stage}, epoch {epoch + 1}: loss {stats['losses']['loss']:g}, gradient "
            f"norm max {stats['grad_norm_max']:g}, lr {lrs}")


def divergence_error(where: str, best_path: Path | None, grad_clip: float | None
                     ) -> TrainingDiverged:
    """The one-line error: where it diverged, where the last finite weights are (``best_path``;
    None: no finite epoch to keep) and what to change."""
    kept = (f"the last finite weights are in {best_path}" if best_path is not None
            else "no finite epoch to keep")
    clip = "" if grad_clip is not None else " or set training.grad_clip (e.g. 1.0)"
    return TrainingDiverged(f"training diverged in {where}; {kept}. Lower the learning rate "
                            f"(training.sasrec_lr / training.retriever_lr){clip}")
