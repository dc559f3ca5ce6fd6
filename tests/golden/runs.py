"""Golden runs: tiny-data trainings whose logs every refactor must reproduce to the last digit.

Each run trains through :func:`ur4rec.api.train` (and re-evaluates through
:func:`ur4rec.api.evaluate`) on the synthetic data of ``tests/conftest.py``, with a hash
sentence encoder, one thread and a fresh cache, so nothing outside the code under test can change
a number. :func:`normalised_run` keeps what a run wrote that must not change: ``metrics.jsonl``
without wall-clock fields, ``results.json`` without ``timing``, with the run's temporary folders
replaced by placeholders.

``python -m tests.golden.runs write`` records the files of ``tests/golden/<run>/`` (only on code
whose behaviour is meant to change, said in the commit); ``python -m tests.golden.runs compare
RUN_A RUN_B`` compares two run folders the same way (e.g. the ML-100K seed of
``benchmarks/golden_ml100k.sh``).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from ..conftest import synthetic_interactions

GOLDEN = Path(__file__).resolve().parent
VOLATILE_KEYS = ("started_at", "timing", "created")
"""keys dropped wherever they occur (with every key that contains ``seconds``): wall-clock"""

TINY_MODELS = {"hidden_dim": 16, "num_blocks": 1, "max_seq_len": 10}
RETRIEVER = {"output_dim": 16, "num_heads": 2, "num_proxies": 2, "train_positions": 3,
             "single_expert": False}  # routed: the MoE router and its routing_by_slice

RUNS: dict[str, dict[str, Any]] = {
    # SASRec with an EMA of its weights and a cosine schedule
    "sasrec": {"model": "sasrec", "sasrec": TINY_MODELS,
               "training": {"epochs_per_stage": 3, "ema_decay": 0.9, "schedule": "cosine",
                            "warmup_steps": 2}},
    # UR4Rec through all four stages: memory, routed MoE, alternation, uncertainty weighting,
    # fusion weights chosen on validation, cold items (their own protocol and routing slice)
    "ur4rec": {"model": "ur4rec", "sasrec": TINY_MODELS, "retriever": RETRIEVER,
               "data": {"cold_items": 0.1},
               "memory": {"enabled": True, "update_trigger": "TIME_BASED"},
               "fusion": {"method": "weighted", "select_weights": True},
               "texts": {"embedding_dim": 32},
               "training": {"stages": ["pretrain_sasrec", "pretrain_retriever",
                                       "joint_finetune", "end_to_end"],
                            "epochs_per_stage": 2, "use_uncertainty_weighting": True}},
    # the retriever alone (one parameter group) on the shared-negative softmax, random positions
    "retriever": {"model": "retriever", "sasrec": TINY_MODELS,
                  "retriever": {**RETRIEVER, "train_position_sampling": "random"},
                  "texts": {"embedding_dim": 32},
                  "training": {"epochs_per_stage": 2, "loss": "shared_softmax",
                               "num_negatives": 16}},
    # popularity: no training, the untrained path
    "pop": {"model": "pop"},
}


class HashEncoder:
    """A stand-in sentence encoder: deterministic, 32-d, no model files."""

    backend = "hash"

    def encode(self, texts: list[str], **_: Any) -> np.ndarray:
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest(), dtype=np.uint8)
                for t in texts]
        return np.stack(rows).astype(np.float32) / 255


def run_config(name: str, folder: Path) -> Path:
    """The YAML config of golden run ``name``, its interaction log written into ``folder``."""
    log = folder / "log.csv"
    synthetic_interactions(num_users=40, num_items=50, length=14).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(log, index=False)
    spec = RUNS[name]
    config = {
        "name": f"golden_{name}", "model": spec["model"],
        **{key: value for key, value in spec.items() if key not in ("model", "data",
                                                                   "training")},
        "data": {"dataset": "tiny", "path": str(log), "num_candidates": 10,
                 "prepared_dir": str(folder / "prepared"), **spec.get("data", {})},
        "training": {"batch_size": 8, "device": "cpu", "seed": 7, **spec.get("training", {})},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@contextmanager
def isolated(folder: Path) -> Iterator[None]:
    """One thread, the hash encoder, a cache of its own: the run depends on the code alone."""
    from ur4rec.text import encode

    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UR4REC_CACHE_DIR", str(folder / "cache"))
        patch.setenv("TQDM_DISABLE", "1")
        patch.setattr(encode, "load_encoder", lambda location, device=None: HashEncoder())
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


def train_and_evaluate(name: str, folder: Path) -> dict[str, Any]:
    """Train golden run ``name`` in ``folder / name``, then re-evaluate it; returns
    ``{"train": normalised run after training, "evaluate": results.json after evaluate}``."""
    from ur4rec import api

    folder.mkdir(parents=True, exist_ok=True)
    run_dir = folder / name
    with isolated(folder):
        api.train(run_config(name, folder), run_dir, progress=False)
        trained = normalised_run(run_dir, folder)
        api.evaluate(run_dir)
        evaluated = normalise(json.loads((run_dir / "results.json").read_text("utf-8")),
                              folder)
    return {"train": trained, "evaluate": evaluated}


def normalise(value: Any, root: Path | None = None) -> Any:
    """``value`` without volatile keys; in strings ``root`` replaced by ``<run>``, the
    fingerprint of the data prepared under it (it hashes the data file's path) by ``<data>``
    and this Python's installation folder (where the encoder's files lie) by ``<python>``."""
    names = {sys.prefix: "<python>"}
    if root is not None:
        names[str(root)] = "<run>"
        meta = root / "prepared" / "meta.json"
        if meta.is_file():
            names[json.loads(meta.read_text("utf-8"))["fingerprint"]] = "<data>"
    return _renamed(value, names)


def _renamed(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _renamed(item, names) for key, item in value.items()
                if key not in VOLATILE_KEYS and "seconds" not in key}
    if isinstance(value, list):
        return [_renamed(item, names) for item in value]
    if isinstance(value, str):
        for name, placeholder in names.items():
            value = value.replace(name, placeholder)
    return value


def normalised_run(run_dir: Path, root: Path | None = None) -> dict[str, Any]:
    """``{"metrics": [row, …], "results": {…}}`` of a run folder, normalised."""
    root = run_dir.parent if root is None else root
    log = run_dir / "metrics.jsonl"  # none for a model that is not trained
    rows = [json.loads(line) for line in
            (log.read_text("utf-8") if log.exists() else "").splitlines() if line.strip()]
    results = json.loads((run_dir / "results.json").read_text("utf-8"))
    return {"metrics": normalise(rows, root), "results": normalise(results, root)}


def environment() -> dict[str, str]:
    """What the numbers depend on beside the code: compared digit for digit only where the
    golden files were recorded on the same (torch, CPU) pair."""
    return {"torch": torch.__version__, "numpy": np.__version__,
            "cpu": torch.backends.cpu.get_cpu_capability(), "machine": platform.machine()}


def differences(expected: Any, got: Any, where: str = "") -> list[str]:
    """Every place two normalised values differ, as ``path: expected != got`` lines."""
    if isinstance(expected, dict) and isinstance(got, dict):
        out = [f"{where}.{key}: missing" for key in expected if key not in got]
        out += [f"{where}.{key}: unexpected" for key in got if key not in expected]
        for key in expected.keys() & got.keys():
            out += differences(expected[key], got[key], f"{where}.{key}")
        return out
    if isinstance(expected, list) and isinstance(got, list):
        if len(expected) != len(got):
            return [f"{where}: {len(expected)} entries != {len(got)}"]
        return [line for index, (a, b) in enumerate(zip(expected, got, strict=True))
                for line in differences(a, b, f"{where}[{index}]")]
    return [] if expected == got else [f"{where}: {expected!r} != {got!r}"]


FILES = ("metrics.jsonl", "results.json", "evaluated.json")
"""what a golden run folder holds: the normalised log, results after training, and after
``api.evaluate`` rewrote them"""


def as_files(run: dict[str, Any]) -> dict[str, str]:
    """The text of each of :data:`FILES` for a run from :func:`train_and_evaluate`."""
    def dump(value: Any) -> str:
        return json.dumps(value, indent=1, sort_keys=True) + "\n"

    return {"metrics.jsonl": "".join(json.dumps(row, sort_keys=True) + "\n"
                                     for row in run["train"]["metrics"]),
            "results.json": dump(run["train"]["results"]),
            "evaluated.json": dump(run["evaluate"])}


def read_golden(name: str) -> dict[str, Any]:
    """A recorded golden run in the shape :func:`train_and_evaluate` returns."""
    folder = GOLDEN / name
    rows = [json.loads(line) for line in
            (folder / "metrics.jsonl").read_text("utf-8").splitlines() if line.strip()]
    return {"train": {"metrics": rows,
                      "results": json.loads((folder / "results.json").read_text("utf-8"))},
            "evaluate": json.loads((folder / "evaluated.json").read_text("utf-8"))}


def recorded_environment() -> dict[str, str]:
    return json.loads((GOLDEN / "environment.json").read_text("utf-8"))


def write(folder: Path) -> None:
    """Record every golden run into ``tests/golden/<run>/`` and the environment beside them."""
    for name in RUNS:
        files = as_files(train_and_evaluate(name, folder / name))
        (GOLDEN / name).mkdir(exist_ok=True)
        for file, text in files.items():
            (GOLDEN / name / file).write_text(text, encoding="utf-8")
        print(f"wrote {GOLDEN / name}")
    (GOLDEN / "environment.json").write_text(json.dumps(environment(), indent=1) + "\n",
                                             encoding="utf-8")


def compare(first: Path, second: Path) -> int:
    """Print the differences of two run folders' logs; 0 when none."""
    lines = differences(normalised_run(first, first), normalised_run(second, second))
    print("\n".join(lines) if lines else f"identical: {first} and {second}")
    return 1 if lines else 0


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:2] == ["write"]:
        with tempfile.TemporaryDirectory() as scratch:
            write(Path(scratch))
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 4:
        raise SystemExit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        raise SystemExit("usage: python -m tests.golden.runs write | compare RUN_A RUN_B")
