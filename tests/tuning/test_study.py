"""``ur4rec tune`` on tiny generated data: plans first, resume, requeue, pruning, best.yaml."""

from __future__ import annotations

import json
import os
from pathlib import Path

import optuna
import pytest
import yaml

from ur4rec.cli import main
from ur4rec.config import load_config
from ur4rec.errors import UR4RecError
from ur4rec.tuning.space import load_space
from ur4rec.tuning.study import StudyLock, TrialRunner, TuneSettings, open_study, run_study

from ..conftest import synthetic_interactions

SPACE = {"sasrec.dropout": {"type": "float", "low": 0.1, "high": 0.5},
         "training.sasrec_lr": {"type": "float", "low": 1e-3, "high": 2e-2, "log": True},
         "sasrec.hidden_dim": {"type": "categorical", "choices": [8, 16]}}


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    """Each run's plots take ~4 s on a busy 2-core machine; the tuner does not read them."""
    monkeypatch.setattr("ur4rec.api._after_training", lambda run_dir: None)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A base config on a generated CSV (2 epochs), a space, and two prototype-style plans."""
    data = tmp_path / "log.csv"
    synthetic_interactions(num_users=60, num_items=30, length=12).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(data, index=False)
    base = {"name": "tiny", "model": "sasrec",
            "data": {"dataset": "tiny", "path": str(data), "num_candidates": 10,
                     "prepared_dir": str(tmp_path / "prepared")},
            "sasrec": {"hidden_dim": 16, "num_blocks": 1, "max_seq_len": 10},
            "training": {"epochs_per_stage": 2, "patience": 50, "batch_size": 32,
                         "warmup_steps": 0}}
    plan_a = {"model": "ur4rec", "data": {"dataset": "ml-100k-seed"}, "sasrec_dropout": 0.2,
              "sasrec_lr": 0.001, "sasrec_hidden_dim": 16, "sasrec_num_blocks": 3}
    plan_b = {**plan_a, "sasrec_dropout": 0.3, "sasrec_lr": 0.005, "sasrec_hidden_dim": 8}
    paths = {}
    for name, content in (("base", base), ("space", SPACE), ("plan_a", plan_a),
                          ("plan_b", plan_b)):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(content))
    paths["study"] = tmp_path / "study"
    return paths


def settings(files: dict[str, Path], trials: int, plans: bool = True) -> TuneSettings:
    return TuneSettings(files["base"], files["space"], trials, files["study"],
                        [files["plan_a"], files["plan_b"]] if plans else [], pruner="none")


def test_plans_first_then_resume_adds_only_the_missing_trial(files, capsys, caplog):
    study = run_study(settings(files, 2))
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert trials[0].params == {"sasrec.dropout": 0.2, "training.sasrec_lr": 0.001,
                                "sasrec.hidden_dim": 16}
    assert trials[1].params["sasrec.dropout"] == 0.3 and trials[1].params["sasrec.hidden_dim"] == 8
    assert [t.user_attrs["source"] for t in trials] == ["plan_a.yaml", "plan_b.yaml"]
    assert "kept from" in caplog.text and "sasrec.num_blocks" in caplog.text
    # each value is the trial's validation metric, never its test metric
    for trial in trials:
        results = json.loads((Path(trial.user_attrs["run_dir"]) / "results.json").read_text())
        assert trial.value == results["valid"]["sampled"]["ndcg@10"]
        assert load_config(Path(trial.user_attrs["run_dir"]) / "config.yaml").sasrec.dropout == \
            trial.params["sasrec.dropout"]
    # the same command asking for 3 runs one more trial (the plans are not queued again)
    assert main(["--quiet", "tune", "--config", str(files["base"]), "--space",
                 str(files["space"]), "--trials", "3", "--study-dir", str(files["study"]),
                 "--first-trials", str(files["plan_a"]), str(files["plan_b"]),
                 "--pruner", "none"]) == 0
    trials = optuna.load_study(study_name="ur4rec",
                               storage=f"sqlite:///{files['study'] / 'study.db'}").get_trials()
    assert len(trials) == 3 and trials[2].user_attrs.get("source", "sampler") == "sampler"
    assert sorted(p.name for p in files["study"].glob("trial_*")) == [
        "trial_0", "trial_1", "trial_2"]
    output = capsys.readouterr().out
    assert "| 0 | plan_a.yaml | COMPLETE |" in output and "best config written" in output
    best = max(trials, key=lambda t: t.value)
    written = load_config(files["study"] / "best.yaml")
    assert written.sasrec.dropout == best.params["sasrec.dropout"]
    assert written.training.sasrec_lr == best.params["training.sasrec_lr"]
    assert not (files["study"] / "tune.lock").exists()


def test_a_trial_left_running_is_failed_and_rerun(files):
    space = load_space(files["space"])
    study = open_study(settings(files, 1, plans=False), space)
    orphan = study.ask()
    for parameter in space.values():
        parameter.suggest(orphan)  # a process died here, mid-trial
    study = run_study(settings(files, 1, plans=False))
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    assert trials[1].params == trials[0].params
    assert trials[1].user_attrs["source"] == "sampler (retry of 0)"


def test_pruning_reads_each_epochs_validation_metric(files):
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    report = TrialRunner(settings(files, 1), load_space(files["space"]))._pruning_callback(trial)
    report({"global_epoch": 0, "valid": {"sampled": {"ndcg@10": 0.7}, "full": {}}})
    with pytest.raises(optuna.TrialPruned, match="after epoch 1"):
        report({"global_epoch": 1, "valid": {"sampled": {"ndcg@10": 0.2}, "full": {}}})
    assert study.trials[0].intermediate_values == {0: 0.7, 1: 0.2}


def test_another_base_config_cannot_resume_the_study(files):
    space = load_space(files["space"])
    open_study(settings(files, 1), space)
    other = yaml.safe_load(files["base"].read_text())
    other["training"]["batch_size"] = 8
    files["base"].write_text(yaml.safe_dump(other))
    with pytest.raises(UR4RecError, match="was started with another base"):
        open_study(settings(files, 1), space)


def test_a_live_lock_refuses_a_second_tuner(tmp_path):
    (tmp_path / "tune.lock").write_text(str(os.getppid()))
    with pytest.raises(UR4RecError, match="already working on this study"):
        StudyLock(tmp_path).__enter__()
    (tmp_path / "tune.lock").write_text("999999999")  # a dead process: taken over
    with StudyLock(tmp_path):
        assert (tmp_path / "tune.lock").read_text() == str(os.getpid())
