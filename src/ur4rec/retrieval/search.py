"""The FAISS index applied to models and trained runs: what ``recommend`` and the evaluator use.

Only models whose score is an inner product of a user vector and an item vector qualify:
SASRec (``user_state(batch) @ item_embeddings.T``). UR4Rec standardises and fuses two branches
per user, Pop and Random are not vectors — those keep dense scoring at every size.
"""

from __future__ import annotations

import importlib.util
import logging
import weakref
from functools import cache
from typing import Any

import numpy as np
import torch

from ur4rec.config import EvaluationConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.data.sequences import crop_to_longest, pad_right
from ur4rec.evaluation.evaluator import SplitRanks, split_inputs
from ur4rec.evaluation.metrics import rank_bounds
from ur4rec.models.base import Recommender, UserBatch
from ur4rec.retrieval.faiss_index import ItemIndex, score_catalogue_threshold

log = logging.getLogger(__name__)

_INDEXES: weakref.WeakKeyDictionary[Any, tuple[tuple[Any, ...], ItemIndex]] = (
    weakref.WeakKeyDictionary())


def supports_faiss(model: Recommender) -> bool:
    """Whether ``model``'s scores are ``<user vector, item vector>`` (it declares
    :attr:`~ur4rec.models.base.Recommender.inner_product_scores`)."""
    return model.inner_product_scores


@cache
def faiss_installed() -> bool:
    """Whether faiss can be imported; says once how to install it when it cannot."""
    found = importlib.util.find_spec("faiss") is not None
    if not found:
        log.warning("faiss is not installed: large catalogues are scored densely "
                    "(pip install 'ur4rec[scale]' for FAISS retrieval)")
    return found


def use_faiss(model: Recommender, num_items: int) -> bool:
    """The switch: an inner-product model over more than :func:`score_catalogue_threshold` items
    (and FAISS installed; without it, dense scoring goes on at every size)."""
    return (supports_faiss(model) and num_items > score_catalogue_threshold()
            and faiss_installed())


def item_index(model: Recommender, kind: str = "exact",
               excluded: np.ndarray | None = None) -> ItemIndex:
    """The model's items in a FAISS index, rebuilt only when the item table changed.

    ``excluded`` item indices (the cold items of ``data.cold_items``: not in the warm
    catalogue) get non-finite vectors, which the index never returns and never counts as
    competitors — as the dense evaluator masks them."""
    table = model.item_embeddings
    left_out = tuple(np.asarray(excluded if excluded is not None else [], dtype=np.int64))
    key = (table.data_ptr(), table._version, tuple(table.shape), kind, left_out)
    cached = _INDEXES.get(model)
    if cached is None or cached[0] != key:
        vectors = table.detach().float().cpu().numpy().copy()
        if left_out:
            vectors[np.asarray(left_out)] = np.nan
        cached = (key, ItemIndex.from_embedding_table(vectors, kind=kind))
        _INDEXES[model] = cached
    return cached[1]


@torch.no_grad()
def user_vectors(model: Recommender, histories: list[np.ndarray], users: np.ndarray,
                 device: torch.device | str = "cpu", batch_size: int = 256) -> np.ndarray:
    """``[U, D]`` float32 user states after each history (its last ``max_seq_len`` items).

    Users of similar history length share a batch cropped to its longest, as in the evaluator.
    """
    padded = pad_right(histories, model.max_seq_len)
    user_ids = torch.as_tensor(np.asarray(users, dtype=np.int64))
    out = torch.empty(len(histories), model.item_embeddings.shape[1])
    was_training = model.training
    model.eval()
    for rows in torch.split(torch.argsort((padded > 0).sum(dim=1), stable=True), batch_size):
        (seqs,) = crop_to_longest(padded[rows])
        batch = UserBatch(user_ids[rows], seqs).to(torch.device(device))
        out[rows] = model.user_state(batch).float().cpu()
    model.train(was_training)
    return out.numpy()


def faiss_topk(model: Recommender, histories: list[np.ndarray], users: np.ndarray, k: int,
               exclude: list[np.ndarray] | None = None, device: torch.device | str = "cpu",
               kind: str = "exact") -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` item indices and scores ``[U, k]`` after each history, ``exclude`` removed."""
    vectors = user_vectors(model, histories, users, device)
    return item_index(model, kind).top_k(vectors, k, exclude)


def faiss_topk_for_run(run: Any, users: list[Any], k: int = 10, exclude_history: bool = True
                       ) -> list[list[dict[str, Any]]]:
    """``api.recommend``'s answer for several users (original ids) at once, through FAISS.

    ``run`` is an :class:`ur4rec.api.LoadedRun`. Each user reads their whole known history (its
    last ``max_seq_len`` items) and, with ``exclude_history``, is never offered it again.
    """
    if not supports_faiss(run.model):
        raise ValueError(f"{type(run.model).__name__} scores are not an inner product; "
                         "use api.recommend")
    indices = np.array([run.user_index(user) for user in users], dtype=np.int64)
    histories = [run.data.sequences[index] for index in indices]
    items, scores = faiss_topk(run.model, histories, indices, k,
                               histories if exclude_history else None, run.device)
    answers = []
    for row_items, row_scores in zip(items, scores, strict=True):
        answer = []
        for item, score in zip(row_items.tolist(), row_scores.tolist(), strict=True):
            if item == 0:
                break
            original, title, year = run.item_table[item]
            answer.append({"item": original, "title": title, "year": year, "score": float(score)})
        answers.append(answer)
    return answers


def candidate_scores(vectors: np.ndarray, items: np.ndarray, candidates: np.ndarray,
                     batch_size: int = 4096) -> np.ndarray:
    """``[U, C]`` scores of each user's candidates (item indices) from ``items`` ``[N, D]``."""
    out = np.empty(candidates.shape, dtype=np.float32)
    for start in range(0, len(candidates), batch_size):
        rows = slice(start, start + batch_size)
        out[rows] = np.einsum("ud,ucd->uc", vectors[rows], items[candidates[rows] - 1])
    return out


class FaissScorer:
    """The evaluator's scorer through FAISS (:class:`~ur4rec.evaluation.evaluator.SplitScorer`):
    both protocols' rank bounds without a ``[users, items]`` score matrix.

    Sampled: the fixed candidates scored directly. Full: exact FAISS ranks among every item
    except padding, the target, the cold items and (``evaluation.mask_history``) the history
    the model read — what :class:`~ur4rec.evaluation.evaluator.DenseScorer` ranks against.
    """

    def __init__(self, data: PreparedData, config: EvaluationConfig) -> None:
        self.data = data
        self.config = config

    def rank(self, model: Recommender, split: str, device: torch.device | str = "cpu",
             details: bool = False) -> SplitRanks:
        histories, candidates = split_inputs(self.data, split)
        vectors = user_vectors(model, histories, np.arange(len(histories)), device,
                               self.config.batch_size)
        index = item_index(model, excluded=self.data.cold_items)
        cand_scores = torch.from_numpy(candidate_scores(vectors, index.vectors, candidates))
        competitors = torch.ones_like(cand_scores, dtype=torch.bool)
        competitors[:, 0] = False
        sampled = rank_bounds(cand_scores, cand_scores[:, 0], competitors)
        lower, upper = index.rank_bounds(vectors, candidates[:, 0],
                                         histories if self.config.mask_history else None)
        full = (torch.from_numpy(lower), torch.from_numpy(upper))
        return SplitRanks({"sampled": sampled, "full": full}, cand_scores if details else None)


def scorer_for(model: Recommender, data: PreparedData, config: EvaluationConfig
               ) -> FaissScorer | None:
    """The evaluator's scorer for ``model`` on ``data``: :class:`FaissScorer` where
    :func:`use_faiss` says so, else None (the evaluator's dense default)."""
    return FaissScorer(data, config) if use_faiss(model, data.num_items) else None
