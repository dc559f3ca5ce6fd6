"""Batched evaluation on both protocols at once: fixed sampled candidates and full ranking.

One forward pass per batch of users scores every item; the sampled protocol gathers the fixed
candidates from those scores, the full protocol ranks the target against every item with the
user's history (what the model read) masked. No Python loop per user touches scores.
The same per-user metrics are averaged over slices of the users (:mod:`ur4rec.evaluation.slices`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ur4rec.config import EvaluationConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.data.sequences import crop_to_longest, history_mask, pad_right
from ur4rec.evaluation.metrics import per_user_metrics, rank_bounds, summarize
from ur4rec.evaluation.slices import SliceSpec, slice_spec, split_slices
from ur4rec.models.base import Recommender, UserBatch


@dataclass
class SplitResult:
    """Metrics of one split on both protocols; ``details`` per user when asked for.

    ``slices`` is ``{protocol: {slice: metrics + "users"}}`` (always filled, from the same
    per-user metrics) and ``slice_thresholds`` the cut-offs that define the slices
    (:mod:`ur4rec.evaluation.slices`).
    """

    metrics: dict[str, dict[str, float]]
    details: dict[str, Any] = field(default_factory=dict)
    slices: dict[str, dict[str, dict[str, float | int | None]]] = field(default_factory=dict)
    slice_thresholds: dict[str, Any] = field(default_factory=dict)


def with_slices(result: SplitResult, spec: SliceSpec, split: str,
                per_user: dict[str, dict[str, torch.Tensor]]) -> SplitResult:
    """``result`` with its slices filled from the per-user metrics of each protocol."""
    result.slices = split_slices(spec, split, per_user)
    result.slice_thresholds = dict(spec.thresholds)
    return result


def split_inputs(data: PreparedData, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """The history a model reads before each target, and the candidates of that split."""
    if split == "valid":
        return data.train_sequences, data.valid_candidates
    if split == "test":
        return [seq[:-1] for seq in data.sequences], data.test_candidates
    raise ValueError(f"unknown split {split!r} (valid or test)")


class Evaluator:
    """Evaluates any :class:`Recommender` on a prepared dataset; inputs are built once."""

    def __init__(self, data: PreparedData, config: EvaluationConfig) -> None:
        self.data = data
        self.config = config
        self._cache: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]] = {}
        self._slices: SliceSpec | None = None
        self.cold = torch.as_tensor(np.asarray(data.cold_items, dtype=np.int64))

    @property
    def slice_spec(self) -> SliceSpec:
        """The slices of the data (built once)."""
        if self._slices is None:
            self._slices = slice_spec(self.data)
        return self._slices

    def _inputs(self, split: str, max_len: int
                ) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]:
        """Padded model inputs ``[U, max_len]``, candidates ``[U, C]`` and the full histories
        (the masks are built per batch: ``[U, N + 1]`` at once would not fit at scale)."""
        key = (split, max_len)
        if key not in self._cache:
            histories, candidates = split_inputs(self.data, split)
            self._cache[key] = (pad_right(histories, max_len), torch.from_numpy(candidates),
                                histories)
        return self._cache[key]

    def _masked(self, histories: list[np.ndarray], rows: torch.Tensor) -> torch.Tensor:
        """``[B, N + 1]`` bool: what is not a full-ranking competitor for these users — their
        history, padding and the cold items (not in the warm catalogue: ranked apart)."""
        masked = history_mask([histories[r] for r in rows.tolist()], self.data.num_items)
        masked[:, 0] = True
        masked[:, self.cold] = True
        return masked

    @torch.no_grad()
    def evaluate(self, model: Recommender, split: str, device: torch.device | str = "cpu",
                 details: bool = False) -> SplitResult:
        """Hit/NDCG@K, MRR and average rank on ``split`` ('valid' or 'test'), both protocols.

        Scores stay on ``device``; only the two rank bounds per user come back. Inner-product
        models over a very large catalogue go through a FAISS index instead (same results).
        """
        from ur4rec.scale.retrieval import faiss_split_result, use_faiss  # imports this module

        if use_faiss(model, self.data.num_items):
            return faiss_split_result(model, self.data, split, self.config, device, details)
        results = self.evaluate_many(model, split, device,
                                     lambda batch: {"": model.score_all(batch)}, details)
        return results[""]

    @torch.no_grad()
    def evaluate_many(self, model: Recommender, split: str, device: torch.device | str,
                      score_variants: Callable[[UserBatch], dict[str, torch.Tensor]],
                      details: bool = False) -> dict[str, SplitResult]:
        """:meth:`evaluate` for several scorings of one model in one pass over the users:
        ``score_variants(batch)`` returns ``{name: [B, N + 1] scores}`` (e.g. one fusion weight
        each, from branch scores computed once); the result holds one split result per name."""
        device = torch.device(device)
        was_training = model.training
        model.eval()
        history, candidates, histories = self._inputs(split, model.max_seq_len)
        bounds: dict[str, dict[str, list[tuple[torch.Tensor, torch.Tensor]]]] = {}
        kept_scores: dict[str, list[torch.Tensor]] = {}
        order = []
        # users of similar history length share a batch, cropped to its longest history
        by_length = torch.argsort((history > 0).sum(dim=1), stable=True)
        for rows in torch.split(by_length, self.config.batch_size):
            order.append(rows)
            (seqs,) = crop_to_longest(history[rows])
            variants = score_variants(UserBatch(rows, seqs).to(device))
            cands = candidates[rows].to(device, non_blocking=True)
            competitors_full = self._full_competitors(histories, rows, cands, device)
            for name, scores in variants.items():
                sampled, full, cand_scores = _rank_bounds_of(scores.float(), cands,
                                                             competitors_full)
                parts = bounds.setdefault(name, {"sampled": [], "full": []})
                parts["sampled"].append(sampled)
                parts["full"].append(full)
                if details:
                    kept_scores.setdefault(name, []).append(cand_scores.cpu())
        restore = torch.argsort(torch.cat(order))
        model.train(was_training)
        return {name: self._result(parts, restore, split, candidates,
                                   kept_scores.get(name) if details else None)
                for name, parts in bounds.items()}

    def _full_competitors(self, histories: list[np.ndarray], rows: torch.Tensor,
                          cands: torch.Tensor, device: torch.device) -> torch.Tensor:
        """``[B, N + 1]`` bool: the items the target competes with in full ranking."""
        if self.config.mask_history:
            competitors = ~self._masked(histories, rows).to(device, non_blocking=True)
        else:
            competitors = torch.ones(len(rows), self.data.num_items + 1, dtype=torch.bool,
                                     device=device)
            competitors[:, self.cold.to(device)] = False
        competitors[:, 0] = False
        competitors.scatter_(1, cands[:, :1], False)
        return competitors

    def _result(self, parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]],
                restore: torch.Tensor, split: str, candidates: torch.Tensor,
                kept_scores: list[torch.Tensor] | None) -> SplitResult:
        metrics, per_user = {}, {}
        for protocol, bounds in parts.items():
            lower = torch.cat([part[0] for part in bounds])[restore]
            upper = torch.cat([part[1] for part in bounds])[restore]
            per_user[protocol] = per_user_metrics(lower, upper, self.config.ks, self.config.ties)
            metrics[protocol] = summarize(per_user[protocol])
        result = with_slices(SplitResult(metrics), self.slice_spec, split, per_user)
        if kept_scores is not None:
            result.details = {"candidates": candidates,
                              "scores": torch.cat(kept_scores)[restore],
                              "full_rank": per_user["full"]["avg_rank"]}
        return result


def _rank_bounds_of(scores: torch.Tensor, cands: torch.Tensor, competitors_full: torch.Tensor
                    ) -> tuple[tuple[torch.Tensor, torch.Tensor],
                               tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Rank bounds of each row's target (candidate 0) among its sampled candidates and among
    ``competitors_full`` ``[B, N + 1]``, brought to the host, plus the candidates' scores."""
    cand_scores = scores.gather(1, cands)
    competitors = torch.ones_like(cand_scores, dtype=torch.bool)
    competitors[:, 0] = False
    sampled = rank_bounds(cand_scores, cand_scores[:, 0], competitors)
    full = rank_bounds(scores, cand_scores[:, 0], competitors_full)
    return (tuple(t.cpu() for t in sampled), tuple(t.cpu() for t in full),  # type: ignore[return-value]
            cand_scores)
