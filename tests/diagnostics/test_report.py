"""diagnosis.md: findings with evidence and suggestions; gaps listed as not measured."""

from __future__ import annotations

from ur4rec.diagnostics.report import diagnose, write_diagnosis

from .synthetic import UR4REC_CONFIG, healthy_sasrec_rows, healthy_ur4rec_rows, write_run


def test_healthy_report(tmp_path):
    path = write_diagnosis(write_run(tmp_path, healthy_sasrec_rows()))
    text = path.read_text()
    assert path.name == "diagnosis.md" and path.parent == tmp_path
    assert "No failure pattern found." in text and "0 failure pattern(s)" in text
    assert "`chance_level`" in text  # listed among the checks that passed


def test_failing_report_has_evidence_and_suggestions(tmp_path):
    rows = healthy_sasrec_rows()
    for row in rows:
        row["targets"] = 943
    run = write_run(tmp_path, rows, {"training": {"sampling": "last_item"}})
    text = write_diagnosis(run).read_text()
    assert "[critical] Too few training targets per epoch" in text
    assert "- targets per user per epoch: 1" in text
    assert "Suggested change: Set `training.sampling: seq2seq`" in text
    assert [f.rule for f in diagnose(run) if f.fires] == ["too_few_targets"]


def test_not_measured_section(tmp_path):
    rows = healthy_ur4rec_rows()
    for row in rows:
        del row["memory"]
    text = write_diagnosis(write_run(tmp_path, rows, UR4REC_CONFIG)).read_text()
    assert "## Not measured" in text and "no `memory` field" in text
