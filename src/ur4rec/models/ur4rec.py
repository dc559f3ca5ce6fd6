"""UR4Rec: SASRec and the MoE retriever (with user memory), fused (docs/configuration.md).

``scoring`` says which scores the model returns — ``sasrec``, ``retriever`` or ``fused`` — and
follows the stage: a pretraining stage is validated (and its best epoch chosen) on the branch
it trains, not on a fusion with an untrained partner (the prototype's early stopping fired on
the noise of a random retriever).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ur4rec.config import RunConfig
from ur4rec.data.cold import cold_item_mask
from ur4rec.data.prepared import PreparedData
from ur4rec.models.base import Recommender, UserBatch
from ur4rec.models.fusion import ScoreFusion
from ur4rec.models.memory import UserMemory
from ur4rec.models.retriever import MoERetriever
from ur4rec.models.sasrec import SASRec

STAGE_SCORING = {"pretrain_sasrec": "sasrec", "pretrain_retriever": "retriever",
                 "joint_finetune": "fused", "end_to_end": "fused"}
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


class UR4Rec(Recommender):
    """The fused model; ``branches`` may drop SASRec (``model: retriever``)."""

    reads_user_state = True  # user texts and memory: see UserBatch.user_text

    def __init__(self, num_users: int, num_items: int, config: RunConfig, inputs: TextInputs,
                 with_sasrec: bool = True) -> None:
        super().__init__()
        self.num_items = num_items
        self.config = config
        self.max_seq_len = config.sasrec.max_seq_len
        self.train_positions = config.retriever.train_positions
        # frozen inputs, rebuilt from the texts cache: not part of checkpoints
        def frozen(name: str, array: np.ndarray | None) -> None:
            value = None if array is None else torch.as_tensor(array, dtype=torch.float32)
            self.register_buffer(name, value, persistent=False)

        frozen("user_text", inputs.user_text)
        frozen("item_text", inputs.item_text)
        frozen("user_text_train", inputs.user_text_train)
        frozen("item_image", inputs.item_image)
        image = inputs.item_image
        self.sasrec = (SASRec(num_items, config.sasrec, inputs.item_text, inputs.item_trained)
                       if with_sasrec else None)
        # cold items (data.cold_items): no branch ever trained their ids
        cold = cold_item_mask(num_items, [] if inputs.cold_items is None else inputs.cold_items)
        self.retriever = MoERetriever(num_items, self.user_text.shape[1], config.retriever,
                                      None if image is None else image.shape[1],
                                      single_expert=config.retriever.single_expert, cold=cold)
        self.register_buffer("cold_columns", cold[1:], persistent=False)  # [N] real items
        # SASRec's cold scores say nothing unless its item table reads text (the adapter)
        self.sasrec_blind_on_cold = with_sasrec and config.sasrec.item_text != "adapter"
        dim = config.retriever.output_dim
        self.memory = UserMemory(num_users, dim, config.memory) if config.memory.enabled else None
        self.fusion = (ScoreFusion(config.fusion, config.sasrec.hidden_dim, dim)
                       if with_sasrec else None)
        self.loss_log_vars = nn.Parameter(torch.zeros(len(LOSS_COMPONENTS)),
                                          requires_grad=config.training.use_uncertainty_weighting)
        self.scoring = "fused" if with_sasrec else "retriever"

    # ------------------------------------------------------------------ stages
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        sasrec = list(self.sasrec.parameters()) if self.sasrec is not None else []
        ids = {id(p) for p in sasrec}
        rest = [p for p in self.parameters() if id(p) not in ids]
        groups = {"retriever": rest}
        if sasrec:
            groups = {"sasrec": sasrec, **groups}
        return groups

    def stage_groups(self, stage: str) -> list[str]:
        if self.sasrec is None:
            return ["retriever"]
        return {"pretrain_sasrec": ["sasrec"], "pretrain_retriever": ["retriever"]}.get(
            stage, ["sasrec", "retriever"])

    def on_stage_start(self, stage: str) -> None:
        self.scoring = STAGE_SCORING[stage] if self.sasrec is not None else "retriever"

    def on_training_end(self, stages: list[str], sasrec_preloaded: bool = False) -> None:
        """The trained model scores with the fusion when both branches were trained (or SASRec
        came from ``training.init_from``); otherwise with the one branch that was."""
        if self.sasrec is None:
            self.scoring = "retriever"
            return
        sasrec_trained = sasrec_preloaded or any(s != "pretrain_retriever" for s in stages)
        retriever_trained = any(s != "pretrain_sasrec" for s in stages)
        self.scoring = ("fused" if sasrec_trained and retriever_trained
                        else "sasrec" if sasrec_trained else "retriever")

    def on_epoch_start(self) -> None:
        if self.memory is not None:
            self.memory.start_epoch()

    def epoch_statistics(self) -> dict[str, Any]:
        stats: dict[str, Any] = {"scoring": self.scoring,
                                 "routing": self.retriever.routing_statistics()}
        if self.memory is not None:
            stats["memory"] = self.memory.statistics()
        if self.fusion is not None:
            stats["fusion"] = self.fusion.statistics()
        if self.config.training.use_uncertainty_weighting:
            stats["uncertainty"] = {f"{name}_log_var": float(v) for name, v in
                                    zip(LOSS_COMPONENTS, self.loss_log_vars, strict=True)}
        return stats

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
        positions = (batch.lengths - 1).clamp(min=0).unsqueeze(1)
        need = self.scoring if self.sasrec is not None else "retriever"
        scores = self.branch_scores(batch.users, batch.history, positions, need=need,
                                    case_text=batch.user_text)[need][:, 0]
        return _with_padding_column(scores)

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


def _with_padding_column(scores: torch.Tensor) -> torch.Tensor:
    """``[B, N]`` scores of the real items → ``[B, N + 1]``, the padding column 0 at −inf."""
    padding = torch.full_like(scores[:, :1], -torch.inf)
    return torch.cat([padding, scores], dim=1)


def build_ur4rec(config: RunConfig, data: PreparedData, inputs: TextInputs) -> UR4Rec:
    if inputs is None:
        raise ValueError("the UR4Rec model needs text inputs")
    inputs.item_trained = data.train_item_counts
    inputs.cold_items = np.asarray(data.cold_items, dtype=np.int64)
    return UR4Rec(data.num_users, data.num_items, config, inputs,
                  with_sasrec=config.model == "ur4rec")
