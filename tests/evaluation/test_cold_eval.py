"""Cold-item evaluation: the case rules, the ranking, and id-only models at chance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ur4rec.config import DataConfig, EvaluationConfig, config_from_dict
from ur4rec.data.prepared import PreparedData, prepare_dataset
from ur4rec.evaluation.cold import (
    ColdCases,
    cold_cases,
    cold_halves,
    cold_results,
    evaluate_cold,
)
from ur4rec.models.base import Recommender, UserBatch
from ur4rec.models.baselines import PopularityRecommender, RandomRecommender

from ..conftest import make_prepared, synthetic_interactions
from ..data.test_cold_items import cold_prepared


class CaseScorer(Recommender):
    """Scores each case's target ``target``, its other cold items ``positive``, warm items
    ``warm`` and every other item 0 — to check what competes with the target."""

    trainable = False

    def __init__(self, data: PreparedData, cases: ColdCases, target: float, positive: float = 0.0,
                 warm: float = 0.0) -> None:
        super().__init__()
        self.table = torch.zeros(data.num_users, data.num_items + 1)
        warm_items = np.setdiff1d(np.arange(1, data.num_items + 1), data.cold_items)
        self.table[:, warm_items] = warm
        for user, item, others in zip(cases.users, cases.targets, cases.positives, strict=True):
            self.table[user, others] = positive
            self.table[user, item] = target

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        return self.table[batch.users]


def _uniform_rank(data: PreparedData, cases: ColdCases) -> dict[str, float]:
    """The average rank of a uniform guess, counted from the cases (not from the module):
    full — 1 + the cold items that are neither the target nor another of the user's; sampled —
    1 + the drawn negatives."""
    full = [len(data.cold_items) - 1 - len(others) for others in cases.positives]
    sampled = (cases.candidates[:, 1:] > 0).sum(axis=1)
    return {"full": 1 + np.mean(full) / 2, "sampled": 1 + np.mean(sampled) / 2}


def _near_chance(result: dict, data: PreparedData, sd_limit: float = 4.0) -> None:
    """Average rank within ``sd_limit`` standard errors of a uniform guess's."""
    for protocol, expected in _uniform_rank(data, cold_cases(data)).items():
        got = result["metrics"][protocol]["avg_rank"]
        assert result["chance"][protocol]["avg_rank"] == pytest.approx(expected)
        # a uniform rank over n items has sd (n - 1) / sqrt(12), n = 2 × expected - 1
        standard_error = (2 * expected - 2) / np.sqrt(12) / np.sqrt(result["users"])
        assert abs(got - expected) <= sd_limit * standard_error, (protocol, got, expected)


@pytest.fixture
def data() -> PreparedData:
    return cold_prepared(synthetic_interactions(80, 200, 30), cold_items=0.2, num_candidates=30)


def test_targets_inputs_ties_and_skips_follow_the_rule():
    data = cold_prepared(synthetic_interactions(20, 60, 14), cold_items=0.2)
    a, b, c = data.cold_items[:3]
    stamps = data.timestamps
    # user 0: two cold items in the same second as its third warm item; the later row (file
    # order) is the target, and the warm item of that second is *not* before it
    # user 1: its only cold item precedes every warm item: nothing to read, skipped
    # user 2: no cold interaction at all
    tie = int(stamps[0][2])
    data.cold_interactions = pd.DataFrame({
        "user_idx": [0, 0, 0, 1], "item_idx": [c, a, b, a],
        "timestamp": [int(stamps[0][0]) - 1, tie, tie, int(stamps[1][0]) - 1],
        "rating": [4.0, 4.0, 4.0, 4.0]})
    cases = cold_cases(data)
    assert cases.users.tolist() == [0] and cases.skipped_users == 1
    assert cases.targets.tolist() == [b]
    np.testing.assert_array_equal(cases.histories[0], data.sequences[0][:2])
    assert sorted(cases.positives[0].tolist()) == sorted([a, c])
    negatives = cases.candidates[0, 1:]
    assert len(negatives) == min(9, len(data.cold_items) - 3)
    assert not {a, b, c} & set(negatives.tolist())
    assert set(negatives.tolist()) <= set(data.cold_items.tolist())
    np.testing.assert_array_equal(cold_cases(data).candidates, cases.candidates)  # fixed


def test_only_cold_items_compete_and_the_users_other_cold_items_are_masked(data):
    cases = cold_cases(data)
    config = EvaluationConfig()
    # the target below the user's other cold items and every warm item, above the rest
    best = evaluate_cold(CaseScorer(data, cases, target=1.0, positive=2.0, warm=3.0), data,
                         config, cases=cases)
    assert best["metrics"]["full"]["mrr"] == 1.0
    assert best["metrics"]["sampled"]["mrr"] == 1.0
    worst = evaluate_cold(CaseScorer(data, cases, target=-1.0), data, config, cases=cases)
    competitors = [len(data.cold_items) - 1 - len(p) for p in cases.positives]
    assert worst["metrics"]["full"]["avg_rank"] == pytest.approx(1 + np.mean(competitors))
    sampled = (cases.candidates[:, 1:] > 0).sum(axis=1)
    assert worst["metrics"]["sampled"]["avg_rank"] == pytest.approx(1 + sampled.mean())
    assert worst["users"] == len(cases.users) > 50
    assert worst["cold_items"] == len(data.cold_items) == 40
    assert worst["candidates"] == 30


def test_random_and_popularity_score_cold_items_at_chance(data):
    random = evaluate_cold(RandomRecommender(data.num_items, seed=1), data, EvaluationConfig())
    _near_chance(random, data)
    # popularity from training counts: every cold item has 0, one big tie — exactly chance
    pop = evaluate_cold(PopularityRecommender(data.train_item_counts), data,
                        EvaluationConfig(ties="expected"))
    for protocol in ("full", "sampled"):
        for key, value in pop["metrics"][protocol].items():
            assert value == pytest.approx(pop["chance"][protocol][key]), (protocol, key)


def test_cold_halves_split_the_cold_items_disjointly_and_by_popularity(data):
    valid, test = cold_halves(data)
    assert not set(valid.tolist()) & set(test.tolist())
    np.testing.assert_array_equal(np.sort(np.concatenate([valid, test])), data.cold_items)
    assert len(valid) == len(test) == 20  # 40 cold items, one of each popularity pair
    held_out = np.bincount(data.cold_interactions["item_idx"], minlength=data.num_items + 1)
    np.testing.assert_array_equal(data.cold_item_counts, held_out)
    order = np.argsort(-held_out[data.cold_items], kind="stable")
    top_pair = set(data.cold_items[order[:2]].tolist())
    assert len(top_pair & set(valid.tolist())) == 1  # the two most watched go one to each half
    for got, expected in zip(cold_halves(data), (valid, test), strict=True):
        np.testing.assert_array_equal(got, expected)  # fixed by the prepared data


def test_a_half_has_only_its_own_targets_and_competitors(data):
    valid, test = cold_halves(data)
    cases = cold_cases(data, items=test)
    assert set(cases.targets.tolist()) <= set(test.tolist())
    assert set(cases.candidates[cases.candidates > 0].tolist()) <= set(test.tolist())
    assert np.array_equal(cases.cold_items, test)
    # each user's target is their last interaction with a test-half item
    frame = data.cold_interactions[data.cold_interactions["item_idx"].isin(test)]
    last = frame.groupby("user_idx")["item_idx"].last()
    for user, target in zip(cases.users, cases.targets, strict=True):
        assert last[user] == target
    # a model that puts the valid half's items first does not move the test half's figures…
    class ValidFirst(Recommender):
        trainable = False

        def score_all(self, batch: UserBatch) -> torch.Tensor:
            scores = torch.rand(len(batch.users), data.num_items + 1,
                                generator=torch.Generator().manual_seed(0))
            scores[:, torch.as_tensor(valid)] += 10.0
            return scores

    class Plain(ValidFirst):
        def score_all(self, batch: UserBatch) -> torch.Tensor:
            scores = super().score_all(batch)
            scores[:, torch.as_tensor(valid)] -= 10.0
            return scores

    results = {name: cold_results(model, data, EvaluationConfig())["cold"]
               for name, model in (("valid_first", ValidFirst()), ("plain", Plain()))}
    assert results["valid_first"]["test"]["metrics"] == results["plain"]["test"]["metrics"]
    # …where over all cold items together the same shift does move the figures
    assert results["valid_first"]["metrics"] != results["plain"]["metrics"]
    assert results["plain"]["test"]["cold_items"] == len(test)
    assert "halves_rule" in results["plain"]


def test_a_single_cold_item_goes_to_the_test_half_and_the_valid_half_is_empty():
    data = cold_prepared(synthetic_interactions(20, 60, 14), cold_items=0.01)
    valid, test = cold_halves(data)
    assert len(valid) == 0 and test.tolist() == data.cold_items.tolist()
    cold = cold_results(RandomRecommender(data.num_items), data, EvaluationConfig())["cold"]
    assert cold["valid"]["users"] == 0 and cold["valid"]["metrics"] == {}
    assert cold["test"]["users"] == cold["users"] > 0


def test_no_cold_section_without_cold_items():
    warm = make_prepared(synthetic_interactions())
    assert cold_results(RandomRecommender(warm.num_items), warm, EvaluationConfig()) == {}


def _sasrec_config(tmp_path):
    log = tmp_path / "log.csv"
    synthetic_interactions(80, 200, 30).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(log, index=False)
    return config_from_dict({
        "model": "sasrec",
        "data": {"dataset": "tiny-cold", "path": str(log), "num_candidates": 30,
                 "cold_items": 0.2, "prepared_dir": str(tmp_path / "prepared")},
        "sasrec": {"hidden_dim": 16, "num_blocks": 1, "max_seq_len": 32},
        "training": {"epochs_per_stage": 2, "device": "cpu", "amp": False, "warmup_steps": 0,
                     "batch_size": 32},
    })


@pytest.fixture(scope="module")
def sasrec_run(tmp_path_factory):
    """A SASRec trained 2 epochs through ``api.train``, and the same model as initialised."""
    from ur4rec import api
    from ur4rec.models.factory import build_model
    from ur4rec.training.runtime import seed_everything

    tmp_path = tmp_path_factory.mktemp("cold-sasrec")
    config = _sasrec_config(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api, "_after_training", lambda run_dir: None)
        results = api.train(config, tmp_path / "run", progress=False)
    run = api.load_run(tmp_path / "run")
    seed_everything(config.training.seed)  # what api.train does before building the model
    initial = build_model(config, run.data)
    return results, run, initial


def test_sasrec_run_reports_cold_metrics_at_chance(sasrec_run):
    results, run, _ = sasrec_run
    cold = results["cold"]
    assert set(cold) >= {"metrics", "users", "cold_items", "skipped_users", "rule"}
    assert set(cold["metrics"]) == {"full", "sampled"}
    assert cold["cold_items"] == len(run.data.cold_items) == 40
    _near_chance(cold, run.data)
    assert run.data.meta["cold"]["items"] == 40


def test_sasrec_cold_item_embeddings_never_change(sasrec_run):
    _, run, initial = sasrec_run
    cold = torch.as_tensor(run.data.cold_items)
    warm = torch.as_tensor(np.setdiff1d(np.arange(1, run.data.num_items + 1),
                                        run.data.cold_items))
    trained = run.model.item_embeddings.detach().cpu()
    start = initial.item_embeddings.detach()
    assert not torch.allclose(trained[warm], start[warm])  # training did move warm rows
    torch.testing.assert_close(trained[cold], start[cold], rtol=0, atol=0)


@pytest.fixture(scope="module")
def ml100k_cold() -> PreparedData:
    return prepare_dataset(DataConfig(dataset="ml-100k", cold_items=0.1))


@pytest.mark.slow
def test_ml100k_cold_cases_and_random_at_chance(ml100k_cold):
    cases = cold_cases(ml100k_cold)
    # 10 % with seed 2024: 168 cold items; 933 users rated one, 7 of them nothing warm before
    assert (len(cases.cold_items), len(cases.users), cases.skipped_users) == (168, 926, 7)
    assert cases.candidates.shape == (926, 100)
    result = evaluate_cold(RandomRecommender(ml100k_cold.num_items, seed=0), ml100k_cold,
                           EvaluationConfig(), cases=cases)
    _near_chance(result, ml100k_cold)


@pytest.mark.parametrize("mask_history", [True, False])
def test_cold_items_never_compete_in_the_warm_full_ranking(data, mask_history):
    """A model that scores every cold item above everything leaves warm full ranks unchanged:
    cold items are not part of the warm catalogue."""
    from ur4rec.evaluation.evaluator import Evaluator

    class ColdFirst(Recommender):
        trainable = False

        def __init__(self, boost: float) -> None:
            super().__init__()
            generator = torch.Generator().manual_seed(0)
            self.table = torch.rand(data.num_users, data.num_items + 1, generator=generator)
            self.table[:, torch.as_tensor(data.cold_items)] += boost

        def score_all(self, batch: UserBatch) -> torch.Tensor:
            return self.table[batch.users]

    evaluator = Evaluator(data, EvaluationConfig(mask_history=mask_history))
    plain = evaluator.evaluate(ColdFirst(0.0), "test").metrics["full"]
    boosted = evaluator.evaluate(ColdFirst(10.0), "test").metrics["full"]
    assert plain == boosted


@pytest.mark.parametrize("loss", ["ce", "bpr"])
def test_no_cold_item_row_gets_a_gradient_in_any_loss(data, loss):
    """SASRec (full softmax or sampled negatives) and the retriever: zero gradient on every
    parameter row tied to a cold item."""
    from ur4rec.data.cold import cold_item_mask
    from ur4rec.models.ur4rec import TextInputs
    from ur4rec.training.batches import TrainingBatches

    from ..models.building import stage_losses, ur4rec_model

    config = config_from_dict({
        "model": "ur4rec", "sasrec": {"hidden_dim": 16, "max_seq_len": 32},
        "retriever": {"output_dim": 16, "num_proxies": 2, "train_positions": 4},
        "texts": {"embedding_dim": 12}, "training": {"loss": loss}})
    rng = np.random.default_rng(0)
    inputs = TextInputs(rng.normal(size=(data.num_users, 12)).astype("f4"),
                        rng.normal(size=(data.num_items + 1, 12)).astype("f4"))
    model = ur4rec_model(data.num_users, data.num_items, config, inputs)
    excluded = cold_item_mask(data.num_items, data.cold_items)
    batches = TrainingBatches(data, 32, 64, need_positives=loss != "ce")
    batch = next(batches.epoch(torch.Generator().manual_seed(0)))
    cold = torch.as_tensor(data.cold_items)
    for stage in ("pretrain_sasrec", "pretrain_retriever", "end_to_end"):
        model.zero_grad()
        stage_losses(model, batch, stage, config.training, None,
                     torch.Generator().manual_seed(1), excluded)["loss"].backward()
        for name, param in (("sasrec", model.sasrec.encoder.item_emb.weight),
                            ("retriever ids", model.retriever.item_id.weight),
                            ("retriever bias", model.retriever.item_bias)):
            if param.grad is None:
                continue
            assert param.grad[cold].abs().max() == 0, (stage, name)
            assert param.grad.abs().sum() > 0, (stage, name)  # warm rows do learn
