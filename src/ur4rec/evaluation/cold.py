"""Cold-item evaluation: how well a model ranks items it never saw in training.

Only on data prepared with ``data.cold_items`` > 0 (:mod:`ur4rec.data.cold`). One case per user
with at least one cold interaction:

- **target**: the user's *last* cold interaction in the data's chronological order (timestamp,
  ties in source-file order — the order of ``PreparedData.cold_interactions``);
- **input**: the user's warm interactions with a timestamp **strictly before** the target's.
  ML-100K rates many films in the same second, and nothing says which of them came first, so a
  warm item rated in the target's second is not "before" it (file order is an artefact of the
  dump, not a clock). A user whose input is empty is skipped and counted;
- **full**: the target ranked among all cold items, with the user's other cold items masked
  (they are positives of the user; the target is the last of them);
- **sampled**: the target ranked among ``num_candidates − 1`` (99) cold items the user never
  interacted with, drawn once without replacement by ``data.candidate_seed`` (on a stream of its
  own) — or all such cold items when fewer remain.

**Selection on cold items** (``results.json["cold"]["valid"]`` / ``["test"]``): the cold items are
split in two disjoint halves (:func:`cold_halves`, stratified by their held-out popularity), and
the protocol above runs again within each half — each user's target is their last cold item *of
that half*, ranked among that half's items. A choice between models made on the ``valid`` half
says nothing about the ``test`` half's items or targets, so ``test`` is the figure a selected
model reports. Training is unchanged: both halves are cold. The top-level figures (all cold
items) stay for the tables.

Scores come from :meth:`Recommender.score_all`; ranks and metrics from
:mod:`ur4rec.evaluation.metrics` under ``evaluation.ties``, as on the warm protocol. Warm items
never compete here.

**Every input of a case precedes its target.** The history is cut at the target (above). A
model's stored user-level state — UR4Rec's user texts and memory — is written from the whole
warm training part, which often postdates the target (on ``ml-100k`` with ``cold_items: 0.1``,
590 of 926 users have warm training items after it, and 573 user texts name a film rated after
it), so such a model (:attr:`Recommender.reads_user_state`) reads none of it here: each case
carries its own user-text vector (:attr:`ColdCases.user_text`, written from the user's
training interactions strictly before the target; :mod:`ur4rec.text.case_texts`), and the
memory is written once from the case's history (:meth:`UserMemory.written_once`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from ur4rec.config import EvaluationConfig
from ur4rec.data.cold import COLD_STREAM, cold_item_mask
from ur4rec.data.prepared import PreparedData
from ur4rec.data.sequences import crop_to_longest, pad_right
from ur4rec.evaluation.metrics import per_user_metrics, rank_bounds, summarize
from ur4rec.models.base import Recommender, UserBatch

COLD_EVAL_RULE = (
    "per user with a cold interaction: target = the last cold interaction (chronological, ties in "
    "file order); input = the warm interactions with a timestamp strictly before the target's "
    "(users with none are skipped); full: ranked among all cold items, the user's other cold "
    "items masked; sampled: among the target and up to num_candidates - 1 cold items the user "
    "never interacted with, drawn once by data.candidate_seed; a model's per-user state (user "
    "text, memory) is written from the user's interactions before the target too"
)
HALVES_RULE = (
    "cold items ordered by their held-out interactions (most first, ties in seeded order), taken "
    "in consecutive pairs, one of each pair to valid and the other to test by a seeded coin (an "
    "odd last item to test); each half is evaluated by the rule above restricted to its items"
)


@dataclass
class ColdCases:
    """The fixed cold-item test cases of a prepared dataset (one row per evaluated user)."""

    users: np.ndarray
    """``[C]`` user indices"""
    histories: list[np.ndarray]
    """warm input per case, oldest first"""
    targets: np.ndarray
    """``[C]`` item index of each target"""
    positives: list[np.ndarray]
    """the user's other cold items, masked in full ranking"""
    candidates: np.ndarray
    """``[C, K]`` sampled candidates, target in column 0, 0 where a user has fewer than K"""
    cold_items: np.ndarray
    skipped_users: int
    user_text: np.ndarray | None = None
    """``[C, E]`` each case's user-text vector, written from the user's interactions before the
    target (:func:`ur4rec.text.case_texts.cold_case_user_vectors`); needed by a model that
    reads user state, None otherwise"""


def _candidate_seed(data: PreparedData, seed: int | None) -> int:
    settings = data.meta.get("settings", {})
    return int(settings.get("candidate_seed", 0) if seed is None else seed) & 0xFFFFFFFFFFFFFFFF


def cold_halves(data: PreparedData, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(valid_items, test_items)``: disjoint, sorted item indices covering ``data.cold_items``
    (:data:`HALVES_RULE`; deterministic in the prepared data)."""
    cold_items = np.sort(np.asarray(data.cold_items, dtype=np.int64))
    rng = np.random.default_rng([_candidate_seed(data, seed), COLD_STREAM, 2])
    held_out = data.cold_item_counts[cold_items]
    order = cold_items[np.lexsort((rng.permutation(len(cold_items)), -held_out))]
    pairs = len(order) // 2
    to_valid = rng.integers(2, size=pairs)
    valid = order[0:2 * pairs:2] * to_valid + order[1:2 * pairs:2] * (1 - to_valid)
    test = np.setdiff1d(cold_items, valid, assume_unique=True)
    return np.sort(valid), test


def cold_cases(data: PreparedData, num_candidates: int | None = None,
               seed: int | None = None, items: np.ndarray | None = None) -> ColdCases:
    """Build the cases (deterministic in the prepared data; module docstring for the rules).

    ``items``: restrict the protocol to these cold items (a half of :func:`cold_halves`): only
    their interactions give targets and only they compete. Default: all cold items.
    """
    settings = data.meta.get("settings", {})
    num_candidates = num_candidates or int(settings.get("num_candidates",
                                                        data.test_candidates.shape[1]))
    rng = np.random.default_rng([_candidate_seed(data, seed), COLD_STREAM, 1])
    frame = data.cold_interactions
    if items is None:
        cold_items = np.asarray(data.cold_items, dtype=np.int64)
    else:
        cold_items = np.sort(np.asarray(items, dtype=np.int64))
        frame = frame[np.isin(frame["item_idx"].to_numpy(dtype=np.int64), cold_items)]
    users_col = frame["user_idx"].to_numpy(dtype=np.int64)
    items_col = frame["item_idx"].to_numpy(dtype=np.int64)
    stamps_col = frame["timestamp"].to_numpy(dtype=np.int64)
    cold_users = np.unique(users_col)  # the frame is chronological per user, users ascending
    bounds = np.searchsorted(users_col, np.concatenate([cold_users, [np.iinfo(np.int64).max]]))
    users, histories, targets, positives, negatives = [], [], [], [], []
    skipped = 0
    for row, user in enumerate(cold_users):
        start, end = bounds[row], bounds[row + 1]
        target, stamp = items_col[end - 1], stamps_col[end - 1]
        warm_before = int(np.searchsorted(data.timestamps[user], stamp, side="left"))
        if warm_before == 0:
            skipped += 1
            continue
        seen = np.unique(items_col[start:end])
        pool = np.setdiff1d(cold_items, seen, assume_unique=True)
        size = min(num_candidates - 1, len(pool))
        users.append(int(user))
        histories.append(data.sequences[user][:warm_before])
        targets.append(int(target))
        positives.append(seen[seen != target])
        negatives.append(rng.choice(pool, size=size, replace=False) if size else pool[:0])
    width = 1 + max((len(n) for n in negatives), default=0)
    candidates = np.zeros((len(users), width), dtype=np.int64)
    for row, drawn in enumerate(negatives):
        candidates[row, 0] = targets[row]
        candidates[row, 1:1 + len(drawn)] = drawn
    return ColdCases(np.asarray(users, dtype=np.int64), histories,
                     np.asarray(targets, dtype=np.int64), positives, candidates, cold_items,
                     skipped)


@torch.no_grad()
def evaluate_cold(model: Recommender, data: PreparedData, config: EvaluationConfig,
                  device: torch.device | str = "cpu", cases: ColdCases | None = None
                  ) -> dict[str, Any]:
    """``{"metrics": {"full", "sampled"}, "chance", "users", "cold_items", "skipped_users",
    "candidates", "rule"}`` — the cold-item protocol (module docstring)."""
    cases = cases or cold_cases(data)
    if model.reads_user_state and cases.user_text is None and len(cases.users):
        raise ValueError(f"{type(model).__name__} reads per-user state written from the whole "
                         "training part: its cold cases need ColdCases.user_text, written "
                         "before each target (cold_results(..., user_texts=...))")
    device = torch.device(device)
    out: dict[str, Any] = {"users": len(cases.users), "cold_items": len(cases.cold_items),
                           "skipped_users": cases.skipped_users,
                           "candidates": int(cases.candidates.shape[1]), "rule": COLD_EVAL_RULE}
    if not len(cases.users):
        out.update(metrics={}, chance={})
        return out
    was_training = model.training
    model.eval()
    cold = cold_item_mask(data.num_items, cases.cold_items, device)
    history = pad_right(cases.histories, model.max_seq_len)
    candidates = torch.from_numpy(cases.candidates)
    users = torch.from_numpy(cases.users)
    texts = None if cases.user_text is None else torch.as_tensor(cases.user_text)
    bounds: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"full": [], "sampled": []}
    competitors_count: dict[str, list[torch.Tensor]] = {"full": [], "sampled": []}
    # cases of similar history length share a batch, cropped to its longest (as in Evaluator);
    # the metrics are means over cases, so the order does not matter
    by_length = torch.argsort((history > 0).sum(dim=1), stable=True)
    for rows in torch.split(by_length, config.batch_size):
        (seqs,) = crop_to_longest(history[rows])
        batch = UserBatch(users[rows], seqs, None if texts is None else texts[rows])
        scores = model.score_all(batch.to(device)).float()
        cands = candidates[rows].to(device)
        target_scores = scores.gather(1, cands[:, :1]).squeeze(1)
        full_mask = _full_competitors(cold, cands, [cases.positives[case]
                                                    for case in rows.tolist()])
        sampled_mask = cands > 0
        sampled_mask[:, 0] = False
        cand_scores = scores.gather(1, cands)
        for protocol, (values, mask) in {"full": (scores, full_mask),
                                         "sampled": (cand_scores, sampled_mask)}.items():
            bounds[protocol].append(tuple(t.cpu() for t in rank_bounds(values, target_scores,
                                                                         mask)))
            competitors_count[protocol].append(mask.sum(dim=1).cpu())
    model.train(was_training)
    out.update(_metrics_and_chance(bounds, competitors_count, config))
    return out


def _full_competitors(cold: torch.Tensor, cands: torch.Tensor, positives: list[Any]
                      ) -> torch.Tensor:
    """``[B, N + 1]`` bool on the scores' device: the cold items a case's target competes with
    in full ranking — not the target, not the user's other cold items (``positives`` per row:
    one indexed write for the batch)."""
    full_mask = cold.unsqueeze(0).repeat(len(cands), 1)
    full_mask.scatter_(1, cands[:, :1], False)
    positives = [np.asarray(items, dtype=np.int64) for items in positives]
    counts = torch.tensor([len(items) for items in positives])
    if int(counts.sum()):
        batch_rows = torch.repeat_interleave(torch.arange(len(cands)), counts)
        columns = torch.from_numpy(np.concatenate(positives))
        full_mask[batch_rows.to(cands.device), columns.to(cands.device)] = False
    return full_mask


def _metrics_and_chance(bounds: dict[str, list[tuple[torch.Tensor, torch.Tensor]]],
                        competitors: dict[str, list[torch.Tensor]], config: EvaluationConfig
                        ) -> dict[str, Any]:
    """``{"metrics", "chance"}`` per protocol from the batches' rank bounds and competitor
    counts; chance is a scorer with no information: uniform over 1 + the case's competitors."""
    metrics, chance = {}, {}
    for protocol, parts in bounds.items():
        lower = torch.cat([part[0] for part in parts])
        upper = torch.cat([part[1] for part in parts])
        metrics[protocol] = summarize(per_user_metrics(lower, upper, config.ks, config.ties))
        worst = 1 + torch.cat(competitors[protocol])
        chance[protocol] = summarize(per_user_metrics(torch.ones_like(worst), worst, config.ks,
                                                      "expected"))
    return {"metrics": metrics, "chance": chance}


CaseUserTexts = Callable[[ColdCases], tuple[np.ndarray, dict[str, Any]]]
"""cases → (``[C, E]`` user-text vectors written before each target, a record of how)"""


def with_user_texts(cases: ColdCases, user_texts: CaseUserTexts | None
                    ) -> tuple[ColdCases, dict[str, Any] | None]:
    """``cases`` with :attr:`ColdCases.user_text` filled by ``user_texts`` (and its record);
    unchanged, with no record, without it."""
    if user_texts is None:
        return cases, None
    vectors, record = user_texts(cases)
    return replace(cases, user_text=vectors), record


def cold_results(model: Recommender, data: PreparedData, config: EvaluationConfig,
                 device: torch.device | str = "cpu", user_texts: CaseUserTexts | None = None
                 ) -> dict[str, Any]:
    """``{"cold": evaluate_cold(...)}`` on data with cold items, else ``{}`` — for
    ``results.update(...)`` in :mod:`ur4rec.api`; ``"valid"`` and ``"test"`` inside it are the
    same protocol on each half of :func:`cold_halves` (module docstring). ``user_texts`` writes
    each case's user text (a model that reads user state needs it); how, is recorded under
    ``"user_texts"``."""
    if not len(data.cold_items):
        return {}
    cases, record = with_user_texts(cold_cases(data), user_texts)
    cold = evaluate_cold(model, data, config, device, cases)
    for name, items in zip(("valid", "test"), cold_halves(data), strict=True):
        half, _ = with_user_texts(cold_cases(data, items=items), user_texts)
        cold[name] = evaluate_cold(model, data, config, device, half)
    cold["halves_rule"] = HALVES_RULE
    if record is not None:
        cold["user_texts"] = record
    return {"cold": cold}
