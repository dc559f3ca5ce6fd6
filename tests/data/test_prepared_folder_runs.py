"""A prepared folder runs under any model preset: ``--data_dir`` decides the data.

The newcomer's path: prepare your own files once, then take a preset's model settings —
``ur4rec train --config sasrec_ml100k --data_dir prep`` — without writing a data section."""

from __future__ import annotations

import json

import pytest

from ur4rec.cli import main
from ur4rec.config import DataConfig
from ur4rec.data.prepared import data_config_of, prepare_dataset
from ur4rec.errors import DataError

from ..conftest import synthetic_interactions

TINY = ["--epochs_per_stage", "1", "--set", "sasrec.hidden_dim=8", "--set", "sasrec.max_seq_len=10",
        "--no-progress"]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def prepared(tmp_path):
    """``ur4rec data prepare --dataset beauty --path inter.csv --out prep``: the user's files."""
    inter = tmp_path / "inter.csv"
    synthetic_interactions(num_users=25, num_items=150, length=8).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(inter, index=False)
    folder = tmp_path / "prep"
    assert main(["data", "prepare", "--dataset", "beauty", "--path", str(inter),
                 "--out", str(folder)]) == 0
    return folder


def test_a_model_preset_trains_on_a_folder_prepared_from_own_files(prepared, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["--quiet", "train", "--config", "sasrec_ml100k", "--data_dir", str(prepared),
                 "--output_dir", str(run), *TINY]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["dataset"]["name"] == "beauty" and results["dataset"]["users"] == 25
    # the run records the data it used, so evaluate and --resume read the same folder's data
    assert "dataset: beauty" in (run / "config.yaml").read_text()
    assert main(["--quiet", "evaluate", str(run)]) == 0


def test_a_data_setting_asked_for_on_purpose_that_the_folder_lacks_is_one_line(
        prepared, tmp_path, capsys):
    code = main(["--quiet", "train", "--config", "sasrec_ml100k", "--data_dir", str(prepared),
                 "--output_dir", str(tmp_path / "run"), "--set", "data.cold_items=0.1", *TINY])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1
    assert "data.cold_items" in error and "0.1" in error and "prepared with 0.0" in error


def test_the_folder_records_its_data_section_with_absolute_paths(prepared):
    recorded = data_config_of(prepared)
    assert recorded is not None and recorded.dataset == "beauty"
    assert recorded.path.is_absolute() and recorded.path.name == "inter.csv"


def test_other_settings_are_named_one_by_one(prepared):
    config = data_config_of(prepared).model_copy(update={"min_item_interactions": 2})
    with pytest.raises(DataError, match=r"min_item_interactions: 2 asked for, 1 there"):
        prepare_dataset(DataConfig.model_validate(config.model_dump()), prepared)
