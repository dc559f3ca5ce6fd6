"""The recommend commands end to end: recommend-all, and one-line errors for bad input."""

from __future__ import annotations

import argparse
import json

import pytest
import yaml

from ur4rec import api
from ur4rec.cli import main
from ur4rec.errors import UR4RecError
from ur4rec.retrieval.cli import COMMANDS, register

from ..conftest import synthetic_interactions


def run_command(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


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


def test_recommend_rejects_bad_k(tmp_path):
    with pytest.raises(UR4RecError, match="--k must be at least 1"):
        run_command("recommend", str(tmp_path), "--user", "1", "--k", "0")
