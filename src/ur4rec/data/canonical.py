"""The one in-memory form every source is loaded into, before filtering and splitting."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

INTERACTION_COLUMNS = ["user", "item", "timestamp", "rating"]
ITEM_COLUMNS = ["item", "title", "year", "genres"]
KG_COLUMNS = ["item", "relation", "entity"]


@dataclass
class RawDataset:
    """Interactions in file order plus whatever metadata the source has.

    ``interactions``: columns user, item (original ids), timestamp (int64 seconds), rating (float,
    NaN where the source has none). ``items``: item, title, year (nullable Int64), genres (list of
    str). ``kg``: item, relation (e.g. ``directed_by``), entity (an opaque id shared across items).
    ``users``: user plus any attribute columns.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ITEM_COLUMNS))
    kg: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=KG_COLUMNS))
    users: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["user"]))
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    """what the source says of itself (origin, split rule, verification): added to meta.json"""

    def checksum(self) -> str:
        """sha256 of the interactions in file order — equal for every copy of the same data."""
        return interactions_checksum(self.interactions)


def interactions_checksum(interactions: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for column in INTERACTION_COLUMNS:
        values = interactions[column]
        if column == "rating":
            digest.update(np.nan_to_num(values.to_numpy(dtype=np.float64), nan=-1.0).tobytes())
        elif column == "timestamp":
            digest.update(values.to_numpy(dtype=np.int64).tobytes())
        else:
            digest.update("\x1f".join(map(str, values.tolist())).encode())
    return digest.hexdigest()


def split_title_year(title: str) -> tuple[str | None, int | None]:
    """``"Toy Story (1995)"`` → ``("Toy Story", 1995)``; GroupLens puts the year in the title."""
    text = str(title).strip()
    if not text or text.lower() in {"unknown", "unkonwn", "nan"}:
        return None, None
    if text.endswith(")") and "(" in text:
        head, _, tail = text.rpartition("(")
        year_text = tail[:-1].strip()
        if year_text.isdigit() and len(year_text) == 4:
            return head.strip(), int(year_text)
    return text, None
