"""The presets ``amazon-beauty``, ``amazon-scientific`` and ``yelp``: where their data comes from
(their names and filters: :mod:`ur4rec.data.presets`).

Two origins give the same split:

- ``published``: the processed files the papers published (:mod:`ur4rec.data.published`), found
  in ``$UR4REC_DATA_MIRROR/<folder>/`` (a folder laid out like ``../shared/data``) or in the
  folder ``data.path`` names. Nothing is downloaded. Each file's sha256 is checked.
- ``raw``: the canonical raw files (:mod:`ur4rec.data.raw_sources`), downloaded into the user
  cache (Amazon; resumable, :mod:`ur4rec.data.download`) or, for Yelp, whose licence each user
  accepts themselves, read from the folder ``data.path`` names. Their sha256 cannot be known
  offline (the sources publish none): it is recorded at download and checked on reuse, and the
  processed result is checked against the published counts instead.

The origin is part of the prepared data's settings (and fingerprint): the two are prepared
into different cache folders.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ur4rec.config import DataConfig
from ur4rec.data.cache import cache_root, sha256_file
from ur4rec.data.canonical import RawDataset
from ur4rec.data.download import fetch_file
from ur4rec.data.published import read_beauty, read_scientific, read_yelp
from ur4rec.data.raw_sources import read_beauty_raw, read_scientific_raw, read_yelp_raw
from ur4rec.errors import DataError

log = logging.getLogger(__name__)

MIRROR_ENV = "UR4REC_DATA_MIRROR"
PUBLISHED_SPLIT_RULE = (
    "leave-one-out per user on the stored order: the published files have no timestamps and "
    "store each user's interactions in time order (their source sorted by review time; same-day "
    "ties in the source's order), so timestamp = position within the user's sequence (0, 1, …), "
    "not a time; last item = test, second-to-last = validation, rest = training")
YELP_DOWNLOAD = (
    "the Yelp Open Dataset needs your own download and acceptance of its licence (academic, "
    "non-commercial use): get it at https://www.yelp.com/dataset, extract it, and pass the "
    "folder holding yelp_academic_dataset_review.json and yelp_academic_dataset_business.json "
    "with --path (data.path); or set UR4REC_DATA_MIRROR to a folder with the published yelp-2019/")


@dataclass(frozen=True)
class RawFile:
    name: str
    urls: tuple[str, ...] = ()
    """tried in order; empty: the user downloads the file themselves"""
    sha256: str | None = None
    """None: not known offline (recorded at download instead)"""


@dataclass(frozen=True)
class TextRichSource:
    name: str
    folder: str
    """the published files' folder in a mirror (``$UR4REC_DATA_MIRROR/<folder>``)"""
    domain: str
    counts: dict[str, int]
    """users, items, interactions of the published split"""
    published_files: dict[str, str]
    """file name → sha256 of the published files read"""
    read_published: Callable[[Path], RawDataset]
    raw_files: tuple[RawFile, ...]
    read_raw: Callable[[dict[str, Path]], RawDataset]
    raw_counts_binding: bool
    """whether raw files that give other counts are an error (fixed Amazon files) or a
    warning (the Yelp release a user downloads may differ from the one the papers used)"""
    timestamps: str
    """what the raw origin's timestamps are"""


_AMAZON_2014 = "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles/"
_AMAZON_2018 = ("https://mcauleylab.ucsd.edu/public_datasets/data/amazon_v2/",
                "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2/",
                "https://jmcauley.ucsd.edu/data/amazon_v2/")

TEXT_RICH_SOURCES: dict[str, TextRichSource] = {
    "amazon-beauty": TextRichSource(
        name="amazon-beauty", folder="amazon-beauty-2014", domain="product",
        counts={"users": 22363, "items": 12101, "interactions": 198502},
        published_files={
            "user_sequence.txt": "47197cbee7bdc1896926e10d96b807dce0aecb9a1f0c2ccc887c21090237c9b7",
            "products_lookup.csv": "65133eca0615999df67fc5b26a93a7da762e53e613a083fd6b9e37174896d128",
            "item_id_to_int.json": "3d1a1d362c7daeddf616057fae8fa24af9d70902fdaf4631852231a9953afa50",
        },
        read_published=read_beauty,
        raw_files=(RawFile("reviews_Beauty_5.json.gz", (_AMAZON_2014 + "reviews_Beauty_5.json.gz",)),
                   RawFile("meta_Beauty.json.gz", (_AMAZON_2014 + "meta_Beauty.json.gz",))),
        read_raw=read_beauty_raw, raw_counts_binding=True,
        timestamps="unixReviewTime (unix seconds, day resolution)"),
    "amazon-scientific": TextRichSource(
        name="amazon-scientific", folder="amazon-scientific-2018", domain="product",
        counts={"users": 8442, "items": 4385, "interactions": 59384},
        published_files={
            "Scientific.test.inter": "546da7e5f44002b4518d7fd58066684bc09613f76c240914e16976d57cfe7083",
            "Scientific.valid.inter": "5f37c84d3b54617cdc46638c89dfe8741c7efc4987acd5eb64de2cbd4311f46c",
            "Scientific.item2index": "896ab1017508cf20834d3d0537da9f8f624324223a835af272a98ba16f8c087a",
            "Scientific.user2index": "f0162b1a3a0c6b7e816f86208e7b36f65d6787923126f9558fbc6d368e4c4974",
            "Scientific.text": "95887e6bda76e54f59b71b566320520d5da74e21d3b6ff8f20bfb6e8e84aa831",
        },
        read_published=read_scientific,
        raw_files=(RawFile("Industrial_and_Scientific.csv", tuple(
                       base + "categoryFilesSmall/Industrial_and_Scientific.csv"
                       for base in _AMAZON_2018)),
                   RawFile("meta_Industrial_and_Scientific.json.gz", tuple(
                       base + "metaFiles2/meta_Industrial_and_Scientific.json.gz"
                       for base in _AMAZON_2018))),
        read_raw=read_scientific_raw, raw_counts_binding=True,
        timestamps="the ratings file's time (unix seconds, day resolution)"),
    "yelp": TextRichSource(
        name="yelp", folder="yelp-2019", domain="business",
        counts={"users": 30431, "items": 20033, "interactions": 316354},
        published_files={
            "sequential_data.txt": "724b219106b81dd2349027da997334ddb6da9fe2f152ad6e0d97a93170f7caed",
            "p5_datamaps.json": "52d07e709fc00e5e75fcf993af92db68a44b10f62a9c6b06b61732ae141367d1",
            "letter_Yelp.item.json": "8f58a9d54111fc10ccd675f99e6f2afe988cd0ee70b40f1e37d04f9aea764c2d",
        },
        read_published=read_yelp,
        raw_files=(RawFile("yelp_academic_dataset_review.json"),
                   RawFile("yelp_academic_dataset_business.json")),
        read_raw=read_yelp_raw, raw_counts_binding=False,
        timestamps="the review date (unix seconds)"),
}


def source_settings(config: DataConfig) -> dict[str, Any]:
    """What decides a text-rich preset's data beside the filters: origin and domain (and the
    folder of user-supplied raw files). Looks at files only to tell the origin of ``data.path``."""
    preset = TEXT_RICH_SOURCES[config.dataset]
    settings: dict[str, Any] = {"origin": _origin(config, preset),
                                "domain": preset.domain if config.domain == "auto" else
                                config.domain}
    if settings["origin"] == "raw" and config.path is not None:
        settings["path"] = str(config.path.resolve())
    return settings


def _origin(config: DataConfig, preset: TextRichSource) -> str:
    if config.path is None:
        return "published" if os.environ.get(MIRROR_ENV) else "raw"
    folder = config.path
    if not folder.is_dir():
        raise DataError(f"data.path {folder} is not a folder: for {preset.name} name the folder "
                        "holding its published or raw files")
    if all((folder / name).is_file() for name in preset.published_files):
        return "published"
    if all((folder / raw.name).is_file() for raw in preset.raw_files):
        return "raw"
    raise DataError(
        f"data.path {folder} holds neither the published files of {preset.name} "
        f"({', '.join(preset.published_files)}) nor its raw files "
        f"({', '.join(raw.name for raw in preset.raw_files)})")


def content_identity(config: DataConfig) -> dict[str, str | None]:
    """What names a text-rich preset's content for the prepared data's fingerprint: nothing
    beyond the settings where the files are pinned (the published copies, checked against
    their sha256 on every load; downloaded raw files, checked against the checksum recorded at
    download), else ``{file: sha256}`` of the raw files the user gave in ``data.path`` (a new
    Yelp release in the same folder is new data)."""
    preset = TEXT_RICH_SOURCES[config.dataset]
    if config.path is None or _origin(config, preset) == "published":
        return {}
    return {str(path): sha256_file(path) if path.is_file() else None
            for path in _raw_paths(config, preset).values()}


def load_text_rich(config: DataConfig, settings: dict[str, Any]) -> RawDataset:
    """The preset's interactions and items from the origin ``settings`` names, verified."""
    preset = TEXT_RICH_SOURCES[settings["source"]]
    if settings["origin"] == "published":
        folder = config.path if config.path is not None else _mirror_folder(preset)
        _verify_published(folder, preset)
        raw = preset.read_published(folder)
        raw.meta.update(split_rule=PUBLISHED_SPLIT_RULE, origin="published",
                        timestamps="position within the user's sequence (no real times)")
        _check_counts(raw, preset, binding=True, origin=str(folder))
        return raw
    files = _raw_paths(config, preset)
    raw = preset.read_raw(files)
    raw.meta.update(origin="raw", timestamps=preset.timestamps,
                    raw_files={name: str(path) for name, path in files.items()})
    _check_counts(raw, preset, binding=preset.raw_counts_binding, origin=raw.source)
    return raw


def _mirror_folder(preset: TextRichSource) -> Path:
    mirror = os.environ.get(MIRROR_ENV, "")
    folder = Path(mirror) / preset.folder
    if not mirror or not folder.is_dir():
        raise DataError(f"{MIRROR_ENV}={mirror} has no folder {preset.folder}/ with the "
                        f"published files of {preset.name} ({', '.join(preset.published_files)})")
    return folder


def _verify_published(folder: Path, preset: TextRichSource) -> None:
    """Every published file present and byte-identical to the copy the split was checked on."""
    for name, want in preset.published_files.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{folder} lacks {name}, one of the published files of {preset.name} "
                            f"({', '.join(preset.published_files)})")
        got = sha256_file(path)
        if got != want:
            raise DataError(f"{path} has sha256 {got[:12]}…, the published file has {want[:12]}…: "
                            f"not the published copy of {preset.name} (docs/data.md names "
                            "the sources)")


def _raw_paths(config: DataConfig, preset: TextRichSource) -> dict[str, Path]:
    """The raw files: in ``data.path``, else downloaded into the user cache."""
    if config.path is not None:
        return {raw.name: config.path / raw.name for raw in preset.raw_files}
    if not all(raw.urls for raw in preset.raw_files):
        raise DataError(f"{preset.name}: {YELP_DOWNLOAD}")
    if os.environ.get("UR4REC_OFFLINE", "") not in ("", "0"):
        raise DataError(f"{preset.name}: UR4REC_OFFLINE is set and no copy is given; set "
                        f"{MIRROR_ENV} to a folder with {preset.folder}/ or pass --path")
    folder = cache_root() / "raw" / preset.name
    paths = {}
    for raw in preset.raw_files:
        paths[raw.name] = folder / raw.name
        fetch_file(list(raw.urls), paths[raw.name], raw.sha256)
    return paths


def _check_counts(raw: RawDataset, preset: TextRichSource, binding: bool, origin: str) -> None:
    """The published split's users, items and interactions, or an error (a warning where the
    source may legitimately differ); the outcome goes to ``meta.json`` (``verification``)."""
    frame = raw.interactions
    found = {"users": int(frame["user"].nunique()), "items": int(frame["item"].nunique()),
             "interactions": len(frame)}
    raw.meta["verification"] = {"expected": dict(preset.counts), "found": found,
                                "matches": found == preset.counts}
    if found == preset.counts:
        return
    message = (f"{preset.name} from {origin} has {found['users']:,} users, {found['items']:,} "
               f"items and {found['interactions']:,} interactions; the published split has "
               f"{preset.counts['users']:,}, {preset.counts['items']:,} and "
               f"{preset.counts['interactions']:,}")
    if binding:
        raise DataError(message + "; the files differ from the ones the split was made from")
    log.warning("%s (another release of the data?); results are not comparable with the "
                "published figures", message)
