"""The command line end to end: real ML-100K for the baselines, tiny data for training paths."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ur4rec.cli import main

from .conftest import REPO, synthetic_interactions


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ur4rec", *args], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "TQDM_DISABLE": "1"})


def tiny_config(tmp_path: Path, **training) -> Path:
    data = tmp_path / "log.csv"
    synthetic_interactions(num_users=200, num_items=60, length=25).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(data, index=False)
    config = {"name": "tiny", "model": "sasrec",
              "data": {"dataset": "tiny", "path": str(data), "num_candidates": 20,
                       "prepared_dir": str(tmp_path / "prepared")},
              "sasrec": {"hidden_dim": 16, "max_seq_len": 20},
              "training": {"epochs_per_stage": 6, "patience": 50, "batch_size": 16,
                           "loss": "bce", **training}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("args, message", [
    (["data", "prepare", "--dataset", "ml-1b"], "unknown dataset 'ml-1b'"),
    (["train", "--config", "nope.yaml", "--output_dir", "x"], "config file nope.yaml does not exist"),
    (["data", "prepare", "--dataset", "x", "--path", "missing.csv"], "missing.csv does not exist"),
    # a malformed --columns is never silently ignored
    (["data", "prepare", "--dataset", "x", "--path", "a.csv", "--columns", "bogus"],
     "--columns: 'bogus' is not ROLE=COLUMN"),
    (["data", "prepare", "--dataset", "x", "--path", "a.csv", "--columns", "user=uid,item="],
     "--columns: 'item=' is not ROLE=COLUMN"),
    (["data", "prepare", "--dataset", "x", "--path", "a.csv", "--columns", "usr=uid"],
     "--columns: unknown role 'usr'"),
    (["data", "prepare", "--dataset", "x", "--path", "a.csv", "--columns", "user=a,user=b"],
     "--columns: role 'user' is given twice"),
    (["data", "prepare", "--dataset", "x", "--path", "a.csv", "--min-user-interactions", "1"],
     "command line: key 'min_user_interactions': Input should be greater than or equal to 3"),
])
def test_bad_input_is_one_line_without_traceback(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_column_roles_are_the_config_roles():
    from ur4rec.config import ColumnNames
    from ur4rec.data.cli import COLUMN_ROLES

    assert COLUMN_ROLES == tuple(ColumnNames.model_fields)


def test_unknown_config_key_exits_nonzero_naming_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: sasrec\ntraining:\n  learning_rate: 0.1\n")
    result = run_cli("train", "--config", str(path), "--output_dir", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "bad.yaml: unknown key 'training.learning_rate'" in result.stderr
    assert "Traceback" not in result.stderr


def test_train_writes_a_complete_run_and_evaluate_reproduces_it(tmp_path):
    config = tiny_config(tmp_path)
    assert main(["--quiet", "train", "--config", str(config), "--output_dir",
                 str(tmp_path / "run")]) == 0
    run = tmp_path / "run"
    for name in ("config.yaml", "run.json", "metrics.jsonl", "results.json",
                 "checkpoints/final.pt", "checkpoints/last.pt", "checkpoints/best_pretrain_sasrec.pt"):
        assert (run / name).exists(), name
    results = json.loads((run / "results.json").read_text())
    assert set(results["test"]) == {"sampled", "full"}
    assert set(results["test"]["sampled"]) >= {"hit@5", "hit@10", "hit@20", "ndcg@5", "ndcg@10",
                                               "ndcg@20", "mrr", "avg_rank"}
    assert results["dataset"]["users"] == 200
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and rows[0]["batches"] == math.ceil(200 / 16)
    assert main(["--quiet", "evaluate", str(run), "--save-ranks", str(tmp_path / "ranks.jsonl")]) == 0
    again = json.loads((run / "results.json").read_text())
    assert again["test"] == results["test"]
    lines = [json.loads(line) for line in (tmp_path / "ranks.jsonl").read_text().splitlines()]
    assert len(lines) == 200
    # recompute hit@5 independently from the saved scores (pessimistic ties)
    hits = [sum(s >= line["scores"][0] for s in line["scores"][1:]) + 1 <= 5 for line in lines]
    assert sum(hits) / len(hits) == pytest.approx(results["test"]["sampled"]["hit@5"])
    assert all(line["candidates"][0] == line["target"] for line in lines)


def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path):
    config = tiny_config(tmp_path, epochs_per_stage=12)
    whole = tmp_path / "whole"
    assert run_cli("--quiet", "train", "--config", str(config), "--output_dir",
                   str(whole)).returncode == 0
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "ur4rec", "--quiet", "train", "--config",
                                str(config), "--output_dir", str(killed)], cwd=REPO,
                               env={**os.environ, "TQDM_DISABLE": "1"})
    metrics = killed / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "results.json").exists()
    resumed = run_cli("--quiet", "train", "--config", str(config), "--output_dir", str(killed),
                      "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((whole / "results.json").read_text())
    b = json.loads((killed / "results.json").read_text())
    assert a["test"] == b["test"] and a["valid"] == b["valid"]
    rows_a = (whole / "metrics.jsonl").read_text().splitlines()
    rows_b = (killed / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["losses"] for r in rows_a] == [json.loads(r)["losses"] for r in rows_b]


def test_checkpoint_from_another_catalogue_is_refused(tmp_path, capsys):
    config = tiny_config(tmp_path, epochs_per_stage=1)
    assert main(["--quiet", "train", "--config", str(config), "--output_dir",
                 str(tmp_path / "run")]) == 0
    other = yaml.safe_load(config.read_text())
    other["sasrec"]["hidden_dim"] = 8
    config.write_text(yaml.safe_dump(other))
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(other))
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    assert "expects" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pop", "random"])
def test_baseline_configs_run_end_to_end(name, tmp_path):
    result = run_cli("--quiet", "train", "--config", f"configs/{name}_ml100k.yaml",
                     "--output_dir", str(tmp_path / name))
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / name / "results.json").read_text())
    assert results["dataset"] == {"name": "ml-100k", "users": 943, "items": 1682,
                                  "interactions": 100_000}
    if name == "pop":
        assert 0.040 <= results["test"]["full"]["ndcg@10"] <= 0.050
    else:
        assert abs(results["test"]["sampled"]["hit@10"] - 0.10) < 0.03


def test_building_the_command_line_imports_no_torch():
    """``ur4rec --help`` and argument errors answer at once: no data, model or torch import."""
    import subprocess
    import sys

    code = "import sys; from ur4rec import cli; cli.build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_every_command_module_is_listed_and_a_broken_one_fails_loudly():
    """``cli.COMMAND_MODULES`` names every ``cli.py`` of the package; one that cannot be
    imported stops ``ur4rec`` with its error instead of silently losing its commands."""
    from ur4rec import cli

    package = REPO / "src" / "ur4rec"
    modules = {".".join(path.relative_to(package.parent).with_suffix("").parts)
               for path in package.glob("*/cli.py")}
    assert modules == {module.__name__ for module in cli.COMMAND_MODULES}
    code = "import sys; sys.modules['ur4rec.tuning.cli'] = None; import ur4rec.cli"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0 and "ur4rec.tuning.cli" in result.stderr


def test_two_modules_claiming_one_command_is_an_error(monkeypatch):
    from ur4rec import cli
    from ur4rec.tuning import cli as tuning_cli

    monkeypatch.setattr(tuning_cli, "COMMANDS", {**tuning_cli.COMMANDS, "convert": None})
    with pytest.raises(RuntimeError, match="convert"):
        cli.all_commands()
