"""MovieLens-1M and Amazon review files in the shape the generic loader reads.

The interactions need no conversion: ``ratings.dat`` (``user::item::rating::timestamp``) is read
by the loader as format ``dat``, and an Amazon reviews CSV with a header is a plain CSV. What the
loader cannot read yet are the item tables — ``movies.dat`` (``id::Title (Year)::A|B``, latin-1,
no header) and Amazon's JSON-lines metadata (strict JSON, or the 2014 files' Python literals) —
and Amazon reviews as JSON lines or as a headerless ratings CSV. These functions turn them into
CSV files that ``ur4rec data prepare --path … --item-metadata …`` reads.
"""

from __future__ import annotations

import ast
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ur4rec.data.loaders import items_from_frame, read_table, undecodable
from ur4rec.errors import DataError

AMAZON_REVIEW_COLUMNS = ["reviewerID", "asin", "overall", "unixReviewTime"]
RECODE_HINT = "convert reads UTF-8: re-encode the file first (e.g. iconv -f latin1 -t utf-8)"


def movielens_1m_items(path: str | Path) -> pd.DataFrame:
    """``movies.dat`` as the canonical item table (item, title, year, genres)."""
    path = Path(path)
    frame = read_table(path, "dat")
    if frame.shape[1] != 3:
        raise DataError(f"{path}: expected 3 '::'-separated fields (MovieID::Title::Genres), "
                        f"found {frame.shape[1]}")
    frame.columns = ["item_id", "title", "genres"]
    return items_from_frame(frame, path)


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a (gzipped) JSON-lines file; the 2014 Amazon files hold Python literals."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:  # strict: never a merged id
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    try:
                        record = ast.literal_eval(line)
                    except (ValueError, SyntaxError):
                        raise DataError(f"{path}: line {number} is neither JSON nor a Python "
                                        "literal") from None
                if not isinstance(record, dict):
                    raise DataError(f"{path}: line {number} is not an object")
                yield record
    except UnicodeDecodeError as error:
        raise undecodable(path, "utf-8", lambda mode: opener(path, mode), RECODE_HINT) or DataError(
            f"{path} is not valid UTF-8 ({error})") from None
    except OSError as error:
        raise DataError(f"{path} cannot be read ({error})") from None


def _categories(record: dict[str, Any]) -> list[str]:
    """2014: ``categories`` = list of category paths; 2018: ``category`` = one path."""
    raw = record.get("categories", record.get("category", []))
    paths = raw if raw and all(isinstance(p, list) for p in raw) else [raw]
    seen = dict.fromkeys(str(c).strip() for path in paths for c in path if str(c).strip())
    return list(seen)


def amazon_items(path: str | Path) -> pd.DataFrame:
    """Amazon product metadata (JSON lines: asin, title, categories/category) as items."""
    path = Path(path)
    rows = [(str(r["asin"]), str(r.get("title") or ""), "|".join(_categories(r)))
            for r in _json_lines(path) if "asin" in r]
    if not rows:
        raise DataError(f"{path}: no records with an 'asin'")
    frame = pd.DataFrame(rows, columns=["item_id", "title", "genres"])
    return items_from_frame(frame, path)


def amazon_reviews(path: str | Path) -> pd.DataFrame:
    """Amazon reviews as ``reviewerID, asin, overall, unixReviewTime`` strings.

    Reads JSON lines (``reviews_*.json[.gz]``) or a headerless ratings CSV
    (``ratings_*.csv``: user, item, rating, timestamp).
    """
    path = Path(path)
    if ".json" in path.suffixes:
        records = [{key: r.get(key) for key in AMAZON_REVIEW_COLUMNS} for r in _json_lines(path)]
        frame = pd.DataFrame(records, columns=AMAZON_REVIEW_COLUMNS)
    else:
        try:
            frame = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
        except UnicodeDecodeError as error:
            raise undecodable(path, "utf-8", path.open, RECODE_HINT) or DataError(
                f"{path} is not valid UTF-8 ({error})") from None
        except (OSError, ValueError) as error:
            raise DataError(f"{path} cannot be read as a ratings CSV ({error})") from None
        if frame.shape[1] != 4:
            raise DataError(f"{path}: expected 4 columns (user, item, rating, timestamp), "
                            f"found {frame.shape[1]}")
        frame.columns = AMAZON_REVIEW_COLUMNS
    missing = frame[AMAZON_REVIEW_COLUMNS].isna().any(axis=1)
    if missing.any():
        raise DataError(f"{path}: record {int(missing.to_numpy().argmax()) + 1} lacks one of "
                        f"{AMAZON_REVIEW_COLUMNS}")
    return frame.astype(str)


def write_items_csv(items: pd.DataFrame, out: str | Path) -> Path:
    """An item table as ``item_id,title,year,genres`` that ``--item-metadata`` reads back."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # the loader splits genres on '|' when there is one, else on spaces: a lone genre such as
    # "Literature & Fiction" keeps its spaces only with a trailing '|'
    genres = items["genres"].map(lambda g: "|".join(g) + ("|" if len(g) == 1 else ""))
    year = items["year"].astype("Int64").astype(str).replace("<NA>", "")
    pd.DataFrame({"item_id": items["item"], "title": items["title"], "year": year,
                  "genres": genres}).to_csv(out, index=False)
    return out


CONVERTERS = {
    "ml1m-movies": lambda src, out: write_items_csv(movielens_1m_items(src), out),
    "amazon-meta": lambda src, out: write_items_csv(amazon_items(src), out),
    "amazon-reviews": lambda src, out: _write_reviews(amazon_reviews(src), out),
}


def _write_reviews(frame: pd.DataFrame, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return out
