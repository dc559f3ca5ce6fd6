"""Filters applied before splitting: positives by rating, then an iterated k-core."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ur4rec.errors import DataError


def filter_interactions(interactions: pd.DataFrame, min_rating: float | None,
                        min_user_interactions: int, min_item_interactions: int,
                        source: str) -> pd.DataFrame:
    """Keep ratings ≥ ``min_rating``, then drop users/items below their minimum until stable.

    Dropping items can push users under their minimum and vice versa, so the two are repeated
    until neither removes anything (a k-core). Raises naming the filter that left nothing.
    """
    frame = interactions
    if min_rating is not None:
        if frame["rating"].isna().all():
            raise DataError(f"{source}: data.min_rating is set but the data has no rating column")
        frame = frame[frame["rating"] >= min_rating]
        if frame.empty:
            raise DataError(f"{source}: no interaction has rating ≥ {min_rating} (data.min_rating)")
    # the same rounds on integer codes and one row mask (a missing id, code -1, never passes:
    # value_counts skipped it before), then a single selection: 10M rows stay cheap
    item_codes, _ = pd.factorize(frame["item"])
    user_codes, _ = pd.factorize(frame["user"])
    keep = np.ones(len(frame), dtype=bool)
    while True:
        before = int(keep.sum())
        keep &= _count_passes(item_codes, keep, min_item_interactions)
        keep &= _count_passes(user_codes, keep, min_user_interactions)
        if int(keep.sum()) == before:
            break
    if not keep.all():
        frame = frame[keep]
    if frame.empty:
        raise DataError(
            f"{source}: no user has ≥ {min_user_interactions} interactions after filtering "
            f"(data.min_user_interactions={min_user_interactions}, "
            f"data.min_item_interactions={min_item_interactions}, data.min_rating={min_rating})"
        )
    return frame


def _count_passes(codes: np.ndarray, keep: np.ndarray, minimum: int) -> np.ndarray:
    """Per row: does its id (``codes``, -1 = missing) have ≥ ``minimum`` rows among ``keep``?"""
    valid = codes >= 0
    counts = np.bincount(codes[keep & valid], minlength=int(codes.max(initial=-1)) + 1)
    passes = np.zeros(len(codes), dtype=bool)
    passes[valid] = counts[codes[valid]] >= minimum
    return passes
