"""Ranking metrics from scores, with an explicit rule for ties.

A target's rank is 1 + the number of competitors that score strictly higher, plus the ties:

- ``pessimistic`` (default): every tie ranks above the target — a constant scorer gets the worst
  rank, never better than chance;
- ``expected``: the mean over a uniformly random order of the tied items — a constant scorer gets
  exactly the random-guess expectation (hit@5 = 5/100 with 100 candidates);
- ``optimistic``: every tie ranks below the target (the prototype's rule; reported only to show
  how it flatters a degenerate model).

Non-finite scores (NaN, +inf, -inf) rank last, so a diverged model can never look good (every
comparison with NaN is false, which would otherwise give a NaN target rank 1):

- a non-finite target ranks below every competitor under every tie rule:
  ``lower = upper = 1 + number of competitors``;
- a non-finite competitor counts as -inf: below any finite target, never above it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

METRIC_KEYS = ("hit@5", "hit@10", "hit@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr", "avg_rank")


def rank_bounds(scores: torch.Tensor, target_scores: torch.Tensor,
                competitor_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Best and worst possible 1-based rank of each target among ``scores`` ``[B, C]``.

    ``competitor_mask`` ``[B, C]`` is True where an entry competes with the target (the target's
    own column and masked history items are False). Without it every column competes except the
    target's own, which each row of ``scores`` must hold: one column equal to the target's score
    is the target itself, not a tie (``[[0.5, 0.1, 0.9]]`` with target 0.5 → ranks ``(2, 2)``).
    Non-finite scores rank last (module docstring).
    """
    if scores.is_floating_point():
        scores = scores.masked_fill(~torch.isfinite(scores), -torch.inf)
    target = target_scores.unsqueeze(1)
    greater = scores > target
    tied = scores == target
    if competitor_mask is not None:
        greater &= competitor_mask
        tied &= competitor_mask
        competitors = competitor_mask.sum(dim=1)
        ties = tied.sum(dim=1)
    else:
        competitors = torch.full_like(greater[:, 0], scores.shape[1] - 1, dtype=torch.long)
        ties = (tied.sum(dim=1) - 1).clamp(min=0)  # the target's own column ties with itself
    lower = 1 + greater.sum(dim=1)
    upper = lower + ties
    # a non-finite target is worst; -inf competitors would otherwise tie with a -inf target
    last = 1 + competitors
    finite = torch.isfinite(target_scores)
    return torch.where(finite, lower, last), torch.where(finite, upper, last)


def _metric_functions(ks: Sequence[int]) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    functions: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}
    for k in ks:
        functions[f"hit@{k}"] = lambda p, k=k: (p <= k).double()
        functions[f"ndcg@{k}"] = lambda p, k=k: (p <= k).double() / torch.log2(p.double() + 1)
    functions["mrr"] = lambda p: 1.0 / p.double()
    functions["avg_rank"] = lambda p: p.double()
    return functions


def per_user_metrics(lower: torch.Tensor, upper: torch.Tensor, ks: Sequence[int] = (5, 10, 20),
                     ties: str = "pessimistic") -> dict[str, torch.Tensor]:
    """Each metric per user ``[B]`` (float64) under the tie rule."""
    functions = _metric_functions(ks)
    if ties == "pessimistic":
        return {name: fn(upper) for name, fn in functions.items()}
    if ties == "optimistic":
        return {name: fn(lower) for name, fn in functions.items()}
    if ties != "expected":
        raise ValueError(f"unknown tie rule {ties!r}")
    # mean of f(p) for p in [lower, upper] through prefix sums over p = 1..max(upper)
    positions = torch.arange(1, int(upper.max()) + 1, device=upper.device)
    out = {}
    for name, fn in functions.items():
        prefix = torch.cat([torch.zeros(1, dtype=torch.float64, device=upper.device),
                            torch.cumsum(fn(positions), dim=0)])
        out[name] = (prefix[upper] - prefix[lower - 1]) / (upper - lower + 1).double()
    return out


def summarize(per_user: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean over users, as plain floats for JSON."""
    return {name: float(values.mean()) for name, values in per_user.items()}


def random_guess_expectation(num_candidates: int, ks: Sequence[int] = (5, 10, 20)
                             ) -> dict[str, float]:
    """What a scorer with no information gets on average among ``num_candidates``."""
    lower = torch.ones(1, dtype=torch.long)
    upper = torch.full((1,), num_candidates, dtype=torch.long)
    return summarize(per_user_metrics(lower, upper, ks, ties="expected"))
