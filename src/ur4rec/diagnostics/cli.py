"""``diagnose``, ``plot`` and ``compare``: what went wrong in a run, and how runs compare."""

from __future__ import annotations

import argparse
from pathlib import Path

from ur4rec.errors import UR4RecError


def _add_diagnose(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diagnose", help="name the failure patterns of a run (writes diagnosis.md)")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--strict", action="store_true",
                   help="exit with code 1 when a critical or warning finding fires")


def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="PNG curves of a run into RUN_DIR/plots/")
    p.add_argument("run_dir", type=Path)


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="markdown table of runs: differing config, final metrics")
    p.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    p.add_argument("--output", type=Path, help="also write the table to this file")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this part's commands to the ``ur4rec`` parser."""
    _add_diagnose(sub)
    _add_plot(sub)
    _add_compare(sub)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from ur4rec.diagnostics.report import diagnose, write_diagnosis  # torch: only when it runs

    path = write_diagnosis(args.run_dir)
    print(path.read_text(encoding="utf-8"), end="")
    print(f"written to {path}")
    if args.strict and any(finding.fires for finding in diagnose(args.run_dir)):
        return 1
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from ur4rec.diagnostics.plots import plot_run  # torch loads only when a command runs

    try:
        paths = plot_run(args.run_dir)
    except ImportError as error:
        raise UR4RecError(str(error)) from None
    if not paths:
        print(f"{args.run_dir}: no training epochs to plot (metrics.jsonl is empty or absent)")
    for path in paths:
        print(path)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ur4rec.diagnostics.compare import compare_runs  # torch loads only when a command runs

    table = compare_runs(args.run_dirs)
    print(table, end="")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table, encoding="utf-8")
        print(f"written to {args.output}")
    return 0


COMMANDS = {"diagnose": cmd_diagnose, "plot": cmd_plot, "compare": cmd_compare}
