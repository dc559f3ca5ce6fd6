"""A real short run on ML-100K: train writes diagnosis and plots; compare and recommend work."""

from __future__ import annotations

import pytest

from ur4rec import api
from ur4rec.config import config_from_dict
from ur4rec.diagnostics.compare import compare_runs
from ur4rec.diagnostics.report import diagnose

from ..retrieval.test_cli import run_command
from .test_plots import PNG_SIGNATURE

pytestmark = pytest.mark.slow

SMALL_SASREC = {"name": "e2e", "model": "sasrec", "data": {"dataset": "ml-100k"},
                "sasrec": {"hidden_dim": 32, "num_blocks": 1, "max_seq_len": 50},
                "training": {"epochs_per_stage": 2, "batch_size": 64, "warmup_steps": 5,
                             "sasrec_lr": 0.005,
                             "device": "cpu"}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    pytest.importorskip("matplotlib")
    root = tmp_path_factory.mktemp("e2e")
    api.train(config_from_dict(SMALL_SASREC), root / "sasrec", progress=False)
    api.train(config_from_dict({"name": "pop", "model": "pop"}), root / "pop", progress=False)
    return root / "sasrec", root / "pop"


def test_train_writes_diagnosis_and_plots(runs):
    sasrec, pop = runs
    text = (sasrec / "diagnosis.md").read_text()
    assert text.startswith("# Diagnosis: e2e (sasrec on ml-100k)")
    assert not [f for f in diagnose(sasrec) if f.severity == "critical"]
    pngs = sorted((sasrec / "plots").glob("*.png"))
    assert {p.name for p in pngs} == {"losses.png", "validation.png", "optimisation.png"}
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in pngs)
    assert (pop / "diagnosis.md").exists() and not (pop / "plots").exists()


def test_compare_real_runs(runs):
    table = compare_runs(list(runs))
    assert "| `model` | sasrec | pop |" in table
    assert "test sampled ndcg@10" in table


def test_recommend_excludes_history_and_has_titles(runs, capsys):
    run = api.load_run(runs[0])
    user = str(run.data.user_ids[0])
    history = {str(i) for i in run.data.item_ids[run.data.sequences[0]]}
    items = api.recommend(run, user, k=10)
    assert len(items) == 10
    assert all(item["title"] for item in items)
    assert not {str(item["item"]) for item in items} & history
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True)
    assert run_command("recommend", str(runs[0]), "--user", user, "--k", "3") == 0
    out = capsys.readouterr().out
    assert items[0]["title"] in out and out.count("\n| ") == 4  # header + 3 rows
