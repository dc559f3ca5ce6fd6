"""What each model is trained to minimise, per stage; returns the loss and its logged parts.

UR4Rec's components:

- ``sasrec``: SASRec's next-item loss at every position of the training prefix;
- ``retrieval``: the retriever's softmax over the catalogue at ``retriever.train_positions``
  positions among each user's last ``retriever.train_window`` (each target predicted only from
  the items before it; the training-view user text and the memory are written from the items
  before the window, so no training position reads its own target or anything after it);
- ``fused``: the softmax of the fused scores at those same positions.

Per stage: ``pretrain_sasrec`` → sasrec; ``pretrain_retriever`` → retrieval; ``joint_finetune``
→ fused + the loss of the module trained this epoch; ``end_to_end`` → all three, summed or, with
``use_uncertainty_weighting``, as Σ exp(−s_i)·L_i + s_i with learned log-variances s_i
(Kendall et al., 2018).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ur4rec.config import TrainingConfig
from ur4rec.models.sasrec import SASRec
from ur4rec.models.ur4rec import LOSS_COMPONENTS, UR4Rec
from ur4rec.training.batches import TrainBatch
from ur4rec.training.losses import (
    SharedNegatives,
    kept_items,
    next_item_loss,
    real_targets,
    sample_negatives,
    shared_negative_cross_entropy,
    shared_softmax,
    weighted_mean,
)


def sequence_loss(model: SASRec, hidden: torch.Tensor, batch: TrainBatch, kind: str,
                  num_negatives: int, generator: torch.Generator | None = None,
                  excluded: torch.Tensor | None = None, shared: SharedNegatives | None = None
                  ) -> torch.Tensor:
    """SASRec's next-item loss at every position that has a target (seq-to-seq); ``excluded``
    items (cold ones) are neither in the softmax nor sampled as negatives. ``shared_softmax``
    draws its negatives from ``shared`` (built once by the trainer). With
    ``sasrec.item_text_align_weight`` the item-text adapter's alignment term is added."""
    loss = _next_item_loss(model, hidden, batch, kind, num_negatives, generator, excluded, shared)
    align = model.alignment_loss()
    return loss if align is None else loss + align


def fixed_shapes(device: torch.device) -> bool:
    """Whether losses take every padded position with a 0/1 weight (an accelerator: a boolean
    row selection would make the host wait for the device once per step) or select the real
    targets (the CPU, where selecting is free and the loss then skips the padding)."""
    return device.type != "cpu"


def _next_item_loss(model: SASRec, hidden: torch.Tensor, batch: TrainBatch, kind: str,
                    num_negatives: int, generator: torch.Generator | None,
                    excluded: torch.Tensor | None, shared: SharedNegatives | None
                    ) -> torch.Tensor:
    present = batch.targets > 0
    if fixed_shapes(hidden.device):
        def rows(t: torch.Tensor) -> torch.Tensor:
            return t.flatten(0, 1)
        weights: torch.Tensor | None = rows(present)
    else:
        def rows(t: torch.Tensor) -> torch.Tensor:
            return t[present]
        weights = None
    if kind == "shared_softmax":
        if shared is None:
            raise ValueError("loss 'shared_softmax' needs a SharedNegatives sampler")
        return shared_softmax(rows(hidden), rows(batch.targets), shared.draw(generator),
                              model.item_embeddings, shared.correction, weights)
    negatives = None
    if kind != "ce":
        length = batch.targets.shape[1]
        positives = batch.positives
        if excluded is not None:
            positives = positives | excluded.unsqueeze(0)  # never drawn as a negative
        drawn = sample_negatives(positives, length * num_negatives, generator)
        negatives = rows(drawn.view(len(drawn), length, num_negatives))
    return next_item_loss(kind, rows(hidden), rows(batch.targets), model.item_embeddings,
                          negatives, excluded, weights)


def window_start(targets: torch.Tensor, window: int) -> torch.Tensor:
    """``[B]`` first target position of each row's last ``window`` positions: the retriever's
    training targets lie at or after it, and the user text and memory it reads in training are
    written only from the items before its target (``inputs[..start]``)."""
    return ((targets > 0).sum(dim=1) - window).clamp(min=0)


def last_positions(targets: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The last ``count`` target positions of each right-padded row ``[B, count]`` and a mask of
    which exist (short rows have fewer)."""
    lengths = (targets > 0).sum(dim=1, keepdim=True)
    positions = lengths - 1 - torch.arange(count, device=targets.device).flip(0).unsqueeze(0)
    return positions.clamp(min=0), positions >= 0


def random_positions(targets: torch.Tensor, count: int, generator: torch.Generator | None,
                     start: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` distinct target positions per row drawn uniformly (fresh every epoch) at or
    after ``start`` ``[B]``, sorted, and a mask of which exist — so a model cannot memorise a
    fixed set of targets per user."""
    on_cpu = targets.device.type == "cpu"
    keys = torch.rand(targets.shape, device=targets.device,
                      generator=generator if on_cpu else None)
    eligible = targets > 0
    if start is not None:
        columns = torch.arange(targets.shape[1], device=targets.device)
        eligible &= columns.unsqueeze(0) >= start.unsqueeze(1)
    keys = keys.masked_fill(~eligible, -1.0)
    count = min(count, targets.shape[1])
    chosen, positions = keys.topk(count, dim=1)
    positions, order = positions.sort(dim=1)
    return positions, chosen.gather(1, order) >= 0


def _softmax_loss(scores: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor
                  ) -> torch.Tensor:
    """Cross-entropy of ``[B, P, M]`` scores over the training catalogue for ``targets``
    (1-based column + 1), over the ``valid`` positions (see :func:`fixed_shapes`)."""
    if not fixed_shapes(scores.device):
        return F.cross_entropy(scores[valid], targets[valid] - 1)
    weights = valid.flatten()
    losses = F.cross_entropy(scores.flatten(0, 1), real_targets(targets.flatten(), weights) - 1,
                             reduction="none")
    return weighted_mean(losses, weights)


class SampledCatalogue:
    """The retriever's (and the fusion's) shared-negative softmax (``training.loss:
    shared_softmax``): the batch is scored over ``columns`` — its targets and the shared
    ``negatives`` ``[K]`` — only, so a step costs K + targets item vectors, not the catalogue.

    Each valid position's logits are its own target and the K negatives, scored as
    ``losses.shared_negative_cross_entropy`` scores them (log-Q, accidental hits masked).
    The fusion standardises each user's scores over these columns instead of the catalogue.
    """

    def __init__(self, targets: torch.Tensor, valid: torch.Tensor, negatives: torch.Tensor,
                 log_q: torch.Tensor | None) -> None:
        self.targets = targets[valid]  # [R] the valid positions' targets
        items = torch.unique(torch.cat([self.targets, negatives]))  # 1-based, sorted
        self.columns = items - 1  # [M] 0-based, as branch_scores takes them
        self.valid, self.negatives, self.log_q = valid, negatives, log_q
        self.target_columns = torch.searchsorted(items, self.targets)  # [R]
        self.negative_columns = torch.searchsorted(items, negatives)  # [K]

    def loss(self, scores: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the valid positions of ``scores`` ``[B, P, M]``."""
        rows = scores[self.valid]  # [R, M]
        pos = rows.gather(-1, self.target_columns.unsqueeze(-1))  # [R, 1]
        return shared_negative_cross_entropy(pos, rows[:, self.negative_columns], self.targets,
                                             self.negatives, self.log_q)


def training_catalogue(excluded: torch.Tensor | None) -> tuple[torch.Tensor | None,
                                                               torch.Tensor | None]:
    """``(columns [M], remap [N + 1])``: the 0-based score columns of the items in the training
    catalogue (all but ``excluded``), and each item's 1-based index among them; ``(None, None)``
    when nothing is excluded."""
    catalogue = kept_items(excluded)
    if catalogue is None:
        return None, None
    kept, remap = catalogue
    return torch.nonzero(kept[1:]).squeeze(1), remap


# the share of each loss component's rows a rank holds, for data-parallel training (below)
ShardWeights = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def weigh_components(losses: dict[str, torch.Tensor], rows: dict[str, torch.Tensor],
                     shard_weights: ShardWeights | None) -> dict[str, torch.Tensor]:
    """Each component's mean over this rank's ``rows`` (a 0-d count) scaled by
    ``shard_weights`` (see :meth:`DistributedContext.shard_weights`: ``rows × ranks / rows of
    all ranks``), so the mean over ranks that DDP takes of the gradients is the mean over the
    whole batch, as in one process. A rank with no rows for a component (its shard of a short
    last batch is empty) gives it 0, not the NaN of a mean over nothing. ``None`` (one
    process): the means as they are."""
    if shard_weights is None:
        return losses
    weights = shard_weights({name: rows[name] for name in losses})
    return {name: torch.where(rows[name] > 0, value * weights[name], torch.zeros_like(value))
            for name, value in losses.items()}


def ur4rec_losses(model: UR4Rec, batch: TrainBatch, stage: str, config: TrainingConfig,
                  active: list[str], generator: torch.Generator | None = None,
                  excluded: torch.Tensor | None = None, shared: SharedNegatives | None = None,
                  shard_weights: ShardWeights | None = None) -> dict[str, torch.Tensor]:
    needs_fused = stage in ("joint_finetune", "end_to_end") and model.sasrec is not None
    wants = {"sasrec": stage == "pretrain_sasrec" or needs_fused,
             "retrieval": stage == "pretrain_retriever" or needs_fused or model.sasrec is None}
    start = window_start(batch.targets, model.config.retriever.train_window)
    if model.config.retriever.train_position_sampling == "random":
        positions, valid = random_positions(batch.targets, model.train_positions, generator,
                                            start)
    else:
        positions, valid = last_positions(batch.targets, model.train_positions)
    rows = torch.arange(len(positions), device=positions.device).unsqueeze(1)
    targets = batch.targets[rows, positions]
    valid &= targets > 0
    need = "fused" if needs_fused else ("sasrec" if not wants["retrieval"] else "retriever")
    sampled = None
    if shared is not None and need != "sasrec":  # built only for loss: shared_softmax
        sampled = SampledCatalogue(targets, valid, shared.draw(generator), shared.correction)
        catalogue, remap = sampled.columns, None
    else:
        catalogue, remap = training_catalogue(excluded)
    scores = model.branch_scores(batch.users, batch.inputs, positions, memory_position=start,
                                 need=need, catalogue=catalogue)
    if remap is not None:
        targets = remap[targets]
    losses: dict[str, torch.Tensor] = {}
    if wants["sasrec"]:
        losses["sasrec"] = sequence_loss(model.sasrec, scores["sasrec_hidden"], batch,
                                         config.loss, config.num_negatives, generator, excluded,
                                         shared)
    for name, branch, wanted in (("retrieval", "retriever", wants["retrieval"]),
                                 ("fused", "fused", needs_fused)):
        if wanted:
            losses[name] = (sampled.loss(scores[branch]) if sampled is not None
                            else _softmax_loss(scores[branch], targets, valid))
    positions = valid.sum()
    losses = weigh_components(losses, {"sasrec": (batch.targets > 0).sum(),
                                       "retrieval": positions, "fused": positions},
                              shard_weights)
    if stage == "joint_finetune":
        trained = "sasrec" if active == ["sasrec"] else "retrieval"
        objective_parts = ["fused", trained] if len(active) == 1 else list(losses)
    else:
        objective_parts = list(losses)
    if config.use_uncertainty_weighting and len(objective_parts) > 1:
        log_vars = dict(zip(LOSS_COMPONENTS, model.loss_log_vars, strict=True))
        objective = sum(torch.exp(-log_vars[k]) * losses[k] + log_vars[k]
                        for k in objective_parts)
    else:
        objective = sum(losses[k] for k in objective_parts)
    return {"loss": objective, **{k: v.detach() for k, v in losses.items()}}


def compute_losses(model: torch.nn.Module, batch: TrainBatch, stage: str,
                   config: TrainingConfig, active: list[str],
                   generator: torch.Generator | None = None,
                   excluded: torch.Tensor | None = None,
                   shared: SharedNegatives | None = None,
                   shard_weights: ShardWeights | None = None) -> dict[str, torch.Tensor]:
    """``{"loss": objective, <component>: detached value, …}`` for one batch.

    ``active`` names the parameter groups trained this epoch (alternating stages train one);
    ``excluded`` ``[N + 1]`` bool marks items outside the training catalogue (cold items);
    ``shared`` draws the negatives of ``training.loss: shared_softmax``; ``shard_weights``
    (data-parallel training only) weighs each component by this rank's share of its rows
    (:func:`weigh_components`).
    """
    if isinstance(model, SASRec):
        loss = sequence_loss(model, model.encoder(batch.inputs), batch, config.loss,
                             config.num_negatives, generator, excluded, shared)
        loss = weigh_components({"sasrec": loss}, {"sasrec": (batch.targets > 0).sum()},
                                shard_weights)["sasrec"]
        return {"loss": loss, "sasrec": loss.detach()}
    if isinstance(model, UR4Rec):
        return ur4rec_losses(model, batch, stage, config, active, generator, excluded, shared,
                             shard_weights)
    raise TypeError(f"{type(model).__name__} has no training objective")
