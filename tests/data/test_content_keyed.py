"""A prepared folder is keyed on the content of its inputs, not only on the
settings — an edited file is prepared again, every time, and the user is told which file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from ur4rec import api
from ur4rec.cli import main
from ur4rec.config import DataConfig
from ur4rec.data import prepared
from ur4rec.data.prepared import (
    PreparedData,
    default_prepared_dir,
    effective_settings,
    fingerprint,
    prepare_dataset,
)

from ..conftest import synthetic_interactions


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))


def thousand_rows(path: Path) -> pd.DataFrame:
    """100 users × 10 distinct items of 200, written as a CSV of exactly 1,000 rows."""
    frame = synthetic_interactions(num_users=100, num_items=200, length=10).rename(
        columns={"user": "user_id", "item": "item_id"})
    assert len(frame) == 1000
    frame.to_csv(path, index=False)
    return frame


def prepare_cli(path: Path, capsys, *extra: str) -> dict:
    assert main(["data", "prepare", "--dataset", "mine", "--path", str(path), *extra]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_cut_csv_is_prepared_again_with_the_same_command(tmp_path, capsys, caplog):
    path = tmp_path / "a.csv"
    frame = thousand_rows(path)
    first = prepare_cli(path, capsys)
    assert first["interactions"] == 1000
    frame.iloc[:500].to_csv(path, index=False)
    with caplog.at_level(logging.WARNING):
        second = prepare_cli(path, capsys)
    assert second["interactions"] == 500 and second["users"] == 50
    assert second["folder"] == first["folder"]  # the same cache folder, prepared again
    said = [r.getMessage() for r in caplog.records if "changed since" in r.getMessage()]
    assert len(said) == 1 and str(path) in said[0] and "preparing again" in said[0]
    # and again: unchanged now, so the folder is read, not rebuilt, and nothing is said
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert prepare_cli(path, capsys)["interactions"] == 500
    assert not [r for r in caplog.records if "changed since" in r.getMessage()]


def test_an_explicit_folder_with_an_older_preparation_is_prepared_again(tmp_path, caplog):
    path = tmp_path / "a.csv"
    frame = thousand_rows(path)
    config = DataConfig(dataset="mine", path=path)
    first = prepare_dataset(config, tmp_path / "out")
    frame.iloc[:500].to_csv(path, index=False)
    with caplog.at_level(logging.WARNING):
        second = prepare_dataset(config, tmp_path / "out")
    assert len(second.interactions) == 500
    assert len(PreparedData.load(tmp_path / "out").interactions) == 500
    assert second.meta["fingerprint"] != first.meta["fingerprint"]
    assert any("changed since" in r.getMessage() and str(tmp_path / "out") in r.getMessage()
               for r in caplog.records)


def test_an_edited_item_metadata_file_is_prepared_again(tmp_path, caplog):
    path = tmp_path / "a.csv"
    thousand_rows(path)
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\n1,Old Title\n", encoding="utf-8")
    config = DataConfig(dataset="mine", path=path, item_metadata=items)
    first = prepare_dataset(config)
    assert first.items.set_index("item").loc["1", "title"] == "Old Title"
    items.write_text("item_id,title\n1,New Title\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        second = prepare_dataset(config)
    assert second.items.set_index("item").loc["1", "title"] == "New Title"
    assert second.folder == first.folder
    assert second.meta["fingerprint"] != first.meta["fingerprint"]
    assert any(str(items) in r.getMessage() for r in caplog.records)


def test_an_edited_recbole_file_is_prepared_again(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    frame = synthetic_interactions(num_users=20, num_items=40, length=8)

    def write(rows: pd.DataFrame) -> None:
        lines = ["user_id:token\titem_id:token\ttimestamp:float"]
        lines += [f"{u}\t{i}\t{t}" for u, i, t in rows[["user", "item", "timestamp"]].to_numpy()]
        (folder / "toy.inter").write_text("\n".join(lines) + "\n", encoding="utf-8")

    write(frame)
    config = DataConfig(dataset="toy", path=folder, num_candidates=5)
    assert len(prepare_dataset(config).interactions) == len(frame)
    write(frame.iloc[:80])
    assert len(prepare_dataset(config).interactions) == 80


def test_unchanged_inputs_reuse_the_folder_without_loading_them(tmp_path, monkeypatch):
    path = tmp_path / "a.csv"
    thousand_rows(path)
    config = DataConfig(dataset="mine", path=path)
    first = prepare_dataset(config)
    monkeypatch.setattr(prepared, "load_raw", lambda *a: pytest.fail("prepared again"))
    again = prepare_dataset(config)
    assert again.meta["fingerprint"] == first.meta["fingerprint"]


def test_a_folder_without_a_content_record_is_prepared_again(tmp_path, caplog):
    """A folder an older ur4rec prepared records no checksum of its input: it cannot be
    trusted to hold this file's data, so it is prepared again (and the user told why)."""
    path = tmp_path / "a.csv"
    thousand_rows(path)
    config = DataConfig(dataset="mine", path=path)
    folder = prepare_dataset(config).folder
    meta = json.loads((folder / "meta.json").read_text())
    del meta["content"]
    meta["fingerprint"] = fingerprint(effective_settings(config))
    (folder / "meta.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        again = prepare_dataset(config)
    assert "content" in again.meta
    assert any("records no checksum" in r.getMessage() for r in caplog.records)


def test_a_missing_input_with_a_prepared_folder_is_used_with_a_warning(tmp_path, caplog):
    path = tmp_path / "a.csv"
    thousand_rows(path)
    config = DataConfig(dataset="mine", path=path)
    first = prepare_dataset(config)
    path.unlink()
    with caplog.at_level(logging.WARNING):
        again = prepare_dataset(config)
    assert again.meta["fingerprint"] == first.meta["fingerprint"]
    assert any("cannot be checked" in r.getMessage() for r in caplog.records)


def test_presets_keep_their_settings_fingerprint():
    """ML-100K is verified against its known checksums on every load: the settings identify
    its content, so preset fingerprints (and every cache named by them) stay as they were."""
    config = DataConfig(dataset="ml-100k")
    settings = effective_settings(config)
    assert prepared.content_identity(config, settings) == {}
    assert fingerprint(settings, {}) == fingerprint(settings)
    assert default_prepared_dir(config).name == "ml-100k-8609f91a4561"


def test_a_run_is_not_evaluated_on_an_edited_file(tmp_path, monkeypatch, capsys, caplog):
    """The run records the fingerprint of the data it was trained on, so `ur4rec evaluate`
    refuses (one line) instead of scoring other data — before preparing anything, so the
    folder still holds the run's data."""
    monkeypatch.setattr("ur4rec.api._after_training", lambda run_dir: None)
    path = tmp_path / "a.csv"
    frame = thousand_rows(path)
    config = tmp_path / "pop.yaml"
    config.write_text(f"model: pop\ndata: {{dataset: mine, path: {path}}}\n", encoding="utf-8")
    api.train(config, tmp_path / "run", progress=False)
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    frame.iloc[:-1].to_csv(path, index=False)  # one interaction less
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "was made from data with fingerprint" in err and len(err.strip().splitlines()) == 1
    folder = json.loads((tmp_path / "run" / "run.json").read_text())["prepared_dir"]
    assert len(PreparedData.load(Path(folder)).interactions) == 1000
    frame.to_csv(path, index=False)  # restored: the run is evaluated again
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    # a run of an older ur4rec recorded the settings' fingerprint: said, not refused
    info_path = tmp_path / "run" / "run.json"
    info = json.loads(info_path.read_text())
    info["data_fingerprint"] = fingerprint(effective_settings(DataConfig(dataset="mine",
                                                                         path=path)))
    info_path.write_text(json.dumps(info))
    with caplog.at_level(logging.WARNING):
        assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert any("records only the settings" in r.getMessage() for r in caplog.records)
