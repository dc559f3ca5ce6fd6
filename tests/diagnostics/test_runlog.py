"""Reading a run directory: typed records, and one-line errors naming the file."""

from __future__ import annotations

import json

import pytest

from ur4rec.diagnostics.runlog import read_run
from ur4rec.errors import UR4RecError

from .synthetic import UR4REC_CONFIG, healthy_sasrec_rows, healthy_ur4rec_rows, write_run


def test_reads_a_healthy_run(tmp_path):
    run = read_run(write_run(tmp_path, healthy_sasrec_rows()))
    assert run.model == "sasrec" and run.num_users == 943 and run.num_candidates == 100
    assert len(run.epochs) == 12 and run.stages() == ["pretrain_sasrec"]
    first = run.epochs[0]
    assert first.loss == 8.0 and first.trained == ("sasrec",) and first.targets == 60_000
    assert first.memory is None and first.routing is None and first.fusion is None
    metrics, source = run.final_metrics()
    assert source == "results.json test sampled" and metrics["hit@10"] > 0.5


def test_reads_ur4rec_fields(tmp_path):
    run = read_run(write_run(tmp_path, healthy_ur4rec_rows(), UR4REC_CONFIG))
    assert run.stages() == ["pretrain_sasrec", "pretrain_retriever", "end_to_end"]
    assert run.epochs[0].memory["trigger"] == "INTERACTION_COUNT"
    assert set(run.epochs[0].routing) == {"user_text", "history_text", "item_id"}


def test_not_a_directory(tmp_path):
    with pytest.raises(UR4RecError, match="not a directory"):
        read_run(tmp_path / "missing")


def test_missing_config_names_the_file(tmp_path):
    with pytest.raises(UR4RecError, match="config.yaml is missing"):
        read_run(tmp_path)


def test_missing_run_json_names_the_file(tmp_path):
    (write_run(tmp_path, healthy_sasrec_rows()) / "run.json").unlink()
    with pytest.raises(UR4RecError, match="run.json is missing"):
        read_run(tmp_path)


def test_missing_metrics_of_a_trained_run(tmp_path):
    write_run(tmp_path, None)
    with pytest.raises(UR4RecError, match="metrics.jsonl is missing"):
        read_run(tmp_path)


def test_malformed_line_names_file_and_line(tmp_path):
    run = write_run(tmp_path, healthy_sasrec_rows())
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines[2] = "{not json"
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(UR4RecError, match=r"metrics.jsonl line 3: not valid JSON"):
        read_run(run)


def test_missing_key_is_named(tmp_path):
    rows = healthy_sasrec_rows()
    del rows[1]["losses"]
    with pytest.raises(UR4RecError, match=r"line 2: missing key\(s\) \['losses'\]"):
        read_run(write_run(tmp_path, rows))


def test_wrong_type_is_reported(tmp_path):
    rows = healthy_sasrec_rows()
    rows[0]["batches"] = "many"
    with pytest.raises(UR4RecError, match="line 1: a value has the wrong type"):
        read_run(write_run(tmp_path, rows))


def test_half_written_last_line_of_a_killed_run_is_skipped(tmp_path):
    run = write_run(tmp_path, healthy_sasrec_rows(), results=None)
    with (run / "metrics.jsonl").open("a") as handle:
        handle.write('{"stage": "pretrain_sas')
    assert len(read_run(run).epochs) == 12


def test_results_must_be_an_object(tmp_path):
    run = write_run(tmp_path, healthy_sasrec_rows())
    (run / "results.json").write_text(json.dumps([1, 2]))
    with pytest.raises(UR4RecError, match="results.json: expected a JSON object"):
        read_run(run)


def test_bad_config_names_the_file(tmp_path):
    run = write_run(tmp_path, healthy_sasrec_rows())
    (run / "config.yaml").write_text("model: sasrec\ntraining:\n  sasrec_lrr: 0.1\n")
    with pytest.raises(UR4RecError, match="config.yaml"):
        read_run(run)
