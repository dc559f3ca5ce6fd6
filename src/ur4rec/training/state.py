"""Where training stands: the state ``last.pt`` saves, and the stage in progress."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ur4rec.models.stages import Stage
from ur4rec.training.schedules import AlternatingScheduler


@dataclass
class StageState:
    """Where training stands; saved in ``last.pt`` so a killed run resumes exactly."""

    stage_index: int = 0
    epoch: int = 0  # epochs completed in the current stage
    best_metric: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stage_done: bool = False
    train_seconds: float = 0.0
    finished: bool = False
    stage_summaries: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StageRun:
    """A stage in progress: its row of the stage table and what trains it."""

    stage: Stage
    index: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    alternation: AlternatingScheduler | None
    best_path: Path
