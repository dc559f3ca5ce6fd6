"""UR4Rec: SASRec and the MoE retriever (with user memory), fused (docs/configuration.md).

The model scores three ways — ``sasrec``, ``retriever`` or ``fused`` — and :meth:`UR4Rec.score_all`
always scores the way it was built to (:attr:`UR4RecSettings.scoring`: the fusion when the stage
plan trains both branches, :func:`ur4rec.models.stages.final_scoring`). A stage validated on
another scoring asks for it explicitly with :meth:`UR4Rec.scored_by`; nothing is switched and
switched back. What each stage trains, scores and sums is the table of
:mod:`ur4rec.models.stages`; the losses are computed by :meth:`UR4Rec.training_loss`:

- ``sasrec``: SASRec's next-item loss at every position of the training prefix;
- ``retrieval``: the retriever's softmax over the catalogue at the positions of
  :mod:`ur4rec.models.retriever_targets`;
- ``fused``: the softmax of the fused scores at those same positions.

The objective sums the step's components or, with ``training.use_uncertainty_weighting``, takes
Σ exp(−s_i)·L_i + s_i with learned log-variances s_i (Kendall et al., 2018).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ur4rec.config import FusionConfig, MemoryConfig, RetrieverConfig, SASRecConfig
from ur4rec.data.cold import cold_item_mask
from ur4rec.data.prepared import PreparedData
from ur4rec.errors import ConfigError
from ur4rec.models.base import Recommender, TrainBatch, TrainingStep, UserBatch
from ur4rec.models.fusion import ScoreFusion
from ur4rec.models.losses import softmax_loss, weigh_components
from ur4rec.models.memory import UserMemory
from ur4rec.models.retriever import MoERetriever
from ur4rec.models.retriever_targets import (
    SampledCatalogue,
    last_positions,
    random_positions,
    training_catalogue,
    window_start,
)
from ur4rec.models.sasrec import SASRec
from ur4rec.models.stages import Stage

LOSS_COMPONENTS = ("sasrec", "retrieval", "fused")


@dataclass
class TextInputs:
    """Frozen per-user and per-item vectors the retriever reads.

    ``user_text`` ``[U, E]``; ``item_text`` ``[N + 1, E]`` (row 0 padding); ``item_image``
    ``[N + 1, F]`` or None; ``user_text_train`` ``[U, E]`` or None: the users' texts written
    before the retriever's training targets, read in training instead of ``user_text``.
    """

    user_text: np.ndarray
    item_text: np.ndarray
    item_image: np.ndarray | None = None
    user_text_train: np.ndarray | None = None
    item_trained: np.ndarray | None = None  # [N + 1] training counts (sasrec.item_text)
    cold_items: np.ndarray | None = None  # item indices of data.cold_items (never trained)
    item_terms: Any = None  # scipy CSR [N + 1, V] TF-IDF rows (sasrec.text_score_lexical_share)


@dataclass(frozen=True)
class UR4RecSettings:
    """The config sections UR4Rec reads, and the two choices the run makes for it
    (:func:`ur4rec.models.factory.ur4rec_settings` builds them from a run config)."""

    sasrec: SASRecConfig
    retriever: RetrieverConfig
    memory: MemoryConfig
    fusion: FusionConfig
    with_sasrec: bool = True
    """False: the retriever alone (``model: retriever``)"""
    uncertainty_weighting: bool = False
    """``training.use_uncertainty_weighting``"""
    scoring: str = "fused"
    """what :meth:`UR4Rec.score_all` returns: ``sasrec``, ``retriever`` or ``fused``"""


class UR4Rec(Recommender):
    """The fused model; without SASRec (``with_sasrec: false``) the retriever alone."""

    reads_user_state = True  # user texts and memory: see UserBatch.user_text
    fused_with = "retriever"

    def __init__(self, num_users: int, num_items: int, settings: UR4RecSettings,
                 inputs: TextInputs) -> None:
        super().__init__()
        self.num_items = num_items
        self.settings = settings
        self.max_seq_len = settings.sasrec.max_seq_len
        self.train_positions = settings.retriever.train_positions
        self._frozen_inputs(inputs)
        with_sasrec = settings.with_sasrec
        if settings.sasrec.blends_text_score:
            raise ConfigError("sasrec.text_score_share / select_text_score_share blend the text "
                              "score into model: sasrec's ranking; UR4Rec's text enters through "
                              "its retriever and fusion.*: leave them at 0 / false")
        self.sasrec = (SASRec(num_items, settings.sasrec, inputs.item_text, inputs.item_trained)
                       if with_sasrec else None)
        # cold items (data.cold_items): no branch ever trained their ids
        cold = cold_item_mask(num_items, [] if inputs.cold_items is None else inputs.cold_items)
        image = inputs.item_image
        self.retriever = MoERetriever(num_items, self.user_text.shape[1], settings.retriever,
                                      None if image is None else image.shape[1],
                                      single_expert=settings.retriever.single_expert, cold=cold)
        self.register_buffer("cold_columns", cold[1:], persistent=False)  # [N] real items
        # SASRec's cold scores say nothing unless its item table reads text (the adapter)
        self.sasrec_blind_on_cold = with_sasrec and settings.sasrec.item_text != "adapter"
        dim = settings.retriever.output_dim
        self.memory = (UserMemory(num_users, dim, settings.memory) if settings.memory.enabled
                       else None)
        self.fusion = (ScoreFusion(settings.fusion, settings.sasrec.hidden_dim, dim)
                       if with_sasrec else None)
        self.loss_log_vars = nn.Parameter(torch.zeros(len(LOSS_COMPONENTS)),
                                          requires_grad=settings.uncertainty_weighting)
        self.scoring = settings.scoring if with_sasrec else "retriever"
        self.selects_fusion_weights = (with_sasrec and settings.fusion.select_weights
                                       and settings.fusion.method == "weighted"
                                       and self.scoring == "fused")

    def _frozen_inputs(self, inputs: TextInputs) -> None:
        """The text (and image) vectors as buffers: rebuilt from the texts cache, never part of
        a checkpoint."""
        for name, array in (("user_text", inputs.user_text), ("item_text", inputs.item_text),
                            ("user_text_train", inputs.user_text_train),
                            ("item_image", inputs.item_image)):
            value = None if array is None else torch.as_tensor(array, dtype=torch.float32)
            self.register_buffer(name, value, persistent=False)

    # ------------------------------------------------------------------ the contract
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``sasrec`` (the SASRec branch, when there is one) and ``retriever`` (the rest: the
        retriever, memory, fusion and loss weights)."""
        sasrec = list(self.sasrec.parameters()) if self.sasrec is not None else []
        ids = {id(p) for p in sasrec}
        rest = [p for p in self.parameters() if id(p) not in ids]
        groups = {"retriever": rest}
        if sasrec:
            groups = {"sasrec": sasrec, **groups}
        return groups

    def no_weight_decay(self) -> set[str]:
        """The default (vectors and scalars), and all of the fusion: its few mixing weights
        are not pulled towards zero."""
        fusion = {name for name, _ in self.named_parameters() if name.startswith("fusion.")}
        return super().no_weight_decay() | fusion

    def on_epoch_start(self) -> None:
        if self.memory is not None:
            self.memory.start_epoch()

    def epoch_statistics(self, stage: Stage) -> dict[str, Any]:
        stats: dict[str, Any] = {"scoring": stage.scores,
                                 "routing": self.retriever.routing_statistics()}
        if self.memory is not None:
            stats["memory"] = self.memory.statistics()
        if self.fusion is not None:
            stats["fusion"] = self.fusion.statistics()
        if self.settings.uncertainty_weighting:
            log_vars = self.loss_log_vars.detach()
            stats["uncertainty"] = {f"{name}_log_var": float(v) for name, v in
                                    zip(LOSS_COMPONENTS, log_vars, strict=True)}
        return stats

    def per_user_state(self) -> nn.Module | None:
        return self.memory

    def init_from_part(self) -> tuple[str, str]:
        """The SASRec branch (``sasrec.*``) when there is one; else every tensor."""
        if self.sasrec is not None:
            return "sasrec.", "SASRec (sasrec.*)"
        return super().init_from_part()

    def mixture_of_experts(self) -> MoERetriever | None:
        """The retriever when it routes its experts (``retriever.single_expert: false``)."""
        return None if self.retriever.single_expert else self.retriever

    # ------------------------------------------------------------------ retriever side
    def retriever_user(self, users: torch.Tensor, history: torch.Tensor,
                       positions: torch.Tensor, memory_position: torch.Tensor | None = None,
                       case_text: torch.Tensor | None = None) -> torch.Tensor:
        """Refined expert tokens ``[B, P, K, D]`` at ``positions`` ``[B, P]``.

        In training, ``memory_position`` ``[B]`` (at or before every position of its row) is
        where the memory is written from: the user as read from ``history[..memory_position]``,
        so no position reads a state written from its own target or later items. Without it
        (evaluation) the stored memory is only read. ``case_text`` ``[B, E]``
        (:attr:`UserBatch.user_text`): the rows are cases read only from ``history`` — this
        text replaces the stored user text, and the memory is the one written once from the
        user as read at the row's first position — in scoring its newest history item
        (:meth:`UserMemory.written_once`) — never the stored state, which training wrote from
        the whole training part.
        """
        user_text = (self.user_text_train if self.training and self.user_text_train is not None
                     else self.user_text)[users]
        if case_text is not None:
            user_text = case_text.to(user_text.dtype)
        write = self.memory is not None and self.training and memory_position is not None
        at = torch.cat([memory_position.unsqueeze(1), positions], dim=1) if write else positions
        tokens = self.retriever.expert_tokens(user_text, history, self.item_text,
                                              self.item_image, at)
        if self.memory is not None:
            if write:
                source, tokens = tokens[:, 0].mean(dim=1), tokens[:, 1:]  # all experts
                memory = self.memory.update(users, source.detach(), memory_position + 1)
            elif case_text is not None:
                memory = self.memory.written_once(tokens[:, 0].mean(dim=1))
            else:
                memory = self.memory.state[users] * self.memory.has_memory[users].unsqueeze(-1)
            tokens = self._gate_memory(tokens, memory)
        return self.retriever.refine_tokens(tokens)

    def _gate_memory(self, tokens: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Memory enters the user-text token (every token when there is none)."""
        experts = self.retriever.experts
        memory = memory.unsqueeze(1).expand(-1, tokens.shape[1], -1)
        if "user_text" in experts:
            index = experts.index("user_text")
            gated = self.memory.gated(tokens[:, :, index], memory)
            return torch.cat([tokens[:, :, :index], gated.unsqueeze(2), tokens[:, :, index + 1:]],
                             dim=2)
        return self.memory.gated(tokens, memory.unsqueeze(2).expand_as(tokens))

    def candidate_vectors(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, D]`` retriever representations of the real items (padding row dropped), or
        ``[M, D]`` of the items ``rows`` ``[M]``."""
        if rows is not None:
            return self.retriever.item_representations(self.item_text, self.item_image, rows)
        return self.retriever.item_representations(self.item_text, self.item_image)[1:]

    # ------------------------------------------------------------------ scoring
    def branch_scores(self, users: torch.Tensor, history: torch.Tensor, positions: torch.Tensor,
                      memory_position: torch.Tensor | None = None, need: str = "fused",
                      catalogue: torch.Tensor | None = None,
                      case_text: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Scores over the real items ``[B, P, N]`` of the branches ``need`` asks for
        (``memory_position``, ``case_text``: see :meth:`retriever_user`); with ``catalogue``
        ``[M]`` (0-based columns) ``[B, P, M]`` over those items only, computed for them alone —
        training leaves cold items out this way, before the fusion standardises the scores, so
        nothing tied to them gets a gradient, and the shared-negative softmax scores its
        sampled set."""
        out: dict[str, torch.Tensor] = {}
        rows = torch.arange(len(history), device=history.device).unsqueeze(1)
        items = None if catalogue is None else catalogue + 1
        if need in ("sasrec", "fused") and self.sasrec is not None:
            hidden = self.sasrec.encoder(history)
            out["sasrec_hidden"] = hidden
            out["sasrec_state"] = hidden[rows, positions]
            table = self.sasrec.item_embeddings
            out["sasrec"] = out["sasrec_state"] @ (table[1:] if items is None else table[items]).T
        if need in ("retriever", "fused"):
            tokens = self.retriever_user(users, history, positions, memory_position, case_text)
            out["retriever_state"] = self.retriever.summary(tokens)
            out["retriever"] = self.retriever.score(tokens, self.candidate_vectors(items), items)
        if need == "fused" and self.fusion is not None:
            if items is None and self.sasrec_blind_on_cold and bool(self.cold_columns.any()):
                out["sasrec"] = self._neutral_on_cold(out["sasrec"])
            weights = self.fusion.weights(out["sasrec_state"], out["retriever_state"])
            out["fused"] = self.fusion(out["sasrec"], out["retriever"], weights)
        return out

    def _neutral_on_cold(self, sasrec: torch.Tensor) -> torch.Tensor:
        """SASRec scores ``[B, P, N]`` with every cold item's set to the row's mean over the warm
        items: an id SASRec never trained says nothing, so among cold items the fused ranking is
        the retriever's (its text) instead of the untrained ids' noise. Not with
        ``sasrec.item_text: adapter``: there a cold item's row is its text view (its id part is
        zeroed), scores SASRec learned to give, and they are kept."""
        cold = self.cold_columns
        neutral = sasrec[..., ~cold].mean(dim=-1, keepdim=True)
        return torch.where(cold, neutral, sasrec)

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        """``[B, N + 1]`` scores as the model was built to score (:attr:`scoring`)."""
        return self.score_with(batch, self.scoring)

    def score_with(self, batch: UserBatch, scoring: str) -> torch.Tensor:
        """``[B, N + 1]`` scores of one branch (``sasrec``, ``retriever``) or the fusion
        (``fused``); the retriever alone has one way to score."""
        positions = (batch.lengths - 1).clamp(min=0).unsqueeze(1)
        need = scoring if self.sasrec is not None else "retriever"
        scores = self.branch_scores(batch.users, batch.history, positions, need=need,
                                    case_text=batch.user_text)[need][:, 0]
        return _with_padding_column(scores)

    def scored_by(self, scoring: str) -> Recommender:
        return self if scoring == self.scoring else ScoredBy(self, scoring)

    def sasrec_share(self) -> float:
        return float(self.fusion.fixed[0])

    def set_sasrec_share(self, share: float) -> None:
        self.fusion.fixed.copy_(torch.tensor([share, 1.0 - share]))

    def score_all_shares(self, batch: UserBatch, shares: Sequence[float]
                         ) -> dict[str, torch.Tensor]:
        """``{repr(w): [B, N + 1]}``: the fused scores with SASRec share ``w`` (the retriever
        ``1 - w``) for each of ``shares``, from branch scores computed once — the same numbers
        as :meth:`score_all` after setting ``fusion.fixed`` to ``[w, 1 - w]``."""
        if self.fusion is None or self.fusion.config.method != "weighted":
            raise ValueError("score_all_shares needs fusion.method: weighted")
        positions = (batch.lengths - 1).clamp(min=0).unsqueeze(1)
        out = self.branch_scores(batch.users, batch.history, positions, need="fused")
        fixed = self.fusion.fixed
        return {repr(share): _with_padding_column(self.fusion(
                    out["sasrec"], out["retriever"],
                    torch.tensor([[share, 1.0 - share]], dtype=fixed.dtype, device=fixed.device)
                )[:, 0])
                for share in shares}


    # ------------------------------------------------------------------ training loss
    def training_loss(self, batch: TrainBatch, step: TrainingStep) -> dict[str, torch.Tensor]:
        """The step's loss components (``sasrec``, ``retrieval``, ``fused``: module docstring)
        at the retriever's training positions, and their objective."""
        retriever = self.settings.retriever
        start = window_start(batch.targets, retriever.train_window)
        if retriever.train_position_sampling == "random":
            positions, valid = random_positions(batch.targets, self.train_positions,
                                                step.generator, start)
        else:
            positions, valid = last_positions(batch.targets, self.train_positions)
        rows = torch.arange(len(positions), device=positions.device).unsqueeze(1)
        targets = batch.targets[rows, positions]
        valid &= targets > 0
        need = ("fused" if "fused" in step.losses
                else "retriever" if "retrieval" in step.losses else "sasrec")
        sampled = None
        if step.shared is not None and need != "sasrec":  # built only for shared_softmax
            sampled = SampledCatalogue(targets, valid, step.shared.draw(step.generator),
                                       step.shared.correction)
            catalogue, remap = sampled.columns, None
        else:
            catalogue, remap = training_catalogue(step.excluded)
        scores = self.branch_scores(batch.users, batch.inputs, positions,
                                    memory_position=start, need=need, catalogue=catalogue)
        if remap is not None:
            targets = remap[targets]
        losses: dict[str, torch.Tensor] = {}
        if "sasrec" in step.losses:
            losses["sasrec"] = self.sasrec.sequence_loss(scores["sasrec_hidden"], batch, step)
        for name, branch in (("retrieval", "retriever"), ("fused", "fused")):
            if name in step.losses:
                losses[name] = (sampled.loss(scores[branch]) if sampled is not None
                                else softmax_loss(scores[branch], targets, valid))
        counted = valid.sum()
        losses = weigh_components(losses, {"sasrec": (batch.targets > 0).sum(),
                                           "retrieval": counted, "fused": counted},
                                  step.shard_weights)
        return {"loss": self._objective(losses, step.objective),
                **{k: v.detach() for k, v in losses.items()}}

    def _objective(self, losses: dict[str, torch.Tensor], parts: Sequence[str]
                   ) -> torch.Tensor:
        """The sum of the ``parts`` of ``losses``, uncertainty-weighted when that is on and
        there is more than one."""
        if self.settings.uncertainty_weighting and len(parts) > 1:
            log_vars = dict(zip(LOSS_COMPONENTS, self.loss_log_vars, strict=True))
            return sum(torch.exp(-log_vars[k]) * losses[k] + log_vars[k] for k in parts)
        return sum(losses[k] for k in parts)


class ScoredBy(Recommender):
    """A UR4Rec model scored one way (a stage's scoring: one branch or the fusion), sharing its
    weights and its train/eval mode — for validating a stage on what it trains."""

    trainable = False
    reads_user_state = True

    def __init__(self, model: UR4Rec, scoring: str) -> None:
        super().__init__()
        self.model = model
        self.scoring = scoring
        self.max_seq_len = model.max_seq_len
        self.train(model.training)

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        return self.model.score_with(batch, self.scoring)


def _with_padding_column(scores: torch.Tensor) -> torch.Tensor:
    """``[B, N]`` scores of the real items → ``[B, N + 1]``, the padding column 0 at −inf."""
    padding = torch.full_like(scores[:, :1], -torch.inf)
    return torch.cat([padding, scores], dim=1)


def build_ur4rec(settings: UR4RecSettings, data: PreparedData, inputs: TextInputs | None
                 ) -> UR4Rec:
    """UR4Rec (or the retriever alone) for ``data``, reading ``inputs``."""
    if inputs is None:
        raise ValueError("the UR4Rec model needs text inputs")
    inputs.item_trained = data.train_item_counts
    inputs.cold_items = np.asarray(data.cold_items, dtype=np.int64)
    return UR4Rec(data.num_users, data.num_items, settings, inputs)
