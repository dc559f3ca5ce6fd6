"""Texts cached from one version of a data file are never read as another's.

The scenario of the issue: prepare, write template user texts, cut the last two interactions of
every user in the file, prepare again (with ``--force`` and without): the old texts named what
are now each user's validation and test items, so they must be written again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ur4rec.cli import main
from ur4rec.config import DataConfig, RunConfig, TextsConfig
from ur4rec.data.prepared import PreparedData, prepare_dataset
from ur4rec.errors import DataError
from ur4rec.text import encode
from ur4rec.text.io import USER_FILE, read_texts_file
from ur4rec.text.pipeline import texts_for_run

from .test_pipeline import HashEncoder

USERS, ITEMS, LENGTH = 30, 60, 12


@pytest.fixture(autouse=True)
def fast_encoder(tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(encode, "load_encoder", lambda location, device=None: HashEncoder())


def title(item: int) -> str:
    return f"Quoxel {item:03d} Story"


def write_files(folder: Path) -> tuple[pd.DataFrame, Path, Path]:
    """Each user rates LENGTH distinct films 5 (so the last ones are "recent favourites")."""
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", str(item), 1_000 + 10 * k, 5.0)
            for u in range(USERS)
            for k, item in enumerate(rng.choice(np.arange(1, ITEMS + 1), LENGTH, replace=False))]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    path, items = folder / "a.csv", folder / "items.csv"
    frame.to_csv(path, index=False)
    pd.DataFrame({"item_id": range(1, ITEMS + 1), "title": [title(i) for i in range(1, ITEMS + 1)],
                  "genres": "Drama|Comedy"}).to_csv(items, index=False)
    return frame, path, items


def cut_last_two(frame: pd.DataFrame, path: Path) -> None:
    frame.groupby("user_id", sort=False).head(LENGTH - 2).to_csv(path, index=False)


def names_a_held_out_item(data: PreparedData, texts: list[str]) -> list[str]:
    """Users whose text names their own validation or test item by title."""
    titles = dict(zip(data.items["item_idx"], data.items["title"], strict=True))
    return [str(data.user_ids[u]) for u in range(data.num_users)
            if titles[int(data.valid_targets[u])] in texts[u]
            or titles[int(data.test_targets[u])] in texts[u]]


@pytest.mark.parametrize("force", [True, False])
def test_cached_user_texts_of_the_old_file_are_not_reused(tmp_path, force):
    frame, path, items = write_files(tmp_path)
    config = DataConfig(dataset="mine", path=path, item_metadata=items, num_candidates=10,
                        columns={"rating": "rating"})
    run_config = RunConfig(model="ur4rec", data=config, texts=TextsConfig())
    old = prepare_dataset(config)
    first = texts_for_run(run_config, old, tmp_path / "run1", None)
    assert first.info["origin"] == "generated"
    cut_last_two(frame, path)
    new = prepare_dataset(config, force=force)
    assert len(new.interactions) == USERS * (LENGTH - 2)
    # what the issue saw: the old texts name every user's new validation or test item
    assert len(names_a_held_out_item(new, first.user_texts)) == USERS
    second = texts_for_run(run_config, new, tmp_path / "run2", None)
    assert second.info["origin"] == "generated"
    assert second.info["fingerprint"] == new.meta["fingerprint"] != old.meta["fingerprint"]
    assert second.info["possibly_leaking"] is False
    assert names_a_held_out_item(new, second.user_texts) == []
    # the embedding cache is keyed on the text itself (sha256), so it is content-safe: each
    # vector is the encoding of the text that is read now
    expected = HashEncoder().encode(second.user_texts)
    np.testing.assert_array_equal(second.user_vectors, expected)


def test_texts_generate_into_the_same_folder_refuses_other_data(tmp_path, capsys):
    """`ur4rec texts generate --out DIR` on the edited data does not pass the old texts off as
    the new data's: it refuses (one line) without --force, and writes new ones with it."""
    frame, path, items = write_files(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{dataset: mine, path: {path}, item_metadata: {items}, "
                      "num_candidates: 10, columns: {rating: rating}}\n", encoding="utf-8")
    out = tmp_path / "texts"
    generate = ["texts", "generate", "--config", str(config), "--out", str(out)]
    assert main(generate) == 0
    cut_last_two(frame, path)
    capsys.readouterr()
    assert main(generate) == 2
    assert "already holds texts" in capsys.readouterr().err
    assert main([*generate, "--force"]) == 0
    new = prepare_dataset(DataConfig(dataset="mine", path=path, item_metadata=items,
                                     num_candidates=10, columns={"rating": "rating"}))
    written = read_texts_file(out / USER_FILE)
    texts = [written[str(user)] for user in new.user_ids]
    assert names_a_held_out_item(new, texts) == []


def test_an_explicit_texts_dir_written_from_the_old_file_is_refused(tmp_path):
    frame, path, items = write_files(tmp_path)
    config = DataConfig(dataset="mine", path=path, item_metadata=items, num_candidates=10,
                        columns={"rating": "rating"})
    run_config = RunConfig(model="ur4rec", data=config, texts=TextsConfig(dir=tmp_path / "t"))
    texts_for_run(run_config, prepare_dataset(config), tmp_path / "run1", None)
    cut_last_two(frame, path)
    with pytest.raises(DataError, match="holds texts written from other data"):
        texts_for_run(run_config, prepare_dataset(config), tmp_path / "run2", None)
