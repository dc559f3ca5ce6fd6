"""Full-catalogue inner-product retrieval through FAISS, for catalogues too large to score densely.

Scores are ``<user vector, item vector>``. Item index ``i`` (1-based, as everywhere in ur4rec; 0 is
padding and never indexed) is FAISS id ``i - 1``.

- :meth:`ItemIndex.top_k` searches deep enough to hold ``k`` items beyond each user's excluded
  ones (their history), then drops the excluded — what remains is the true top-K of the allowed
  items.
- :meth:`ItemIndex.rank_bounds` gives each target's best and worst rank among the allowed items,
  as :func:`ur4rec.evaluation.metrics.rank_bounds` does from dense scores. It is exact: a FAISS
  ``range_search`` over items extended by a constant 1, queried with ``[user, -target score]``,
  lists every item whose margin over the target is at least the target's own margin (≈ 0,
  computed by the same kernel), and the lists are counted. Exact ties (identical vectors) tie
  here as in dense scoring; an item closer to the target than float32 rounding (~1e-7
  relative) may land on either side — the freedom two BLAS libraries already have, so torch and
  FAISS ranks agree up to such near-ties.

Non-finite vectors rank last, as :mod:`ur4rec.evaluation.metrics` ranks non-finite scores: an item
with a NaN/inf component is indexed as zeros but never returned by :meth:`ItemIndex.top_k` and
never competes in :meth:`ItemIndex.rank_bounds`; a user with one (or whose target is such an
item) gets no top-K items (item 0, score -inf) and the worst rank — without being searched, so a
NaN query cannot disturb the other users of its batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ur4rec.errors import UR4RecError

DEFAULT_FAISS_THRESHOLD = 50_000
THRESHOLD_ENV = "UR4REC_FAISS_THRESHOLD"


def score_catalogue_threshold() -> int:
    """Catalogue size (items) above which the FAISS path replaces dense scoring.

    ``$UR4REC_FAISS_THRESHOLD`` overrides the default of 50,000 (0 = always use FAISS).
    """
    raw = os.environ.get(THRESHOLD_ENV, "").strip()
    if not raw:
        return DEFAULT_FAISS_THRESHOLD
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise UR4RecError(f"{THRESHOLD_ENV}={raw!r}: expected a whole number of items ≥ 0 "
                          "(0 = always use FAISS)")
    return value


def import_faiss() -> Any:
    """The ``faiss`` module, or a one-line error saying how to install it."""
    try:
        import faiss
    except ImportError as error:
        raise UR4RecError(f"full-catalogue retrieval needs FAISS: pip install 'ur4rec[scale]' "
                          f"(faiss-cpu) ({error})") from None
    return faiss


def _float32_rows(vectors: Any, dim: int | None = None) -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim != 2 or (dim is not None and array.shape[1] != dim):
        raise ValueError(f"expected a [n, {dim or 'D'}] matrix, got shape {array.shape}")
    return array


def _row_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


class ItemIndex:
    """Item vectors ``[N, D]`` (row ``i - 1`` = item ``i``) in a FAISS inner-product index.

    ``kind="exact"`` (``IndexFlatIP``) returns the true top-K. ``kind="ivf"``
    (``IndexIVFFlat``, ``nlist`` clusters, ``nprobe`` searched) is APPROXIMATE: it can miss true
    top items, trading recall for speed on catalogues of millions — measure its recall against
    the exact index before serving it. :meth:`rank_bounds` is always exact, whatever ``kind``.
    """

    def __init__(self, item_vectors: Any, kind: str = "exact", nlist: int | None = None,
                 nprobe: int | None = None) -> None:
        if kind not in ("exact", "ivf"):
            raise ValueError(f"unknown index kind {kind!r} (exact or ivf)")
        self.faiss = import_faiss()
        self.vectors = _float32_rows(item_vectors)
        if not len(self.vectors):
            raise ValueError("an item index needs at least one item")
        self.kind = kind
        # [N] False for items with a non-finite component: FAISS gets zeros there (a NaN would
        # corrupt its search heaps and k-means), and those items are banned from every answer
        self.finite = np.isfinite(self.vectors).all(axis=1)
        self._searchable = np.where(self.finite[:, None], self.vectors, np.float32(0))
        self.index = (self._flat(self._searchable) if kind == "exact"
                      else self._ivf(nlist, nprobe))
        self._ranking: Any = None

    @classmethod
    def from_embedding_table(cls, table: Any, **options: Any) -> ItemIndex:
        """From a model's ``[N + 1, D]`` item table whose row 0 is padding."""
        return cls(np.asarray(table)[1:], **options)

    @property
    def num_items(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def approximate(self) -> bool:
        return self.kind != "exact"

    def _flat(self, vectors: np.ndarray) -> Any:
        index = self.faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return index

    def _ivf(self, nlist: int | None, nprobe: int | None) -> Any:
        nlist = nlist or max(1, min(int(4 * math.sqrt(self.num_items)), self.num_items // 39))
        quantizer = self.faiss.IndexFlatIP(self.dim)
        index = self.faiss.IndexIVFFlat(quantizer, self.dim, nlist,
                                        self.faiss.METRIC_INNER_PRODUCT)
        index.train(self._searchable)
        index.add(self._searchable)
        index.nprobe = min(nlist, nprobe or max(1, nlist // 8))
        self._quantizer = quantizer  # the IVF index does not own it: keep it alive
        return index

    # ----------------------------------------------------------------- top-K
    def top_k(self, user_vectors: Any, k: int, exclude: Sequence[Any] | None = None,
              batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` items per user: indices ``[U, k]`` (1-based) and scores ``[U, k]``.

        ``exclude[u]`` lists item indices never returned for user ``u`` (e.g. their history).
        Where fewer than ``k`` items remain, the row ends with item 0 and score ``-inf``; a
        user vector with a non-finite component gets only those. Items with non-finite vectors
        are never returned. Searching ``k + len(exclude[u]) + #non-finite items`` deep is always
        enough; rows start shallower (a deep search is slow) and go four times deeper until
        ``k`` allowed items are found.
        """
        users = _float32_rows(user_vectors, self.dim)
        if k < 1:
            raise ValueError(f"k must be ≥ 1, got {k}")
        lengths = np.array([len(e) for e in exclude], dtype=np.int64) if exclude is not None \
            else np.zeros(len(users), dtype=np.int64)
        if len(lengths) != len(users):
            raise ValueError(f"exclude has {len(lengths)} rows for {len(users)} users")
        # a search this deep always suffices
        enough = np.minimum(k + lengths + int((~self.finite).sum()), self.num_items)
        items_out = np.zeros((len(users), k), dtype=np.int64)
        scores_out = np.full((len(users), k), -np.inf, dtype=np.float32)
        order = np.argsort(lengths, kind="stable")
        order = order[np.isfinite(users[order]).all(axis=1)]  # non-finite users: no items
        for pending in _row_batches(order, batch_size):
            depth = 2 * k + 16
            while len(pending):
                depth_now = min(depth, int(enough[pending].max()))
                listed = [exclude[r] for r in pending] if exclude is not None else None
                items, scores, found = self._search_allowed(users[pending], depth_now, k, listed)
                done = (found == k) | (depth_now >= enough[pending])
                items_out[pending[done], :items.shape[1]] = items[done]
                scores_out[pending[done], :items.shape[1]] = scores[done]
                pending, depth = pending[~done], depth * 4
        return items_out, scores_out

    def _search_allowed(self, users: np.ndarray, depth: int, k: int,
                        exclude: list[Any] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first ``k`` allowed of the top ``depth`` per row, and how many were allowed."""
        scores, ids = self.index.search(users, depth)
        items = ids.astype(np.int64) + 1  # FAISS pads missing results with id -1 → item 0
        banned = (items == 0) | ~self.finite[items - 1] | ~np.isfinite(scores)
        if exclude is not None:
            banned |= _listed(items, exclude, self.num_items + 1)
        keep = np.argsort(banned, axis=1, kind="stable")[:, :k]  # allowed first, in order
        chosen = np.take_along_axis(items, keep, 1)
        chosen_scores = np.take_along_axis(scores, keep, 1)
        dropped = np.take_along_axis(banned, keep, 1)
        chosen[dropped], chosen_scores[dropped] = 0, -np.inf
        return chosen, chosen_scores, (~dropped).sum(axis=1)

    # ----------------------------------------------------------------- exact ranks
    def _ranking_index(self) -> Any:
        """Items extended by a constant 1: ``<[u, -s], [e, 1]> = <u, e> - s``."""
        if self._ranking is None:
            ones = np.ones((self.num_items, 1), dtype=np.float32)
            self._ranking = self._flat(np.hstack([self._searchable, ones]))
        return self._ranking

    def rank_bounds(self, user_vectors: Any, targets: Any, exclude: Sequence[Any] | None = None,
                    batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Best and worst 1-based rank ``[U]`` of each target item among all allowed items.

        Competitors are every item but the target and ``exclude[u]``; ``lower`` counts those
        scoring above the target, ``upper`` also those tied with it (pessimistic). Items with
        non-finite vectors never compete; a non-finite user vector or target score gets the worst
        rank ``1 + #competitors``. Memory per batch grows with the ranks found, so
        ``batch_size`` users are ranked at a time.
        """
        users = _float32_rows(user_vectors, self.dim)
        targets = np.asarray(targets, dtype=np.int64)
        if targets.shape != (len(users),) or targets.min(initial=1) < 1 or (
                targets.max(initial=1) > self.num_items):
            raise ValueError(f"targets must be {len(users)} item indices in 1..{self.num_items}")
        queries, slack, finite = self._ranking_queries(users, targets)
        lower = np.empty(len(users), dtype=np.int64)
        upper = np.empty(len(users), dtype=np.int64)
        last = np.flatnonzero(~finite)
        lower[last] = upper[last] = self._worst_ranks(targets[last], None if exclude is None
                                                      else [exclude[r] for r in last])
        for rows in _row_batches(np.flatnonzero(finite), batch_size):
            limits, margins, ids = self._ranking_index().range_search(
                queries[rows], -float(slack[rows].max()))
            owner = np.repeat(np.arange(len(rows)), np.diff(limits.astype(np.int64)))
            items = ids.astype(np.int64) + 1
            is_target = items == targets[rows][owner]
            # the target's own margin, computed by the same kernel, is the bar (≈ 0)
            bar = np.zeros(len(rows), dtype=np.float32)
            bar[owner[is_target]] = margins[is_target]
            competes = (~is_target & (margins >= bar[owner]) & self.finite[items - 1]
                        & np.isfinite(margins))
            if exclude is not None:
                competes &= ~_listed_ragged(owner, items, [exclude[r] for r in rows],
                                            self.num_items + 1)
            upper[rows] = 1 + np.bincount(owner[competes], minlength=len(rows))
            above = competes & (margins > bar[owner])
            lower[rows] = 1 + np.bincount(owner[above], minlength=len(rows))
        return lower, upper

    def _worst_ranks(self, targets: np.ndarray, exclude: Sequence[Any] | None) -> np.ndarray:
        """``[R]`` 1 + the number of competitors: every item but the target and ``exclude[r]``."""
        others = np.full(len(targets), self.num_items - 1, dtype=np.int64)
        if exclude is not None and len(targets):
            stride = self.num_items + 1
            keys = np.unique(_excluded_keys(exclude, stride))
            rows, items = keys // stride, keys % stride
            listed = (items >= 1) & (items <= self.num_items) & (items != targets[rows])
            others -= np.bincount(rows[listed], minlength=len(targets))
        return 1 + others

    def _ranking_queries(self, users: np.ndarray, targets: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``[user, -target score]`` rows, per row a bound on float32 error in a margin, and
        ``[U]`` whether the row is finite (a user or target score that is not ranks last).

        The bound (γ_n · Σ|terms|, Higham's dot-product bound) makes the range search reach a
        little below the target, so the target itself and its exact ties are always returned.
        """
        wide_users = users.astype(np.float64)
        wide_targets = self.vectors[targets - 1].astype(np.float64)
        epsilon = float(np.finfo(np.float32).eps)
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite rows are flagged below
            scores = np.einsum("ud,ud->u", wide_users, wide_targets)
            queries = np.hstack([users, -scores[:, None].astype(np.float32)])
            magnitude = np.einsum("ud,ud->u", np.abs(wide_users), np.abs(wide_targets))
            slack = 2 * (self.dim + 2) * epsilon * (magnitude + np.abs(scores)) + 1e-30
        finite = np.isfinite(queries).all(axis=1) & np.isfinite(slack) & self.finite[targets - 1]
        return queries, slack, finite


def _excluded_keys(excluded: Sequence[Any], stride: int) -> np.ndarray:
    """``row * stride + item`` for every excluded item of every row, as one array."""
    lengths = [len(e) for e in excluded]
    if not sum(lengths):
        return np.empty(0, dtype=np.int64)
    rows = np.repeat(np.arange(len(excluded), dtype=np.int64), lengths)
    return rows * stride + np.concatenate([np.asarray(e, dtype=np.int64) for e in excluded])


def _listed(items: np.ndarray, excluded: Sequence[Any], stride: int) -> np.ndarray:
    """``[B, depth]`` bool: is ``items[b, j]`` in ``excluded[b]`` (one vectorised lookup)."""
    keys = np.arange(len(items), dtype=np.int64)[:, None] * stride + items
    return np.isin(keys, _excluded_keys(excluded, stride))


def _listed_ragged(owner: np.ndarray, items: np.ndarray, excluded: Sequence[Any], stride: int
                   ) -> np.ndarray:
    """As :func:`_listed` for flat ``(owner row, item)`` pairs."""
    return np.isin(owner.astype(np.int64) * stride + items, _excluded_keys(excluded, stride))
