"""``training.init_from``: start a run from another run's weights (matching names and shapes)."""

from __future__ import annotations

import pytest
import torch

from ur4rec.api import _init_from
from ur4rec.config import SASRecConfig
from ur4rec.errors import ConfigError
from ur4rec.models.sasrec import SASRec
from ur4rec.training.checkpoint import save_checkpoint


def test_matching_parameters_are_loaded(tmp_path):
    source = SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5))
    save_checkpoint(tmp_path / "best.pt", {"model": source.state_dict()})
    target = SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5))
    assert not torch.equal(target.item_embeddings, source.item_embeddings)
    _init_from(target, tmp_path / "best.pt")
    for name, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[name], value), name


def test_a_checkpoint_of_another_shape_is_refused(tmp_path):
    source = SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5))
    save_checkpoint(tmp_path / "best.pt", {"model": source.state_dict()})
    with pytest.raises(ConfigError, match="no parameter of"):
        _init_from(SASRec(30, SASRecConfig(hidden_dim=16, max_seq_len=7)), tmp_path / "best.pt")


def test_a_missing_checkpoint_is_named_with_its_key(tmp_path):
    with pytest.raises(ConfigError, match="training.init_from: checkpoint .* does not exist"):
        _init_from(SASRec(20, SASRecConfig(hidden_dim=8, max_seq_len=5)), tmp_path / "none.pt")


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


def test_a_checkpoint_without_sasrec_tensors_is_refused_for_ur4rec(tmp_path):
    from ur4rec.models.ur4rec import UR4Rec

    config = _ur4rec_config()
    source = UR4Rec(20, 30, config, _random_inputs(20, 30))
    # e.g. a `model: retriever` run: its retriever tensors match, no SASRec tensor does
    retriever_only = {k: v for k, v in source.state_dict().items() if not k.startswith("sasrec.")}
    save_checkpoint(tmp_path / "retriever.pt", {"model": retriever_only})
    target = UR4Rec(20, 30, config, _random_inputs(20, 30))
    with pytest.raises(ConfigError, match=r"training.init_from: no parameter of .*retriever\.pt "
                                          r"matches this model's SASRec \(sasrec\.\*\) tensors"):
        _init_from(target, tmp_path / "retriever.pt")


def test_sasrec_tensors_of_another_shape_are_refused_for_ur4rec(tmp_path):
    from ur4rec.models.ur4rec import UR4Rec

    source = UR4Rec(20, 30, _ur4rec_config(), _random_inputs(20, 30))
    save_checkpoint(tmp_path / "best.pt", {"model": source.state_dict()})
    wider = _ur4rec_config()
    wider.sasrec.hidden_dim = 32  # every sasrec.* tensor differs in shape; the rest matches
    target = UR4Rec(20, 30, wider, _random_inputs(20, 30))
    with pytest.raises(ConfigError, match="training.init_from: no parameter of"):
        _init_from(target, tmp_path / "best.pt")


def test_init_from_applies_unless_the_run_resumes_from_last_pt(tmp_path):
    from ur4rec.api import _init_from_applies

    assert _init_from_applies(tmp_path, resume=False)
    assert _init_from_applies(tmp_path, resume=True)  # killed before the first last.pt
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"")
    assert not _init_from_applies(tmp_path, resume=True)
    assert _init_from_applies(tmp_path, resume=False)  # a fresh run ignores an old last.pt


def test_a_run_killed_in_its_first_epoch_resumes_from_the_init_from_weights(tmp_path,
                                                                           monkeypatch):
    import yaml

    from ur4rec import api
    from ur4rec.models.ur4rec import UR4Rec
    from ur4rec.training.checkpoint import load_checkpoint
    from ur4rec.training.trainer import Trainer

    from .conftest import synthetic_interactions

    monkeypatch.setattr(api, "_after_training", lambda run_dir: None)
    monkeypatch.setattr(api, "_model_inputs", lambda config, data, run_dir, llm_data_dir: (
        None, _random_inputs(data.num_users, data.num_items)))
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
    source = UR4Rec(data.num_users, data.num_items, config,
                    _random_inputs(data.num_users, data.num_items))
    save_checkpoint(tmp_path / "sasrec.pt", {"model": source.state_dict()})
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


def test_a_plain_sasrec_checkpoint_initialises_the_sasrec_branch_of_ur4rec(tmp_path):
    from ur4rec.models.ur4rec import UR4Rec

    config = _ur4rec_config()
    plain = SASRec(30, config.sasrec)
    save_checkpoint(tmp_path / "sasrec.pt", {"model": plain.state_dict()})
    target = UR4Rec(20, 30, config, _random_inputs(20, 30))
    _init_from(target, tmp_path / "sasrec.pt")
    for name, value in plain.state_dict().items():
        assert torch.equal(target.state_dict()["sasrec." + name], value), name
