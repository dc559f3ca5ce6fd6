"""The text-rich presets online: raw files fetched from a loopback server (or, for Yelp, read from
the user's download), processed as the papers did, verified, prepared. No test leaves 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pandas as pd
import pytest

from ur4rec.cli import main
from ur4rec.config import DataConfig
from ur4rec.data.prepared import prepare_dataset
from ur4rec.data.published import split_scientific_text
from ur4rec.data.textrich import TEXT_RICH_SOURCES, RawFile
from ur4rec.errors import DataError

from ..conftest import shared_data_dir
from . import raw_fixtures
from .loopback import LoopbackServer


@pytest.fixture
def online(monkeypatch, tmp_path):
    """An empty cache, no mirror, online; the server the raw files come from."""
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("UR4REC_DATA_MIRROR", raising=False)
    monkeypatch.delenv("UR4REC_OFFLINE", raising=False)
    with LoopbackServer() as server:
        yield server


def serve(server: LoopbackServer, monkeypatch, name: str, fixture: raw_fixtures.RawFixture
          ) -> None:
    """Point preset ``name`` at the server's copies of ``fixture``, expecting its counts."""
    preset = TEXT_RICH_SOURCES[name]
    for raw in preset.raw_files:
        server.served.files[f"/{name}/{raw.name}"] = fixture.files[raw.name]
    files = tuple(RawFile(raw.name, (server.url(f"/missing/{raw.name}"),
                                     server.url(f"/{name}/{raw.name}")))
                  for raw in preset.raw_files)
    monkeypatch.setitem(TEXT_RICH_SOURCES, name,
                        dataclasses.replace(preset, raw_files=files, counts=fixture.counts))


def sequences_by_user(data) -> dict[str, list[str]]:
    return {str(data.user_ids[u]): [str(data.item_ids[i]) for i in seq]
            for u, seq in enumerate(data.sequences)}


def test_beauty_online_downloads_the_2014_files_and_makes_the_5_core(online, monkeypatch):
    fixture = raw_fixtures.beauty()
    serve(online, monkeypatch, "amazon-beauty", fixture)
    data = prepare_dataset(DataConfig(dataset="amazon-beauty", num_candidates=2))
    assert sequences_by_user(data) == fixture.expected  # time order, same-day ties in file order
    assert sequences_by_user(data)["U3"][2:4] == ["P5", "P4"]
    assert data.meta["settings"]["origin"] == "raw" and data.meta["domain"] == "product"
    assert data.meta["verification"]["matches"]
    titles = dict(zip(data.items["item"], data.items["title"], strict=True))
    assert titles["P1"] == "Product 1 & Co's \"best\""  # a Python-literal line, HTML unescaped
    assert pd.isna(titles["P6"])  # no title in its metadata
    cache = data.folder.parents[1] / "raw" / "amazon-beauty"
    assert sorted(p.name for p in cache.iterdir()) == [
        "meta_Beauty.json.gz", "meta_Beauty.json.gz.sha256",
        "reviews_Beauty_5.json.gz", "reviews_Beauty_5.json.gz.sha256"]


def test_scientific_online_follows_unisrec(online, monkeypatch):
    fixture = raw_fixtures.scientific()
    serve(online, monkeypatch, "amazon-scientific", fixture)
    data = prepare_dataset(DataConfig(dataset="amazon-scientific", num_candidates=2))
    sequences = sequences_by_user(data)
    # exact duplicate rows dropped, items without metadata dropped, 5-core, last 51 kept
    assert sequences == fixture.expected
    assert len(sequences["S1"]) == 51 and "Q9" not in data.items["item"].tolist()
    row = data.items.set_index("item").loc["Q1"]
    assert row["title"] == raw_fixtures.SCIENTIFIC_TITLE_CLEAN
    assert list(row["categories"]) == ["Industrial & Scientific", "Lab & Scientific Products Beakers"]
    assert row["brand"] == "Pyrex"
    # the text UniSRec writes from these fields splits back into them: both origins agree
    text = f"{row['title']}. {' '.join(row['categories'])}. {row['brand']}. "
    assert split_scientific_text(text) == (row["title"], list(row["categories"]), "Pyrex")


def test_yelp_is_read_from_the_users_own_download(online, monkeypatch, tmp_path):
    fixture = raw_fixtures.yelp()
    folder = tmp_path / "yelp_dataset"
    folder.mkdir()
    for name, payload in fixture.files.items():
        (folder / name).write_bytes(payload)
    monkeypatch.setitem(TEXT_RICH_SOURCES, "yelp", dataclasses.replace(
        TEXT_RICH_SOURCES["yelp"], counts=fixture.counts))
    data = prepare_dataset(DataConfig(dataset="yelp", path=folder, num_candidates=2))
    # 2019 reviews only (to "2019-12-31 00:00:00", as S3-Rec compared), repeat visits kept
    assert sequences_by_user(data) == fixture.expected
    assert sequences_by_user(data)["Y1"].count("B2") == 2
    assert data.meta["settings"]["origin"] == "raw" and data.meta["domain"] == "business"
    categories = dict(zip(data.items["item"], data.items["categories"], strict=True))
    assert list(categories["B1"]) == ["Restaurants", "Pizza"] and list(categories["B2"]) == []
    assert online.served.requests == []


def test_a_new_release_in_the_users_yelp_folder_is_prepared_again(online, monkeypatch, tmp_path,
                                                                  caplog):
    """The user's raw files are part of the fingerprint (data/textrich.content_identity): the
    same folder with an edited review file is new data, not the cached preparation."""
    fixture = raw_fixtures.yelp()
    folder = tmp_path / "yelp_dataset"
    folder.mkdir()
    for name, payload in fixture.files.items():
        (folder / name).write_bytes(payload)
    monkeypatch.setitem(TEXT_RICH_SOURCES, "yelp", dataclasses.replace(
        TEXT_RICH_SOURCES["yelp"], counts=fixture.counts, raw_counts_binding=False))
    config = DataConfig(dataset="yelp", path=folder, num_candidates=2)
    first = prepare_dataset(config)
    reviews = next(name for name in fixture.files if "review" in name)
    lines = (folder / reviews).read_bytes().splitlines(keepends=True)
    (folder / reviews).write_bytes(b"".join(lines[:-1]))  # one review fewer
    second = prepare_dataset(config)
    assert second.meta["fingerprint"] != first.meta["fingerprint"]
    assert second.meta["content"] != first.meta["content"]
    assert f"{reviews} changed since" in caplog.text


def test_yelp_without_a_download_says_how_to_get_one(online, capsys):
    assert main(["data", "prepare", "--dataset", "yelp"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "yelp.com/dataset" in error and "licence" in error and "--path" in error


def test_a_truncated_download_is_one_line_and_leaves_nothing(online, monkeypatch, tmp_path,
                                                             capsys):
    fixture = raw_fixtures.beauty()
    payload = fixture.files["meta_Beauty.json.gz"]
    fixture.files["meta_Beauty.json.gz"] = payload[: len(payload) // 2]
    serve(online, monkeypatch, "amazon-beauty", fixture)
    out = tmp_path / "prepared"
    assert main(["data", "prepare", "--dataset", "amazon-beauty", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "truncated" in error
    assert not (out / "meta.json").exists()
    cache = tmp_path / "cache" / "raw" / "amazon-beauty"
    assert not any(p.name.startswith("meta_Beauty") for p in cache.iterdir())


def test_amazon_files_with_other_counts_are_refused(online, monkeypatch):
    fixture = raw_fixtures.beauty()
    serve(online, monkeypatch, "amazon-beauty", fixture)
    preset = TEXT_RICH_SOURCES["amazon-beauty"]
    monkeypatch.setitem(TEXT_RICH_SOURCES, "amazon-beauty", dataclasses.replace(
        preset, counts={**preset.counts, "interactions": 31}))
    with pytest.raises(DataError, match="30 interactions; the published split has 6, 6 and 31"):
        prepare_dataset(DataConfig(dataset="amazon-beauty", num_candidates=2))


def test_a_yelp_release_with_other_counts_is_a_warning_kept_in_meta(online, tmp_path, caplog):
    folder = tmp_path / "yelp_dataset"
    folder.mkdir()
    for name, payload in raw_fixtures.yelp().files.items():
        (folder / name).write_bytes(payload)
    with caplog.at_level(logging.WARNING):
        data = prepare_dataset(DataConfig(dataset="yelp", path=folder, num_candidates=2))
    assert "not comparable with the published figures" in caplog.text
    assert data.meta["verification"]["matches"] is False


def test_offline_without_a_copy_names_the_mirror_variable(online, monkeypatch):
    monkeypatch.setenv("UR4REC_OFFLINE", "1")
    with pytest.raises(DataError, match="UR4REC_DATA_MIRROR"):
        prepare_dataset(DataConfig(dataset="amazon-beauty", num_candidates=2))
    assert online.served.requests == []


@pytest.mark.slow
def test_with_the_mirror_set_nothing_is_downloaded(online, monkeypatch, tmp_path):
    serve(online, monkeypatch, "amazon-scientific", raw_fixtures.scientific())
    monkeypatch.setitem(TEXT_RICH_SOURCES, "amazon-scientific", dataclasses.replace(
        TEXT_RICH_SOURCES["amazon-scientific"], counts={"users": 8442, "items": 4385,
                                                        "interactions": 59384}))
    monkeypatch.setenv("UR4REC_DATA_MIRROR", str(shared_data_dir()))
    data = prepare_dataset(DataConfig(dataset="amazon-scientific"), tmp_path / "prepared")
    assert online.served.requests == []
    assert data.meta["settings"]["origin"] == "published"
    assert json.loads((tmp_path / "prepared" / "meta.json").read_text())["counts"][
        "interactions"] == 59384
    assert np.all(data.interactions["timestamp"].to_numpy() >= 0)
