"""Apply ``fusion.select_weights`` to finished runs and print test metrics before and after.

    python benchmarks/fusion_selection.py runs/bench/ur4rec_ml100k/seed1 …

The same function training calls when ``fusion.select_weights: true`` (weights chosen on the
validation split only), applied to runs trained without it; the runs are not modified.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ur4rec import api
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.training.fusion_selection import select_fusion_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| run | SASRec share | test sampled NDCG@10 | hit@5 | full NDCG@10 "
          "| chosen share | test sampled NDCG@10 | hit@5 | full NDCG@10 |")
    print("|---" * 9 + "|")
    for run_dir in args.runs:
        run = api.load_run(run_dir)
        evaluator = Evaluator(run.data, run.config.evaluation)
        before = evaluator.evaluate(run.model, "test", run.device).metrics
        chosen = select_fusion_weights(run.model, evaluator, run.device,
                                       (run.config.evaluation.protocol,
                                        run.config.evaluation.metric))
        after = evaluator.evaluate(run.model, "test", run.device).metrics
        cells = [f"{chosen['configured_sasrec_weight']:.2f}"]
        for metrics in (before, after):
            cells += [f"{metrics['sampled']['ndcg@10']:.4f}", f"{metrics['sampled']['hit@5']:.4f}",
                      f"{metrics['full']['ndcg@10']:.4f}"]
            if metrics is before:
                cells.append(f"{chosen['sasrec_weight']:.2f}")
        print(f"| {run_dir} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
