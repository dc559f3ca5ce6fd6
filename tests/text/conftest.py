"""Tiny films with metadata (and optionally a consistent knowledge graph) for the text tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ur4rec.config import DataConfig
from ur4rec.data.canonical import RawDataset
from ur4rec.data.prepared import PreparedData, build_prepared, effective_settings

from ..conftest import synthetic_interactions

GENRES = ["Action", "Comedy", "Drama", "Horror", "Sci-Fi", "Romance", "Children's"]
PLANTED = "Zyzzogeton"  # a word that appears nowhere else


def film_items(num_items: int, planted: int = 0) -> pd.DataFrame:
    """Items "1".."num_items" with titles, years and genres; planted items get unique ones."""
    rows = []
    for item in range(1, num_items + 1):
        title = f"Film Number {item}, The" if item % 4 == 0 else f"Film Number {item}"
        genres = [GENRES[item % len(GENRES)], GENRES[(item * 3) % len(GENRES)]]
        rows.append((str(item), title, 1950 + item, sorted(set(genres))))
    for k in range(planted):
        rows.append((f"p{k}", f"{PLANTED} Secret {k}", 2001, ["Documentary"]))
    return pd.DataFrame(rows, columns=["item", "title", "year", "genres"])


def consistent_kg(items: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Graph facts that agree with the items: genre entities follow the genres; directors are
    shared by runs of consecutive films; a sequel pair and some awards."""
    rng = np.random.default_rng(seed)
    rows = []
    for item, genres in zip(items["item"], items["genres"], strict=True):
        for genre in genres:
            if rng.random() < 0.9:
                rows.append((item, "genre", f"g.{genre}"))
        if str(item).isdigit():
            rows.append((item, "directed_by", f"d.{int(item) // 3}"))
            rows.append((item, "actor", f"a.{int(item) % 5}"))
            if int(item) % 6 == 0:
                rows.append((item, "award_won", f"aw.{item}"))
    rows.append(("1", "sequel", "item:2"))
    rows.append(("2", "prequel", "item:1"))
    return pd.DataFrame(rows, columns=["item", "relation", "entity"])


def build(interactions: pd.DataFrame, items: pd.DataFrame, kg: pd.DataFrame | None = None,
          users: pd.DataFrame | None = None, num_candidates: int = 5,
          cold_items: float = 0.0) -> PreparedData:
    config = DataConfig(dataset="films", path=Path("films.csv"),
                        num_candidates=num_candidates, cold_items=cold_items)
    raw = RawDataset(name="films", interactions=interactions, items=items, source="films")
    if kg is not None:
        raw.kg = kg
    if users is not None:
        raw.users = users
    return build_prepared(raw, config, effective_settings(config))


@pytest.fixture
def films() -> PreparedData:
    """30 users, 40 films with metadata and a consistent graph, age/gender/occupation."""
    items = film_items(40)
    users = pd.DataFrame({"user": [f"u{k}" for k in range(30)],
                          "age": [20 + k for k in range(30)],
                          "gender": ["M" if k % 2 else "F" for k in range(30)],
                          "occupation": ["engineer", "artist", "none"] * 10})
    return build(synthetic_interactions(num_users=30, num_items=40, length=14), items,
                 consistent_kg(items), users)


@pytest.fixture
def planted() -> PreparedData:
    """Every user's validation and test items are unique planted films (title, genre)."""
    base = synthetic_interactions(num_users=12, num_items=30, length=10)
    rows = [base]
    for k, user in enumerate(base["user"].unique()):
        last = base.loc[base["user"] == user, "timestamp"].max()
        rows.append(pd.DataFrame({"user": [user, user], "item": [f"p{2 * k}", f"p{2 * k + 1}"],
                                  "timestamp": [last + 5, last + 9], "rating": [5.0, 5.0]}))
    interactions = pd.concat(rows, ignore_index=True)
    items = film_items(30, planted=24)
    return build(interactions, items, consistent_kg(items))
