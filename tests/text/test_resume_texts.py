"""A resumed (or re-evaluated) run reads the texts it imported: training and evaluation alike."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from ur4rec import api
from ur4rec.config import RunConfig, TextsConfig, load_config
from ur4rec.errors import DataError
from ur4rec.text import encode, pipeline
from ur4rec.text.io import ITEM_FILE, USER_FILE
from ur4rec.text.pipeline import texts_for_run
from ur4rec.training.trainer import Trainer

from ..conftest import synthetic_interactions
from .test_pipeline import HashEncoder

DIM = 384


@pytest.fixture(autouse=True)
def fast_encoder(tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(encode, "load_encoder", lambda location, device=None: HashEncoder())
    monkeypatch.setattr(api, "_after_training", lambda run_dir: None)


def write_texts(folder, data, word="Imported"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / USER_FILE).write_text(json.dumps(
        {str(data.user_ids[u]): f"{word} text for user {u}." for u in range(data.num_users)}))
    (folder / ITEM_FILE).write_text(json.dumps(
        {str(data.item_ids[i]): f"{word} text for item {i}."
         for i in range(1, data.num_items + 1)}))


def test_a_resume_without_llm_data_dir_reads_the_imported_texts_for_everything(tmp_path):
    log = tmp_path / "log.csv"
    synthetic_interactions(num_users=30, num_items=40, length=12).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(log, index=False)
    config = {"name": "tiny", "model": "ur4rec",
              "data": {"dataset": "tiny", "path": str(log), "num_candidates": 10,
                       "prepared_dir": str(tmp_path / "prepared")},
              "sasrec": {"hidden_dim": 16, "num_blocks": 1, "max_seq_len": 10},
              "retriever": {"output_dim": 16, "num_proxies": 2, "train_positions": 3},
              "training": {"epochs_per_stage": 1, "batch_size": 16, "device": "cpu",
                           "stages": ["pretrain_retriever"]}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    source = tmp_path / "llm"
    write_texts(source, api.prepare_data(load_config(path)))

    whole = api.train(path, tmp_path / "whole", llm_data_dir=source, progress=False)
    assert whole["texts"]["origin"] == "imported"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    run = tmp_path / "killed"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "_train_epoch", killed)
        with pytest.raises(KeyboardInterrupt):
            api.train(path, run, llm_data_dir=source, progress=False)
    resumed = api.train(path, run, resume=True, progress=False)
    texts = resumed["texts"]
    assert texts["origin"] == "imported" and texts["dir"] == str(source)
    # training reads what the uninterrupted run read: no template view behind the imports' back
    assert texts.get("training_view") == whole["texts"].get("training_view")
    assert resumed["test"] == whole["test"] and resumed["valid"] == whole["valid"]


def test_imported_texts_that_are_gone_are_not_replaced_silently(films, tmp_path, monkeypatch):
    source = tmp_path / "llm"
    write_texts(source, films)
    config = RunConfig(model="ur4rec")
    texts_for_run(config, films, tmp_path / "run", source)
    (source / USER_FILE).unlink()
    (source / ITEM_FILE).unlink()
    monkeypatch.setattr(pipeline, "generate_texts", lambda *a, **k: pytest.fail("regenerated"))
    with pytest.raises(DataError, match=rf"imported from {source}, .*pass --llm_data_dir"):
        texts_for_run(config, films, tmp_path / "run", None)


def test_a_texts_dir_import_stays_an_import_when_the_run_is_read_again(films, tmp_path):
    source = tmp_path / "mine"
    write_texts(source, films, "Mine")
    config = RunConfig(model="ur4rec", texts=TextsConfig(backend="import", dir=source))
    first = texts_for_run(config, films, tmp_path / "run", None)
    again = texts_for_run(config, films, tmp_path / "run", None)
    assert first.info["origin"] == again.info["origin"] == "imported"
    assert again.info["dir"] == str(source)
    assert np.array_equal(first.user_vectors, again.user_vectors)
