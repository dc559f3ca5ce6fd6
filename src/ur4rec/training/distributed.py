"""Data-parallel training under ``torchrun`` with PyTorch's DistributedDataParallel.

``torchrun --nproc_per_node 2 -m ur4rec train --config …`` starts one process per rank; each
builds the same model from the same seed, and DDP broadcasts rank 0's weights when it wraps
the loss module, then averages gradients in backward (gloo on CPU, NCCL on CUDA).

Consistency across ranks:

- **Batches**: every rank draws the same shuffled batches (same seed) and takes its own slice of
  each (rows ``rank::world_size``), so one optimizer step sees the whole batch.
- **Losses**: each loss component is a mean over a rank's rows (targets or positions), which
  differ between ranks, and DDP averages gradients as if they were equal. So each rank weighs
  its means by ``its rows × ranks / all ranks' rows`` (:meth:`shard_weights`), and the average
  is the mean over the whole batch, as in one process; a rank whose shard of a short last batch
  is empty adds zero loss and zero weight (a mean over no rows would be NaN and read as a
  divergence). The logged losses and targets are totals over ranks (:meth:`epoch_totals`).
- **User memory**: DDP's buffer broadcast is off (it would overwrite other ranks' updates with
  rank 0's). A user appears once per epoch, on one rank; after each epoch every memory buffer
  is rebuilt with an all-reduce of the rows each rank touched, so all ranks hold the same memory.
- **Early stopping**: every rank evaluates the (identical) model; rank 0's validation metric is
  broadcast, so all ranks stop at the same epoch and keep the same best weights.
- **Files**: only rank 0 writes the run directory and checkpoints; data and texts are prepared by
  rank 0 first while the others wait at a barrier, then read from the cache.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ur4rec.models.base import TrainBatch

T = TypeVar("T")


class DistributedContext:
    """One rank of a torchrun job."""

    def __init__(self) -> None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.local_rank = int(os.environ.get("LOCAL_RANK", self.rank))
        self.backend = backend
        if backend == "gloo":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.world_size))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: torch.device) -> torch.device:
        if requested.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return requested

    def main_first(self, work: Callable[[], T]) -> T:
        """Run ``work`` on rank 0, then on the others (which find its results cached)."""
        if self.is_main:
            result = work()
            dist.barrier()
            return result
        dist.barrier()
        return work()

    def attach(self, trainer: Any) -> None:
        trainer.distributed = self
        trainer.loss_module.shard_weights = self.shard_weights

    def shard_weights(self, rows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per loss component: ``rows × world_size / rows summed over ranks`` (0-d tensors), the
        weight of this rank's mean (module docstring); one all-reduce per step."""
        names = list(rows)
        local = torch.stack([rows[name].to(torch.int64) for name in names])
        total = local.clone()
        dist.all_reduce(total)
        weights = local.double() * self.world_size / total.clamp(min=1).double()
        return {name: weights[i].float() for i, name in enumerate(names)}

    def epoch_totals(self, sums: dict[str, torch.Tensor], targets: int, device: torch.device
                     ) -> tuple[dict[str, torch.Tensor], int]:
        """An epoch's summed batch losses as the mean over ranks (each rank's are weighted by
        :meth:`shard_weights`, so that mean is the whole batches' loss) and its targets summed
        over ranks."""
        names = sorted(sums)  # the same on every rank: the same components, the same batches
        values = torch.stack([torch.as_tensor(sums[name], device=device).double()
                              for name in names] or [torch.zeros((), device=device)])
        dist.all_reduce(values)
        count = torch.tensor([targets], dtype=torch.int64, device=device)
        dist.all_reduce(count)
        return ({name: values[i] / self.world_size for i, name in enumerate(names)},
                int(count.item()))

    def wrap(self, module: nn.Module, some_parameters_unused: bool) -> nn.Module:
        """DDP around the loss module (rebuilt whenever the trained parameters change).

        ``some_parameters_unused``: a stage of a multi-branch model may leave trainable
        parameters out of the graph (e.g. an expert); DDP must then look for them.
        """
        device_ids = [self.local_rank] if self.backend == "nccl" else None
        return DistributedDataParallel(module, device_ids=device_ids, broadcast_buffers=False,
                                       find_unused_parameters=some_parameters_unused)

    def shard(self, batch: TrainBatch) -> TrainBatch:
        rows = slice(self.rank, None, self.world_size)
        targets = batch.targets[rows]
        return TrainBatch(batch.users[rows], batch.inputs[rows], targets,
                          None if batch.positives is None else batch.positives[rows],
                          int((targets > 0).sum()))

    def broadcast_float(self, value: float, device: torch.device) -> float:
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def sync_memory(self, memory: nn.Module) -> None:
        """Merge the rows of each memory buffer that each rank updated this epoch."""
        touched = memory.touched.clone()
        touched_anywhere = touched.to(torch.int32)
        dist.all_reduce(touched_anywhere)
        for name, buffer in memory.named_buffers():
            if name == "touched" or buffer.ndim == 0:
                continue
            shape = (-1, *([1] * (buffer.ndim - 1)))
            mine = torch.where(touched.view(shape), buffer, torch.zeros_like(buffer))
            merged = mine.to(torch.int32) if buffer.dtype == torch.bool else mine.double()
            dist.all_reduce(merged)  # each user was touched by at most one rank
            replace = (touched_anywhere > 0).view(shape)
            buffer.copy_(torch.where(replace, merged.to(buffer.dtype), buffer))
        memory.touched.zero_()
        count = torch.tensor([int(memory.updates_this_epoch)], dtype=torch.long)
        dist.all_reduce(count)
        memory.updates_this_epoch = int(count)

    def close(self) -> None:
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def from_environment() -> DistributedContext | None:
    """A distributed context when launched by torchrun (``WORLD_SIZE`` > 1), else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    return DistributedContext()
