"""The model contract (models/base.py): the trainer and a run call only what ``Recommender``
declares, a model without a loss fails in one clear line, and the model — not the trainer —
says which parameters take weight decay."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ur4rec import api
from ur4rec.config import config_from_dict
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.models import factory
from ur4rec.models.base import Recommender, UserBatch
from ur4rec.models.sasrec import SASRec
from ur4rec.training.trainer import Trainer

from ..models.test_text_baselines import _tiny_config


class RecordingSASRec(SASRec):
    """SASRec that notes every attribute a caller looked up and the model does not have (a
    ``getattr(model, name, default)`` probe), and the hooks the trainer called."""

    probed: list[str] = []
    hooks: list[str] = []

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            RecordingSASRec.probed.append(name)
            raise

    def on_stage_start(self, stage):
        RecordingSASRec.hooks.append(f"stage {stage.name}")

    def on_epoch_start(self):
        RecordingSASRec.hooks.append("epoch")

    def on_training_end(self):
        RecordingSASRec.hooks.append("end")


def test_the_trainer_and_a_run_call_only_declared_hooks(tmp_path, monkeypatch):
    monkeypatch.setattr(factory, "SASRec", RecordingSASRec)
    monkeypatch.setattr(api, "_after_training", lambda run_dir: None)
    RecordingSASRec.probed, RecordingSASRec.hooks = [], []
    api.train(_tiny_config(tmp_path, "sasrec", epochs_per_stage=2), tmp_path / "run",
              progress=False)
    api.load_run(tmp_path / "run")
    assert RecordingSASRec.probed == []
    assert RecordingSASRec.hooks == ["stage pretrain_sasrec", "epoch", "epoch", "end"]


class LossLess(Recommender):
    """A new kind of model that scores but declares nothing about its training."""

    def __init__(self, num_items: int) -> None:
        super().__init__()
        self.table = nn.Embedding(num_items + 1, 4)

    def score_all(self, batch: UserBatch) -> torch.Tensor:
        return self.table(batch.history[:, -1]) @ self.table.weight.T


class GroupsOnly(LossLess):
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"sasrec": list(self.parameters())}


def _trainer(model, data, tmp_path):
    config = config_from_dict({"training": {"epochs_per_stage": 1, "batch_size": 8,
                                            "weight_decay": 0.1}})
    return Trainer(model, "sasrec", data, config.training, ["pretrain_sasrec"], tmp_path,
                   torch.device("cpu"), Evaluator(data, config.evaluation), progress=False)


@pytest.mark.parametrize(("model", "missing"), [(LossLess, "parameter_groups"),
                                                (GroupsOnly, "training_loss")])
def test_a_trainable_model_without_a_loss_fails_clearly(tiny_data, tmp_path, model, missing):
    with pytest.raises(NotImplementedError, match=rf"{model.__name__} is trainable but declares "
                                                  rf"no {missing}: .*models/base.py"):
        _trainer(model(tiny_data.num_items), tiny_data, tmp_path).fit()


class Exempting(SASRec):
    """SASRec that exempts its item table (a matrix) from weight decay."""

    def no_weight_decay(self) -> set[str]:
        return super().no_weight_decay() | {"encoder.item_emb.weight"}


def test_weight_decay_follows_the_models_declaration(tiny_data, tmp_path):
    from ur4rec.config import SASRecConfig

    model = Exempting(tiny_data.num_items, SASRecConfig(hidden_dim=8, max_seq_len=10))
    optimizer = _trainer(model, tiny_data, tmp_path)._optimizer(["sasrec"])
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0
               for p in g["params"]}
    names = {id(p): name for name, p in model.named_parameters()}
    decayed_names = {names[i] for i in decayed}
    assert "encoder.item_emb.weight" not in decayed_names
    assert "encoder.pos_emb.weight" in decayed_names  # another matrix: decayed
    assert not any(model.get_parameter(name).ndim < 2 for name in decayed_names)
