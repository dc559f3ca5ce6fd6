"""Optional per-item feature vectors supplied by the user (e.g. image embeddings).

No CLIP weights exist offline, so ur4rec never computes image features itself: it reads them.
Accepted files map original item ids to vectors:

- ``.npz`` with arrays ``ids`` ``[M]`` and ``features`` ``[M, F]``;
- ``.pt``/``.pth`` holding ``{"ids": ..., "features": ...}`` or ``{item_id: vector}``;
- ``.npy`` holding a ``[M, 1 + F]`` array whose first column is the item id.

Items without a vector get zeros and are counted; ids the dataset does not know are an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ur4rec.data.prepared import PreparedData
from ur4rec.errors import DataError


def _read(path: Path) -> tuple[list[str], np.ndarray]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path) as arrays:
                ids, features = arrays["ids"], arrays["features"]
        elif suffix in (".pt", ".pth"):
            payload: Any = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(payload, dict) and "features" in payload and "ids" in payload:
                ids, features = payload["ids"], payload["features"]
            elif isinstance(payload, dict):
                ids = list(payload)
                features = np.stack([np.asarray(v, dtype=np.float32).reshape(-1)
                                     for v in payload.values()])
            else:
                raise DataError(f"{path}: expected a dict of item id → vector")
        elif suffix == ".npy":
            table = np.load(path, allow_pickle=False)
            if table.ndim != 2 or table.shape[1] < 2:
                raise DataError(f"{path}: expected a [items, 1 + dim] array (id, then vector), "
                                f"got shape {table.shape}")
            ids, features = table[:, 0], table[:, 1:]
        else:
            raise DataError(f"{path}: image features must be .npz, .pt/.pth or .npy")
    except DataError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise DataError(f"image features {path} cannot be read ({error})") from None
    features = np.asarray(torch.as_tensor(features).numpy() if torch.is_tensor(features)
                          else features, dtype=np.float32)
    names = [_id_text(i) for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]
    if features.ndim != 2 or len(features) != len(names):
        raise DataError(f"{path}: {len(names)} ids but features of shape {features.shape}")
    return names, features


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def load_item_features(path: Path, data: PreparedData, expected_dim: int | None = None
                       ) -> tuple[np.ndarray, dict[str, int]]:
    """``[num_items + 1, F]`` rows by item index (row 0 and unknown items zero) and counts."""
    if not path.is_file():
        raise DataError(f"image features file {path} does not exist")
    names, features = _read(path)
    if expected_dim is not None and features.shape[1] != expected_dim:
        raise DataError(f"{path}: vectors have dimension {features.shape[1]}, expected "
                        f"{expected_dim}")
    if not np.isfinite(features).all():
        raise DataError(f"{path}: features contain NaN or infinite values")
    index = {str(item): i for i, item in enumerate(data.item_ids) if item is not None}
    unknown = [name for name in names if name not in index]
    if unknown:
        raise DataError(f"{path}: {len(unknown)} ids are not items of dataset {data.name!r} "
                        f"(first: {unknown[:3]})")
    table = np.zeros((data.num_items + 1, features.shape[1]), dtype=np.float32)
    rows = np.array([index[name] for name in names], dtype=np.int64)
    table[rows] = features
    covered = len(set(rows.tolist()))
    return table, {"items_with_features": covered, "items_without": data.num_items - covered}
