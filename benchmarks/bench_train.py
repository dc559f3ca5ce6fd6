"""Train a config over several seeds and print speed and quality figures (markdown).

    python benchmarks/bench_train.py configs/sasrec_ml100k.yaml --seeds 1 2 3

For each seed: seconds per epoch (training only, and with validation), epochs and seconds to
the best validation epoch, total wall time, peak resident memory, parameters, and test metrics
on both protocols; then the mean ± std over seeds. Each run is a normal run directory under
``--out`` so ``ur4rec diagnose``/``compare`` work on it afterwards; running the same ``--out`` and
``--tag`` again replaces those runs (``overwrite``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from summarize import cold_half_figures  # benchmarks/, beside this script

from ur4rec import api

METRICS = ("hit@5", "hit@10", "ndcg@10", "mrr")


def _time_to_best(run_dir: Path) -> dict[str, float]:
    """Epochs and wall seconds (training + validation) until the final best epoch (zeros for a
    model that is not trained, e.g. ``text_zero_shot``)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {"epochs": 0, "best_epoch": 0, "seconds_to_best": 0.0,
                "train_s_per_epoch": 0.0, "s_per_epoch": 0.0}
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    last_stage = rows[-1]["stage_index"]
    best = [i for i, row in enumerate(rows) if row["best"]]
    in_last = [i for i in best if rows[i]["stage_index"] == last_stage]
    # a last stage that never beat the weights it started from keeps the earlier best
    best_index = max(in_last or best)
    return {"epochs": len(rows), "best_epoch": best_index + 1,
            "seconds_to_best": sum(row["seconds"] for row in rows[:best_index + 1]),
            "train_s_per_epoch": statistics.mean(row["train_seconds"] for row in rows),
            "s_per_epoch": statistics.mean(row["seconds"] for row in rows)}


def run_seed(config: Path, seed: int, out: Path, overrides: dict[str, Any],
             llm_data_dir: Path | None = None) -> dict[str, Any]:
    run_dir = out / f"seed{seed}"
    started = time.perf_counter()
    # a benchmark run again under the same --out/--tag replaces its runs, as it does bench.json
    results = api.train(config, run_dir, overrides={**overrides, "training.seed": seed},
                        overwrite=True, progress=False, llm_data_dir=llm_data_dir)
    wall = time.perf_counter() - started
    row: dict[str, Any] = {"seed": seed, "wall_s": wall, "texts_s": results["timing"]["texts_s"],
                           "parameters": results["parameters"], **_time_to_best(run_dir)}
    for protocol in ("sampled", "full"):
        for key in METRICS:
            row[f"{protocol} {key}"] = results["test"][protocol][key]
    # each stage's best weights scored as that stage selects (pretrain_sasrec: SASRec alone;
    # pretrain_retriever: the retriever alone), beside the final model's figures above
    for stage in results.get("stage_results", []):
        for protocol, key in (("sampled", "ndcg@10"), ("sampled", "hit@5"), ("full", "ndcg@10")):
            row[f"{stage['stage']} {protocol} {key}"] = stage["test"][protocol][key]
    # where ids are weak: rare targets and new items
    slices = results.get("slices", {}).get("test", {})
    for protocol in ("sampled", "full"):
        for name in ("item_head", "item_tail"):
            value = slices.get(protocol, {}).get(name, {}).get("ndcg@10")
            if value is not None:
                row[f"{name} {protocol} ndcg@10"] = value
    if "cold" in results:
        for protocol in ("sampled", "full"):
            row[f"cold {protocol} ndcg@10"] = results["cold"]["metrics"][protocol]["ndcg@10"]
        row["cold chance full ndcg@10"] = results["cold"]["chance"]["full"]["ndcg@10"]
        row.update(cold_half_figures(results))  # disjoint halves: select on valid
    fusion = results.get("fusion_selection")
    if fusion:
        row["sasrec share"] = fusion["sasrec_weight"]
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tag", help="run folder name under --out (default: the config's stem)")
    parser.add_argument("--llm_data_dir", type=Path, help="texts to import (prototype format)")
    parser.add_argument("--init-from", dest="init_from", metavar="PATTERN",
                        help="training.init_from per seed, e.g. "
                             "runs/bench/sasrec_ml100k/seed{seed}/checkpoints/final.pt")
    args = parser.parse_args()
    from ur4rec.config import parse_override

    overrides = dict(parse_override(item) for item in args.set)
    out = args.out / (args.tag or args.config.stem)

    def seed_overrides(seed: int) -> dict[str, Any]:
        if not args.init_from:
            return overrides
        return {**overrides, "training.init_from": args.init_from.format(seed=seed)}

    rows = [run_seed(args.config, seed, out, seed_overrides(seed), args.llm_data_dir)
            for seed in args.seeds]
    (out / "bench.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    shown = " ".join(f"--set {item}" for item in args.set)
    print(f"# {args.config} {shown} — {time.strftime('%Y-%m-%d')}, "
          f"{platform.processor() or platform.machine()}"
          f", torch {torch.__version__}, {torch.get_num_threads()} threads")
    keys = [k for k in rows[0] if k != "seed"]
    print("| seed | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for row in rows:
        print(f"| {row['seed']} | " + " | ".join(f"{row.get(k, float('nan')):.4g}"
                                                 for k in keys) + " |")
    print("| mean ± std | " + " | ".join(_fmt([row.get(k, float("nan")) for row in rows])
                                         for k in keys) + " |")


if __name__ == "__main__":
    main()
