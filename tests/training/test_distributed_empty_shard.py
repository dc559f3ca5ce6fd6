"""A batch too small to give every rank a row trains as in one process.

30 users in batches of 29: the last batch has one row, so under 2-process DDP rank 1's shard of
it is empty. Its mean over no rows was NaN and the run stopped with "training diverged" though
the gradient was finite; and ranks with unequal rows were averaged as if they were equal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from ..conftest import REPO, synthetic_interactions

pytestmark = pytest.mark.slow

WORKER = REPO / "tests" / "training" / "ddp_worker.py"


def _config(tmp_path):
    log = tmp_path / "log.csv"
    synthetic_interactions(num_users=30, num_items=40, length=12).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(log, index=False)
    config = {
        "name": "ddp_retriever", "model": "ur4rec",
        "data": {"dataset": "tiny", "path": str(log), "num_candidates": 10,
                 "prepared_dir": str(tmp_path / "prepared")},
        "sasrec": {"hidden_dim": 16, "num_blocks": 1, "max_seq_len": 10, "dropout": 0.0},
        # last positions and no dropout: the ranks' shards draw nothing at random, so the
        # single-process run is the exact reference
        "retriever": {"output_dim": 16, "num_heads": 2, "num_proxies": 2, "train_positions": 3,
                      "train_position_sampling": "last", "dropout": 0.0},
        "texts": {"embedding_dim": 12},
        "training": {"stages": ["pretrain_retriever"], "epochs_per_stage": 3, "patience": 10,
                     "batch_size": 29, "device": "cpu", "amp": False}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _losses(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [row["losses"]["loss"] for row in rows], [row.get("diverged", False) for row in rows]


def test_retriever_stage_with_an_empty_shard_matches_one_process(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    assert torchrun, "torchrun ships with torch and must sit next to the interpreter"
    config = _config(tmp_path)
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(WORKER), str(config), str(tmp_path / "single")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", str(WORKER),
                          str(config), str(tmp_path / "ddp")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "diverged" not in ddp.stderr
    batches = json.loads((tmp_path / "ddp" / "run.json").read_text())["batches_per_epoch"]
    assert batches == 2  # 29 rows, then 1: rank 1's shard of the last batch is empty
    single_losses, _ = _losses(tmp_path / "single")
    ddp_losses, diverged = _losses(tmp_path / "ddp")
    assert diverged == [False, False, False]
    assert ddp_losses == pytest.approx(single_losses, rel=1e-4)
