"""The stage table: what each training stage trains, how it is scored, which losses it sums.

A stage is named in ``training.stages`` (the names and their order are checked by
:mod:`ur4rec.config`); everything else about it is this table, read by the trainer (which
parameter groups to train, which scores to validate on, whether to alternate), by the models'
losses (which components to compute and sum) and by the results (each stage's best checkpoint
scored as the stage scores it). Its words are the model's:

- parameter groups (:meth:`Recommender.parameter_groups`): ``sasrec`` and ``retriever``, each
  trained at its own learning rate (``training.sasrec_lr``, ``training.retriever_lr``);
- scorings (:meth:`Recommender.scored_by`): ``sasrec``, ``retriever`` or ``fused``;
- loss components (the ``losses`` of ``metrics.jsonl``): ``sasrec`` (SASRec's next-item loss),
  ``retrieval`` (the retriever's softmax) and ``fused`` (the softmax of the fused scores).

=====================  ========================  =========  ==========================  ==========================
stage                  trains                    scores     losses computed and logged  objective (summed)
=====================  ========================  =========  ==========================  ==========================
``pretrain_sasrec``    sasrec                    sasrec     sasrec                      all computed
``pretrain_retriever`` retriever                 retriever  retrieval                   all computed
``joint_finetune``     sasrec, retriever —       fused      sasrec, retrieval, fused    fused + the trained
                       one per epoch, in turn                                           group's own loss
``end_to_end``         sasrec, retriever         fused      sasrec, retrieval, fused    all computed
=====================  ========================  =========  ==========================  ==========================

A model with a single parameter group (``model: sasrec``: ``sasrec``; ``model: retriever``:
``retriever``) runs every stage as that group's pretraining stage: it trains the group, scores
with it and sums its own loss. A pretraining stage is validated on the branch it trains, not on
a fusion with an untrained partner, so early stopping never fires on the noise of a random
branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ur4rec.config import TrainingConfig
from ur4rec.models.base import TrainingStep
from ur4rec.models.losses import ShardWeights, SharedNegatives

OWN_LOSS = {"sasrec": "sasrec", "retriever": "retrieval"}
"""each parameter group's own loss component"""


@dataclass(frozen=True)
class Stage:
    """One row of the stage table, as a given model runs it (:func:`stage_for`)."""

    name: str
    trains: tuple[str, ...]
    """parameter groups trained (all at once, or one per epoch when ``alternates``)"""
    scores: str
    """the scoring validation (and this stage's row of ``stage_results``) uses"""
    losses: tuple[str, ...]
    """loss components computed and logged"""
    alternates: bool = False
    """train one group per epoch, in turn (:class:`~ur4rec.training.schedules.AlternatingScheduler`)"""

    def objective(self, active: Sequence[str]) -> tuple[str, ...]:
        """The components summed into the loss while the groups ``active`` train."""
        if self.alternates and len(active) == 1:
            return ("fused", OWN_LOSS[active[0]])
        return self.losses

    def step(self, active: Sequence[str], training: TrainingConfig,
             generator: torch.Generator | None = None, excluded: torch.Tensor | None = None,
             shared: SharedNegatives | None = None, shard_weights: ShardWeights | None = None
             ) -> TrainingStep:
        """What a model's :meth:`~ur4rec.models.base.Recommender.training_loss` needs for one
        batch of this stage while the groups ``active`` train (the other arguments: see
        :class:`~ur4rec.models.base.TrainingStep`)."""
        return TrainingStep(self.losses, self.objective(active), training.loss,
                            training.num_negatives, generator, excluded, shared, shard_weights)


STAGE_TABLE: dict[str, Stage] = {stage.name: stage for stage in (
    Stage("pretrain_sasrec", ("sasrec",), "sasrec", ("sasrec",)),
    Stage("pretrain_retriever", ("retriever",), "retriever", ("retrieval",)),
    Stage("joint_finetune", ("sasrec", "retriever"), "fused", ("sasrec", "retrieval", "fused"),
          alternates=True),
    Stage("end_to_end", ("sasrec", "retriever"), "fused", ("sasrec", "retrieval", "fused")),
)}


def stage_for(name: str, groups: Sequence[str]) -> Stage:
    """Stage ``name`` as a model with parameter ``groups`` runs it (module docstring)."""
    if len(groups) != 1:
        return STAGE_TABLE[name]
    (group,) = groups
    if group not in OWN_LOSS:
        raise ValueError(f"parameter group {group!r} is not in the stage table (groups: "
                         f"{', '.join(OWN_LOSS)}; see ur4rec/models/stages.py)")
    return Stage(name, (group,), group, (OWN_LOSS[group],))


def stage_plan(names: Sequence[str], groups: Sequence[str]) -> list[Stage]:
    """The stages ``names`` (``RunConfig.resolved_stages()``) as a model with parameter
    ``groups`` runs them."""
    return [stage_for(name, groups) for name in names]


def final_scoring(names: Sequence[str], preloaded: Sequence[str] = ()) -> str:
    """What a two-branch model scores with after the stages ``names``: ``fused`` when they
    trained both groups (or a group came ``preloaded`` by ``training.init_from``), otherwise
    the one group that was trained (``retriever`` when none was)."""
    trained = {group for name in names for group in STAGE_TABLE[name].trains} | set(preloaded)
    if {"sasrec", "retriever"} <= trained:
        return "fused"
    return "sasrec" if "sasrec" in trained else "retriever"
