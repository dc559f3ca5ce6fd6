"""The prototype post-mortem's predictions for its plan A / plan B, beside what runs did.

    python benchmarks/postmortem_predictions.py runs/plan/improved/s* runs/plan/aggressive/s*

Each argument is a run directory of ``ur4rec train`` (the post-mortem's own command shape:
``--epochs_per_stage 20 --patience 10``). Per run it reads ``results.json`` (test figures) and
``metrics.jsonl`` (per-epoch losses, stage switches, memory counters, batches) and prints one
markdown row; runs whose parent folder is the same are then averaged (mean ± std).

The predictions (seed/000_*.txt, "what a user should see"): test hit@5 0.10–0.15 and NDCG@10
0.08–0.12; the retrieval loss falling; ``joint_finetune`` switching between SASRec and the
retriever; memory ``avg_interactions`` > 0; about 60 batches per epoch.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

PREDICTED = {"hit@5": "0.10–0.15", "ndcg@10": "0.08–0.12", "retrieval loss": "falling",
             "switches": "> 0", "memory avg_interactions": "> 0", "batches/epoch": "~60"}


def observe(run_dir: Path) -> dict[str, Any]:
    """What one run shows for each prediction (``None`` where the run has no such stage)."""
    results = json.loads((run_dir / "results.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    retrieval = [row["losses"]["retrieval"] for row in rows if "retrieval" in row["losses"]]
    memory = [row.get("memory", {}).get("avg_interactions_since_update", 0.0) for row in rows]
    joint = [row for row in rows if row["stage"] == "joint_finetune"]
    trained = {tuple(row["trained"]) for row in joint}
    test = results["test"]
    return {
        "hit@5": test["sampled"]["hit@5"], "ndcg@10": test["sampled"]["ndcg@10"],
        "full ndcg@10": test["full"]["ndcg@10"],
        "retrieval first": retrieval[0] if retrieval else None,
        "retrieval last": retrieval[-1] if retrieval else None,
        "switches": joint[-1]["switch_count"] if joint else None,
        "parts trained in joint_finetune": len(trained),
        "memory avg_interactions": max(memory) if memory else 0.0,
        "batches/epoch": statistics.mean(row["batches"] for row in rows),
        "epochs": len(rows),
    }


def _cell(values: list[Any]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args()
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in args.runs:
        groups.setdefault(run.parent.name, []).append(observe(run))
    keys = list(next(iter(groups.values()))[0])
    print("| | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    print("| post-mortem's prediction | " + " | ".join(PREDICTED.get(k, "") for k in keys) + " |")
    for name, runs in groups.items():
        print(f"| {name} ({len(runs)} runs) | "
              + " | ".join(_cell([run[k] for run in runs]) for k in keys) + " |")


if __name__ == "__main__":
    main()
