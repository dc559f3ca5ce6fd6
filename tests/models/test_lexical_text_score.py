"""The text score's lexical view (``sasrec.text_score_lexical_share``,
``text_baselines.lexical_share``): TF-IDF term vectors of the item texts, their recent-items
cosine, the mix with the MiniLM cosine, and what it needs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from ur4rec.config import RunConfig, SASRecConfig, TextBaselineConfig
from ur4rec.errors import ConfigError
from ur4rec.models.base import UserBatch
from ur4rec.models.fusion import standardize
from ur4rec.models.sasrec import SASRec
from ur4rec.models.text_baselines import TextZeroShot
from ur4rec.models.text_similarity import (
    HybridTextScore,
    RecentTermSimilarity,
    RecentTextSimilarity,
    recent_text_score,
)
from ur4rec.runs.inputs import lexical_setting
from ur4rec.text.lexical import item_term_vectors

ITEM_TEXTS = ["", "red lipstick by acme", "matte red lipstick by acme", "blue nail polish",
              "nail polish remover", "acme face cream", "face cream for dry skin",
              "dry shampoo", "shampoo for dry hair", "red nail polish by acme"]
NUM_ITEMS = len(ITEM_TEXTS) - 1
BATCH = UserBatch(torch.tensor([0, 1]), torch.tensor([[3, 7, 1, 2, 0], [5, 0, 0, 0, 0]]))
LENGTHS = torch.tensor([4, 1])


def _dense(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(NUM_ITEMS + 1, 8)).astype("f4")


def test_term_vectors_are_unit_rows_with_a_zero_padding_row():
    terms = item_term_vectors(ITEM_TEXTS)
    norms = np.sqrt(np.asarray(terms.multiply(terms).sum(axis=1))).ravel()
    assert terms.shape[0] == NUM_ITEMS + 1 and norms[0] == 0
    np.testing.assert_allclose(norms[1:], 1.0, rtol=1e-5)


def test_item_texts_without_a_shared_word_are_refused_with_the_key_to_change():
    with pytest.raises(ConfigError, match="2 item texts share no word.*text_score_lexical_share: 0"):
        item_term_vectors(["", "alpha", "beta"])


def test_term_similarity_is_the_cosine_with_the_sum_of_the_last_items_rows():
    terms = item_term_vectors(ITEM_TEXTS)
    dense = terms.toarray()
    scores = RecentTermSimilarity(terms, history_len=2)(BATCH.history, LENGTHS)
    for row, recent in enumerate(([1, 2], [5])):  # the last two items of each history
        user = dense[recent].sum(axis=0)
        expected = dense[1:] @ (user / np.linalg.norm(user))
        np.testing.assert_allclose(scores[row, 1:].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert torch.all(scores[:, 0] == -torch.inf)
    # the user who bought acme lipsticks: the other acme lipstick-like items rank above shampoo
    assert scores[0, 9] > scores[0, 7]


def test_the_hybrid_is_the_restandardised_mix_and_lexical_only_reads_no_minilm_vectors():
    terms, dense = item_term_vectors(ITEM_TEXTS), _dense()
    lexical = RecentTermSimilarity(terms, 3)(BATCH.history, LENGTHS)[:, 1:]
    cosine = RecentTextSimilarity(dense, 3)(BATCH.history, LENGTHS)[:, 1:]
    mixed = HybridTextScore(dense, terms, 3, 0.25)(BATCH.history, LENGTHS)
    torch.testing.assert_close(
        mixed[:, 1:], standardize(0.25 * standardize(lexical) + 0.75 * standardize(cosine)))
    only = HybridTextScore(dense, terms, 3, 1.0)(BATCH.history, LENGTHS)
    noise = HybridTextScore(_dense(seed=5), terms, 3, 1.0)(BATCH.history, LENGTHS)
    torch.testing.assert_close(only, noise)  # the ablation: MiniLM vectors replaced by noise
    torch.testing.assert_close(only[:, 1:], standardize(lexical))


def test_share_zero_reads_no_term_vectors():
    score = recent_text_score(_dense(), None, 3, 0.0, "sasrec.text_score_lexical_share")
    assert type(score) is RecentTextSimilarity


def test_sasrec_blends_the_hybrid_and_needs_term_vectors():
    config = SASRecConfig(hidden_dim=16, max_seq_len=5, dropout=0.0, text_score_share=0.4,
                          text_score_lexical_share=0.5, text_score_history_len=3)
    torch.manual_seed(0)
    model = SASRec(NUM_ITEMS, config, _dense(), None, item_term_vectors(ITEM_TEXTS)).eval()
    alone = SASRec(NUM_ITEMS, config.model_copy(update={"text_score_share": 0.0,
                                                        "text_score_lexical_share": 0.0}),
                   None)
    alone.load_state_dict(model.state_dict(), strict=False)
    hybrid = HybridTextScore(_dense(), item_term_vectors(ITEM_TEXTS), 3, 0.5)
    with torch.no_grad():
        expected = (0.6 * standardize(alone.eval().score_all(BATCH)[:, 1:])
                    + 0.4 * standardize(hybrid(BATCH.history, BATCH.lengths)[:, 1:]))
        torch.testing.assert_close(model.score_all(BATCH)[:, 1:], expected)
    with pytest.raises(ConfigError, match="term vectors"):
        SASRec(NUM_ITEMS, config, _dense())
    with pytest.raises(ValidationError, match="text_score_lexical_share"):
        SASRecConfig(text_score_lexical_share=0.5)


def test_zero_shot_ranks_by_the_hybrid_and_only_it_reads_the_lexical_share():
    terms, dense = item_term_vectors(ITEM_TEXTS), _dense()
    config = TextBaselineConfig(history_len=3, lexical_share=0.5)
    scores = TextZeroShot(dense, config, terms).score_all(BATCH)
    expected = HybridTextScore(dense, terms, 3, 0.5)(BATCH.history, LENGTHS)
    torch.testing.assert_close(scores, expected)
    plain = TextZeroShot(dense, TextBaselineConfig(history_len=3)).score_all(BATCH)
    torch.testing.assert_close(plain, RecentTextSimilarity(dense, 3)(BATCH.history, LENGTHS))
    with pytest.raises(ConfigError, match="term vectors"):
        TextZeroShot(dense, config)
    with pytest.raises(ValidationError, match="text_baselines.lexical_share"):
        RunConfig(model="sasrec", text_baselines={"lexical_share": 0.5})
    with pytest.raises(ConfigError, match="2 item texts.*set lexical_share: 0"):
        item_term_vectors(["", "alpha", "beta"], "text_baselines.lexical_share")


def test_a_run_builds_term_vectors_only_for_the_model_that_reads_them():
    zero_shot = RunConfig(model="text_zero_shot", text_baselines={"lexical_share": 0.5})
    assert lexical_setting(zero_shot) == ("text_baselines.lexical_share", 0.5)
    assert lexical_setting(RunConfig(model="text_zero_shot"))[1] == 0
    assert lexical_setting(RunConfig(model="text_to_id"))[1] == 0
    sasrec = RunConfig(sasrec={"select_text_score_share": True, "text_score_lexical_share": 0.25})
    assert lexical_setting(sasrec) == ("sasrec.text_score_lexical_share", 0.25)
