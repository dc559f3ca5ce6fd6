"""The Python API; the ``ur4rec`` command is a thin layer over these functions.

>>> from ur4rec import api
>>> results = api.train("configs/sasrec_ml100k.yaml", "runs/sasrec")   # doctest: +SKIP
>>> api.recommend("runs/sasrec", user="196", k=10)                    # doctest: +SKIP

Behind them, by job (:mod:`ur4rec.runs`): :mod:`~ur4rec.runs.pipeline` trains a run, one call per
step; :mod:`~ur4rec.runs.results` is the schema of ``results.json``, written by ``train`` and
rewritten by ``evaluate``; :mod:`~ur4rec.runs.serving` loads a trained run, recommends from it
and evaluates it again.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from ur4rec.config import RunConfig, load_config
from ur4rec.diagnostics.plots import plot_run
from ur4rec.diagnostics.report import write_diagnosis
from ur4rec.errors import ConfigError
from ur4rec.runs.inputs import data_from_folder, prepare_data
from ur4rec.runs.pipeline import TrainOptions, run_training
from ur4rec.runs.results import format_results_table
from ur4rec.runs.serving import LoadedRun, evaluate_run, load_run, recommend, write_ranks
from ur4rec.training.run_folder import check_output_folder, input_paths
from ur4rec.training.runtime import deterministic_kernels, resolve_device

__all__ = ["LoadedRun", "evaluate", "format_results_table", "load_run", "prepare_data",
           "recommend", "train", "write_ranks"]

log = logging.getLogger(__name__)


def train(config: RunConfig | str | Path, output_dir: str | Path, *, resume: bool = False,
          overwrite: bool = False,
          overrides: dict[str, Any] | None = None, data_dir: str | Path | None = None,
          llm_data_dir: str | Path | None = None, progress: bool = True,
          tensorboard: bool = False, distributed: Any = None,
          callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Prepare data (and texts), train every stage, evaluate the best model, write the run.

    Returns the ``results.json`` content. With ``resume`` the run continues from
    ``output_dir/checkpoints/last.pt`` and ends with the metrics an uninterrupted run would have
    (``training.init_from`` is loaded again when the run stopped before its first ``last.pt``;
    texts the run imported with ``llm_data_dir`` are read again from that folder, for training
    and evaluation alike, when ``llm_data_dir`` is not given — refused if it holds none now).
    ``callbacks`` receive each epoch's ``metrics.jsonl`` row (an exception stops training).
    An ``output_dir`` that holds anything is refused unless ``resume`` continues it or
    ``overwrite`` replaces it: its contents are deleted once the config is valid and the data
    prepared (only a ur4rec run folder that holds none of the run's inputs; see
    :mod:`ur4rec.training.run_folder`). The run ends with its diagnosis and plots.
    """
    started = time.perf_counter()
    config_file = None if isinstance(config, RunConfig) else Path(config)
    run_config = _as_config(config, overrides)
    if data_dir is not None:  # the folder decides the data (runs/inputs.data_from_folder)
        run_config = data_from_folder(run_config, Path(data_dir), overrides or {})
    run_dir = Path(output_dir)
    options = TrainOptions(resume, overwrite, _path(data_dir), _path(llm_data_dir), progress,
                           tensorboard, distributed, callbacks)
    check_output_folder(run_dir, resume=resume, overwrite=overwrite, inputs=input_paths(
        run_config, config_file, options.data_dir, options.llm_data_dir))
    device = resolve_device(run_config.training.device)
    with deterministic_kernels(run_config.training.deterministic, device):
        results = run_training(run_config, run_dir, options, started)
    if options.is_main:
        _after_training(run_dir)
    return results


def evaluate(run_dir: str | Path, save_ranks: str | Path | None = None, device: str = "cpu"
             ) -> dict[str, Any]:
    """Re-evaluate a run's final model on both splits; optionally write per-user ranks."""
    return evaluate_run(run_dir, save_ranks, device)


def _as_config(config: RunConfig | str | Path, overrides: dict[str, Any] | None = None
               ) -> RunConfig:
    if isinstance(config, RunConfig):
        if overrides:
            raise ConfigError("overrides apply to a config file; edit the RunConfig instead")
        return config
    return load_config(config, overrides)


def _path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def _after_training(run_dir: Path) -> None:
    """The diagnosis and the plots, written at the end of every run (plots only where the
    optional matplotlib is installed)."""
    write_diagnosis(run_dir)
    try:
        plot_run(run_dir)
    except ImportError as error:  # matplotlib is an optional extra
        log.warning("plots skipped: %s", error)
