"""The stage table (models/stages.py): what each stage trains, scores and sums, in one place."""

from __future__ import annotations

import json

import pytest
import torch

from ur4rec.config import STAGES
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.models.stages import STAGE_TABLE, final_scoring, stage_for, stage_plan
from ur4rec.training.trainer import Trainer

from .building import ur4rec_model
from .test_ur4rec import data, random_inputs, small_config  # noqa: F401  (data: a fixture)


def test_the_table_has_a_row_for_every_stage_name_the_config_accepts():
    assert tuple(STAGE_TABLE) == STAGES


def test_a_two_branch_model_runs_each_stage_as_the_table_says():
    plan = stage_plan(STAGES, ["sasrec", "retriever"])
    assert [(s.trains, s.scores) for s in plan] == [
        (("sasrec",), "sasrec"), (("retriever",), "retriever"),
        (("sasrec", "retriever"), "fused"), (("sasrec", "retriever"), "fused")]
    joint, end = plan[2], plan[3]
    assert joint.alternates and joint.objective(["retriever"]) == ("fused", "retrieval")
    assert joint.objective(["sasrec"]) == ("fused", "sasrec")
    assert not end.alternates and end.objective(["sasrec", "retriever"]) == end.losses


@pytest.mark.parametrize(("group", "loss"), [("sasrec", "sasrec"), ("retriever", "retrieval")])
def test_a_one_branch_model_runs_every_stage_as_its_own_pretraining(group, loss):
    for name in STAGES:
        stage = stage_for(name, [group])
        assert (stage.name, stage.trains, stage.scores, stage.losses, stage.alternates) == (
            name, (group,), group, (loss,), False)


def test_a_group_outside_the_table_is_named():
    with pytest.raises(ValueError, match="parameter group 'model' is not in the stage table"):
        stage_for("pretrain_sasrec", ["model"])


def test_the_final_scoring_is_what_the_plan_trained():
    assert final_scoring([]) == "retriever"
    assert final_scoring([], ["sasrec"]) == "sasrec"
    assert final_scoring(["joint_finetune"]) == "fused"


def test_the_retriever_alone_trains_through_every_stage(data, tmp_path):  # noqa: F811
    """``model: retriever`` has no fusion: an alternating stage trains and sums its own loss."""
    config = small_config(model="retriever", training={
        "stages": ["pretrain_retriever", "joint_finetune", "end_to_end"],
        "epochs_per_stage": 1})
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data))
    summary = Trainer(model, "retriever", data, config.training, config.resolved_stages(),
                      tmp_path, torch.device("cpu"), Evaluator(data, config.evaluation),
                      progress=False).fit()
    assert [s["stage"] for s in summary["stages"]] == config.training.stages
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {r["scoring"] for r in rows} == {"retriever"}
    assert all(set(r["losses"]) == {"loss", "retrieval"} for r in rows)
