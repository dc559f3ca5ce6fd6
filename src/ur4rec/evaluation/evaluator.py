"""Batched evaluation on both protocols at once: fixed sampled candidates and full ranking.

A scorer ranks each user's target (:class:`SplitScorer`). The default, :class:`DenseScorer`, scores
every item in one forward pass per batch of users; the sampled protocol gathers the fixed
candidates from those scores, the full protocol ranks the target against every item with the
user's history (what the model read) masked. No Python loop per user touches scores. A vector
index can take its place for a very large catalogue (:mod:`ur4rec.retrieval.search`). The
evaluator turns the ranks into metrics, averaged over all users and over slices of them
(:mod:`ur4rec.evaluation.slices`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from ur4rec.config import EvaluationConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.data.sequences import PackedSequences, pad_right
from ur4rec.evaluation.heap import bounded_heap
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


@dataclass
class SplitRanks:
    """Each user's target rank bounds on one split, in user order on the host:
    ``bounds[protocol] = (lower [U], upper [U])`` for ``sampled`` and ``full``, and the
    candidates' scores ``[U, C]`` when asked for (``details``)."""

    bounds: dict[str, tuple[torch.Tensor, torch.Tensor]]
    candidate_scores: torch.Tensor | None = None


class SplitScorer(Protocol):
    """How the evaluator ranks a split's targets: :class:`DenseScorer` (every item scored, the
    default) or a vector index (:class:`ur4rec.retrieval.search.FaissScorer`, for an
    inner-product model over a very large catalogue; same results)."""

    def rank(self, model: Recommender, split: str, device: torch.device | str,
             details: bool) -> SplitRanks: ...


class Evaluator:
    """Evaluates any :class:`Recommender` on a prepared dataset: ``scorer`` ranks the targets
    (default :class:`DenseScorer`), the evaluator turns the ranks into metrics and slices."""

    def __init__(self, data: PreparedData, config: EvaluationConfig,
                 scorer: SplitScorer | None = None) -> None:
        self.data = data
        self.config = config
        self.dense = DenseScorer(data, config)
        self.scorer = scorer if scorer is not None else self.dense
        self._slices: SliceSpec | None = None

    @property
    def selection(self) -> tuple[str, str]:
        """``(protocol, metric)`` that chooses on validation (the epoch kept, fusion shares)."""
        return self.config.protocol, self.config.metric

    @property
    def slice_spec(self) -> SliceSpec:
        """The slices of the data (built once)."""
        if self._slices is None:
            self._slices = slice_spec(self.data)
        return self._slices

    @torch.no_grad()
    def evaluate(self, model: Recommender, split: str, device: torch.device | str = "cpu",
                 details: bool = False) -> SplitResult:
        """Hit/NDCG@K, MRR and average rank on ``split`` ('valid' or 'test'), both protocols."""
        return self._result(self.scorer.rank(model, split, device, details), split)

    @torch.no_grad()
    def evaluate_many(self, model: Recommender, split: str, device: torch.device | str,
                      score_variants: Callable[[UserBatch], dict[str, torch.Tensor]],
                      details: bool = False) -> dict[str, SplitResult]:
        """:meth:`evaluate` for several scorings of one model in one dense pass over the users:
        ``score_variants(batch)`` returns ``{name: [B, N + 1] scores}`` (e.g. one fusion weight
        each, from branch scores computed once); the result holds one split result per name."""
        ranks = self.dense.rank_many(model, split, device, score_variants, details)
        return {name: self._result(one, split) for name, one in ranks.items()}

    def _result(self, ranks: SplitRanks, split: str) -> SplitResult:
        metrics, per_user = {}, {}
        for protocol, (lower, upper) in ranks.bounds.items():
            per_user[protocol] = per_user_metrics(lower, upper, self.config.ks, self.config.ties)
            metrics[protocol] = summarize(per_user[protocol])
        result = with_slices(SplitResult(metrics), self.slice_spec, split, per_user)
        if ranks.candidate_scores is not None:
            result.details = {"candidates": torch.from_numpy(split_inputs(self.data, split)[1]),
                              "scores": ranks.candidate_scores,
                              "full_rank": per_user["full"]["avg_rank"]}
        return result


@dataclass
class SplitInputs:
    """One split's model inputs on one device, built once: padded histories ``[U, L]``, the
    candidates ``[U, C]``, the full histories packed for masks, and the users ordered by history
    length (similar lengths share a batch, cropped to its longest) on the host and the device."""

    history: torch.Tensor
    candidates: torch.Tensor
    histories: PackedSequences
    lengths: torch.Tensor  # [U] on the host: real items per padded history row
    order: torch.Tensor  # [U] on the host
    order_on_device: torch.Tensor


class DenseScorer:
    """Ranks by scoring every item for a batch of users at once. Inputs are built once per
    split and device and stay there, so a batch costs no host-to-device copy and no host sync;
    scores and rank bounds stay on the device until the split is done."""

    def __init__(self, data: PreparedData, config: EvaluationConfig) -> None:
        self.data = data
        self.config = config
        self._cache: dict[tuple[str, int, str], SplitInputs] = {}
        self.cold = torch.as_tensor(np.asarray(data.cold_items, dtype=np.int64))

    def _inputs(self, split: str, max_len: int, device: torch.device) -> SplitInputs:
        """The split's inputs on ``device`` (masks are built per batch from the packed
        histories: ``[U, N + 1]`` at once would not fit at scale)."""
        key = (split, max_len, str(device))
        if key not in self._cache:
            histories, candidates = split_inputs(self.data, split)
            history = pad_right(histories, max_len)
            lengths = (history > 0).sum(dim=1)
            order = torch.argsort(lengths, stable=True)
            self._cache[key] = SplitInputs(
                history.to(device), torch.from_numpy(candidates).to(device),
                PackedSequences(histories, device), lengths, order, order.to(device))
        return self._cache[key]

    @torch.no_grad()
    def rank(self, model: Recommender, split: str, device: torch.device | str,
             details: bool) -> SplitRanks:
        return self.rank_many(model, split, device,
                              lambda batch: {"": model.score_all(batch)}, details)[""]

    @torch.no_grad()
    def rank_many(self, model: Recommender, split: str, device: torch.device | str,
                  score_variants: Callable[[UserBatch], dict[str, torch.Tensor]],
                  details: bool) -> dict[str, SplitRanks]:
        """:class:`SplitRanks` per scoring ``score_variants(batch)`` returns."""
        with bounded_heap():  # the [B, N + 1] temporaries would fragment glibc's heap
            return self._rank_many(model, split, device, score_variants, details)

    def _rank_many(self, model: Recommender, split: str, device: torch.device | str,
                   score_variants: Callable[[UserBatch], dict[str, torch.Tensor]],
                   details: bool) -> dict[str, SplitRanks]:
        device = torch.device(device)
        was_training = model.training
        model.eval()
        inputs = self._inputs(split, model.max_seq_len, device)
        bounds: dict[str, dict[str, list[tuple[torch.Tensor, torch.Tensor]]]] = {}
        kept_scores: dict[str, list[torch.Tensor]] = {}
        for start in range(0, len(inputs.order), self.config.batch_size):
            rows = inputs.order[start:start + self.config.batch_size]
            rows_here = inputs.order_on_device[start:start + self.config.batch_size]
            longest = max(1, int(inputs.lengths[rows].max()))  # host values: no sync
            variants = score_variants(UserBatch(rows_here, inputs.history[rows_here, :longest]))
            cands = inputs.candidates[rows_here]
            competitors_full = self._full_competitors(inputs.histories, rows, rows_here, cands)
            for name, scores in variants.items():
                sampled, full, cand_scores = _rank_bounds_of(scores.float(), cands,
                                                             competitors_full)
                parts = bounds.setdefault(name, {"sampled": [], "full": []})
                parts["sampled"].append(sampled)
                parts["full"].append(full)
                if details:
                    kept_scores.setdefault(name, []).append(cand_scores)
        model.train(was_training)
        restore = torch.argsort(inputs.order)
        return {name: _in_user_order(parts, restore, kept_scores.get(name))
                for name, parts in bounds.items()}

    def _full_competitors(self, histories: PackedSequences, rows: torch.Tensor,
                          rows_here: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """``[B, N + 1]`` bool on the scores' device: the items the target competes with in
        full ranking — not the user's history (``evaluation.mask_history``), padding, the cold
        items (ranked apart) or the target itself."""
        num_items = self.data.num_items
        if self.config.mask_history:
            competitors = ~histories.mask(rows, num_items, rows_here)
        else:
            competitors = torch.ones(len(rows), num_items + 1, dtype=torch.bool,
                                     device=cands.device)
        competitors[:, 0] = False
        if len(self.cold):
            competitors[:, self._cold_on(cands.device)] = False
        competitors.scatter_(1, cands[:, :1], False)
        return competitors

    def _cold_on(self, device: torch.device) -> torch.Tensor:
        if self.cold.device != device:
            self.cold = self.cold.to(device)
        return self.cold


def _in_user_order(parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]],
                   restore: torch.Tensor, kept_scores: list[torch.Tensor] | None) -> SplitRanks:
    """The batches' rank bounds (and candidate scores) joined on the host in user order: one
    copy to the host per split and protocol."""
    bounds = {protocol: (torch.cat([part[0] for part in batches]).cpu()[restore],
                         torch.cat([part[1] for part in batches]).cpu()[restore])
              for protocol, batches in parts.items()}
    scores = torch.cat(kept_scores).cpu()[restore] if kept_scores is not None else None
    return SplitRanks(bounds, scores)


def _rank_bounds_of(scores: torch.Tensor, cands: torch.Tensor, competitors_full: torch.Tensor
                    ) -> tuple[tuple[torch.Tensor, torch.Tensor],
                               tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Rank bounds of each row's target (candidate 0) among its sampled candidates and among
    ``competitors_full`` ``[B, N + 1]``, plus the candidates' scores (all on the scores'
    device)."""
    cand_scores = scores.gather(1, cands)
    competitors = torch.ones_like(cand_scores, dtype=torch.bool)
    competitors[:, 0] = False
    sampled = rank_bounds(cand_scores, cand_scores[:, 0], competitors)
    full = rank_bounds(scores, cand_scores[:, 0], competitors_full)
    return sampled, full, cand_scores
