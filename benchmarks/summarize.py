"""One markdown table from several ``bench_train.py`` output folders (mean ± std over seeds).

    python benchmarks/summarize.py runs/bench/sasrec_ml100k runs/bench/abl_no_text ...
    python benchmarks/summarize.py --pool map runs/cold/map runs/coldsets/map_c7 ...  # one row
    python benchmarks/summarize.py --routing runs/abl12/ur4rec_routed  # routing weights by slice

``--pool LABEL`` puts every seed of every folder in one row (e.g. one model on several cold
item sets: with as many seeds per set, its mean is the mean of the sets' means).

Columns: the test figures every comparison here needs — overall (both protocols), the long-tail
slice, the cold items when the data has them (all of them, and each half: select on the valid
half, report the test half) — and, for fused runs, the validation figures of the retriever alone
and of the chosen fusion (sampled NDCG@10). ``--routing`` prints instead, for a routed MoE, the
mean routing weight per expert on each slice's test targets (``results.json["routing_by_slice"]``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

COLUMNS = (
    ("sampled ndcg@10", "sampled NDCG@10"), ("full ndcg@10", "full NDCG@10"),
    ("sampled hit@5", "hit@5"),
    ("item_tail sampled ndcg@10", "tail sampled"), ("item_tail full ndcg@10", "tail full"),
    ("cold full ndcg@10", "cold full"), ("cold sampled ndcg@10", "cold sampled"),
    ("cold valid full ndcg@10", "cold valid half full"),
    ("cold test full ndcg@10", "cold test half full"),
    ("pretrain_retriever sampled ndcg@10", "retriever alone sampled"),
    ("retriever valid", "retriever alone, valid"), ("fused valid", "fused, valid"),
    ("sasrec share", "SASRec share"), ("train_s_per_epoch", "s/epoch"),
    ("seconds_to_best", "s to best"),
)


def cell(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def cold_half_figures(results: dict) -> dict[str, float]:
    """``{"cold valid full ndcg@10": …, "cold test full ndcg@10": …}`` from a ``results.json``:
    the cold items' two halves (select on valid); a half with no case has no figure."""
    figures = {}
    for half in ("valid", "test"):
        full = results.get("cold", {}).get(half, {}).get("metrics", {}).get("full")
        if full:
            figures[f"cold {half} full ndcg@10"] = full["ndcg@10"]
    return figures


def with_results(folder: Path, row: dict) -> dict:
    """Add what the seed's ``results.json`` holds beyond ``bench.json``: the validation figures of
    a fused run (the retriever alone, SASRec share 0, and the chosen fusion) and the cold-item
    figures, all cold items and each half (written again by ``ur4rec evaluate``, so
    re-evaluated runs show their new figures, not ``bench.json``'s from training time)."""
    path = folder / f"seed{row['seed']}" / "results.json"
    if not path.is_file():
        return row
    results = json.loads(path.read_text())
    selection = results.get("fusion_selection")
    if selection:
        row = {**row, "retriever valid": selection["valid"]["0.00"],
               "fused valid": max(selection["valid"].values())}
    cold = {f"cold {protocol} ndcg@10": metrics["ndcg@10"] for protocol, metrics in
            results.get("cold", {}).get("metrics", {}).items()}
    return {**row, **cold, **cold_half_figures(results)}


def print_routing(folders: list[Path]) -> None:
    """Mean ± std over seeds of each expert's routing weight, per folder and slice."""
    for folder in folders:
        routings = [json.loads(path.read_text()).get("routing_by_slice") or {}
                    for path in sorted(folder.glob("seed*/results.json"))]
        routings = [routing for routing in routings if routing.get("experts")]
        if not routings:
            raise SystemExit(f"{folder}: no seed*/results.json with routing_by_slice "
                             "(only a routed MoE, retriever.single_expert: false, has one)")
        experts = routings[0]["experts"]
        print(f"| {folder.name} ({len(routings)} seeds), targets | " + " | ".join(experts) + " |")
        print("|---" * (len(experts) + 1) + "|")
        for name in (key for key in routings[0] if key not in ("split", "experts")):
            values = [cell([routing[name][expert] for routing in routings]) for expert in experts]
            print(f"| {name} | " + " | ".join(values) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--pool", metavar="LABEL", help="one row LABEL over all the folders")
    parser.add_argument("--routing", action="store_true",
                        help="routing weights per expert and slice instead (routed MoE runs)")
    args = parser.parse_args()
    if args.routing:
        print_routing(args.folders)
        return
    rows = {folder.name: [with_results(folder, row)
                          for row in json.loads((folder / "bench.json").read_text())]
            for folder in args.folders}
    if args.pool:
        rows = {args.pool: [row for runs in rows.values() for row in runs]}
    shown = [(key, title) for key, title in COLUMNS
             if any(key in seed for runs in rows.values() for seed in runs)]
    print("| run (seeds) | " + " | ".join(title for _, title in shown) + " |")
    print("|---" * (len(shown) + 1) + "|")
    for name, runs in rows.items():
        seeds = ",".join(str(r["seed"]) for r in runs)
        values = [cell([r[key] for r in runs if key in r]) for key, _ in shown]
        print(f"| {name} ({seeds}) | " + " | ".join(values) + " |")


if __name__ == "__main__":
    main()
