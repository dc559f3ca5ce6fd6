"""The cold-item protocol at prepare time: cold items never reach anything a model learns from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ur4rec.config import DataConfig, config_from_dict
from ur4rec.data.canonical import RawDataset
from ur4rec.data.cold import choose_cold_items, cold_item_count
from ur4rec.data.prepared import (
    PreparedData,
    build_prepared,
    default_prepared_dir,
    effective_settings,
    fingerprint,
    load_raw,
)
from ur4rec.errors import ConfigError, DataError

from ..conftest import synthetic_interactions


def _titled_items(num_items: int) -> pd.DataFrame:
    # brackets make every title unique as a substring ("Film 1" would match inside "Film 12")
    return pd.DataFrame({"item": [str(i) for i in range(1, num_items + 1)],
                         "title": [f"Film <{i}>" for i in range(1, num_items + 1)],
                         "year": pd.array([1990 + i % 20 for i in range(1, num_items + 1)],
                                          dtype="Int64"),
                         "genres": [["Drama"] if i % 2 else ["Comedy"]
                                    for i in range(1, num_items + 1)]})


def cold_prepared(interactions: pd.DataFrame, cold_items: float = 0.2, num_candidates: int = 10,
                  seed: int = 2024, items: pd.DataFrame | None = None) -> PreparedData:
    config = DataConfig(dataset="synthetic", path=Path("synthetic.csv"),
                        num_candidates=num_candidates, cold_items=cold_items, candidate_seed=seed)
    raw = RawDataset(name="synthetic", interactions=interactions, source="synthetic")
    if items is not None:
        raw.items = items
    return build_prepared(raw, config, effective_settings(config))


@pytest.fixture
def cold_data() -> PreparedData:
    return cold_prepared(synthetic_interactions(40, 60, 14), items=_titled_items(60))


def assert_no_cold_in_training(data: PreparedData) -> None:
    cold = set(data.cold_items.tolist())
    assert cold, "the protocol is on but chose no cold item"
    for seq in data.train_sequences:  # training inputs and targets
        assert not cold & set(seq.tolist())
    for seq in data.sequences:  # the warm validation and test targets too
        assert not cold & set(seq.tolist())
    assert not data.train_item_counts[data.cold_items].any()
    for candidates in (data.valid_candidates, data.test_candidates):
        assert not cold & set(candidates.ravel().tolist())
    assert not cold & set(data.interactions["item_idx"].tolist())
    assert set(data.cold_interactions["item_idx"].tolist()) <= cold
    # the view the retriever's training texts are written from keeps the split
    view = data.without_recent_training(2)
    np.testing.assert_array_equal(view.cold_items, data.cold_items)
    assert len(view.cold_interactions) == len(data.cold_interactions)


def assert_no_cold_in_texts(data: PreparedData) -> None:
    from ur4rec.text.template import build_material, template_texts

    material = build_material(data)
    catalog = material.catalog
    assert not catalog.train_counts[data.cold_items].any()
    cold = set(data.cold_items.tolist())
    for item, neighbours in enumerate(catalog.co_liked):  # the "also liked" lists
        assert not cold & set(neighbours), f"item {item} lists a cold item as co-liked"
    user_texts, _ = template_texts(data, material)
    warm_titles = [catalog.short_titles[i] for i in range(1, data.num_items + 1)
                   if i not in cold]
    checked = 0
    for item in data.cold_items:
        title = catalog.short_titles[item]
        if any(title in other for other in warm_titles):
            continue  # a duplicate or a substring of a warm title (ML-100K has both)
        checked += 1
        hits = [u for u, text in enumerate(user_texts) if title in text]
        assert not hits, f"cold item {title!r} is in the text of user {hits[0]}"
    assert checked >= 0.9 * len(data.cold_items)


def test_cold_items_never_reach_training_candidates_or_texts(cold_data):
    assert cold_data.meta["cold"]["items"] == cold_item_count(60, 0.2) == 12
    assert_no_cold_in_training(cold_data)
    assert_no_cold_in_texts(cold_data)


def test_every_interaction_is_warm_or_cold_and_orders_are_kept(cold_data):
    raw = synthetic_interactions(40, 60, 14)
    assert len(cold_data.interactions) + len(cold_data.cold_interactions) == len(raw)
    cold_ids = set(cold_data.item_ids[cold_data.cold_items].tolist())
    assert len(cold_data.cold_interactions) == int(raw["item"].isin(cold_ids).sum())
    for frame in (cold_data.interactions, cold_data.cold_interactions):
        keys = frame[["user_idx", "timestamp"]].to_numpy()
        assert (np.lexsort((keys[:, 1], keys[:, 0])) == np.arange(len(frame))).all()
    # the catalogue keeps its cold items: models have rows for them
    assert cold_data.num_items == 60
    assert cold_data.meta["counts"]["interactions"] == len(cold_data.interactions)


def test_cold_set_is_fixed_by_seed_and_off_changes_nothing():
    frame = synthetic_interactions(40, 60, 14)
    a, b = cold_prepared(frame), cold_prepared(frame)
    np.testing.assert_array_equal(a.cold_items, b.cold_items)
    np.testing.assert_array_equal(a.test_candidates, b.test_candidates)
    other = cold_prepared(frame, seed=7)
    assert set(other.cold_items.tolist()) != set(a.cold_items.tolist())
    # off: the settings, the fingerprint and the data are those of a run without the key
    off = DataConfig(dataset="synthetic", path=Path("synthetic.csv"), num_candidates=10)
    assert "cold_items" not in effective_settings(off)
    plain = cold_prepared(frame, cold_items=0.0)
    assert "cold" not in plain.meta and len(plain.cold_items) == 0
    assert plain.meta["fingerprint"] == fingerprint(effective_settings(off))
    assert len(plain.interactions) == len(frame)


def test_fingerprint_and_cache_folder_separate_fractions_and_seeds():
    def folder(**kw: object) -> Path:
        return default_prepared_dir(DataConfig(dataset="ml-100k", **kw))

    names = {folder(), folder(cold_items=0.1), folder(cold_items=0.2),
             folder(cold_items=0.1, candidate_seed=7)}
    assert len(names) == 4


def test_selection_is_stratified_by_popularity():
    counts = np.arange(1000)[::-1] ** 2  # a long tail; position = popularity rank
    picks = choose_cold_items(counts, 0.1, seed=3)
    assert len(picks) == 100
    # exactly one cold item in each popularity stratum of 10 items: head, torso and tail alike
    np.testing.assert_array_equal(np.bincount(picks // 10, minlength=100), np.ones(100))
    assert not np.array_equal(picks, choose_cold_items(counts, 0.1, seed=4))
    assert len(choose_cold_items(np.ones(7), 0.01, seed=0)) == 1  # on means at least one


def test_users_left_too_short_are_dropped_and_counted():
    frame = synthetic_interactions(40, 60, 14)
    for seed in range(50):  # find a seed that makes one of the short user's items cold
        short = pd.DataFrame({"user": "short", "item": ["1", "2", "3"],
                              "timestamp": [1, 2, 3], "rating": 4.0})
        data = cold_prepared(pd.concat([frame, short], ignore_index=True), seed=seed)
        cold_ids = set(data.item_ids[data.cold_items].tolist())
        if cold_ids & {"1", "2", "3"}:
            break
    else:
        pytest.fail("no seed made items 1-3 cold")
    assert "short" not in data.user_ids.tolist()
    assert data.meta["cold"]["dropped_users"] == 1
    assert data.meta["cold"]["dropped_interactions"] == 3
    assert data.num_users == 40
    assert len(data.interactions) + len(data.cold_interactions) == len(frame)


def test_a_fraction_that_leaves_no_user_is_one_line():
    frame = pd.DataFrame({"user": np.repeat(["a", "b", "c"], 3), "item": ["1", "2", "3"] * 3,
                          "timestamp": np.tile([1, 2, 3], 3), "rating": 4.0})
    with pytest.raises(DataError, match="data.cold_items") as error:
        cold_prepared(frame, cold_items=0.4, num_candidates=2)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("value", [0.5, 0.7, -0.1, 1, "many"])
def test_out_of_range_fraction_is_a_one_line_config_error(value):
    with pytest.raises(ConfigError, match=r"data\.cold_items") as error:
        config_from_dict({"data": {"cold_items": value}}, "c.yaml")
    assert "\n" not in str(error.value)
    assert config_from_dict({"data": {"cold_items": 0.49}}).data.cold_items == 0.49


def test_save_load_round_trip_keeps_the_cold_part(tmp_path, cold_data):
    cold_data.save(tmp_path / "prep")
    names = (tmp_path / "prep" / "cold_items.txt").read_text(encoding="utf-8").splitlines()
    assert names == [str(cold_data.item_ids[i]) for i in cold_data.cold_items]
    loaded = PreparedData.load(tmp_path / "prep")
    np.testing.assert_array_equal(loaded.cold_items, cold_data.cold_items)
    pd.testing.assert_frame_equal(loaded.cold_interactions, cold_data.cold_interactions)
    pd.testing.assert_frame_equal(loaded.interactions, cold_data.interactions)
    assert loaded.meta["cold"] == cold_data.meta["cold"]
    assert_no_cold_in_training(loaded)
    # a warm-only preparation in the same folder leaves no stale cold files behind
    cold_prepared(synthetic_interactions(40, 60, 14), cold_items=0.0).save(tmp_path / "prep")
    assert not (tmp_path / "prep" / "cold_items.txt").exists()
    assert len(PreparedData.load(tmp_path / "prep").cold_items) == 0


def test_a_missing_cold_file_is_a_data_error(tmp_path, cold_data):
    cold_data.save(tmp_path / "prep")
    (tmp_path / "prep" / "cold_interactions.parquet").unlink()
    with pytest.raises(DataError, match="unreadable"):
        PreparedData.load(tmp_path / "prep")


@pytest.fixture(scope="module")
def ml100k_cold() -> PreparedData:
    """Built from the raw data now (~3 s), not read from a prepared cache an older build wrote."""
    config = DataConfig(dataset="ml-100k", cold_items=0.1)
    settings = effective_settings(config)
    return build_prepared(load_raw(config, settings), config, settings)


@pytest.mark.slow
def test_ml100k_cold_items_never_reach_training_candidates_or_texts(ml100k_cold):
    data = ml100k_cold
    cold = data.meta["cold"]
    # 10 % with seed 2024: every ML-100K user has ≥ 20 ratings, so nobody is dropped
    assert (cold["items"], cold["dropped_users"], data.num_users, data.num_items) == (
        168, 0, 943, 1682)
    assert len(data.interactions) + cold["interactions"] == 100_000
    assert_no_cold_in_training(data)
    assert_no_cold_in_texts(data)


@pytest.mark.slow
def test_ml100k_cold_set_spans_the_popularity_range(ml100k_cold):
    data = ml100k_cold
    raw = load_raw(DataConfig(dataset="ml-100k"), {"source": "ml-100k"})
    counts = raw.interactions["item"].astype(str).value_counts()
    cold = counts.reindex(data.item_ids[data.cold_items]).to_numpy()
    everyone = counts.to_numpy()
    for q in (25, 50, 75, 95):  # the cold set's popularity quantiles match the catalogue's
        assert abs(np.percentile(cold, q) - np.percentile(everyone, q)) <= 0.15 * max(
            np.percentile(everyone, q), 10)
