"""torchrun with 2 CPU processes (gloo) trains the same model as one process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ..conftest import REPO
from ..test_cli import tiny_config

pytestmark = pytest.mark.slow


def test_two_process_ddp_matches_single_process(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    assert torchrun, "torchrun ships with torch and must sit next to the interpreter"
    config = tiny_config(tmp_path, epochs_per_stage=12, loss="ce")
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "ur4rec", "--quiet", "train", "--config",
                             str(config), "--output_dir", str(tmp_path / "single")],
                            cwd=REPO, env=env, capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "ur4rec",
                          "--quiet", "train", "--config", str(config), "--output_dir",
                          str(tmp_path / "ddp")], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a = json.loads((tmp_path / "single" / "results.json").read_text())
    b = json.loads((tmp_path / "ddp" / "results.json").read_text())
    # same data, same init, same batches; only the split of each batch across ranks differs
    for protocol in ("sampled", "full"):
        assert abs(a["test"][protocol]["ndcg@10"] - b["test"][protocol]["ndcg@10"]) < 0.05
    # rank 1 wrote nothing of its own: one metrics line per epoch, one results file
    rows = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 12
