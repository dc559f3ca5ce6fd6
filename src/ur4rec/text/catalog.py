"""What can be said about each item: readable title, era, genres, reception, neighbours, graph facts.

Built once per dataset from item metadata, the knowledge graph (if it passes
:func:`~ur4rec.text.knowledge.kg_linkage_check`) and the *training* interactions only, so that the
statistics an item text quotes never include a validation or test interaction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ur4rec.data.prepared import PreparedData
from ur4rec.text.history import liked_mask
from ur4rec.text.knowledge import KnowledgeFacts, kg_linkage_check, knowledge_facts

log = logging.getLogger(__name__)

# MovieLens writes "Usual Suspects, The"; these articles move back to the front
_ARTICLES = ("The", "A", "An", "La", "Le", "Les", "L'", "Il", "Lo", "Gli", "El", "Los", "Las",
             "Das", "Der", "Die", "Det", "Den", "O", "Un", "Une")
_TRAILING_ARTICLE = re.compile(r"^(?P<body>.+), (?P<article>" + "|".join(
    re.escape(a) for a in _ARTICLES) + r")$")
MIN_CO_LIKES = 3
NEIGHBOURS = 3
NO_NEIGHBOURS_SUFFIX = "-noneighbours"


@dataclass
class Catalog:
    """Item facts indexed by item index (row 0 is padding and stays empty)."""

    titles: list[str]
    """display title with year, e.g. ``"The Usual Suspects (1995)"``"""
    short_titles: list[str]
    """the same without alternate titles, for lists: ``"When the Cats Away (1996)"``"""
    years: np.ndarray
    """release year, 0 when unknown"""
    genres: list[list[str]]
    train_counts: np.ndarray
    train_mean_rating: np.ndarray
    """mean training rating, NaN when unrated or the data has no ratings"""
    co_liked: list[list[int]]
    """items most often liked by the same users in training, strongest first"""
    knowledge: KnowledgeFacts | None
    kg_check: dict[str, Any] = field(default_factory=dict)
    global_mean_rating: float = float("nan")
    popularity_ordered_knowledge: bool = True
    """whether training popularity chose which films sharing a person the facts name first
    (false for ``texts.item_statistics: false``: catalogue order, the same for a new item)"""

    @property
    def num_items(self) -> int:
        return len(self.titles) - 1

    def popularity_percentile(self) -> np.ndarray:
        """``[num_items + 1]`` share of items watched less often in training (0..1)."""
        counts = self.train_counts[1:]
        ranks = pd.Series(counts).rank(method="average", pct=True).to_numpy()
        return np.concatenate([[0.0], ranks])


def display_title(title: Any, year: Any, item_id: Any, alternate_wanted: bool = True) -> str:
    """``("Usual Suspects, The", 1995)`` → ``"The Usual Suspects (1995)"``; alternate titles in
    parentheses are kept (articles fixed too) unless ``alternate_wanted`` is False."""
    if title is None or (isinstance(title, float) and np.isnan(title)) or not str(title).strip():
        return f"an untitled film (item {item_id})"
    text = str(title).strip()
    main, alternate = text, ""
    match = re.match(r"^(?P<main>.*?) \((?P<alt>[^()]*)\)$", text)
    if match:
        main, alternate = match["main"], match["alt"]
    main = _article_first(main)
    alternate = _article_first(alternate) if alternate and alternate_wanted else ""
    shown = f"{main} ({alternate})" if alternate and main else main or alternate
    has_year = year is not None and not pd.isna(year)
    return f"{shown} ({int(year)})" if has_year else shown


def _article_first(text: str) -> str:
    match = _TRAILING_ARTICLE.match(text.strip())
    if not match:
        return text.strip()
    article = match["article"]
    return f"{article}{match['body']}" if article.endswith("'") else f"{article} {match['body']}"


def build_catalog(data: PreparedData, train: pd.DataFrame,
                  popularity_ordered_knowledge: bool = True) -> Catalog:
    """Everything the item and user texts quote about items; ``train`` from the leakage boundary.

    Without ``popularity_ordered_knowledge`` the graph facts break ties between films sharing
    a person by catalogue order instead of training popularity (``texts.item_statistics``)."""
    n = data.num_items
    items = data.items.sort_values("item_idx")
    rows = list(zip(items["title"], items["year"], items["item"], strict=True))
    titles = [""] + [display_title(t, y, i) for t, y, i in rows]
    short_titles = [""] + [display_title(t, y, i, alternate_wanted=False) for t, y, i in rows]
    years = np.zeros(n + 1, dtype=np.int64)
    years[1:] = pd.to_numeric(items["year"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    genres = [[]] + [[str(g) for g in value] for value in items["genres"]]
    item_idx = train["item_idx"].to_numpy(dtype=np.int64)
    counts = np.bincount(item_idx, minlength=n + 1)
    ratings = train["rating"].to_numpy(dtype=np.float64)
    rated = ~np.isnan(ratings)
    sums = np.bincount(item_idx[rated], weights=ratings[rated], minlength=n + 1)
    rated_counts = np.bincount(item_idx[rated], minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rating = np.where(rated_counts > 0, sums / np.maximum(rated_counts, 1), np.nan)
    check = kg_linkage_check(data.kg, genres, n)
    tie_break = counts if popularity_ordered_knowledge else np.zeros_like(counts)
    knowledge = knowledge_facts(data.kg, n, tie_break) if check["usable"] else None
    return Catalog(titles=titles, short_titles=short_titles, years=years, genres=genres, train_counts=counts,
                   train_mean_rating=mean_rating, co_liked=co_liked_items(train, n),
                   knowledge=knowledge, kg_check=check,
                   global_mean_rating=float(ratings[rated].mean()) if rated.any() else np.nan,
                   popularity_ordered_knowledge=popularity_ordered_knowledge)


CO_LIKE_BLOCK_ENTRIES = 2**25


def co_liked_items(train: pd.DataFrame, num_items: int) -> list[list[int]]:
    """Per item, up to 3 items liked by the same training users (cosine of liker sets, ≥ 3)."""
    liked = train[liked_mask(train["rating"].to_numpy(dtype=np.float64))]
    out: list[list[int]] = [[] for _ in range(num_items + 1)]
    if liked.empty:
        return out
    pairs = liked[["user_idx", "item_idx"]].drop_duplicates()
    users = pairs["user_idx"].to_numpy(dtype=np.int64)
    items = pairs["item_idx"].to_numpy(dtype=np.int64)
    if not neighbours_available():
        log.warning("scipy is not installed: item texts and prompts leave out which films the "
                    "same viewers liked (their version gets %r so caches keep them apart); "
                    "pip install 'ur4rec[text]' to include them", NO_NEIGHBOURS_SUFFIX)
        return out
    from scipy import sparse

    matrix = sparse.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)),
                               shape=(int(users.max()) + 1, num_items + 1))
    by_item = matrix.T.tocsr()
    likers = np.asarray(matrix.sum(axis=0)).ravel()
    # the item × item co-like matrix a block of items at a time: whole, it grows with the
    # square of the catalogue (20k items: up to 4·10⁸ entries); a block stays ≤ ~2²⁵ entries
    block = max(1, CO_LIKE_BLOCK_ENTRIES // (num_items + 1))
    co, co_start, co_stop = None, 0, 0
    for item in range(1, num_items + 1):
        if item >= co_stop:
            co_start, co_stop = item, min(item + block, num_items + 1)
            co = (by_item[co_start:co_stop] @ matrix).tocsr()
        row = item - co_start
        start, stop = co.indptr[row], co.indptr[row + 1]
        out[item] = top_neighbours(item, co.indices[start:stop], co.data[start:stop], likers)
    return out


def top_neighbours(item: int, others: np.ndarray, shared: np.ndarray, likers: np.ndarray
                   ) -> list[int]:
    """The "also liked" films of ``item``: of the ``others`` sharing ``shared`` likers with it
    (``likers`` ``[N + 1]`` per item), those with ≥ :data:`MIN_CO_LIKES`, strongest cosine of the
    liker sets first (ties: lower index), at most :data:`NEIGHBOURS`."""
    keep = (others != item) & (shared >= MIN_CO_LIKES)
    if not keep.any():
        return []
    others, shared = others[keep], shared[keep]
    score = shared / np.sqrt(likers[item] * likers[others])
    return others[np.lexsort((others, -score))[:NEIGHBOURS]].tolist()


def neighbours_available() -> bool:
    """Whether :func:`co_liked_items` can find neighbours: it needs scipy (in the text extra)."""
    try:
        from scipy import sparse  # noqa: F401
    except ImportError:
        return False
    return True


def neighbours_suffix() -> str:
    """What a text version gets appended when the neighbours ("also liked") are missing from
    what this environment writes: ``""`` with scipy, :data:`NO_NEIGHBOURS_SUFFIX` without."""
    return "" if neighbours_available() else NO_NEIGHBOURS_SUFFIX


def era_phrase(year: int) -> str:
    """``1995`` → ``"mid-1990s"``; 0 → ``""``."""
    if year <= 0:
        return ""
    decade = year // 10 * 10
    part = "early" if year % 10 <= 3 else "mid" if year % 10 <= 6 else "late"
    return f"{part}-{decade}s"
