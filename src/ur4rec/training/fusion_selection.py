"""Choosing the fixed fusion weights on validation after training (``fusion.select_weights``).

A weighted fusion has one free number, the SASRec share ``w`` (the retriever gets ``1 - w``).
How much each branch deserves depends on the data — on ML-100K-seed the retriever is much
weaker than SASRec and an even split costs hit@5 — and trying a few values on the validation
split costs one evaluation pass, no training. The test split is never looked at.
"""

from __future__ import annotations

from typing import Any

import torch

# 1.0 = SASRec alone, 0.0 = the retriever alone: validation may say that one branch is better
SASREC_SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def select_fusion_weights(model: Any, evaluator: Any, device: torch.device,
                          selection: tuple[str, str]) -> dict[str, Any]:
    """Set ``model.fusion`` to the SASRec share with the best validation ``selection`` metric
    (``(protocol, metric)``); ties keep the configured weights. Every share is evaluated in one
    pass over the validation users (the branches are scored once). Returns what was tried."""
    fusion = model.fusion
    configured = fusion.fixed.detach().clone()
    shares = sorted({round(float(configured[0]), 4), *SASREC_SHARES})
    results = evaluator.evaluate_many(
        model, "valid", device, lambda batch: model.score_all_shares(batch, shares))
    scores: dict[str, float] = {}
    best_share, best_metric = float(configured[0]), -float("inf")
    for share in shares:
        metric = results[repr(share)].metrics[selection[0]][selection[1]]
        scores[f"{share:.2f}"] = metric
        better = metric > best_metric or (metric == best_metric
                                           and abs(share - float(configured[0])) < 1e-6)
        if better:
            best_share, best_metric = share, metric
    fusion.fixed.copy_(torch.tensor([best_share, 1.0 - best_share]))
    return {"configured_sasrec_weight": float(configured[0]), "sasrec_weight": best_share,
            "retriever_weight": 1.0 - best_share, "valid": scores,
            "selection": f"valid {selection[0]} {selection[1]}"}
