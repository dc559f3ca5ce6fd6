"""What item texts' statistics give away at a retriever training position:
measured on every run and stated in ``results.json["texts"]["item_exposure"]``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ur4rec.config import config_from_dict
from ur4rec.text.catalog import co_liked_items
from ur4rec.text.history import liked_mask, split_by_user, training_interactions
from ur4rec.text.item_exposure import also_liked_exposure

from ..conftest import synthetic_interactions
from .conftest import build, film_items
from .test_pipeline import DIM, fast_encoder  # noqa: F401  (autouse: a hash encoder)

WINDOW, HISTORY = 4, 6


def _clustered(seed=0):
    """Users who like films of their cluster, so "also liked" lists are long and shared."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(24):
        cluster = user % 3
        films = rng.permutation(np.arange(1, 13) + 12 * cluster)[:10]
        for position, film in enumerate(films):
            rating = 5.0 if rng.random() < 0.8 else 2.0
            rows.append((f"u{user}", str(film), 1000 + position, rating))
    return build(pd.DataFrame(rows, columns=["user", "item", "timestamp", "rating"]),
                 film_items(36))


def _brute_force(data):
    """Each count recomputed from scratch: the neighbours of the whole training data, and of the
    training data without the user's interactions from the target on."""
    train = training_interactions(data)
    full = co_liked_items(train, data.num_items)
    view = data.without_recent_training(WINDOW)
    counts = {"named_by_history": 0, "named_through_own_like": 0,
              "named_only_through_own_later": 0}
    for user, frame in enumerate(split_by_user(train, data.num_users)):
        items = frame["item_idx"].to_numpy()
        liked = liked_mask(frame["rating"].to_numpy())
        for position in range(len(view.train_sequences[user]), len(items)):
            start, target = max(0, position - HISTORY), items[position]
            namers = [k for k in range(start, position) if target in full[items[k]]]
            if not namers:
                continue
            counts["named_by_history"] += 1
            counts["named_through_own_like"] += bool(liked[position]
                                                     and any(liked[k] for k in namers))
            without = co_liked_items(train.drop(index=frame.index[position:]), data.num_items)
            counts["named_only_through_own_later"] += not any(
                target in without[items[k]] for k in namers)
    return counts


def test_exposure_counts_match_a_recount_without_each_users_later_interactions():
    data = _clustered()
    measured = also_liked_exposure(data, WINDOW, HISTORY)
    expected = _brute_force(data)
    assert {key: measured[key] for key in expected} == expected
    assert expected["named_only_through_own_later"] > 0  # the fixture shows the leak
    assert measured["possible_targets"] == measured["targets_in_own_counts"] == 24 * WINDOW
    assert measured["share_named_only_through_own_later"] == round(
        expected["named_only_through_own_later"] / (24 * WINDOW), 6)


def test_without_item_statistics_nothing_is_named():
    measured = also_liked_exposure(_clustered(), WINDOW, HISTORY, item_statistics=False)
    assert measured["named_by_history"] == measured["targets_in_own_counts"] == 0


def test_a_retriever_run_states_the_exposure_in_its_results(tmp_path):
    from ur4rec import api

    log = tmp_path / "log.csv"
    synthetic_interactions(30, 40, 14).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(log, index=False)
    config = config_from_dict({
        "model": "retriever", "texts": {"embedding_dim": DIM},
        "data": {"dataset": "tiny", "path": str(log), "num_candidates": 10,
                 "prepared_dir": str(tmp_path / "prepared")},
        "retriever": {"output_dim": 16, "num_heads": 2, "num_proxies": 2},
        "training": {"stages": ["pretrain_retriever"], "epochs_per_stage": 1, "device": "cpu",
                     "batch_size": 16, "warmup_steps": 0}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api, "_after_training", lambda run_dir: None)
        results = api.train(config, tmp_path / "run", progress=False)
    exposure = results["texts"]["item_exposure"]
    assert exposure["possible_targets"] > 0 and "share_named_only_through_own_later" in exposure
    assert exposure["item_statistics"] is True
