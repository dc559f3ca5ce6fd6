"""``training.init_from``: start a run from another run's weights (matching names and shapes)."""

from __future__ import annotations

import pytest
import torch

from ur4rec.config import SASRecConfig
from ur4rec.errors import ConfigError
from ur4rec.models.sasrec import SASRec
from ur4rec.runs.init_from import init_from, init_from_applies
from ur4rec.training.checkpoint import save_checkpoint

from .models.building import ur4rec_model


def _save(path, state, data):
    """A checkpoint as runs write them: weights and the record of the data they came from."""
    from ur4rec.training.checkpoint import data_record

    save_checkpoint(path, {"model": state, "data": data_record(data)})


def test_matching_parameters_are_loaded(tmp_path, tiny_data):
    source = SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5))
    _save(tmp_path / "best.pt", source.state_dict(), tiny_data)
    target = SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5))
    assert not torch.equal(target.item_embeddings, source.item_embeddings)
    init_from(target, tmp_path / "best.pt", tiny_data)
    for name, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[name], value), name


def test_only_parameters_left_unloaded_are_warned_about(tmp_path, tiny_data, caplog):
    source = SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5))
    state = source.state_dict()
    _save(tmp_path / "best.pt", state, tiny_data)
    # a text-score share is a buffer the plain checkpoint lacks: it keeps its configured value
    blending = SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5, text_score_share=0.3),
                      torch.randn(21, 4))
    with caplog.at_level("WARNING"):
        init_from(blending, tmp_path / "best.pt", tiny_data)
    assert not caplog.records and float(blending.text_score_share) == pytest.approx(0.3)
    state.pop("encoder.norm.weight")
    _save(tmp_path / "partial.pt", state, tiny_data)
    with caplog.at_level("WARNING"):
        init_from(SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5)), tmp_path / "partial.pt",
                  tiny_data)
    assert "1 SASRec parameters" in caplog.text and "encoder.norm.weight" in caplog.text


def test_a_checkpoint_of_another_shape_is_refused(tmp_path, tiny_data):
    source = SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5))
    _save(tmp_path / "best.pt", source.state_dict(), tiny_data)
    with pytest.raises(ConfigError, match="no parameter of"):
        init_from(SASRec(30, SASRecConfig(hidden_dim=16, max_seq_len=7)), tmp_path / "best.pt",
                   tiny_data)


def test_a_missing_checkpoint_is_named_with_its_key(tmp_path, tiny_data):
    with pytest.raises(ConfigError, match="training.init_from: checkpoint .* does not exist"):
        init_from(SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5)), tmp_path / "none.pt",
                   tiny_data)


# ---------------------------------------------------------------- the SASRec part of UR4Rec
def _ur4rec_config(**training):
    from ur4rec.config import config_from_dict

    return config_from_dict({
        "model": "ur4rec", "sasrec": {"hidden_dim": 16, "num_blocks": 1, "max_seq_len": 10},
        "retriever": {"output_dim": 16, "num_heads": 2, "num_proxies": 2, "train_positions": 3},
        "texts": {"embedding_dim": 12},
        "training": {"epochs_per_stage": 1, "batch_size": 16, "device": "cpu", **training}})


def _random_inputs(num_users, num_items, dim=12):
    import numpy as np

    from ur4rec.models.ur4rec import TextInputs

    rng = np.random.default_rng(0)
    return TextInputs(rng.normal(size=(num_users, dim)).astype("f4"),
                      rng.normal(size=(num_items + 1, dim)).astype("f4"))


def _sasrec_tensors(state):
    return {k: v for k, v in state.items() if k.startswith("sasrec.")}


def test_a_checkpoint_without_sasrec_tensors_is_refused_for_ur4rec(tmp_path, tiny_data):
    config = _ur4rec_config()
    source = ur4rec_model(20, 30, config, _random_inputs(20, 30))
    # e.g. a `model: retriever` run: its retriever tensors match, no SASRec tensor does
    retriever_only = {k: v for k, v in source.state_dict().items() if not k.startswith("sasrec.")}
    _save(tmp_path / "retriever.pt", retriever_only, tiny_data)
    target = ur4rec_model(20, 30, config, _random_inputs(20, 30))
    with pytest.raises(ConfigError, match=r"training.init_from: no parameter of .*retriever\.pt "
                                          r"matches this model's SASRec \(sasrec\.\*\) tensors"):
        init_from(target, tmp_path / "retriever.pt", tiny_data)


def test_sasrec_tensors_of_another_shape_are_refused_for_ur4rec(tmp_path, tiny_data):
    source = ur4rec_model(20, 30, _ur4rec_config(), _random_inputs(20, 30))
    _save(tmp_path / "best.pt", source.state_dict(), tiny_data)
    wider = _ur4rec_config()
    wider.sasrec.hidden_dim = 32  # every sasrec.* tensor differs in shape; the rest matches
    target = ur4rec_model(20, 30, wider, _random_inputs(20, 30))
    with pytest.raises(ConfigError, match="training.init_from: no parameter of"):
        init_from(target, tmp_path / "best.pt", tiny_data)


def test_init_from_applies_unless_the_run_resumes_from_last_pt(tmp_path):
    assert init_from_applies(tmp_path, resume=False)
    assert init_from_applies(tmp_path, resume=True)  # killed before the first last.pt
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"")
    assert not init_from_applies(tmp_path, resume=True)
    assert init_from_applies(tmp_path, resume=False)  # a fresh run ignores an old last.pt


def test_a_run_killed_in_its_first_epoch_resumes_from_the_init_from_weights(tmp_path,
                                                                           monkeypatch):
    import yaml

    from ur4rec import api
    from ur4rec.runs import pipeline
    from ur4rec.runs.inputs import ModelInputs
    from ur4rec.training.checkpoint import load_checkpoint
    from ur4rec.training.trainer import Trainer

    from .conftest import synthetic_interactions

    monkeypatch.setattr(api, "_after_training", lambda run_dir: None)
    monkeypatch.setattr(pipeline, "model_inputs", lambda config, data, run_dir, llm_data_dir:
                        ModelInputs(None, _random_inputs(data.num_users, data.num_items)))
    log = tmp_path / "log.csv"
    synthetic_interactions(num_users=30, num_items=40, length=12).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(log, index=False)
    # SASRec trained elsewhere; this run only trains the retriever, so SASRec keeps those weights
    config = _ur4rec_config(stages=["pretrain_retriever"], init_from=str(tmp_path / "sasrec.pt"))
    config.data = config.data.model_copy(update={
        "dataset": "tiny", "path": log, "num_candidates": 10,
        "prepared_dir": tmp_path / "prepared"})
    data = api.prepare_data(config)
    torch.manual_seed(123)
    source = ur4rec_model(data.num_users, data.num_items, config,
                          _random_inputs(data.num_users, data.num_items))
    _save(tmp_path / "sasrec.pt", source.state_dict(), data)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_train_epoch", killed)
        with pytest.raises(KeyboardInterrupt):
            api.train(path, run, progress=False)
    assert not (run / "checkpoints" / "last.pt").exists()
    api.train(path, run, resume=True, progress=False)
    final = _sasrec_tensors(load_checkpoint(run / "checkpoints" / "final.pt")["model"])
    expected = _sasrec_tensors(source.state_dict())
    assert final.keys() == expected.keys() and final
    for name, value in expected.items():
        assert torch.equal(final[name], value), name


def test_a_plain_sasrec_checkpoint_initialises_the_sasrec_branch_of_ur4rec(tmp_path, tiny_data):
    config = _ur4rec_config()
    plain = SASRec(30, config.sasrec)
    _save(tmp_path / "sasrec.pt", plain.state_dict(), tiny_data)
    target = ur4rec_model(20, 30, config, _random_inputs(20, 30))
    init_from(target, tmp_path / "sasrec.pt", tiny_data)
    for name, value in plain.state_dict().items():
        assert torch.equal(target.state_dict()["sasrec." + name], value), name


# ---------------------------------------------------------------- the data a checkpoint is from
def _sasrec_run_config(tmp_path, log, **data):
    """A tiny SASRec run on ``log``; ``data`` overrides the data section (e.g. cold_items)."""
    import yaml

    config = {"name": "tiny", "model": "sasrec",
              "data": {"dataset": "tiny", "path": str(log), "num_candidates": 10,
                       "prepared_dir": str(tmp_path / f"prepared_{len(data)}"), **data},
              "sasrec": {"hidden_dim": 16, "num_blocks": 1, "max_seq_len": 10},
              "training": {"epochs_per_stage": 1, "batch_size": 16, "device": "cpu"}}
    path = tmp_path / f"sasrec_{len(data)}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def warm_checkpoint(tmp_path, monkeypatch):
    """A SASRec trained with every item warm (the scenario of checkpoint.check_init_from_data), and its log."""
    from ur4rec import api

    from .conftest import synthetic_interactions

    monkeypatch.setattr(api, "_after_training", lambda run_dir: None)
    log = tmp_path / "log.csv"
    synthetic_interactions(num_users=60, num_items=40, length=14).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(log, index=False)
    api.train(_sasrec_run_config(tmp_path, log), tmp_path / "warm", progress=False)
    return tmp_path / "warm" / "checkpoints" / "final.pt", log


def test_a_checkpoint_of_all_warm_items_cannot_start_a_cold_item_run(tmp_path, warm_checkpoint):
    from ur4rec import api

    checkpoint, log = warm_checkpoint
    cold = _sasrec_run_config(tmp_path, log, cold_items=0.2)
    with pytest.raises(ConfigError, match=r"training.init_from: .*final\.pt was trained on "
                                          r"prepared data \w+ \(0 cold items\), this run's is "
                                          r"\w+ \(8 cold items\)"):
        api.train(cold, tmp_path / "cold", progress=False,
                  overrides={"training.init_from": str(checkpoint)})
    # the override allows another dataset only when none of this run's cold items was trained
    with pytest.raises(ConfigError, match=r"8 of this run's 8 cold items .* were trained by"):
        api.train(cold, tmp_path / "cold_override", progress=False,
                  overrides={"training.init_from": str(checkpoint),
                             "training.init_from_other_data": True})


def test_a_checkpoint_of_the_same_data_starts_a_run_as_before(tmp_path, warm_checkpoint):
    from ur4rec import api

    checkpoint, log = warm_checkpoint  # benchmarks share one SASRec this way across runs
    results = api.train(_sasrec_run_config(tmp_path, log), tmp_path / "again", progress=False,
                        overrides={"training.init_from": str(checkpoint)})
    assert results["test"]


def test_another_dataset_is_allowed_only_with_the_override_and_no_trained_cold_item(
        tmp_path, warm_checkpoint):
    from ur4rec import api

    _, log = warm_checkpoint
    api.train(_sasrec_run_config(tmp_path, log, cold_items=0.2), tmp_path / "cold",
              progress=False)
    checkpoint = tmp_path / "cold" / "checkpoints" / "final.pt"
    # other prepared data (other candidates), the same cold items: none of them was trained
    other = _sasrec_run_config(tmp_path, log, cold_items=0.2, num_candidates=8)
    with pytest.raises(ConfigError, match="training.init_from_other_data: true"):
        api.train(other, tmp_path / "refused", progress=False,
                  overrides={"training.init_from": str(checkpoint)})
    results = api.train(other, tmp_path / "allowed", progress=False,
                        overrides={"training.init_from": str(checkpoint),
                                   "training.init_from_other_data": True})
    assert results["cold"]["cold_items"] == 8


def test_a_checkpoint_that_does_not_record_its_data_is_refused(tmp_path, tiny_data):
    source = SASRec(tiny_data.num_items, SASRecConfig(hidden_dim=8, max_seq_len=5))
    save_checkpoint(tmp_path / "old.pt", {"model": source.state_dict()})  # an older run's
    target = SASRec(tiny_data.num_items, SASRecConfig(hidden_dim=8, max_seq_len=5))
    with pytest.raises(ConfigError, match=r"old\.pt does not record the data it was trained on.*"
                                          r"train that run again"):
        init_from(target, tmp_path / "old.pt", tiny_data)
