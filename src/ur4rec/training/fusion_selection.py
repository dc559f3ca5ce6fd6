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

from typing import Any

import torch

# 1.0 = SASRec alone, 0.0 = the retriever alone: validation may say that one branch is better
SASREC_SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def select_fusion_weights(model: Any, evaluator: Any, device: torch.device,
                          selection: tuple[str, str]) -> dict[str, Any]:
    """Set ``model``'s SASRec share to the one with the best validation ``selection`` metric
    (``(protocol, metric)``); ties keep the configured share. Every share is evaluated in one
    pass over the validation users (the parts are scored once). Returns what was tried:
    ``sasrec_weight`` and ``<fused_with>_weight`` (e.g. ``retriever_weight``)."""
    configured = model.sasrec_share()
    shares = sorted({round(configured, 4), *SASREC_SHARES})
    results = evaluator.evaluate_many(
        model, "valid", device, lambda batch: model.score_all_shares(batch, shares))
    scores: dict[str, float] = {}
    best_share, best_metric = configured, -float("inf")
    for share in shares:
        metric = results[repr(share)].metrics[selection[0]][selection[1]]
        scores[f"{share:.2f}"] = metric
        better = metric > best_metric or (metric == best_metric
                                           and abs(share - configured) < 1e-6)
        if better:
            best_share, best_metric = share, metric
    model.set_sasrec_share(best_share)
    return {"configured_sasrec_weight": configured, "sasrec_weight": best_share,
            f"{model.fused_with}_weight": 1.0 - best_share, "valid": scores,
            "selection": f"valid {selection[0]} {selection[1]}"}
