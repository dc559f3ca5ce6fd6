"""Validation NDCG@10 of a trained UR4Rec's branches and fusions on the head/tail item slices.

    python benchmarks/branch_slices.py runs/abl/e2e_1202/seed1 runs/abl/e2e_1202/seed2 ...

For each run: the SASRec share 0.0 (the retriever alone), 0.5, 0.9 and 1.0 (SASRec alone),
scored in one pass (``Evaluator.evaluate_many``), on the *validation* split only; then the mean
over runs. It answers whether giving the text-reading retriever more weight on some items could
help there: it can only if the retriever is the stronger branch on those items.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from ur4rec import api
from ur4rec.evaluation.evaluator import Evaluator

SHARES = (0.0, 0.5, 0.9, 1.0)
SLICES = ("item_head", "item_tail")
PROTOCOLS = ("sampled", "full")


def branch_slices(run_dir: Path) -> dict[float, dict[str, float]]:
    """``{share: {"sampled item_tail": ndcg@10, …}}`` on validation for one run."""
    run = api.load_run(run_dir)
    model = run.model
    evaluator = Evaluator(run.data, run.config.evaluation)
    results = evaluator.evaluate_many(model, "valid", "cpu",
                                      lambda batch: model.score_all_shares(batch, SHARES))
    return {share: {f"{protocol} {name}": results[repr(share)].slices[protocol][name]["ndcg@10"]
                    for protocol in PROTOCOLS for name in SLICES}
            for share in SHARES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    per_run = [branch_slices(run) for run in args.runs]
    columns = list(per_run[0][SHARES[0]])
    print("| SASRec share (valid, mean of runs) | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for share in SHARES:
        cells = [statistics.mean(run[share][column] for run in per_run) for column in columns]
        print(f"| {share:.1f} | " + " | ".join(f"{value:.4f}" for value in cells) + " |")


if __name__ == "__main__":
    main()
