"""Each rule fires on a log with its pattern and stays silent on healthy runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ur4rec.diagnostics.findings import CRITICAL, NOT_MEASURED, NOTE, WARNING
from ur4rec.diagnostics.rules import RULES, run_rules
from ur4rec.diagnostics.runlog import read_run

from .synthetic import (
    CHANCE,
    UR4REC_CONFIG,
    epoch_row,
    healthy_sasrec_rows,
    healthy_ur4rec_rows,
    mark_best,
    results_for,
    write_run,
)


def findings(folder: Path, rule: str | None = None):
    found = run_rules(read_run(folder))
    assert not [f for f in found if "the rule raised" in f.detail], found
    return [f for f in found if rule is None or f.rule == rule]


def only(folder: Path, rule: str):
    found = findings(folder, rule)
    assert len(found) == 1, found
    return found[0]


def test_every_rule_is_named_after_its_function(tmp_path):
    assert set(RULES) == {rule.__name__ for rule in RULES.values()}


def test_healthy_sasrec_run_has_no_finding_at_all(tmp_path):
    assert findings(write_run(tmp_path, healthy_sasrec_rows())) == []


def test_healthy_ur4rec_run_fires_nothing(tmp_path):
    run = write_run(tmp_path, healthy_ur4rec_rows(), UR4REC_CONFIG)
    found = findings(run)
    assert not [f for f in found if f.fires], found
    assert {f.severity for f in found} <= {NOTE}  # frozen-branch losses are explained, not flagged


def test_chance_level_fires_near_random_guess(tmp_path):
    run = write_run(tmp_path, healthy_sasrec_rows(), results=results_for(1.1))
    finding = only(run, "chance_level")
    assert finding.severity == CRITICAL
    assert "0.0500" in finding.evidence["hit@5"]  # chance from 100 candidates: 5/100
    assert "below" not in finding.detail


def test_chance_level_uses_the_candidate_count(tmp_path):
    results = results_for(1.1)
    results["protocol"]["num_candidates"] = 1000  # the same numbers are ~11x chance among 1000
    assert findings(write_run(tmp_path, healthy_sasrec_rows(), results=results),
                    "chance_level") == []


def test_chance_level_far_below_points_at_ties(tmp_path):
    run = write_run(tmp_path, healthy_sasrec_rows(), results=results_for(0.2))
    assert "tied" in only(run, "chance_level").detail


def test_chance_level_without_results_reads_best_validation(tmp_path):
    rows = [epoch_row("pretrain_sasrec", 0, e, e, {"loss": 8 - e}, 1.05) for e in range(3)]
    finding = only(write_run(tmp_path, mark_best(rows), results=None), "chance_level")
    assert "metrics.jsonl" in finding.evidence["source"]


def _overfit_rows() -> list[dict]:
    losses = [1.2, 0.95, 0.8, 0.66, 0.55, 0.47, 0.41, 0.37]
    quality = [1.0, 1.1, 1.08, 1.07, 1.06, 1.05, 1.06, 1.04]
    return mark_best([epoch_row("pretrain_sasrec", 0, e, e, {"loss": x, "sasrec": x}, q)
                      for e, (x, q) in enumerate(zip(losses, quality, strict=True))])


def test_overfitting_fires_when_loss_falls_after_validation_stalls(tmp_path):
    finding = only(write_run(tmp_path, _overfit_rows()), "overfitting")
    assert finding.severity == WARNING
    assert finding.evidence["best epoch"] == 1
    assert "sasrec.dropout" in finding.suggestion


def test_overfitting_with_last_item_points_at_sampling(tmp_path):
    run = write_run(tmp_path, _overfit_rows(), {"training": {"sampling": "last_item"}})
    assert "training.sampling: seq2seq" in only(run, "overfitting").suggestion


def test_loss_component_flat_while_trained(tmp_path):
    rows = healthy_ur4rec_rows()
    for row in rows:
        if row["stage"] == "pretrain_retriever":
            row["losses"]["retrieval"] = row["losses"]["loss"] = 22.0
    finding = only(write_run(tmp_path, rows, UR4REC_CONFIG), "loss_component_flat")
    assert finding.severity == WARNING and finding.evidence["component"] == "retrieval"
    assert "training.retriever_lr" in finding.suggestion


def test_loss_component_flat_only_while_frozen_is_a_note(tmp_path):
    finding = only(write_run(tmp_path, healthy_ur4rec_rows(), UR4REC_CONFIG),
                   "loss_component_flat")
    assert finding.severity == NOTE and "frozen" in finding.title


def test_loss_component_never_trained(tmp_path):
    rows = [r for r in healthy_ur4rec_rows() if r["stage"] == "pretrain_sasrec"]
    config = {"model": "ur4rec", "training": {"stages": ["pretrain_sasrec"]}}
    finding = only(write_run(tmp_path, rows, config), "loss_component_flat")
    assert finding.severity == WARNING and "never trained" in finding.title
    assert "pretrain_retriever" in finding.suggestion


def _joint_rows(switches: int) -> list[dict]:
    rows = []
    for e in range(10):  # the adaptive scheduler must switch within 4 x adaptive_min_steps = 8
        trained = ("sasrec",) if switches == 0 or e % 2 == 0 else ("retriever",)
        rows.append(epoch_row("joint_finetune", 0, e, e, {"loss": 6 - e * 0.1,
                                                          "sasrec": 6 - e * 0.1,
                                                          "retrieval": 14 - e * 0.2},
                              5.0 + e * 0.01, trained, switch_count=min(e, switches)))
    return mark_best(rows)


def test_scheduler_never_switches(tmp_path):
    config = {"model": "ur4rec", "training": {"stages": ["joint_finetune"],
                                              "use_adaptive_alternating": True}}
    finding = only(write_run(tmp_path, _joint_rows(0), config), "scheduler_never_switches")
    assert finding.severity == WARNING and finding.evidence["switch count"] == 0
    assert "adaptive_switch_threshold" in finding.suggestion
    assert findings(write_run(tmp_path / "ok", _joint_rows(9), config),
                    "scheduler_never_switches") == []


def test_alternation_on_without_joint_stage_is_noted(tmp_path):
    config = {**UR4REC_CONFIG, "training": {**UR4REC_CONFIG["training"],
                                            "use_adaptive_alternating": True}}
    finding = only(write_run(tmp_path, healthy_ur4rec_rows(), config),
                   "scheduler_never_switches")
    assert finding.severity == NOTE and "joint_finetune" in finding.suggestion


def _memory_rows(pending: float) -> list[dict]:
    rows = healthy_ur4rec_rows()
    for row in rows:
        row["memory"].update(updates_this_epoch=0, avg_interactions_since_update=pending)
    return rows


def test_memory_never_fires_with_no_interactions_blames_the_feed_not_the_threshold(tmp_path):
    finding = only(write_run(tmp_path, _memory_rows(0.0), UR4REC_CONFIG), "memory_never_fires")
    assert finding.severity == WARNING and "no threshold can help" in finding.suggestion


def test_memory_never_fires_below_threshold_suggests_lower_threshold(tmp_path):
    config = {**UR4REC_CONFIG, "memory": {"interaction_threshold": 20}}
    finding = only(write_run(tmp_path, _memory_rows(3.4), config), "memory_never_fires")
    assert "interaction_threshold` from 20 to 3" in finding.suggestion


def test_memory_and_router_are_not_expected_before_the_retriever_trains(tmp_path):
    rows = [r for r in healthy_ur4rec_rows() if r["stage"] == "pretrain_sasrec"]
    for row in rows:  # what the real model logs while only SASRec trains
        row["routing"] = {}
        row["memory"].update(updates_this_epoch=0, users_with_memory=0,
                             avg_interactions_since_update=0.0)
    found = findings(write_run(tmp_path, rows, UR4REC_CONFIG))
    assert not {f.rule for f in found} & {"memory_never_fires", "expert_unused"}


def test_too_few_targets_one_per_user(tmp_path):
    rows = healthy_sasrec_rows()
    for row in rows:
        row["targets"] = 938
    config = {"training": {"sampling": "last_item"}}
    finding = only(write_run(tmp_path, rows, config), "too_few_targets")
    assert finding.severity == CRITICAL
    assert finding.evidence["targets per user per epoch"] == pytest.approx(938 / 943)
    assert "training.sampling: seq2seq" in finding.suggestion


def test_too_few_batches(tmp_path):
    rows = healthy_sasrec_rows()
    for row in rows:
        row["batches"] = 3
    finding = only(write_run(tmp_path, rows, info={"batches_per_epoch": 3}), "too_few_batches")
    assert finding.severity == WARNING and "training.batch_size` from 64 to 20" in \
        finding.suggestion


def test_too_many_parameters(tmp_path):
    # the prototype: 4.5 M trainable parameters on the seed data (938 users, ~55 k ratings >= 4)
    info = {"parameters": 4_500_000, "dataset": {"name": "ml-100k-seed", "users": 938,
                                                 "items": 1682, "interactions": 55_000}}
    finding = only(write_run(tmp_path, healthy_sasrec_rows(), info=info), "too_many_parameters")
    assert finding.evidence["parameters per interaction"] == pytest.approx(4_500_000 / 55_000)
    assert finding.evidence["parameters per user"] == pytest.approx(4_500_000 / 938)
    assert "sasrec.hidden_dim` from 64 to 32" in finding.suggestion


def test_too_many_parameters_threshold(tmp_path):
    info = {"parameters": 4_000_000}  # 40 per interaction: below the threshold of 50
    assert findings(write_run(tmp_path, healthy_sasrec_rows(), info=info),
                    "too_many_parameters") == []
    info = {"parameters": 6_000_000}
    assert findings(write_run(tmp_path / "big", healthy_sasrec_rows(), info=info),
                    "too_many_parameters")


def test_learning_rate_too_low_on_flat_loss(tmp_path):
    rows = healthy_sasrec_rows()
    for row, loss in zip(rows, [8.47, 8.43, 8.37, 8.30, 8.23] + [8.2] * 7, strict=True):
        row["losses"] = {"loss": loss, "sasrec": loss}
    config = {"training": {"sasrec_lr": 0.0001}}
    finding = only(write_run(tmp_path, rows, config), "learning_rate_too_low")
    assert "sasrec_lr` from 0.0001 to 0.001" in finding.suggestion


def test_learning_rate_too_low_stays_silent_on_the_prototype_curve(tmp_path):
    # the post-mortem blamed lr=1e-4 for a loss that fell 1.2 → 0.37: not a flat loss
    assert findings(write_run(tmp_path, _overfit_rows()), "learning_rate_too_low") == []


def test_learning_rate_too_high_on_nan(tmp_path):
    rows = healthy_sasrec_rows()[:4]
    rows[-1]["losses"] = {"loss": math.nan, "sasrec": math.nan}
    rows[-1]["non_finite_loss"] = True
    finding = only(write_run(tmp_path, rows), "learning_rate_too_high")
    assert finding.severity == CRITICAL and "not finite" in finding.title
    assert "sasrec_lr` from 0.003 to 0.0003" in finding.suggestion


def test_learning_rate_too_high_on_explosion(tmp_path):
    rows = healthy_sasrec_rows()
    rows[6]["losses"] = {"loss": 19.0, "sasrec": 19.0}
    assert "exploding" in only(write_run(tmp_path, rows), "learning_rate_too_high").title


def test_fusion_branch_irrelevant(tmp_path):
    rows = healthy_ur4rec_rows()
    for row in rows:
        row["fusion"] = {"method": "learned", "sasrec_weight": 0.97, "retriever_weight": 0.03}
    finding = only(write_run(tmp_path, rows, UR4REC_CONFIG), "fusion_branch_irrelevant")
    assert finding.severity == WARNING and "retriever" in finding.title


def test_fusion_weights_from_config_when_not_logged(tmp_path):
    rows = healthy_ur4rec_rows()
    for row in rows:
        del row["fusion"]
    config = {**UR4REC_CONFIG, "fusion": {"sasrec_weight": 0.02, "retriever_weight": 1.0}}
    finding = only(write_run(tmp_path, rows, config), "fusion_branch_irrelevant")
    assert finding.evidence["source"] == "config.yaml" and "sasrec" in finding.title


def test_adaptive_fusion_without_weights_is_not_measured(tmp_path):
    rows = healthy_ur4rec_rows()
    for row in rows:
        row["fusion"] = {"method": "adaptive", "sasrec_weight": math.nan,
                         "retriever_weight": math.nan}
    config = {**UR4REC_CONFIG, "fusion": {"method": "adaptive"}}
    assert only(write_run(tmp_path, rows, config),
                "fusion_branch_irrelevant").severity == NOT_MEASURED


def test_expert_unused(tmp_path):
    rows = healthy_ur4rec_rows()
    rows[-1]["routing"] = {"user_text": 0.97, "history_text": 0.02, "item_id": 0.01}
    finding = only(write_run(tmp_path, rows, UR4REC_CONFIG), "expert_unused")
    assert "history_text" in finding.suggestion and "item_id" in finding.suggestion


def test_leaky_texts(tmp_path):
    run = write_run(tmp_path, healthy_sasrec_rows(), results=results_for(6.0, leaky=True))
    assert only(run, "leaky_texts").severity == CRITICAL


def test_leaky_item_texts_are_named_as_such(tmp_path):
    sides = {"users": {"possibly_leaking": False},
             "items": {"possibly_leaking": True, "dir": "warm-items", "reason": "other data"}}
    results = results_for(6.0, leaky=True, texts={"possibly_leaking": True, "sides": sides})
    finding = only(write_run(tmp_path, healthy_sasrec_rows(), results=results), "leaky_texts")
    assert finding.title == "Item texts may quote held-out interactions"
    assert finding.evidence["why"] == "other data"


def test_warmup_never_ends(tmp_path):
    config = {"training": {"warmup_steps": 500}}  # 12 epochs x 15 steps = 180 steps
    finding = only(write_run(tmp_path, healthy_sasrec_rows(), config), "warmup_never_ends")
    assert finding.evidence["optimizer steps in stage"] == 180


def test_still_improving(tmp_path):
    rows = healthy_sasrec_rows()[:5]
    config = {"training": {"epochs_per_stage": 5}}
    finding = only(write_run(tmp_path, rows, config), "still_improving")
    assert finding.severity == NOTE and "epochs_per_stage` from 5 to 10" in finding.suggestion


def test_ur4rec_without_its_fields_says_not_measured(tmp_path):
    rows = healthy_ur4rec_rows()
    for row in rows:
        for key in ("memory", "routing", "fusion"):
            del row[key]
    config = {**UR4REC_CONFIG, "fusion": {"method": "learned"}}
    found = {f.rule: f for f in findings(write_run(tmp_path, rows, config))}
    for rule in ("memory_never_fires", "expert_unused", "fusion_branch_irrelevant"):
        assert found[rule].severity == NOT_MEASURED


def test_minimal_rows_never_crash(tmp_path):
    rows = [{"stage": "pretrain_sasrec", "stage_index": 0, "epoch": e, "global_epoch": e,
             "losses": {"loss": 5.0 - e}, "valid": {}} for e in range(4)]
    for model in ("sasrec", "ur4rec"):
        found = findings(write_run(tmp_path / model, rows, {"model": model}, results=None))
        assert all(f.severity == NOT_MEASURED for f in found if f.rule == "chance_level")


def test_run_without_training_epochs(tmp_path):
    run = write_run(tmp_path, None, {"model": "pop"}, results=results_for(3.0, model="pop"),
                    info={"stages": []})
    assert not [f for f in findings(run) if f.fires]


def test_a_rule_that_raises_becomes_not_measured(tmp_path, monkeypatch):
    def broken(run):
        raise KeyError("x")

    monkeypatch.setitem(RULES, "chance_level", broken)
    found = run_rules(read_run(write_run(tmp_path, healthy_sasrec_rows())))
    assert [(f.rule, f.severity) for f in found] == [("chance_level", NOT_MEASURED)]


def test_chance_reference_is_from_the_metrics_module():
    assert CHANCE["hit@5"] == pytest.approx(0.05) and CHANCE["hit@10"] == pytest.approx(0.1)
