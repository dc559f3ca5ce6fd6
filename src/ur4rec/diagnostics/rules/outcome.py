"""Rules on what the run achieved: chance-level metrics, overfitting, size, leaking texts.

Thresholds are named constants documented in ``docs/diagnosis.md``.
"""

from __future__ import annotations

import math

from ur4rec.diagnostics.findings import CRITICAL, NOTE, WARNING, Finding, not_measured
from ur4rec.diagnostics.runlog import EpochRecord, RunLog
from ur4rec.evaluation.metrics import random_guess_expectation

# chance level: every checked metric at most this many times its random-guess expectation
CHANCE_RATIO_MAX = 1.5
# below this ratio the scores are probably tied (pessimistic ties rank a constant model last)
BELOW_CHANCE_RATIO = 0.5
CHANCE_METRICS = ("hit@5", "hit@10", "ndcg@10", "mrr")

# overfitting: after the best validation epoch at least this many epochs ran …
OVERFIT_MIN_EPOCHS_AFTER_BEST = 3
# … during which training loss kept falling by at least this fraction of its value at the best
OVERFIT_MIN_LOSS_DROP = 0.10
# … and that late fall is at least this share of the whole stage's fall
OVERFIT_LATE_LOSS_SHARE = 0.5

# size: trainable parameters per logged interaction above which the model can memorise the data
MAX_PARAMETERS_PER_INTERACTION = 50.0


def chance_level(run: RunLog) -> Finding | None:
    """Sampled metrics no better than a random guess among ``num_candidates`` candidates."""
    title = "Metrics at chance level"
    final = run.final_metrics("sampled")
    if final is None:
        return not_measured("chance_level", title, "no results.json and no validation epoch")
    metrics, source = final
    ks = sorted({int(key.split("@")[1]) for key in metrics if "@" in key})
    chance = random_guess_expectation(run.num_candidates, ks or [5, 10, 20])
    checked = [m for m in CHANCE_METRICS if m in metrics and m in chance and chance[m] > 0]
    if not checked:
        return not_measured("chance_level", title, f"{source} has none of {CHANCE_METRICS}")
    ratios = {m: metrics[m] / chance[m] for m in checked}
    if max(ratios.values()) > CHANCE_RATIO_MAX:
        return None
    evidence: dict[str, object] = {"source": source, "candidates per user": run.num_candidates}
    for metric in checked:
        evidence[metric] = (f"{metrics[metric]:.4f} (chance {chance[metric]:.4f}, "
                            f"{ratios[metric]:.2f}x)")
    detail = (f"Every checked metric is within {CHANCE_RATIO_MAX}x of what a random ranking of "
              f"{run.num_candidates} candidates gets (hit@k = k/{run.num_candidates}).")
    if max(ratios.values()) < BELOW_CHANCE_RATIO:
        detail += (" Far *below* chance: the scores are probably tied or constant — with "
                   f"`evaluation.ties: {run.config.evaluation.ties}` ties rank above the target.")
    return Finding("chance_level", CRITICAL, title, evidence, detail=detail, suggestion=(
        "Fix the other findings first: the measured causes of the prototype's chance-level run "
        "were one target per user per epoch, a SASRec reading a padding position and model "
        "selection on noise — not model size or learning rate. Then compare with the popularity baseline on the same data (`model: pop`, "
        "`ur4rec compare RUN POP_RUN`): a model below it is broken, not under-tuned."))


def _selection(run: RunLog, record: EpochRecord) -> tuple[str, str]:
    if record.selection and " " in record.selection:
        protocol, metric = record.selection.split(" ", 1)
        return protocol, metric
    return run.config.evaluation.protocol, run.config.evaluation.metric


def _late_loss_drop(run: RunLog, records: list[EpochRecord]) -> dict[str, float] | None:
    """Loss and validation figures of a stage whose loss fell mostly after its best epoch."""
    protocol, metric = _selection(run, records[0])
    values = [r.valid_metric(protocol, metric) for r in records]
    losses = [r.loss for r in records]
    if any(v is None for v in values) or not all(math.isfinite(x) for x in losses):
        return None
    best = max(range(len(values)), key=lambda i: (values[i], -i))
    after = len(records) - 1 - best
    total_drop = losses[0] - losses[-1]
    late_drop = losses[best] - losses[-1]
    if after < OVERFIT_MIN_EPOCHS_AFTER_BEST or total_drop <= 0 or losses[best] == 0:
        return None
    relative = late_drop / abs(losses[best])
    share = late_drop / total_drop
    if relative < OVERFIT_MIN_LOSS_DROP or share < OVERFIT_LATE_LOSS_SHARE:
        return None
    return {"best epoch": best, "epochs": len(records), "epochs after best": after,
            "training loss at best": losses[best], "training loss at end": losses[-1],
            "loss fall after best (relative)": relative, "share of the stage's fall": share,
            f"valid {protocol} {metric} at best": values[best],
            f"valid {protocol} {metric} at end": values[-1]}


def overfitting(run: RunLog) -> Finding | None:
    """Training loss keeps falling after validation has stopped improving."""
    flagged = {}
    for stage in run.stages():
        figures = _late_loss_drop(run, run.stage_epochs(stage))
        if figures is not None:
            flagged[stage] = figures
    if not flagged:
        return None
    stage = max(flagged, key=lambda s: flagged[s]["loss fall after best (relative)"])
    training = run.config.training
    if training.sampling == "last_item":
        change = ("Every epoch shows the model the same single target per user "
                  "(`training.sampling: last_item`), which it memorises: set "
                  "`training.sampling: seq2seq`.")
    else:
        branch = "retriever" if stage == "pretrain_retriever" else "sasrec"
        dropout = getattr(run.config, branch).dropout
        change = (f"Regularise: raise `{branch}.dropout` from {dropout:g} to "
                  f"{min(dropout + 0.2, 0.5):g} or `training.weight_decay` from "
                  f"{training.weight_decay:g} to {max(training.weight_decay * 10, 0.01):g}.")
    change += (f" The evaluated weights are those of the best epoch, so lowering "
               f"`training.patience` (now {training.patience}) only saves time.")
    return Finding("overfitting", WARNING, f"Overfitting in {stage}",
                   {"stage": stage, **flagged[stage]}, suggestion=change, detail=(
                       "Most of the training-loss fall came after the best validation epoch: "
                       "the model learns the training targets, not what generalises."))


def still_improving(run: RunLog) -> Finding | None:
    """A stage that ran all its epochs and was still improving at the last one."""
    epochs_per_stage = run.config.training.epochs_per_stage
    stages = [s for s in run.stages() if len(run.stage_epochs(s)) >= epochs_per_stage
              and run.stage_epochs(s)[-1].best]
    if not stages:
        return None
    return Finding("still_improving", NOTE, "Stopped while still improving",
                   {"stages": stages, "epochs per stage": epochs_per_stage},
                   detail="The last epoch of the stage was its best on validation.",
                   suggestion=(f"Raise `training.epochs_per_stage` from {epochs_per_stage} to "
                               f"{epochs_per_stage * 2} (early stopping with `training.patience` "
                               "ends the stage when validation stops improving)."))


def too_many_parameters(run: RunLog) -> Finding | None:
    """Far more trainable parameters than interactions to fit them on."""
    parameters = run.info.get("parameters") or (run.results or {}).get("parameters")
    dataset = run.info.get("dataset", {})
    interactions, users = dataset.get("interactions"), dataset.get("users")
    if not parameters or not interactions:
        return not_measured("too_many_parameters", "Parameters per user",
                            "run.json lacks parameters or dataset.interactions")
    ratio = parameters / interactions
    if ratio <= MAX_PARAMETERS_PER_INTERACTION:
        return None
    dims = f"`sasrec.hidden_dim` from {run.config.sasrec.hidden_dim} to " \
           f"{max(run.config.sasrec.hidden_dim // 2, 8)}"
    if run.model in ("retriever", "ur4rec"):
        dims += (f" and `retriever.output_dim` from {run.config.retriever.output_dim} to "
                 f"{max(run.config.retriever.output_dim // 2, 8)}")
    return Finding("too_many_parameters", WARNING, "Parameters per user far above the data", {
        "trainable parameters": int(parameters), "users": users,
        "parameters per user": parameters / max(users or 1, 1),
        "interactions": int(interactions), "parameters per interaction": ratio,
        "threshold (parameters per interaction)": MAX_PARAMETERS_PER_INTERACTION},
        detail="Counted without frozen text encoders (the prototype's '27 M' counted MiniLM).",
        suggestion=(f"Halve the widths: {dims} (parameters scale with the square of the width). "
                    "Size alone does not put metrics at chance; act on it together with an "
                    "overfitting finding."))


def leaky_texts(run: RunLog) -> Finding | None:
    """User texts that may name validation or test items, or item texts that may quote
    held-out interactions (e.g. a cold item's viewers), inflate the metrics."""
    texts = run.info.get("texts") or (run.results or {}).get("texts") or {}
    if not ((run.results or {}).get("leaky") or texts.get("possibly_leaking")):
        return None
    items = (texts.get("sides") or {}).get("items") or {}
    users = (texts.get("sides") or {}).get("users") or {}
    if items.get("possibly_leaking") and not users.get("possibly_leaking"):
        return Finding("leaky_texts", CRITICAL, "Item texts may quote held-out interactions",
                       {"item texts from": items.get("dir"), "why": items.get("reason")},
                       detail="Item texts written from other data (or of unknown origin) may "
                              "describe interactions this run holds out — on cold data, how "
                              "its new items were received.",
                       suggestion=("Write the item texts from this run's own data (`ur4rec "
                                   "texts generate` with its data config), or with "
                                   "`texts.item_statistics: false` (content only)."))
    return Finding("leaky_texts", CRITICAL, "User texts may leak validation/test items",
                   {"texts backend": run.config.texts.backend,
                    "possibly leaking": texts.get("possibly_leaking", True)},
                   detail="A user text written from the full history names the held-out items.",
                   suggestion=("Regenerate the user texts from the training part of each "
                               "history only (e.g. `texts.backend: template`), instead of "
                               "importing texts written from the whole history."))
