"""SASRec's blend with the text zero-shot score (``sasrec.text_score_share``,
``select_text_score_share``): the formula, share 0 = SASRec alone, selection on validation only,
saved with the run, and what it needs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from ur4rec import api
from ur4rec.config import RunConfig, SASRecConfig, TextBaselineConfig
from ur4rec.errors import ConfigError
from ur4rec.models.base import UserBatch
from ur4rec.models.fusion import standardize
from ur4rec.models.sasrec import SASRec
from ur4rec.models.text_baselines import TextZeroShot
from ur4rec.models.ur4rec import UR4Rec, UR4RecSettings
from ur4rec.retrieval.search import supports_faiss
from ur4rec.runs.inputs import reads_texts
from ur4rec.text import encode

from ..text.test_resume_texts import HashEncoder
from .test_text_baselines import _tiny_config
from .test_ur4rec import random_inputs

NUM_ITEMS = 12
BATCH = UserBatch(torch.tensor([0, 1]), torch.tensor([[3, 7, 9, 11, 0, 0], [5, 2, 0, 0, 0, 0]]))


def _texts(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(NUM_ITEMS + 1, 8)).astype("f4")


def _model(texts: np.ndarray | None = None, **options) -> SASRec:
    torch.manual_seed(0)
    config = SASRecConfig(hidden_dim=16, max_seq_len=6, dropout=0.0, **options)
    return SASRec(NUM_ITEMS, config, texts).eval()


def test_the_ranking_is_the_weighted_sum_of_the_two_standardised_scores():
    texts = _texts()
    blended, alone = _model(texts, text_score_share=0.3), _model()
    history_len = blended.config.text_score_history_len
    text = TextZeroShot(texts, TextBaselineConfig(history_len=history_len)).score_all(BATCH)
    with torch.no_grad():
        expected = (0.7 * standardize(alone.score_all(BATCH)[:, 1:])
                    + 0.3 * standardize(text[:, 1:]))
        scores = blended.score_all(BATCH)
    assert torch.all(scores[:, 0] == -torch.inf)
    torch.testing.assert_close(scores[:, 1:], expected)


def test_share_zero_is_sasrec_alone_and_reads_no_text():
    """The ablation: at share 0 the text is not read — noise in its place moves nothing."""
    alone = _model()
    with torch.no_grad():
        expected = alone.score_all(BATCH)
        for seed in (0, 1):
            model = _model(_texts(seed), select_text_score_share=True)
            assert torch.equal(model.score_all(BATCH), expected)
        with_text = _model(_texts(0), text_score_share=0.5).score_all(BATCH)
        noisy = _model(_texts(1), text_score_share=0.5).score_all(BATCH)
    assert not torch.allclose(with_text, noisy)  # above 0 the text is read


def test_share_one_ranks_as_the_text_zero_shot_model():
    texts = _texts()
    model = _model(texts, text_score_share=1.0)
    zero_shot = TextZeroShot(texts, TextBaselineConfig(history_len=50))
    with torch.no_grad():
        ranked = model.score_all(BATCH)[:, 1:].argsort(dim=1)
    assert torch.equal(ranked, zero_shot.score_all(BATCH)[:, 1:].argsort(dim=1))


def test_scoring_every_share_at_once_equals_setting_each_share():
    model = _model(_texts(), select_text_score_share=True)
    shares = [0.0, 0.4, 1.0]
    with torch.no_grad():
        together = model.score_all_shares(BATCH, shares)
        for share in shares:
            model.set_sasrec_share(share)
            assert model.sasrec_share() == pytest.approx(share)
            torch.testing.assert_close(together[repr(share)], model.score_all(BATCH))


def test_the_blend_needs_texts_is_not_an_inner_product_and_not_for_ur4rec():
    with pytest.raises(ConfigError, match="no item texts"):
        _model(None, text_score_share=0.2)
    with pytest.raises(ValueError, match="less than or equal to 1"):
        SASRecConfig(text_score_share=1.5)
    assert supports_faiss(_model()) and not supports_faiss(_model(_texts(), text_score_share=0.2))
    assert reads_texts(RunConfig(model="sasrec", sasrec={"select_text_score_share": True}))
    assert not reads_texts(RunConfig(model="sasrec"))
    with pytest.raises(ConfigError, match="retriever"):
        UR4Rec(3, NUM_ITEMS, _settings(SASRecConfig(text_score_share=0.2)), random_inputs(SimpleNamespace(num_users=3, num_items=NUM_ITEMS)))


def _settings(sasrec: SASRecConfig) -> UR4RecSettings:
    config = RunConfig(model="ur4rec")
    return UR4RecSettings(sasrec, config.retriever, config.memory, config.fusion)


def test_the_share_is_chosen_on_validation_saved_and_reloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(encode, "load_encoder", lambda location, device=None: HashEncoder())
    monkeypatch.setattr(api, "_after_training", lambda run_dir: None)
    plain = api.train(_tiny_config(tmp_path, "sasrec", epochs_per_stage=2), tmp_path / "plain",
                      progress=False)
    results = api.train(_tiny_config(tmp_path, "sasrec", {"select_text_score_share": True},
                                     epochs_per_stage=2), tmp_path / "chosen", progress=False)
    chosen = results["fusion_selection"]
    assert chosen["valid"][f"{chosen['sasrec_weight']:.2f}"] == max(chosen["valid"].values())
    assert chosen["text_weight"] == pytest.approx(1.0 - chosen["sasrec_weight"])
    # training never reads the text score: the same weights as the plain run, one buffer more
    weights = {name: torch.load(tmp_path / run / "checkpoints" / "final.pt",
                                weights_only=False)["model"] for name, run in
               (("plain", "plain"), ("chosen", "chosen"))}
    assert set(weights["chosen"]) - set(weights["plain"]) == {"text_score_share"}
    assert all(torch.equal(weights["chosen"][key], value)
               for key, value in weights["plain"].items())
    # SASRec share 1.0 is the plain model: its validation figure is the plain run's
    selection = RunConfig().evaluation
    assert chosen["valid"]["1.00"] == pytest.approx(
        plain["valid"][selection.protocol][selection.metric])
    reloaded = api.load_run(tmp_path / "chosen")
    assert reloaded.model.sasrec_share() == pytest.approx(chosen["sasrec_weight"])
    assert api.evaluate(tmp_path / "chosen")["test"] == results["test"]


def test_a_run_config_refuses_the_text_score_for_another_model_at_load_time():
    with pytest.raises(ValidationError, match="not model: ur4rec"):
        RunConfig(model="ur4rec", sasrec=SASRecConfig(select_text_score_share=True))
    assert RunConfig(model="sasrec", sasrec=SASRecConfig(select_text_score_share=True))
