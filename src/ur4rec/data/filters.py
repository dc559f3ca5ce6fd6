"""What is dropped before splitting: exact duplicate rows, then positives by rating, then an
iterated k-core — each counted, so ``meta.json`` says what the filters removed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ur4rec.errors import DataError


def filter_interactions(interactions: pd.DataFrame, min_rating: float | None,
                        min_user_interactions: int, min_item_interactions: int,
                        source: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``(kept rows in file order, dropped)``: exact duplicates go first (see
    :func:`duplicate_rows`), then ratings below ``min_rating``, then users/items below their
    minimum until stable.

    Dropping items can push users under their minimum and vice versa, so the two are repeated
    until neither removes anything (a k-core). Raises naming the filter that left nothing.
    ``dropped`` holds ``duplicates`` (interactions, other_rating) and, for ``min_rating`` and
    ``min_interactions``, the interactions, users and items each filter removed (a user or item
    counts as removed by the filter that took its last interaction).
    """
    duplicated, other_rating = duplicate_rows(interactions)
    frame = interactions[~duplicated] if duplicated.any() else interactions
    # the rounds on integer codes and one row mask (a missing id, code -1, never passes:
    # value_counts skipped it before), then a single selection: 10M rows stay cheap
    item_codes, _ = pd.factorize(frame["item"])
    user_codes, _ = pd.factorize(frame["user"])
    everything = np.ones(len(frame), dtype=bool)
    rated = everything
    if min_rating is not None:
        if frame["rating"].isna().all():
            raise DataError(f"{source}: data.min_rating is set but the data has no rating column")
        rated = (frame["rating"] >= min_rating).to_numpy()
        if not rated.any():
            raise DataError(f"{source}: no interaction has rating ≥ {min_rating} (data.min_rating)")
    keep = rated.copy()
    while True:
        before = int(keep.sum())
        keep &= _count_passes(item_codes, keep, min_item_interactions)
        keep &= _count_passes(user_codes, keep, min_user_interactions)
        if int(keep.sum()) == before:
            break
    if not keep.any():
        raise DataError(
            f"{source}: no user has ≥ {min_user_interactions} interactions after filtering "
            f"(data.min_user_interactions={min_user_interactions}, "
            f"data.min_item_interactions={min_item_interactions}, data.min_rating={min_rating})"
        )
    dropped = {
        "duplicates": {"interactions": int(duplicated.sum()), "other_rating": other_rating},
        "min_rating": _removed(user_codes, item_codes, everything, rated),
        "min_interactions": _removed(user_codes, item_codes, rated, keep),
    }
    return (frame if keep.all() else frame[keep]), dropped


def duplicate_rows(interactions: pd.DataFrame) -> tuple[np.ndarray, int]:
    """``(mask, other_rating)``: True on every row that repeats an earlier row's (user, item,
    timestamp) — the same event recorded twice; the first in file order stays. ``other_rating``
    counts the repeats whose rating differs from the row kept.

    A repeat of an item at another time is real (a second visit, a re-watch) and is not
    touched. Keys are integer codes, so 10M rows hash as ints, not strings.
    """
    keys = pd.DataFrame({"user": pd.factorize(interactions["user"])[0],
                         "item": pd.factorize(interactions["item"])[0],
                         "timestamp": interactions["timestamp"].to_numpy()})
    mask = keys.duplicated(keep="first").to_numpy()
    if not mask.any():
        return mask, 0
    group = keys.groupby(["user", "item", "timestamp"], sort=False).ngroup().to_numpy()
    _, first_row = np.unique(group, return_index=True)  # group g's first row, in file order
    ratings = interactions["rating"].to_numpy(dtype=np.float64)
    kept = ratings[first_row[group]]
    other = ~((ratings == kept) | (np.isnan(ratings) & np.isnan(kept)))
    return mask, int((mask & other).sum())


def _removed(users: np.ndarray, items: np.ndarray, before: np.ndarray, after: np.ndarray
             ) -> dict[str, int]:
    """Interactions, users and items present among ``before`` rows and gone among ``after``."""
    return {"interactions": int(before.sum() - after.sum()),
            "users": _distinct(users, before) - _distinct(users, after),
            "items": _distinct(items, before) - _distinct(items, after)}


def _distinct(codes: np.ndarray, rows: np.ndarray) -> int:
    chosen = codes[rows]
    return int(np.count_nonzero(np.bincount(chosen[chosen >= 0], minlength=1)))


def _count_passes(codes: np.ndarray, keep: np.ndarray, minimum: int) -> np.ndarray:
    """Per row: does its id (``codes``, -1 = missing) have ≥ ``minimum`` rows among ``keep``?"""
    valid = codes >= 0
    counts = np.bincount(codes[keep & valid], minlength=int(codes.max(initial=-1)) + 1)
    passes = np.zeros(len(codes), dtype=bool)
    passes[valid] = counts[codes[valid]] >= minimum
    return passes
