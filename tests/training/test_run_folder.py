"""A run never writes into a folder that holds another run, unless told to resume or replace it
(once, a second run restored the first run's best weights and reported its metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ur4rec import api
from ur4rec.cli import main
from ur4rec.errors import ConfigError, DataError

from ..test_cli import tiny_config

DIVERGING = ["--set", "training.sasrec_lr=1e30", "--set", "training.grad_clip=null",
             "--set", "training.on_divergence=stop_stage"]


def _train(config: Path, run: Path, *extra: str) -> int:
    return main(["--quiet", "train", "--config", str(config), "--output_dir", str(run), *extra])


def test_a_second_run_into_a_used_folder_is_refused_and_overwrite_replaces_it(tmp_path, capsys):
    config = tiny_config(tmp_path, epochs_per_stage=2, loss="ce")
    run = tmp_path / "run"
    assert _train(config, run) == 0
    first_results = (run / "results.json").read_text()
    assert (run / "checkpoints" / "best_pretrain_sasrec.pt").is_file()
    capsys.readouterr()

    # run B, same folder, no --resume: refused in one line, run A untouched
    assert _train(config, run, *DIVERGING) == 2
    err = capsys.readouterr().err
    assert f"output folder {run} is not empty" in err and "--resume" in err
    assert "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (run / "results.json").read_text() == first_results
    assert yaml.safe_load((run / "config.yaml").read_text())["training"]["sasrec_lr"] != 1e30

    # with --overwrite: B alone. It diverges in its first epoch, so it has no finite best to
    # restore — never A's best_pretrain_sasrec.pt — and writes no results.json
    assert _train(config, run, *DIVERGING, "--overwrite") == 2
    assert "no finite epoch to keep" in capsys.readouterr().err
    assert not (run / "results.json").exists()
    assert not (run / "checkpoints" / "best_pretrain_sasrec.pt").exists()
    assert yaml.safe_load((run / "config.yaml").read_text())["training"]["sasrec_lr"] == 1e30
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["diverged"] for row in rows] == [True]


def test_the_python_api_refuses_a_used_folder_unless_overwrite(tmp_path):
    config = tiny_config(tmp_path, epochs_per_stage=1)
    run = tmp_path / "run"
    api.train(config, run, progress=False)
    (run / "stale.txt").write_text("from another run")
    with pytest.raises(ConfigError, match="is not empty"):
        api.train(config, run, progress=False)
    results = api.train(config, run, overwrite=True, progress=False)
    assert results["test"] and not (run / "stale.txt").exists()


def test_overwrite_keeps_the_old_run_when_the_data_fails(tmp_path):
    config = tiny_config(tmp_path, epochs_per_stage=1)
    run = tmp_path / "run"
    api.train(config, run, progress=False)
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(DataError):
        api.train(config, run, overwrite=True, progress=False,
                  overrides={"data.path": str(tmp_path / "missing.csv"),
                             "data.prepared_dir": str(tmp_path / "other")})
    assert sorted(p.name for p in run.iterdir()) == before


def test_resume_and_overwrite_together_are_refused(tmp_path):
    from ur4rec.training.run_folder import check_output_folder

    with pytest.raises(ConfigError, match="choose one"):
        check_output_folder(tmp_path, resume=True, overwrite=True, inputs={})


def test_overwrite_clears_only_a_run_folder_without_inputs(tmp_path, monkeypatch):
    from ur4rec.training.run_folder import check_output_folder

    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("…")
    with pytest.raises(ConfigError, match="not a ur4rec run folder"):
        check_output_folder(mine, resume=False, overwrite=True, inputs={})
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("model: sasrec\n")
    (run / "checkpoints" / "final.pt").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"would delete .*final\.pt \(training.init_from\)"):
        check_output_folder(run, resume=False, overwrite=True,
                            inputs={"training.init_from": run / "checkpoints" / "final.pt"})
    monkeypatch.chdir(run)
    with pytest.raises(ConfigError, match="working directory"):
        check_output_folder(Path("."), resume=False, overwrite=True, inputs={})
    monkeypatch.chdir(tmp_path)
    check_output_folder(run, resume=False, overwrite=True, inputs={})  # a run folder: fine
    check_output_folder(tmp_path / "new", resume=False, overwrite=False, inputs={})
