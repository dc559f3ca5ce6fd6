"""Metrics on slices of the users: popular vs rare targets, short vs long histories.

Every evaluation reports, per split and protocol, the usual metrics averaged over the users of
each slice, plus ``users`` (how many users the slice holds). The per-user metrics the evaluator
already computed are averaged within each slice — no second forward pass.

Slices (all of them decided by the **training** part only, the same for both splits):

- ``item_head`` / ``item_tail``: the split's target item is / is not among the
  ``ITEM_HEAD_SHARE`` (20 %) most interacted-with items in training
  (:attr:`PreparedData.train_item_counts`). With ``N`` items, the cut-off
  ``item_head_min_count`` is the training count of the ``⌈0.2·N⌉``-th most interacted-with item;
  the head is every item with a training count ``>= item_head_min_count``. **Ties** at the
  boundary are all in the head, so the head can hold slightly more than 20 % of the items. The
  cut-off is at least 1: an item never seen in training is always tail.
- ``user_short`` / ``user_long``: the user's training history length is / is not in the
  shortest quartile (``USER_SHORT_QUANTILE`` = 0.25). With ``U`` users, ``user_short_max_length``
  is the training length of the ``⌈0.25·U⌉``-th shortest user; a user is short when their
  training length is ``<= user_short_max_length``. **Ties** at the boundary are all short, so the
  slice can hold slightly more than 25 % of the users. The training length is the one of
  :attr:`PreparedData.train_sequences` for both splits (the test split's model input also holds
  the validation item; the slice does not move with it).

``item_head`` + ``item_tail`` and ``user_short`` + ``user_long`` each partition all users. An
empty slice has ``users: 0`` and every metric ``null`` (never NaN, so the JSON stays valid).
The thresholds are written to ``results.json["slices"]["thresholds"]``.

On ML-100K (``ml-100k`` preset): ``item_head_min_count`` = 98 (337 of 1682 items are head; the
338th has 97) and ``user_short_max_length`` = 31 (246 of 943 users are short: the 236th
shortest has 31 training items, ten more tie with it); on the test split ``item_head`` holds
528 users and ``item_tail`` 415.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ur4rec.data.prepared import PreparedData

ITEM_HEAD_SHARE = 0.2
USER_SHORT_QUANTILE = 0.25
SLICE_NAMES = ("item_head", "item_tail", "user_short", "user_long")
TIE_RULE = ("ties at a boundary go to the head / short slice: head = training count >= "
            "item_head_min_count, short = training length <= user_short_max_length")


def _top_position(share: float, size: int) -> int:
    """``⌈share·size⌉`` (at least 1); rounded first, so that float error (0.1·30 is
    3.0000000000000004) never moves the cut-off."""
    return max(1, math.ceil(round(share * size, 9)))


@dataclass
class SliceSpec:
    """Thresholds and, per split, the users ``[U]`` (bool) of each slice."""

    thresholds: dict[str, Any]
    masks: dict[str, dict[str, np.ndarray]]


def slice_spec(data: PreparedData) -> SliceSpec:
    """The slices of ``data`` (module docstring), for the valid and test splits."""
    counts = np.asarray(data.train_item_counts[1:], dtype=np.int64)  # index 0 is padding
    lengths = np.fromiter((len(seq) for seq in data.train_sequences), dtype=np.int64,
                          count=data.num_users)
    head_min = 1
    if len(counts):
        head_min = max(1, int(np.sort(counts)[::-1][_top_position(ITEM_HEAD_SHARE,
                                                                  len(counts)) - 1]))
    short_max = 0
    if len(lengths):
        short_max = int(np.sort(lengths)[_top_position(USER_SHORT_QUANTILE, len(lengths)) - 1])
    is_head = np.concatenate([[False], counts >= head_min])  # by item index, padding never head
    short = lengths <= short_max
    masks = {}
    for split, targets in (("valid", data.valid_targets), ("test", data.test_targets)):
        head = is_head[np.asarray(targets, dtype=np.int64)]
        masks[split] = {"item_head": head, "item_tail": ~head,
                        "user_short": short, "user_long": ~short}
    thresholds = {"item_head_share": ITEM_HEAD_SHARE, "item_head_min_count": head_min,
                  "item_head_items": int((counts >= head_min).sum()), "items": int(len(counts)),
                  "user_short_quantile": USER_SHORT_QUANTILE,
                  "user_short_max_length": short_max, "user_short_users": int(short.sum()),
                  "users": int(len(lengths)), "ties": TIE_RULE}
    return SliceSpec(thresholds, masks)


def slice_metrics(per_user: Mapping[str, torch.Tensor], masks: Mapping[str, np.ndarray]
                  ) -> dict[str, dict[str, float | int | None]]:
    """Each slice's mean of every per-user metric ``[U]``, and ``users``; ``None`` if empty."""
    out: dict[str, dict[str, float | int | None]] = {}
    for name, mask in masks.items():
        rows = torch.from_numpy(np.asarray(mask, dtype=bool))
        users = int(rows.sum())
        row: dict[str, float | int | None] = {}
        for metric, values in per_user.items():
            value = float(values.cpu()[rows].mean()) if users else math.nan
            row[metric] = value if math.isfinite(value) else None
        row["users"] = users
        out[name] = row
    return out


def split_slices(spec: SliceSpec, split: str,
                 per_user: Mapping[str, Mapping[str, torch.Tensor]]
                 ) -> dict[str, dict[str, dict[str, float | int | None]]]:
    """``{protocol: {slice: metrics + users}}`` of ``split`` from ``per_user[protocol]``."""
    if split not in spec.masks:
        raise ValueError(f"unknown split {split!r} (valid or test)")
    return {protocol: slice_metrics(values, spec.masks[split])
            for protocol, values in per_user.items()}


def results_slices(**splits: Any) -> dict[str, Any]:
    """``results.json["slices"]``: thresholds and ``{split: {protocol: {slice: ...}}}`` from
    each split's :class:`~ur4rec.evaluation.evaluator.SplitResult` (e.g. ``test=..., valid=...``).
    """
    block: dict[str, Any] = {"thresholds": next(
        (result.slice_thresholds for result in splits.values() if result.slice_thresholds), {})}
    block.update({split: result.slices for split, result in splits.items()})
    return block
