"""MovieLens-1M- and Amazon-shaped files through `ur4rec convert`, `data prepare` and training."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ur4rec import api
from ur4rec.cli import main
from ur4rec.config import ColumnNames, DataConfig
from ur4rec.data.cli import CONVERT_KINDS
from ur4rec.data.converters import CONVERTERS, amazon_items, amazon_reviews, movielens_1m_items
from ur4rec.data.loaders import load_item_metadata
from ur4rec.data.prepared import prepare_dataset
from ur4rec.errors import DataError

from ..conftest import synthetic_interactions

GENRES = ["Action", "Comedy", "Drama", "Sci-Fi", "Children's"]


def write_ml1m(folder: Path) -> tuple[Path, Path]:
    """``ratings.dat`` (user::item::rating::timestamp) and latin-1 ``movies.dat``, no headers."""
    log = synthetic_interactions(num_users=60, num_items=200, length=12, seed=3)
    ratings = folder / "ratings.dat"
    ratings.write_text("".join(
        f"{row.user[1:]}::{row.item}::{int(row.rating)}::{row.timestamp}\n"
        for row in log.itertuples()), encoding="latin-1")
    movies = folder / "movies.dat"
    lines = [f"{item}::Film {item} ({1900 + item})::{GENRES[item % 5]}|{GENRES[(item + 2) % 5]}"
             for item in range(1, 201)]
    lines[0] = "1::Café Society, The (1961)::Comedy|Drama"  # non-ASCII in latin-1, a comma
    movies.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return ratings, movies


def test_movielens_1m_movies_parse(tmp_path):
    _, movies = write_ml1m(tmp_path)
    items = movielens_1m_items(movies)
    first = items.iloc[0]
    assert (first["item"], first["title"], first["year"]) == ("1", "Café Society, The", 1961)
    assert first["genres"] == ["Comedy", "Drama"] and len(items) == 200


def test_movielens_1m_through_convert_prepare_and_one_epoch(tmp_path, capsys):
    ratings, movies = write_ml1m(tmp_path)
    assert main(["convert", "ml1m-movies", str(movies), "--out", str(tmp_path / "movies.csv")]) == 0
    assert main(["--quiet", "data", "prepare", "--dataset", "ml-1m", "--path", str(ratings),
                 "--columns", "user=user_id,item=item_id,timestamp=timestamp,rating=rating",
                 "--item-metadata", str(tmp_path / "movies.csv"), "--min-rating", "2",
                 "--out", str(tmp_path / "prepared")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    data = prepare_dataset(DataConfig(dataset="ml-1m", path=ratings,
                                      columns=ColumnNames(rating="rating"),
                                      item_metadata=tmp_path / "movies.csv", min_rating=2),
                           tmp_path / "prepared")
    kept = synthetic_interactions(num_users=60, num_items=200, length=12, seed=3)
    assert summary["interactions"] == int((kept["rating"] >= 2).sum()) == len(data.interactions)
    cafe = data.items[data.items["item"] == "1"].iloc[0]
    assert cafe["title"] == "Café Society, The" and list(cafe["genres"]) == ["Comedy", "Drama"]
    assert data.items["year"].notna().all()
    config = tmp_path / "ml1m.yaml"
    config.write_text(f"model: sasrec\ndata: {{dataset: ml-1m, path: {ratings}, "
                      f"item_metadata: {tmp_path / 'movies.csv'}, min_rating: 2, "
                      f"columns: {{rating: rating}}, "
                      f"prepared_dir: {tmp_path / 'prepared'}}}\n"
                      "sasrec: {hidden_dim: 8, num_blocks: 1, max_seq_len: 10}\n"
                      "training: {epochs_per_stage: 1}\n")
    results = api.train(config, tmp_path / "run", progress=False)
    assert results["dataset"]["users"] == data.num_users


def test_movies_dat_read_directly_as_item_metadata(tmp_path):
    _, movies = write_ml1m(tmp_path)
    assert load_item_metadata(movies).iloc[0]["title"] == "Café Society, The"


def write_amazon(folder: Path) -> tuple[Path, Path, Path]:
    """Reviews CSV with a header, 2014-style (Python literal) and 2018-style (JSON) metadata."""
    log = synthetic_interactions(num_users=60, num_items=200, length=12, seed=4)
    reviews = folder / "reviews.csv"
    pd.DataFrame({"reviewerID": "A" + log["user"].str.upper(), "asin": "B00" + log["item"],
                  "overall": log["rating"], "unixReviewTime": log["timestamp"] + 1_300_000_000}
                 ).to_csv(reviews, index=False)
    lines_2014 = [repr({"asin": f"B00{i}", "title": f"Book {i}",
                        "categories": [["Books", "Literature & Fiction"], ["Kindle Store"]]})
                  for i in range(1, 101)]
    lines_2018 = [json.dumps({"asin": f"B00{i}", "title": f"Gadget, model {i}",
                              "category": ["Electronics", "Audio"]}) for i in range(101, 201)]
    meta_2014, meta_2018 = folder / "meta_2014.json.gz", folder / "meta_2018.json"
    with gzip.open(meta_2014, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines_2014) + "\n")
    meta_2018.write_text("\n".join(lines_2018) + "\n", encoding="utf-8")
    return reviews, meta_2014, meta_2018


def test_amazon_metadata_both_vintages(tmp_path):
    _, meta_2014, meta_2018 = write_amazon(tmp_path)
    old, new = amazon_items(meta_2014), amazon_items(meta_2018)
    assert old.iloc[0]["genres"] == ["Books", "Literature & Fiction", "Kindle Store"]
    assert new.iloc[0]["title"] == "Gadget, model 101" and new.iloc[0]["genres"] == [
        "Electronics", "Audio"]


def test_amazon_through_convert_and_prepare(tmp_path):
    reviews, meta_2014, meta_2018 = write_amazon(tmp_path)
    meta = tmp_path / "meta.json"
    meta.write_bytes(gzip.decompress(meta_2014.read_bytes()) + meta_2018.read_bytes())
    assert main(["convert", "amazon-meta", str(meta), "--out", str(tmp_path / "items.csv")]) == 0
    assert main(["--quiet", "data", "prepare", "--dataset", "amazon-books", "--path",
                 str(reviews), "--columns",
                 "user=reviewerID,item=asin,timestamp=unixReviewTime,rating=overall",
                 "--item-metadata", str(tmp_path / "items.csv"), "--out",
                 str(tmp_path / "prepared")]) == 0
    data = prepare_dataset(DataConfig(
        dataset="amazon-books", path=reviews, item_metadata=tmp_path / "items.csv",
        columns=ColumnNames(user="reviewerID", item="asin", timestamp="unixReviewTime",
                            rating="overall")), tmp_path / "prepared")
    assert data.num_users == 60 and set(data.items["item"]) <= {f"B00{i}" for i in range(1, 201)}
    assert data.items["title"].notna().all()
    book = data.items[data.items["item"] == "B001"].iloc[0]
    assert list(book["genres"]) == ["Books", "Literature & Fiction", "Kindle Store"]
    assert np.all(np.diff(data.timestamps[0]) >= 0)


def test_amazon_metadata_csv_needs_no_conversion(tmp_path):
    path = tmp_path / "meta.csv"
    pd.DataFrame({"asin": ["B001", "B002"], "title": ["Book 1", "Book 2"],
                  "categories": ["Books|Poetry", "Books|Kindle Store"]}).to_csv(path, index=False)
    items = load_item_metadata(path)
    assert list(items["item"]) == ["B001", "B002"] and items.iloc[1]["genres"] == [
        "Books", "Kindle Store"]


def test_amazon_reviews_json_lines_and_headerless_ratings(tmp_path):
    records = [{"reviewerID": "A1", "asin": "B1", "overall": 5.0, "unixReviewTime": 10,
                "reviewText": "fine"}]
    as_json = tmp_path / "reviews.json"
    as_json.write_text(json.dumps(records[0]) + "\n")
    headerless = tmp_path / "ratings_Books.csv"
    headerless.write_text("A1,B1,5.0,10\n")
    for path in (as_json, headerless):
        frame = amazon_reviews(path)
        assert list(frame.columns) == ["reviewerID", "asin", "overall", "unixReviewTime"]
        assert frame.iloc[0].tolist() == ["A1", "B1", "5.0", "10"]
    broken = tmp_path / "broken.json"
    broken.write_text('{"reviewerID": "A1", "asin": "B1"}\n')
    with pytest.raises(DataError, match="lacks one of"):
        amazon_reviews(broken)
    with pytest.raises(DataError, match="line 1 is neither JSON"):
        amazon_items(tmp_path / "ratings_Books.csv")


def test_convert_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["convert", "ml1m-movies", str(tmp_path / "nope.dat"), "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_convert_kinds_named_in_the_parser_are_the_converters():
    assert CONVERT_KINDS == tuple(sorted(CONVERTERS))
