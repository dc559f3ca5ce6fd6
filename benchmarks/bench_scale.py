"""How time and memory grow from 100 thousand to 10 million interactions (synthetic data).

    python benchmarks/bench_scale.py --sizes 100k 1m 10m --out runs/scale
    python benchmarks/bench_scale.py --plot runs/scale/scale.json --png docs/scale_curves.png

Per size, each step in its own process (so its peak resident memory is its own, read from
``os.wait4``): ``ur4rec data synth`` (generated data — no real dataset of these sizes is
available offline here), ``ur4rec data prepare``, SASRec (configs/scale_sasrec.yaml:
shared-negative softmax with log-Q) for ``--epochs`` epochs, the UR4Rec texts (template
generation for the evaluation view and the training view, then MiniLM encoding, first run:
empty caches), and UR4Rec's retriever stage (configs/scale_ur4rec.yaml) started from that
SASRec, ``--epochs`` epochs. Each epoch's validation is a full-ranking *and* sampled evaluation
of every user: its seconds are the evaluation figure. Seconds are wall time on this machine;
run nothing else meanwhile. ``--reuse`` keeps finished steps of an earlier run of the script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SIZES = {  # users, items, interactions
    "100k": (943, 1_682, 100_000),
    "1m": (10_000, 10_000, 1_000_000),
    "10m": (100_000, 20_000, 10_000_000),
}
UR4REC = str(Path(sys.executable).with_name("ur4rec"))


def run_step(command: list[str], log_path: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run one step as a child; wall seconds and the child's own peak RSS (GiB)."""
    started = time.perf_counter()
    with log_path.open("w") as log:
        log.write("$ " + shlex.join(command) + "\n")
        log.flush()
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                 cwd=REPO)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = log_path.read_text().splitlines()[-5:]
        raise SystemExit(f"step failed (exit {code}): {shlex.join(command)}\n" + "\n".join(tail))
    return {"wall_s": round(wall, 2), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 3)}


def epochs_of(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def training_figures(run_dir: Path) -> dict[str, Any]:
    """Per-epoch training and evaluation seconds of a run's last stage."""
    rows = epochs_of(run_dir)
    rows = [r for r in rows if r["stage_index"] == rows[-1]["stage_index"]]
    train_s = sum(r["train_seconds"] for r in rows) / len(rows)
    targets = sum(r["targets"] for r in rows) / len(rows)
    results = json.loads((run_dir / "results.json").read_text())
    return {"epochs": len(rows), "s_per_epoch": round(train_s, 2), "targets_per_epoch": targets,
            "s_per_million_targets": round(train_s / targets * 1e6, 2),
            "eval_s": round(sum(r["eval_seconds"] for r in rows) / len(rows), 2),
            "valid_full_ndcg@10": rows[-1]["valid"]["full"]["ndcg@10"],
            "test_sampled_ndcg@10": results["test"]["sampled"]["ndcg@10"],
            "test_full_ndcg@10": results["test"]["full"]["ndcg@10"],
            "parameters": results["parameters"]}


def texts_child(prepared: Path, config: Path) -> None:
    """(In a child process.) Texts of both views through the path a run takes; prints JSON."""
    from ur4rec.config import load_config
    from ur4rec.data.prepared import PreparedData
    from ur4rec.text.pipeline import texts_for_run
    from ur4rec.text.training_view import training_view_user_vectors

    data = PreparedData.load(prepared)
    run_config = load_config(config)
    run_dir = prepared.parent / "texts-run"
    started = time.perf_counter()
    texts = texts_for_run(run_config, data, run_dir, None)
    middle = time.perf_counter()
    _, view = training_view_user_vectors(run_config, data, run_config.retriever.train_window)
    ended = time.perf_counter()
    encode_s = texts.info["encoding"]["seconds"] + view["encoding"]["seconds"]
    count = texts.info["encoding"]["texts"] + view["encoding"]["texts"]
    print(json.dumps({"texts": count, "encode_s": round(encode_s, 2),
                      "generate_s": round(ended - started - encode_s, 2),
                      "evaluation_view_s": round(middle - started, 2),
                      "training_view_s": round(ended - middle, 2),
                      "texts_per_s": round(count / max(encode_s, 1e-9), 1)}))


def bench_size(name: str, work: Path, epochs: int, models: list[str], reuse: bool
               ) -> dict[str, Any]:
    users, items, interactions = SIZES[name]
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "UR4REC_CACHE_DIR": str(folder / "cache"), "TQDM_DISABLE": "1"}
    record_path = folder / "record.json"
    record: dict[str, Any] = (json.loads(record_path.read_text())
                              if reuse and record_path.exists() else {})
    record.update(size=name, users=users, items=items, interactions=interactions)

    def step(key: str, command: list[str]) -> dict[str, Any]:
        if key not in record:
            print(f"[{name}] {key} …", flush=True)
            record[key] = run_step(command, folder / f"{key}.log", env)
            record_path.write_text(json.dumps(record, indent=2))
        return record[key]

    synth, prepared = folder / "synth", folder / "prepared"
    step("synth", [UR4REC, "data", "synth", "--users", str(users), "--items", str(items),
                   "--interactions", str(interactions), "--seed", "0", "--out", str(synth)])
    step("prepare", [UR4REC, "data", "prepare", "--dataset", f"synth-{name}",
                     "--path", str(synth / "interactions.parquet"),
                     "--columns", "user=user_id,item=item_id,timestamp=timestamp,rating=rating",
                     "--item-metadata", str(synth / "items.csv"), "--out", str(prepared)])
    meta = json.loads((prepared / "meta.json").read_text())
    record["prepared_counts"] = meta["counts"]
    data_keys = {"data.dataset": f"synth-{name}", "data.path": synth / "interactions.parquet",
                 "data.item_metadata": synth / "items.csv", "data.columns.user": "user_id",
                 "data.columns.item": "item_id", "data.columns.rating": "rating"}
    # a step runs again only when its record is gone (no --reuse, or it did not finish): its
    # folder is then a stale or partial run
    train = [UR4REC, "train", "--data_dir", str(prepared), "--no-progress", "--overwrite",
             "--epochs_per_stage", str(epochs), "--patience", str(epochs + 1),
             *[part for key, value in data_keys.items() for part in ("--set", f"{key}={value}")]]
    sasrec_dir = folder / "sasrec"
    if "sasrec" in models or "ur4rec" in models:
        step("sasrec", [*train, "--config", "configs/scale_sasrec.yaml",
                        "--output_dir", str(sasrec_dir)])
        record["sasrec"].update(training_figures(sasrec_dir))
    if "ur4rec" in models:
        step("texts", [sys.executable, __file__, "--texts-child", str(prepared),
                       "configs/scale_ur4rec.yaml"])
        lines = (folder / "texts.log").read_text().splitlines()
        record["texts"].update(json.loads(lines[-1]))
        ur4rec_dir = folder / "ur4rec"
        # the retriever stage from this SASRec: SASRec's own stage costs what it costs above;
        # the fusion share is not searched (11 extra validation passes)
        step("ur4rec", [*train, "--config", "configs/scale_ur4rec.yaml",
                        "--output_dir", str(ur4rec_dir), "--stages", "pretrain_retriever",
                        "--set", f"training.init_from={sasrec_dir / 'checkpoints' / 'best_pretrain_sasrec.pt'}",
                        "--set", "fusion.select_weights=false"])
        record["ur4rec"].update(training_figures(ur4rec_dir))
    record_path.write_text(json.dumps(record, indent=2))
    return record


def table(records: list[dict[str, Any]]) -> str:
    rows = [
        ("interactions (prepared)", lambda r: f"{r['prepared_counts']['interactions']:,}"),
        ("users / items", lambda r: f"{r['users']:,} / {r['items']:,}"),
        ("synth s", lambda r: r["synth"]["wall_s"]),
        ("prepare s (peak GiB)", lambda r: f"{r['prepare']['wall_s']} ({r['prepare']['peak_rss_gib']})"),
        ("SASRec s / epoch", lambda r: r["sasrec"]["s_per_epoch"]),
        ("SASRec s / 1M targets", lambda r: r["sasrec"]["s_per_million_targets"]),
        ("SASRec eval s (all users, both protocols)", lambda r: r["sasrec"]["eval_s"]),
        ("SASRec run peak GiB", lambda r: r["sasrec"]["peak_rss_gib"]),
        ("texts: count", lambda r: f"{r['texts']['texts']:,}"),
        ("texts: generate s", lambda r: r["texts"]["generate_s"]),
        ("texts: encode s (texts/s)", lambda r: f"{r['texts']['encode_s']} ({r['texts']['texts_per_s']})"),
        ("texts peak GiB", lambda r: r["texts"]["peak_rss_gib"]),
        ("UR4Rec retriever s / epoch", lambda r: r["ur4rec"]["s_per_epoch"]),
        ("UR4Rec retriever s / 1M targets", lambda r: r["ur4rec"]["s_per_million_targets"]),
        ("UR4Rec eval s", lambda r: r["ur4rec"]["eval_s"]),
        ("UR4Rec run peak GiB", lambda r: r["ur4rec"]["peak_rss_gib"]),
        ("test full NDCG@10 SASRec / UR4Rec", lambda r: f"{r['sasrec']['test_full_ndcg@10']:.4f} / "
                                                       f"{r['ur4rec']['test_full_ndcg@10']:.4f}"),
    ]
    lines = ["| | " + " | ".join(r["size"] for r in records) + " |",
             "|---|" + "---|" * len(records)]
    for label, cell in rows:
        values = []
        for record in records:
            try:
                values.append(str(cell(record)))
            except KeyError:
                values.append("–")
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def plot(records: list[dict[str, Any]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["prepared_counts"]["interactions"] for r in records]
    series = {
        "data prepare": [r["prepare"]["wall_s"] for r in records],
        "SASRec epoch": [r["sasrec"]["s_per_epoch"] for r in records],
        "evaluation (all users)": [r["sasrec"]["eval_s"] for r in records],
        "texts: generate": [r["texts"]["generate_s"] for r in records],
        "texts: encode": [r["texts"]["encode_s"] for r in records],
        "UR4Rec retriever epoch": [r["ur4rec"]["s_per_epoch"] for r in records],
    }
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, values in series.items():
        left.plot(sizes, values, marker="o", label=label)
    left.plot(sizes, [series["SASRec epoch"][0] * s / sizes[0] for s in sizes], "k:",
              label="linear from 100K (SASRec epoch)")
    left.set(xscale="log", yscale="log", xlabel="interactions", ylabel="seconds",
             title="Time per step (2 cores, synthetic data)")
    left.legend(fontsize=7)
    for key, label in (("prepare", "data prepare"), ("sasrec", "SASRec run"),
                       ("texts", "texts"), ("ur4rec", "UR4Rec run")):
        right.plot(sizes, [r[key]["peak_rss_gib"] for r in records], marker="o", label=label)
    right.set(xscale="log", xlabel="interactions", ylabel="peak RSS (GiB)",
              title="Peak resident memory per process")
    right.legend(fontsize=7)
    figure.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["100k", "1m"])
    parser.add_argument("--models", nargs="+", choices=["sasrec", "ur4rec"],
                        default=["sasrec", "ur4rec"])
    parser.add_argument("--epochs", type=int, default=1, help="epochs per model and size")
    parser.add_argument("--out", type=Path, default=Path("runs/scale"))
    parser.add_argument("--reuse", action="store_true", help="keep steps finished earlier")
    parser.add_argument("--plot", type=Path, help="only plot this scale.json")
    parser.add_argument("--png", type=Path, default=Path("docs/scale_curves.png"))
    parser.add_argument("--texts-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.texts_child:
        texts_child(*args.texts_child)
        return 0
    if args.plot:
        records = json.loads(args.plot.read_text())["sizes"]
    else:
        records = [bench_size(name, args.out.resolve(), args.epochs, args.models, args.reuse)
                   for name in args.sizes]
        summary = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                               "python": platform.python_version()},
                   "date": time.strftime("%Y-%m-%d"), "command": shlex.join(sys.argv),
                   "sizes": records}
        (args.out / "scale.json").write_text(json.dumps(summary, indent=2))
    print(table(records))
    try:
        plot(records, args.png)
        print(f"plot written to {args.png}")
    except (ImportError, KeyError) as error:
        print(f"no plot ({error})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
