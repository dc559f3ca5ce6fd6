"""Fusion of the SASRec and retriever scores (docs/configuration.md, ``fusion``).

Both branches score the whole catalogue; each row is standardised (zero mean, unit variance over
the items) so neither branch dominates by scale, then mixed:

- ``weighted``: fixed ``sasrec_weight`` / ``retriever_weight`` (normalised to sum to one);
- ``learned``: two global weights, trained (softmax of two logits, started at the config's);
- ``adaptive``: per-user weights from both user representations (a small MLP, softmax).

A learned scale sharpens the fused scores for the softmax loss; it never changes a ranking.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ur4rec.config import FusionConfig


def standardize(scores: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-row z-score over the last dimension (the items)."""
    mean = scores.mean(dim=-1, keepdim=True)
    std = scores.std(dim=-1, keepdim=True)
    return (scores - mean) / (std + eps)


class ScoreFusion(nn.Module):
    def __init__(self, config: FusionConfig, sasrec_dim: int, retriever_dim: int) -> None:
        super().__init__()
        self.config = config
        total = config.sasrec_weight + config.retriever_weight
        prior = torch.tensor([config.sasrec_weight / total, config.retriever_weight / total])
        self.register_buffer("fixed", prior)
        self.logits = nn.Parameter(prior.clamp(min=1e-3).log(),
                                   requires_grad=config.method == "learned")
        if config.method == "adaptive":
            self.adaptive = nn.Sequential(nn.Linear(sasrec_dim + retriever_dim, 32), nn.GELU(),
                                          nn.Linear(32, 2))
            nn.init.zeros_(self.adaptive[-1].weight)
            with torch.no_grad():
                self.adaptive[-1].bias.copy_(prior.clamp(min=1e-3).log())
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.weight_sum = torch.zeros(2)
        self.weight_count = 0

    def weights(self, sasrec_state: torch.Tensor | None, retriever_state: torch.Tensor | None
                ) -> torch.Tensor:
        """``[B, 2]`` (adaptive) or ``[1, 2]`` weights for (sasrec, retriever)."""
        if self.config.method == "weighted":
            return self.fixed.unsqueeze(0)
        if self.config.method == "learned":
            return torch.softmax(self.logits, dim=0).unsqueeze(0)
        features = torch.cat([sasrec_state, retriever_state], dim=-1)
        return torch.softmax(self.adaptive(features), dim=-1)

    def forward(self, sasrec_scores: torch.Tensor, retriever_scores: torch.Tensor,
                weights: torch.Tensor) -> torch.Tensor:
        """Fuse ``[..., N]`` score rows with ``weights`` broadcastable to ``[..., 2]``."""
        if self.config.normalize:
            sasrec_scores = standardize(sasrec_scores)
            retriever_scores = standardize(retriever_scores)
        if self.training:
            self.weight_sum = self.weight_sum.to(weights.device) + weights.detach().reshape(
                -1, 2).mean(dim=0)
            self.weight_count += 1
        fused = weights[..., :1] * sasrec_scores + weights[..., 1:] * retriever_scores
        return fused * self.log_scale.exp() if self.config.normalize else fused

    def statistics(self, reset: bool = True) -> dict[str, float | str]:
        stats: dict[str, float | str] = {"method": self.config.method}
        if self.weight_count:
            mean = (self.weight_sum / self.weight_count).tolist()
        else:
            mean = self.weights(None, None).reshape(-1).tolist() \
                if self.config.method != "adaptive" else [math.nan, math.nan]
        stats.update(sasrec_weight=mean[0], retriever_weight=mean[1],
                     scale=float(self.log_scale.detach().exp()))
        if reset:
            self.weight_sum = torch.zeros(2)
            self.weight_count = 0
        return stats
