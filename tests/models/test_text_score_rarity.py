"""``sasrec.text_score_rarity``: the text share leans towards rarely bought items — the
formula, share 0 = SASRec alone, the counts are what it reads, what it needs, and its choice
on validation with the share (``select_text_score_rarity``)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from ur4rec.config import SASRecConfig
from ur4rec.errors import ConfigError
from ur4rec.models.base import UserBatch
from ur4rec.models.fusion import standardize
from ur4rec.models.sasrec import SASRec, rarity_offsets
from ur4rec.training.fusion_selection import RARITY_LEANS, select_fusion_weights

NUM_ITEMS = 6
COUNTS = np.array([0, 50, 1, 5, 0, 9, 2])  # index 0: padding; item 4 never trained
BATCH = UserBatch(torch.tensor([0, 1]), torch.tensor([[3, 1, 2, 0, 0], [5, 4, 0, 0, 0]]))


def _model(counts: np.ndarray | None = COUNTS, **options) -> SASRec:
    torch.manual_seed(0)
    text = np.random.default_rng(0).normal(size=(NUM_ITEMS + 1, 8)).astype("f4")
    config = SASRecConfig(hidden_dim=16, max_seq_len=5, dropout=0.0, text_score_history_len=2,
                          **options)
    return SASRec(NUM_ITEMS, config, text, counts).eval()


def test_rarity_offsets_are_centred_and_larger_for_rarer_items():
    offsets = rarity_offsets(COUNTS)
    assert offsets.shape == (NUM_ITEMS,) and abs(float(offsets.mean())) < 1e-6
    assert offsets[3] > offsets[1] > offsets[0]  # never trained > once > 50 times
    mean_log = float(np.log1p(COUNTS[1:]).mean())
    torch.testing.assert_close(offsets[0], torch.tensor(mean_log - np.log1p(50.0),
                                                        dtype=torch.float32))


def test_each_item_gets_the_share_plus_its_rarity_lean():
    model = _model(text_score_share=0.3, text_score_rarity=0.2)
    plain = _model(text_score_share=0.3)
    with torch.no_grad():
        ids = model.user_state(BATCH) @ model.item_embeddings.T
        text = model.text_similarity(BATCH.history, BATCH.lengths)
        weight = (0.3 + 0.2 * rarity_offsets(COUNTS)).clamp(0, 1)
        expected = (1 - weight) * standardize(ids[:, 1:]) + weight * standardize(text[:, 1:])
        torch.testing.assert_close(model.score_all(BATCH)[:, 1:], expected)
        assert not torch.allclose(model.score_all(BATCH), plain.score_all(BATCH))
        model.set_sasrec_share(1.0)  # text share 0: SASRec alone, lean or not
        torch.testing.assert_close(model.score_all(BATCH), ids)


def test_equal_counts_remove_the_lean_exactly():
    # the ablation: with every item bought equally often nothing is rarer, so the blend is the
    # plain one — the lean reads the training counts and nothing else
    flat = np.array([0, 4, 4, 4, 4, 4, 4])
    leaning = _model(flat, text_score_share=0.3, text_score_rarity=0.5)
    plain = _model(flat, text_score_share=0.3)
    with torch.no_grad():
        torch.testing.assert_close(leaning.score_all(BATCH), plain.score_all(BATCH))
        shares = [0.5, 0.7, 1.0]
        for key, scores in leaning.score_all_shares(BATCH, shares).items():
            torch.testing.assert_close(scores, plain.score_all_shares(BATCH, shares)[key])


def test_the_lean_needs_counts_and_a_blended_text_score():
    with pytest.raises(ConfigError, match="training counts"):
        _model(None, text_score_share=0.3, text_score_rarity=0.2)
    with pytest.raises(ValidationError, match="text_score_rarity"):
        SASRecConfig(text_score_rarity=0.2)


class _Evaluator:
    """Validation stand-in: the metric of (share, lean) is read from a table, so the test knows
    which pair must win; records which leans were scored."""

    def __init__(self, table: dict[tuple[float, float], float]) -> None:
        self.table, self.leans = table, []

    def evaluate_many(self, model, split, device, variants):
        assert split == "valid"
        lean = round(model.rarity_lean(), 4)  # a float32 buffer
        self.leans.append(lean)
        keys = variants(BATCH)  # the model scores every share at this lean
        return {key: SimpleNamespace(metrics={"full": {"ndcg@10": self.table.get(
            (round(float(key), 2), lean), 0.0)}}) for key in keys}


def test_selection_chooses_the_share_and_the_lean_together_on_validation():
    model = _model(select_text_score_share=True, select_text_score_rarity=True)
    evaluator = _Evaluator({(0.8, 0.0): 0.30, (0.7, 0.05): 0.31, (0.9, 0.1): 0.29})
    chosen = select_fusion_weights(model, evaluator, torch.device("cpu"), ("full", "ndcg@10"))
    assert evaluator.leans == list(RARITY_LEANS)
    assert (chosen["sasrec_weight"], chosen["rarity_lean"]) == (0.7, 0.05)
    assert chosen["valid_by_rarity_lean"] == {"0": 0.30, "0.05": 0.31, "0.1": 0.29}
    assert model.sasrec_share() == pytest.approx(0.7) and model.rarity_lean() == pytest.approx(0.05)
    # saved with the model: a copy loaded from its state ranks with the chosen pair
    copy = _model(select_text_score_share=True, select_text_score_rarity=True)
    copy.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(copy.score_all(BATCH), model.score_all(BATCH))
    # a tie keeps the configured pair
    model = _model(text_score_share=0.3, text_score_rarity=0.05, select_text_score_share=True,
                   select_text_score_rarity=True)
    chosen = select_fusion_weights(model, _Evaluator({}), torch.device("cpu"),
                                   ("full", "ndcg@10"))
    assert (chosen["sasrec_weight"], chosen["rarity_lean"]) == (0.7, 0.05)
    # without select_text_score_rarity the lean stays as configured and only the share is chosen
    fixed = _model(text_score_rarity=0.1, select_text_score_share=True)
    evaluator = _Evaluator({(0.8, 0.1): 0.3})
    chosen = select_fusion_weights(fixed, evaluator, torch.device("cpu"), ("full", "ndcg@10"))
    assert evaluator.leans == [0.1] and "rarity_lean" not in chosen
    assert chosen["sasrec_weight"] == 0.8
    with pytest.raises(ValidationError, match="select_text_score_rarity"):
        SASRecConfig(select_text_score_rarity=True, text_score_share=0.3)
