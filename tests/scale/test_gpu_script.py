"""benchmarks/gpu.sh: valid bash, a clear failure without a GPU, and a report of finished runs.

Training on a GPU cannot be tested here (no CUDA device); these tests cover the rest.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from ur4rec import api

from ..conftest import REPO, synthetic_interactions

SCRIPT = REPO / "benchmarks" / "gpu.sh"
HAS_GPU = torch.cuda.is_available() or Path("/dev/nvidia0").exists()


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **env}, timeout=120)


def test_script_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
def test_without_a_gpu_it_stops_before_installing(tmp_path):
    result = run_script({"PATH": "/usr/bin:/bin", "VENV": str(tmp_path / "venv")})
    assert result.returncode == 1
    assert "gpu.sh: no CUDA device" in result.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
def test_a_torch_without_cuda_is_refused(tmp_path):
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Fake GPU, 1.0, 1 MiB'\n")
    fake.chmod(0o755)
    venv = Path(sys.executable).parent.parent
    result = run_script({"PATH": f"{fake.parent}:{os.environ['PATH']}", "SKIP_INSTALL": "1",
                         "VENV": str(venv), "OUT": str(tmp_path / "out")})
    assert result.returncode == 1
    assert "no CUDA device usable by torch" in result.stderr and "sees no GPU" in result.stderr
    assert not (tmp_path / "out").exists()


def test_report_of_finished_runs(tmp_path, monkeypatch):
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
    api.train(config, tmp_path / "out" / "sasrec", progress=False)
    result = run_script({"REPORT_ONLY": "1", "OUT": str(tmp_path / "out"),
                         "VENV": str(Path(sys.executable).parent.parent)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.startswith("| sasrec | cpu | pretrain_sasrec"))
    assert row.split("|")[4].strip() == "2" and float(row.split("|")[7].replace(",", "")) > 0
    assert any(line.startswith("| sasrec | full |") for line in lines)
