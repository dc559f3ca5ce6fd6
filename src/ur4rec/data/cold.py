"""The cold-item protocol (docs/data.md): a seeded share of the catalogue is *new*.

With ``data.cold_items: FRACTION`` > 0, :func:`choose_cold_items` picks ``round(FRACTION × items)``
items at prepare time and every interaction with them is split off into
``PreparedData.cold_interactions``. ``PreparedData.interactions`` — what training sequences,
texts, item statistics, co-liked lists, popularity and memory are built from — then holds warm
items only, so nothing a model learns from ever mentions a cold item. Cold items keep their item
index (``num_items`` counts them, models have rows for them that training never targets) and are
never warm candidates. :mod:`ur4rec.evaluation.cold` ranks them.

Which items (popularity-stratified, systematic): items are ordered by their number of
interactions in the filtered data (most first; equal counts in a seeded random order), the order
is cut into ``n`` consecutive strata of (almost) equal size, and one item is drawn uniformly from
each. The cold set then has the catalogue's popularity distribution in every draw — a uniform
draw does so only on average, and with ~170 of ML-100K's 1,682 items whether a few blockbusters
fall in or out would move the cold metrics from seed to seed — and it is neither the long tail
(what "items with few interactions" would give) nor the head (what an interaction-weighted draw
would give).

The generator is seeded by ``data.candidate_seed`` on a stream of its own
(:data:`COLD_STREAM`), so the cold set does not shift the warm candidate draws' generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

MAX_FRACTION = 0.5
COLD_STREAM = 0xC01D  # mixed into the seed: the cold draws never share the candidates' generator
MIN_WARM_INTERACTIONS = 3  # leave-one-out needs a training item, a validation and a test target
SELECTION_RULE = ("popularity-stratified: items ordered by interactions in the filtered data "
                  "(most first, equal counts in seeded random order), cut into as many equal "
                  "strata as there are cold items, one item drawn uniformly from each")
COLD_COLUMNS = ["user_idx", "item_idx", "timestamp", "rating"]


def cold_item_count(num_items: int, fraction: float) -> int:
    """How many items a fraction makes cold: ``round(fraction × num_items)``, at least 1 when on."""
    if fraction <= 0 or num_items == 0:
        return 0
    return int(min(num_items, max(1, round(fraction * num_items))))


def choose_cold_items(counts: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Positions (0-based, into ``counts``) of the cold items, ascending (module docstring).

    ``counts`` ``[N]``: interactions per item. Deterministic in ``(counts, fraction, seed)``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = cold_item_count(len(counts), fraction)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, COLD_STREAM])
    tie_break = rng.permutation(len(counts))
    order = np.lexsort((tie_break, -counts))  # most interactions first, ties at random
    picks = [stratum[rng.integers(len(stratum))] for stratum in np.array_split(order, n)]
    return np.sort(np.asarray(picks, dtype=np.int64))


def empty_cold_interactions() -> pd.DataFrame:
    return pd.DataFrame({"user_idx": np.zeros(0, np.int64), "item_idx": np.zeros(0, np.int64),
                         "timestamp": np.zeros(0, np.int64), "rating": np.zeros(0, np.float64)})


def cold_item_mask(num_items: int, cold_items: np.ndarray,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """``[num_items + 1]`` bool, True at the cold item indices (column 0, padding, is False).

    For training code that must keep cold items out of every loss: mask their logits to -inf in
    a softmax over the catalogue and OR the mask into ``positives`` so they are never sampled as
    negatives — otherwise their id rows still get a gradient (pushed down as negatives).
    """
    mask = torch.zeros(num_items + 1, dtype=torch.bool, device=device)
    if len(cold_items):
        mask[torch.as_tensor(np.asarray(cold_items, dtype=np.int64), device=device)] = True
    return mask
