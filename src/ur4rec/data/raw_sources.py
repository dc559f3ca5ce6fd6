"""The canonical raw files of Amazon Beauty, Scientific and Yelp, processed as the papers did.

- **Beauty** (S3-Rec, whose split P5 reuses): every review of the 2014 ``reviews_Beauty_5.json.gz``
  is an interaction (user, item, ``unixReviewTime``), 5-core; titles from ``meta_Beauty.json.gz``,
  whose lines are Python literals (single quotes), not JSON.
- **Scientific** (UniSRec): the 2018 ratings ``Industrial_and_Scientific.csv``
  (``item,user,rating,time``), exact duplicate rows dropped, only items that have a line in
  ``meta_Industrial_and_Scientific.json.gz``, 5-core, each user's last 51 interactions (a history
  of ≤ 50 and the target); text fields title, category (the list joined by spaces) and brand,
  cleaned as UniSRec did (HTML entities decoded, quotes and line breaks dropped, trailing dots
  removed, fields of ≥ 2,000 characters emptied).
- **Yelp** (S3-Rec): reviews of the Yelp Open Dataset dated from "2019-01-01 00:00:00" to
  "2019-12-31 00:00:00" (compared as text, as S3-Rec did), 5-core, repeat visits kept; names and
  categories from the business file.

Ratings are not kept: every review is an interaction, as in the published splits. Each user's
interactions are ordered by time, ties in file order (a stable sort), which is the order the
published files store.
"""

from __future__ import annotations

import ast
import gzip
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from ur4rec.data.canonical import RawDataset
from ur4rec.data.filters import filter_interactions
from ur4rec.data.published import (
    clean_title,
    scientific_categories,
    scientific_title,
    text_items,
)
from ur4rec.errors import DataError

CORE = 5
SCIENTIFIC_KEEP_LAST = 51
YELP_FIRST, YELP_LAST = "2019-01-01 00:00:00", "2019-12-31 00:00:00"
_ASIN = re.compile(r"""["']asin["']\s*:\s*["']([^"']+)["']""")
_DATE = re.compile(r'"date"\s*:\s*"([^"]+)"')
_UNISREC_DROPPED = re.compile(r'["\n\r]')
UNISREC_MAX_FIELD = 2000


def _open_text(path: Path) -> IO[str]:
    if not path.is_file():
        raise DataError(f"raw file {path} does not exist")
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a plain or gzip text file; damage is a one-line DataError."""
    try:
        with _open_text(path) as handle:
            yield from enumerate(handle, start=1)
    except (EOFError, OSError, UnicodeDecodeError) as error:
        raise DataError(f"raw file {path} is damaged or truncated ({error}); delete it and "
                        "run again") from None


def parse_record(line: str, path: Path, number: int) -> dict[str, Any]:
    """One JSON object, or one Python-literal dict (the 2014 Amazon metadata's lines)."""
    try:
        record = json.loads(line)
    except ValueError:
        try:
            record = ast.literal_eval(line.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise DataError(f"{path} line {number}: neither JSON nor a Python dict") from None
    if not isinstance(record, dict):
        raise DataError(f"{path} line {number}: expected an object, got {type(record).__name__}")
    return record


def _field(record: dict[str, Any], key: str, path: Path, number: int) -> Any:
    if key not in record:
        raise DataError(f"{path} line {number}: no {key!r} field")
    return record[key]


def _interactions(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    users, items, stamps = zip(*rows, strict=True) if rows else ((), (), ())
    return pd.DataFrame({"user": np.array(users, dtype=object),
                         "item": np.array(items, dtype=object),
                         "timestamp": np.array(stamps, dtype=np.int64),
                         "rating": np.full(len(rows), np.nan)})


def _metadata(path: Path, wanted: set[str]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The first record of each wanted item, and every item id with a metadata line.

    Only wanted lines are parsed in full: the id is read with a pattern first (the 2014 files
    are Python literals, slow to evaluate)."""
    records: dict[str, dict[str, Any]] = {}
    present: set[str] = set()
    for number, line in _lines(path):
        match = _ASIN.search(line)
        if match is None:
            continue
        present.add(match[1])
        if match[1] in wanted and match[1] not in records:
            records[match[1]] = parse_record(line, path, number)
    return records, present


def read_beauty_raw(files: dict[str, Path]) -> RawDataset:
    """``reviews_Beauty_5.json.gz`` + ``meta_Beauty.json.gz`` (see the module docstring)."""
    path = files["reviews_Beauty_5.json.gz"]
    rows = []
    for number, line in _lines(path):
        record = parse_record(line, path, number)
        rows.append((str(_field(record, "reviewerID", path, number)),
                     str(_field(record, "asin", path, number)),
                     int(_field(record, "unixReviewTime", path, number))))
    frame, _ = filter_interactions(_interactions(rows), None, CORE, CORE, str(path))
    records, _ = _metadata(files["meta_Beauty.json.gz"], set(frame["item"]))
    rows_items = [(item, clean_title(records.get(item, {}).get("title")), [], None)
                  for item in sorted(set(frame["item"]))]
    return RawDataset(name="amazon-beauty", interactions=frame.reset_index(drop=True),
                      items=text_items(rows_items), source=str(path.parent))


def unisrec_field(value: Any) -> str:
    """A metadata field cleaned as UniSRec's text preprocessing did, without its final dot."""
    if isinstance(value, list):
        text = " ".join(str(part) for part in value)
    else:
        text = str(value)
    text = _UNISREC_DROPPED.sub("", html.unescape(text)).rstrip(".")
    return "" if len(text) + 1 >= UNISREC_MAX_FIELD else text


def read_scientific_raw(files: dict[str, Path]) -> RawDataset:
    """``Industrial_and_Scientific.csv`` + ``meta_Industrial_and_Scientific.json.gz``."""
    path = files["Industrial_and_Scientific.csv"]
    try:
        ratings = pd.read_csv(path, header=None, names=["item", "user", "rating", "time"],
                              dtype=str, keep_default_na=False, on_bad_lines="skip")
    except (OSError, ValueError, EOFError, pd.errors.ParserError) as error:
        raise DataError(f"raw file {path} cannot be read as item,user,rating,time ({error})"
                        ) from None
    ratings = ratings.drop_duplicates()  # UniSRec kept a set of (user, item, rating, time)
    times = pd.to_numeric(ratings["time"], errors="coerce")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise DataError(f"{path}: row {row + 1} has time {ratings['time'].iloc[row]!r}, "
                        "expected unix seconds")
    records, present = _metadata(files["meta_Industrial_and_Scientific.json.gz"],
                                 set(ratings["item"]))
    frame = pd.DataFrame({"user": ratings["user"].to_numpy(dtype=object),
                          "item": ratings["item"].to_numpy(dtype=object),
                          "timestamp": times.to_numpy(dtype=np.int64),
                          "rating": np.nan})
    frame = frame[frame["item"].isin(present).to_numpy()]
    frame, _ = filter_interactions(frame, None, CORE, CORE, str(path))
    frame = _last_per_user(frame, SCIENTIFIC_KEEP_LAST)
    rows_items = [(item, *_scientific_fields(records.get(item, {})))
                  for item in sorted(set(frame["item"]))]
    return RawDataset(name="amazon-scientific", interactions=frame, items=text_items(rows_items),
                      source=str(path.parent))


def _scientific_fields(record: dict[str, Any]) -> tuple[str | None, list[str], str | None]:
    title = unisrec_field(record["title"]) if "title" in record else ""
    category = unisrec_field(record["category"]) if "category" in record else ""
    brand = unisrec_field(record["brand"]) if "brand" in record else ""
    return scientific_title(title), scientific_categories(category), brand or None


def _last_per_user(frame: pd.DataFrame, keep: int) -> pd.DataFrame:
    """Each user's last ``keep`` interactions in time order (ties in file order)."""
    ordered = frame.assign(row=np.arange(len(frame))).sort_values(
        ["user", "timestamp", "row"], kind="stable")
    from_end = ordered.groupby("user", sort=False).cumcount(ascending=False).to_numpy()
    return ordered[from_end < keep].drop(columns="row").reset_index(drop=True)


def read_yelp_raw(files: dict[str, Path]) -> RawDataset:
    """``yelp_academic_dataset_review.json`` + ``yelp_academic_dataset_business.json``."""
    path = files["yelp_academic_dataset_review.json"]
    rows, dates = [], []
    for number, line in _lines(path):
        match = _DATE.search(line)
        if match is None or not YELP_FIRST <= match[1] <= YELP_LAST:
            continue
        record = parse_record(line, path, number)
        rows.append((str(_field(record, "user_id", path, number)),
                     str(_field(record, "business_id", path, number)), 0))
        dates.append(match[1])
    frame = _interactions(rows)
    stamps = pd.to_datetime(pd.Series(dates, dtype=object), errors="coerce", utc=True,
                            format="ISO8601")
    if stamps.isna().any():
        raise DataError(f"{path}: review date {dates[int(np.flatnonzero(stamps.isna())[0])]!r} "
                        "is not 'YYYY-MM-DD[ HH:MM:SS]'")
    frame["timestamp"] = ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
                          ).to_numpy(dtype=np.int64)
    frame, _ = filter_interactions(frame, None, CORE, CORE, str(path))
    business = files["yelp_academic_dataset_business.json"]
    wanted, found = set(frame["item"]), {}
    for number, line in _lines(business):
        record = parse_record(line, business, number)
        if record.get("business_id") in wanted:
            found[record["business_id"]] = record
    rows_items = [(item, clean_title(found.get(item, {}).get("name")),
                   _yelp_categories(found.get(item, {}).get("categories")), None)
                  for item in sorted(wanted)]
    return RawDataset(name="yelp", interactions=frame.reset_index(drop=True),
                      items=text_items(rows_items), source=str(path.parent))


def _yelp_categories(value: Any) -> list[str]:
    if isinstance(value, list):
        parts = value
    else:
        parts = str(value or "").split(",")
    return [str(part).strip() for part in parts if str(part).strip()]
