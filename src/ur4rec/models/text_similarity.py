"""The text zero-shot score: how close an item's text is to the texts a user read last.

The user is the mean of the unit text vectors of their last ``history_len`` items; an item
scores its cosine with that mean. ``model: text_zero_shot`` ranks by it alone
(:mod:`ur4rec.models.text_baselines`); SASRec blends it into its own ranking
(``sasrec.text_score_share``, :class:`ur4rec.models.sasrec.SASRec`). No parameter is trained.

:class:`RecentTermSimilarity` is its lexical twin over TF-IDF term vectors
(:mod:`ur4rec.text.lexical`); :class:`HybridTextScore` mixes the two
(``sasrec.text_score_lexical_share``).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ur4rec.errors import ConfigError
from ur4rec.models.fusion import standardize


def recent_positions(history: torch.Tensor, lengths: torch.Tensor, history_len: int
                     ) -> torch.Tensor:
    """``[B, L]`` bool: the last ``history_len`` real items of each right-padded history row."""
    columns = torch.arange(history.shape[1], device=history.device).unsqueeze(0)
    ends = lengths.unsqueeze(1)
    return (columns < ends) & (columns >= ends - history_len)


class RecentTextSimilarity(nn.Module):
    """``(history [B, L], lengths [B]) → [B, N + 1]`` cosine scores; padding scores −inf."""

    def __init__(self, item_text: Any, history_len: int) -> None:
        """``item_text`` ``[N + 1, E]`` frozen text vectors (row 0: padding)."""
        super().__init__()
        vectors = F.normalize(torch.as_tensor(item_text, dtype=torch.float32), dim=-1)
        self.register_buffer("item_text", vectors, persistent=False)  # [N + 1, E]
        self.history_len = history_len

    def forward(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        recent = recent_positions(history, lengths, self.history_len)
        summed = (self.item_text[history] * recent.unsqueeze(-1)).sum(dim=1)  # [B, E]
        scores = F.normalize(summed, dim=-1) @ self.item_text.T
        scores[:, 0] = -torch.inf
        return scores


class RecentTermSimilarity(nn.Module):
    """``(history [B, L], lengths [B]) → [B, N + 1]``: cosine of each item's TF-IDF row with the
    sum of the rows of the user's last ``history_len`` items; padding scores −inf. Sparse
    products, so a vocabulary of 10⁵ terms never becomes a dense ``[N, V]`` table."""

    def __init__(self, item_terms: Any, history_len: int) -> None:
        """``item_terms``: scipy CSR ``[N + 1, V]``, unit rows (row 0: padding, zero)."""
        super().__init__()
        self.register_buffer("terms", _torch_csr(item_terms), persistent=False)  # [N + 1, V]
        self.register_buffer("terms_t", _torch_csr(item_terms.T.tocsr()), persistent=False)
        self.history_len = history_len

    def forward(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        recent = recent_positions(history, lengths, self.history_len).float()
        picks = torch.zeros(history.shape[0], self.terms.shape[0], device=history.device)
        picks.scatter_add_(1, history, recent)  # [B, N + 1]: how often each recent item
        picks[:, 0] = 0
        users = F.normalize(self.terms_t @ picks.T, dim=0)  # [V, B]
        scores = (self.terms @ users).T.contiguous()  # [B, N + 1]
        scores[:, 0] = -torch.inf
        return scores


class HybridTextScore(nn.Module):
    """``[B, N + 1]``: ``z((1 − λ)·z(dense) + λ·z(lexical))``, z a per-user z-score over the
    items, dense = :class:`RecentTextSimilarity` (MiniLM), lexical = :class:`RecentTermSimilarity`
    (TF-IDF); padding −inf. ``λ`` = ``sasrec.text_score_lexical_share`` (0 < λ ≤ 1)."""

    def __init__(self, item_text: Any, item_terms: Any, history_len: int,
                 lexical_share: float) -> None:
        """At ``λ`` = 1 the MiniLM vectors are not read (no dense buffer is kept)."""
        super().__init__()
        self.dense = (RecentTextSimilarity(item_text, history_len) if lexical_share < 1
                      else None)
        self.lexical = RecentTermSimilarity(item_terms, history_len)
        self.lexical_share = lexical_share

    def forward(self, history: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mixed = self.lexical_share * standardize(self.lexical(history, lengths)[:, 1:])
        if self.dense is not None:
            mixed = mixed + (1 - self.lexical_share) * standardize(
                self.dense(history, lengths)[:, 1:])
        scores = torch.full((history.shape[0], mixed.shape[1] + 1), -torch.inf,
                            device=mixed.device)
        scores[:, 1:] = standardize(mixed)
        return scores


def recent_text_score(item_text: Any, item_terms: Any, history_len: int,
                      lexical_share: float, key: str) -> nn.Module:
    """The text score SASRec blends in (and ``text_zero_shot`` ranks by): the MiniLM cosine
    alone at ``lexical_share`` 0 (no term vectors read), else :class:`HybridTextScore`.
    ``key``: the setting that holds ``lexical_share``, named when term vectors are missing."""
    if lexical_share == 0:
        return RecentTextSimilarity(item_text, history_len)
    if item_terms is None:
        raise ConfigError(f"{key} mixes in the item texts' term vectors but this model gets none")
    return HybridTextScore(item_text, item_terms, history_len, lexical_share)


def _torch_csr(matrix: Any) -> torch.Tensor:
    """scipy CSR → torch sparse CSR (column indices sorted, invariants checked once, here)."""
    matrix = matrix.tocsr().sorted_indices()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(torch.from_numpy(matrix.indptr).long(),
                                       torch.from_numpy(matrix.indices).long(),
                                       torch.from_numpy(matrix.data.astype("float32")),
                                       size=matrix.shape, check_invariants=True)
