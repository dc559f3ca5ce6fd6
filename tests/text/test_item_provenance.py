"""Where imported item texts come from: item texts ur4rec writes carry the data
they were written from, whether they quote its training statistics and its cold set; a run that
imports them checks that record and flags texts that may quote what it holds out."""

from __future__ import annotations

import json

import pytest

from ur4rec.api import format_results_table
from ur4rec.config import RunConfig, TextsConfig
from ur4rec.text.io import ITEM_FILE, PROVENANCE_FILE
from ur4rec.text.pipeline import texts_for_run

from ..conftest import synthetic_interactions
from .conftest import build, film_items
from .test_io import texts_cli
from .test_pipeline import fast_encoder  # noqa: F401  (autouse: a hash encoder, a fresh cache)


@pytest.fixture
def warm_and_cold():
    """The same interactions prepared twice: all items warm, and with 20 % cold items."""
    interactions = synthetic_interactions(num_users=30, num_items=40, length=14)
    items = film_items(40)
    return build(interactions, items), build(interactions, items, cold_items=0.2)


def _generate_items(data, folder, *options: str):
    data.save(folder.parent / f"data-{folder.name}")
    assert texts_cli("generate", "--data", str(folder.parent / f"data-{folder.name}"),
                     "--only", "items", "--out", str(folder), "--no-progress", *options) == 0
    return folder


def _item_side(data, item_dir, run_dir):
    config = RunConfig(model="ur4rec", texts=TextsConfig(item_dir=item_dir))
    return texts_for_run(config, data, run_dir, None).describe()


def test_item_texts_written_on_warm_data_are_flagged_in_a_cold_run(warm_and_cold, tmp_path):
    """The issue's scenario: ``texts generate --only items`` on the warm data, then a cold run
    with ``texts.item_dir`` at it — a cold item's text quotes its held-out viewers."""
    warm, cold = warm_and_cold
    folder = _generate_items(warm, tmp_path / "warm-items")
    record = json.loads((folder / PROVENANCE_FILE).read_text())["item_texts"]
    assert record["written_from"] == warm.meta["fingerprint"]
    assert record["item_statistics"] is True and record["cold_set"] is None
    cold_item = str(cold.item_ids[int(cold.cold_items[0])])
    assert "viewer" in json.loads((folder / ITEM_FILE).read_text())[cold_item]
    info = _item_side(cold, folder, tmp_path / "run")
    items = info["sides"]["items"]
    assert items["possibly_leaking"] is True
    assert f"this run's {len(cold.cold_items)} cold items" in items["reason"]
    assert info["possibly_leaking"] is True  # → results.json "leaky"
    table = format_results_table({"model": "ur4rec", "leaky": True, "texts": info,
                                  "test": {"sampled": {}, "full": {}}})
    assert "item texts may quote held-out interactions" in table.splitlines()[0]
    assert "user texts" not in table.splitlines()[0]


def test_item_texts_of_this_data_or_without_statistics_are_clean(warm_and_cold, tmp_path):
    warm, cold = warm_and_cold
    own = _generate_items(cold, tmp_path / "cold-items")
    content_only = _generate_items(warm, tmp_path / "plain-items", "--no-item-statistics")
    for folder in (own, content_only):
        info = _item_side(cold, folder, tmp_path / f"run-{folder.name}")
        assert info["sides"]["items"]["possibly_leaking"] is False, folder
        assert info["possibly_leaking"] is False
    assert json.loads((content_only / PROVENANCE_FILE).read_text())["item_texts"][
        "item_statistics"] is False


def test_item_texts_of_unknown_origin_are_flagged_on_cold_data_only(warm_and_cold, tmp_path):
    """A file ur4rec did not write (no provenance, or one made by ``texts import``) may quote
    anything; on cold data the new items' texts are all that places them."""
    warm, cold = warm_and_cold
    folder = tmp_path / "hand-made"
    folder.mkdir()
    (folder / ITEM_FILE).write_text(json.dumps({"1": "A film everyone watched."}))
    assert _item_side(cold, folder, tmp_path / "cold-run")["sides"]["items"][
        "possibly_leaking"] is True
    assert _item_side(warm, folder, tmp_path / "warm-run")["sides"]["items"][
        "possibly_leaking"] is False
    cold.save(tmp_path / "cold-data")
    assert texts_cli("import", "--data", str(tmp_path / "cold-data"), "--items",
                     str(folder / ITEM_FILE), "--out", str(tmp_path / "imported")) == 0
    info = _item_side(cold, tmp_path / "imported", tmp_path / "imported-run")
    assert info["sides"]["items"]["written_from"] is None  # not "this data": it was only matched
    assert info["sides"]["items"]["possibly_leaking"] is True
