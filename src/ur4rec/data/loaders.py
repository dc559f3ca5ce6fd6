"""Readers for user-supplied files: CSV/TSV/Parquet with named columns, and RecBole atomic files.

Each returns a :class:`RawDataset`; every problem is a :class:`DataError` naming the file, the
column or the row.
"""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from ur4rec.config import ColumnNames
from ur4rec.data.canonical import ITEM_COLUMNS, KG_COLUMNS, RawDataset, split_title_year
from ur4rec.errors import DataError

_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet",
                   ".inter": "recbole", ".dat": "dat"}


def detect_format(path: Path) -> str:
    if path.is_dir():
        if list(path.glob("*.inter")):
            return "recbole"
        raise DataError(f"{path} is a folder without a RecBole .inter file; name a file instead")
    for suffix in reversed(path.suffixes):
        if suffix.lower() in _SUFFIX_FORMATS:
            return _SUFFIX_FORMATS[suffix.lower()]
    raise DataError(
        f"cannot tell the format of {path} from its name; set data.format to csv, tsv, parquet "
        "or recbole"
    )


def read_table(path: Path, fmt: str, encoding: str | None = None) -> pd.DataFrame:
    """Read a whole table as given; strings stay strings so ids keep their spelling.

    ``encoding`` (``data.encoding``; None: UTF-8, Latin-1 for MovieLens ``.dat``) is strict: a
    byte that does not decode is an error naming its line and offset, never a replacement
    character that could make two ids one.
    """
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    if fmt != "parquet":
        encoding = encoding or ("latin-1" if fmt == "dat" else "utf-8")
    try:
        if path.stat().st_size == 0:
            raise DataError(f"data file {path} is empty")
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        elif fmt == "dat":  # MovieLens-1M style: user::item::rating::timestamp, no header
            frame = pd.read_csv(path, sep="::", engine="python", header=None, dtype=str,
                                encoding=encoding)
        else:
            frame = pd.read_csv(path, sep="," if fmt == "csv" else "\t", dtype=str,
                                keep_default_na=False, encoding=encoding)
    except DataError:
        raise
    except UnicodeDecodeError as error:
        raise undecodable(path, str(encoding), path.open) or DataError(
            f"data file {path} is not valid {encoding} ({error})") from None
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DataError(f"data file {path} cannot be read as {fmt}: {error}") from None
    if frame.empty:
        raise DataError(f"data file {path} has no rows")
    return frame


ENCODING_HINT = ("if the file is in another encoding, name it: --encoding latin-1 (or cp1252, "
                 "…; data.encoding in a config)")


def undecodable(path: Path, encoding: str, open_binary: Callable[[str], BinaryIO],
                hint: str = ENCODING_HINT) -> DataError | None:
    """The first bytes of ``path`` that ``encoding`` cannot decode, as a one-line error naming
    the line and byte offset, then ``hint`` (None: it all decodes). One streamed pass, 1 MiB at
    a time; ``open_binary("rb")`` opens the bytes to check (a gzip opener for compressed
    files)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset, line = 0, 1
    with open_binary("rb") as handle:
        for block in itertools.chain(iter(lambda: handle.read(1 << 20), b""), [b""]):
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                # error.object: bytes held back from the block before, then this block
                held = max(0, len(error.object) - len(block))
                at = offset - held + error.start
                line += error.object[:error.start].count(b"\n")
                bad = bytes(error.object[error.start:error.end])
                return DataError(f"{path}: line {line} (byte offset {at}) is not valid "
                                 f"{encoding} ({bad!r}); {hint}")
            offset += len(block)
            line += block.count(b"\n")
    return None


def _numeric_column(frame: pd.DataFrame, column: str, path: Path, what: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    if not values.isna().any():
        # nothing failed to parse and nothing is missing (an empty or blank cell parses to NaN),
        # so the checks below would find nothing: skip their string copies of the whole column
        return values.to_numpy()
    bad = values.isna() & frame[column].notna() & (frame[column].astype(str).str.strip() != "")
    missing = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
    if bad.any() or missing.any():
        row = int(np.flatnonzero((bad | missing).to_numpy())[0])
        if what == "timestamp":
            parsed = pd.to_datetime(frame[column], errors="coerce", utc=True, format="ISO8601")
            if not parsed.isna().any():
                epoch = pd.Timestamp(0, tz="UTC")
                return ((parsed - epoch) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
        raise DataError(
            f"{path}: column {column!r} row {row + 2} (line in file) has {frame[column].iloc[row]!r}, "
            f"expected a number ({what})"
        )
    return values.to_numpy()


def interactions_from_frame(frame: pd.DataFrame, columns: ColumnNames, path: Path) -> pd.DataFrame:
    """Pick and type the user/item/timestamp[/rating] columns the user named."""
    wanted = {"user": columns.user, "item": columns.item, "timestamp": columns.timestamp}
    if columns.rating:
        wanted["rating"] = columns.rating
    for role, name in wanted.items():
        if name not in frame.columns:
            raise DataError(
                f"{path}: no column {name!r} for the {role} (set data.columns.{role}); "
                f"columns present: {', '.join(map(str, frame.columns))}"
            )
    timestamps = _numeric_column(frame, columns.timestamp, path, "timestamp")
    if not np.all(np.isfinite(timestamps.astype(np.float64))):
        raise DataError(f"{path}: column {columns.timestamp!r} has non-finite timestamps")
    ratings = (
        _numeric_column(frame, columns.rating, path, "rating").astype(np.float64)
        if columns.rating
        else np.full(len(frame), np.nan)
    )
    return pd.DataFrame({
        "user": _id_column(frame[columns.user]),
        "item": _id_column(frame[columns.item]),
        "timestamp": timestamps.astype(np.int64),
        "rating": ratings,
    })


def _id_column(column: pd.Series) -> np.ndarray:
    """``column.astype(str).str.strip()`` as an array, computed once per distinct id.

    Integer and string columns (where equal values have equal spellings) are factorized first:
    10M interactions of 100k users need 100k string conversions, not 10M. Anything else (object,
    float: ``1`` and ``1.0`` hash alike but print differently) takes the plain path.
    """
    if pd.api.types.is_integer_dtype(column.dtype) or pd.api.types.is_string_dtype(
            column.dtype) and not pd.api.types.is_object_dtype(column.dtype):
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        spelled = pd.Series(uniques).astype(str).str.strip().to_numpy(dtype=object)
        return spelled[codes]
    return column.astype(str).str.strip().to_numpy()


def load_table_dataset(path: Path, fmt: str, columns: ColumnNames, name: str,
                       item_metadata: Path | None = None, encoding: str | None = None
                       ) -> RawDataset:
    """A CSV/TSV/Parquet/.dat interaction file, plus an optional item-metadata table, both in
    ``encoding`` (see :func:`read_table`)."""
    frame = read_table(path, fmt, encoding)
    if fmt == "dat":
        frame.columns = ["user_id", "item_id", "rating", "timestamp"][: len(frame.columns)]
    interactions = interactions_from_frame(frame, columns, path)
    items = load_item_metadata(item_metadata, encoding) if item_metadata else _empty_items()
    return RawDataset(name=name, interactions=interactions, items=items, source=str(path))


def _empty_items() -> pd.DataFrame:
    return pd.DataFrame(columns=ITEM_COLUMNS)


def load_item_metadata(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """An item table with an id column and any of title / year / genres (``|`` or space split)."""
    fmt = detect_format(path)
    frame = read_table(path, "tsv" if fmt == "recbole" else fmt, encoding)
    if fmt == "dat":  # MovieLens-1M movies.dat: id::Title (Year)::Genre|Genre, no header
        frame.columns = ["item_id", "title", "genres"][: len(frame.columns)]
    return items_from_frame(_strip_recbole_types(frame), path, space_separated_genres=
                            fmt == "recbole")


def _strip_recbole_types(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=lambda name: str(name).split(":", 1)[0])


def _pick(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lowered = {str(column).lower(): column for column in frame.columns}
    return next((lowered[name] for name in names if name in lowered), None)


def items_from_frame(frame: pd.DataFrame, path: Path, space_separated_genres: bool = True
                     ) -> pd.DataFrame:
    """Canonical items; genres split on ``|``, and on spaces only where the format does so
    (RecBole's ``token_seq``) — "Literature & Fiction" stays one genre in a CSV."""
    id_column = _pick(frame, ("item", "item_id", "movie_id", "itemid", "id", "asin"))
    if id_column is None:
        raise DataError(f"{path}: item metadata needs an id column (item_id, movie_id or item)")
    title_column = _pick(frame, ("title", "movie_title", "name"))
    year_column = _pick(frame, ("year", "release_year"))
    genre_column = _pick(frame, ("genres", "genre", "class", "categories"))
    rows = []
    for record in frame.to_dict("records"):
        title, year = split_title_year(record[title_column]) if title_column else (None, None)
        if year_column and str(record[year_column]).strip().isdigit():
            year = int(str(record[year_column]).strip())
        genres: list[str] = []
        if genre_column and isinstance(record[genre_column], str):
            text = record[genre_column]
            parts = text.split("|") if "|" in text or not space_separated_genres else text.split()
            genres = [g.strip() for g in parts if g.strip() and g.strip().lower() != "unknown"]
        rows.append((str(record[id_column]).strip(), title, year, genres))
    items = pd.DataFrame(rows, columns=ITEM_COLUMNS)
    items["year"] = items["year"].astype("Int64")
    return items


RECBOLE_SUFFIXES = (".inter", ".item", ".user", ".kg", ".link")


def _recbole_stem(path: Path) -> tuple[Path, str]:
    """``(folder, stem)`` of a RecBole dataset given as its ``.inter`` file or its folder (the
    first ``.inter`` file by name)."""
    if path.is_file():
        return path.parent, path.stem
    inters = sorted(path.glob("*.inter"))
    if not inters:
        raise DataError(f"{path}: no RecBole .inter file")
    return path, inters[0].stem


def recbole_files(path: Path) -> list[Path]:
    """The atomic files :func:`load_recbole_dataset` reads from ``path`` (those present)."""
    folder, stem = _recbole_stem(path)
    return [folder / f"{stem}{suffix}" for suffix in RECBOLE_SUFFIXES
            if (folder / f"{stem}{suffix}").is_file()]


def load_recbole_dataset(folder: Path, name: str | None = None, encoding: str | None = None
                         ) -> RawDataset:
    """RecBole atomic files: ``<name>.inter`` (+ ``.item``, ``.user``, ``.kg`` + ``.link``)."""
    folder, stem = _recbole_stem(folder)
    inter_path = folder / f"{stem}.inter"
    frame = _strip_recbole_types(read_table(inter_path, "tsv", encoding))
    columns = ColumnNames(
        user=_pick(frame, ("user_id", "user")) or "user_id",
        item=_pick(frame, ("item_id", "item")) or "item_id",
        timestamp=_pick(frame, ("timestamp", "time")) or "timestamp",
        rating=_pick(frame, ("rating",)),
    )
    interactions = interactions_from_frame(frame, columns, inter_path)
    item_path = folder / f"{stem}.item"
    items = items_from_frame(_strip_recbole_types(read_table(item_path, "tsv", encoding)),
                             item_path) if item_path.exists() else _empty_items()
    user_path = folder / f"{stem}.user"
    users = pd.DataFrame(columns=["user"])
    if user_path.exists():
        users = _strip_recbole_types(read_table(user_path, "tsv", encoding))
        users = users.rename(columns={_pick(users, ("user_id", "user")): "user"})
    kg = load_recbole_kg(folder / f"{stem}.kg", folder / f"{stem}.link", encoding)
    return RawDataset(name=name or stem, interactions=interactions, items=items, kg=kg,
                      users=users, source=str(folder))


def load_recbole_kg(kg_path: Path, link_path: Path, encoding: str | None = None
                    ) -> pd.DataFrame:
    """Keep the facts about linked items (``film.film.<relation>``) as (item, relation, entity)."""
    if not (kg_path.exists() and link_path.exists()):
        return pd.DataFrame(columns=KG_COLUMNS)
    link = _strip_recbole_types(read_table(link_path, "tsv", encoding))
    kg = _strip_recbole_types(read_table(kg_path, "tsv", encoding))
    entity_to_item = dict(zip(link["entity_id"], link["item_id"].astype(str).str.strip(), strict=True))
    kg = kg[kg["relation_id"].str.startswith("film.film.") & kg["head_id"].isin(entity_to_item)]
    facts = pd.DataFrame({
        "item": kg["head_id"].map(entity_to_item).to_numpy(),
        "relation": kg["relation_id"].str.rsplit(".", n=1).str[-1].to_numpy(),
        # a fact pointing at another linked film (sequel/prequel) names that item
        "entity": kg["tail_id"].map(lambda e: f"item:{entity_to_item[e]}" if e in entity_to_item
                                    else e).to_numpy(),
    })
    return facts.reset_index(drop=True)
