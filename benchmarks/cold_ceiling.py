"""How far could a cold-item model go? Ceilings from an oracle that knows each new item's popularity.

    python benchmarks/cold_ceiling.py runs/cold/text_to_id_loo/seed1 runs/cold/text_to_id_loo/seed2 ...

Each run is a ``text_to_id`` run on data with ``data.cold_items`` (the text→id map). On the
cold-item test cases (:mod:`ur4rec.evaluation.cold`) it scores:

- **the map**: the run's model as it is;
- **oracle popularity**: every user gets the same ranking, the cold items by ``log(1 + n)``, where
  ``n`` is the item's number of held-out (cold) interactions — what the items *will* be watched,
  which no model can know at release;
- **the map + β · oracle popularity**, β from a grid, the best β *on the test cases* (a ceiling,
  so it is allowed to cheat).

If even the map plus the oracle's knowledge stays below a target, no text model with the same
user state can reach it by ranking new items better by popularity; it would need texts that tell
users apart on new items. Test cases only: these are ceilings, never a selection.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from ur4rec import api
from ur4rec.evaluation.cold import cold_cases, evaluate_cold
from ur4rec.models.base import Recommender, UserBatch

BETAS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


class WithPrior(Recommender):
    """``base`` scores plus ``weight`` × a per-item prior ``[N + 1]`` (``base`` None: the prior
    alone, the same for every user)."""

    trainable = False

    def __init__(self, base: Recommender | None, prior: torch.Tensor, weight: float) -> None:
        super().__init__()
        self.base, self.weight = base, weight
        self.register_buffer("prior", prior.float(), persistent=False)
        if base is not None:
            self.max_seq_len = base.max_seq_len

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        if self.base is None:
            return self.prior.expand(len(batch.users), -1).clone()
        return self.base.score_all(batch) + self.weight * self.prior


def ceilings(run_dir: Path) -> dict[str, float]:
    """Cold full and sampled NDCG@10 of the map, the oracle and the best mix, for one run."""
    run = api.load_run(run_dir)
    if not len(run.data.cold_items):
        raise SystemExit(f"{run_dir}: its data has no cold items (data.cold_items is 0)")
    cases = cold_cases(run.data)
    prior = torch.log1p(torch.as_tensor(run.data.cold_item_counts, dtype=torch.float32))

    def ndcg(model: Recommender) -> tuple[float, float]:
        metrics = evaluate_cold(model, run.data, run.config.evaluation, "cpu", cases)["metrics"]
        return metrics["full"]["ndcg@10"], metrics["sampled"]["ndcg@10"]

    out: dict[str, float] = {}
    out["map full"], out["map sampled"] = ndcg(run.model)
    out["oracle full"], out["oracle sampled"] = ndcg(WithPrior(None, prior, 1.0))
    mixes = {beta: ndcg(WithPrior(run.model, prior, beta)) for beta in BETAS}
    best = max(mixes, key=lambda beta: mixes[beta][0])
    out["map + oracle full"], out["map + oracle sampled"] = mixes[best]
    out["best beta"] = best
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="text_to_id runs on cold-item data")
    args = parser.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    per_run = [ceilings(run) for run in args.runs]
    print("| cold test NDCG@10 (mean ± std over runs) | value |")
    print("|---|---|")
    for column in per_run[0]:
        values = [run[column] for run in per_run]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"| {column} | {statistics.mean(values):.4f} ± {spread:.4f} |")


if __name__ == "__main__":
    main()
