"""Does the catalogue itself say how popular an item will be? Release year against popularity.

    python benchmarks/catalogue_popularity.py [--dataset ml-100k]

A new item's rank among new items is mostly its popularity (``cold_ceiling.py``), and the texts
barely predict it. This asks whether the one numeric catalogue field, the release year, could:
the Pearson correlation of year with ``log(1 + training interactions)`` over the items, and the
mean of that log count per release-year band. Items without a year are left out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ur4rec.config import load_config
from ur4rec.data.prepared import prepare_dataset
from ur4rec.errors import UR4RecError

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "sasrec_ml100k.yaml"
BANDS = (0, 1960, 1980, 1990, 1994, 1995, 1996, 1997, 1998)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    args = parser.parse_args()
    try:
        data = prepare_dataset(load_config(CONFIG, {"data.dataset": args.dataset}).data)
    except UR4RecError as error:
        raise SystemExit(f"--dataset {args.dataset}: {error}") from None
    items = data.items.set_index("item_idx")
    year = pd.to_numeric(items["year"], errors="coerce")
    log_count = pd.Series(np.log1p(np.asarray(data.train_item_counts, dtype=np.float64)))
    frame = pd.DataFrame({"year": year, "log_count": log_count.reindex(items.index)}).dropna()
    print(f"{args.dataset}: {len(frame)} items with a year; Pearson r(year, log(1 + training "
          f"interactions)) = {frame['year'].corr(frame['log_count']):.3f}")
    bands = frame.groupby(pd.cut(frame["year"], BANDS), observed=True)["log_count"]
    print("| release year | items | mean log(1 + training interactions) |\n|---|---|---|")
    for band, values in bands:
        print(f"| {band} | {len(values)} | {values.mean():.3f} |")


if __name__ == "__main__":
    main()
