"""The scale commands end to end: recommend-all, and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from ur4rec import api
from ur4rec.cli import main

from ..conftest import synthetic_interactions


@pytest.fixture
def tiny_run(tmp_path, monkeypatch):
    monkeypatch.setattr("ur4rec.api._after_training", lambda run_dir: None)
    data = tmp_path / "log.csv"
    synthetic_interactions(num_users=30, num_items=40, length=12).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(data, index=False)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "model": "sasrec", "data": {"dataset": "tiny", "path": str(data), "num_candidates": 10,
                                    "prepared_dir": str(tmp_path / "prepared")},
        "sasrec": {"hidden_dim": 8, "num_blocks": 1, "max_seq_len": 10},
        "training": {"epochs_per_stage": 1}}))
    api.train(config, tmp_path / "run", progress=False)
    return tmp_path / "run"


def test_recommend_all_writes_what_recommend_says(tiny_run, tmp_path):
    out = tmp_path / "recs.jsonl"
    assert main(["--quiet", "recommend-all", str(tiny_run), "--out", str(out), "-k", "5"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    run = api.load_run(tiny_run)
    assert len(lines) == run.data.num_users
    for line in lines[:5]:
        expected = api.recommend(run, line["user"], k=5)
        assert [r["item"] for r in line["items"]] == [r["item"] for r in expected]


@pytest.mark.parametrize("k", ["-1", "0"])
def test_recommend_all_with_a_k_below_one_is_one_line(tiny_run, tmp_path, capsys, k):
    for command in ("recommend-all", "recommend"):
        target = ["--out", str(tmp_path / "x")] if command == "recommend-all" else ["--user", "u1"]
        assert main([command, str(tiny_run), *target, "--k", k]) == 2
        err = capsys.readouterr().err
        assert f"--k must be at least 1, got {k}" in err and len(err.strip().splitlines()) == 1


def test_recommend_all_refuses_a_model_without_vectors(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("ur4rec.api._after_training", lambda run_dir: None)
    data = tmp_path / "log.csv"
    synthetic_interactions().rename(columns={"user": "user_id", "item": "item_id"}).to_csv(
        data, index=False)
    config = tmp_path / "pop.yaml"
    config.write_text(yaml.safe_dump({"model": "pop", "data": {
        "dataset": "tiny", "path": str(data), "num_candidates": 10,
        "prepared_dir": str(tmp_path / "prepared")}}))
    api.train(config, tmp_path / "pop", progress=False)
    assert main(["recommend-all", str(tmp_path / "pop"), "--out", str(tmp_path / "x")]) == 2
    assert "does not score by inner product" in capsys.readouterr().err


def test_tune_with_a_bad_space_is_one_line(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("sasrec.hiden_dim: {type: int, low: 8, high: 64}\n")
    assert main(["tune", "--config", "configs/sasrec_ml100k.yaml", "--space", str(space),
                 "--trials", "2", "--study-dir", str(tmp_path / "study")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'sasrec.hiden_dim'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "study").exists()


def test_convert_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["convert", "ml1m-movies", str(tmp_path / "nope.dat"), "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_tune_with_an_unknown_metric_is_one_line(tmp_path, capsys):
    assert main(["tune", "--config", "configs/sasrec_ml100k.yaml", "--space",
                 "configs/tune_space_sasrec.yaml", "--trials", "2", "--study-dir",
                 str(tmp_path / "study"), "--metric", "avg_rank"]) == 2
    assert "--metric 'avg_rank' is not one of" in capsys.readouterr().err


def test_convert_kinds_named_in_the_parser_are_the_converters():
    from ur4rec.scale.cli import CONVERT_KINDS
    from ur4rec.scale.datasets import CONVERTERS

    assert CONVERT_KINDS == tuple(sorted(CONVERTERS))


def test_building_the_command_line_imports_no_torch():
    """``ur4rec --help`` and argument errors answer at once: no data, model or torch import."""
    import subprocess
    import sys

    code = ("import sys; from ur4rec import cli; cli._register_extensions(); cli.build_parser(); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
