"""Readers of the processed files the papers published for Amazon Beauty, Scientific and Yelp.

Layouts (``../shared/data/TEXT-RICH.md``, ``docs/data.md``):

- ``amazon-beauty-2014/`` (P5 / S3-Rec): ``user_sequence.txt`` (``reviewerID ASIN …``),
  ``products_lookup.csv`` + ``item_id_to_int.json`` (titles, joined on ``global_product_id`` — not
  on the CSV's unnamed first column);
- ``amazon-scientific-2018/`` (UniSRec): ``Scientific.{test,valid}.inter`` (integer ids; a test row
  holds the user's whole stored history and the target), ``Scientific.{user,item}2index``,
  ``Scientific.text`` (``"<title>. <category path>. <brand>. "``; the path is the 2018 category
  list joined by spaces, kept as ``[root, rest of the path]``);
- ``yelp-2019/`` (P5 / S3-Rec): ``sequential_data.txt`` (``uid iid …``, 1-based),
  ``p5_datamaps.json`` (integer ids → Yelp ids), ``letter_Yelp.item.json`` (name and categories;
  its key is the integer id minus 1).

None has timestamps: each user's interactions are stored in time order, so the timestamp given
here is the position within the user's sequence (0, 1, …). Users and items keep their original
ids (reviewerID / ASIN, Yelp user_id / business_id), the same ids the raw files use.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ur4rec.data.canonical import ITEM_COLUMNS, RawDataset
from ur4rec.errors import DataError

TEXT_ITEM_COLUMNS = [*ITEM_COLUMNS, "categories", "brand"]
"""items of the text-rich datasets: the canonical columns plus ``categories`` (list of str,
most general first as the source gives them) and ``brand`` (str or None)"""
SCIENTIFIC_ROOT = "Industrial & Scientific"


def read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{path} cannot be read as JSON ({error})") from None


def sequences_frame(sequences: list[tuple[str, list[str]]]) -> pd.DataFrame:
    """Interactions from ``(user, items in time order)``: timestamp = position in the sequence."""
    lengths = np.fromiter((len(items) for _, items in sequences), dtype=np.int64,
                          count=len(sequences))
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return pd.DataFrame({
        "user": np.repeat(np.array([user for user, _ in sequences], dtype=object), lengths),
        "item": np.array([item for _, items in sequences for item in items], dtype=object),
        "timestamp": np.arange(int(lengths.sum()), dtype=np.int64) - starts,
        "rating": np.full(int(lengths.sum()), np.nan),
    })


def text_items(rows: list[tuple[str, str | None, list[str], str | None]]) -> pd.DataFrame:
    """Canonical items from ``(item, title, categories, brand)``; no year, no genres."""
    items = pd.DataFrame({
        "item": [row[0] for row in rows],
        "title": [row[1] or None for row in rows],
        "year": pd.array([None] * len(rows), dtype="Int64"),
        "genres": [[] for _ in rows],
        "categories": [list(row[2]) for row in rows],
        "brand": [row[3] or None for row in rows],
    })
    return items[TEXT_ITEM_COLUMNS]


def clean_title(value: object) -> str | None:
    """A title or name as text: HTML entities decoded ("&#9733;" → "★"), whitespace runs made
    one space; None when empty or missing."""
    if not isinstance(value, str):
        return None
    return " ".join(html.unescape(value).split()) or None


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path} cannot be read ({error})") from None


def _mapped(mapping: dict[str, str], key: str, path: Path, line: int, what: str) -> str:
    if key not in mapping:
        raise DataError(f"{path} line {line}: {what} id {key!r} is not in its id map")
    return mapping[key]


def read_beauty(folder: Path) -> RawDataset:
    """``user_sequence.txt`` + titles from ``products_lookup.csv`` / ``item_id_to_int.json``."""
    path = folder / "user_sequence.txt"
    sequences = []
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split()
        if len(fields) < 2:
            raise DataError(f"{path} line {number}: expected 'reviewerID ASIN …', got {line!r}")
        sequences.append((fields[0], fields[1:]))
    try:
        lookup = pd.read_csv(folder / "products_lookup.csv", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DataError(f"{folder / 'products_lookup.csv'} cannot be read ({error})") from None
    if not {"global_product_id", "name"} <= set(lookup.columns):
        raise DataError(f"{folder / 'products_lookup.csv'}: expected columns global_product_id "
                        f"and name, found {', '.join(lookup.columns)}")
    # the trap: the CSV's unnamed first column is a row number, not the product id
    names = dict(zip(lookup["global_product_id"].astype(int), lookup["name"], strict=True))
    ids = read_json(folder / "item_id_to_int.json")
    rows = [(asin, clean_title(names.get(int(number))), [], None) for asin, number in ids.items()]
    return RawDataset(name="amazon-beauty", interactions=sequences_frame(sequences),
                      items=text_items(rows), source=str(folder))


def read_scientific(folder: Path) -> RawDataset:
    """Sequences from ``Scientific.test.inter`` (checked against ``.valid.inter``), texts split
    into title, category path and brand (:func:`split_scientific_text`)."""
    users = _index_map(folder / "Scientific.user2index")
    items = _index_map(folder / "Scientific.item2index")
    test_path = folder / "Scientific.test.inter"
    test = _inter_rows(test_path)
    valid = {user: target for user, _, target, _ in _inter_rows(folder / "Scientific.valid.inter")}
    sequences = []
    for user, history, target, line in test:
        if not history or valid.get(user) != history[-1]:
            raise DataError(f"{test_path} line {line}: user {user}'s last history item is not "
                            "the validation target of Scientific.valid.inter")
        sequence = [_mapped(items, i, test_path, line, "item") for i in [*history, target]]
        sequences.append((_mapped(users, user, test_path, line, "user"), sequence))
    if len(valid) != len(test):
        raise DataError(f"{folder}: Scientific.valid.inter has {len(valid)} users, "
                        f"Scientific.test.inter {len(test)}")
    rows = [(asin, *split_scientific_text(text)) for asin, text in
            _text_rows(folder / "Scientific.text")]
    return RawDataset(name="amazon-scientific", interactions=sequences_frame(sequences),
                      items=text_items(rows), source=str(folder))


def _index_map(path: Path) -> dict[str, str]:
    """``ORIGINAL<TAB>int`` lines as ``{int: original}``."""
    mapping = {}
    for number, line in enumerate(_lines(path), start=1):
        original, sep, index = line.partition("\t")
        if not sep:
            raise DataError(f"{path} line {number}: expected 'id<TAB>index', got {line!r}")
        mapping[index.strip()] = original.strip()
    return mapping


def _inter_rows(path: Path) -> list[tuple[str, list[str], str, int]]:
    """``(user, history, target, line)`` of a RecBole sequence file (header skipped)."""
    rows = []
    for number, line in enumerate(_lines(path)[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3:
            raise DataError(f"{path} line {number}: expected 3 tab-separated fields "
                            "(user_id, item_id_list, item_id)")
        rows.append((fields[0].strip(), fields[1].split(), fields[2].strip(), number))
    return rows


def _text_rows(path: Path) -> list[tuple[str, str]]:
    rows = []
    for number, line in enumerate(_lines(path)[1:], start=2):
        item, sep, text = line.partition("\t")
        if not sep:
            raise DataError(f"{path} line {number}: expected 'item_id<TAB>text'")
        rows.append((item.strip(), text))
    return rows


def split_scientific_text(text: str) -> tuple[str | None, list[str], str | None]:
    """``"<title>. <category path>. <brand>. "`` → ``(title, [category path], brand)``.

    UniSRec wrote each field with its trailing dots replaced by one dot, then a space; the
    category path is the 2018 category list joined by spaces and starts with
    "Industrial & Scientific" (or is empty). The split is kept only when the three fields
    rebuild the text exactly; otherwise the whole text is the title (nothing is guessed).
    """
    body = text[:-1] if text.endswith(" ") else text
    marker = f". {SCIENTIFIC_ROOT}"
    if marker in body:
        title, _, rest = body.rpartition(marker)
        rest = SCIENTIFIC_ROOT + rest
    elif ". . " in body:
        title, _, rest = body.rpartition(". . ")
        rest = ". " + rest
    else:
        return text.strip() or None, [], None
    category, _, brand = rest.partition(". ")
    brand = brand[:-1] if brand.endswith(".") else brand
    if f"{title}. {category}. {brand}. " != text:
        return text.strip() or None, [], None
    return scientific_title(title), scientific_categories(category), brand or None


def scientific_title(title: str) -> str | None:
    """The title, or None where the 2018 metadata holds page debris instead: 29 Scientific items
    are titled " Industrial & Scientific />" (the category root and the end of an HTML tag)."""
    text = title.strip()
    if not text or text.removesuffix("/>").strip() == SCIENTIFIC_ROOT:
        return None
    return text


def scientific_categories(path: str) -> list[str]:
    """The space-joined category path as ``[root, rest of the path]``: the root
    ("Industrial & Scientific") is certain, the levels below cannot be told apart reliably."""
    if path == SCIENTIFIC_ROOT or path.startswith(SCIENTIFIC_ROOT + " "):
        rest = path[len(SCIENTIFIC_ROOT):].strip()
        return [SCIENTIFIC_ROOT, rest] if rest else [SCIENTIFIC_ROOT]
    return [path] if path else []


def read_yelp(folder: Path) -> RawDataset:
    """``sequential_data.txt`` mapped through ``p5_datamaps.json``; names and categories from
    ``letter_Yelp.item.json`` (key = integer id − 1)."""
    maps = read_json(folder / "p5_datamaps.json")
    if not isinstance(maps, dict) or not {"id2user", "id2item"} <= set(maps):
        raise DataError(f"{folder / 'p5_datamaps.json'}: expected keys id2user and id2item")
    path = folder / "sequential_data.txt"
    sequences = []
    for number, line in enumerate(_lines(path), start=1):
        fields = line.split()
        if len(fields) < 2:
            raise DataError(f"{path} line {number}: expected 'uid iid …', got {line!r}")
        sequences.append((_mapped(maps["id2user"], fields[0], path, number, "user"),
                          [_mapped(maps["id2item"], i, path, number, "item") for i in fields[1:]]))
    letters = read_json(folder / "letter_Yelp.item.json")
    rows = []
    for number, business in maps["id2item"].items():
        entry = letters.get(str(int(number) - 1), {}) if isinstance(letters, dict) else {}
        categories = [c.strip() for c in str(entry.get("description") or "").split(",")]
        rows.append((business, clean_title(entry.get("title")), [c for c in categories if c], None))
    return RawDataset(name="yelp", interactions=sequences_frame(sequences),
                      items=text_items(rows), source=str(folder))
