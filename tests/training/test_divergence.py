"""A diverged epoch is never validated, never saved as best, and never ends a run quietly."""

from __future__ import annotations

import json

import pytest
import torch

from ur4rec.cli import main
from ur4rec.config import config_from_dict
from ur4rec.errors import TrainingDiverged
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.models.sasrec import SASRec
from ur4rec.training.trainer import Trainer

from ..test_cli import tiny_config


class PoisonedSASRec(SASRec):
    """Goes NaN at the start of epoch ``poison_at`` (1-based) — a stand-in for a huge step."""

    def __init__(self, *args, poison_at: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.poison_at = poison_at
        self.epochs_started = 0

    def on_epoch_start(self) -> None:
        self.epochs_started += 1
        if self.epochs_started == self.poison_at:
            with torch.no_grad():
                self.item_embeddings.fill_(float("nan"))


def _config(**training):
    return config_from_dict({"model": "sasrec", "sasrec": {"hidden_dim": 16, "max_seq_len": 12},
                             "training": {"epochs_per_stage": 4, "patience": 10,
                                          "batch_size": 8, **training}})


def _rows(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("policy", ["fail", "stop_stage"])
def test_diverged_epoch_is_logged_not_validated_and_best_restored(tiny_data, tmp_path, policy):
    config = _config(on_divergence=policy)
    model = PoisonedSASRec(tiny_data.num_items, config.sasrec, poison_at=3)
    trainer = Trainer(model, "sasrec", tiny_data, config, tmp_path, torch.device("cpu"),
                      Evaluator(tiny_data, config.evaluation), progress=False)
    if policy == "fail":
        with pytest.raises(TrainingDiverged, match=r"stage pretrain_sasrec, epoch 3.*lr sasrec"):
            trainer.fit()
    else:
        trainer.fit()
    rows = _rows(tmp_path)
    assert [r.get("diverged", False) for r in rows] == [False, False, True]
    assert rows[-1]["valid"] == {} and rows[-1]["best"] is False
    # the model ends at the last finite best, never at the NaN weights
    assert all(torch.isfinite(p).all() for p in model.parameters())
    best = torch.load(tmp_path / "checkpoints" / "best_pretrain_sasrec.pt", weights_only=False)
    assert all(torch.isfinite(t).all() for t in best["model"].values() if t.is_floating_point())
    assert best["epoch"] in (0, 1)


def test_nan_learning_rate_run_exits_nonzero_in_one_line_and_diagnose_flags_it(tmp_path, capsys):
    config = tiny_config(tmp_path, sasrec_lr=1e30, loss="ce", epochs_per_stage=3)
    run_dir = tmp_path / "run"
    code = main(["--quiet", "train", "--config", str(config), "--output_dir", str(run_dir),
                 "--set", "training.grad_clip=null"])
    err = capsys.readouterr().err
    assert code == 2
    assert "training diverged in stage pretrain_sasrec, epoch" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (run_dir / "results.json").exists()
    assert main(["diagnose", str(run_dir)]) in (0, 1)
    out = capsys.readouterr().out
    assert "Learning rate too high" in out


def test_a_best_checkpoint_left_by_another_run_is_never_restored(tiny_data, tmp_path):
    # a run into a used folder restored the other run's best as its own
    config = _config(on_divergence="stop_stage")
    other = SASRec(tiny_data.num_items, config.sasrec)
    Trainer(other, "sasrec", tiny_data, config, tmp_path, torch.device("cpu"),
            Evaluator(tiny_data, config.evaluation), progress=False)._save_model(
        tmp_path / "checkpoints" / "best_pretrain_sasrec.pt")
    model = PoisonedSASRec(tiny_data.num_items, config.sasrec, poison_at=1)
    trainer = Trainer(model, "sasrec", tiny_data, config, tmp_path, torch.device("cpu"),
                      Evaluator(tiny_data, config.evaluation), progress=False)
    with pytest.raises(TrainingDiverged, match="no finite epoch to keep"):
        trainer.fit()
