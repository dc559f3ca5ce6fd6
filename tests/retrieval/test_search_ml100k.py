"""On real ML-100K with a SASRec trained for a few epochs: FAISS answers as dense scoring does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ur4rec import api
from ur4rec.data.sequences import pad_right
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.models.base import UserBatch
from ur4rec.retrieval.search import FaissScorer, faiss_topk

pytestmark = pytest.mark.slow

SMALL_SASREC = {"training.epochs_per_stage": 2, "sasrec.hidden_dim": 32, "sasrec.num_blocks": 1,
                "sasrec.max_seq_len": 20, "training.batch_size": 256, "training.loss": "ce",
                "training.sasrec_lr": 0.01, "training.warmup_steps": 0}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, ml100k) -> api.LoadedRun:
    """~10 s: two epochs of a small SASRec (far from chance, so ranks are informative)."""
    run_dir = tmp_path_factory.mktemp("sasrec_ml100k")
    api.train("configs/sasrec_ml100k.yaml", run_dir, overrides=SMALL_SASREC, progress=False)
    return api.load_run(run_dir)


def near_ties(scores: torch.Tensor, reference: torch.Tensor, tolerance: float = 1e-5
              ) -> torch.Tensor:
    """Per row, how many scores lie within ``tolerance`` (relative) of the reference score."""
    gap = (scores - reference[:, None]).abs()
    return (gap <= tolerance * reference.abs().clamp(min=1)[:, None]).sum(dim=1)


def test_faiss_top10_equals_brute_force_for_every_user(trained_run):
    data, model = trained_run.data, trained_run.model
    histories = data.sequences
    found, found_scores = faiss_topk(model, histories, np.arange(data.num_users), 10,
                                     histories)
    with torch.no_grad():
        seqs = pad_right(histories, model.max_seq_len)
        scores = model.score_all(UserBatch(torch.arange(data.num_users), seqs)).float()
    scores[:, 0] = -torch.inf
    for row, history in enumerate(histories):
        scores[row, torch.as_tensor(history.copy())] = -torch.inf
    top = torch.topk(scores, 11)
    differs = (torch.from_numpy(found) != top.indices[:, :10]).any(dim=1)
    # ties aside: a row may differ only where two scores are equal up to float rounding
    tied = near_ties(top.values, top.values[:, 9]) > 1
    assert not (differs & ~tied).any(), np.flatnonzero((differs & ~tied).numpy())[:5]
    assert differs.sum() <= 3
    np.testing.assert_allclose(found_scores, top.values[:, :10].numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("split", ["valid", "test"])
def test_faiss_full_ranks_equal_the_evaluator(trained_run, split):
    data, model, config = trained_run.data, trained_run.model, trained_run.config.evaluation
    dense = Evaluator(data, config).evaluate(model, split, details=True)
    through_faiss = Evaluator(data, config, FaissScorer(data, config)
                              ).evaluate(model, split, details=True)
    assert dense.metrics["full"]["ndcg@10"] > 0.01  # trained: chance is ~0.003
    dense_rank = dense.details["full_rank"]
    differs = through_faiss.details["full_rank"] != dense_rank
    assert differs.sum() <= 2, f"{int(differs.sum())} users ranked differently"
    assert (through_faiss.details["full_rank"] - dense_rank).abs().max() <= 1
    for protocol in ("sampled", "full"):
        assert through_faiss.metrics[protocol] == pytest.approx(dense.metrics[protocol],
                                                                rel=1e-3)
