"""``results.json`` has one schema (runs/results.py), shared by ``train`` and ``evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

from ur4rec import api
from ur4rec.runs.results import RunResults

from .models.test_text_baselines import _tiny_config

GOLDEN = Path(__file__).parent / "golden"


def test_a_written_file_reads_back_as_it_was_sections_unknown_to_the_schema_included():
    saved = json.loads((GOLDEN / "ur4rec" / "results.json").read_text("utf-8"))
    saved["made_by_a_later_version"] = {"kept": True}
    again = RunResults.from_json(saved).to_json()
    assert again == saved and list(again)[-1] == "made_by_a_later_version"


def test_evaluate_writes_every_section_even_without_the_results_of_training(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(api, "_after_training", lambda run_dir: None)
    trained = api.train(_tiny_config(tmp_path, "pop"), tmp_path / "run", progress=False)
    (tmp_path / "run" / "results.json").unlink()
    evaluated = api.evaluate(tmp_path / "run")
    assert list(evaluated) == [*trained, *(() if "timing" in trained else ("timing",))]
    for section in ("model", "name", "test", "valid", "slices", "dataset", "parameters",
                    "protocol"):
        assert evaluated[section] == trained[section], section
    assert set(evaluated["timing"]) == {"evaluate_s"}


def test_results_name_each_protocol_and_evaluate_names_them_in_an_older_file(tmp_path):
    trained = api.train(_tiny_config(tmp_path, "pop"), tmp_path / "run", progress=False)
    names = trained["protocol"]["protocols"]
    items = trained["dataset"]["items"]
    candidates = trained["protocol"]["num_candidates"]
    assert set(trained["test"]) == {"sampled", "full"} <= set(names)
    assert f"among {candidates} candidates" in names["sampled"]
    assert f"all {items} items" in names["full"] and "history masked" in names["full"]
    path = tmp_path / "run" / "results.json"
    older = json.loads(path.read_text("utf-8"))
    del older["protocol"]["protocols"]  # as a version before the names wrote it
    path.write_text(json.dumps(older), encoding="utf-8")
    assert api.evaluate(tmp_path / "run")["protocol"]["protocols"] == names
