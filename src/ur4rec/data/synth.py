"""Synthetic interaction logs with the shape of MovieLens, at any size (``ur4rec data synth``).

Everything is drawn with numpy in whole-array operations (the only Python loops run over the
~18 genres, a handful of resampling rounds, and the rare heavy user that sampling by popularity
cannot fill), so 10M interactions take seconds. Deterministic in ``seed``.

The shape (defaults fitted to the real ML-100K, :func:`synth_stats` compares the two):

- **catalogue**: ``items`` items with 1–3 of 18 MovieLens genres (genre frequencies as in
  ML-100K), a title from small word lists ("The Silent Harbor") and a year 1950–2020;
- **popularity**: item ``i`` of popularity rank ``r`` weighs ``r ** -zipf_exponent`` (ranks are a
  seeded permutation of the ids); the default exponent gives ML-100K's share of interactions on
  the top 20 % of items at ML-100K's size;
- **history lengths**: a shifted log-normal (ML-100K: min 20, median 65, mean 106, long tail),
  rescaled so the lengths add up to exactly ``interactions`` and clipped to
  ``[min_len, items // 2]``;
- **taste**: each user prefers 1–3 genres; an interaction comes from a preferred genre with
  probability ``preference`` (which of them drifts along the user's history, so recent items
  say more about the next one than old ones), else from the whole catalogue; within the genre
  the item is drawn by popularity. A user never meets the same item twice (as in MovieLens):
  candidates are oversampled, de-duplicated on ``user × items + item`` and trimmed per user;
- **time**: each user starts at a random second of a 3-year window and rates at exponential
  gaps (≥ 1 s, the user's pace log-uniform between an hour and two years over the history), so
  timestamps increase strictly along every history;
- **ratings**: 1–5 with ML-100K's frequencies.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ur4rec.data.movielens import load_ml100k
from ur4rec.errors import DataError

GENRES = ["Drama", "Comedy", "Action", "Thriller", "Romance", "Adventure", "Children's", "Crime",
          "Sci-Fi", "Horror", "War", "Mystery", "Musical", "Documentary", "Animation", "Western",
          "Film-Noir", "Fantasy"]
# items per genre in ML-100K (same order): how often a genre is drawn for an item or a user
GENRE_WEIGHTS = np.array([725, 505, 251, 251, 247, 135, 122, 109, 101, 92, 71, 61, 56, 50, 42,
                          27, 24, 22], dtype=np.float64)
GENRES_PER_ITEM = np.array([0.5, 0.35, 0.15])  # 1, 2 or 3 genres
GENRES_PER_USER = np.array([0.2, 0.5, 0.3])  # 1, 2 or 3 preferred genres
RATING_SHARES = np.array([0.0611, 0.1137, 0.27145, 0.34174, 0.21201])  # ML-100K, ratings 1..5
# history length = LENGTH_SHIFT + exp(N(LENGTH_MU, LENGTH_SIGMA)), then rescaled to the total:
# ML-100K has min 20, median 65, mean 106, p90 244, max 737
LENGTH_SHIFT, LENGTH_MU, LENGTH_SIGMA = 20.0, math.log(45.0), 1.1
DEFAULT_ZIPF_EXPONENT = 1.55
DEFAULT_PREFERENCE = 0.75
DEFAULT_POPULARITY_OFFSET = 0.03
DEFAULT_MIN_LEN = 5
FAN_EXPONENT = 2.0
START_EPOCH = 946_684_800  # 2000-01-01 UTC
START_WINDOW = 3 * 365 * 86_400
ML100K_SIZE = (943, 1682, 100_000)

_ADJECTIVES = ["Silent", "Broken", "Golden", "Last", "Hidden", "Crimson", "Lonely", "Eternal",
               "Wild", "Frozen", "Burning", "Secret", "Dark", "Lost", "Bright", "Endless",
               "Savage", "Quiet", "Forgotten", "Electric", "Midnight", "Distant", "Iron",
               "Velvet", "Scarlet", "Hollow", "Restless", "Final", "Second", "Little"]
_NOUNS = ["Harbor", "River", "Kingdom", "Promise", "Garden", "Mountain", "Stranger", "Empire",
          "Journey", "Shadow", "Summer", "Winter", "City", "Road", "Island", "Heart", "Storm",
          "Mirror", "Station", "Frontier", "Letter", "Dream", "Horizon", "Machine", "Detective",
          "Witness", "Valley", "Voyage", "Castle", "Planet", "Circus", "Lighthouse"]
_PATTERNS = ["The {a} {n}", "{a} {n}", "The {n} of the {a} {m}", "A {a} {n}", "{n} and {m}",
             "The {a} {n} II", "Return to the {a} {n}", "{a} {n}s"]


def _check_sizes(users: int, items: int, interactions: int) -> None:
    for flag, value in (("--users", users), ("--items", items),
                        ("--interactions", interactions)):
        if int(value) <= 0:
            raise DataError(f"{flag} must be a positive number, got {value}")
    if interactions < 3 * users:
        raise DataError(f"--interactions {interactions} is below 3 × --users ({3 * users}): "
                        "leave-one-out needs ≥ 3 interactions per user")
    if 2 * interactions > users * items:
        raise DataError(f"--interactions {interactions} is above --users × --items / 2 "
                        f"({users * items // 2}): histories this dense have no MovieLens shape")


def _gumbel_top3(rng: np.random.Generator, rows: int, weights: np.ndarray) -> np.ndarray:
    """``[rows, 3]`` distinct genre indices per row, drawn by ``weights`` without replacement."""
    keys = np.log(weights)[None, :] - np.log(-np.log(rng.random((rows, len(weights)))))
    return np.argsort(-keys, axis=1)[:, :3]


def history_lengths(users: int, items: int, interactions: int, rng: np.random.Generator,
                    min_len: int = DEFAULT_MIN_LEN) -> np.ndarray:
    """Per-user lengths: shifted log-normal shape, adding up to ``interactions`` where the caps
    (``[min(min_len, interactions // users), items // 2]``) allow."""
    low = max(1, min(min_len, interactions // users))
    high = max(low, items // 2)
    raw = LENGTH_SHIFT + np.exp(rng.normal(LENGTH_MU, LENGTH_SIGMA, size=users))
    target = min(interactions, users * high)

    def total(scale: float) -> int:
        return int(np.clip(np.floor(raw * scale), low, high).sum())

    lo, hi = 0.0, 1.0
    while total(hi) < target:
        hi *= 2.0
    for _ in range(100):  # largest scale whose floored, clipped lengths stay ≤ target
        mid = (lo + hi) / 2.0
        if total(mid) <= target:
            lo = mid
        else:
            hi = mid
    lengths = np.clip(np.floor(raw * lo), low, high).astype(np.int64)
    missing = target - int(lengths.sum())
    if missing > 0:  # those closest to their next unit, below the cap, get one more
        fraction = np.where(lengths < high, raw * lo - np.floor(raw * lo), -1.0)
        lengths[np.argsort(-fraction, kind="stable")[:missing]] += 1
    elif missing < 0:  # only when the floor (low) alone exceeds the target: cannot happen once
        raise DataError(f"--interactions {interactions} cannot give every one of {users} users "
                        f"{low} interactions")  # sizes were checked; kept as a guard
    return lengths


def synthesize(users: int, items: int, interactions: int, seed: int = 0, *,
               zipf_exponent: float = DEFAULT_ZIPF_EXPONENT,
               preference: float = DEFAULT_PREFERENCE,
               popularity_offset: float = DEFAULT_POPULARITY_OFFSET,
               min_len: int = DEFAULT_MIN_LEN) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A MovieLens-shaped log (module docstring): ``(interactions, items)`` frames.

    ``interactions``: ``user_id`` (1..users), ``item_id`` (1..items), ``rating`` (1..5),
    ``timestamp`` (int seconds), sorted by user then time, no repeated (user, item) pair.
    ``items``: ``item_id, title, year, genres`` (``|``-separated). The interaction count is
    exactly ``interactions`` unless ``users × (items // 2)`` is smaller (odd catalogues);
    ``frame.attrs["shortfall"]`` says by how much.
    """
    _check_sizes(users, items, interactions)
    if not 0.0 <= preference <= 1.0:
        raise DataError(f"--preference must lie in [0, 1], got {preference}")
    if zipf_exponent < 0:
        raise DataError(f"--zipf-exponent must be ≥ 0, got {zipf_exponent}")
    # one generator, drawn from in this order: the same seed always gives the same log
    rng = np.random.default_rng(seed)
    catalogue = _catalogue(rng, items, zipf_exponent, popularity_offset)
    lengths = history_lengths(users, items, interactions, rng, min_len)
    tastes = _Tastes(preferred=_gumbel_top3(rng, users, GENRE_WEIGHTS ** FAN_EXPONENT),
                     count=rng.choice(3, size=users, p=GENRES_PER_USER) + 1,
                     preference=preference)  # big genres have more fans
    user, position, item = _distinct_pairs(rng, lengths, catalogue, tastes)
    user, item = _in_time_order(rng, user, position, item, lengths)
    frame = _timed_and_rated(rng, user, item, users)
    frame.attrs["shortfall"] = int(interactions - len(frame))
    return frame, _items_table(rng, items, catalogue.genres, catalogue.genre_count)


@dataclass
class _Catalogue:
    """Items' genres (``genres`` ``[items, 3]`` ranked, the first ``genre_count`` real), their
    popularity, and per genre (last: the whole catalogue) the members and popularity CDF."""

    genres: np.ndarray
    genre_count: np.ndarray
    popularity: np.ndarray
    pools: list[tuple[np.ndarray, np.ndarray]]


@dataclass
class _Tastes:
    """Each user's preferred genres (``[users, 3]``, the first ``count`` real) and the chance
    that an interaction comes from one of them."""

    preferred: np.ndarray
    count: np.ndarray
    preference: float


def _catalogue(rng: np.random.Generator, items: int, zipf_exponent: float,
               popularity_offset: float) -> _Catalogue:
    num_genres = len(GENRES)
    item_genres = _gumbel_top3(rng, items, GENRE_WEIGHTS)
    genre_count = rng.choice(3, size=items, p=GENRES_PER_ITEM) + 1
    has_genre = np.zeros((items, num_genres), dtype=bool)
    for slot in range(3):
        rows = np.flatnonzero(genre_count > slot)
        has_genre[rows, item_genres[rows, slot]] = True
    rank = rng.permutation(items) + 1
    popularity = (rank + popularity_offset * items) ** -float(zipf_exponent)
    pools: list[tuple[np.ndarray, np.ndarray]] = []
    for genre in range(num_genres + 1):
        members = np.flatnonzero(has_genre[:, genre]) if genre < num_genres else np.arange(items)
        if len(members) == 0:  # a tiny catalogue may miss a genre: fall back to everything
            members = np.arange(items)
        cdf = np.cumsum(popularity[members])
        pools.append((members, cdf / cdf[-1]))
    return _Catalogue(item_genres, genre_count, popularity, pools)


def _draw(rng: np.random.Generator, user: np.ndarray, position: np.ndarray,
          catalogue: _Catalogue, tastes: _Tastes) -> np.ndarray:
    """One item per (user, relative position in [0, 1)) by the user's taste."""
    num_genres = len(GENRES)
    n = len(user)
    genre = np.full(n, num_genres, dtype=np.int64)
    liked = rng.random(n) < tastes.preference
    count = tastes.count[user]
    drifting = rng.random(n) < 0.5  # the genre of this phase of the history, else any liked
    slot = np.where(drifting, np.minimum((position * count).astype(np.int64), count - 1),
                    (rng.random(n) * count).astype(np.int64))
    genre[liked] = tastes.preferred[user[liked], slot[liked]]
    item = np.empty(n, dtype=np.int64)
    for g in range(num_genres + 1):
        rows = np.flatnonzero(genre == g)
        if len(rows):
            members, cdf = catalogue.pools[g]
            pick = np.minimum(np.searchsorted(cdf, rng.random(len(rows)), side="right"),
                              len(members) - 1)
            item[rows] = members[pick]
    return item


def _distinct_pairs(rng: np.random.Generator, lengths: np.ndarray, catalogue: _Catalogue,
                    tastes: _Tastes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(user, position, item)`` of distinct (user, item) pairs, at least ``lengths[u]`` per
    user: oversample, keep each pair once, top up the users still short; the heaviest users
    popularity sampling cannot fill get unseen items drawn without repeats."""
    users, items = len(lengths), len(catalogue.popularity)
    unique_user = unique_pos = unique_item = np.zeros(0, dtype=np.int64)
    need = lengths.copy()
    factor = 1.3
    for _round in range(8):
        short = np.flatnonzero(need > 0)
        if len(short) == 0:
            break
        extra = np.ceil(need[short] * factor).astype(np.int64) + 2
        user = np.repeat(short, extra)
        if _round == 0:  # the history's own timeline: positions spread evenly, jittered
            start = np.cumsum(extra) - extra
            within = np.arange(len(user)) - np.repeat(start, extra)
            position = (within + rng.random(len(user))) / np.repeat(extra, extra)
        else:  # top-ups land anywhere in the timeline
            position = rng.random(len(user))
        item = _draw(rng, user, position, catalogue, tastes)
        # only the short users' rows can hold new duplicates: de-duplicate those alone
        is_short = np.zeros(users, dtype=bool)
        is_short[short] = True
        active = is_short[unique_user]
        done = ~active
        sub_user, sub_pos, sub_item = _first_per_pair(
            np.concatenate([unique_user[active], user]),
            np.concatenate([unique_pos[active], position]),
            np.concatenate([unique_item[active], item]), items)
        unique_user = np.concatenate([unique_user[done], sub_user])
        unique_pos = np.concatenate([unique_pos[done], sub_pos])
        unique_item = np.concatenate([unique_item[done], sub_item])
        need = lengths - np.bincount(unique_user, minlength=users)
        factor *= 2.0
    return _fill_heavy_users(rng, unique_user, unique_pos, unique_item, need,
                             catalogue.popularity)


def _fill_heavy_users(rng: np.random.Generator, unique_user: np.ndarray, unique_pos: np.ndarray,
                      unique_item: np.ndarray, need: np.ndarray, popularity: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs with each user still short of ``need`` given unseen items by popularity."""
    short = np.flatnonzero(need > 0)
    if not len(short):
        return unique_user, unique_pos, unique_item
    rows = np.flatnonzero(np.isin(unique_user, short))
    rows = rows[np.argsort(unique_user[rows], kind="stable")]
    bounds = np.searchsorted(unique_user[rows], short, side="left")
    ends = np.searchsorted(unique_user[rows], short, side="right")
    fill_user, fill_item = [], []
    for user_index, begin, end in zip(short.tolist(), bounds.tolist(), ends.tolist(),
                                      strict=True):
        unseen = np.ones(len(popularity), dtype=bool)
        unseen[unique_item[rows[begin:end]]] = False
        pool = np.flatnonzero(unseen)
        weights = popularity[pool] / popularity[pool].sum()
        count = int(need[user_index])
        fill_item.append(rng.choice(pool, size=count, replace=False, p=weights))
        fill_user.append(np.full(count, user_index, dtype=np.int64))
    return (np.concatenate([unique_user, *fill_user]),
            np.concatenate([unique_pos, rng.random(int(need[short].sum()))]),
            np.concatenate([unique_item, *fill_item]))


def _in_time_order(rng: np.random.Generator, unique_user: np.ndarray, unique_pos: np.ndarray,
                   unique_item: np.ndarray, lengths: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(user, item)``: a random ``lengths[u]`` of each user's distinct items, by position."""
    by_user = unique_user << 32
    order = np.argsort(by_user | rng.integers(0, 1 << 32, size=len(unique_user)))
    starts = np.searchsorted(unique_user[order], np.arange(len(lengths)))
    rank_in_user = np.arange(len(order)) - starts[unique_user[order]]
    kept = order[rank_in_user < lengths[unique_user[order]]]
    stamp = (unique_pos[kept] * (1 << 32)).astype(np.int64)
    order = kept[np.argsort(by_user[kept] | stamp)]
    return unique_user[order], unique_item[order]


def _timed_and_rated(rng: np.random.Generator, user: np.ndarray, item: np.ndarray, users: int
                     ) -> pd.DataFrame:
    """The log: each user starts in a 3-year window and moves at their own pace (exponential
    gaps), ratings drawn from MovieLens's shares."""
    n = len(user)
    counts = np.bincount(user, minlength=users)
    first = np.cumsum(counts) - counts
    span = np.exp(rng.uniform(math.log(3_600), math.log(2 * 365 * 86_400), size=users))
    mean_gap = span / np.maximum(counts, 1)
    gaps = 1 + np.floor(rng.exponential(1.0, size=n) * mean_gap[user]).astype(np.int64)
    gaps[first[counts > 0]] = 0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[first], counts)
    start = START_EPOCH + rng.integers(0, START_WINDOW, size=users)
    timestamp = start[user] + elapsed
    rating = np.searchsorted(np.cumsum(RATING_SHARES) / RATING_SHARES.sum(), rng.random(n),
                             side="right") + 1
    return pd.DataFrame({"user_id": (user + 1).astype(np.int32),
                         "item_id": (item + 1).astype(np.int32),
                         "rating": np.minimum(rating, 5).astype(np.int8),
                         "timestamp": timestamp.astype(np.int64)})


def _first_per_pair(user: np.ndarray, position: np.ndarray, item: np.ndarray, items: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each (user, item) pair once (which copy is kept is fixed by the input, not random)."""
    key = user * items + item
    order = np.argsort(key)
    key = key[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    keep = order[first]
    return user[keep], position[keep], item[keep]


def _items_table(rng: np.random.Generator, items: int, item_genres: np.ndarray,
                 genre_count: np.ndarray) -> pd.DataFrame:
    pattern = rng.integers(len(_PATTERNS), size=items)
    adjective = np.asarray(_ADJECTIVES, dtype=object)[rng.integers(len(_ADJECTIVES), size=items)]
    noun = np.asarray(_NOUNS, dtype=object)[rng.integers(len(_NOUNS), size=items)]
    other = np.asarray(_NOUNS, dtype=object)[rng.integers(len(_NOUNS), size=items)]
    titles = np.empty(items, dtype=object)
    for index, template in enumerate(_PATTERNS):  # per pattern, not per item
        rows = np.flatnonzero(pattern == index)
        titles[rows] = [template.format(a=a, n=b, m=c) for a, b, c in
                        zip(adjective[rows], noun[rows], other[rows], strict=True)]
    year = (1950 + np.round(70 * rng.beta(4.0, 1.6, size=items))).astype(np.int64)
    names = np.asarray(GENRES, dtype=object)
    genres = names[item_genres[:, 0]]
    for slot in (1, 2):
        rows = genre_count > slot
        genres[rows] = genres[rows] + "|" + names[item_genres[rows, slot]]
    return pd.DataFrame({"item_id": np.arange(1, items + 1), "title": titles, "year": year,
                         "genres": genres})


def synth_stats(user: np.ndarray, item: np.ndarray, num_items: int | None = None
                ) -> dict[str, Any]:
    """Shape statistics of an interaction log given as integer-coded users and items."""
    user_codes, _ = pd.factorize(np.asarray(user))
    item_codes, item_values = pd.factorize(np.asarray(item))
    catalogue = max(num_items or 0, len(item_values))
    lengths = np.bincount(user_codes)
    counts = np.sort(np.bincount(item_codes, minlength=catalogue))[::-1]
    total = int(counts.sum())
    ascending = counts[::-1].astype(np.float64)
    ranks = np.arange(1, catalogue + 1)
    gini = float((2 * (ranks * ascending).sum()) / (catalogue * ascending.sum())
                 - (catalogue + 1) / catalogue)
    top = max(1, int(round(0.2 * catalogue)))
    return {"users": int(len(lengths)), "items": int(catalogue), "interactions": total,
            "density": round(total / (len(lengths) * catalogue), 6),
            "history_min": int(lengths.min()), "history_median": float(np.median(lengths)),
            "history_mean": round(float(lengths.mean()), 2),
            "history_p90": round(float(np.percentile(lengths, 90)), 1),
            "history_max": int(lengths.max()),
            "top20_item_share": round(float(counts[:top].sum() / total), 4),
            "item_gini": round(gini, 4), "items_under_5": int((counts < 5).sum())}


def ml100k_stats() -> dict[str, Any]:
    frame = load_ml100k().interactions
    return synth_stats(frame["user"].to_numpy(), frame["item"].to_numpy())


def near_ml100k(users: int, items: int, interactions: int) -> bool:
    return all(abs(value - real) <= 0.1 * real
               for value, real in zip((users, items, interactions), ML100K_SIZE, strict=True))


def format_stats(stats: dict[str, Any], reference: dict[str, Any] | None = None) -> str:
    header = f"{'statistic':<18} {'synthetic':>12}" + (f" {'ML-100K':>12}" if reference else "")
    lines = [header]
    for key, value in stats.items():
        line = f"{key:<18} {value!s:>12}"
        if reference:
            line += f" {reference.get(key, '')!s:>12}"
        lines.append(line)
    return "\n".join(lines)


def prepare_command(out: Path, users: int, items: int, interactions: int, seed: int,
                    fmt: str) -> str:
    name = f"synth-u{users}-i{items}-n{interactions}-s{seed}"
    inter = shlex.quote(str(out / f"interactions.{fmt}"))
    return (f"ur4rec data prepare --dataset {name} --path {inter} --columns "
            "user=user_id,item=item_id,timestamp=timestamp,rating=rating --item-metadata "
            f"{shlex.quote(str(out / 'items.csv'))}")


def write_synth(out: Path, users: int, items: int, interactions: int, seed: int = 0,
                fmt: str = "parquet", compare_ml100k: bool | None = None,
                **options: Any) -> dict[str, Any]:
    """Generate, write ``out/{interactions.<fmt>, items.csv, stats.json}``, return the stats
    (``{"synthetic": ..., "ml100k": ... or None, "prepare_command": ...}``)."""
    if fmt not in ("parquet", "csv"):
        raise DataError(f"--format must be parquet or csv, got {fmt!r}")
    _check_sizes(users, items, interactions)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".ur4rec-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise DataError(f"--out {out}: cannot write there ({error.strerror or error})") from None
    frame, item_table = synthesize(users, items, interactions, seed, **options)
    stats = synth_stats(frame["user_id"].to_numpy(), frame["item_id"].to_numpy(), items)
    stats["shortfall"] = frame.attrs.get("shortfall", 0)
    if compare_ml100k is None:
        compare_ml100k = near_ml100k(users, items, interactions)
    reference = ml100k_stats() if compare_ml100k else None
    path = out / f"interactions.{fmt}"
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    item_table.to_csv(out / "items.csv", index=False)
    command = prepare_command(out, users, items, interactions, seed, fmt)
    report = {"settings": {"users": users, "items": items, "interactions": interactions,
                           "seed": seed, "format": fmt, **options},
              "synthetic": stats, "ml100k": reference, "prepare_command": command}
    (out / "stats.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report
