"""The ``ur4rec`` command: parses arguments, calls :mod:`ur4rec.api`, prints results.

``train`` and ``evaluate`` live here; every other command lives in the room it serves, listed
in :data:`COMMAND_MODULES`. Building the parser imports no torch: ``ur4rec --help`` and
argument errors answer at once, and each command imports what it runs. Errors a user can fix
are printed on one line with exit code 2 (``--debug`` shows tracebacks).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ur4rec import __version__
from ur4rec.config import PACKAGED_CONFIGS, config_file, packaged_configs, parse_override
from ur4rec.data import cli as data_cli
from ur4rec.diagnostics import cli as diagnostics_cli
from ur4rec.errors import UR4RecError
from ur4rec.retrieval import cli as retrieval_cli
from ur4rec.text import cli as text_cli
from ur4rec.tuning import cli as tuning_cli

log = logging.getLogger("ur4rec")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="prepare data (and texts), train, evaluate, write a run")
    p.add_argument("--config", required=True, type=Path,
                   help="YAML config file, or a packaged config's name (see `ur4rec configs`)")
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


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="re-evaluate a run's final model")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--save-ranks", "--save_ranks", type=Path,
                   help="write per-user candidates, scores and full rank (JSON Lines)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])


def _add_configs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("configs", help="list the example configs that ship with ur4rec, or "
                       "print one (a starting point: ur4rec configs NAME > mine.yaml)")
    p.add_argument("name", nargs="?", help="print this config")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ur4rec", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ur4rec {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--quiet", action="store_true", help="only warnings and results")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_configs(sub)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
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
    from ur4rec import api  # torch loads only when a command runs
    from ur4rec.training.distributed import from_environment  # likewise

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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ur4rec import api  # torch loads only when a command runs

    results = api.evaluate(args.run_dir, args.save_ranks, args.device)
    print(api.format_results_table(results))
    if args.save_ranks:
        print(f"per-user ranks written to {args.save_ranks}")
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    """The packaged configs, one a line with the first line of their header comment; with a
    name, that config's YAML as it ships."""
    if args.name:
        print(config_file(args.name).read_text(encoding="utf-8"), end="")
        return 0
    configs = packaged_configs()
    width = max(map(len, configs))
    for name, path in configs.items():
        header = next((line.lstrip("# ").rstrip() for line in
                       path.read_text(encoding="utf-8").splitlines() if line.startswith("#")), "")
        print(f"{name:<{width}}  {header}")
    print(f"\nrun one with: ur4rec train --config NAME --output_dir runs/NAME ({PACKAGED_CONFIGS})")
    return 0


COMMAND_MODULES = (data_cli, text_cli, diagnostics_cli, retrieval_cli, tuning_cli)
"""Each offers ``register(subparsers)`` and ``COMMANDS`` (name → handler taking the parsed
arguments and returning an exit code)."""


def all_commands() -> dict[str, Any]:
    """Every command's handler by name; two modules claiming one name is an error."""
    commands: dict[str, Any] = {"train": cmd_train, "evaluate": cmd_evaluate,
                                "configs": cmd_configs}
    for module in COMMAND_MODULES:
        taken = set(commands) & set(module.COMMANDS)
        if taken:
            raise RuntimeError(f"{module.__name__} defines commands that exist already: {taken}")
        commands.update(module.COMMANDS)
    return commands


COMMANDS = all_commands()


def main(argv: list[str] | None = None) -> int:
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
