"""Slices (item head/tail, user short/long): thresholds, means of the per-user metrics, JSON,
the FAISS path, and the slice table of ``ur4rec compare``."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from ur4rec.config import EvaluationConfig, RunConfig
from ur4rec.diagnostics import compare
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.evaluation.slices import SLICE_NAMES, results_slices, slice_metrics, slice_spec
from ur4rec.models.base import Recommender
from ur4rec.runs.results import evaluate_model, run_results

from ..conftest import make_prepared, synthetic_interactions
from ..diagnostics.synthetic import healthy_sasrec_rows, results_for, write_run

# six users; training part, then the validation item, then the test item (items 1..10)
HISTORIES = {
    "u0": ([1], 8, 2),
    "u1": ([1, 2], 9, 3),
    "u2": ([1, 3], 10, 8),
    "u3": ([1, 2, 5], 3, 9),
    "u4": ([1, 2, 3, 4], 10, 8),
    "u5": ([3, 4, 5, 6, 7], 1, 2),
}
# by hand: training counts of items 1..10 are 5 3 3 2 2 1 1 0 0 0. ⌈0.2·10⌉ = 2nd largest = 3,
# and item 3 ties with item 2, so the head is {1, 2, 3} (3 items, count >= 3).
# training lengths are 1 2 2 3 4 5: ⌈0.25·6⌉ = 2nd shortest = 2, tied by u2: short = u0 u1 u2.
TEST_HEAD = {"u0", "u1", "u5"}  # test targets 2, 3, 2
VALID_HEAD = {"u3", "u5"}  # validation targets 3, 1
SHORT = {"u0", "u1", "u2"}


@pytest.fixture
def hand_data():
    rows = []
    for user, (train, valid, test) in HISTORIES.items():
        for position, item in enumerate([*train, valid, test]):
            rows.append((user, str(item), 100 + position, 4.0))
    return make_prepared(pd.DataFrame(rows, columns=["user", "item", "timestamp", "rating"]),
                         num_candidates=3)


@pytest.fixture
def varied_data():
    """Generated users of three history lengths, so that every slice holds users."""
    parts = [synthetic_interactions(num_users=10, length=length, seed=seed).assign(
        user=lambda frame, s=seed: "s" + str(s) + frame["user"])
        for seed, length in enumerate((5, 9, 14))]
    return make_prepared(pd.concat(parts, ignore_index=True))


def users_of(data, names) -> np.ndarray:
    return np.isin(np.asarray(data.user_ids).astype(str), list(names))


class KnowsSome(Recommender):
    """Scores the target highest for the users in ``knows`` and lowest for everybody else."""

    trainable = False

    def __init__(self, targets, knows, num_items):
        super().__init__()
        self.targets = torch.as_tensor(targets)
        self.sign = torch.where(torch.as_tensor(knows), 1.0, -1.0)
        self.num_items = num_items

    def score_all(self, batch):
        scores = torch.zeros(len(batch.users), self.num_items + 1)
        scores[torch.arange(len(batch.users)), self.targets[batch.users]] = self.sign[batch.users]
        return scores


class RandomScores(Recommender):
    trainable = False

    def __init__(self, num_users, num_items, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        # few distinct values, so that ties happen too
        self.table = torch.randint(0, 5, (num_users, num_items + 1), generator=generator).float()

    def score_all(self, batch):
        return self.table[batch.users]


def test_thresholds_match_the_hand_computation(hand_data):
    spec = slice_spec(hand_data)
    assert spec.thresholds["item_head_min_count"] == 3
    assert spec.thresholds["item_head_items"] == 3  # ties at the boundary are head
    assert spec.thresholds["user_short_max_length"] == 2
    assert spec.thresholds["user_short_users"] == 3  # ties at the boundary are short
    assert spec.thresholds["item_head_share"] == 0.2
    assert spec.thresholds["user_short_quantile"] == 0.25
    np.testing.assert_array_equal(spec.masks["test"]["item_head"],
                                  users_of(hand_data, TEST_HEAD))
    np.testing.assert_array_equal(spec.masks["valid"]["item_head"],
                                  users_of(hand_data, VALID_HEAD))
    for split in ("valid", "test"):
        np.testing.assert_array_equal(spec.masks[split]["user_short"], users_of(hand_data, SHORT))


def stand_in(counts, lengths):
    """What :func:`slice_spec` reads of a :class:`PreparedData`: item 1 is every target."""
    return SimpleNamespace(train_item_counts=np.array([0, *counts]),
                           train_sequences=[np.ones(n, np.int64) for n in lengths],
                           num_users=len(lengths), valid_targets=np.ones(len(lengths), np.int64),
                           test_targets=np.ones(len(lengths), np.int64))


@pytest.mark.parametrize(("counts", "lengths", "head_min", "short_max"), [
    (range(10, 0, -1), range(1, 9), 9, 2),  # ⌈0.2·10⌉ = 2nd largest, ⌈0.25·8⌉ = 2nd shortest
    (range(15, 0, -1), range(1, 8), 13, 2),  # ⌈0.2·15⌉ = 3rd largest, ⌈0.25·7⌉ = 2nd
    (range(1, 36), [5] * 7 + [9], 29, 5),  # ⌈0.2·35⌉ = 7th largest of 1..35
])
def test_the_cut_off_positions(counts, lengths, head_min, short_max):
    thresholds = slice_spec(stand_in(list(counts), list(lengths))).thresholds
    assert thresholds["item_head_min_count"] == head_min
    assert thresholds["user_short_max_length"] == short_max


def test_unseen_items_are_never_head():
    """More than 80 % of the items unseen in training: the cut-off is 1, not 0."""
    rows = [(f"u{u}", str(item), 100 + p, 4.0) for u in range(3)
            for p, item in enumerate([1, 2 + 2 * u, 3 + 2 * u])]  # training part: item 1
    data = make_prepared(pd.DataFrame(rows, columns=["user", "item", "timestamp", "rating"]),
                         num_candidates=2)
    spec = slice_spec(data)
    assert spec.thresholds["item_head_min_count"] == 1
    assert spec.thresholds["item_head_items"] == 1
    assert not spec.masks["test"]["item_head"].any()  # test items are never in training here


def test_slice_means_by_hand(hand_data):
    knows = users_of(hand_data, {"u0", "u1"})
    model = KnowsSome(hand_data.test_targets, knows, hand_data.num_items)
    result = Evaluator(hand_data, EvaluationConfig()).evaluate(model, "test")
    sampled, full = result.slices["sampled"], result.slices["full"]
    # sampled, 3 candidates: rank 1 for u0 u1, rank 3 for the others
    assert sampled["item_head"]["mrr"] == pytest.approx((1 + 1 + 1 / 3) / 3)  # u0 u1 u5
    assert sampled["item_tail"]["mrr"] == pytest.approx(1 / 3)  # u2 u3 u4
    assert sampled["user_short"]["avg_rank"] == pytest.approx((1 + 1 + 3) / 3)  # u0 u1 u2
    assert sampled["user_long"]["avg_rank"] == pytest.approx(3.0)
    # full: last among the 9 - |history read| unmasked items: u2 7, u3 6, u4 5, u5 4
    assert full["item_head"]["avg_rank"] == pytest.approx((1 + 1 + 4) / 3)
    assert full["item_tail"]["avg_rank"] == pytest.approx((7 + 6 + 5) / 3)
    assert full["user_short"]["avg_rank"] == pytest.approx((1 + 1 + 7) / 3)
    assert full["user_long"]["avg_rank"] == pytest.approx((6 + 5 + 4) / 3)
    assert {name: row["users"] for name, row in full.items()} == {
        "item_head": 3, "item_tail": 3, "user_short": 3, "user_long": 3}


@pytest.mark.parametrize("split", ["valid", "test"])
def test_slice_means_are_the_means_of_the_per_user_metrics(varied_data, split):
    """Per-user ranks recomputed here from the candidates' scores and the full ranks."""
    model = RandomScores(varied_data.num_users, varied_data.num_items)
    result = Evaluator(varied_data, EvaluationConfig(batch_size=4)).evaluate(model, split,
                                                                               details=True)
    scores = result.details["scores"]
    sampled_rank = 1 + (scores[:, 1:] >= scores[:, :1]).sum(dim=1).double()  # pessimistic
    full_rank = result.details["full_rank"]
    spec = slice_spec(varied_data)
    for name, mask in spec.masks[split].items():
        rows = torch.from_numpy(mask)
        assert 0 < mask.sum() < varied_data.num_users
        assert result.slices["sampled"][name]["users"] == int(mask.sum())
        assert result.slices["sampled"][name]["mrr"] == pytest.approx(
            float((1 / sampled_rank[rows]).mean()))
        assert result.slices["sampled"][name]["hit@5"] == pytest.approx(
            float((sampled_rank[rows] <= 5).double().mean()))
        assert result.slices["full"][name]["avg_rank"] == pytest.approx(
            float(full_rank[rows].mean()))
    assert list(result.slices["sampled"]) == list(SLICE_NAMES)
    for protocol in ("sampled", "full"):
        for row in result.slices[protocol].values():
            assert list(row) == [*result.metrics[protocol], "users"]


@pytest.mark.parametrize("split", ["valid", "test"])
def test_each_pair_of_slices_holds_every_user(varied_data, split):
    model = RandomScores(varied_data.num_users, varied_data.num_items, seed=1)
    result = Evaluator(varied_data, EvaluationConfig()).evaluate(model, split)
    users = varied_data.num_users
    for protocol in ("sampled", "full"):
        rows = result.slices[protocol]
        assert rows["item_head"]["users"] + rows["item_tail"]["users"] == users
        assert rows["user_short"]["users"] + rows["user_long"]["users"] == users
        assert 0 < rows["item_head"]["users"] and 0 < rows["user_short"]["users"]
        # the user-weighted mean of a pair is the overall mean
        for first, second in (("item_head", "item_tail"), ("user_short", "user_long")):
            a, b = rows[first], rows[second]
            mean = (a["mrr"] * a["users"] + b["mrr"] * b["users"]) / users
            assert mean == pytest.approx(result.metrics[protocol]["mrr"])


def test_an_empty_slice_is_null_and_the_json_is_valid(tiny_data):
    per_user = {"mrr": torch.tensor([0.5, 1.0]), "avg_rank": torch.tensor([2.0, 1.0])}
    rows = slice_metrics(per_user, {"none": np.zeros(2, bool), "all": np.ones(2, bool)})
    assert rows["none"] == {"mrr": None, "avg_rank": None, "users": 0}
    assert rows["all"] == {"mrr": 0.75, "avg_rank": 1.5, "users": 2}
    evaluator = Evaluator(tiny_data, EvaluationConfig())
    model = RandomScores(tiny_data.num_users, tiny_data.num_items)
    block = results_slices(valid=evaluator.evaluate(model, "valid"),
                           test=evaluator.evaluate(model, "test"))
    parsed = json.loads(json.dumps(block, allow_nan=False))  # raises on NaN / inf
    assert set(parsed) == {"thresholds", "valid", "test"}
    # every generated user has 10 training items: all are short, none long
    for split in ("valid", "test"):
        for protocol in ("sampled", "full"):
            assert parsed[split][protocol]["user_short"]["users"] == tiny_data.num_users
            empty = parsed[split][protocol]["user_long"]
            assert empty["users"] == 0 and set(empty.values()) == {None, 0}
    assert parsed["thresholds"]["item_head_min_count"] >= 1


def test_results_json_holds_the_slices(tiny_data):
    """What ``api.train`` and ``api.evaluate`` write: ``results["slices"]``, no NaN."""
    config = RunConfig(model="pop")
    evaluator = Evaluator(tiny_data, config.evaluation)
    from ur4rec.models.baselines import PopularityRecommender

    model = PopularityRecommender(tiny_data.train_item_counts)
    evaluation, _ = evaluate_model(model, tiny_data, evaluator, torch.device("cpu"), None)
    results = run_results(config, 0, evaluation, tiny_data, None).to_json()
    text = json.dumps(results, allow_nan=False)
    slices = json.loads(text)["slices"]
    assert slices["thresholds"] == slice_spec(tiny_data).thresholds
    for split in ("valid", "test"):
        for protocol in ("sampled", "full"):
            assert set(slices[split][protocol]) == set(SLICE_NAMES)
            for row in slices[split][protocol].values():
                assert set(row) == {*results["test"]["sampled"], "users"}
                assert all(v is None or math.isfinite(v) for v in row.values())


def test_the_faiss_path_fills_the_same_slices(varied_data):
    pytest.importorskip("faiss")
    from ur4rec.config import SASRecConfig
    from ur4rec.models.sasrec import SASRec
    from ur4rec.retrieval.search import FaissScorer

    torch.manual_seed(0)
    model = SASRec(varied_data.num_items, SASRecConfig(hidden_dim=16, num_blocks=1,
                                                       max_seq_len=10)).eval()
    config = EvaluationConfig(batch_size=7)
    dense = Evaluator(varied_data, config).evaluate(model, "test")
    through_faiss = Evaluator(varied_data, config, FaissScorer(varied_data, config)
                              ).evaluate(model, "test")
    assert through_faiss.slice_thresholds == dense.slice_thresholds
    for protocol in ("sampled", "full"):
        for name in SLICE_NAMES:
            assert through_faiss.slices[protocol][name] == pytest.approx(
                dense.slices[protocol][name])


def _with_slices(quality: float, head_ndcg: float) -> dict:
    results = results_for(quality)
    row = {**results["test"]["sampled"], "users": 500}
    slices = {protocol: {name: {**row, "ndcg@10": head_ndcg if name == "item_head" else 0.01}
                         for name in SLICE_NAMES} for protocol in ("sampled", "full")}
    slices["full"]["item_tail"] = {**{k: None for k in row}, "users": 0}
    results["slices"] = {"thresholds": {"item_head_min_count": 98, "user_short_max_length": 31},
                         "test": slices, "valid": slices}
    return results


def test_compare_shows_the_slices(tmp_path):
    a = write_run(tmp_path / "a", healthy_sasrec_rows(), results=_with_slices(5.0, 0.2))
    b = write_run(tmp_path / "b", healthy_sasrec_rows(), results=_with_slices(6.0, 0.3))
    old = write_run(tmp_path / "old", healthy_sasrec_rows(), results=results_for(6.0))
    lines = compare.compare_runs([a, b, old]).splitlines()
    assert "| **slices** (test ndcg@10) | a | b | old |" in lines
    for protocol in ("sampled", "full"):
        for name in SLICE_NAMES:
            assert any(line.startswith(f"| test {protocol} ndcg@10 {name} |") for line in lines)
    assert "| test sampled ndcg@10 item_head | 0.2000 | **0.3000** | — |" in lines
    assert "| test full ndcg@10 item_tail | — | — | — |" in lines  # empty slice: null
    assert "| users item_head | 500 | 500 | — |" in lines
    assert "| item_head_min_count | 98 | 98 | — |" in lines
    assert "| user_short_max_length | 31 | 31 | — |" in lines


def test_compare_names_the_same_slices_as_the_evaluator():
    assert compare.SLICE_NAMES == SLICE_NAMES


@pytest.mark.slow
def test_the_ml100k_thresholds_in_the_docs(ml100k):
    spec = slice_spec(ml100k)
    assert spec.thresholds["item_head_min_count"] == 98
    assert spec.thresholds["item_head_items"] == 337
    assert spec.thresholds["user_short_max_length"] == 31
    assert spec.thresholds["user_short_users"] == 246
    assert {name: int(mask.sum()) for name, mask in spec.masks["test"].items()} == {
        "item_head": 528, "item_tail": 415, "user_short": 246, "user_long": 697}
