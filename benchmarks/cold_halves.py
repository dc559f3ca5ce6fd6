"""Cold-item combinations tried on the two halves of the cold items (select on valid, quote test).

    python benchmarks/cold_halves.py --runs runs/cold --seeds 1 2 3

Two things that were tried and not shipped, reproducible here (docs/history/benchmarks-2026-11-to-12.md, "Cold items"):

- **ensembles**: the sum of several cold runs' scores, each standardised per user over the cold
  items (so no member dominates by scale) — e.g. the text→id map + the retriever;
- **a popularity prior from text**: a ridge (leave-one-out strength) from item-text vectors to
  log(1 + training count) over the warm items, its prediction for the cold items added to the
  map's scores with weight β — and how well that prediction correlates with the cold items'
  log(1 + held-out count).

Every figure is cold full NDCG@10 on each half (:func:`ur4rec.evaluation.cold.cold_halves`).
``--runs`` holds the ``bench_train.py`` folders of docs/benchmarks.md, "Cold items" (``text_to_id_loo``,
``text_to_id_llm_loo``, ``adapter_align05``, ``retriever``, ``sasrec_adapter``, each ``seedN``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from functools import partial
from pathlib import Path

import numpy as np
import torch
from cold_ceiling import WithPrior  # benchmarks/, beside this script

from ur4rec import api
from ur4rec.data.cold import cold_item_mask
from ur4rec.evaluation.cold import cold_cases, cold_halves, evaluate_cold, with_user_texts
from ur4rec.models.base import Recommender, UserBatch
from ur4rec.models.text_baselines import loo_ridge_strength, ridge_map
from ur4rec.text.case_texts import cold_case_user_vectors

ENSEMBLES = (("text_to_id_loo", "adapter_align05"), ("text_to_id_loo", "retriever"),
             ("text_to_id_loo", "adapter_align05", "retriever"),
             ("text_to_id_loo", "adapter_align05", "retriever", "sasrec_adapter"))
PRIOR_WEIGHTS = (0.25, 0.5, 1.0, 2.0)


class StandardisedSum(Recommender):
    """Sum of the members' scores, each standardised per user over the ``cold`` columns."""

    trainable = False

    def __init__(self, members: list[Recommender], cold: torch.Tensor) -> None:
        super().__init__()
        self.members, self.max_seq_len = members, max(m.max_seq_len for m in members)
        self.reads_user_state = any(m.reads_user_state for m in members)  # cases carry texts
        self.register_buffer("cold", cold, persistent=False)

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        total = 0.0
        for member in self.members:
            scores = member.score_all(batch).float()
            among = scores[:, self.cold]
            total = total + (scores - among.mean(1, keepdim=True)) / among.std(
                1, keepdim=True).clamp_min(1e-6)
        return total


def text_popularity(text: torch.Tensor, counts: np.ndarray, warm: torch.Tensor) -> torch.Tensor:
    """``[N + 1]`` predicted log(1 + count) from item text (ridge fitted on ``warm`` rows)."""
    target = torch.log1p(torch.as_tensor(counts, dtype=torch.float64))[warm].unsqueeze(1)
    weights = ridge_map(text[warm], target, loo_ridge_strength(text[warm], target))
    design = torch.cat([text, torch.ones(len(text), 1, dtype=text.dtype)], dim=1)
    return (design @ weights).squeeze(1)


def one_seed(runs: Path, seed: int) -> dict[str, dict[str, float]]:
    """``{row name: {"valid": ndcg, "test": ndcg}}`` for one seed."""
    names = sorted({name for combo in ENSEMBLES for name in combo} | {"text_to_id_llm_loo"})
    loaded = {name: api.load_run(runs / name / f"seed{seed}") for name in names}
    data, config = loaded["text_to_id_loo"].data, loaded["text_to_id_loo"].config.evaluation
    # the retriever reads user texts: each case's is written before its target, as in its run
    retriever = loaded["retriever"]
    record = retriever.run_dir / "texts.json"
    user_texts = partial(cold_case_user_vectors, retriever.config, data,
                         run_texts=json.loads(record.read_text()) if record.is_file() else None)
    cases = {half: with_user_texts(cold_cases(data, items=items), user_texts)[0]
             for half, items in zip(("valid", "test"), cold_halves(data), strict=True)}

    def halves(model: Recommender) -> dict[str, float]:
        return {half: evaluate_cold(model, data, config, "cpu", case)["metrics"]["full"]["ndcg@10"]
                for half, case in cases.items()}

    out = {"map alone": halves(loaded["text_to_id_loo"].model)}
    cold = cold_item_mask(data.num_items, data.cold_items)
    for combo in ENSEMBLES:
        out[" + ".join(combo)] = halves(StandardisedSum([loaded[n].model for n in combo], cold))
    the_map = loaded["text_to_id_loo"].model
    warm = ~the_map.untrained
    warm[0] = False
    held_out = np.log1p(data.cold_item_counts[data.cold_items])
    for source in ("text_to_id_loo", "text_to_id_llm_loo"):
        predicted = text_popularity(loaded[source].model.text, data.train_item_counts, warm)
        label = "template" if source == "text_to_id_loo" else "LLM"
        correlation = float(np.corrcoef(predicted.numpy()[data.cold_items], held_out)[0, 1])
        out[f"{label}-text popularity: correlation with log held-out count"] = {
            "valid": correlation, "test": correlation}
        for weight in PRIOR_WEIGHTS:
            out[f"map + {weight} × {label}-text popularity"] = halves(
                WithPrior(the_map, predicted, weight))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/cold"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    per_seed = [one_seed(args.runs, seed) for seed in args.seeds]
    print(f"| cold full NDCG@10, mean over seeds {args.seeds} | valid half | test half |")
    print("|---|---|---|")
    for row in per_seed[0]:
        cells = [statistics.mean(seed[row][half] for seed in per_seed) for half in ("valid", "test")]
        print(f"| {row} | {cells[0]:.4f} | {cells[1]:.4f} |")


if __name__ == "__main__":
    main()
