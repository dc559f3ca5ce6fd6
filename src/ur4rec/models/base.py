"""The model contract: what every recommender offers the evaluator, the trainer and a run.

A :class:`Recommender` scores items for users (:meth:`~Recommender.score_all`, required). A
trainable one also owns its training loss (:meth:`~Recommender.training_loss`, as RecBole's
``calculate_loss``) and its optimizer groups (:meth:`~Recommender.parameter_groups` and
:meth:`~Recommender.no_weight_decay`, as nanoGPT's ``configure_optimizers``). Everything else the
trainer or a run may call is declared here with a default that does nothing (as PyTorch
Lightning's hooks), so a model overrides only what it uses and no caller probes a model for an
attribute. What a stage trains and scores is the stage table of :mod:`ur4rec.models.stages`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ur4rec.models.losses import ShardWeights, SharedNegatives

if TYPE_CHECKING:
    from ur4rec.models.retriever import MoERetriever
    from ur4rec.models.stages import Stage


@dataclass
class UserBatch:
    """A batch of users with the part of their history the model may read.

    ``users``: ``[B]`` user indices. ``history``: ``[B, L]`` item indices, oldest first,
    right-padded with 0 — only interactions before the target being predicted.
    """

    users: torch.Tensor
    history: torch.Tensor
    user_text: torch.Tensor | None = None
    """``[B, E]`` or None. Given for rows whose user-level state must come from the
    interactions before the target alone (cold-item cases, :mod:`ur4rec.evaluation.cold`): each
    row's user-text vector written from them. A model that keeps per-user state
    (:attr:`Recommender.reads_user_state`) then reads none of it — this text replaces its
    stored one, and memory is written afresh from ``history``. None: the stored state."""

    def to(self, device: torch.device) -> UserBatch:
        text = None if self.user_text is None else self.user_text.to(device, non_blocking=True)
        return UserBatch(self.users.to(device, non_blocking=True),
                         self.history.to(device, non_blocking=True), text)

    @property
    def lengths(self) -> torch.Tensor:
        """``[B]`` number of real items in each history row."""
        return (self.history > 0).sum(dim=1)


@dataclass
class TrainBatch:
    """``users`` ``[B]``; ``inputs``/``targets`` ``[B, L]`` (target 0 = no loss at that position);
    ``positives`` ``[B, N + 1]`` bool: the user's training items, never sampled as negatives
    (None when the loss samples no negatives); ``num_targets`` counted on the host."""

    users: torch.Tensor
    inputs: torch.Tensor
    targets: torch.Tensor
    positives: torch.Tensor | None
    num_targets: int = 0

    def to(self, device: torch.device) -> TrainBatch:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return TrainBatch(move(self.users), move(self.inputs), move(self.targets),
                          move(self.positives), self.num_targets)


@dataclass
class TrainingStep:
    """What the trainer hands :meth:`Recommender.training_loss` beside the batch (built by
    :meth:`ur4rec.models.stages.Stage.step`)."""

    losses: tuple[str, ...]
    """loss components to compute and log (the stage table's)"""
    objective: tuple[str, ...]
    """the components summed into the loss this step"""
    loss: str = "ce"
    """``training.loss``: the next-item loss"""
    num_negatives: int = 1
    """``training.num_negatives``: negatives per target of a sampled loss"""
    generator: torch.Generator | None = None
    """the epoch's random source (negatives, training positions)"""
    excluded: torch.Tensor | None = None
    """``[N + 1]`` bool: items outside the training catalogue (cold items)"""
    shared: SharedNegatives | None = None
    """the negatives of ``training.loss: shared_softmax``"""
    shard_weights: ShardWeights | None = None
    """under torchrun: each component's weight by this rank's share of its rows"""


def _contract_error(model: nn.Module, method: str) -> NotImplementedError:
    return NotImplementedError(
        f"{type(model).__name__} is trainable but declares no {method}: a trainable Recommender "
        "implements parameter_groups() and training_loss() (src/ur4rec/models/base.py), or sets "
        "trainable = False")


class Recommender(nn.Module):
    """Base class: ``score_all`` returns ``[B, num_items + 1]`` scores (column 0 is padding)."""

    max_seq_len: int = 200
    """how many of a user's most recent items the model reads (evaluation and training crop
    histories to it)"""
    trainable: bool = True
    """whether the trainer runs the stages; a model that is not (Random, Pop, the text floors)
    is evaluated as built"""
    reads_user_state: bool = False
    """whether scores read per-user state beside the history (UR4Rec: user texts written from
    the training part, memory written in training); such a model must get
    :attr:`UserBatch.user_text` for cases cut before the end of that part (cold-item cases)"""
    selects_fusion_weights: bool = False
    """whether the trainer chooses the model's fusion weights on validation after training
    (:mod:`ur4rec.training.fusion_selection`: UR4Rec with ``fusion.select_weights``, SASRec with
    ``sasrec.select_text_score_share``); such a model implements :meth:`sasrec_share`,
    :meth:`set_sasrec_share` and :meth:`score_all_shares`"""
    selects_rarity_lean: bool = False
    """whether the selection also chooses how much rare items lean towards the fused-in part
    (SASRec with ``sasrec.select_text_score_rarity``); such a model implements
    :meth:`rarity_lean` and :meth:`set_rarity_lean`"""
    fused_with: str = ""
    """what SASRec's scores are fused with where :attr:`selects_fusion_weights` (``retriever``,
    ``text``): the name the selection's summary gives the other share"""
    inner_product_scores: bool = False
    """whether :meth:`score_all` is ``user_state(batch) @ item_embeddings.T`` (FAISS can then
    serve a large catalogue: :mod:`ur4rec.retrieval.search`)"""

    # ------------------------------------------------------------------ scoring
    def score_all(self, batch: UserBatch) -> torch.Tensor:
        """``[B, N + 1]`` scores of every item after each history; column 0 (padding) never
        wins."""
        raise NotImplementedError(f"{type(self).__name__} declares no score_all")

    def score_items(self, batch: UserBatch, items: torch.Tensor) -> torch.Tensor:
        """Scores of chosen items ``[B, C]``; models may override with a cheaper path."""
        return self.score_all(batch).gather(1, items)

    def sasrec_share(self) -> float:
        """The share of SASRec's standardised scores in the fused ranking (the other part:
        :attr:`fused_with`)."""
        raise NotImplementedError(f"{type(self).__name__} fuses no scores")

    def set_sasrec_share(self, share: float) -> None:
        """Rank with SASRec share ``share`` from now on (saved with the model's state)."""
        raise NotImplementedError(f"{type(self).__name__} fuses no scores")

    def rarity_lean(self) -> float:
        """β: how much a rare item's share of the fused-in part exceeds the common one's."""
        raise NotImplementedError(f"{type(self).__name__} has no rarity lean")

    def set_rarity_lean(self, lean: float) -> None:
        """Rank with rarity lean ``lean`` from now on (saved with the model's state)."""
        raise NotImplementedError(f"{type(self).__name__} has no rarity lean")

    def score_all_shares(self, batch: UserBatch, shares: Sequence[float]
                         ) -> dict[str, torch.Tensor]:
        """``{repr(w): [B, N + 1]}``: :meth:`score_all` as it would be with SASRec share ``w``,
        for each of ``shares``, from branch scores computed once."""
        raise NotImplementedError(f"{type(self).__name__} fuses no scores")

    def scored_by(self, scoring: str) -> Recommender:
        """The model scored with ``scoring`` (a stage's ``scores``, :mod:`ur4rec.models.stages`):
        itself for a model with one way to score; a two-branch model returns a view that scores
        one branch or the fusion, sharing its weights."""
        return self

    # ------------------------------------------------------------------ training
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parts by name (``sasrec``, ``retriever``): the units a stage trains or
        freezes, each at its own learning rate (``training.<group>_lr``)."""
        raise _contract_error(self, "parameter_groups")

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters ``training.weight_decay`` leaves alone: by default every
        vector and scalar (biases, norms, temperatures), decaying only the matrices."""
        return {name for name, p in self.named_parameters() if p.ndim < 2}

    def training_loss(self, batch: TrainBatch, step: TrainingStep) -> dict[str, torch.Tensor]:
        """``{"loss": the objective, <component>: its detached value, …}`` for one batch."""
        raise _contract_error(self, "training_loss")

    # ------------------------------------------------------------------ hooks (no-ops)
    def on_stage_start(self, stage: Stage) -> None:
        """Called by the trainer before each stage's first epoch (also when a run resumes)."""

    def on_epoch_start(self) -> None:
        """Called by the trainer before each training epoch (UR4Rec: the memory's epoch
        clock)."""

    def epoch_statistics(self, stage: Stage) -> dict[str, Any]:
        """Extra fields of the epoch's ``metrics.jsonl`` row in ``stage`` (UR4Rec: its scoring,
        routing, memory, fusion)."""
        return {}

    def on_training_end(self) -> None:
        """Called by the trainer after the last stage, with the best weights loaded."""

    def per_user_state(self) -> nn.Module | None:
        """The module whose buffers training writes per user (UR4Rec's memory), which
        data-parallel ranks merge after each epoch; None when there is none."""
        return None

    # ------------------------------------------------------------------ a run's extras
    def init_from_part(self) -> tuple[str, str]:
        """``(name prefix, description)`` of the tensors ``training.init_from`` loads: all
        tensors by default; UR4Rec's SASRec branch (``sasrec.``)."""
        return "", type(self).__name__

    def fit_summary(self) -> dict[str, Any] | None:
        """``results.json["fit"]``: what a model fitted in closed form chose; None: nothing."""
        return None

    def mixture_of_experts(self) -> MoERetriever | None:
        """The retriever whose router weighs its experts per (user, item), for
        :mod:`ur4rec.evaluation.routing`; None for a model without one."""
        return None
