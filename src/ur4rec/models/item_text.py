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
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ItemTextAdapter(nn.Module):
    """``[N + 1, E]`` frozen text vectors → the text view ``g·A(t)`` ``[N + 1, D]`` added to ids."""

    def __init__(self, item_text: np.ndarray, dim: int, trained_items: np.ndarray | None,
                 gate_init: float = 0.1, pca_init: bool = True, id_dropout: float = 0.0) -> None:
        super().__init__()
        self.id_dropout = id_dropout
        text = torch.as_tensor(item_text, dtype=torch.float32)
        self.register_buffer("text", text, persistent=False)
        keep = torch.ones(len(text), dtype=torch.bool)
        if trained_items is not None:
            keep = torch.as_tensor(np.asarray(trained_items) > 0)
        keep[0] = False  # padding stays zero
        self.register_buffer("id_mask", keep.float().unsqueeze(1), persistent=False)
        self.project = nn.Linear(text.shape[1], dim)
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
