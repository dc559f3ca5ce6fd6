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
    users = frame["user_idx"].to_numpy(dtype=np.int64)
    stamps = frame["timestamp"].to_numpy(dtype=np.int64)
    if len(frame) and users.min() >= 0:
        span = int(stamps.max()) - int(stamps.min()) + 1
        if (int(users.max()) + 1) * span < 2**62:
            # one int64 key (user, timestamp) and a stable sort: file row breaks the ties, the
            # same permutation as the three-column sort at a fraction of its cost
            key = users * span + (stamps - stamps.min())
            order = np.argsort(key, kind="stable")
            return frame.take(order).reset_index(drop=True)
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
    # The pool of a user is the sorted list of unseen items; ``rng.choice(len(pool), ...)``
    # draws the same positions from the same stream as ``rng.choice(pool, ...)`` does, so the
    # candidates are bit-identical to drawing from the materialised pool — found here by
    # counting, without building a catalogue-sized array for each user. Every user's seen
    # items (sorted, distinct, in 1..num_items) come from one sort of all histories.
    lengths = np.fromiter((len(h) for h in sequences), dtype=np.int64, count=len(sequences))
    flat = (np.concatenate([np.asarray(h, dtype=np.int64) for h in sequences])
            if len(sequences) else np.zeros(0, dtype=np.int64))
    owner = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
    inside = (flat >= 1) & (flat <= num_items)
    key = np.sort(owner[inside] * (num_items + 1) + flat[inside])
    key = key[np.concatenate(([True], key[1:] != key[:-1]))]  # np.unique, without its hashing
    seen_owner, seen_item = np.divmod(key, num_items + 1)
    bounds = np.searchsorted(seen_owner, np.arange(len(sequences) + 1))
    # seen item j of a user (0-based, ascending) has seen_item - 1 - j unseen items below it
    unseen_below = seen_item - 1 - (np.arange(len(key)) - bounds[seen_owner])
    for user in range(len(sequences)):
        begin, end = bounds[user], bounds[user + 1]
        pool_size = num_items - int(end - begin)
        if pool_size < num_negatives:
            raise ValueError(
                f"user index {user} has interacted with {lengths[user]} of {num_items} items; "
                f"fewer than {num_negatives} remain as negatives (lower data.num_candidates)"
            )
        ranks = rng.choice(pool_size, size=num_negatives, replace=False)
        # the unseen item of 0-based rank r is r + 1 + (seen items with ≤ r unseen below)
        out[user, 1:] = ranks + 1 + np.searchsorted(unseen_below[begin:end], ranks,
                                                    side="right")
    return out
