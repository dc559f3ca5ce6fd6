"""The training loop every model shares: stages, early stopping, checkpoints, resume, logging.

Determinism: each epoch reseeds every random source from ``(seed, stage, epoch)``, so an epoch
depends only on the model and optimizer state it starts from — which ``last.pt`` stores. Resuming
after a kill therefore replays exactly the epochs an uninterrupted run would have run.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.utils.deterministic
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm.auto import tqdm

from ur4rec.config import RunConfig
from ur4rec.data.cold import cold_item_mask
from ur4rec.data.prepared import PreparedData
from ur4rec.errors import CheckpointError, TrainingDiverged
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.training.batches import TrainingBatches
from ur4rec.training.checkpoint import (
    data_record,
    load_checkpoint,
    model_signature,
    save_checkpoint,
)
from ur4rec.training.ema import ParameterEMA
from ur4rec.training.fusion_selection import select_fusion_weights
from ur4rec.training.losses import SAMPLED_LOSSES, SharedNegatives
from ur4rec.training.objectives import ShardWeights, compute_losses
from ur4rec.training.schedules import AlternatingScheduler, warmup_schedule

log = logging.getLogger(__name__)

_NO_DECAY_HINTS = ("norm", "bias", "log_var", "temperature", "fusion")


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
    (docs/benchmarks.md, "GPU").
    """
    before = torch.are_deterministic_algorithms_enabled()
    before_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    before_fill = torch.utils.deterministic.fill_uninitialized_memory
    on_cuda = enabled and device is not None and device.type == "cuda"
    if not enabled and device is not None and device.type == "cuda":
        log.warning("training.deterministic is false: CUDA's fused attention and index kernels "
                    "add in a varying order, so two runs of one seed can differ in the last "
                    "digits (set training.deterministic: true for repeatable runs; its cost: "
                    "docs/benchmarks.md, \"GPU\")")
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


class LossModule(nn.Module):
    """The model's training objective as a module, so DistributedDataParallel can wrap it."""

    def __init__(self, model: nn.Module, config: Any, excluded: torch.Tensor | None = None,
                 shared: SharedNegatives | None = None) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.excluded = excluded  # [N + 1] bool: items outside the training catalogue (cold)
        self.shared = shared  # the negatives of training.loss: shared_softmax
        # under torchrun: each component's weight by this rank's share of its rows
        self.shard_weights: ShardWeights | None = None

    def forward(self, batch: Any, stage: str, active: list[str],
                generator: torch.Generator) -> dict[str, torch.Tensor]:
        return compute_losses(self.model, batch, stage, self.config, active, generator,
                              self.excluded, self.shared, self.shard_weights)


class Trainer:
    """Runs the configured stages of ``model`` on ``data``, writing into ``run_dir``."""

    def __init__(self, model: nn.Module, model_name: str, data: PreparedData, config: RunConfig,
                 run_dir: Path, device: torch.device, evaluator: Evaluator,
                 progress: bool = True, writer: Any = None, is_main: bool = True,
                 callbacks: list[Callable[[dict[str, Any]], None]] | None = None) -> None:
        self.model = model.to(device)
        self.model_name = model_name
        self.data = data
        self.config = config
        self.train_config = config.training
        self.run_dir = run_dir
        self.device = device
        self.evaluator = evaluator
        self.progress = progress
        self.writer = writer
        self.is_main = is_main
        # called with each epoch's metrics row after it is logged (e.g. Optuna pruning)
        self.callbacks = list(callbacks or [])
        self.signature = model_signature(model, model_name, data.num_users, data.num_items)
        self.data_record = data_record(data)  # in every checkpoint, for training.init_from
        self.batches = TrainingBatches(data, getattr(model, "max_seq_len", 200),
                                       self.train_config.batch_size, self.train_config.sampling,
                                       need_positives=self.train_config.loss in SAMPLED_LOSSES,
                                       device=device, batching=self.train_config.batching)
        self.checkpoints = run_dir / "checkpoints"
        self.metrics_path = run_dir / "metrics.jsonl"
        # mixed precision on CUDA: bf16 where the GPU has it (no scaler needed), else fp16
        self.amp = self.train_config.amp and device.type == "cuda"
        bf16 = self.amp and torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.bfloat16 if bf16 or not self.amp else torch.float16
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp and not bf16)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.distributed: Any = None  # set by ur4rec.training.distributed under torchrun
        excluded = None
        if len(data.cold_items):
            excluded = cold_item_mask(data.num_items, data.cold_items, device)
        shared = None
        if self.train_config.loss == "shared_softmax":  # popularity from the training parts only
            counts = torch.as_tensor(data.train_item_counts, device=device)
            shared = SharedNegatives(counts, self.train_config.num_negatives,
                                     self.train_config.negative_distribution, excluded,
                                     self.train_config.logq_correction)
        self.loss_module = LossModule(self.model, self.train_config, excluded, shared)
        # parameters the model built frozen (e.g. retriever.learn_temperature: false) stay so
        self.frozen = {id(p) for p in self.model.parameters() if not p.requires_grad}
        self.ema: ParameterEMA | None = None

    # ----------------------------------------------------------------- optimisation
    def _optimizer(self, groups: list[str]) -> torch.optim.Optimizer:
        """AdamW over the trained groups; each group its own lr, no decay on norms/biases."""
        named = dict(self.model.named_parameters())
        by_id = {id(p): n for n, p in named.items()}
        param_groups = []
        all_groups = self.model.parameter_groups()
        for group_name, params in all_groups.items():
            train = group_name in groups
            self._set_trainable(params, train)
            params = [p for p in params if id(p) not in self.frozen]
            if not train or not params:
                continue
            lr = (self.train_config.sasrec_lr if group_name == "sasrec"
                  else self.train_config.retriever_lr)
            decay = [p for p in params if p.ndim >= 2
                     and not any(h in by_id[id(p)] for h in _NO_DECAY_HINTS)]
            plain = [p for p in params if not any(p is d for d in decay)]
            for kind, members in (("decay", decay), ("no_decay", plain)):
                if members:
                    param_groups.append({"params": members, "lr": lr, "name": f"{group_name}",
                                         "weight_decay": self.train_config.weight_decay
                                         if kind == "decay" else 0.0})
        if not param_groups:
            raise ValueError(f"no trainable parameters in groups {groups}")
        # one fused kernel per step on CUDA instead of several per parameter tensor
        return torch.optim.AdamW(param_groups, betas=tuple(self.train_config.adam_betas),
                                 fused=self.device.type == "cuda" or None)

    def _set_trainable(self, params: list[nn.Parameter], train: bool) -> None:
        for p in params:
            p.requires_grad_(train and id(p) not in self.frozen)

    def _train_epoch(self, stage: str, active: list[str], optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LambdaLR, generator: torch.Generator,
                     description: str) -> dict[str, Any]:
        self.model.train()
        sums: dict[str, torch.Tensor] = {}
        grad_norms: list[torch.Tensor] = []
        targets = batches = 0
        started = time.perf_counter()
        params = [p for g in optimizer.param_groups for p in g["params"]]
        step_module = self.loss_module
        if self.distributed is not None:
            step_module = self.distributed.wrap(
                self.loss_module, len(self.model.parameter_groups()) > 1)
        show = self.progress and self.is_main
        bar = tqdm(total=len(self.batches), desc=description, leave=False, unit="batch",
                   disable=not show, dynamic_ncols=True)
        for batch in self.batches.epoch(generator):
            if self.distributed is not None:
                batch = self.distributed.shard(batch)
            batch = batch.to(self.device)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                losses = step_module(batch, stage, active, generator)
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(losses["loss"]).backward()
            self.scaler.unscale_(optimizer)
            # values stay on the device until the epoch ends: no host sync per step
            grad_norms.append(torch.nn.utils.clip_grad_norm_(
                params, self.train_config.grad_clip or float("inf")).detach())
            self.scaler.step(optimizer)
            self.scaler.update()
            scheduler.step()
            if self.ema is not None:
                self.ema.update()
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value.detach().float()
            batches += 1
            targets += batch.num_targets
            bar.update(1)
            if show and (batches % 10 == 0 or batches == len(self.batches)):
                self._show_progress(bar, sums, batches, targets, started)
        bar.close()
        memory = getattr(self.model, "memory", None)
        if self.distributed is not None and memory is not None:
            self.distributed.sync_memory(memory)
        if self.distributed is not None:  # every rank logs, and judges divergence on, the same
            sums, targets = self.distributed.epoch_totals(sums, targets, self.device)
        seconds = time.perf_counter() - started
        norms = torch.stack(grad_norms).float().cpu() if grad_norms else torch.zeros(1)
        return {"losses": {k: float(v) / max(batches, 1) for k, v in sums.items()},
                "batches": batches, "targets": targets, "train_seconds": seconds,
                "grad_norm": float(norms.mean()), "grad_norm_max": float(norms.max()),
                "lr": {g["name"]: g["lr"] for g in optimizer.param_groups}}

    def _show_progress(self, bar: Any, sums: dict[str, torch.Tensor], batches: int,
                       targets: int, started: float) -> None:
        """Targets per second, and the running loss where reading it is free (on an
        accelerator it would make the host wait for the device: shown at the epoch's end)."""
        postfix = {"targets_per_s": f"{targets / max(time.perf_counter() - started, 1e-9):.0f}"}
        if self.device.type == "cpu" or batches == len(self.batches):
            postfix["loss"] = f"{float(sums['loss']) / batches:.4f}"
        bar.set_postfix(postfix)

    # ----------------------------------------------------------------- persistence
    def _save_last(self, state: StageState, optimizer: torch.optim.Optimizer,
                   scheduler: Any, alternation: AlternatingScheduler | None) -> None:
        if not self.is_main:
            return
        save_checkpoint(self.checkpoints / "last.pt", {
            "signature": self.signature, "data": self.data_record,
            "model": self.model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
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
        self._truncate_metrics(state)
        log.info("resuming stage %d after epoch %d", state.stage_index, state.epoch)
        return state, payload

    def _truncate_metrics(self, state: StageState) -> None:
        """Drop log lines of epochs after the checkpoint (a kill can leave one more)."""
        if not self.metrics_path.exists() or not self.is_main:
            return
        kept = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if (row["stage_index"], row["epoch"]) < (state.stage_index, state.epoch):
                kept.append(line)
        self.metrics_path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")

    def _log_epoch(self, row: dict[str, Any]) -> None:
        if not self.is_main:
            return
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        if self.writer is not None:
            step = row["global_epoch"]
            for key, value in row["losses"].items():
                self.writer.add_scalar(f"loss/{key}", value, step)
            for protocol, metrics in row["valid"].items():
                for key, value in metrics.items():
                    self.writer.add_scalar(f"valid_{protocol}/{key}", value, step)
            self.writer.add_scalar("grad_norm", row["grad_norm"], step)

    def _validate(self, selection: tuple[str, str]) -> tuple[dict[str, Any], float]:
        """Validation metrics and the selection metric; under torchrun every rank takes rank 0's
        value, so all ranks make the same early-stopping decision."""
        valid = self.evaluator.evaluate(self.model, "valid", self.device).metrics
        metric = valid[selection[0]][selection[1]]
        if self.distributed is not None:
            metric = self.distributed.broadcast_float(metric, self.device)
        return valid, metric

    def _start_from_current(self, state: StageState, stage: str, best_path: Path,
                            selection: tuple[str, str]) -> None:
        """The weights a later stage starts from are its first candidate for best: a stage that
        cannot improve validation leaves the model as it found it (epoch -1 in the summary)."""
        _, metric = self._validate(selection)
        state.best_metric, state.best_epoch = metric, -1
        self._save_model(best_path, {"stage": stage, "epoch": -1})
        log.info("%s starts at valid %s %s %.4f (kept unless an epoch beats it)", stage,
                 selection[0], selection[1], metric)

    @staticmethod
    def _has_best(state: StageState, best_path: Path) -> bool:
        """Whether ``best_path`` holds this stage's best of this run: a best was recorded in the
        stage state (saved in ``last.pt``, so a resumed run keeps it). A file left by another
        run in the folder is never taken for this run's best."""
        return state.best_metric > -math.inf and best_path.exists()

    def _diverged(self, stats: dict[str, Any]) -> bool:
        """A non-finite mean loss, or a non-finite gradient norm (except the skipped steps of an
        fp16 loss scaler, which are how it finds its scale)."""
        if not math.isfinite(stats["losses"]["loss"]):
            return True
        return not self.scaler.is_enabled() and not math.isfinite(stats["grad_norm_max"])

    def _on_divergence(self, state: StageState, stage: str, stage_index: int,
                       global_epoch: int, active: list[str], stats: dict[str, Any],
                       best_path: Path, started: float, optimizer: torch.optim.Optimizer,
                       scheduler: Any) -> None:
        """Never validate or keep a diverged epoch: log it, restore the stage's last finite best,
        then fail the run (``on_divergence: fail``) or end the stage (``stop_stage``)."""
        epoch = state.epoch
        lrs = ", ".join(f"{name} {lr:g}" for name, lr in stats["lr"].items())
        row = {"stage": stage, "stage_index": stage_index, "epoch": epoch,
               "global_epoch": global_epoch, "trained": active, "switch_count": 0,
               "switched": False, **stats, "valid": {}, "eval_seconds": 0.0,
               "seconds": time.perf_counter() - started, "best": False,
               "non_finite_loss": True, "diverged": True,
               "on_divergence": self.train_config.on_divergence}
        self._log_epoch(row)
        restored = self._has_best(state, best_path)
        if restored:
            self.model.load_state_dict(load_checkpoint(best_path, self.signature)["model"])
        where = (f"stage {stage}, epoch {epoch + 1}: loss {stats['losses']['loss']:g}, "
                 f"gradient norm max {stats['grad_norm_max']:g}, lr {lrs}")
        if self.train_config.on_divergence == "fail" or not restored:
            # last.pt stays at the previous (finite) epoch: a resume replays this one
            kept = (f"the last finite weights are in {best_path}" if restored
                    else "no finite epoch to keep")
            clip = ("" if self.train_config.grad_clip is not None
                    else " or set training.grad_clip (e.g. 1.0)")
            raise TrainingDiverged(f"training diverged in {where}; {kept}. Lower the learning "
                                   f"rate (training.sasrec_lr / training.retriever_lr){clip}")
        log.warning("training diverged in %s; the stage ends at its last finite best "
                    "(training.on_divergence: stop_stage)", where)
        state.epoch += 1
        state.stage_done = True
        self._save_last(state, optimizer, scheduler, None)

    # ----------------------------------------------------------------- main loop
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train every stage; returns per-stage summaries. The model ends at its best weights."""
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        state, payload = self._restore() if resume else (StageState(), None)
        if not resume and self.metrics_path.exists() and self.is_main:
            self.metrics_path.unlink()
        stages = self.config.resolved_stages()
        selection = (self.config.evaluation.protocol, self.config.evaluation.metric)
        global_epoch = sum(s["epochs"] for s in state.stage_summaries) + state.epoch
        for stage_index, stage in enumerate(stages):
            if stage_index < state.stage_index or state.finished:
                continue
            best_path = self.checkpoints / f"best_{stage}.pt"
            groups = self.model.stage_groups(stage)
            optimizer = self._optimizer(groups)
            total_steps = self.train_config.epochs_per_stage * len(self.batches)
            scheduler = warmup_schedule(optimizer, self.train_config.warmup_steps, total_steps,
                                        self.train_config.schedule)
            alternation = None
            if stage == "joint_finetune" and len(groups) > 1:
                alternation = AlternatingScheduler(
                    groups, self.train_config.use_adaptive_alternating,
                    self.train_config.adaptive_switch_threshold,
                    self.train_config.adaptive_min_steps, self.train_config.alternate_every)
            self.ema = (ParameterEMA(self.model, self.train_config.ema_decay)
                        if self.train_config.ema_decay else None)
            if payload is not None and stage_index == state.stage_index and state.epoch > 0:
                if self.ema is not None and payload.get("ema") is not None:
                    self.ema.load_state_dict(payload["ema"])
                optimizer.load_state_dict(payload["optimizer"])
                scheduler.load_state_dict(payload["scheduler"])
                if alternation and payload.get("alternation"):
                    alternation.load_state_dict(payload["alternation"])
            payload = None
            on_stage = getattr(self.model, "on_stage_start", None)
            if on_stage is not None:
                on_stage(stage)
            if stage_index > 0 and state.epoch == 0 and not state.stage_done:
                self._start_from_current(state, stage, best_path, selection)
            while state.epoch < self.train_config.epochs_per_stage and not state.stage_done:
                epoch = state.epoch
                generator = seed_everything(self.train_config.seed, stage_index, epoch)
                active = [alternation.current] if alternation else groups
                for group_name, params in self.model.parameter_groups().items():
                    self._set_trainable(params, group_name in active)
                on_epoch = getattr(self.model, "on_epoch_start", None)
                if on_epoch is not None:
                    on_epoch()
                started, started_at = time.perf_counter(), time.time()
                stats = self._train_epoch(stage, active, optimizer, scheduler, generator,
                                          f"{stage} {epoch + 1}/{self.train_config.epochs_per_stage}")
                switched = False
                if alternation is not None:
                    component = {"retriever": "retrieval"}.get(alternation.current,
                                                               alternation.current)
                    trained_loss = stats["losses"].get(component, stats["losses"]["loss"])
                    switched = alternation.step(trained_loss)
                if self._diverged(stats):
                    self._on_divergence(state, stage, stage_index, global_epoch, active, stats,
                                        best_path, started, optimizer, scheduler)
                    break
                eval_started = time.perf_counter()
                with self.ema.swapped() if self.ema is not None else nullcontext():
                    valid, metric = self._validate(selection)
                eval_seconds = time.perf_counter() - eval_started
                improved = metric > state.best_metric
                if improved:
                    state.best_metric, state.best_epoch, state.bad_epochs = metric, epoch, 0
                    with self.ema.swapped() if self.ema is not None else nullcontext():
                        self._save_model(best_path, {"stage": stage, "epoch": epoch})
                else:
                    state.bad_epochs += 1
                state.epoch += 1
                state.train_seconds += stats["train_seconds"]
                extra = getattr(self.model, "epoch_statistics", lambda: {})()
                row = {"stage": stage, "stage_index": stage_index, "epoch": epoch,
                       "global_epoch": global_epoch, "trained": active,
                       "switch_count": alternation.switch_count if alternation else 0,
                       "switched": switched, **stats, "valid": valid,
                       "eval_seconds": eval_seconds,
                       "seconds": time.perf_counter() - started, "started_at": started_at,
                       "best": improved,
                       "selection": f"{selection[0]} {selection[1]}", **extra}
                self._log_epoch(row)
                for callback in self.callbacks:
                    callback(row)
                global_epoch += 1
                log.info("%s epoch %d: loss %.4f | valid %s %s %.4f (full ndcg@10 %.4f) | "
                         "%.2fs%s", stage, epoch + 1, stats["losses"]["loss"], selection[0],
                         selection[1], metric, valid["full"]["ndcg@10"], row["seconds"],
                         " *" if improved else "")
                stop = state.bad_epochs >= self.train_config.patience
                state.stage_done = stop
                self._save_last(state, optimizer, scheduler, alternation)
                if stop:
                    break
            if self._has_best(state, best_path):
                best = load_checkpoint(best_path, self.signature)
                self.model.load_state_dict(best["model"])
            state.stage_summaries.append({"stage": stage, "best_epoch": state.best_epoch,
                                          "best_metric": state.best_metric, "epochs": state.epoch})
            state.stage_index = stage_index + 1
            state.epoch, state.best_metric, state.best_epoch, state.bad_epochs = 0, -math.inf, -1, 0
            state.stage_done = False
            self._save_last(state, optimizer, scheduler, None)
        state.finished = True
        finish = getattr(self.model, "on_training_end", None)
        if finish is not None:
            finish(stages, self.config.training.init_from is not None)
        summary = {"stages": state.stage_summaries, "train_seconds": state.train_seconds}
        fusion_config = self.config.fusion
        if (fusion_config.select_weights and fusion_config.method == "weighted"
                and getattr(self.model, "scoring", None) == "fused"):
            summary["fusion_selection"] = select_fusion_weights(
                self.model, self.evaluator, self.device, selection)
            log.info("fusion weights chosen on validation: sasrec %.2f, retriever %.2f",
                     summary["fusion_selection"]["sasrec_weight"],
                     summary["fusion_selection"]["retriever_weight"])
        self._save_model(self.checkpoints / "final.pt")
        return summary
