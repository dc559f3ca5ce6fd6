"""Knowledge-graph facts turned into something a text can say, and a check that they are true.

Entities are opaque ids (Freebase MIDs), so a person is named through the *other catalogue films*
that share them ("shares its director with Star Wars (1977)"). Before any of this is used, the
graph's own genre facts are compared with the items' genres: the RecBole copy of ML-100K links its
items to Freebase with another MovieLens release's ids, so most of its facts describe other films
(RUCAIBox/RecSysDatasets#130). A graph that fails the check is not used, and the check's numbers
are recorded, so the texts never state facts that belong to another film.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# relation → how a sentence names the shared role
PEOPLE_RELATIONS: dict[str, str] = {
    "directed_by": "director",
    "written_by": "writers",
    "actor": "cast members",
    "produced_by": "producers",
    "cinematography": "cinematographer",
}
SHARED_FILMS_SHOWN = {"actor": 3}  # default 2 films per relation
MIN_GENRE_ITEMS = 10


@dataclass
class KnowledgeFacts:
    """Per item index (0 = padding, unused): what the graph says, in catalogue terms."""

    shared: dict[str, list[list[int]]] = field(default_factory=dict)
    """relation → per item, other items sharing one of its entities, strongest link first"""
    item_entities: dict[str, list[np.ndarray]] = field(default_factory=dict)
    """relation → per item, integer codes of its entities (for users' recurring people)"""
    awards_won: np.ndarray | None = None
    nominations: np.ndarray | None = None
    sequels: list[list[int]] = field(default_factory=list)
    prequels: list[list[int]] = field(default_factory=list)
    outside_sequels: np.ndarray | None = None
    foreign_language: np.ndarray | None = None
    foreign_country: np.ndarray | None = None


def kg_linkage_check(kg: pd.DataFrame, genres: list[list[str]], num_items: int,
                     seed: int = 0) -> dict[str, Any]:
    """Do the graph's genre facts agree with the items' own genres more than chance?

    Score: for each item genre with ≥ 10 linked items, the best Jaccard overlap with one graph
    genre entity, averaged; compared with the same score after shuffling which item the graph
    facts belong to. A correctly linked graph scores far above its shuffle; a mislinked one does
    not. Returns ``{"usable", "verified", "score", "shuffled", "reason"}``.
    """
    facts = kg[kg["relation"] == "genre"] if len(kg) else kg
    if len(kg) == 0:
        return {"usable": False, "verified": False, "reason": "no knowledge graph"}
    if len(facts) == 0 or not any(genres):
        return {"usable": True, "verified": False,
                "reason": "no genre facts or item genres to check the linkage against"}
    linked = np.unique(facts["item_idx"].to_numpy())
    names = sorted({g for item in linked for g in genres[item]})
    item_genres = np.zeros((len(linked), len(names)), dtype=np.float32)
    position = {item: row for row, item in enumerate(linked)}
    for item in linked:
        for g in genres[item]:
            item_genres[position[item], names.index(g)] = 1
    counts = facts["entity"].value_counts()
    frequent = counts[counts >= MIN_GENRE_ITEMS].index
    kept = facts[facts["entity"].isin(frequent)]
    codes, uniques = pd.factorize(kept["entity"])
    graph_genres = np.zeros((len(linked), len(uniques)), dtype=np.float32)
    graph_genres[kept["item_idx"].map(position).to_numpy(), codes] = 1
    wanted = item_genres.sum(0) >= MIN_GENRE_ITEMS
    if not wanted.any() or graph_genres.shape[1] == 0:
        return {"usable": True, "verified": False, "reason": "too few items per genre to check"}
    score = _best_overlap(item_genres[:, wanted], graph_genres)
    rng = np.random.default_rng(seed)
    shuffled = float(np.mean([_best_overlap(item_genres[:, wanted],
                                            graph_genres[rng.permutation(len(linked))])
                              for _ in range(5)]))
    usable = score >= 1.5 * shuffled and score - shuffled >= 0.05
    result = {"usable": bool(usable), "verified": True, "score": round(score, 4),
              "shuffled": round(shuffled, 4), "linked_items": int(len(linked)),
              "reason": "graph genres agree with item genres" if usable else
              "graph genres agree with item genres no better than chance: the items are "
              "probably linked to the wrong films, so the graph is not used"}
    if not usable:
        log.warning("knowledge graph not used: %s (overlap %.3f vs %.3f shuffled)",
                    result["reason"], score, shuffled)
    return result


def _best_overlap(a: np.ndarray, b: np.ndarray) -> float:
    inter = a.T @ b
    union = a.sum(0)[:, None] + b.sum(0)[None, :] - inter
    return float(np.mean((inter / np.maximum(union, 1)).max(axis=1)))


def knowledge_facts(kg: pd.DataFrame, num_items: int, popularity: np.ndarray) -> KnowledgeFacts:
    """Vectorised per-relation tables; ``popularity`` ``[num_items + 1]`` breaks ties."""
    facts = KnowledgeFacts()
    for relation in PEOPLE_RELATIONS:
        rows = kg[kg["relation"] == relation]
        facts.shared[relation] = _shared_entity_items(rows, num_items, popularity)
        facts.item_entities[relation] = _entities_per_item(rows, num_items)
    facts.awards_won = _distinct_count(kg, "award_won", num_items)
    facts.nominations = _distinct_count(kg, "award_nomination", num_items)
    facts.sequels, outside_a = _catalogue_links(kg, "sequel", num_items)
    facts.prequels, outside_b = _catalogue_links(kg, "prequel", num_items)
    facts.outside_sequels = outside_a + outside_b
    facts.foreign_language = _outside_majority(kg, "language", num_items)
    facts.foreign_country = _outside_majority(kg, "country", num_items)
    return facts


def _shared_entity_items(rows: pd.DataFrame, num_items: int, popularity: np.ndarray
                         ) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(num_items + 1)]
    if rows.empty:
        return out
    pairs = rows[["item_idx", "entity"]].drop_duplicates()
    joined = pairs.merge(pairs, on="entity", suffixes=("", "_other"))
    joined = joined[joined["item_idx"] != joined["item_idx_other"]]
    if joined.empty:
        return out
    strength = joined.groupby(["item_idx", "item_idx_other"]).size().rename("shared").reset_index()
    strength["popularity"] = popularity[strength["item_idx_other"].to_numpy()]
    strength = strength.sort_values(["item_idx", "shared", "popularity", "item_idx_other"],
                                    ascending=[True, False, False, True], kind="stable")
    items = strength["item_idx"].to_numpy()
    others = strength["item_idx_other"].to_numpy()
    for start, stop in _runs(items):
        out[int(items[start])] = others[start:min(stop, start + 5)].tolist()
    return out


def _runs(sorted_keys: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of equal keys in a sorted array."""
    if len(sorted_keys) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    stops = np.r_[starts[1:], len(sorted_keys)]
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _entities_per_item(rows: pd.DataFrame, num_items: int) -> list[np.ndarray]:
    empty = np.zeros(0, dtype=np.int64)
    out = [empty] * (num_items + 1)
    if rows.empty:
        return out
    codes, _ = pd.factorize(rows["entity"])
    items = rows["item_idx"].to_numpy(dtype=np.int64)
    order = np.lexsort((codes, items))
    items, codes = items[order], codes[order]
    for start, stop in _runs(items):
        out[int(items[start])] = np.unique(codes[start:stop])
    return out


def _distinct_count(kg: pd.DataFrame, relation: str, num_items: int) -> np.ndarray:
    rows = kg[kg["relation"] == relation].drop_duplicates(["item_idx", "entity"])
    return np.bincount(rows["item_idx"].to_numpy(dtype=np.int64), minlength=num_items + 1)


def _catalogue_links(kg: pd.DataFrame, relation: str, num_items: int
                     ) -> tuple[list[list[int]], np.ndarray]:
    """Films the relation points at inside the catalogue, and a count of those outside it."""
    rows = kg[kg["relation"] == relation]
    inside = rows[rows["entity"].str.startswith("item:")]
    links: list[list[int]] = [[] for _ in range(num_items + 1)]
    for item, entity in zip(inside["item_idx"], inside["entity"], strict=True):
        target = int(entity[5:])
        if target != item and target not in links[item]:
            links[item].append(target)
    outside = rows[~rows["entity"].str.startswith("item:")]
    return links, np.bincount(outside["item_idx"].to_numpy(dtype=np.int64),
                              minlength=num_items + 1)


def _outside_majority(kg: pd.DataFrame, relation: str, num_items: int) -> np.ndarray:
    """Items with facts of ``relation`` none of which is the catalogue's most common value."""
    rows = kg[kg["relation"] == relation]
    flags = np.zeros(num_items + 1, dtype=bool)
    if rows.empty:
        return flags
    majority = rows["entity"].value_counts().index[0]
    items = rows["item_idx"].to_numpy(dtype=np.int64)
    flags[items] = True
    flags[items[(rows["entity"] == majority).to_numpy()]] = False
    return flags
