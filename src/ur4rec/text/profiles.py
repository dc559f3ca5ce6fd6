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
from ur4rec.text.history import liked_mask
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


@dataclass
class _Genres:
    """Genres (or categories) of every item, and their shares over all training interactions."""

    names: list[str]
    matrix: np.ndarray
    """``[num_items + 1, genres]`` bool: item has genre"""
    base: np.ndarray
    """share of each genre among the genres of all training interactions"""
    avoidable: np.ndarray
    """genres with a base share ≥ 5 %, largest first (ties by name)"""


def _genre_table(catalog: Catalog, train_items: np.ndarray) -> _Genres:
    names = sorted({g for gs in catalog.genres for g in gs if g.lower() != "unknown"})
    column = {name: k for k, name in enumerate(names)}
    # each (item, genre) once: a genre listed twice for an item counts once, as in the matrix
    pairs = list(dict.fromkeys((item, column[g]) for item, gs in enumerate(catalog.genres)
                               for g in gs if g in column))
    pair_items = np.array([item for item, _ in pairs], dtype=np.int64)
    pair_genres = np.array([genre for _, genre in pairs], dtype=np.int64)
    matrix = np.zeros((catalog.num_items + 1, len(names)), dtype=bool)
    matrix[pair_items, pair_genres] = True
    # per genre, how many training interactions carry it (exact integers in float64: the same
    # counts as summing the matrix rows of all training interactions, without that copy)
    per_item = np.bincount(train_items, minlength=catalog.num_items + 1).astype(np.float64)
    base = _shares(np.bincount(pair_genres, weights=per_item[pair_items],
                               minlength=len(names)))
    order = np.lexsort((np.arange(len(base)), -base))
    return _Genres(names, matrix, base, order[base[order] >= 0.05])


def build_profiles(data: PreparedData, train: pd.DataFrame, catalog: Catalog
                   ) -> list[UserProfile]:
    """One profile per user index, in PreparedData order."""
    items = train["item_idx"].to_numpy(dtype=np.int64)
    ratings = train["rating"].to_numpy(dtype=np.float64)
    bounds = np.searchsorted(train["user_idx"].to_numpy(), np.arange(data.num_users + 1))
    genres = _genre_table(catalog, items)
    demographics = _demographics(data)
    return [
        _profile(user, items[bounds[user]:bounds[user + 1]],
                 ratings[bounds[user]:bounds[user + 1]], catalog, genres, demographics[user])
        for user in range(data.num_users)
    ]


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else counts


def _profile(user: int, items: np.ndarray, ratings: np.ndarray, catalog: Catalog,
             genres: _Genres, demographics: dict[str, str]) -> UserProfile:
    """``items``/``ratings``: the user's training interactions, oldest first."""
    genre_names, base = genres.names, genres.base
    liked = liked_mask(ratings)
    favourite_items = items[liked] if liked.any() else items
    liked_shares = _shares(genres.matrix[favourite_items].sum(0, dtype=np.float64))
    watched_shares = _shares(genres.matrix[items].sum(0, dtype=np.float64))
    order = np.lexsort((np.arange(len(genre_names)), -liked_shares))
    top = [(genre_names[g], float(liked_shares[g])) for g in order[:3] if liked_shares[g] > 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(base > 0, liked_shares / base, 0.0)
    distinctive = [genre_names[g] for g in np.lexsort((np.arange(len(lift)), -lift))[:2]
                   if lift[g] >= 1.5 and liked_shares[g] >= 0.08]
    avoided = [genre_names[g] for g in genres.avoidable
               if watched_shares[g] < base[g] / 3][:2]
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
