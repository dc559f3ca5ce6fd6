from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ur4rec.config import DataConfig
from ur4rec.data.prepared import PreparedData, prepare_dataset
from ur4rec.errors import DataError

from ..conftest import make_prepared, synthetic_interactions


def test_ties_keep_file_order_and_last_two_are_held_out():
    frame = pd.DataFrame({"user": ["a"] * 5, "item": ["1", "2", "3", "4", "5"],
                          "timestamp": [5, 1, 5, 9, 5], "rating": [1.0] * 5})
    data = make_prepared(pd.concat([frame, synthetic_interactions(5, 30)]), num_candidates=5)
    user = data.user_index("a")
    originals = [data.item_ids[i] for i in data.sequences[user]]
    # timestamp 1 first, then the three ties at 5 in file order (1, 3, 5), then 9
    assert originals == ["2", "1", "3", "5", "4"]
    assert data.item_ids[data.test_targets[user]] == "4"
    assert data.item_ids[data.valid_targets[user]] == "5"
    assert [data.item_ids[i] for i in data.train_sequences[user]] == ["2", "1", "3"]


def test_candidates_exclude_whole_history_and_are_fixed_by_seed(tiny_data):
    for user, seq in enumerate(tiny_data.sequences):
        for candidates in (tiny_data.valid_candidates[user], tiny_data.test_candidates[user]):
            negatives = candidates[1:]
            assert len(set(negatives)) == len(negatives)
            assert not set(negatives) & set(seq)
            assert 1 <= negatives.min() and negatives.max() <= tiny_data.num_items
    again = make_prepared(synthetic_interactions())
    np.testing.assert_array_equal(again.test_candidates, tiny_data.test_candidates)


def test_prepared_folder_round_trip(tmp_path, tiny_data):
    tiny_data.save(tmp_path / "prep")
    loaded = PreparedData.load(tmp_path / "prep")
    assert loaded.summary() == tiny_data.summary()
    for a, b in zip(loaded.sequences, tiny_data.sequences, strict=True):
        np.testing.assert_array_equal(a, b)


def test_kcore_filter_and_min_rating(tmp_path):
    path = tmp_path / "log.csv"
    rows = ["user_id,item_id,timestamp,rating"]
    rows += [f"u1,{i},{i},5" for i in range(1, 6)]
    rows += [f"u2,{i},{i},1" for i in range(1, 6)]  # all below min_rating
    rows += ["u3,1,1,5", "u3,2,2,5"]  # too short after filtering
    rows += [f"u4,{i},{i},5" for i in range(6, 10)]
    path.write_text("\n".join(rows) + "\n")
    config = DataConfig(dataset="mine", path=path, min_rating=4,
                        columns={"rating": "rating"}, num_candidates=2)
    data = prepare_dataset(config, tmp_path / "prep")
    assert data.user_ids.tolist() == ["u1", "u4"]
    assert data.num_items == 9


def test_filters_that_leave_nothing_are_named(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id,timestamp\na,1,1\na,2,2\n")
    config = DataConfig(dataset="mine", path=path, min_user_interactions=3)
    with pytest.raises(DataError, match="min_user_interactions=3"):
        prepare_dataset(config, tmp_path / "prep")


def test_unknown_dataset_is_named():
    with pytest.raises(DataError, match="unknown dataset 'ml-1b'"):
        prepare_dataset(DataConfig(dataset="ml-1b"), Path("/nonexistent"))


def test_folder_with_other_settings_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    synthetic_interactions().rename(columns={"user": "user_id", "item": "item_id"}).to_csv(
        path, index=False)
    prepare_dataset(DataConfig(dataset="mine", path=path, num_candidates=5), tmp_path / "p")
    with pytest.raises(DataError, match="prepared with other settings"):
        prepare_dataset(DataConfig(dataset="mine", path=path, num_candidates=6), tmp_path / "p")


def test_unreadable_prepared_folder(tmp_path):
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(DataError, match="unreadable"):
        PreparedData.load(tmp_path)


def test_a_path_under_a_preset_name_is_refused_not_ignored(tmp_path):
    from ur4rec.data.prepared import effective_settings
    from ur4rec.errors import DataError

    with pytest.raises(DataError, match="data.path is set .* built-in preset"):
        effective_settings(DataConfig(path=tmp_path / "mine.csv"))


def test_ml100k_keeps_its_prepared_folder_name():
    """The text-rich presets and data.domain leave ML-100K's settings (and cache folder) alone."""
    from ur4rec.data.prepared import default_prepared_dir

    assert default_prepared_dir(DataConfig(dataset="ml-100k")).name == "ml-100k-8609f91a4561"
    assert default_prepared_dir(DataConfig(dataset="ml-100k", domain="film")).name != \
        "ml-100k-8609f91a4561"
