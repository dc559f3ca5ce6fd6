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
