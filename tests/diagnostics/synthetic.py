"""Synthetic run directories in the format of docs/run-directory.md, healthy unless told not to.

Every rule test starts from a healthy log and changes the one thing its pattern is about, so a
test that fires shows the rule reads that thing — and the healthy tests show it reads nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ur4rec.config import config_from_dict, dump_config
from ur4rec.evaluation.metrics import random_guess_expectation

USERS = 943
CANDIDATES = 100
CHANCE = random_guess_expectation(CANDIDATES)


def metrics_at(quality: float) -> dict[str, float]:
    """Sampled metrics ``quality`` times chance (hit capped at 1, avg_rank shrinks)."""
    out = {k: min(v * quality, 1.0) for k, v in CHANCE.items() if k != "avg_rank"}
    out["avg_rank"] = CHANCE["avg_rank"] / quality
    return out


def valid_block(quality: float) -> dict[str, dict[str, float]]:
    full = {k: v / 15 for k, v in metrics_at(quality).items()}
    full["avg_rank"] = metrics_at(quality)["avg_rank"] * 15
    return {"sampled": metrics_at(quality), "full": full}


def epoch_row(stage: str, stage_index: int, epoch: int, global_epoch: int, losses: dict,
              quality: float, trained: tuple[str, ...] = ("sasrec",), **extra: Any) -> dict:
    row = {"stage": stage, "stage_index": stage_index, "epoch": epoch,
           "global_epoch": global_epoch, "trained": list(trained), "switch_count": 0,
           "switched": False, "losses": losses, "batches": 15, "targets": 60_000,
           "train_seconds": 9.0, "grad_norm": 0.4, "grad_norm_max": 0.7,
           "lr": {g: 0.003 for g in trained}, "valid": valid_block(quality),
           "eval_seconds": 1.0, "seconds": 10.0, "best": False,
           "selection": "sampled ndcg@10"}
    row.update(extra)
    return row


def mark_best(rows: list[dict]) -> list[dict]:
    """Set ``best`` the way the trainer does: improved on the stage's best so far."""
    best: dict[str, float] = {}
    for row in rows:
        value = row["valid"]["sampled"]["ndcg@10"]
        row["best"] = value > best.get(row["stage"], float("-inf"))
        if row["best"]:
            best[row["stage"]] = value
    return rows


# a SASRec run that learns, peaks at epoch 8 and stops 3 epochs later (patience 3)
HEALTHY_LOSSES = [8.0, 7.0, 6.7, 6.5, 6.4, 6.32, 6.26, 6.21, 6.17, 6.14, 6.12, 6.10]
HEALTHY_QUALITY = [2.5, 4.0, 4.8, 5.3, 5.6, 5.8, 5.95, 6.05, 6.1, 6.08, 6.07, 6.06]


def healthy_sasrec_rows() -> list[dict]:
    return mark_best([epoch_row("pretrain_sasrec", 0, e, e, {"loss": loss, "sasrec": loss}, q)
                      for e, (loss, q) in enumerate(zip(HEALTHY_LOSSES, HEALTHY_QUALITY,
                                                        strict=True))])


def _ur4rec_extras(global_epoch: int) -> dict:
    return {"memory": {"users_with_memory": min(943, 200 * (global_epoch + 1)),
                       "updates_this_epoch": 180, "avg_interactions_since_update": 2.5,
                       "avg_history_size": 8.0, "trigger": "INTERACTION_COUNT"},
            "routing": {"user_text": 0.35, "history_text": 0.40, "item_id": 0.25},
            "fusion": {"method": "weighted", "sasrec_weight": 0.5, "retriever_weight": 0.5}}


def healthy_ur4rec_rows() -> list[dict]:
    """Four stages; the retrieval loss is logged (flat) while the retriever is frozen."""
    rows, g = [], 0
    plan = [("pretrain_sasrec", ("sasrec",), [8.0, 7.0, 6.6, 6.4, 6.3], [22.0] * 5),
            ("pretrain_retriever", ("retriever",), [6.3] * 5, [22.0, 18.0, 16.0, 15.0, 14.5]),
            ("end_to_end", ("sasrec", "retriever"), [6.3, 6.25, 6.2, 6.15, 6.1],
             [14.5, 14.2, 14.0, 13.8, 13.7])]
    for index, (stage, trained, sasrec, retrieval) in enumerate(plan):
        for e in range(5):
            losses = {"sasrec": sasrec[e], "retrieval": retrieval[e],
                      "loss": sum(x for k, x in (("sasrec", sasrec[e]),
                                                 ("retriever", retrieval[e])) if k in trained)}
            quality = [3.0, 4.5, 5.2, 5.5, 5.4][e] + index * 0.3
            rows.append(epoch_row(stage, index, e, g, losses, quality, trained,
                                  **_ur4rec_extras(g)))
            g += 1
    return mark_best(rows)


def results_for(quality: float, **extra: Any) -> dict:
    results = {"model": "sasrec", "name": "synthetic",
               "test": valid_block(quality), "valid": valid_block(quality),
               "dataset": {"name": "ml-100k", "users": USERS, "items": 1682,
                           "interactions": 100_000},
               "parameters": 164_672,
               "protocol": {"num_candidates": CANDIDATES, "ties": "pessimistic",
                            "mask_history": True, "selection": "valid sampled ndcg@10",
                            "chance_sampled": CHANCE},
               "timing": {"train_s": 100.0}}
    results.update(extra)
    return results


DEFAULT_CONFIG = {"model": "sasrec", "name": "synthetic",
                  "training": {"epochs_per_stage": 200, "patience": 3, "warmup_steps": 20,
                               "batch_size": 64, "sasrec_lr": 0.003}}


def write_run(folder: Path, rows: list[dict] | None = None, config: dict | None = None,
              results: dict | None | bool = True, info: dict | None = None) -> Path:
    """Write config.yaml, run.json, metrics.jsonl (unless ``rows`` is None) and results.json
    (``True``: healthy results; ``None``/``False``: none)."""
    folder.mkdir(parents=True, exist_ok=True)
    merged = json.loads(json.dumps(DEFAULT_CONFIG))
    for key, value in (config or {}).items():
        if isinstance(value, dict):
            merged.setdefault(key, {}).update(value)
        else:
            merged[key] = value
    run_config = config_from_dict(merged)
    dump_config(run_config, folder / "config.yaml")
    run_info = {"model": run_config.model, "name": run_config.name,
                "dataset": {"name": "ml-100k", "users": USERS, "items": 1682,
                            "interactions": 100_000},
                "parameters": 164_672, "parameters_per_user": 164_672 / USERS,
                "stages": run_config.resolved_stages(), "batches_per_epoch": 15}
    run_info.update(info or {})
    (folder / "run.json").write_text(json.dumps(run_info), encoding="utf-8")
    if rows is not None:
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows),
                                              encoding="utf-8")
    if results is True:
        results = results_for(HEALTHY_QUALITY[-1], model=run_config.model)
    if results:
        (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return folder


UR4REC_CONFIG = {"model": "ur4rec",
                 "training": {"stages": ["pretrain_sasrec", "pretrain_retriever", "end_to_end"]}}
