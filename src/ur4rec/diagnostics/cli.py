"""The ``diagnose``, ``plot``, ``compare`` and ``recommend`` commands (registered by cli_extra)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

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


def _add_recommend(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="top-K items for one user of a trained run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--user", required=True, help="the user's original id")
    p.add_argument("--k", "-k", type=int, default=10, help="how many items (default 10)")
    p.add_argument("--include-history", action="store_true",
                   help="also rank items the user has already interacted with")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this part's commands to the ``ur4rec`` parser."""
    _add_diagnose(sub)
    _add_plot(sub)
    _add_compare(sub)
    _add_recommend(sub)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from ur4rec.diagnostics.report import diagnose, write_diagnosis

    path = write_diagnosis(args.run_dir)
    print(path.read_text(encoding="utf-8"), end="")
    print(f"written to {path}")
    if args.strict and any(finding.fires for finding in diagnose(args.run_dir)):
        return 1
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from ur4rec.diagnostics.plots import plot_run

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
    from ur4rec.diagnostics.compare import compare_runs

    table = compare_runs(args.run_dirs)
    print(table, end="")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table, encoding="utf-8")
        print(f"written to {args.output}")
    return 0


def format_recommendations(user: Any, items: list[dict[str, Any]]) -> str:
    """Markdown table: rank, item id, title, year, score."""
    lines = [f"top {len(items)} for user {user}", "",
             "| rank | item | title | year | score |", "|---|---|---|---|---|"]
    for rank, row in enumerate(items, start=1):
        title = str(row.get("title") or "").replace("|", "\\|")
        year = "" if row.get("year") is None else row["year"]
        lines.append(f"| {rank} | {row['item']} | {title} | {year} | {row['score']:.4f} |")
    return "\n".join(lines)


def cmd_recommend(args: argparse.Namespace) -> int:
    import torch

    from ur4rec import api

    if args.k < 1:
        raise UR4RecError(f"--k must be at least 1, got {args.k}")
    # one user is a tiny forward pass: extra threads only add synchronisation (10-100x slower on
    # a busy machine, see docs/diagnosis.md)
    torch.set_num_threads(1)
    run = api.load_run(args.run_dir, args.device)
    items = api.recommend(run, args.user, args.k, exclude_history=not args.include_history)
    if args.json:
        print(json.dumps({"user": args.user, "items": items}, indent=2))
    else:
        print(format_recommendations(args.user, items))
    return 0


COMMANDS = {"diagnose": cmd_diagnose, "plot": cmd_plot, "compare": cmd_compare,
            "recommend": cmd_recommend}
