"""What kind of thing a dataset's items are: the words its template texts may use.

``film`` (MovieLens: films watched by viewers, with release years and genres), ``product``
(Amazon: products bought by customers), ``business`` (Yelp: businesses visited by visitors) and
``generic`` (items users interacted with: your own data when nothing says otherwise). A preset
names its domain; ``data.domain`` overrides it; for your own data ``auto`` picks ``film`` only
when most items carry a release year (MovieLens-style titles "Name (1995)" or a year column) and
``generic`` otherwise. The choice is written to ``meta.json`` (``domain``).
"""

from __future__ import annotations

import pandas as pd

DOMAINS = ("film", "product", "business", "generic")
AUTO = "auto"
FILM_YEAR_SHARE = 0.5
"""share of items with a release year above which own data counts as films"""


def resolve_domain(setting: str | None, items: pd.DataFrame) -> str:
    """The domain of a prepared dataset: ``setting`` (from the preset or ``data.domain``) when
    it names one, else inferred from ``items`` (columns item, year, …)."""
    if setting in DOMAINS:
        return setting
    if len(items) and "year" in items.columns:
        with_year = pd.to_numeric(items["year"], errors="coerce").notna().mean()
        if with_year > FILM_YEAR_SHARE:
            return "film"
    return "generic"
