"""The training loop every model shares: stages, early stopping, checkpoints, resume, logging.

:meth:`Trainer.fit` reads top to bottom: for each stage of the plan (what it trains and scores:
:mod:`ur4rec.models.stages`) it starts the stage (optimizer, schedule, alternation, moving
average, resumed state), runs epochs until the stage stops early or runs out, and ends it at its
best weights. An epoch trains, checks for divergence, validates, keeps the best weights, logs
its row of ``metrics.jsonl`` and saves ``last.pt``.

Determinism: each epoch reseeds every random source from ``(seed, stage, epoch)``, so an epoch
depends only on the model and optimizer state it starts from — which ``last.pt`` stores. Resuming
after a kill therefore replays exactly the epochs an uninterrupted run would have run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ur4rec.config import TrainingConfig
from ur4rec.data.cold import cold_item_mask
from ur4rec.data.prepared import PreparedData
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.models.base import Recommender, TrainBatch
from ur4rec.models.losses import SAMPLED_LOSSES, ShardWeights, SharedNegatives
from ur4rec.models.stages import OWN_LOSS, Stage, stage_plan
from ur4rec.training.batches import TrainingBatches
from ur4rec.training.checkpoint import (
    data_record,
    load_checkpoint,
    model_signature,
    save_checkpoint,
)
from ur4rec.training.divergence import diverged, divergence_error, where_diverged
from ur4rec.training.ema import ParameterEMA
from ur4rec.training.fusion_selection import select_fusion_weights
from ur4rec.training.metrics_log import MetricsLog
from ur4rec.training.optimizer import build_optimizer, set_trainable
from ur4rec.training.runtime import seed_everything
from ur4rec.training.schedules import AlternatingScheduler, warmup_schedule
from ur4rec.training.state import StageRun, StageState

log = logging.getLogger(__name__)


class LossModule(nn.Module):
    """The model's training loss as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, model: Recommender, config: TrainingConfig,
                 excluded: torch.Tensor | None = None,
                 shared: SharedNegatives | None = None) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.excluded = excluded  # [N + 1] bool: items outside the training catalogue (cold)
        self.shared = shared  # the negatives of training.loss: shared_softmax
        # under torchrun: each component's weight by this rank's share of its rows
        self.shard_weights: ShardWeights | None = None

    def forward(self, batch: TrainBatch, stage: Stage, active: list[str],
                generator: torch.Generator) -> dict[str, torch.Tensor]:
        step = stage.step(active, self.config, generator, self.excluded, self.shared,
                          self.shard_weights)
        return self.model.training_loss(batch, step)


class Trainer:
    """Runs the stages ``stages`` (names, :mod:`ur4rec.models.stages`) of ``model`` on
    ``data``, selecting on ``evaluator``'s validation metric, writing into ``run_dir``."""

    def __init__(self, model: Recommender, model_name: str, data: PreparedData,
                 config: TrainingConfig, stages: Sequence[str], run_dir: Path,
                 device: torch.device, evaluator: Evaluator, progress: bool = True,
                 writer: Any = None, is_main: bool = True,
                 callbacks: list[Callable[[dict[str, Any]], None]] | None = None) -> None:
        self.model = model.to(device)
        self.config = config
        self.plan = stage_plan(stages, list(model.parameter_groups()))
        self.run_dir, self.device, self.evaluator = run_dir, device, evaluator
        self.selection = evaluator.selection
        self.progress, self.is_main = progress, is_main
        # called with each epoch's metrics row after it is logged (e.g. Optuna pruning)
        self.callbacks = list(callbacks or [])
        self.signature = model_signature(model, model_name, data.num_users, data.num_items)
        self.data_record = data_record(data)  # in every checkpoint, for training.init_from
        self.batches = TrainingBatches(data, model.max_seq_len, config.batch_size,
                                       config.sampling,
                                       need_positives=config.loss in SAMPLED_LOSSES,
                                       device=device, batching=config.batching)
        self.checkpoints = run_dir / "checkpoints"
        self.metrics = MetricsLog(run_dir / "metrics.jsonl", writer, is_main)
        self._set_precision()
        self.distributed: Any = None  # set by ur4rec.training.distributed under torchrun
        self.loss_module = self._loss_module(data)
        # parameters the model built frozen (e.g. retriever.learn_temperature: false) stay so
        self.frozen = {id(p) for p in self.model.parameters() if not p.requires_grad}
        self.ema: ParameterEMA | None = None
        self.global_epoch = 0

    def _set_precision(self) -> None:
        """Mixed precision on CUDA: bf16 where the GPU has it (no scaler needed), else fp16."""
        self.amp = self.config.amp and self.device.type == "cuda"
        bf16 = self.amp and torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.bfloat16 if bf16 or not self.amp else torch.float16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp and not bf16)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    def _loss_module(self, data: PreparedData) -> LossModule:
        """The loss with the cold items left out of the training catalogue and, for
        ``shared_softmax``, the shared negatives (popularity from the training parts only)."""
        excluded = None
        if len(data.cold_items):
            excluded = cold_item_mask(data.num_items, data.cold_items, self.device)
        shared = None
        if self.config.loss == "shared_softmax":
            counts = torch.as_tensor(data.train_item_counts, device=self.device)
            shared = SharedNegatives(counts, self.config.num_negatives,
                                     self.config.negative_distribution, excluded,
                                     self.config.logq_correction)
        return LossModule(self.model, self.config, excluded, shared)

    # ----------------------------------------------------------------- the story
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train every stage; returns per-stage summaries. The model ends at its best weights."""
        state, payload = self._begin(resume)
        for index, stage in enumerate(self.plan):
            if index < state.stage_index or state.finished:
                continue
            run = self._start_stage(stage, index, state, payload)
            payload = None
            while state.epoch < self.config.epochs_per_stage and not state.stage_done:
                self._run_epoch(run, state)
            self._end_stage(run, state)
        return self._end_training(state)

    def _begin(self, resume: bool) -> tuple[StageState, dict[str, Any] | None]:
        """A fresh state (and a fresh ``metrics.jsonl``), or the one ``last.pt`` saved."""
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        state, payload = self._restore() if resume else (StageState(), None)
        if not resume:
            self.metrics.start_afresh()
        self.global_epoch = sum(s["epochs"] for s in state.stage_summaries) + state.epoch
        return state, payload

    def _start_stage(self, stage: Stage, index: int, state: StageState,
                     payload: dict[str, Any] | None) -> StageRun:
        """The stage's optimizer, schedule, alternation and moving average — as ``last.pt``
        left them when the run resumes inside this stage."""
        optimizer = self._optimizer(stage.trains)
        scheduler = warmup_schedule(optimizer, self.config.warmup_steps,
                                    self.config.epochs_per_stage * len(self.batches),
                                    self.config.schedule)
        run = StageRun(stage, index, optimizer, scheduler, self._alternation(stage),
                       self.checkpoints / f"best_{stage.name}.pt")
        self.ema = (ParameterEMA(self.model, self.config.ema_decay)
                    if self.config.ema_decay else None)
        if payload is not None and index == state.stage_index and state.epoch > 0:
            self._resume_stage(run, payload)
        self.model.on_stage_start(stage)
        if index > 0 and state.epoch == 0 and not state.stage_done:
            self._start_from_current(state, run)
        return run

    def _run_epoch(self, run: StageRun, state: StageState) -> None:
        """Train one epoch; unless it diverged, validate, keep the best weights, log the row,
        decide early stopping and save ``last.pt``."""
        epoch = state.epoch
        generator = seed_everything(self.config.seed, run.index, epoch)
        active = self._activate(run)
        self.model.on_epoch_start()
        started, started_at = time.perf_counter(), time.time()
        stats = self._train_epoch(run, active, generator,
                                  f"{run.stage.name} {epoch + 1}/{self.config.epochs_per_stage}")
        switched = self._alternate(run, stats)
        if diverged(stats, self.scaler.is_enabled()):
            self._on_divergence(state, run, active, stats, started)
            return
        eval_started = time.perf_counter()
        with self._averaged():
            valid, metric = self._validate(run.stage)
        eval_seconds = time.perf_counter() - eval_started
        improved = self._keep_best(state, run, metric)
        state.epoch += 1
        state.train_seconds += stats["train_seconds"]
        alternation = run.alternation
        row = {"stage": run.stage.name, "stage_index": run.index, "epoch": epoch,
               "global_epoch": self.global_epoch, "trained": active,
               "switch_count": alternation.switch_count if alternation else 0,
               "switched": switched, **stats, "valid": valid, "eval_seconds": eval_seconds,
               "seconds": time.perf_counter() - started, "started_at": started_at,
               "best": improved, "selection": " ".join(self.selection),
               **self.model.epoch_statistics(run.stage)}
        self._report_epoch(row, metric)
        state.stage_done = state.bad_epochs >= self.config.patience
        self._save_last(state, run)

    def _end_stage(self, run: StageRun, state: StageState) -> None:
        """Leave the stage at its best weights and record its summary."""
        if self._has_best(state, run.best_path):
            self.model.load_state_dict(load_checkpoint(run.best_path, self.signature)["model"])
        state.stage_summaries.append({"stage": run.stage.name, "best_epoch": state.best_epoch,
                                      "best_metric": state.best_metric, "epochs": state.epoch})
        state.stage_index = run.index + 1
        state.epoch, state.best_metric, state.best_epoch, state.bad_epochs = 0, -math.inf, -1, 0
        state.stage_done = False
        self._save_last(state, run, with_alternation=False)

    def _end_training(self, state: StageState) -> dict[str, Any]:
        """The summary of every stage; the fusion weights chosen on validation where the model
        asks for it; ``final.pt``."""
        state.finished = True
        self.model.on_training_end()
        summary = {"stages": state.stage_summaries, "train_seconds": state.train_seconds}
        if self.model.selects_fusion_weights:
            summary["fusion_selection"] = select_fusion_weights(
                self.model, self.evaluator, self.device, self.selection)
        self._save_model(self.checkpoints / "final.pt")
        return summary

    # ----------------------------------------------------------------- stage pieces
    def _optimizer(self, groups: Sequence[str]) -> torch.optim.Optimizer:
        return build_optimizer(self.model, groups, self.config, self.device, self.frozen)

    def _alternation(self, stage: Stage) -> AlternatingScheduler | None:
        """Which group an alternating stage trains each epoch (None: all of them at once)."""
        if not stage.alternates or len(stage.trains) < 2:
            return None
        return AlternatingScheduler(list(stage.trains), self.config.use_adaptive_alternating,
                                    self.config.adaptive_switch_threshold,
                                    self.config.adaptive_min_steps, self.config.alternate_every)

    def _resume_stage(self, run: StageRun, payload: dict[str, Any]) -> None:
        """Optimizer, schedule, alternation and moving average as ``last.pt`` saved them."""
        if self.ema is not None and payload.get("ema") is not None:
            self.ema.load_state_dict(payload["ema"])
        run.optimizer.load_state_dict(payload["optimizer"])
        run.scheduler.load_state_dict(payload["scheduler"])
        if run.alternation and payload.get("alternation"):
            run.alternation.load_state_dict(payload["alternation"])

    def _start_from_current(self, state: StageState, run: StageRun) -> None:
        """The weights a later stage starts from are its first candidate for best: a stage that
        cannot improve validation leaves the model as it found it (epoch -1 in the summary)."""
        _, metric = self._validate(run.stage)
        state.best_metric, state.best_epoch = metric, -1
        self._save_model(run.best_path, {"stage": run.stage.name, "epoch": -1})
        log.info("%s starts at valid %s %s %.4f (kept unless an epoch beats it)",
                 run.stage.name, *self.selection, metric)

    # ----------------------------------------------------------------- epoch pieces
    def _activate(self, run: StageRun) -> list[str]:
        """The groups this epoch trains (one, when the stage alternates); the others freeze."""
        active = [run.alternation.current] if run.alternation else list(run.stage.trains)
        for group_name, params in self.model.parameter_groups().items():
            set_trainable(params, group_name in active, self.frozen)
        return active

    def _train_epoch(self, run: StageRun, active: list[str], generator: torch.Generator,
                     description: str) -> dict[str, Any]:
        """One pass over the training batches; the epoch's mean losses, gradient norms and
        learning rates."""
        self.model.train()
        sums: dict[str, torch.Tensor] = {}
        grad_norms: list[torch.Tensor] = []
        targets = batches = 0
        started = time.perf_counter()
        params = [p for g in run.optimizer.param_groups for p in g["params"]]
        step_module = self._step_module()
        show = self.progress and self.is_main
        bar = tqdm(total=len(self.batches), desc=description, leave=False, unit="batch",
                   disable=not show, dynamic_ncols=True)
        for batch in self.batches.epoch(generator):
            if self.distributed is not None:
                batch = self.distributed.shard(batch)
            losses, grad_norm = self._step(step_module, batch.to(self.device), run, active,
                                           generator, params)
            grad_norms.append(grad_norm)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value.detach().float()
            batches += 1
            targets += batch.num_targets
            bar.update(1)
            if show and (batches % 10 == 0 or batches == len(self.batches)):
                self._show_progress(bar, sums, batches, targets, started)
        bar.close()
        sums, targets = self._merge_ranks(sums, targets)
        norms = torch.stack(grad_norms).float().cpu() if grad_norms else torch.zeros(1)
        return {"losses": {k: float(v) / max(batches, 1) for k, v in sums.items()},
                "batches": batches, "targets": targets,
                "train_seconds": time.perf_counter() - started,
                "grad_norm": float(norms.mean()), "grad_norm_max": float(norms.max()),
                "lr": {g["name"]: g["lr"] for g in run.optimizer.param_groups}}

    def _step_module(self) -> nn.Module:
        """The loss module, wrapped for data-parallel training under torchrun."""
        if self.distributed is None:
            return self.loss_module
        return self.distributed.wrap(self.loss_module, len(self.model.parameter_groups()) > 1)

    def _step(self, step_module: nn.Module, batch: TrainBatch, run: StageRun,
              active: list[str], generator: torch.Generator, params: list[nn.Parameter]
              ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One optimizer step; the batch's losses and the gradient norm before clipping (left
        on the device: no host sync per step)."""
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            losses = step_module(batch, run.stage, active, generator)
        run.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        self.scaler.unscale_(run.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(
            params, self.config.grad_clip or float("inf")).detach()
        self.scaler.step(run.optimizer)
        self.scaler.update()
        run.scheduler.step()
        if self.ema is not None:
            self.ema.update()
        return losses, grad_norm

    def _merge_ranks(self, sums: dict[str, torch.Tensor], targets: int
                     ) -> tuple[dict[str, torch.Tensor], int]:
        """Under torchrun: every rank's per-user state merged, and the epoch's totals over all
        ranks (every rank logs, and judges divergence on, the same numbers)."""
        if self.distributed is None:
            return sums, targets
        state = self.model.per_user_state()
        if state is not None:
            self.distributed.sync_memory(state)
        return self.distributed.epoch_totals(sums, targets, self.device)

    def _show_progress(self, bar: Any, sums: dict[str, torch.Tensor], batches: int,
                       targets: int, started: float) -> None:
        """Targets per second, and the running loss where reading it is free (on an
        accelerator it would make the host wait for the device: shown at the epoch's end)."""
        postfix = {"targets_per_s": f"{targets / max(time.perf_counter() - started, 1e-9):.0f}"}
        if self.device.type == "cpu" or batches == len(self.batches):
            postfix["loss"] = f"{float(sums['loss']) / batches:.4f}"
        bar.set_postfix(postfix)

    def _alternate(self, run: StageRun, stats: dict[str, Any]) -> bool:
        """Tell the alternation the trained group's epoch loss; whether it switches."""
        if run.alternation is None:
            return False
        losses = stats["losses"]
        return run.alternation.step(losses.get(OWN_LOSS[run.alternation.current],
                                               losses["loss"]))

    @contextmanager
    def _averaged(self) -> Iterator[None]:
        """Inside the block the model holds its moving-average weights, when there are any."""
        if self.ema is None:
            yield
            return
        with self.ema.swapped():
            yield

    def _validate(self, stage: Stage) -> tuple[dict[str, Any], float]:
        """Validation metrics of the model scored as ``stage`` scores, and the selection
        metric; under torchrun every rank takes rank 0's value, so all ranks make the same
        early-stopping decision."""
        valid = self.evaluator.evaluate(self.model.scored_by(stage.scores), "valid",
                                        self.device).metrics
        metric = valid[self.selection[0]][self.selection[1]]
        if self.distributed is not None:
            metric = self.distributed.broadcast_float(metric, self.device)
        return valid, metric

    def _keep_best(self, state: StageState, run: StageRun, metric: float) -> bool:
        """Save the epoch's (averaged) weights as the stage's best when ``metric`` beats it;
        count the epochs that did not."""
        improved = metric > state.best_metric
        if improved:
            state.best_metric, state.best_epoch, state.bad_epochs = metric, state.epoch, 0
            with self._averaged():
                self._save_model(run.best_path, {"stage": run.stage.name, "epoch": state.epoch})
        else:
            state.bad_epochs += 1
        return improved

    def _report_epoch(self, row: dict[str, Any], metric: float) -> None:
        """The row into ``metrics.jsonl`` (and tensorboard), to the callbacks and the log."""
        self.metrics.append(row)
        for callback in self.callbacks:
            callback(row)
        self.global_epoch += 1
        log.info("%s epoch %d: loss %.4f | valid %s %s %.4f (full ndcg@10 %.4f) | %.2fs%s",
                 row["stage"], row["epoch"] + 1, row["losses"]["loss"], *self.selection,
                 metric, row["valid"]["full"]["ndcg@10"], row["seconds"],
                 " *" if row["best"] else "")

    # ----------------------------------------------------------------- divergence
    def _on_divergence(self, state: StageState, run: StageRun, active: list[str],
                       stats: dict[str, Any], started: float) -> None:
        """Never validate or keep a diverged epoch: log it, restore the stage's last finite best,
        then fail the run (``on_divergence: fail``) or end the stage (``stop_stage``)."""
        self.metrics.append({
            "stage": run.stage.name, "stage_index": run.index, "epoch": state.epoch,
            "global_epoch": self.global_epoch, "trained": active, "switch_count": 0,
            "switched": False, **stats, "valid": {}, "eval_seconds": 0.0,
            "seconds": time.perf_counter() - started, "best": False, "non_finite_loss": True,
            "diverged": True, "on_divergence": self.config.on_divergence})
        restored = self._has_best(state, run.best_path)
        if restored:
            self.model.load_state_dict(load_checkpoint(run.best_path, self.signature)["model"])
        where = where_diverged(run.stage.name, state.epoch, stats)
        if self.config.on_divergence == "fail" or not restored:
            # last.pt stays at the previous (finite) epoch: a resume replays this one
            raise divergence_error(where, run.best_path if restored else None,
                                   self.config.grad_clip)
        log.warning("training diverged in %s; the stage ends at its last finite best "
                    "(training.on_divergence: stop_stage)", where)
        state.epoch += 1
        state.stage_done = True
        self._save_last(state, run, with_alternation=False)

    # ----------------------------------------------------------------- persistence
    def _save_last(self, state: StageState, run: StageRun, with_alternation: bool = True
                   ) -> None:
        if not self.is_main:
            return
        alternation = run.alternation if with_alternation else None
        save_checkpoint(self.checkpoints / "last.pt", {
            "signature": self.signature, "data": self.data_record,
            "model": self.model.state_dict(), "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "alternation": alternation.state_dict() if alternation else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "state": state.__dict__})

    def _save_model(self, path: Path, extra: dict[str, Any] | None = None) -> None:
        if self.is_main:
            save_checkpoint(path, {"signature": self.signature, "data": self.data_record,
                                   "model": self.model.state_dict(), **(extra or {})})

    def _restore(self) -> tuple[StageState, dict[str, Any] | None]:
        path = self.checkpoints / "last.pt"
        if not path.exists():
            log.info("no checkpoint in %s: starting from scratch", self.checkpoints)
            return StageState(), None
        payload = load_checkpoint(path, self.signature)
        self.model.load_state_dict(payload["model"])
        state = StageState(**payload["state"])
        self.metrics.keep_before(state.stage_index, state.epoch)
        log.info("resuming stage %d after epoch %d", state.stage_index, state.epoch)
        return state, payload

    @staticmethod
    def _has_best(state: StageState, best_path: Path) -> bool:
        """Whether ``best_path`` holds this stage's best of this run: a best was recorded in the
        stage state (saved in ``last.pt``, so a resumed run keeps it). A file left by another
        run in the folder is never taken for this run's best."""
        return state.best_metric > -math.inf and best_path.exists()
