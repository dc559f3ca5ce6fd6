"""The MoE preference retriever (docs/configuration.md, ``retriever``).

Each expert turns one view of the user into a ``D``-vector:

- ``user_text``: the user's preference paragraph (sentence-encoder vector → trained projection);
- ``history_text``: attention pooling over the description vectors of the recent history items;
- ``item_id``: attention pooling over the retriever's own id embeddings of the history items;
- ``image``: attention pooling over user-supplied image features of the history items.

Learnable proxy tokens join the expert tokens in one self-attention layer that refines them;
a router then weighs the refined experts per (user, candidate) from the candidate's key, and the
score is the weighted cosine similarity with the candidate's representation over a learned
temperature. Histories are pooled causally, so one pass yields the user at every position — the
retriever trains on several targets per user without reading items after each target.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ur4rec.config import RetrieverConfig
from ur4rec.models.sasrec import FastDropout

HISTORY_EXPERTS = ("history_text", "item_id", "image")


class TextProjection(nn.Module):
    """Frozen encoder vectors ``[*, E]`` → trained ``[*, D]`` (Linear → LayerNorm → Dropout)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim),
                                 FastDropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CausalPooling(nn.Module):
    """Attention pooling of items ``[B, L, D]`` into a user vector at chosen positions.

    The vector at position ``t`` pools items ``j ≤ t`` within the last ``window`` (a learned
    query scores each item, a learned bias per distance ``t - j`` adds recency); right padding
    is never visible. Only the requested positions are computed (``[B, P, L]`` weights).
    """

    def __init__(self, dim: int, window: int) -> None:
        super().__init__()
        self.window = window
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.query = nn.Parameter(torch.randn(dim) / math.sqrt(dim))
        self.recency = nn.Parameter(torch.zeros(window))

    def forward(self, items: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``items`` ``[B, L, D]``, ``positions`` ``[B, P]`` → ``[B, P, D]``."""
        length = items.shape[1]
        scores = self.key(items) @ self.query / math.sqrt(items.shape[-1])  # [B, L]
        distance = positions.unsqueeze(-1) - torch.arange(length, device=items.device)  # [B,P,L]
        visible = (distance >= 0) & (distance < self.window)
        bias = self.recency[distance.clamp(0, self.window - 1)].masked_fill(~visible, -torch.inf)
        weights = torch.softmax(scores.unsqueeze(1) + bias, dim=-1)  # [B, P, L]
        return weights @ self.value(items)


class MoERetriever(nn.Module):
    """Scores items for users from text, id and (optional) image views, mixed per candidate."""

    def __init__(self, num_items: int, text_dim: int, config: RetrieverConfig,
                 image_dim: int | None = None, single_expert: bool = False,
                 cold: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        self.experts = list(config.experts)
        self.single_expert = single_expert
        dim = config.output_dim
        self.item_text = TextProjection(text_dim, dim, config.dropout)
        self.item_id = nn.Embedding(num_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.item_id.weight, std=dim ** -0.5)
        # cosine scores ignore how popular an item is; a learned bias per item gives that back
        self.item_bias = nn.Parameter(torch.zeros(num_items + 1))
        # ``cold`` [N + 1] bool (data.cold_items): those items never train, their random id
        # vectors would only add noise to the text that carries them — their id part is 0
        id_kept = torch.ones(num_items + 1, 1) if cold is None else (~cold).float().unsqueeze(1)
        self.register_buffer("id_kept", id_kept, persistent=False)
        if "user_text" in self.experts:
            self.user_text = TextProjection(text_dim, dim, config.dropout)
        if "image" in self.experts:
            if image_dim is None:
                raise ValueError("the image expert needs image features")
            self.item_image = TextProjection(image_dim, dim, config.dropout)
        self.pooling = nn.ModuleDict({name: CausalPooling(dim, config.history_len)
                                      for name in self.experts if name in HISTORY_EXPERTS})
        self.proxies = nn.Parameter(torch.randn(config.num_proxies, dim) * 0.02)
        self.refine = nn.TransformerEncoderLayer(dim, config.num_heads, 2 * dim, config.dropout,
                                                 batch_first=True, norm_first=True)
        for name in ("dropout", "dropout1", "dropout2"):  # same masks' law, ~2x faster on CPU
            setattr(self.refine, name, FastDropout(config.dropout))
        self.router_query = nn.Linear(dim, dim)
        self.router_key = nn.Linear(dim, dim)
        self.router_bias = nn.Parameter(torch.zeros(len(self.experts)))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(config.temperature)),
                                            requires_grad=config.learn_temperature)
        self.routing_sum = torch.zeros(len(self.experts))
        self.routing_count = 0

    # ------------------------------------------------------------------ items
    def item_representations(self, item_text: torch.Tensor, item_image: torch.Tensor | None,
                             rows: torch.Tensor | None = None) -> torch.Tensor:
        """``[N + 1, D]`` candidate vectors: id embedding (``retriever.item_id``) + projected
        description (``retriever.item_text``) (+ image); ``[M, D]`` of the items ``rows``
        ``[M]`` only (a sampled training catalogue costs M, not N)."""
        ids = (self.item_id.weight * self.id_kept if rows is None
               else self.item_id(rows) * self.id_kept[rows])
        items = torch.zeros_like(ids)
        if self.config.item_id:
            items = items + ids
        if self.config.item_text:
            items = items + self.item_text(item_text if rows is None else item_text[rows])
        if "image" in self.experts and item_image is not None:
            items = items + self.item_image(item_image if rows is None else item_image[rows])
        return items

    def projected_history_text(self, item_text: torch.Tensor, history: torch.Tensor
                               ) -> torch.Tensor:
        """``[B, L, D]`` projected descriptions of the ``history`` ``[B, L]`` items: on the CPU
        only the distinct items of the batch are projected when they are fewer than the
        catalogue; on an accelerator the whole catalogue is (cheap there, and finding the
        distinct items would make the host wait for the device)."""
        if history.device.type != "cpu" or history.numel() >= item_text.shape[0]:
            return self.item_text(item_text)[history]
        unique, inverse = torch.unique(history, return_inverse=True)
        return self.item_text(item_text[unique])[inverse]

    def _history_views(self, history: torch.Tensor, item_image: torch.Tensor | None,
                       item_text: torch.Tensor, positions: torch.Tensor
                       ) -> dict[str, torch.Tensor]:
        views = {"history_text": lambda: self.projected_history_text(item_text, history),
                 "item_id": lambda: self.item_id(history),
                 "image": lambda: self.item_image(item_image)[history]}
        return {name: self.pooling[name](views[name](), positions) for name in self.pooling}

    # ------------------------------------------------------------------ users
    def expert_tokens(self, user_text: torch.Tensor | None, history: torch.Tensor,
                      item_text: torch.Tensor, item_image: torch.Tensor | None,
                      positions: torch.Tensor) -> torch.Tensor:
        """Expert tokens ``[B, P, K, D]`` at the chosen ``positions`` ``[B, P]`` (before
        refinement). ``user_text`` ``[B, E]`` is the user's encoded preference paragraph."""
        pooled = self._history_views(history, item_image, item_text, positions)
        tokens = []
        for name in self.experts:
            if name == "user_text":
                projected = self.user_text(user_text)
                tokens.append(projected.unsqueeze(1).expand(-1, positions.shape[1], -1))
            else:
                tokens.append(pooled[name])
        return torch.stack(tokens, dim=2)

    def refine_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Self-attention over expert tokens plus learnable proxies ``[B, P, K, D]`` → same shape
        (one summed token when the MoE is ablated to a single expert)."""
        if self.single_expert:
            tokens = tokens.sum(dim=2, keepdim=True)
        batch, count, experts, dim = tokens.shape
        flat = tokens.reshape(batch * count, experts, dim)
        proxies = self.proxies.unsqueeze(0).expand(len(flat), -1, -1)
        refined = self.refine(torch.cat([flat, proxies], dim=1))[:, :experts]
        return refined.reshape(batch, count, experts, dim)

    def route_weights(self, tokens: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``[B, K]`` router weights of refined tokens ``[B, K, D]`` for one item each
        ``[B, D]`` (the same weights :meth:`score` mixes with)."""
        keys = self.router_key(items).unsqueeze(1)  # [B, 1, D]
        logits = (self.router_query(tokens) * keys).sum(-1) / math.sqrt(items.shape[-1])
        if not self.single_expert:
            logits = logits + self.router_bias
        return torch.softmax(logits, dim=-1)

    def score(self, tokens: torch.Tensor, items: torch.Tensor, rows: torch.Tensor | None = None
              ) -> torch.Tensor:
        """Scores ``[..., N]`` of expert tokens ``[..., K, D]`` against the real items ``[N, D]``
        (item indices 1..N; or the items ``rows`` ``[M]`` when given): routed cosine similarity
        over the temperature, plus the item's bias."""
        bias = self.item_bias[1:] if rows is None else self.item_bias[rows]
        # the temperature scales the [..., K, D] tokens rather than the [..., K, N] scores
        scaled = F.normalize(tokens, dim=-1) / self.log_temperature.exp().clamp(min=1e-3)
        similarity = scaled @ F.normalize(items, dim=-1).T  # [..., K, N]
        if self.single_expert:  # one summed token: its routing weight is exactly 1
            return similarity.squeeze(-2) + bias
        keys = self.router_key(items)  # [N, D]
        queries = self.router_query(tokens)  # [..., K, D]
        route_logits = queries @ keys.T / math.sqrt(items.shape[-1])  # [..., K, N]
        weights = torch.softmax(route_logits + self.router_bias[:, None], dim=-2)
        if self.training:
            self._record_routing(weights)
        return (weights * similarity).sum(dim=-2) + bias

    def _record_routing(self, weights: torch.Tensor) -> None:
        if self.single_expert:
            return
        mean = weights.detach().float().mean(dim=tuple(i for i in range(weights.ndim) if
                                                       i != weights.ndim - 2))
        self.routing_sum = self.routing_sum.to(mean.device) + mean
        self.routing_count += 1

    def routing_statistics(self, reset: bool = True) -> dict[str, float]:
        """Mean router weight per expert since the last reset."""
        if self.single_expert or not self.routing_count:
            return {}
        means = (self.routing_sum / self.routing_count).tolist()
        if reset:
            self.routing_sum = torch.zeros(len(self.experts))
            self.routing_count = 0
        return dict(zip(self.experts, means, strict=True))

    def summary(self, tokens: torch.Tensor) -> torch.Tensor:
        """One vector per user (mean of the refined experts) for memory and adaptive fusion."""
        return tokens.mean(dim=-2)
