"""The GPU device check: speed, utilisation, determinism and quality of ur4rec on one CUDA GPU.

    python benchmarks/gpu_check.py --out runs/gpu-check            # on the GPU machine
    python benchmarks/gpu_check.py --fill-cache CACHE_DIR          # here, before: data + texts

Runs every step as its own ``ur4rec`` command (``python -m ur4rec``, so the machine's own python
with the project on ``PYTHONPATH`` works) while ``nvidia-smi dmon`` samples the streaming
multiprocessors' utilisation every second, then prints the table of docs/gpu.md, "The device check":

- SASRec, ML-100K (``configs/sasrec_ml100k_gpu.yaml``): training seconds per epoch (median),
  whole run, SM utilisation while it trains; three more seeds for the quality check;
- determinism: two short runs of one seed with ``training.deterministic`` true (identical?) and
  two with false, and what the deterministic kernels cost per epoch;
- UR4Rec, ML-100K (``configs/ur4rec_ml100k_gpu.yaml``): whole run;
- SASRec on Amazon Beauty (``configs/sasrec_beauty.yaml`` when it exists): whole run;
- SASRec on 10M synthetic interactions (``configs/scale_sasrec_gpu.yaml``): generation and
  preparation (not timed against a target), training seconds per epoch, SM utilisation while
  training, and the evaluation of all 100k users on both protocols.

Everything must already be in ``UR4REC_CACHE_DIR`` (``--fill-cache`` fills it: prepared data,
texts and their embeddings), since the GPU machine here has no internet; ``UR4REC_OFFLINE=1``.
Results: a markdown table on stdout and ``gpu_check.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SASREC = "configs/sasrec_ml100k_gpu.yaml"
UR4REC = "configs/ur4rec_ml100k_gpu.yaml"
BEAUTY = "configs/sasrec_beauty.yaml"
SCALE = "configs/scale_sasrec_gpu.yaml"
SCALE_SIZE = ("100000", "20000", "10000000")  # users, items, interactions
QUALITY_SEEDS = (1, 2, 3)


# ----------------------------------------------------------------------------- SM utilisation
class Dmon:
    """``nvidia-smi dmon`` in the background: one (host time, SM %) sample per second."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        if shutil.which("nvidia-smi"):
            handle = log.open("w")
            self.process = subprocess.Popen(["nvidia-smi", "dmon", "-s", "u", "-d", "1"],
                                            stdout=handle, stderr=subprocess.STDOUT)
        self.samples: list[tuple[float, float]] = []
        self._read = 0

    def poll(self) -> None:
        """Stamp the lines written since the last poll with the host clock (dmon's own time
        column has a resolution of one second and no date)."""
        if not self.log.exists():
            return
        lines = self.log.read_text().splitlines()
        now = time.time()
        for line in lines[self._read:]:
            parts = line.split()
            if parts and not line.startswith("#") and len(parts) > 1 and parts[1].isdigit():
                self.samples.append((now, float(parts[1])))
        self._read = len(lines)

    def mean_between(self, start: float, end: float) -> float | None:
        inside = [sm for stamp, sm in self.samples if start <= stamp <= end + 1.5]
        return round(statistics.mean(inside), 1) if inside else None

    def stop(self) -> None:
        self.poll()
        if self.process is not None:
            self.process.terminate()


# ----------------------------------------------------------------------------- steps
@dataclass
class Step:
    """One ``ur4rec`` command and what it measured."""

    name: str
    args: list[str]
    run_dir: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)


def run_command(step: Step, out: Path, dmon: Dmon) -> dict[str, Any]:
    """Run ``python -m ur4rec ARGS`` with its output in ``out/NAME.log``; wall seconds and the
    mean SM utilisation while it ran (sampled every second while polling)."""
    log_path = out / f"{step.name}.log"
    started = time.time()
    with log_path.open("w") as log:
        child = subprocess.Popen([sys.executable, "-m", "ur4rec", *step.args], cwd=REPO,
                                 stdout=log, stderr=subprocess.STDOUT)
        while child.poll() is None:
            time.sleep(0.5)
            dmon.poll()
    ended = time.time()
    dmon.poll()
    if child.returncode != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-8:])
        raise SystemExit(f"gpu_check: step {step.name} failed (exit {child.returncode}):\n{tail}")
    return {"wall_s": round(ended - started, 2), "sm_mean": dmon.mean_between(started, ended),
            "started": started, "ended": ended}


def run_figures(run_dir: Path, dmon: Dmon, device: str = "cuda") -> dict[str, Any]:
    """Per-epoch seconds, SM utilisation while training (epochs' own spans) and test metrics."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    results = json.loads((run_dir / "results.json").read_text())
    train = [row["train_seconds"] for row in rows]
    figures = {
        "epochs": len(rows), "train_s_per_epoch_median": round(statistics.median(train), 4),
        "train_s_per_epoch_mean": round(statistics.mean(train), 4),
        "eval_s_per_epoch_median": round(statistics.median(r["eval_seconds"] for r in rows), 4),
        "total_s": results["timing"]["total_s"], "device": results["timing"]["device"],
        "test_sampled_ndcg@10": results["test"]["sampled"]["ndcg@10"],
        "test_full_ndcg@10": results["test"]["full"]["ndcg@10"],
        "test_full_recall@10": results["test"]["full"]["hit@10"],
    }
    if not figures["device"].startswith(device):
        raise SystemExit(f"gpu_check: {run_dir} trained on {figures['device']}, not {device}")
    return figures


@dataclass
class Options:
    """``device``: cuda for the check; cpu with ``smoke`` runs the same plan tiny, to test it."""

    device: str = "cuda"
    smoke: bool = False


def train_step(name: str, config: str, out: Path, options: Options, *extra: str) -> Step:
    run_dir = out / "runs" / name
    tiny = ["--epochs_per_stage", "1", "--patience", "2"] if options.smoke else []
    return Step(name, ["--quiet", "train", "--config", config, "--output_dir", str(run_dir),
                       "--device", options.device, "--no-progress", *extra, *tiny], run_dir)


def identical(a: Path, b: Path) -> bool:
    """Two runs' metric logs agree to the last digit (losses, gradient norms, validation)."""
    def keyed(path: Path) -> list[Any]:
        return [(row["losses"], row["grad_norm"], row["valid"]) for row in
                map(json.loads, (path / "metrics.jsonl").read_text().splitlines())]
    return keyed(a) == keyed(b)


# ----------------------------------------------------------------------------- the check
def plan(out: Path, with_beauty: bool, options: Options) -> list[Step]:
    short = [] if options.smoke else ["--epochs_per_stage", "5", "--patience", "6"]
    steps = [train_step("sasrec_ml100k", SASREC, out, options),
             train_step("sasrec_ml100k_deterministic", SASREC, out, options, "--set",
                        "training.deterministic=true")]
    steps += [train_step(f"sasrec_ml100k_seed{s}", SASREC, out, options, "--seed", str(s))
              for s in QUALITY_SEEDS]
    steps += [train_step(f"det_{flag}_{i}", SASREC, out, options, *short, "--set",
                         f"training.deterministic={flag}")
              for flag in ("true", "false") for i in (1, 2)]
    steps.append(train_step("ur4rec_ml100k", UR4REC, out, options))
    if with_beauty:
        steps.append(train_step("sasrec_beauty", BEAUTY, out, options))
    synth = out / "synth10m"
    users, items, interactions = ("2000", "1000", "40000") if options.smoke else SCALE_SIZE
    steps.append(Step("synth10m", ["--quiet", "data", "synth", "--users", users, "--items", items,
                                   "--interactions", interactions, "--out", str(synth)]))
    data_keys = {"data.dataset": "synth-10m", "data.path": synth / "interactions.parquet",
                 "data.item_metadata": synth / "items.csv", "data.columns.user": "user_id",
                 "data.columns.item": "item_id", "data.columns.rating": "rating"}
    sets = [part for key, value in data_keys.items() for part in ("--set", f"{key}={value}")]
    steps.append(Step("prepare10m", ["--quiet", "data", "prepare", "--dataset", "synth-10m",
                                     "--path", str(synth / "interactions.parquet"),
                                     "--columns", "user=user_id,item=item_id,timestamp="
                                     "timestamp,rating=rating", "--item-metadata",
                                     str(synth / "items.csv"), "--out", str(out / "prep10m")]))
    epochs = [] if options.smoke else ["--epochs_per_stage", "3", "--patience", "4"]
    steps.append(train_step("sasrec_10m", SCALE, out, options, "--data_dir",
                            str(out / "prep10m"), *epochs, *sets))
    return steps


def seeds_summary(records: dict[str, dict[str, Any]]) -> dict[str, str]:
    rows = [records[f"sasrec_ml100k_seed{s}"] for s in QUALITY_SEEDS]
    out = {}
    for key in ("test_sampled_ndcg@10", "test_full_ndcg@10"):
        values = [row[key] for row in rows]
        out[key] = f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"
    return out


def table(records: dict[str, dict[str, Any]], machine: dict[str, Any]) -> str:
    def cell(name: str, key: str, fmt: str = "{}") -> str:
        value = records.get(name, {}).get(key)
        return "–" if value is None else fmt.format(value)

    sasrec, ur4rec, scale = "sasrec_ml100k", "ur4rec_ml100k", "sasrec_10m"
    det = [records.get(f"det_{flag}_1", {}).get("train_s_per_epoch_median")
           for flag in ("true", "false")]
    lines = [
        f"# ur4rec GPU check — {machine['gpu']}, torch {machine['torch']}, {machine['date']}",
        "| what | measured | target |", "|---|---|---|",
        f"| SASRec ML-100K ({SASREC}): training s/epoch (median) | "
        f"{cell(sasrec, 'train_s_per_epoch_median', '{:.3f}')} | ≤ 0.10 |",
        f"| SASRec ML-100K: whole run s (inside the process; command wall) | "
        f"{cell(sasrec, 'total_s', '{:.1f}')} ({cell(sasrec, 'wall_s', '{:.1f}')}) | ≤ 15 |",
        f"| SASRec ML-100K: SM utilisation while training, mean % | {cell(sasrec, 'sm_train')} | – |",
        f"| SASRec ML-100K, `training.deterministic: true`: training s/epoch, whole run s | "
        f"{cell(sasrec + '_deterministic', 'train_s_per_epoch_median', '{:.3f}')}, "
        f"{cell(sasrec + '_deterministic', 'total_s', '{:.1f}')} | measured |",
        f"| UR4Rec ML-100K ({UR4REC}): whole run s (command wall) | "
        f"{cell(ur4rec, 'total_s', '{:.1f}')} ({cell(ur4rec, 'wall_s', '{:.1f}')}) | ≤ 30 |",
        f"| SASRec Beauty ({BEAUTY}): whole run s (command wall) | "
        f"{cell('sasrec_beauty', 'total_s', '{:.1f}')} "
        f"({cell('sasrec_beauty', 'wall_s', '{:.1f}')}) | ≤ 60 |",
        f"| SASRec 10M synthetic ({SCALE}): training s/epoch (median) | "
        f"{cell(scale, 'train_s_per_epoch_median', '{:.2f}')} | ≤ 4 |",
        f"| SASRec 10M: SM utilisation while training, mean % | {cell(scale, 'sm_train')} | ≥ 50 |",
        f"| SASRec 10M: evaluation of all 100k users, both protocols, s | "
        f"{cell(scale, 'eval_s_per_epoch_median', '{:.2f}')} | – |",
        f"| 10M: generate / prepare s | {cell('synth10m', 'wall_s')} / "
        f"{cell('prepare10m', 'wall_s')} | – |",
    ]
    if all(d is not None for d in det):
        lines.append(f"| deterministic kernels: s/epoch true / false (cost) | {det[0]:.3f} / "
                     f"{det[1]:.3f} ({det[0] / det[1]:.2f}×) | measured |")
    for flag in ("true", "false"):
        same = records.get(f"det_{flag}", {}).get("identical")
        lines.append(f"| two runs of one seed, deterministic {flag}: identical metrics.jsonl | "
                     f"{same} | true for true |")
    if all(f"sasrec_ml100k_seed{s}" in records for s in QUALITY_SEEDS):
        summary = seeds_summary(records)
        lines.append(f"| SASRec ML-100K test NDCG@10 sampled / full, seeds 1–3 | "
                     f"{summary['test_sampled_ndcg@10']} / {summary['test_full_ndcg@10']} | "
                     "within the CPU seed spread |")
    return "\n".join(lines)


def check(out: Path, options: Options) -> None:
    import torch

    if options.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"gpu_check: torch {torch.__version__} sees no CUDA device")
    out.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.get_device_name(0) if options.device == "cuda" else options.device
    machine = {"gpu": gpu, "torch": torch.__version__,
               "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M"),
               "platform": platform.platform()}
    with_beauty = (REPO / BEAUTY).is_file()
    dmon = Dmon(out / "dmon.txt")
    records: dict[str, dict[str, Any]] = {}
    try:
        for step in plan(out, with_beauty, options):
            print(f"== {step.name}", flush=True)
            record = run_command(step, out, dmon)
            if step.run_dir is not None:
                record.update(run_figures(step.run_dir, dmon, options.device))
                record["sm_train"] = train_utilisation(step.run_dir, dmon, record)
            records[step.name] = record
            (out / "gpu_check.json").write_text(json.dumps(
                {"machine": machine, "records": records}, indent=2, default=str))
    finally:
        dmon.stop()
    for flag in ("true", "false"):
        runs = [out / "runs" / f"det_{flag}_{i}" for i in (1, 2)]
        records[f"det_{flag}"] = {"identical": identical(*runs)}
    (out / "gpu_check.json").write_text(json.dumps({"machine": machine, "records": records},
                                                   indent=2, default=str))
    print(table(records, machine))


def train_utilisation(run_dir: Path, dmon: Dmon, record: dict[str, Any]) -> float | None:
    """Mean SM utilisation over the training part of the epochs (each metrics row's
    ``started_at`` + ``train_seconds``), validation left out."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    values = [dmon.mean_between(row["started_at"], row["started_at"] + row["train_seconds"])
              for row in rows if "started_at" in row]
    values = [v for v in values if v is not None]
    return round(statistics.mean(values), 1) if values else None


# ----------------------------------------------------------------------------- the cache
def fill_cache(cache: Path) -> None:
    """Prepare what the check reads (here, with internet or the shared data): ML-100K, its
    texts and embeddings for the UR4Rec preset, and Amazon Beauty when its preset exists."""
    env = {**os.environ, "UR4REC_CACHE_DIR": str(cache.resolve())}

    def ur4rec(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "ur4rec", *args], cwd=REPO, env=env, check=True)

    ur4rec("data", "prepare", "--dataset", "ml-100k")
    if (REPO / BEAUTY).is_file():
        ur4rec("data", "prepare", "--config", BEAUTY)
    code = ("import sys; from pathlib import Path; from ur4rec import api; "
            "from ur4rec.config import load_config; from ur4rec.runs.inputs import model_inputs; "
            "c = load_config(sys.argv[1]); "
            "d = api.prepare_data(c); model_inputs(c, d, Path(sys.argv[2]), None)")
    subprocess.run([sys.executable, "-c", code, UR4REC, str(cache / "texts-run")], cwd=REPO,
                   env=env, check=True)
    shutil.rmtree(cache / "texts-run", ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"))
    parser.add_argument("--fill-cache", type=Path, metavar="CACHE_DIR",
                        help="prepare the data and texts the check reads into CACHE_DIR")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                        help="cpu only with --smoke: the plan's every step, tiny, as a test")
    parser.add_argument("--smoke", action="store_true",
                        help="one epoch per run and 40k synthetic interactions")
    args = parser.parse_args(argv)
    if args.fill_cache is not None:
        fill_cache(args.fill_cache)
        return
    if args.device == "cpu" and not args.smoke:
        parser.error("--device cpu is for --smoke runs only")
    check(args.out, Options(args.device, args.smoke))


if __name__ == "__main__":
    main()
