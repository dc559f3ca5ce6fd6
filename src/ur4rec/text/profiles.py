"""Statistics of each user's *training* history: what a template or a prompt says about a user.

Input comes only from :func:`ur4rec.text.history.training_interactions`, so nothing here can see a
validation or test item.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ur4rec.data.prepared import PreparedData
from ur4rec.text.catalog import Catalog
from ur4rec.text.history import liked_mask, split_by_user
from ur4rec.text.knowledge import PEOPLE_RELATIONS

RECENT_LIKED = 4
DISLIKED_RATING = 2.0


@dataclass
class UserProfile:
    """What the training part of one user's history shows; item lists hold item indices."""

    user_idx: int
    demographics: dict[str, str]
    num_rated: int
    mean_rating: float
    top_genres: list[tuple[str, float]]
    distinctive_genres: list[str]
    avoided_genres: list[str]
    eras: list[tuple[int, float]]
    recent_liked: list[int]
    disliked: list[int]
    recurring_people: list[tuple[str, list[int]]] = field(default_factory=list)
    history: list[tuple[int, float]] = field(default_factory=list)
    """(item, rating) of the training history, oldest first"""


def build_profiles(data: PreparedData, train: pd.DataFrame, catalog: Catalog
                   ) -> list[UserProfile]:
    """One profile per user index, in PreparedData order."""
    genre_names = sorted({g for gs in catalog.genres for g in gs if g.lower() != "unknown"})
    genre_matrix = np.zeros((catalog.num_items + 1, len(genre_names)), dtype=np.float64)
    for item, gs in enumerate(catalog.genres):
        for g in gs:
            if g in genre_names:
                genre_matrix[item, genre_names.index(g)] = 1.0
    base = _shares(genre_matrix[train["item_idx"].to_numpy(dtype=np.int64)].sum(0))
    demographics = _demographics(data)
    return [
        _profile(user, frame, catalog, genre_names, genre_matrix, base, demographics[user])
        for user, frame in enumerate(split_by_user(train, data.num_users))
    ]


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else counts


def _profile(user: int, frame: pd.DataFrame, catalog: Catalog, genre_names: list[str],
             genre_matrix: np.ndarray, base: np.ndarray, demographics: dict[str, str]
             ) -> UserProfile:
    items = frame["item_idx"].to_numpy(dtype=np.int64)
    ratings = frame["rating"].to_numpy(dtype=np.float64)
    liked = liked_mask(ratings)
    favourite_items = items[liked] if liked.any() else items
    liked_shares = _shares(genre_matrix[favourite_items].sum(0))
    watched_shares = _shares(genre_matrix[items].sum(0))
    order = np.lexsort((np.arange(len(genre_names)), -liked_shares))
    top = [(genre_names[g], float(liked_shares[g])) for g in order[:3] if liked_shares[g] > 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(base > 0, liked_shares / base, 0.0)
    distinctive = [genre_names[g] for g in np.lexsort((np.arange(len(lift)), -lift))[:2]
                   if lift[g] >= 1.5 and liked_shares[g] >= 0.08]
    avoided = [genre_names[g] for g in np.lexsort((np.arange(len(base)), -base))
               if base[g] >= 0.05 and watched_shares[g] < base[g] / 3][:2]
    rated = ratings[~np.isnan(ratings)]
    disliked = items[np.nan_to_num(ratings, nan=5.0) <= DISLIKED_RATING][::-1][:2]
    return UserProfile(
        user_idx=user, demographics=demographics, num_rated=len(items),
        mean_rating=float(rated.mean()) if len(rated) else float("nan"),
        top_genres=top, distinctive_genres=distinctive, avoided_genres=avoided,
        eras=_eras(catalog.years[items]),
        recent_liked=_unique_recent(favourite_items, RECENT_LIKED),
        disliked=disliked.tolist(),
        recurring_people=_recurring_people(favourite_items, catalog),
        history=list(zip(items.tolist(), ratings.tolist(), strict=True)),
    )


def _unique_recent(items: np.ndarray, limit: int) -> list[int]:
    out: list[int] = []
    for item in items[::-1].tolist():
        if item not in out:
            out.append(item)
        if len(out) == limit:
            break
    return out


def _eras(years: np.ndarray) -> list[tuple[int, float]]:
    """The two most watched release decades with their shares."""
    known = years[years > 0]
    if len(known) == 0:
        return []
    decades, counts = np.unique(known // 10 * 10, return_counts=True)
    order = np.lexsort((-decades, -counts))[:2]
    return [(int(decades[i]), float(counts[i] / len(known))) for i in order
            if counts[i] / len(known) >= 0.1]


def _recurring_people(liked: np.ndarray, catalog: Catalog) -> list[tuple[str, list[int]]]:
    """Per people relation, the liked films that share the most-shared entity (≥ 2 films)."""
    knowledge = catalog.knowledge
    if knowledge is None or len(liked) < 2:
        return []
    liked = np.unique(liked)
    out = []
    for relation in ("directed_by", "actor", "written_by"):
        per_item = knowledge.item_entities.get(relation)
        if not per_item:
            continue
        codes = [per_item[item] for item in liked]
        flat = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
        if len(flat) == 0:
            continue
        entities, counts = np.unique(flat, return_counts=True)
        if counts.max() < 2:
            continue
        best = entities[np.argmax(counts)]
        films = [int(item) for item, c in zip(liked, codes, strict=True) if best in c]
        films.sort(key=lambda i: (-catalog.train_counts[i], i))
        out.append((PEOPLE_RELATIONS[relation], films[:3]))
    return out


def _demographics(data: PreparedData) -> list[dict[str, str]]:
    """Age, gender and occupation where the dataset has them (they are not history)."""
    users = data.users.sort_values("user_idx")
    out: list[dict[str, str]] = []
    for row in users.to_dict("records"):
        facts = {}
        for key in ("age", "gender", "occupation"):
            value = row.get(key)
            if value is not None and not pd.isna(value) and str(value).strip():
                facts[key] = str(value).strip()
        out.append(facts)
    return out
