"""benchmarks/tail_tradeoff.py: every (text share, rarity lean) of a grid, scored as the model
with those settings would score."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import torch

from ur4rec.config import SASRecConfig
from ur4rec.models.base import UserBatch
from ur4rec.models.sasrec import SASRec, rarity_offsets

from .conftest import REPO

COUNTS = np.array([0, 50, 1, 5, 0, 9, 2])
BATCH = UserBatch(torch.tensor([0, 1]), torch.tensor([[3, 1, 2, 0, 0], [5, 4, 0, 0, 0]]))


def _module():
    if str(REPO / "benchmarks") not in sys.path:  # as when run: the sibling fusion_selection
        sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("tail_tradeoff",
                                                  REPO / "benchmarks" / "tail_tradeoff.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model(**options) -> SASRec:
    torch.manual_seed(0)
    text = np.random.default_rng(0).normal(size=(7, 8)).astype("f4")
    config = SASRecConfig(hidden_dim=16, max_seq_len=5, dropout=0.0, text_score_history_len=2,
                          **options)
    return SASRec(6, config, text, COUNTS).eval()


def test_each_grid_point_scores_as_the_model_configured_with_it():
    run_model = _model(select_text_score_share=True)
    variants = _module().blend_variants(run_model, rarity_offsets(COUNTS),
                                        [(0.3, 0.0), (0.3, 0.2), (0.0, 0.2)])
    with torch.no_grad():
        scores = variants(BATCH)
        for key, options in (("0.3,0.0", {"text_score_share": 0.3}),
                             ("0.3,0.2", {"text_score_share": 0.3, "text_score_rarity": 0.2})):
            torch.testing.assert_close(scores[key], _model(**options).score_all(BATCH))
        ids = run_model.user_state(BATCH) @ run_model.item_embeddings.T
        torch.testing.assert_close(scores["0.0,0.2"], ids)  # text share 0: SASRec alone
