"""Where a training step's time goes, on CPU or CUDA: kernels, host syncs, Python, variants.

    python benchmarks/profile_step.py configs/sasrec_ml100k.yaml --device cuda --out runs/prof

For the config's first stage it builds the data, model and trainer as ``ur4rec train`` does,
then, after one warm-up epoch:

1. times whole training epochs and one validation pass (device-synchronised wall clock);
2. counts the host synchronisations of one epoch (CUDA only: ``torch.cuda.set_sync_debug_mode``
   reports each one; they are grouped by the line of ur4rec that caused them);
3. profiles ``--steps`` steps with ``torch.profiler``: kernels launched per step, device time per
   step against wall time per step (how busy the device is), and the top operators by host time;
4. repeats the epoch timing for each ``--variant`` (``KEY=VALUE[,KEY=VALUE]`` config overrides,
   e.g. ``training.deterministic=false`` or ``training.batch_size=256``), each from the same
   weights, so the variants compare within one process.

Prints markdown tables; ``--out`` also gets ``profile.json`` and the profiler's trace.
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import torch

from ur4rec import api
from ur4rec.config import load_config, parse_override
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.models.factory import build_model
from ur4rec.runs.inputs import model_inputs
from ur4rec.training.runtime import deterministic_kernels, resolve_device, seed_everything
from ur4rec.training.schedules import warmup_schedule
from ur4rec.training.trainer import StageRun, Trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_trainer(config_path: Path, overrides: dict[str, Any], device: torch.device,
                  run_dir: Path) -> tuple[Trainer, StageRun]:
    """The trainer of the config's first stage, with its optimizer and scheduler."""
    config = load_config(config_path, overrides)
    data = api.prepare_data(config)
    seed_everything(config.training.seed)
    model = build_model(config, data, model_inputs(config, data, run_dir, None).vectors)
    trainer = Trainer(model, config.model, data, config.training, config.resolved_stages(),
                      run_dir, device, Evaluator(data, config.evaluation), progress=False)
    stage = trainer.plan[0]
    optimizer = trainer._optimizer(stage.trains)
    scheduler = warmup_schedule(optimizer, config.training.warmup_steps,
                                config.training.epochs_per_stage * len(trainer.batches),
                                config.training.schedule)
    return trainer, StageRun(stage, 0, optimizer, scheduler, None, run_dir / "best.pt")


def timed_epoch(trainer: Trainer, plan: StageRun, epoch: int) -> dict[str, float]:
    _sync(trainer.device)
    started = time.perf_counter()
    stats = trainer._train_epoch(plan, list(plan.stage.trains),
                                 seed_everything(trainer.config.seed, 0, epoch), "profile")
    _sync(trainer.device)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    trainer.evaluator.evaluate(trainer.model, "valid", trainer.device)
    _sync(trainer.device)
    return {"train_s": train_s, "valid_s": time.perf_counter() - started,
            "steps": stats["batches"], "targets": stats["targets"],
            "loss": stats["losses"]["loss"]}


def count_syncs(trainer: Trainer, plan: StageRun) -> dict[str, int]:
    """Host synchronisations of one training epoch and one validation, by source line."""
    if trainer.device.type != "cuda":
        return {}
    counts: collections.Counter[str] = collections.Counter()

    def record(message: Any, category: Any, filename: str, lineno: int, *rest: Any) -> None:
        frames = [f for f in traceback.extract_stack()[:-1] if "/ur4rec/" in f.filename
                  or "benchmarks/" in f.filename]
        where = (f"{Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].line}"
                 if frames else f"{Path(filename).name}:{lineno}")
        counts[where.strip()] += 1

    previous = warnings.showwarning
    warnings.showwarning = record
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = record
            timed_epoch(trainer, plan, 1000)
    finally:
        torch.cuda.set_sync_debug_mode(0)
        warnings.showwarning = previous
    return dict(counts.most_common())


def profile_steps(trainer: Trainer, plan: StageRun, steps: int, out: Path | None
                  ) -> dict[str, Any]:
    """Kernels per step, device busy share and the top host operators over ``steps`` steps."""
    stage, groups = plan.stage, list(plan.stage.trains)
    optimizer, scheduler = plan.optimizer, plan.scheduler
    activities = [torch.profiler.ProfilerActivity.CPU]
    if trainer.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    batches = trainer.batches.epoch(seed_everything(trainer.config.seed, 0, 2000))
    trainer.model.train()
    done = 0
    _sync(trainer.device)
    with torch.profiler.profile(activities=activities) as prof:
        started = time.perf_counter()
        for batch in batches:
            batch = batch.to(trainer.device)
            with torch.autocast(trainer.device.type, dtype=trainer.amp_dtype,
                                enabled=trainer.amp):
                losses = trainer.loss_module(batch, stage, groups, None)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(trainer.model.parameters(),
                                           trainer.config.grad_clip or float("inf"))
            optimizer.step()
            scheduler.step()
            done += 1
            if done == steps:
                break
        _sync(trainer.device)
        wall = time.perf_counter() - started
    events = prof.key_averages()
    kernels = device_us = 0.0
    if trainer.device.type == "cuda":
        for event in prof.events():
            if event.device_type == torch.autograd.DeviceType.CUDA:
                kernels += 1
                device_us += event.device_time_total if hasattr(event, "device_time_total") \
                    else event.cuda_time_total
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:15]
    if out is not None:
        prof.export_chrome_trace(str(out / f"trace-{trainer.device.type}.json"))
    return {"steps": done, "wall_ms_per_step": 1e3 * wall / max(done, 1),
            "kernels_per_step": kernels / max(done, 1),
            "device_ms_per_step": device_us / 1e3 / max(done, 1),
            "device_busy_share": (device_us / 1e6) / wall if wall else 0.0,
            "top_host_ops": [{"op": e.key, "calls_per_step": e.count / max(done, 1),
                              "self_cpu_ms_per_step": e.self_cpu_time_total / 1e3 / max(done, 1)}
                             for e in top]}


def parse_variant(text: str) -> dict[str, Any]:
    return dict(parse_override(part) for part in text.split(",") if part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per variant")
    parser.add_argument("--steps", type=int, default=20, help="profiled steps")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variant", action="append", default=[],
                        help="KEY=VALUE[,KEY=VALUE]: another setting to time (repeatable)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    device = resolve_device(args.device)
    base = dict(parse_override(s) for s in args.set)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"machine": platform.platform(), "torch": str(torch.__version__),
                              "device": str(device), "config": str(args.config),
                              "overrides": base, "variants": {}}
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    for label in ["base"] + args.variant:
        overrides = {**base, **(parse_variant(label) if label != "base" else {})}
        config = load_config(args.config, overrides)
        with tempfile.TemporaryDirectory() as tmp, \
                deterministic_kernels(config.training.deterministic, device):
            trainer, plan = build_trainer(args.config, overrides, device, Path(tmp))
            timed_epoch(trainer, plan, 0)  # warm-up: allocator, kernels, caches
            epochs = [timed_epoch(trainer, plan, e) for e in range(1, args.epochs + 1)]
            row: dict[str, Any] = {"epochs": epochs}
            if label == "base":
                row["syncs"] = count_syncs(trainer, plan)
                row["profile"] = profile_steps(trainer, plan, args.steps, args.out)
            report["variants"][label] = row
    print_report(report)
    if args.out:
        (args.out / "profile.json").write_text(json.dumps(report, indent=2, default=str),
                                               encoding="utf-8")


def print_report(report: dict[str, Any]) -> None:
    print(f"# {report['config']} on {report.get('gpu', report['device'])}, torch "
          f"{report['torch']}")
    print("| variant | steps/epoch | train s/epoch (median) | ms/step | valid s |")
    print("|---|---|---|---|---|")
    for label, row in report["variants"].items():
        epochs = row["epochs"]
        train = sorted(e["train_s"] for e in epochs)[len(epochs) // 2]
        valid = sorted(e["valid_s"] for e in epochs)[len(epochs) // 2]
        steps = epochs[0]["steps"]
        print(f"| {label} | {steps} | {train:.3f} | {1e3 * train / max(steps, 1):.1f} | "
              f"{valid:.3f} |")
    base = report["variants"]["base"]
    profile = base["profile"]
    print(f"\nprofiled {profile['steps']} steps: {profile['wall_ms_per_step']:.1f} ms wall, "
          f"{profile['device_ms_per_step']:.2f} ms of device kernels "
          f"({100 * profile['device_busy_share']:.0f} % busy), "
          f"{profile['kernels_per_step']:.0f} kernels per step")
    print("\n| top host operators | calls/step | self host ms/step |\n|---|---|---|")
    for op in profile["top_host_ops"]:
        print(f"| {op['op']} | {op['calls_per_step']:.1f} | {op['self_cpu_ms_per_step']:.2f} |")
    if base["syncs"]:
        print("\n| host syncs in one epoch + validation, by line | count |\n|---|---|")
        for where, count in list(base["syncs"].items())[:20]:
            print(f"| `{where}` | {count} |")


if __name__ == "__main__":
    main()
