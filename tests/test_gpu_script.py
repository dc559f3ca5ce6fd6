"""benchmarks/gpu.sh and benchmarks/gpu_check.py: valid bash, clear failures without a GPU or a
bundle, and the parts of the check that need no GPU (its table, its comparisons, its refusal of a
run that did not train on the GPU).

Training on a GPU cannot be tested here (no CUDA device); the check itself was run on one
(docs/gpu.md, "The device check"), and ``gpu_check.py --device cpu --smoke`` runs its whole plan tiny.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ur4rec import api

from .conftest import REPO, synthetic_interactions

SCRIPT = REPO / "benchmarks" / "gpu.sh"
HAS_GPU = torch.cuda.is_available() or Path("/dev/nvidia0").exists()


def _check_module():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def run_script(mode: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), mode], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **env}, timeout=120)


def _fake_nvidia_smi(tmp_path: Path) -> str:
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Fake GPU, 1.0, 1 MiB'\n")
    fake.chmod(0o755)
    return f"{fake.parent}:{os.environ['PATH']}"


def test_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_an_unknown_mode_is_one_line():
    result = run_script("fast", {})
    assert result.returncode == 1 and "unknown mode 'fast'" in result.stderr


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
@pytest.mark.parametrize("mode", ["online", "offline"])
def test_without_a_gpu_it_stops_before_installing(tmp_path, mode):
    result = run_script(mode, {"PATH": "/usr/bin:/bin", "VENV": str(tmp_path / "venv"),
                               "BUNDLE": str(tmp_path / "bundle")})
    assert result.returncode == 1
    assert "gpu.sh: no CUDA device" in result.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
def test_offline_without_a_bundle_says_how_to_make_one(tmp_path):
    result = run_script("offline", {"PATH": _fake_nvidia_smi(tmp_path),
                                    "BUNDLE": str(tmp_path / "missing")})
    assert result.returncode == 1
    assert "missing/cache does not exist" in result.stderr and "gpu.sh prepare" in result.stderr


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
def test_offline_with_a_torch_without_cuda_is_refused(tmp_path):
    (tmp_path / "bundle" / "cache").mkdir(parents=True)
    result = run_script("offline", {"PATH": _fake_nvidia_smi(tmp_path),
                                    "BUNDLE": str(tmp_path / "bundle"), "PYTHON": sys.executable,
                                    "OUT": str(tmp_path / "out")})
    assert result.returncode != 0
    assert "sees no CUDA device" in result.stderr
    assert not (tmp_path / "out").exists()


def test_prepare_with_a_python_without_ur4rec_says_which_to_use(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    result = run_script("prepare", {"PYTHON": str(fake), "BUNDLE": str(tmp_path / "bundle")})
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "cannot import ur4rec" in result.stderr and "PYTHON=" in result.stderr
    assert not (tmp_path / "bundle").exists()


def test_a_run_that_did_not_train_on_the_gpu_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("ur4rec.api._after_training", lambda run_dir: None)
    data = tmp_path / "log.csv"
    synthetic_interactions(num_users=40, num_items=30, length=10).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(data, index=False)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "model": "sasrec", "data": {"dataset": "tiny", "path": str(data), "num_candidates": 10,
                                    "prepared_dir": str(tmp_path / "prepared")},
        "sasrec": {"hidden_dim": 8, "num_blocks": 1, "max_seq_len": 10},
        "training": {"epochs_per_stage": 2}}))
    run = tmp_path / "out" / "sasrec"
    api.train(config, run, progress=False)
    check = _check_module()
    dmon = check.Dmon(tmp_path / "dmon.txt")
    figures = check.run_figures(run, dmon, "cpu")
    assert figures["epochs"] == 2 and figures["train_s_per_epoch_median"] > 0
    with pytest.raises(SystemExit, match="trained on cpu, not cuda"):
        check.run_figures(run, dmon, "cuda")
    assert check.identical(run, run)


def test_utilisation_is_averaged_over_the_samples_inside_a_span(tmp_path):
    dmon = _check_module().Dmon(tmp_path / "none.txt")
    dmon.samples = [(10.0, 0.0), (11.0, 80.0), (12.0, 90.0), (20.0, 5.0)]
    assert dmon.mean_between(11.0, 12.0) == 85.0
    assert dmon.mean_between(30.0, 31.0) is None


def test_the_table_names_every_target(tmp_path):
    check = _check_module()
    run = {"train_s_per_epoch_median": 0.05, "total_s": 9.0, "wall_s": 14.0, "sm_mean": 30.0,
           "sm_train": 60.0, "eval_s_per_epoch_median": 2.0, "test_sampled_ndcg@10": 0.47,
           "test_full_ndcg@10": 0.11}
    records = {name: dict(run) for name in ("sasrec_ml100k", "ur4rec_ml100k", "sasrec_beauty",
                                            "sasrec_10m", "det_true_1", "det_false_1",
                                            "sasrec_ml100k_seed1", "sasrec_ml100k_seed2",
                                            "sasrec_ml100k_seed3")}
    records["sasrec_ml100k_seed2"]["test_full_ndcg@10"] = 0.13
    records.update({"det_true": {"identical": True}, "det_false": {"identical": False},
                    "synth10m": {"wall_s": 16.0}, "prepare10m": {"wall_s": 25.0}})
    text = check.table(records, {"gpu": "Fake GPU", "torch": "x", "date": "today"})
    for target in ("≤ 0.10", "≤ 15", "≤ 30", "≤ 60", "≤ 4", "≥ 50"):
        assert target in text
    assert "0.1167 ± 0.0115" in text  # the full NDCG@10 of the three seeds
    assert "| 1.00×" not in text and "(1.00×)" in text
    json.dumps(records)  # what gpu_check.json holds is plain JSON
