"""A trained run, loaded: recommend from it, or evaluate it again.

:func:`load_run` rebuilds the model of a run folder from its ``config.yaml`` and the prepared
data it was trained on, and loads ``checkpoints/final.pt``; :func:`recommend` ranks the
catalogue for one user; :func:`evaluate_run` rewrites the evaluated sections of
``results.json`` (:mod:`ur4rec.runs.results`) and can write each test user's ranks.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ur4rec.config import RunConfig, load_config
from ur4rec.data.prepared import PreparedData, check_same_data
from ur4rec.errors import UR4RecError
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.evaluation.routing import routing_by_slice
from ur4rec.models.base import Recommender, UserBatch
from ur4rec.models.factory import build_model, count_parameters
from ur4rec.retrieval.search import faiss_topk_for_run, scorer_for, use_faiss
from ur4rec.runs.inputs import case_user_texts, model_inputs, prepare_data
from ur4rec.runs.results import (
    RunResults,
    evaluate_model,
    protocol,
    read_results,
    run_results,
    write_results,
)
from ur4rec.training.checkpoint import load_checkpoint, model_signature
from ur4rec.training.runtime import resolve_device


@dataclass
class LoadedRun:
    """A trained run: its config, data and model at the best weights.

    For serving one user at a time on a CPU, ``torch.set_num_threads(1)`` is much faster than
    the default (the work per call is too small to share between threads).
    """

    run_dir: Path
    config: RunConfig
    data: PreparedData
    model: Recommender
    device: torch.device

    @cached_property
    def user_lookup(self) -> dict[str, int]:
        return {str(uid): index for index, uid in enumerate(self.data.user_ids)}

    @cached_property
    def item_table(self) -> list[tuple[Any, Any, int | None]]:
        """(original id, title, year) per item index; index 0 is padding."""
        rows: list[tuple[Any, Any, int | None]] = [(None, None, None)]
        for record in self.data.items.sort_values("item_idx").itertuples(index=False):
            year = None if record.year is None or pd.isna(record.year) else int(record.year)
            rows.append((plain_id(record.item), record.title, year))
        return rows

    def user_index(self, user: Any) -> int:
        if str(user) not in self.user_lookup:
            raise UR4RecError(f"user {user!r} is not in dataset {self.data.name!r}")
        return self.user_lookup[str(user)]


def load_run(run_dir: str | Path, device: str = "cpu") -> LoadedRun:
    """Rebuild the model of ``run_dir`` and load ``checkpoints/final.pt``."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise UR4RecError(f"{run_dir} is not a run directory (no config.yaml)")
    config = load_config(config_path)
    info_path = run_dir / "run.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    prepared = Path(info["prepared_dir"]) if info.get("prepared_dir") else None
    folder = prepared if prepared is not None and prepared.exists() else None
    check_same_data(info.get("data_fingerprint"), config.data, folder, run_dir)
    data = prepare_data(config, folder)
    model = build_model(config, data, model_inputs(config, data, run_dir, None).vectors)
    payload = load_checkpoint(run_dir / "checkpoints" / "final.pt",
                              model_signature(model, config.model, data.num_users,
                                              data.num_items))
    model.load_state_dict(payload["model"])
    torch_device = resolve_device(device)
    model.to(torch_device).eval()
    return LoadedRun(run_dir, config, data, model, torch_device)


def evaluate_run(run_dir: str | Path, save_ranks: str | Path | None = None,
                 device: str = "cpu") -> dict[str, Any]:
    """Re-evaluate a run's final model on both splits (and the cold items); optionally write
    per-user ranks. Returns the rewritten ``results.json``."""
    run = load_run(run_dir, device)
    started = time.perf_counter()
    record = run.run_dir / "texts.json"  # how the run's user texts were made
    run_texts = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
    case_texts = case_user_texts(run.config, run.data, run.model, run_texts)
    evaluation, test = evaluate_model(
        run.model, run.data,
        Evaluator(run.data, run.config.evaluation,
                  scorer_for(run.model, run.data, run.config.evaluation)), run.device,
        case_texts, details=save_ranks is not None)
    saved = read_results(run.run_dir)
    results: RunResults = (saved.with_evaluation(evaluation) if saved is not None else
                           run_results(run.config, count_parameters(run.model), evaluation,
                                       run.data, None))
    # the routing's cold slice reads the case texts too: refreshed with the cold figures
    # how the figures were measured, as this version words it (an older file may not say)
    results.protocol = protocol(run.data, run.config.evaluation)
    results.routing_by_slice = (routing_by_slice(run.model, run.data, case_texts)
                                or results.routing_by_slice)
    results.timing = {**(results.timing or {}),
                      "evaluate_s": round(time.perf_counter() - started, 3)}
    content = write_results(run.run_dir, results)
    if save_ranks is not None:
        write_ranks(Path(save_ranks), run.data, test.details)
    return content


def write_ranks(path: Path, data: PreparedData, details: dict[str, Any]) -> None:
    """JSON Lines, one test user per line, in the dataset's original ids."""
    item_ids, user_ids = data.item_ids, data.user_ids
    candidates = details["candidates"].numpy()
    scores = details["scores"].numpy()
    ranks = details["full_rank"].numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for user in range(len(candidates)):
            rank = float(ranks[user])
            handle.write(json.dumps({
                "user": plain_id(user_ids[user]),
                "target": plain_id(item_ids[candidates[user, 0]]),
                "candidates": [plain_id(item_ids[i]) for i in candidates[user]],
                "scores": [float(s) for s in scores[user]],
                "full_rank": int(rank) if rank.is_integer() else rank,
            }) + "\n")


def plain_id(value: Any) -> Any:
    """An original id as JSON shows it: a number where it is all digits."""
    text = str(value)
    return int(text) if text.isdigit() else text


def recommend(run: LoadedRun | str | Path, user: Any, k: int = 10,
              exclude_history: bool = True) -> list[dict[str, Any]]:
    """Top-``k`` items for one user (original id) after their whole known history."""
    if not isinstance(run, LoadedRun):
        run = load_run(run)
    index = run.user_index(user)
    if use_faiss(run.model, run.data.num_items):  # large catalogue: vector index, no score row
        return faiss_topk_for_run(run, [user], k, exclude_history)[0]
    history = run.data.sequences[index]
    recent = torch.from_numpy(np.array(history[-run.model.max_seq_len:], dtype=np.int64))
    batch = UserBatch(torch.tensor([index]), recent.unsqueeze(0))
    with torch.no_grad():
        scores = run.model.score_all(batch.to(run.device)).float().cpu()[0]
    scores[0] = -torch.inf
    if exclude_history:
        scores[torch.from_numpy(np.array(history, dtype=np.int64))] = -torch.inf
    top = torch.topk(scores, min(k, int(torch.isfinite(scores).sum())))
    out = []
    for score, item in zip(top.values.tolist(), top.indices.tolist(), strict=True):
        original, title, year = run.item_table[item]
        out.append({"item": original, "title": title, "year": year, "score": float(score)})
    return out
