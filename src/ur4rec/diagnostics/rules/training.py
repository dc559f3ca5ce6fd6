"""Rules on how training went: targets and steps per epoch, learning rate, warm-up.

Thresholds are named constants documented in ``docs/diagnosis.md``.
"""

from __future__ import annotations

import math
import statistics

from ur4rec.diagnostics.findings import CRITICAL, WARNING, Finding, not_measured
from ur4rec.diagnostics.runlog import EpochRecord, RunLog

# fewer training targets per user per epoch than this: each epoch repeats a handful of pairs
MIN_TARGETS_PER_USER = 2.0
# fewer optimizer steps per epoch than this: validation and patience react to almost no updates
MIN_BATCHES_PER_EPOCH = 5
# an epoch's loss above this multiple of the lowest earlier loss of its stage: exploding
LOSS_EXPLOSION_FACTOR = 2.0
# learning rate too low: over the first LR_FLAT_WINDOW epochs a group is trained (at least
# LR_FLAT_MIN_EPOCHS) its loss falls by less than LR_FLAT_REL_DROP of its first value
LR_FLAT_WINDOW = 5
LR_FLAT_MIN_EPOCHS = 3
LR_FLAT_REL_DROP = 0.05

# the loss component each parameter group is trained on
GROUP_COMPONENTS = {"sasrec": "sasrec", "retriever": "retrieval"}


def lr_key(group: str) -> str:
    return "retriever_lr" if group == "retriever" else "sasrec_lr"


def _trained_epochs(run: RunLog) -> list[EpochRecord]:
    return [r for r in run.epochs if r.batches]


def too_few_targets(run: RunLog) -> Finding | None:
    """Training targets per user per epoch (``targets`` / users): the prototype had one."""
    title = "Too few training targets per epoch"
    epochs = [r for r in _trained_epochs(run) if r.targets is not None]
    if not run.epochs:
        return None
    if not epochs or not run.num_users:
        return not_measured("too_few_targets", title,
                            "metrics.jsonl lacks `targets` or run.json lacks dataset.users")
    targets = statistics.median(r.targets for r in epochs)
    per_user = targets / run.num_users
    if per_user >= MIN_TARGETS_PER_USER:
        return None
    dataset = run.info.get("dataset", {})
    available = max(int(dataset.get("interactions", 0)) - 3 * run.num_users, 0)
    if run.config.training.sampling == "last_item":
        change = ("Set `training.sampling: seq2seq`: every position of a training history then "
                  f"predicts its next item — up to {available:,} targets per epoch (fewer where "
                  f"histories exceed `sasrec.max_seq_len`) instead of {int(targets):,}.")
    else:
        change = ("The histories are too short to train a sequence model: keep more of each "
                  "history (`data.min_rating`, `data.min_user_interactions`).")
    return Finding("too_few_targets", CRITICAL, title, {
        "targets per epoch (median)": int(targets), "users": run.num_users,
        "targets per user per epoch": per_user, "threshold": MIN_TARGETS_PER_USER,
        "training.sampling": run.config.training.sampling}, suggestion=change, detail=(
            "Each epoch shows the model about one fixed (history, next item) pair per user, "
            "which it memorises; more epochs, a smaller batch or more negatives do not add "
            "targets."))


def too_few_batches(run: RunLog) -> Finding | None:
    """Optimizer steps per epoch: very few make each epoch (and patience) nearly meaningless."""
    epochs = [r for r in run.epochs if r.batches is not None]
    if not epochs:
        return None
    batches = statistics.median(r.batches for r in epochs)
    if batches >= MIN_BATCHES_PER_EPOCH:
        return None
    size = run.config.training.batch_size
    active = run.info.get("batches_per_epoch", batches) * size
    suggested = max(1, math.ceil(active / (MIN_BATCHES_PER_EPOCH * 2)))
    return Finding("too_few_batches", WARNING, "Too few optimizer steps per epoch", {
        "batches per epoch (median)": batches, "threshold": MIN_BATCHES_PER_EPOCH,
        "training.batch_size": size}, detail=(
            "Validation, early stopping and the learning-rate schedule count epochs; with so "
            "few steps each epoch changes the model very little."),
        suggestion=f"Lower `training.batch_size` from {size} to {min(suggested, size)} "
                   f"(about {MIN_BATCHES_PER_EPOCH * 2} steps per epoch).")


def _exploding(records: list[EpochRecord]) -> tuple[EpochRecord, str, float, float] | None:
    """The first epoch whose loss (or a component) is non-finite or jumps above its minimum.

    Minima are kept per set of trained groups: alternation changes what the total loss sums.
    """
    lowest: dict[tuple[str, tuple[str, ...]], float] = {}
    for record in records:
        if record.non_finite_loss:
            return record, "loss", record.loss, lowest.get(("loss", record.trained), math.nan)
        for key, value in record.losses.items():
            slot = (key, record.trained)
            if not math.isfinite(value):
                return record, key, value, lowest.get(slot, math.nan)
            floor = lowest.get(slot)
            if floor is not None and floor > 0 and value > LOSS_EXPLOSION_FACTOR * floor:
                return record, key, value, floor
            lowest[slot] = value if floor is None else min(floor, value)
    return None


def learning_rate_too_high(run: RunLog) -> Finding | None:
    """A NaN/inf loss, or a loss that jumps above twice its lowest value in the stage."""
    for stage in run.stages():
        hit = _exploding(run.stage_epochs(stage))
        if hit is None:
            continue
        record, key, value, floor = hit
        changes = [f"`training.{lr_key(g)}` from {getattr(run.config.training, lr_key(g)):g} to "
                   f"{getattr(run.config.training, lr_key(g)) / 10:g}"
                   for g in (record.trained or ("sasrec",))]
        suggestion = "Lower " + " and ".join(changes) + "."
        if run.config.training.grad_clip is None:
            suggestion += " Set `training.grad_clip: 1.0`."
        return Finding("learning_rate_too_high", CRITICAL, "Learning rate too high: loss "
                       + ("not finite" if not math.isfinite(value) else "exploding"), {
                           "stage": stage, "epoch": record.epoch, "loss component": key,
                           "value": value, "lowest earlier value": floor,
                           "explosion factor": LOSS_EXPLOSION_FACTOR,
                           "grad norm max": record.grad_norm_max, "lr": record.lr},
                       suggestion=suggestion, detail=(
                           "Training stops at a non-finite loss; an exploding loss means the "
                           "steps overshoot."))
    return None


def _first_trained_window(run: RunLog, group: str) -> tuple[str, list[float]] | None:
    """Stage and losses of the first LR_FLAT_WINDOW epochs that train ``group``."""
    for stage in run.stages():
        records = [r for r in run.stage_epochs(stage) if group in r.trained]
        if not records:
            continue
        key = GROUP_COMPONENTS.get(group)
        if key not in records[0].losses:
            key = "loss" if len(records[0].trained) == 1 else None
        if key is None:
            return None
        return stage, [r.losses.get(key, math.nan) for r in records[:LR_FLAT_WINDOW]]
    return None


def learning_rate_too_low(run: RunLog) -> Finding | None:
    """The loss barely moves over the first epochs a module is trained."""
    for group in GROUP_COMPONENTS:
        window = _first_trained_window(run, group)
        if window is None:
            continue
        stage, losses = window
        if len(losses) < LR_FLAT_MIN_EPOCHS or not all(math.isfinite(x) for x in losses):
            continue
        drop = (losses[0] - losses[-1]) / abs(losses[0]) if losses[0] else 0.0
        if abs(drop) >= LR_FLAT_REL_DROP:
            continue
        key = lr_key(group)
        lr = getattr(run.config.training, key)
        return Finding("learning_rate_too_low", WARNING, f"Learning rate too low: {group} loss "
                       "flat", {"stage": stage, "epochs": len(losses), "loss first": losses[0],
                                "loss last": losses[-1], "relative fall": drop,
                                "threshold": LR_FLAT_REL_DROP, f"training.{key}": lr},
                       suggestion=(f"Raise `training.{key}` from {lr:g} to {lr * 10:g} "
                                   "(Adam on SASRec-sized models trains well at 1e-3 to 3e-3)."),
                       detail=(f"Over its first {len(losses)} trained epochs the {group} loss "
                               f"fell by {drop:.1%}; a working learning rate moves it more."))
    return None


def warmup_never_ends(run: RunLog) -> Finding | None:
    """A stage shorter than the warm-up never trains at the configured learning rate."""
    warmup = run.config.training.warmup_steps
    for stage in run.stages():
        steps = sum(r.batches or 0 for r in run.stage_epochs(stage))
        if warmup and 0 < steps < warmup:
            return Finding("warmup_never_ends", WARNING, "Warm-up longer than the stage", {
                "stage": stage, "optimizer steps in stage": steps,
                "training.warmup_steps": warmup},
                detail="The learning rate was still ramping up when the stage ended.",
                suggestion=(f"Lower `training.warmup_steps` from {warmup} to "
                            f"{max(steps // 10, 1)} (about a tenth of the stage's steps)."))
    return None
