from pathlib import Path

import pandas as pd
import pytest

from ur4rec.config import ColumnNames
from ur4rec.data.loaders import load_recbole_dataset, load_table_dataset
from ur4rec.errors import DataError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_named_columns(tmp_path):
    path = write(tmp_path / "log.csv", "uid,iid,ts,stars\na,x,10,5\na,y,20,3\nb,x,5,4\n")
    data = load_table_dataset(path, "csv", ColumnNames(user="uid", item="iid", timestamp="ts",
                                                       rating="stars"), "mine")
    assert data.interactions["user"].tolist() == ["a", "a", "b"]
    assert data.interactions["timestamp"].tolist() == [10, 20, 5]
    assert data.interactions["rating"].tolist() == [5.0, 3.0, 4.0]


def test_missing_column_names_the_column_and_lists_present(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,item_id,time\na,x,1\n")
    with pytest.raises(DataError, match=r"no column 'timestamp'.*set data.columns.timestamp.*time"):
        load_table_dataset(path, "csv", ColumnNames(), "mine")


def test_non_numeric_timestamp_names_row(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp\na,x,1\na,y,yesterday\n")
    with pytest.raises(DataError, match=r"row 3 .*'yesterday'.*expected a number"):
        load_table_dataset(path, "csv", ColumnNames(), "mine")


def test_iso_dates_are_accepted_as_timestamps(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp\na,x,2020-01-01\na,y,2020-01-02\n")
    data = load_table_dataset(path, "csv", ColumnNames(), "mine")
    assert data.interactions["timestamp"].diff().iloc[1] == 86_400


def test_empty_file(tmp_path):
    path = write(tmp_path / "log.csv", "")
    with pytest.raises(DataError, match="is empty"):
        load_table_dataset(path, "csv", ColumnNames(), "mine")


def test_header_only_file(tmp_path):
    path = write(tmp_path / "log.csv", "user_id,item_id,timestamp\n")
    with pytest.raises(DataError, match="has no rows"):
        load_table_dataset(path, "csv", ColumnNames(), "mine")


def test_parquet(tmp_path):
    frame = pd.DataFrame({"user_id": [1, 1], "item_id": [7, 8], "timestamp": [3, 4]})
    frame.to_parquet(tmp_path / "log.parquet")
    data = load_table_dataset(tmp_path / "log.parquet", "parquet", ColumnNames(), "mine")
    assert data.interactions["item"].tolist() == ["7", "8"]


def test_recbole_atomic_files(tmp_path):
    write(tmp_path / "toy.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
          "1\t10\t4\t100\n1\t11\t5\t200\n")
    write(tmp_path / "toy.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\t"
          "class:token_seq\n10\tHeat\t1995\tAction Crime\n11\tUp\t2009\tAnimation\n")
    write(tmp_path / "toy.kg", "head_id:token\trelation_id:token\ttail_id:token\n"
          "m.1\tfilm.film.directed_by\tm.9\nm.1\tfilm.film.sequel\tm.2\n")
    write(tmp_path / "toy.link", "item_id:token\tentity_id:token\n10\tm.1\n11\tm.2\n")
    data = load_recbole_dataset(tmp_path)
    assert data.items.set_index("item").loc["10", "genres"] == ["Action", "Crime"]
    assert data.items.set_index("item").loc["11", "year"] == 2009
    facts = set(map(tuple, data.kg[["item", "relation", "entity"]].to_numpy().tolist()))
    assert facts == {("10", "directed_by", "m.9"), ("10", "sequel", "item:11")}
