"""Choosing the fixed fusion weights on validation after training.

A weighted fusion has one free number, the SASRec share ``w``; the other part, ``1 - w``, goes
to what SASRec is fused with (:attr:`Recommender.fused_with`): UR4Rec's retriever
(``fusion.select_weights``) or the text zero-shot score (``sasrec.select_text_score_share``).
How much each part deserves depends on the data — on ML-100K-seed the retriever is much
weaker than SASRec and an even split costs hit@5; on Amazon Scientific the text score earns
0.4 — and trying a few values on the validation split costs one evaluation pass, no training.
The test split is never looked at.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

log = logging.getLogger(__name__)

# 1.0 = SASRec alone, 0.0 = the retriever alone: validation may say that one branch is better
SASREC_SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# how much rare items lean towards the fused-in part (sasrec.select_text_score_rarity); 0 = none
RARITY_LEANS = (0.0, 0.05, 0.1)


def select_fusion_weights(model: Any, evaluator: Any, device: torch.device,
                          selection: tuple[str, str]) -> dict[str, Any]:
    """Set ``model``'s SASRec share to the one with the best validation ``selection`` metric
    (``(protocol, metric)``); ties keep the configured share. Every share is evaluated in one
    pass over the validation users (the parts are scored once). A model that
    :attr:`~ur4rec.models.base.Recommender.selects_rarity_lean` gets one pass per lean of
    :data:`RARITY_LEANS` (and its configured one), and the best (share, lean) pair. Returns what
    was tried: ``sasrec_weight`` and ``<fused_with>_weight`` (e.g. ``retriever_weight``), and
    with leans ``rarity_lean`` and the best validation figure per lean."""
    configured = model.sasrec_share()
    shares = sorted({round(configured, 4), *SASREC_SHARES})
    configured_lean = model.rarity_lean() if model.selects_rarity_lean else None
    leans = ([None] if configured_lean is None
             else sorted({round(configured_lean, 4), *RARITY_LEANS}))
    tried: dict[float | None, dict[str, float]] = {}
    best = (configured, configured_lean, -float("inf"))
    for lean in leans:
        if lean is not None:
            model.set_rarity_lean(lean)
        results = evaluator.evaluate_many(
            model, "valid", device, lambda batch: model.score_all_shares(batch, shares))
        tried[lean] = {}
        for share in shares:
            metric = results[repr(share)].metrics[selection[0]][selection[1]]
            tried[lean][f"{share:.2f}"] = metric
            as_configured = (abs(share - configured) < 1e-6
                             and (lean is None or abs(lean - configured_lean) < 1e-6))
            if metric > best[2] or (metric == best[2] and as_configured):
                best = (share, lean, metric)
    best_share, best_lean, _ = best
    model.set_sasrec_share(best_share)
    chosen = {"configured_sasrec_weight": configured, "sasrec_weight": best_share,
              f"{model.fused_with}_weight": 1.0 - best_share, "valid": tried[best_lean],
              "selection": f"valid {selection[0]} {selection[1]}"}
    if best_lean is not None:
        model.set_rarity_lean(best_lean)
        chosen.update({"configured_rarity_lean": configured_lean, "rarity_lean": best_lean,
                       "valid_by_rarity_lean": {f"{lean:g}": max(by_share.values())
                                                for lean, by_share in tried.items()}})
    lean_text = f", rarity lean {best_lean:g}" if best_lean is not None else ""
    log.info("fusion weights chosen on validation: sasrec %.2f, %s %.2f%s", best_share,
             model.fused_with, 1.0 - best_share, lean_text)
    return chosen
