"""Exact duplicate rows are dropped and counted; repeats at another
time stay; what the rating and k-core filters remove is counted in meta.json and on screen."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ur4rec.cli import main
from ur4rec.config import ColumnNames, DataConfig
from ur4rec.data.converters import CONVERTERS
from ur4rec.data.prepared import prepare_dataset

from ..conftest import make_prepared, synthetic_interactions


def prepare_csv(frame: pd.DataFrame, folder, **config):
    folder.mkdir()
    path = folder / "log.csv"
    frame.rename(columns={"user": "user_id", "item": "item_id"}).to_csv(path, index=False)
    return prepare_dataset(DataConfig(dataset="mine", path=path, num_candidates=10,
                                      columns={"rating": "rating"}, **config), folder / "prep")


def test_every_row_doubled_prepares_as_the_undoubled_file(tmp_path):
    frame = synthetic_interactions(num_users=40, num_items=60, length=12)
    once = prepare_csv(frame, tmp_path / "once")
    for name, doubled in (("appended", pd.concat([frame, frame], ignore_index=True)),
                          ("interleaved", frame.loc[frame.index.repeat(2)])):
        twice = prepare_csv(doubled, tmp_path / name)
        assert len(twice.interactions) == len(once.interactions) == len(frame)
        for a, b in zip(once.sequences, twice.sequences, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(once.valid_candidates, twice.valid_candidates)
        np.testing.assert_array_equal(once.test_candidates, twice.test_candidates)
        assert twice.meta["dropped"]["duplicates"] == {"interactions": len(frame),
                                                        "other_rating": 0}
        saved = json.loads((tmp_path / name / "prep" / "meta.json").read_text())
        assert saved["dropped"]["duplicates"]["interactions"] == len(frame)
        assert saved["input_interactions"] == 2 * len(frame)
    assert once.meta["dropped"]["duplicates"]["interactions"] == 0


def test_a_repeat_at_another_time_is_kept_and_the_first_duplicate_wins():
    repeat = pd.DataFrame({"user": "a", "item": ["1", "2", "1", "3", "3"],
                           "timestamp": [1, 2, 5, 7, 7], "rating": [4.0, 4.0, 5.0, 2.0, 5.0]})
    data = make_prepared(pd.concat([repeat, synthetic_interactions(5, 30)], ignore_index=True),
                         num_candidates=5)
    user = data.user_index("a")
    assert [data.item_ids[i] for i in data.sequences[user]] == ["1", "2", "1", "3"]
    rows = data.interactions[data.interactions["user_idx"] == user]
    assert rows["rating"].tolist() == [4.0, 4.0, 5.0, 2.0]  # item 3 at 7: the first row's 2.0
    assert data.meta["dropped"]["duplicates"] == {"interactions": 1, "other_rating": 1}


def test_duplicates_in_a_converted_amazon_file_are_counted_when_prepared(tmp_path):
    log = synthetic_interactions(num_users=20, num_items=40, length=8)
    records = [{"reviewerID": u, "asin": i, "overall": r, "unixReviewTime": int(t)}
               for u, i, t, r in log[["user", "item", "timestamp", "rating"]].to_numpy()]
    source = tmp_path / "reviews.json"
    source.write_text("\n".join(json.dumps(r) for r in records + records[:3]) + "\n")
    out = CONVERTERS["amazon-reviews"](source, tmp_path / "reviews.csv")
    data = prepare_dataset(DataConfig(dataset="amazon", path=out, num_candidates=5,
                                      columns=ColumnNames(user="reviewerID", item="asin",
                                                          timestamp="unixReviewTime",
                                                          rating="overall")), tmp_path / "p")
    assert len(data.interactions) == len(log)
    assert data.meta["dropped"]["duplicates"]["interactions"] == 3


def filter_log(tmp_path):
    path = tmp_path / "log.csv"
    rows = ["user_id,item_id,timestamp,rating"]
    rows += [f"u1,{i},{i},5" for i in range(1, 6)]
    rows += [f"u2,{i},{i},1" for i in range(1, 6)]  # all below min_rating
    rows += [f"u2,10,{i},1" for i in range(1, 3)]  # item 10: only u2 has it
    rows += ["u3,1,1,5", "u3,2,2,5"]  # too short after filtering
    rows += [f"u4,{i},{i},5" for i in range(6, 10)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_what_the_filters_drop_is_counted_in_meta_and_on_screen(tmp_path, capsys):
    path = filter_log(tmp_path)
    config = DataConfig(dataset="mine", path=path, min_rating=4, columns={"rating": "rating"},
                        num_candidates=2)
    data = prepare_dataset(config, tmp_path / "prep")
    assert data.user_ids.tolist() == ["u1", "u4"]
    assert data.meta["dropped"]["min_rating"] == {"interactions": 7, "users": 1, "items": 1}
    assert data.meta["dropped"]["min_interactions"] == {"interactions": 2, "users": 1,
                                                        "items": 0}
    capsys.readouterr()
    assert main(["data", "prepare", "--config", str(write_config(tmp_path, path)),
                 "--dataset", "mine", "--out", str(tmp_path / "prep")]) == 0
    shown = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert shown["dropped"] == data.meta["dropped"]


def write_config(tmp_path, path):
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{dataset: mine, path: {path}, min_rating: 4, num_candidates: 2, "
                      "columns: {rating: rating}}\n", encoding="utf-8")
    return config


@pytest.mark.parametrize("collide", [False, True])
def test_duplicate_rows_equal_an_exact_comparison(monkeypatch, collide):
    """The hash only picks candidates: with every row colliding, the exact pass still marks
    exactly the rows pandas calls duplicated, and counts the other ratings."""
    from ur4rec.data import filters

    rng = np.random.default_rng(1)
    users, items = rng.integers(0, 5, 400), rng.integers(0, 6, 400)
    stamps, ratings = rng.integers(0, 4, 400), rng.integers(1, 3, 400).astype(float)
    ratings[::7] = np.nan
    if collide:
        monkeypatch.setattr(filters, "_mix", lambda u, i, t: np.zeros(len(u), dtype=np.uint64))
    mask, other = filters.duplicate_rows(users, items, stamps, ratings)
    frame = pd.DataFrame({"u": users, "i": items, "t": stamps, "r": ratings})
    np.testing.assert_array_equal(mask, frame.duplicated(["u", "i", "t"]).to_numpy())
    first = frame.groupby(["u", "i", "t"])["r"].transform(lambda r: r.iloc[0]).to_numpy()
    differs = ~((ratings == first) | (np.isnan(ratings) & np.isnan(first)))
    assert other == int((mask & differs).sum()) > 0
