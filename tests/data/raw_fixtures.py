"""Small generated raw files in the canonical formats, with the results their processing must give.

- Beauty 2014: ``reviews_Beauty_5.json.gz`` (JSON lines) and ``meta_Beauty.json.gz`` (one Python
  literal dict per line, as the 2014 metadata is written);
- Scientific 2018: ``Industrial_and_Scientific.csv`` (``item,user,rating,time``, no header) and
  ``meta_Industrial_and_Scientific.json.gz`` (JSON lines);
- Yelp: ``yelp_academic_dataset_review.json`` and ``yelp_academic_dataset_business.json``.

Each dataset: six users and six items, user k skipping item k (every item has five users), plus
rows each filter must remove. ``expected`` holds each user's sequence in time order.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field


@dataclass
class RawFixture:
    files: dict[str, bytes]
    expected: dict[str, list[str]] = field(default_factory=dict)
    """user → items in time order (ties in file order)"""

    @property
    def counts(self) -> dict[str, int]:
        items = {item for sequence in self.expected.values() for item in sequence}
        return {"users": len(self.expected), "items": len(items),
                "interactions": sum(len(s) for s in self.expected.values())}


def _gz(lines: list[str]) -> bytes:
    return gzip.compress("".join(line + "\n" for line in lines).encode(), mtime=0)


def _core(prefix_user: str, prefix_item: str) -> list[tuple[str, str, int]]:
    """(user, item, time): user k rates every item but item k, at times that run against the
    file order (the file lists each user's items newest first)."""
    rows = []
    for k in range(1, 7):
        for j in sorted(range(1, 7), reverse=True):
            if j != k:
                rows.append((f"{prefix_user}{k}", f"{prefix_item}{j}", 1_400_000_000 + 86_400 * j))
    return rows


def beauty() -> RawFixture:
    same_day = 1_400_000_000 + 86_400 * 4
    # U3 reviewed P5 and P4 the same day; the file lists P5 first, so P5 stays first
    rows = [(u, i, same_day if (u, i) == ("U3", "P5") else t) for u, i, t in _core("U", "P")]
    rows += [(f"U{k}", "P7", 1_400_000_000) for k in range(1, 5)]  # P7: 4 reviewers, leaves
    rows += [("U7", f"P{j}", 1_400_000_000 + j) for j in range(1, 5)]  # U7: 4 reviews, leaves
    reviews = [json.dumps({"reviewerID": u, "asin": i, "overall": 5.0, "unixReviewTime": t,
                           "reviewText": "ok", "reviewTime": "01 1, 2014"}) for u, i, t in rows]
    meta = [repr({"asin": f"P{j}", "title": f"Product {j} &amp; Co's \"best\"",
                  "categories": [["Beauty", "Makeup"]], "brand": "Acme"}) for j in range(1, 6)]
    meta.append(repr({"asin": "P6", "categories": [["Beauty"]]}))  # no title
    meta.append(repr({"asin": "P99", "title": "not reviewed"}))
    expected = _expected(rows, keep_users={f"U{k}" for k in range(1, 7)},
                         keep_items={f"P{j}" for j in range(1, 7)})
    return RawFixture({"reviews_Beauty_5.json.gz": _gz(reviews), "meta_Beauty.json.gz": _gz(meta)},
                      expected)


def _expected(rows: list[tuple[str, str, int]], keep_users: set[str], keep_items: set[str],
              keep_last: int | None = None) -> dict[str, list[str]]:
    out: dict[str, list[tuple[int, int, str]]] = {}
    for position, (user, item, time) in enumerate(rows):
        if user in keep_users and item in keep_items:
            out.setdefault(user, []).append((time, position, item))
    sequences = {user: [item for _, _, item in sorted(events)] for user, events in out.items()}
    if keep_last:
        sequences = {user: items[-keep_last:] for user, items in sequences.items()}
    return sequences


SCIENTIFIC_TITLE = 'Beaker &amp; Flask Set, "Pyrex"\n500ml...'
SCIENTIFIC_TITLE_CLEAN = "Beaker & Flask Set, Pyrex500ml"


def scientific() -> RawFixture:
    rows = _core("S", "Q")
    rows += [("S1", f"Q{2 + k % 5}", 1_500_000_000 + k) for k in range(55)]  # S1: 60, keeps 51
    rows += [(f"S{k}", "Q9", 1_400_000_000) for k in range(1, 7)]  # Q9 has no metadata line
    rows += [("S2", "Q8", 1_400_000_000), ("S3", "Q8", 1_400_000_000)]  # Q8: 2 users
    duplicate = ("S2", "Q1", 1_400_000_000 + 86_400)
    lines = [f"{i},{u},5.0,{t}" for u, i, t in rows]
    lines.insert(3, f"{duplicate[1]},{duplicate[0]},5.0,{duplicate[2]}")  # exact copy of a row
    meta = [json.dumps({"asin": f"Q{j}", "title": SCIENTIFIC_TITLE if j == 1 else f"Tool {j}",
                        "category": ["Industrial & Scientific", "Lab & Scientific Products",
                                     "Beakers"] if j == 1 else [],
                        "brand": "Pyrex" if j == 1 else "", "description": ["x"]})
            for j in list(range(1, 7)) + [8]]
    expected = _expected(rows, keep_users={f"S{k}" for k in range(1, 7)},
                         keep_items={f"Q{j}" for j in range(1, 7)}, keep_last=51)
    return RawFixture({"Industrial_and_Scientific.csv": "".join(f"{x}\n" for x in lines).encode(),
                       "meta_Industrial_and_Scientific.json.gz": _gz(meta)}, expected)


def yelp() -> RawFixture:
    rows = [(u, i, _date(t)) for u, i, t in _core("Y", "B")]
    rows.append(("Y1", "B2", "2019-11-30 08:00:00"))  # a repeat visit: kept
    excluded = [("Y1", "B1", "2018-12-31 23:59:59"), ("Y2", "B2", "2019-12-31 10:00:00"),
                ("Y3", "B3", "2020-01-01 00:00:00")]
    reviews = [json.dumps({"review_id": f"r{k}", "user_id": u, "business_id": i, "stars": 4.0,
                           "text": "fine", "date": d}) for k, (u, i, d) in
               enumerate(rows + excluded)]
    business = [json.dumps({"business_id": f"B{j}", "name": f"Place {j}",
                            "categories": "Restaurants, Pizza" if j % 2 else None, "stars": 4.0})
                for j in range(1, 8)]
    timed = [(u, i, int(d.replace("-", "").replace(":", "").replace(" ", ""))) for u, i, d in rows]
    expected = _expected(timed, keep_users={f"Y{k}" for k in range(1, 7)},
                         keep_items={f"B{j}" for j in range(1, 7)})
    return RawFixture({"yelp_academic_dataset_review.json": "".join(
        r + "\n" for r in reviews).encode(),
        "yelp_academic_dataset_business.json": "".join(b + "\n" for b in business).encode()},
        expected)


def _date(unix: int) -> str:
    import datetime

    moment = datetime.datetime.fromtimestamp(unix - 1_400_000_000 + 1_546_300_800,
                                             tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
