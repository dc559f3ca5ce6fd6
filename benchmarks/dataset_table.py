"""One markdown table per dataset: every row a model, every figure mean ± std over its seeds.

    python benchmarks/dataset_table.py runs/sasrec_beauty runs/adapter_beauty runs/pop_beauty

Each argument is a folder of seeds (``seed*/results.json``) or one run folder (a model with no
seed, e.g. popularity). Columns: the selection figure (valid full NDCG@10), the test figures of
both protocols (full ranking: Recall@10, NDCG@10, NDCG@20; 100 candidates: HR@10, NDCG@10), the
full NDCG@10 of the head/tail item and short/long user slices, and the time of a whole run.
A row never mixes protocols: each column names its own, as ``results.json`` does.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("valid full N@10", ("valid", "full", "ndcg@10")),
    ("test full R@10", ("test", "full", "hit@10")),
    ("test full N@10", ("test", "full", "ndcg@10")),
    ("test full N@20", ("test", "full", "ndcg@20")),
    ("sampled HR@10", ("test", "sampled", "hit@10")),
    ("sampled N@10", ("test", "sampled", "ndcg@10")),
    ("head N@10", ("slices", "test", "full", "item_head", "ndcg@10")),
    ("tail N@10", ("slices", "test", "full", "item_tail", "ndcg@10")),
    ("short-user N@10", ("slices", "test", "full", "user_short", "ndcg@10")),
    ("long-user N@10", ("slices", "test", "full", "user_long", "ndcg@10")),
    ("run s", ("timing", "total_s")),
)


def seed_results(folder: Path) -> list[dict[str, Any]]:
    """The ``results.json`` of each seed under ``folder`` (or of ``folder`` itself)."""
    paths = sorted(folder.glob("seed*/results.json")) or [folder / "results.json"]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise SystemExit(f"no results.json in {', '.join(missing)} (a run that did not finish?)")
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths]


def figure(results: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    value: Any = results
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)


def cell(values: list[float], digits: int) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def row(label: str, runs: list[dict[str, Any]]) -> str:
    cells = []
    for name, keys in COLUMNS:
        values = [v for v in (figure(r, keys) for r in runs) if v is not None]
        cells.append(cell(values, 0 if name == "run s" else 4))
    return f"| {label} | {len(runs)} | " + " | ".join(cells) + " |"


def table(folders: list[Path]) -> str:
    header = "| model | seeds | " + " | ".join(name for name, _ in COLUMNS) + " |"
    lines = [header, "|---" * (len(COLUMNS) + 2) + "|"]
    lines += [row(folder.name, seed_results(folder)) for folder in folders]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    print(table(parser.parse_args().folders))


if __name__ == "__main__":
    main()
