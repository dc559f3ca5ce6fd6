"""Chronological leave-one-out and the fixed evaluation candidates.

Order: each user's interactions are sorted by timestamp; ties keep their order in the source file
(a stable sort on ``(user, timestamp, file row)``). The last item is the test target, the one
before it the validation target, the rest is the training prefix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def order_chronologically(interactions: pd.DataFrame) -> pd.DataFrame:
    """Sort by user, then timestamp, then file row (stable: ties keep file order)."""
    frame = interactions.assign(row=np.arange(len(interactions)))
    return frame.sort_values(["user_idx", "timestamp", "row"], kind="stable").reset_index(drop=True)


def user_sequences(ordered: pd.DataFrame, num_users: int) -> list[np.ndarray]:
    """Item indices of each user's full history, oldest first."""
    items = ordered["item_idx"].to_numpy(dtype=np.int64)
    bounds = np.searchsorted(ordered["user_idx"].to_numpy(), np.arange(num_users + 1))
    return [items[bounds[u]:bounds[u + 1]] for u in range(num_users)]


def draw_candidates(sequences: list[np.ndarray], targets: np.ndarray, num_items: int,
                    num_candidates: int, rng: np.random.Generator) -> np.ndarray:
    """``[U, num_candidates]`` item indices: column 0 the target, then uniform negatives.

    Negatives are drawn without replacement from the items (1..num_items) the user never
    interacted with in the whole history, so they cannot be hidden positives.
    """
    num_negatives = num_candidates - 1
    out = np.empty((len(sequences), num_candidates), dtype=np.int64)
    out[:, 0] = targets
    everything = np.arange(1, num_items + 1)
    for user, history in enumerate(sequences):
        pool = np.setdiff1d(everything, history, assume_unique=False)
        if len(pool) < num_negatives:
            raise ValueError(
                f"user index {user} has interacted with {len(history)} of {num_items} items; "
                f"fewer than {num_negatives} remain as negatives (lower data.num_candidates)"
            )
        out[user, 1:] = rng.choice(pool, size=num_negatives, replace=False)
    return out
