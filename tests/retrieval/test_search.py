"""FAISS through a model or a run: the same answers as dense scoring, on tiny generated data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ur4rec import api
from ur4rec.config import EvaluationConfig, RunConfig, SASRecConfig
from ur4rec.evaluation.evaluator import DenseScorer, Evaluator
from ur4rec.models.baselines import PopularityRecommender
from ur4rec.models.sasrec import SASRec
from ur4rec.retrieval.faiss_index import THRESHOLD_ENV
from ur4rec.retrieval.search import (
    FaissScorer,
    faiss_topk_for_run,
    item_index,
    supports_faiss,
    use_faiss,
)

from ..conftest import synthetic_interactions


def random_sasrec(num_items: int, seed: int = 0) -> SASRec:
    torch.manual_seed(seed)
    return SASRec(num_items, SASRecConfig(hidden_dim=16, num_blocks=1, max_seq_len=10)).eval()


def test_switch_by_size_and_model(monkeypatch, tiny_data):
    model = random_sasrec(tiny_data.num_items)
    monkeypatch.delenv(THRESHOLD_ENV, raising=False)
    assert not use_faiss(model, 40) and use_faiss(model, 50_001)
    monkeypatch.setenv(THRESHOLD_ENV, "39")
    assert use_faiss(model, 40)
    pop = PopularityRecommender(tiny_data.train_item_counts)
    assert supports_faiss(model) and not supports_faiss(pop) and not use_faiss(pop, 10**9)


@pytest.mark.parametrize("mask_history", [True, False])
@pytest.mark.parametrize("split", ["valid", "test"])
def test_split_result_equals_the_evaluator(tiny_data, split, mask_history):
    model = random_sasrec(tiny_data.num_items)
    config = EvaluationConfig(mask_history=mask_history, batch_size=7)
    dense = Evaluator(tiny_data, config).evaluate(model, split, details=True)
    through_faiss = Evaluator(tiny_data, config, FaissScorer(tiny_data, config)
                              ).evaluate(model, split, details=True)
    torch.testing.assert_close(through_faiss.details["full_rank"], dense.details["full_rank"])
    torch.testing.assert_close(through_faiss.details["scores"], dense.details["scores"],
                               rtol=1e-5, atol=1e-5)
    for protocol in ("sampled", "full"):
        assert through_faiss.metrics[protocol] == pytest.approx(dense.metrics[protocol])
    assert model.training is False


def test_index_is_rebuilt_only_when_the_items_change(tiny_data):
    model = random_sasrec(tiny_data.num_items)
    first = item_index(model)
    assert item_index(model) is first
    with torch.no_grad():
        model.item_embeddings[3] += 1.0
    assert item_index(model) is not first


def loaded_run(data, model) -> api.LoadedRun:
    config = RunConfig(model="sasrec")
    return api.LoadedRun(Path("unused"), config, data, model, torch.device("cpu"))


@pytest.mark.parametrize("exclude_history", [True, False])
def test_topk_for_run_equals_recommend(tiny_data, exclude_history):
    run = loaded_run(tiny_data, random_sasrec(tiny_data.num_items, seed=3))
    users = [str(user) for user in tiny_data.user_ids[:12]]
    batch = faiss_topk_for_run(run, users, k=7, exclude_history=exclude_history)
    for user, answer in zip(users, batch, strict=True):
        single = api.recommend(run, user, k=7, exclude_history=exclude_history)
        assert [r["item"] for r in answer] == [r["item"] for r in single]
        assert [r["score"] for r in answer] == pytest.approx([r["score"] for r in single],
                                                             rel=1e-5)


def test_topk_for_run_refuses_non_vector_models(tiny_data):
    run = loaded_run(tiny_data, PopularityRecommender(tiny_data.train_item_counts))
    with pytest.raises(ValueError, match="not an inner product"):
        faiss_topk_for_run(run, [tiny_data.user_ids[0]], 5)


def test_topk_for_run_leaves_out_history(tiny_data):
    run = loaded_run(tiny_data, random_sasrec(tiny_data.num_items, seed=4))
    user = str(tiny_data.user_ids[0])
    history = {str(tiny_data.item_ids[i]) for i in tiny_data.sequences[0]}
    answer = faiss_topk_for_run(run, [user], k=tiny_data.num_items)[0]
    assert len(answer) == tiny_data.num_items - len(history)
    assert not {str(row["item"]) for row in answer} & history
    assert np.all(np.diff([row["score"] for row in answer]) <= 0)


def test_a_run_scored_through_faiss_equals_the_dense_run(tmp_path, monkeypatch):
    """Train twice on tiny data: dense, then with the threshold at 0, so ``api.train`` gives the
    evaluator the FAISS scorer for every evaluation (the dense one would raise): the same runs
    come out."""
    monkeypatch.setattr("ur4rec.api._after_training", lambda run_dir: None)
    data = tmp_path / "log.csv"
    synthetic_interactions(num_users=40, num_items=30, length=10).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(data, index=False)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "model": "sasrec", "data": {"dataset": "tiny", "path": str(data), "num_candidates": 10,
                                    "prepared_dir": str(tmp_path / "prepared")},
        "sasrec": {"hidden_dim": 8, "num_blocks": 1, "max_seq_len": 10},
        "training": {"epochs_per_stage": 3, "warmup_steps": 0}}))
    dense = api.train(config, tmp_path / "dense", progress=False)
    def dense_scoring(*args, **kwargs):
        raise AssertionError("the FAISS path was not taken")

    monkeypatch.setenv(THRESHOLD_ENV, "0")
    monkeypatch.setattr(DenseScorer, "rank", dense_scoring)
    through_faiss = api.train(config, tmp_path / "faiss", progress=False)
    for split in ("valid", "test"):
        for protocol in ("sampled", "full"):
            assert through_faiss[split][protocol] == pytest.approx(dense[split][protocol])


@pytest.mark.parametrize("split", ["valid", "test"])
def test_faiss_leaves_cold_items_out_as_the_evaluator_does(split):
    """``data.cold_items``: cold items are not in the warm catalogue — never a full-ranking
    competitor, through FAISS as in the dense evaluator."""
    from ..data.test_cold_items import cold_prepared

    data = cold_prepared(synthetic_interactions(40, 60, 14), cold_items=0.2)
    assert len(data.cold_items)
    model = random_sasrec(data.num_items, seed=3)
    with torch.no_grad():  # cold items that would outrank everything if they competed
        model.item_embeddings[torch.as_tensor(data.cold_items)] *= 50
    config = EvaluationConfig(batch_size=7)
    dense = Evaluator(data, config).evaluate(model, split, details=True)
    through_faiss = Evaluator(data, config, FaissScorer(data, config)
                              ).evaluate(model, split, details=True)
    torch.testing.assert_close(through_faiss.details["full_rank"], dense.details["full_rank"])
    assert through_faiss.metrics["full"] == pytest.approx(dense.metrics["full"])
