"""How much of a retriever training target the item texts' statistics give away (docs/texts.md,
"Item statistics at a training position").

Item texts quote training statistics: viewers, mean rating, and the films "viewers who liked it
also liked" (:mod:`ur4rec.text.catalog`). One vector per item is shared by every reader, so at a
retriever training position (the user's last ``retriever.train_window`` training targets) the
texts the retriever reads also count that user's *later* interactions — the target's own viewer
count includes the reading user's target interaction, and a film the user read before the target
may name the target among its "also liked" films through a co-like the user's own liking of the
target is part of. A statistic cannot leave one reader out while serving all, so this is not
removed; it is measured on every run and stated in ``results.json["texts"]["item_exposure"]``,
as the user texts' training view states its own (``training_target_exposure``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ur4rec.config import RunConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.text.catalog import NEIGHBOURS, build_catalog, top_neighbours
from ur4rec.text.history import liked_mask, split_by_user, training_interactions

MEANING = ("of the retriever's possible training targets (each user's last train_window "
           "training items): named_by_history — the target is among the 'also liked' films of "
           "an item the user read before it (within retriever.history_len); "
           "named_through_own_like — of those, the user liked both that item and the target in "
           "training, so their own later interaction is part of the co-like that names it; "
           "named_only_through_own_later — no item read before it would name the target once "
           "the user's own interactions from the target on are left out of the statistics "
           "(the leak proper); targets_in_own_counts — every target's own viewer count and mean "
           "rating include the reading user's target interaction")


class CoLikes:
    """The liked (user, item) training pairs the "also liked" films are computed from
    (:func:`~ur4rec.text.catalog.co_liked_items`), to recount them without one user's pairs."""

    def __init__(self, train: pd.DataFrame, num_items: int) -> None:
        from scipy import sparse

        liked = train[liked_mask(train["rating"].to_numpy(dtype=np.float64))]
        pairs = liked[["user_idx", "item_idx"]].drop_duplicates()
        users = pairs["user_idx"].to_numpy(dtype=np.int64)
        items = pairs["item_idx"].to_numpy(dtype=np.int64)
        self.matrix = sparse.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)),
                                        shape=(int(users.max()) + 1, num_items + 1))
        self.by_item = self.matrix.T.tocsr()
        self.likers = np.asarray(self.matrix.sum(axis=0)).ravel()
        self._rows: dict[int, np.ndarray] = {}

    def shared(self, item: int) -> np.ndarray:
        """``[N + 1]`` likers each item shares with ``item``."""
        if item not in self._rows:
            self._rows[item] = np.asarray((self.by_item[item] @ self.matrix).todense()).ravel()
        return self._rows[item]

    def names_without(self, namers: np.ndarray, target: int, liked_before: set[int],
                      removed: np.ndarray) -> bool:
        """Whether one of ``namers`` still lists ``target`` among its "also liked" films once a
        user's liked pairs ``removed`` are left out (``liked_before``: that user's liked items
        that stay, so their co-likes with ``removed`` go too)."""
        likers = self.likers.copy()
        likers[removed] -= 1
        for namer in namers.tolist():
            shared = self.shared(namer).copy()
            if namer in liked_before:
                shared[removed] -= 1
            others = np.flatnonzero(shared)
            if target in top_neighbours(namer, others, shared[others], likers):
                return True
        return False


def neighbour_table(co_liked: list[list[int]]) -> np.ndarray:
    """``[N + 1, NEIGHBOURS]`` item indices of each item's "also liked" films, 0-padded."""
    table = np.zeros((len(co_liked), NEIGHBOURS), dtype=np.int64)
    for item, others in enumerate(co_liked):
        table[item, :len(others)] = others
    return table


MAX_USERS = 5000
"""users whose targets are counted (a seeded sample beyond): the count is a Python loop over
targets, seconds for ML-100K's 943 users, and a share needs no million of them"""


def item_exposure_for_run(config: RunConfig, data: PreparedData, texts: dict[str, Any]
                          ) -> dict[str, Any]:
    """``results.json["texts"]["item_exposure"]`` of a run whose retriever reads item texts
    (``texts``: the run's texts record): :func:`also_liked_exposure` when the item texts were
    written by ur4rec from this data; a statement that it is not measured otherwise."""
    items = (texts.get("sides") or {}).get("items") or {}
    if items.get("from_source") and items.get("written_from") != data.meta.get("fingerprint"):
        return {"status": "not measured: the item texts were not written by ur4rec from this "
                          "data, so which statistics they quote is unknown",
                "meaning": MEANING}
    statistics = items.get("item_statistics", config.texts.item_statistics)
    return also_liked_exposure(data, config.retriever.train_window, config.retriever.history_len,
                               bool(statistics))


def also_liked_exposure(data: PreparedData, window: int, history_len: int,
                        item_statistics: bool = True, max_users: int = MAX_USERS
                        ) -> dict[str, Any]:
    """Counts and shares over the possible training targets (:data:`MEANING`) of all users, or
    of ``max_users`` drawn by a seeded generator; nothing is named without item statistics or
    without scipy (the texts then have no "also liked")."""
    view = data.without_recent_training(window)
    users = np.arange(data.num_users)
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(0).choice(users, max_users, replace=False))
    first = {int(u): len(view.train_sequences[u]) for u in users}
    targets = sum(len(data.train_sequences[u]) - first[u] for u in first)
    counts = dict.fromkeys(("named_by_history", "named_through_own_like",
                            "named_only_through_own_later"), 0)
    train = training_interactions(data)
    neighbours = neighbour_table(build_catalog(data, train).co_liked)
    if item_statistics and neighbours.any():
        co_likes = CoLikes(train, data.num_items)
        frames = split_by_user(train, data.num_users)
        for user, start in first.items():
            _count_user(frames[user], start, history_len, neighbours, co_likes, counts)
    shares = {f"share_{key}": round(value / targets, 6) if targets else 0.0
              for key, value in counts.items()}
    return {"possible_targets": targets, "users_measured": len(users), **counts, **shares,
            "targets_in_own_counts": targets if item_statistics else 0,
            "item_statistics": item_statistics, "meaning": MEANING}


def _count_user(frame: pd.DataFrame, first: int, history_len: int, neighbours: np.ndarray,
                co_likes: CoLikes, counts: dict[str, int]) -> None:
    """Add one user's targets (training positions ``first``..) to ``counts``."""
    items = frame["item_idx"].to_numpy(dtype=np.int64)
    liked = liked_mask(frame["rating"].to_numpy(dtype=np.float64))
    for position in range(first, len(items)):
        start = max(0, position - history_len)
        target = int(items[position])
        hits = (neighbours[items[start:position]] == target).any(axis=1)
        if not hits.any():
            continue
        counts["named_by_history"] += 1
        counts["named_through_own_like"] += bool(liked[position]
                                                 and liked[start:position][hits].any())
        liked_before = set(items[:position][liked[:position]].tolist())
        removed = np.array(sorted(set(items[position:][liked[position:]].tolist())
                                  - liked_before), dtype=np.int64)
        if len(removed) and not co_likes.names_without(items[start:position][hits], target,
                                                       liked_before, removed):
            counts["named_only_through_own_later"] += 1
