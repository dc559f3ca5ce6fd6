"""``metrics.jsonl``: one row per epoch (docs/run-directory.md), mirrored to tensorboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MetricsLog:
    """The run's ``metrics.jsonl`` (written by rank 0 only) and an optional tensorboard
    ``writer``."""

    def __init__(self, path: Path, writer: Any = None, is_main: bool = True) -> None:
        self.path, self.writer, self.is_main = path, writer, is_main

    def start_afresh(self) -> None:
        """A new run: no rows of an earlier one."""
        if self.is_main and self.path.exists():
            self.path.unlink()

    def keep_before(self, stage_index: int, epoch: int) -> None:
        """Drop the rows of epochs at or after ``(stage_index, epoch)``: a resumed run replays
        them (a kill can leave one row more than ``last.pt`` knows)."""
        if not self.path.exists() or not self.is_main:
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if (row["stage_index"], row["epoch"]) < (stage_index, epoch):
                kept.append(line)
        self.path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")

    def append(self, row: dict[str, Any]) -> None:
        if not self.is_main:
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.writer is not None:
            step = row["global_epoch"]
            for key, value in row["losses"].items():
                self.writer.add_scalar(f"loss/{key}", value, step)
            for protocol, metrics in row["valid"].items():
                for key, value in metrics.items():
                    self.writer.add_scalar(f"valid_{protocol}/{key}", value, step)
            self.writer.add_scalar("grad_norm", row["grad_norm"], step)
