"""The leakage boundary: the only place user texts read interactions from.

User texts may describe a user only through the *training* part of their history — the first
``len(sequence) - 2`` interactions, which is exactly ``PreparedData.train_sequences``. The last two
(validation and test targets) never reach a template or a prompt. Everything user-related in
:mod:`ur4rec.text` goes through :func:`training_interactions`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ur4rec.data.prepared import PreparedData

LIKED_RATING = 4.0  # MovieLens convention: 4 and 5 stars are positives


def training_interactions(data: PreparedData) -> pd.DataFrame:
    """Rows of ``data.interactions`` in each user's training part, chronological per user.

    Columns: user_idx, item_idx, timestamp, rating. ``data.interactions`` is chronological per
    user, so the training part is the first ``n - 2`` rows of each user.
    """
    frame = data.interactions
    users = frame["user_idx"].to_numpy()
    position = frame.groupby("user_idx", sort=False).cumcount().to_numpy()
    size = np.bincount(users, minlength=data.num_users)[users]
    train = frame[position < size - 2].reset_index(drop=True)
    _check_matches_train_sequences(train, data)
    return train


def _check_matches_train_sequences(train: pd.DataFrame, data: PreparedData) -> None:
    """The split lives in :mod:`ur4rec.data`; fail loudly if the two ever disagree."""
    expected = [seq for seq in data.train_sequences if len(seq)]
    flat = np.concatenate(expected) if expected else np.zeros(0, dtype=np.int64)
    if len(flat) != len(train) or not np.array_equal(flat, train["item_idx"].to_numpy()):
        raise AssertionError("training interactions disagree with PreparedData.train_sequences")


def liked_mask(ratings: np.ndarray) -> np.ndarray:
    """Which training interactions count as liked: rating ≥ 4, or all when there are no ratings."""
    if ratings.size == 0 or np.isnan(ratings).all():
        return np.ones(ratings.shape, dtype=bool)
    return np.nan_to_num(ratings, nan=0.0) >= LIKED_RATING


def split_by_user(train: pd.DataFrame, num_users: int) -> list[pd.DataFrame]:
    """One frame per user index (empty frames for users without training interactions)."""
    bounds = np.searchsorted(train["user_idx"].to_numpy(), np.arange(num_users + 1))
    return [train.iloc[bounds[u]:bounds[u + 1]] for u in range(num_users)]
