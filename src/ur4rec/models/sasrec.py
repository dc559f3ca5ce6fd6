"""SASRec: causal self-attention over a user's recent items (Kang & McAuley, ICDM 2018).

Pre-LN transformer blocks; item embeddings are tied with the output layer, so the score of item
``i`` after position ``t`` is ``<h_t, E_i>``. The user state is the output at the *last* position
holding the newest item of the right-padded sequence, ``length - 1`` (the prototype read
``mask.sum() - 1`` of a *left*-padded sequence: a padding slot for short histories).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ur4rec.config import SASRecConfig
from ur4rec.errors import ConfigError
from ur4rec.models.base import Recommender, TrainBatch, TrainingStep, UserBatch
from ur4rec.models.fusion import standardize
from ur4rec.models.item_text import ItemTextAdapter
from ur4rec.models.losses import (
    fixed_shapes,
    next_item_loss,
    sample_negatives,
    shared_softmax,
    weigh_components,
)
from ur4rec.models.text_similarity import recent_text_score


class FastDropout(nn.Module):
    """Inverted dropout with a ``rand_like`` mask: same distribution as ``nn.Dropout``, about
    twice as fast on CPU, where ``bernoulli_`` was 15 % of a SASRec epoch."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        # the mask is built in place in the float buffer (0 or 1/(1-p)): one product forward,
        # one backward
        mask = torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * mask


class CausalSelfAttention(nn.Module):
    """Multi-head attention where position t sees positions ≤ t (rows are right-padded, so a
    real position never sees padding). No attention dropout by default (``dropout`` 0): on CPU
    it triples the cost of the fused kernel, and residual dropout regularises as well here."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(batch, length, dim))


class Block(nn.Module):
    """Pre-LN block: attention then a position-wise feed-forward (``dim → ffn_dim → dim``),
    each with a residual."""

    def __init__(self, dim: int, heads: int, dropout: float, ffn_dim: int | None = None,
                 activation: str = "gelu", attention_dropout: float = 0.0) -> None:
        super().__init__()
        width = ffn_dim or dim
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, attention_dropout)
        self.norm_ffn = nn.LayerNorm(dim)
        act = {"gelu": nn.GELU, "relu": nn.ReLU}[activation]()
        self.ffn = nn.Sequential(nn.Linear(dim, width), act, nn.Linear(width, dim))
        self.drop = FastDropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm_attn(x)))
        return x + self.drop(self.ffn(self.norm_ffn(x)))


class SASRecEncoder(nn.Module):
    """Right-padded item sequence ``[B, L]`` → hidden states ``[B, L, D]``.

    ``positions: recency`` (default) numbers items by their distance from the newest one, so the
    position that predicts the next item always carries the same embedding (what a left-padded
    SASRec does implicitly); ``absolute`` numbers them from the oldest item in the window.
    ``item_emb`` is shared with scoring. Item embeddings start at std ``hidden_dim ** -0.5`` and
    are multiplied by ``sqrt(hidden_dim)`` (``scale_embeddings``), so they enter the blocks at
    std ~1; position embeddings start at ``position_init_std`` (0.02 by default: ~50× weaker).
    """

    def __init__(self, num_items: int, config: SASRecConfig,
                 item_view: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.item_view = item_view  # e.g. ItemTextAdapter: id table → id + text table
        self.item_emb = nn.Embedding(num_items + 1, config.hidden_dim, padding_idx=0)
        self.pos_emb = nn.Embedding(config.max_seq_len, config.hidden_dim)
        self.emb_drop = FastDropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(config.hidden_dim, config.num_heads, config.dropout, config.ffn_dim,
                  config.activation, config.attention_dropout)
            for _ in range(config.num_blocks))
        self.item_scale = math.sqrt(config.hidden_dim) if config.scale_embeddings else 1.0
        self.norm = nn.LayerNorm(config.hidden_dim)
        nn.init.normal_(self.item_emb.weight, std=config.hidden_dim ** -0.5)
        nn.init.normal_(self.pos_emb.weight, std=config.position_init_std)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def item_table(self) -> torch.Tensor:
        """``[N + 1, D]`` item vectors shared by the input and the output: the id embeddings,
        plus the text view when ``sasrec.item_text: adapter``."""
        weights = self.item_emb.weight
        return weights if self.item_view is None else self.item_view(weights)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        if seq.shape[1] > self.config.max_seq_len:
            raise ValueError(f"sequence of length {seq.shape[1]} exceeds sasrec.max_seq_len "
                             f"{self.config.max_seq_len}")
        positions = torch.arange(seq.shape[1], device=seq.device).unsqueeze(0)
        if self.config.positions == "recency":
            lengths = (seq > 0).sum(dim=1, keepdim=True)
            positions = (lengths - 1 - positions).clamp(min=0)
        items = self.item_emb(seq) if self.item_view is None else self.item_table()[seq]
        x = items * self.item_scale + self.pos_emb(positions)
        x = self.emb_drop(x)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


def rarity_offsets(train_item_counts: Any) -> torch.Tensor:
    """``[N]`` (real items): ``mean_j log(1 + c_j) − log(1 + c_i)``, ``c`` ``[N + 1]`` the
    training counts (index 0 padding) — positive for items rarer than the typical one."""
    logs = torch.log1p(torch.as_tensor(train_item_counts, dtype=torch.float32)[1:])
    return logs.mean() - logs


def blend_text_score(scores: torch.Tensor, text: torch.Tensor, text_share: float,
                     lean: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, N + 1]``: ``(1 − w)·z(scores) + w·z(text)`` over the real items, ``w`` the text
    share — ``text_share`` for every item, or per item ``clip(text_share + lean, 0, 1)`` with
    ``lean`` ``[N]`` (``sasrec.text_score_rarity`` × :func:`rarity_offsets`). Share 0 returns
    ``scores`` untouched (the same ranking, the same numbers as SASRec alone), lean or not."""
    if text_share == 0:
        return scores
    weight: float | torch.Tensor = text_share
    if lean is not None:
        weight = (text_share + lean).clamp(0.0, 1.0)
    fused = torch.full_like(scores, -torch.inf)
    fused[:, 1:] = (1.0 - weight) * standardize(scores[:, 1:]) + weight * standardize(text[:, 1:])
    return fused


class SASRec(Recommender):
    """The sequence model on its own (``model: sasrec``), and the sequence branch of UR4Rec.

    With ``sasrec.text_score_share`` ``s`` > 0 (or ``select_text_score_share``, which chooses
    ``s`` on validation after training) the ranking is ``(1 − s)·z(SASRec) + s·z(text)``: z a
    per-user z-score over the items, text the zero-shot score of
    :class:`~ur4rec.models.text_similarity.RecentTextSimilarity`. The text score knows how every
    item reads, the ids only how the trained ones were bought — on Amazon data the blend lifts
    short histories and rare items (docs/text-value.md). Training never reads it. With
    ``sasrec.text_score_rarity`` β > 0 the share is per item, larger for rarely bought ones
    (:func:`blend_text_score`).
    """

    fused_with = "text"

    def __init__(self, num_items: int, config: SASRecConfig, item_text: Any = None,
                 trained_items: Any = None, item_terms: Any = None) -> None:
        """``item_text`` ``[N + 1, E]`` frozen text vectors feed ``sasrec.item_text: adapter``
        and the text score; ``trained_items`` ``[N + 1]`` training counts feed the adapter (ids
        of untrained items are zeroed); ``item_terms`` (scipy CSR ``[N + 1, V]``, TF-IDF) feed
        the text score's lexical view (``sasrec.text_score_lexical_share``)."""
        super().__init__()
        self.num_items = num_items
        self.config = config
        self.max_seq_len = config.max_seq_len
        view = None
        if config.item_text == "adapter":
            if item_text is None:
                raise ConfigError("sasrec.item_text is 'adapter' but this model gets no item "
                                  "texts (model: sasrec and ur4rec read them from texts.*)")
            view = ItemTextAdapter(item_text, config.hidden_dim, trained_items,
                                   config.item_text_gate_init, config.item_text_pca_init,
                                   config.item_text_id_dropout, config.item_text_experts)
        self.encoder = SASRecEncoder(num_items, config, view)
        self.text_similarity: nn.Module | None = None
        rarity = None
        if config.blends_text_score:
            if item_text is None:
                raise ConfigError("sasrec.text_score_share / select_text_score_share blend in "
                                  "the text score but this model gets no item texts")
            self.text_similarity = recent_text_score(
                item_text, item_terms, config.text_score_history_len,
                config.text_score_lexical_share, "sasrec.text_score_lexical_share")
            # saved with the model: a run's final.pt ranks with the share chosen on validation
            self.register_buffer("text_score_share", torch.tensor(config.text_score_share))
            if config.text_score_rarity > 0 or config.select_text_score_rarity:
                if trained_items is None:
                    raise ConfigError("sasrec.text_score_rarity leans on the items' training "
                                      "counts but this model gets none")
                rarity = rarity_offsets(trained_items)
                # saved with the model, as the share: final.pt ranks with the β chosen
                self.register_buffer("text_score_rarity",
                                     torch.tensor(config.text_score_rarity))
        if rarity is None:
            self.rarity: torch.Tensor | None = None  # no lean
        else:  # [N] rarity_offsets, rebuilt from the training counts (not saved)
            self.register_buffer("rarity", rarity, persistent=False)
        self.selects_fusion_weights = config.select_text_score_share
        self.selects_rarity_lean = config.select_text_score_rarity
        self.inner_product_scores = self.text_similarity is None

    @property
    def item_embeddings(self) -> torch.Tensor:
        return self.encoder.item_table()

    def alignment_loss(self) -> torch.Tensor | None:
        """``sasrec.item_text_align_weight`` × the adapter's text-to-id alignment (LLMEmb-style),
        or ``None`` when off."""
        weight = self.config.item_text_align_weight
        view = self.encoder.item_view
        if view is None or weight == 0:
            return None
        return weight * view.alignment_loss(self.encoder.item_emb.weight)

    def user_state(self, batch: UserBatch) -> torch.Tensor:
        """``[B, D]``: the hidden state at each row's newest item (``length - 1``)."""
        hidden = self.encoder(batch.history)
        last = (batch.lengths - 1).clamp(min=0)
        return hidden[torch.arange(len(last), device=hidden.device), last]

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        """``[B, N + 1]``: ``<user state, item vector>``, blended with the text score where
        ``sasrec.text_score_share`` (or the share chosen on validation) is above 0."""
        scores = self.user_state(batch) @ self.item_embeddings.T
        text_share = 1.0 - self.sasrec_share()
        if text_share == 0:  # SASRec alone (e.g. validation in training): no text score to compute
            return scores
        return blend_text_score(scores, self.text_similarity(batch.history, batch.lengths),
                                text_share, self._lean())

    def sasrec_share(self) -> float:
        return 1.0 if self.text_similarity is None else 1.0 - float(self.text_score_share)

    def set_sasrec_share(self, share: float) -> None:
        if self.text_similarity is None:
            raise ValueError("this SASRec blends no text score (sasrec.text_score_share)")
        self.text_score_share.fill_(1.0 - share)

    def score_all_shares(self, batch: UserBatch, shares: Sequence[float]
                         ) -> dict[str, torch.Tensor]:
        if self.text_similarity is None:
            raise ValueError("this SASRec blends no text score (sasrec.text_score_share)")
        scores = self.user_state(batch) @ self.item_embeddings.T
        text = self.text_similarity(batch.history, batch.lengths)
        lean = self._lean()
        return {repr(share): blend_text_score(scores, text, 1.0 - share, lean)
                for share in shares}

    def rarity_lean(self) -> float:
        return 0.0 if self.rarity is None else float(self.text_score_rarity)

    def set_rarity_lean(self, lean: float) -> None:
        if self.rarity is None:
            raise ValueError("this SASRec has no rarity lean (sasrec.text_score_rarity / "
                             "select_text_score_rarity)")
        self.text_score_rarity.fill_(lean)

    def _lean(self) -> torch.Tensor | None:
        """``[N]`` per-item addition to the text share, or None (no lean)."""
        if self.rarity is None:
            return None
        return self.text_score_rarity * self.rarity

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """One group: the whole sequence model (every stage trains it)."""
        return {"sasrec": list(self.parameters())}

    def training_loss(self, batch: TrainBatch, step: TrainingStep) -> dict[str, torch.Tensor]:
        """The next-item loss at every position of the training prefix (component
        ``sasrec``)."""
        loss = self.sequence_loss(self.encoder(batch.inputs), batch, step)
        loss = weigh_components({"sasrec": loss}, {"sasrec": (batch.targets > 0).sum()},
                                step.shard_weights)["sasrec"]
        return {"loss": loss, "sasrec": loss.detach()}

    def sequence_loss(self, hidden: torch.Tensor, batch: TrainBatch, step: TrainingStep
                      ) -> torch.Tensor:
        """The next-item loss (``step.loss``) of ``hidden`` ``[B, L, D]`` at every position that
        has a target (seq-to-seq); ``step.excluded`` items (cold ones) are neither in the softmax
        nor sampled as negatives. ``shared_softmax`` draws its negatives from ``step.shared``.
        With ``sasrec.item_text_align_weight`` the item-text adapter's alignment term is
        added."""
        loss = self._next_item_loss(hidden, batch, step)
        align = self.alignment_loss()
        return loss if align is None else loss + align

    def _next_item_loss(self, hidden: torch.Tensor, batch: TrainBatch, step: TrainingStep
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
        if step.loss == "shared_softmax":
            if step.shared is None:
                raise ValueError("loss 'shared_softmax' needs a SharedNegatives sampler")
            return shared_softmax(rows(hidden), rows(batch.targets),
                                  step.shared.draw(step.generator), self.item_embeddings,
                                  step.shared.correction, weights)
        negatives = None
        if step.loss != "ce":
            length = batch.targets.shape[1]
            positives = batch.positives
            if step.excluded is not None:
                positives = positives | step.excluded.unsqueeze(0)  # never drawn as a negative
            drawn = sample_negatives(positives, length * step.num_negatives, step.generator)
            negatives = rows(drawn.view(len(drawn), length, step.num_negatives))
        return next_item_loss(step.loss, rows(hidden), rows(batch.targets),
                              self.item_embeddings, negatives, step.excluded, weights)
