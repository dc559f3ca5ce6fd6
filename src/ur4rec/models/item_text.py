"""Item text inside the sequence model: a dual-view item table ``e_i = m_i·id_i + g·A(t_i)``.

``t_i`` is the frozen sentence vector of item ``i``'s text, ``A`` a small trained adapter
(Linear → LayerNorm, optionally started from the principal components of the trained items'
text vectors as LLM-ESR does; cold items never shape it), ``g`` a learned scalar gate started
small, and ``m_i`` zero for items with no training interaction: a cold item's id vector never
received a gradient, so it would only add noise — its text carries it alone. With ``id_dropout`` (DropoutNet, Volkovs et al. 2017) a
random share of the warm items lose their id part each time the training table is built (the
input and the output side of a step draw separately), so the text view is
trained to stand alone rather than only to correct the ids; with an alignment weight the view is
also pulled towards each trained item's id vector (LLMEmb-style). The same table feeds SASRec's
input and its tied output.

``A`` is one linear map, or with ``experts > 1`` UniSRec's MoE adaptor (Hou et al. 2022)
(:class:`MixtureTextProjection`): several parametric-whitening projections ``(t − b_k)·W_k``
mixed per item by a softmax gate read from the text — the mixture of experts moved from score
fusion into the item representation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ItemTextAdapter(nn.Module):
    """``[N + 1, E]`` frozen text vectors → the text view ``g·A(t)`` ``[N + 1, D]`` added to ids."""

    def __init__(self, item_text: np.ndarray, dim: int, trained_items: np.ndarray | None,
                 gate_init: float = 0.1, pca_init: bool = True, id_dropout: float = 0.0,
                 experts: int = 1) -> None:
        super().__init__()
        self.id_dropout = id_dropout
        text = torch.as_tensor(item_text, dtype=torch.float32)
        self.register_buffer("text", text, persistent=False)
        keep = torch.ones(len(text), dtype=torch.bool)
        if trained_items is not None:
            keep = torch.as_tensor(np.asarray(trained_items) > 0)
        keep[0] = False  # padding stays zero
        self.register_buffer("id_mask", keep.float().unsqueeze(1), persistent=False)
        self.project: nn.Module = (nn.Linear(text.shape[1], dim) if experts == 1
                                   else MixtureTextProjection(text.shape[1], dim, experts))
        self.norm = nn.LayerNorm(dim)
        self.gate = nn.Parameter(torch.tensor(float(gate_init)))
        if pca_init:  # trained items only: a cold item's text must not shape the start
            self._init_from_principal_components(text[keep], dim)

    @torch.no_grad()
    def _init_from_principal_components(self, text: torch.Tensor, dim: int) -> None:
        """The projection starts as the top ``dim`` principal directions of ``text`` ``[M, E]``
        (the trained items' texts, padding and never-trained — cold — items left out), so the
        text view begins with the directions in which the trained items differ most. Content
        only, but an item the model is evaluated on as new does not get to shape it."""
        mean = text.mean(dim=0)
        _, _, directions = torch.linalg.svd(text - mean, full_matrices=False)
        rank = min(dim, directions.shape[0])
        weight = torch.zeros(dim, text.shape[1])
        weight[:rank] = directions[:rank]
        if isinstance(self.project, MixtureTextProjection):
            self.project.start_from(weight, mean)
            return
        self.project.weight.copy_(weight)
        self.project.bias.copy_(-(weight @ mean))

    def alignment_loss(self, id_weights: torch.Tensor) -> torch.Tensor:
        """Mean ``1 − cos(A(t_i), id_i)`` over the trained items, the id side detached: it
        pulls the text view towards where training put each item's id — where a new item's
        text should place it — without moving the ids."""
        rows = self.id_mask[:, 0] > 0
        text = self.norm(self.project(self.text[rows]))
        return 1 - F.cosine_similarity(text, id_weights[rows].detach(), dim=-1).mean()

    def forward(self, id_weights: torch.Tensor) -> torch.Tensor:
        """``[N + 1, D]`` item table from the id table ``id_weights`` of the same shape."""
        view = self.gate * self.norm(self.project(self.text))
        view = torch.cat([torch.zeros_like(view[:1]), view[1:]])  # padding row 0
        keep = self.id_mask
        if self.training and self.id_dropout > 0:
            keep = keep * (torch.rand_like(keep) >= self.id_dropout)
        return id_weights * keep + view


class MixtureTextProjection(nn.Module):
    """UniSRec's MoE adaptor: ``Σ_k softmax(t·G)_k · (t − b_k)·W_k``, ``[M, E]`` → ``[M, D]``.

    Each expert whitens the text its own way (a learned shift ``b_k`` ``[E]`` and map ``W_k``
    ``[E, D]``); the gate ``G`` ``[E, K]`` reads the text, so items of different kinds can use
    different projections. The gate starts at zero (every expert weighted ``1/K``).
    """

    def __init__(self, text_dim: int, dim: int, experts: int) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(experts, text_dim))
        self.weight = nn.Parameter(torch.empty(experts, text_dim, dim))
        nn.init.normal_(self.weight, std=text_dim ** -0.5)
        self.router = nn.Linear(text_dim, experts, bias=False)
        nn.init.zeros_(self.router.weight)

    @torch.no_grad()
    def start_from(self, directions: torch.Tensor, mean: torch.Tensor) -> None:
        """Every expert starts as the principal-component map (``directions`` ``[D, E]``,
        ``mean`` ``[E]``) plus a little noise of its own, so the experts can drift apart."""
        noise = torch.randn_like(self.weight) * 0.1 * directions.abs().mean()
        self.weight.copy_(directions.T.unsqueeze(0) + noise)
        self.shift.copy_(mean.expand_as(self.shift))

    def mixing_weights(self, text: torch.Tensor) -> torch.Tensor:
        """``[M, K]`` softmax weights of the experts for each text."""
        return torch.softmax(self.router(text), dim=-1)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        experts = torch.einsum("mke,ked->mkd", text.unsqueeze(1) - self.shift, self.weight)
        return (self.mixing_weights(text).unsqueeze(-1) * experts).sum(dim=1)
