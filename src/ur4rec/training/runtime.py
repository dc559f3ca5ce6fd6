"""Where and how a run computes: the device, the seeds, the deterministic kernels."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
import torch.utils.deterministic
from torch.nn.attention import SDPBackend, sdpa_kernel

from ur4rec.errors import CheckpointError

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise CheckpointError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


def seed_everything(seed: int, *salt: int) -> torch.Generator:
    """Seed Python, NumPy and torch from ``seed`` and ``salt``; return a CPU generator."""
    value = (seed * 1_000_003 + sum(s * 7_919 ** (i + 1) for i, s in enumerate(salt))) % 2**31
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)
    generator = torch.Generator()
    generator.manual_seed(value)
    return generator


@contextmanager
def deterministic_kernels(enabled: bool, device: torch.device | None = None) -> Iterator[None]:
    """Run the block with ``torch.use_deterministic_algorithms(True, warn_only=True)`` when
    ``enabled``, and restore the previous setting after it.

    Why: on CPU with more than one thread, the backward of indexing with index tensors
    (``table[rows, cols]``, ``index_put_(accumulate=True)``) adds duplicate indices in thread
    order, so two runs of the same seed drifted apart in the 7th digit from the retriever's first
    epoch. The deterministic kernels cost nothing measurable here (docs/backbone.md). Warn-only:
    an op with no deterministic kernel warns instead of stopping the run.

    On CUDA (``device``) two more things are needed: cuBLAS is deterministic only with a fixed
    workspace (``CUBLAS_WORKSPACE_CONFIG``, set here unless the user set it), and attention runs
    on PyTorch's plain ("math") kernel — the fused cuDNN and memory-efficient backward passes
    are not deterministic, and under this mode the cuDNN one also cost ~6× the whole step
    (docs/gpu.md, "The device check").
    """
    before = torch.are_deterministic_algorithms_enabled()
    before_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    before_fill = torch.utils.deterministic.fill_uninitialized_memory
    on_cuda = enabled and device is not None and device.type == "cuda"
    if not enabled and device is not None and device.type == "cuda":
        log.warning("training.deterministic is false: CUDA's fused attention and index kernels "
                    "add in a varying order, so two runs of one seed can differ in the last "
                    "digits (set training.deterministic: true for repeatable runs; its cost: "
                    "docs/gpu.md, \"The device check\")")
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
        # filling every torch.empty with NaN is for finding reads of uninitialised memory; it
        # changes no result of ours and cost ~10 % of a SASRec epoch
        torch.utils.deterministic.fill_uninitialized_memory = False
    if on_cuda:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    attention = sdpa_kernel([SDPBackend.MATH]) if on_cuda else nullcontext()
    try:
        with attention:
            yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = before_fill
