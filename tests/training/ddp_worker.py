"""``api.train`` with random text vectors in place of encoded texts, run alone or under torchrun
by ``test_distributed_empty_shard.py`` (no text encoder needed).

    python tests/training/ddp_worker.py CONFIG RUN_DIR
    torchrun --standalone --nproc_per_node 2 tests/training/ddp_worker.py CONFIG RUN_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from ur4rec import api
from ur4rec.models.ur4rec import TextInputs
from ur4rec.runs import pipeline
from ur4rec.runs.inputs import ModelInputs
from ur4rec.training.distributed import from_environment

TEXT_DIM = 12


def random_text_inputs(config: Any, data: Any, run_dir: Path, llm_data_dir: Any
                       ) -> ModelInputs:
    """The same vectors on every rank (fixed seed): user ``[U, 12]``, item ``[N + 1, 12]``."""
    rng = np.random.default_rng(0)
    return ModelInputs(None, TextInputs(rng.normal(size=(data.num_users, TEXT_DIM)).astype("f4"),
                                        rng.normal(size=(data.num_items + 1, TEXT_DIM))
                                        .astype("f4")))


def main(config: str, run_dir: str) -> None:
    pipeline.model_inputs = random_text_inputs
    api._after_training = lambda run_dir: None  # no plots or diagnosis: not under test
    distributed = from_environment()
    api.train(config, run_dir, distributed=distributed, progress=False)
    if distributed is not None:
        distributed.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
