"""The ``data prepare``, ``data synth`` and ``convert`` commands: datasets from the command line.

Building the parser imports no data code: pandas and torch load only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ur4rec.config import DataConfig, data_config_from_dict, load_config
from ur4rec.errors import UR4RecError


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="datasets")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    prep = data_sub.add_parser("prepare", help="fetch, filter, split, draw candidates")
    prep.add_argument("--dataset", default="ml-100k",
                      help="a preset (ml-100k, ml-100k-seed, amazon-beauty, amazon-scientific, "
                           "yelp) or a name for --path data")
    prep.add_argument("--config", type=Path, help="take the data section of this config")
    prep.add_argument("--path", type=Path, help="your own interaction file (CSV/TSV/Parquet/"
                                                "RecBole .inter); for amazon-beauty, "
                                                "amazon-scientific, yelp the folder of their "
                                                "published or raw files (yelp: your download "
                                                "of the Yelp Open Dataset)")
    prep.add_argument("--format", choices=["auto", "csv", "tsv", "parquet", "recbole"])
    prep.add_argument("--columns", help="user=COL,item=COL,timestamp=COL[,rating=COL]")
    prep.add_argument("--item-metadata", type=Path, help="item table: id, title, year, genres")
    prep.add_argument("--encoding", help="text encoding of --path and --item-metadata "
                                         "(default utf-8; MovieLens .dat: latin-1)")
    prep.add_argument("--min-rating", type=float)
    prep.add_argument("--min-user-interactions", type=int)
    prep.add_argument("--min-item-interactions", type=int)
    prep.add_argument("--out", type=Path, help="folder to write (default: the user cache)")
    prep.add_argument("--force", action="store_true", help="rebuild even if the folder exists")
    synth = data_sub.add_parser("synth", help="write a MovieLens-shaped synthetic dataset")
    synth.add_argument("--users", required=True, type=int)
    synth.add_argument("--items", required=True, type=int)
    synth.add_argument("--interactions", required=True, type=int)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", required=True, type=Path, help="folder to write")
    synth.add_argument("--format", choices=["parquet", "csv"], default="parquet",
                       help="of the interaction file (items.csv is always CSV)")
    synth.add_argument("--zipf-exponent", type=float,
                       help="item popularity ∝ (rank + offset × items) ** -exponent")
    synth.add_argument("--preference", type=float,
                       help="chance that an interaction comes from a preferred genre")
    synth.add_argument("--min-len", type=int, help="shortest history (default 5)")
    synth.add_argument("--compare-ml100k", action="store_true",
                       help="print real ML-100K's statistics beside (automatic at that size)")


# the converters' names, spelled out so that building the parser imports no data code (torch);
# tests/data/test_converters.py checks them against ur4rec.data.converters.CONVERTERS
CONVERT_KINDS = ("amazon-meta", "amazon-reviews", "ml1m-movies")


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="MovieLens-1M / Amazon files into CSVs the loader reads")
    p.add_argument("kind", choices=CONVERT_KINDS,
                   help="ml1m-movies: movies.dat → item CSV; amazon-meta: metadata JSON lines "
                   "→ item CSV; amazon-reviews: reviews JSON lines or headerless ratings CSV "
                   "→ reviews CSV with a header")
    p.add_argument("source", type=Path)
    p.add_argument("--out", required=True, type=Path)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this part's commands to the ``ur4rec`` parser."""
    _add_data(sub)
    _add_convert(sub)


def cmd_data_synth(args: argparse.Namespace) -> int:
    from ur4rec.data.synth import format_stats, write_synth  # pandas loads only when it runs

    options = {key: getattr(args, key) for key in ("zipf_exponent", "preference", "min_len")
               if getattr(args, key) is not None}
    started = time.perf_counter()
    report = write_synth(args.out, args.users, args.items, args.interactions, args.seed,
                         args.format, compare_ml100k=args.compare_ml100k or None, **options)
    print(format_stats(report["synthetic"], report["ml100k"]))
    if report["synthetic"]["shortfall"]:
        print(f"note: {report['synthetic']['shortfall']} interactions short of --interactions "
              f"(users × (items // 2) caps the histories)")
    print(f"written to {args.out} in {time.perf_counter() - started:.1f} s; next:")
    print(report["prepare_command"])
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "synth":
        return cmd_data_synth(args)
    from ur4rec.data.prepared import prepare_dataset  # torch loads only when a command runs

    base = load_config(args.config).data if args.config else DataConfig(dataset=args.dataset)
    updates: dict[str, Any] = {}
    if args.config is None or args.dataset != "ml-100k":
        updates["dataset"] = args.dataset
    for flag, key in (("path", "path"), ("format", "format"), ("item_metadata", "item_metadata"),
                      ("encoding", "encoding"),
                      ("min_rating", "min_rating"),
                      ("min_user_interactions", "min_user_interactions"),
                      ("min_item_interactions", "min_item_interactions")):
        if getattr(args, flag) is not None:
            updates[key] = getattr(args, flag)
    if args.columns is not None:
        updates["columns"] = parse_columns(args.columns)
    config = data_config_from_dict({**base.model_dump(exclude_unset=True), **updates},
                                   "command line")
    started = time.perf_counter()
    data = prepare_dataset(config, args.out, force=args.force)
    summary = data.summary()
    print(json.dumps({**summary, "folder": str(data.folder),
                      "seconds": round(time.perf_counter() - started, 3),
                      "dropped": data.meta.get("dropped")}))
    return 0


COLUMN_ROLES = ("user", "item", "timestamp", "rating")


def parse_columns(text: str) -> dict[str, str]:
    """``user=COL,item=COL,...`` as ``{role: column}``; anything else is a one-line error."""
    pairs: dict[str, str] = {}
    for part in text.split(","):
        role, equals, column = (piece.strip() for piece in part.partition("="))
        if not equals or not role or not column:
            raise UR4RecError(f"--columns: {part.strip()!r} is not ROLE=COLUMN; expected "
                              "user=COL,item=COL,timestamp=COL[,rating=COL]")
        if role not in COLUMN_ROLES:
            raise UR4RecError(f"--columns: unknown role {role!r}; use {', '.join(COLUMN_ROLES)}")
        if role in pairs:
            raise UR4RecError(f"--columns: role {role!r} is given twice")
        pairs[role] = column
    return pairs


def cmd_convert(args: argparse.Namespace) -> int:
    from ur4rec.data.converters import CONVERTERS  # pandas loads only when it runs

    out = CONVERTERS[args.kind](args.source, args.out)
    print(f"{args.kind}: {args.source} → {out}")
    return 0


COMMANDS = {"data": cmd_data, "convert": cmd_convert}
