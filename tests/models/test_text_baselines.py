"""The text floors: zero-shot cosine and the text→id ridge map, by hand and through api.train."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from ur4rec import api
from ur4rec.config import RunConfig, SASRecConfig, TextBaselineConfig
from ur4rec.errors import ConfigError
from ur4rec.models.base import UserBatch
from ur4rec.models.sasrec import blend_text_score
from ur4rec.models.text_baselines import (
    TextToIdMap,
    TextZeroShot,
    loo_errors,
    loo_ridge_strength,
    ridge_map,
)
from ur4rec.text import encode
from ur4rec.training.fusion_selection import SASREC_SHARES

from ..conftest import synthetic_interactions
from ..text.test_resume_texts import HashEncoder


def test_zero_shot_scores_the_cosine_with_the_mean_of_the_recent_history():
    text = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [-1, 0]], dtype="f4")  # row 0 padding
    model = TextZeroShot(text, TextBaselineConfig(history_len=2))
    history = torch.tensor([[4, 1, 2, 0]])  # the last two real items: 1 and 2 → mean (1, 1)
    scores = model.score_all(UserBatch(torch.tensor([0]), history))
    assert scores[0, 0] == -torch.inf
    assert int(scores[0, 1:].argmax()) + 1 == 3  # item 3 = (1, 1): cosine 1
    torch.testing.assert_close(scores[0, 3], torch.tensor(1.0))
    # item 4 (−1, 0) is outside the window: it does not pull the user towards itself
    assert scores[0, 4] < 0


def test_text_to_id_maps_untrained_items_and_keeps_trained_ones():
    rng = np.random.default_rng(0)
    num_items, dim = 30, 8
    text = rng.normal(size=(num_items + 1, 6))
    counts = np.ones(num_items + 1, dtype=int)
    counts[[5, 9]] = 0  # never trained
    model = TextToIdMap(num_items, SASRecConfig(hidden_dim=dim, max_seq_len=5),
                        TextBaselineConfig(ridge=1e-8), text, counts)
    truth = torch.as_tensor(np.c_[text, np.ones(num_items + 1)] @ rng.normal(size=(7, dim)),
                            dtype=torch.float32)
    with torch.no_grad():
        model.encoder.item_emb.weight.copy_(truth)
        model.encoder.item_emb.weight[[5, 9]] = 123.0  # untrained rows: noise that must go
    model.load_state_dict(model.state_dict())  # a load refits the map
    mapped = model.item_embeddings
    torch.testing.assert_close(mapped[[5, 9]], truth[[5, 9]], atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(mapped[[1, 2, 30]], truth[[1, 2, 30]])


def test_text_to_id_blends_the_text_score_into_its_mapped_scores():
    rng = np.random.default_rng(2)
    num_items = 20
    text = rng.normal(size=(num_items + 1, 6)).astype("f4")
    counts = np.ones(num_items + 1, dtype=int)
    counts[[3, 7]] = 0  # new items: a mapped embedding and a text score

    def build(**blend):
        torch.manual_seed(0)
        config = SASRecConfig(hidden_dim=8, max_seq_len=5, text_score_history_len=2, **blend)
        return TextToIdMap(num_items, config, TextBaselineConfig(ridge=1.0), text, counts).eval()

    plain, blended = build(), build(text_score_share=0.3)
    batch = UserBatch(torch.tensor([0, 1]), torch.tensor([[1, 2, 4, 0], [5, 6, 0, 0]]))
    mapped = plain.user_state(batch) @ plain.item_embeddings.T
    torch.testing.assert_close(plain.score_all(batch), mapped)
    expected = blend_text_score(mapped, blended.text_similarity(batch.history, batch.lengths),
                                0.3)
    torch.testing.assert_close(blended.score_all(batch), expected)
    assert blended.selects_fusion_weights is False and build(
        select_text_score_share=True).selects_fusion_weights


def test_text_to_id_refuses_the_adapter():
    with pytest.raises(ValueError, match="id-only SASRec"):
        RunConfig(model="text_to_id", sasrec={"item_text": "adapter"})
    with pytest.raises(ConfigError, match="id-only SASRec"):
        TextToIdMap(4, SASRecConfig(hidden_dim=8, max_seq_len=5, item_text="adapter"),
                    TextBaselineConfig(), np.zeros((5, 3), "f4"), np.ones(5, dtype=int))
    RunConfig(model="text_to_id", sasrec={"select_text_score_share": True})  # the blend is fine


def _refit_loo_error(inputs, targets, strength):
    """Leave-one-out the slow way: one refit per held-out row."""
    errors = []
    for row in range(len(inputs)):
        keep = torch.arange(len(inputs)) != row
        weights = ridge_map(inputs[keep], targets[keep], strength)
        predicted = torch.cat([inputs[row], torch.ones(1, dtype=inputs.dtype)]) @ weights
        errors.append(float((targets[row] - predicted).square().sum()))
    return float(np.mean(errors))


def test_closed_form_leave_one_out_equals_refitting_without_each_row():
    rng = np.random.default_rng(1)
    inputs = torch.as_tensor(rng.normal(size=(25, 6)))
    targets = torch.as_tensor(inputs.numpy() @ rng.normal(size=(6, 3)) + rng.normal(size=(25, 3)))
    strengths = (0.01, 1.0, 30.0)
    expected = [_refit_loo_error(inputs, targets, strength) for strength in strengths]
    np.testing.assert_allclose(loo_errors(inputs, targets, strengths), expected, rtol=1e-8)


def test_loo_strength_is_small_for_clean_targets_and_large_for_pure_noise():
    rng = np.random.default_rng(2)
    inputs = torch.as_tensor(rng.normal(size=(60, 10)))
    clean = inputs @ torch.as_tensor(rng.normal(size=(10, 4)))
    noise = torch.as_tensor(rng.normal(size=(60, 4)))
    assert loo_ridge_strength(inputs, clean) == 0.01  # nothing to shrink away
    assert loo_ridge_strength(inputs, noise) >= 100.0  # nothing to learn: shrink to the mean


def test_text_to_id_chooses_its_ridge_by_leave_one_out_and_reports_it():
    rng = np.random.default_rng(3)
    num_items, dim = 40, 4
    text = rng.normal(size=(num_items + 1, 5))
    counts = np.ones(num_items + 1, dtype=int)
    counts[[3, 7]] = 0
    model = TextToIdMap(num_items, SASRecConfig(hidden_dim=dim, max_seq_len=5),
                        TextBaselineConfig(), text, counts)
    warm = torch.as_tensor(counts > 0)
    warm[0] = False
    rows = model.encoder.item_emb.weight.detach().double()[warm]
    summary = model.fit_summary()
    assert summary["ridge"] == loo_ridge_strength(torch.as_tensor(text)[warm], rows)
    assert "leave-one-out" in summary["ridge_rule"]
    fixed = TextToIdMap(num_items, SASRecConfig(hidden_dim=dim, max_seq_len=5),
                        TextBaselineConfig(ridge=2.5), text, counts)
    assert fixed.fit_summary() == {"ridge": 2.5, "ridge_rule": "text_baselines.ridge"}


def test_ridge_setting_rejects_anything_but_a_positive_number_or_loo():
    for bad in (0.0, -1.0, "auto", float("nan"), True):
        with pytest.raises(ValueError, match="a number > 0 or 'loo'"):
            TextBaselineConfig(ridge=bad)
    assert TextBaselineConfig(ridge="2.5").ridge == 2.5  # a number from --set KEY=VALUE


def _tiny_config(tmp_path, model, sasrec=None, **extra):
    log = tmp_path / "log.csv"
    if not log.exists():
        synthetic_interactions(num_users=30, num_items=40, length=12).rename(
            columns={"user": "user_id", "item": "item_id"}).to_csv(log, index=False)
    config = {"name": "tiny", "model": model,
              "data": {"dataset": "tiny", "path": str(log), "num_candidates": 10,
                       "prepared_dir": str(tmp_path / "prepared")},
              "sasrec": {"hidden_dim": 16, "num_blocks": 1, "max_seq_len": 10, **(sasrec or {})},
              "training": {"epochs_per_stage": 1, "batch_size": 16, "device": "cpu", **extra}}
    path = tmp_path / f"{model}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_text_baselines_run_through_train_and_evaluate(tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(encode, "load_encoder", lambda location, device=None: HashEncoder())
    monkeypatch.setattr(api, "_after_training", lambda run_dir: None)
    zero = api.train(_tiny_config(tmp_path, "text_zero_shot"), tmp_path / "zero",
                     progress=False)
    assert set(zero["test"]) == {"sampled", "full"} and "training_view" not in zero["texts"]
    with pytest.raises(ConfigError, match="training.init_from"):
        api.train(_tiny_config(tmp_path, "text_to_id"), tmp_path / "unmapped", progress=False)
    sasrec = _tiny_config(tmp_path, "sasrec")
    api.train(sasrec, tmp_path / "sasrec", progress=False)
    checkpoint = tmp_path / "sasrec" / "checkpoints" / "final.pt"
    mapped = api.train(_tiny_config(tmp_path, "text_to_id", init_from=str(checkpoint)),
                       tmp_path / "map", progress=False)
    trained = api.train(sasrec, tmp_path / "sasrec_again", progress=False)
    # every tiny item has training interactions: the map changes nothing, SASRec's scores stay
    assert mapped["test"] == trained["test"]
    assert mapped["fit"]["ridge"] > 0 and "leave-one-out" in mapped["fit"]["ridge_rule"]
    assert "fusion_selection" not in mapped
    # blending the text score, the untrained model still chooses its share on validation,
    # saves it in final.pt, and its reported validation figure is the chosen share's
    blended = api.train(_tiny_config(tmp_path, "text_to_id", {"select_text_score_share": True},
                                     init_from=str(checkpoint)), tmp_path / "map_text",
                        progress=False)
    chosen = blended["fusion_selection"]
    assert set(chosen["valid"]) == {f"{share:.2f}" for share in SASREC_SHARES}
    saved = torch.load(tmp_path / "map_text" / "checkpoints" / "final.pt",
                       weights_only=False)["model"]["text_score_share"]
    assert float(saved) == pytest.approx(1.0 - chosen["sasrec_weight"])
    _, protocol, metric = chosen["selection"].split()
    assert blended["valid"][protocol][metric] == pytest.approx(
        chosen["valid"][f"{chosen['sasrec_weight']:.2f}"])
