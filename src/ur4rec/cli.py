"""The ``ur4rec`` command: parses arguments, calls :mod:`ur4rec.api`, prints results.

Errors a user can fix are printed on one line with exit code 2 (``--debug`` shows tracebacks).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ur4rec import __version__
from ur4rec.errors import UR4RecError

log = logging.getLogger("ur4rec")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="prepare data (and texts), train, evaluate, write a run")
    p.add_argument("--config", required=True, type=Path, help="YAML config file")
    p.add_argument("--output_dir", "--output-dir", required=True, type=Path,
                   help="run directory to write")
    p.add_argument("--resume", action="store_true", help="continue from output_dir's last.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="delete what output_dir holds (a ur4rec run) and train afresh; without "
                        "it (or --resume) a non-empty output_dir is refused")
    p.add_argument("--data_dir", "--data-dir", type=Path,
                   help="prepared dataset folder (prepared there if absent)")
    p.add_argument("--llm_data_dir", "--llm-data-dir", type=Path,
                   help="folder with user_preferences.json / item_descriptions.json to import")
    p.add_argument("--epochs_per_stage", "--epochs-per-stage", type=int)
    p.add_argument("--patience", type=int)
    p.add_argument("--stages", nargs="+", help="subset of the stages, in order")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--batch_size", "--batch-size", type=int)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set training.sasrec_lr=0.001")
    p.add_argument("--tensorboard", action="store_true", help="also log to run_dir/tensorboard")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


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


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="re-evaluate a run's final model")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--save-ranks", "--save_ranks", type=Path,
                   help="write per-user candidates, scores and full rank (JSON Lines)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ur4rec", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ur4rec {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--quiet", action="store_true", help="only warnings and results")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data(sub)
    _add_train(sub)
    _add_evaluate(sub)
    for register in _EXTENSIONS:
        register(sub)
    return parser


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from ur4rec.config import parse_override

    overrides: dict[str, Any] = dict(parse_override(item) for item in args.set)
    for flag, key in (("epochs_per_stage", "training.epochs_per_stage"),
                      ("patience", "training.patience"), ("stages", "training.stages"),
                      ("seed", "training.seed"), ("device", "training.device"),
                      ("batch_size", "training.batch_size")):
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
    return overrides


def cmd_train(args: argparse.Namespace) -> int:
    from ur4rec import api
    from ur4rec.training.distributed import from_environment

    distributed = from_environment()
    results = api.train(args.config, args.output_dir, resume=args.resume,
                        overwrite=args.overwrite,
                        overrides=_train_overrides(args), data_dir=args.data_dir,
                        llm_data_dir=args.llm_data_dir,
                        progress=not (args.no_progress or args.quiet),
                        tensorboard=args.tensorboard, distributed=distributed)
    if distributed is not None:
        distributed.close()
    if results:
        print(api.format_results_table(results))
        print(f"run written to {args.output_dir}")
    return 0


def cmd_data_synth(args: argparse.Namespace) -> int:
    import time

    from ur4rec.data.synth import format_stats, write_synth

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
    from ur4rec.config import DataConfig, data_config_from_dict, load_config
    from ur4rec.data.prepared import prepare_dataset

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
    import time

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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ur4rec import api

    results = api.evaluate(args.run_dir, args.save_ranks, args.device)
    print(api.format_results_table(results))
    if args.save_ranks:
        print(f"per-user ranks written to {args.save_ranks}")
    return 0


COMMANDS = {"train": cmd_train, "data": cmd_data, "evaluate": cmd_evaluate}
_EXTENSIONS: list[Any] = []


def _register_extensions() -> None:
    """Commands that live in their own modules (texts, diagnostics, scale); once per process."""
    from ur4rec import cli_extra

    if not _EXTENSIONS:
        _EXTENSIONS.extend(cli_extra.REGISTRARS)
        COMMANDS.update(cli_extra.COMMANDS)


def main(argv: list[str] | None = None) -> int:
    _register_extensions()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(message)s", stream=sys.stderr)
    if args.quiet:
        os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        return COMMANDS[args.command](args)
    except UR4RecError as error:
        if args.debug:
            raise
        print(f"ur4rec: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ur4rec: interrupted — a training run continues with the same command plus "
              "--resume", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 — one line for the user, the traceback on --debug
        if args.debug:
            raise
        print(f"ur4rec: internal error: {type(error).__name__}: {error} "
              "(run again with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
