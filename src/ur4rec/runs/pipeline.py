"""Training a run, one call per step: config → data → texts → model → trainer → evaluation.

:func:`run_training` is the body of :func:`ur4rec.api.train` (as RecBole's ``quick_start``):
prepare the data, open the run folder, encode the texts, build the model (started from
``training.init_from`` where that applies), train the stage plan, evaluate the best model and
write ``results.json`` (:mod:`ur4rec.runs.results`). Under torchrun (``distributed``) rank 0
prepares data and texts first while the others wait, only rank 0 writes the run folder, and
every rank trains.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from ur4rec import __version__
from ur4rec.config import RunConfig, TrainingConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.errors import UR4RecError
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.evaluation.routing import routing_by_slice
from ur4rec.models.base import Recommender
from ur4rec.models.factory import build_model, count_parameters
from ur4rec.retrieval.search import scorer_for
from ur4rec.runs.init_from import init_from, init_from_applies
from ur4rec.runs.inputs import (
    ModelInputs,
    case_user_texts,
    model_inputs,
    prepare_data,
    record_item_exposure,
)
from ur4rec.runs.results import (
    RunResults,
    evaluate_model,
    run_results,
    stage_results,
    write_results,
)
from ur4rec.training.checkpoint import data_record, model_signature, save_checkpoint
from ur4rec.training.fusion_selection import select_fusion_weights
from ur4rec.training.run_folder import check_resumable, open_run_folder
from ur4rec.training.runtime import resolve_device, seed_everything
from ur4rec.training.trainer import Trainer

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class TrainOptions:
    """How :func:`run_training` runs (the arguments of :func:`ur4rec.api.train`)."""

    resume: bool = False
    overwrite: bool = False
    data_dir: Path | None = None
    llm_data_dir: Path | None = None
    progress: bool = True
    tensorboard: bool = False
    distributed: Any = None
    """a :class:`~ur4rec.training.distributed.DistributedContext` under torchrun"""
    callbacks: list[Callable[[dict[str, Any]], None]] | None = None

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run folder (rank 0, or the only process)."""
        return self.distributed is None or self.distributed.is_main

    def main_first(self, work: Callable[[], T]) -> T:
        """Under torchrun rank 0 runs ``work`` (filling the caches), then the others."""
        return work() if self.distributed is None else self.distributed.main_first(work)


class Stopwatch:
    """The seconds of each step, for ``results.json["timing"]``."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.seconds: dict[str, float] = {}

    @contextmanager
    def measure(self, key: str, since_start: bool = False) -> Iterator[None]:
        began = self.started if since_start else time.perf_counter()
        yield
        self.seconds[key] = round(time.perf_counter() - began, 3)

    def timing(self, summary: dict[str, Any], device: torch.device) -> dict[str, Any]:
        epochs = sum(stage["epochs"] for stage in summary["stages"])
        return {**self.seconds, "total_s": round(time.perf_counter() - self.started, 3),
                "epochs": epochs,
                "seconds_per_epoch": (round(summary["train_seconds"] / epochs, 3)
                                      if epochs else 0.0),
                "stages": summary["stages"], "device": str(device)}


def run_training(config: RunConfig, run_dir: Path, options: TrainOptions, started: float
                 ) -> dict[str, Any]:
    """Train and evaluate one run into ``run_dir``; returns ``results.json`` (``{}`` on ranks
    other than 0)."""
    clock = Stopwatch(started)
    if options.resume:
        check_resumable(run_dir, config)
    with clock.measure("prepare_s", since_start=True):
        data = options.main_first(lambda: prepare_data(config, options.data_dir))
    if options.is_main:
        open_run_folder(run_dir, config, options.overwrite)
    device = training_device(config.training, options.distributed)
    seed_everything(config.training.seed)
    with clock.measure("texts_s"):
        inputs = options.main_first(
            lambda: model_inputs(config, data, run_dir, options.llm_data_dir))
        if options.is_main:
            record_item_exposure(config, data, inputs)
    seed_everything(config.training.seed)
    model = build_run_model(config, data, inputs, run_dir, options.resume)
    evaluator = Evaluator(data, config.evaluation, scorer_for(model, data, config.evaluation))
    record_run(config, data, model, inputs.summary, run_dir, options.is_main)
    with clock.measure("train_s"):
        summary = fit(model, config, evaluator, run_dir, device, options)
    if not options.is_main:
        return {}
    with clock.measure("evaluate_s"):
        results = evaluate_trained(config, model, evaluator, device, inputs.summary, summary,
                                   run_dir)
    results.timing = clock.timing(summary, device)
    return write_results(run_dir, results)


def training_device(config: TrainingConfig, distributed: Any) -> torch.device:
    """``training.device``, or this rank's device under torchrun."""
    device = resolve_device(config.device)
    return device if distributed is None else distributed.device(device)


def build_run_model(config: RunConfig, data: PreparedData, inputs: ModelInputs, run_dir: Path,
                    resume: bool) -> Recommender:
    """The configured model, started from ``training.init_from`` where that applies."""
    model = build_model(config, data, inputs.vectors)
    if config.training.init_from is not None and init_from_applies(run_dir, resume):
        init_from(model, config.training.init_from, data, config.training.init_from_other_data)
    return model


def record_run(config: RunConfig, data: PreparedData, model: Recommender,
               texts: dict[str, Any] | None, run_dir: Path, is_main: bool) -> None:
    """``run.json``: what the run is (model, data, size, plan, machine, texts), and a log line."""
    parameters = count_parameters(model)
    info = {
        "ur4rec_version": __version__, "model": config.model, "name": config.name,
        "dataset": data.summary(), "prepared_dir": str(data.folder),
        "data_fingerprint": data.meta.get("fingerprint"),
        "parameters": parameters, "parameters_per_user": parameters / max(data.num_users, 1),
        "stages": config.resolved_stages(),
        "batches_per_epoch": -(-sum(1 for s in data.train_sequences if len(s) > 1)
                               // config.training.batch_size),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
    }
    if texts is not None:
        info["texts"] = texts
    if is_main:
        (run_dir / "run.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    log.info("%s on %s: %d users, %d items, %s parameters (%.0f per user)", config.model,
             data.name, data.num_users, data.num_items, f"{parameters:,}",
             info["parameters_per_user"])


def fit(model: Recommender, config: RunConfig, evaluator: Evaluator, run_dir: Path,
        device: torch.device, options: TrainOptions) -> dict[str, Any]:
    """Train the stage plan; a model that is not trained gets its ``final.pt`` as built (with
    the fusion share chosen on validation where it selects one, e.g. ``text_to_id`` blending
    the text score). Returns the trainer's summary (each stage's epochs and best, the fusion
    selection)."""
    data, stages = evaluator.data, config.resolved_stages()
    if not (model.trainable and stages):
        summary: dict[str, Any] = {"stages": [], "train_seconds": 0.0}
        if model.selects_fusion_weights:
            model.to(device)
            summary["fusion_selection"] = select_fusion_weights(
                model, evaluator, device, evaluator.selection)
        if options.is_main:
            save_checkpoint(run_dir / "checkpoints" / "final.pt", {
                "signature": model_signature(model, config.model, data.num_users,
                                             data.num_items),
                "data": data_record(data), "model": model.state_dict()})
        return summary
    writer = tensorboard_writer(run_dir) if options.tensorboard and options.is_main else None
    trainer = Trainer(model, config.model, data, config.training, stages, run_dir, device,
                      evaluator, progress=options.progress, writer=writer,
                      is_main=options.is_main, callbacks=options.callbacks)
    if options.distributed is not None:
        options.distributed.attach(trainer)
    summary = trainer.fit(resume=options.resume)
    if writer is not None:
        writer.close()
    return summary


def evaluate_trained(config: RunConfig, model: Recommender, evaluator: Evaluator,
                     device: torch.device, texts: dict[str, Any] | None,
                     summary: dict[str, Any], run_dir: Path) -> RunResults:
    """The final model on both splits and the cold items, its routing, and what training
    chose or measured (fusion weights, closed-form fit, each stage's best)."""
    data = evaluator.data
    model.to(device)
    case_texts = case_user_texts(config, data, model, texts)  # data.cold_items, user state
    evaluation, _ = evaluate_model(model, data, evaluator, device, case_texts)
    results = run_results(config, count_parameters(model), evaluation, data, texts)
    results.routing_by_slice = routing_by_slice(model, data, case_texts) or None
    results.fusion_selection = summary.get("fusion_selection")
    results.fit = model.fit_summary()
    if len(summary["stages"]) > 1:
        results.stage_results = stage_results(model, run_dir, evaluator, device,
                                              summary["stages"])
    return results


def tensorboard_writer(run_dir: Path) -> Any:
    """A tensorboard writer into ``run_dir/tensorboard`` (an optional extra: imported here)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise UR4RecError("--tensorboard needs the tensorboard package: pip install "
                          f"'ur4rec[tensorboard]' ({error})") from None
    return SummaryWriter(str(run_dir / "tensorboard"))
