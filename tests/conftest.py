"""Shared fixtures: tiny generated datasets for unit tests, the real ML-100K for end-to-end ones."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ur4rec.config import DataConfig
from ur4rec.data.canonical import RawDataset
from ur4rec.data.prepared import PreparedData, build_prepared, effective_settings

REPO = Path(__file__).resolve().parents[1]

# real data is cached once per checkout (never committed); a caller's own cache wins
os.environ.setdefault("UR4REC_CACHE_DIR", str(REPO / ".pytest_cache" / "ur4rec-cache"))
os.environ.setdefault("UR4REC_OFFLINE", "1")  # CI reaches PyPI, not GroupLens
os.environ.setdefault("TQDM_DISABLE", "1")


def synthetic_interactions(num_users: int = 30, num_items: int = 40, length: int = 12,
                           seed: int = 0) -> pd.DataFrame:
    """Users walk through items in a noisy cyclic order, so the next item is learnable."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(num_users):
        start = rng.integers(num_items)
        step = 1 + user % 3
        items = [(start + step * k) % num_items + 1 for k in range(length)]
        items = list(dict.fromkeys(items))  # unique per user
        for position, item in enumerate(items):
            rows.append((f"u{user}", str(item), 1_000 + 10 * position, float(rng.integers(1, 6))))
    return pd.DataFrame(rows, columns=["user", "item", "timestamp", "rating"])


def make_prepared(interactions: pd.DataFrame, num_candidates: int = 10,
                  items: pd.DataFrame | None = None) -> PreparedData:
    config = DataConfig(dataset="synthetic", path=Path("synthetic.csv"),
                        num_candidates=num_candidates)
    settings = effective_settings(config)
    raw = RawDataset(name="synthetic", interactions=interactions, source="synthetic")
    if items is not None:
        raw.items = items
    return build_prepared(raw, config, settings)


@pytest.fixture
def tiny_data() -> PreparedData:
    return make_prepared(synthetic_interactions())


@pytest.fixture(scope="session")
def ml100k() -> PreparedData:
    from ur4rec.data.prepared import prepare_dataset

    return prepare_dataset(DataConfig(dataset="ml-100k"))


# read once, at collection: tests that unset the variable for the code under test (offline,
# path-given) must still find the data the session was pointed at
MIRROR_AT_START = os.environ.get("UR4REC_DATA_MIRROR")


def shared_data_dir() -> Path:
    """The published files of the text-rich datasets: ``$UR4REC_DATA_MIRROR`` as the session
    started, else the nearest ``shared/data`` above the repository (CI has it at
    ``../shared/data``). Missing is a failure, never a skip: these tests are the only check that
    the presets reproduce the published splits."""
    explicit = MIRROR_AT_START
    candidates = [Path(explicit)] if explicit else [
        parent / "shared" / "data" for parent in REPO.parents]
    for candidate in candidates:
        if (candidate / "amazon-beauty-2014").is_dir():
            return candidate
    pytest.fail(f"no copy of the published text-rich datasets: looked for "
                f"{', '.join(map(str, candidates[:2]))}…; CI keeps them at ../shared/data "
                "(set UR4REC_DATA_MIRROR to point elsewhere)")


def prepare_text_rich(name: str, **settings) -> PreparedData:
    """A text-rich preset prepared from the shared copy (cached like ML-100K)."""
    from ur4rec.data.prepared import prepare_dataset

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UR4REC_DATA_MIRROR", str(shared_data_dir()))
        return prepare_dataset(DataConfig(dataset=name, **settings))


@pytest.fixture(scope="session")
def beauty() -> PreparedData:
    return prepare_text_rich("amazon-beauty")


@pytest.fixture(scope="session")
def scientific() -> PreparedData:
    return prepare_text_rich("amazon-scientific")


@pytest.fixture(scope="session")
def yelp() -> PreparedData:
    return prepare_text_rich("yelp")
