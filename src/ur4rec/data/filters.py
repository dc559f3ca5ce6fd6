"""Filters applied before splitting: positives by rating, then an iterated k-core."""

from __future__ import annotations

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
    while True:
        before = len(frame)
        item_counts = frame["item"].map(frame["item"].value_counts())
        frame = frame[item_counts >= min_item_interactions]
        user_counts = frame["user"].map(frame["user"].value_counts())
        frame = frame[user_counts >= min_user_interactions]
        if len(frame) == before:
            break
    if frame.empty:
        raise DataError(
            f"{source}: no user has ≥ {min_user_interactions} interactions after filtering "
            f"(data.min_user_interactions={min_user_interactions}, "
            f"data.min_item_interactions={min_item_interactions}, data.min_rating={min_rating})"
        )
    return frame
