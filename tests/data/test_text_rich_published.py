"""The text-rich presets from the published files (../shared/data): the published split exactly."""

from __future__ import annotations

import html
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from ur4rec.config import DataConfig
from ur4rec.data.prepared import effective_settings, fingerprint, prepare_dataset
from ur4rec.errors import DataError

from ..conftest import shared_data_dir

pytestmark = pytest.mark.slow


def original_sequences(data) -> list[list[str]]:
    return [[str(data.item_ids[i]) for i in seq] for seq in data.sequences]


def by_user(data) -> dict[str, list[str]]:
    return dict(zip(map(str, data.user_ids), original_sequences(data), strict=True))


def test_beauty_is_the_p5_split_with_its_titles(beauty):
    assert beauty.summary() == {"name": "amazon-beauty", "users": 22363, "items": 12101,
                                "interactions": 198502}
    lines = (shared_data_dir() / "amazon-beauty-2014" / "user_sequence.txt").read_text().split("\n")
    published = {fields[0]: fields[1:] for fields in map(str.split, lines) if fields}
    assert by_user(beauty) == published  # stored order kept: test = last, valid = second-to-last
    assert beauty.meta["domain"] == "product" and beauty.meta["settings"]["origin"] == "published"
    assert "timestamp = position within the user's sequence" in beauty.meta["split_rule"]
    assert all(np.array_equal(stamps, np.arange(len(stamps))) for stamps in beauty.timestamps[:50])
    # the published join (global_product_id, not the CSV's row number) equals items.tsv's
    joined = pd.read_csv(shared_data_dir() / "amazon-beauty-2014" / "items.tsv", sep="\t",
                         dtype=str, keep_default_na=False)
    titles = dict(zip(beauty.items["item"], beauty.items["title"].fillna(""), strict=True))
    assert titles == {asin: " ".join(html.unescape(title).split())
                      for asin, title in zip(joined["asin"], joined["title"], strict=True)}
    assert sum(not title for title in titles.values()) == 7


def test_scientific_targets_are_those_of_its_test_and_valid_files(scientific):
    assert scientific.summary() == {"name": "amazon-scientific", "users": 8442, "items": 4385,
                                    "interactions": 59384}
    folder = shared_data_dir() / "amazon-scientific-2018"
    asin = dict(line.split("\t")[::-1] for line in
                (folder / "Scientific.item2index").read_text().splitlines())
    user = dict(line.split("\t")[::-1] for line in
                (folder / "Scientific.user2index").read_text().splitlines())
    index = {str(u): k for k, u in enumerate(scientific.user_ids)}
    for part, targets in (("test", scientific.test_targets), ("valid", scientific.valid_targets)):
        rows = [line.split("\t") for line in
                (folder / f"Scientific.{part}.inter").read_text().splitlines()[1:]]
        assert len(rows) == scientific.num_users
        for user_id, _, target in rows:
            assert scientific.item_ids[targets[index[user[user_id]]]] == asin[target]
    item = scientific.items.set_index("item").loc["B0000223SI"]
    assert item["title"].startswith("PORTER-CABLE 740000801") and item["brand"] == "PORTER-CABLE"
    assert list(item["categories"]) == [
        "Industrial & Scientific", "Abrasive & Finishing Products Manual Sanding Products "
        "Sanding Rolls"]


def test_yelp_keeps_repeat_visits_and_the_published_order(yelp):
    assert yelp.summary() == {"name": "yelp", "users": 30431, "items": 20033,
                              "interactions": 316354}
    pairs = yelp.interactions[["user_idx", "item_idx"]].drop_duplicates()
    assert len(yelp.interactions) - len(pairs) == 11830
    folder = shared_data_dir() / "yelp-2019"
    maps = json.loads((folder / "p5_datamaps.json").read_text())
    published = {maps["id2user"][f[0]]: [maps["id2item"][i] for i in f[1:]] for f in
                 map(str.split, (folder / "sequential_data.txt").read_text().splitlines())}
    assert by_user(yelp) == published
    joined = pd.read_csv(folder / "items.tsv", sep="\t", dtype=str, keep_default_na=False)
    items = yelp.items.set_index("item").loc[joined["business_id"]]
    assert items["title"].tolist() == [" ".join(html.unescape(n).split()) for n in joined["name"]]
    assert [", ".join(c) for c in items["categories"]] == joined["categories"].tolist()


def test_a_folder_given_by_path_is_the_mirrors_data(scientific, tmp_path, monkeypatch):
    monkeypatch.delenv("UR4REC_DATA_MIRROR", raising=False)
    config = DataConfig(dataset="amazon-scientific",
                        path=shared_data_dir() / "amazon-scientific-2018")
    assert fingerprint(effective_settings(config)) == scientific.meta["fingerprint"]
    data = prepare_dataset(config, tmp_path / "prepared")
    assert original_sequences(data) == original_sequences(scientific)
    assert np.array_equal(data.test_candidates, scientific.test_candidates)


def test_a_changed_published_copy_is_refused(tmp_path):
    folder = tmp_path / "amazon-scientific-2018"
    shutil.copytree(shared_data_dir() / "amazon-scientific-2018", folder)
    text = (folder / "Scientific.test.inter").read_text()
    (folder / "Scientific.test.inter").write_text(text.replace("\t13\n", "\t14\n", 1))
    with pytest.raises(DataError, match="Scientific.test.inter has sha256 .* not the published"):
        prepare_dataset(DataConfig(dataset="amazon-scientific", path=folder), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_folder_without_the_files_names_what_it_expected(tmp_path):
    with pytest.raises(DataError, match="neither the published files of yelp .* nor its raw"):
        prepare_dataset(DataConfig(dataset="yelp", path=tmp_path))
