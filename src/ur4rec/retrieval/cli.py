"""The ``recommend`` and ``recommend-all`` commands: top-K items for users of a trained run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ur4rec.errors import UR4RecError


def _add_recommend(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="top-K items for one user of a trained run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--user", required=True, help="the user's original id")
    p.add_argument("--k", "-k", type=int, default=10, help="how many items (default 10)")
    p.add_argument("--include-history", action="store_true",
                   help="also rank items the user has already interacted with")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_recommend_all(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend-all", help="top-K for many users of a run through FAISS "
                       "(JSON lines)")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", required=True, type=Path, help="JSON-lines file to write")
    p.add_argument("--k", "-k", type=int, default=10)
    p.add_argument("--users", nargs="+", help="original user ids (default: every user)")
    p.add_argument("--include-history", action="store_true",
                   help="also offer items the user has already interacted with")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])


def register(sub: argparse._SubParsersAction) -> None:
    """Add this part's commands to the ``ur4rec`` parser."""
    _add_recommend(sub)
    _add_recommend_all(sub)


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
    import torch  # torch and the run load only when a command runs

    from ur4rec import api  # likewise

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


def cmd_recommend_all(args: argparse.Namespace) -> int:
    from ur4rec import api  # torch and the run load only when a command runs
    from ur4rec.retrieval.search import faiss_topk_for_run, supports_faiss  # likewise

    if args.k < 1:
        raise UR4RecError(f"--k must be at least 1, got {args.k}")
    run = api.load_run(args.run_dir, args.device)
    if not supports_faiss(run.model):
        raise UR4RecError(f"{args.run_dir}: a {run.config.model} model does not score by inner "
                          "product; use `ur4rec recommend` per user")
    users = args.users or [str(user) for user in run.data.user_ids]
    answers = faiss_topk_for_run(run, users, args.k, exclude_history=not args.include_history)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        for user, answer in zip(users, answers, strict=True):
            handle.write(json.dumps({"user": user, "items": answer}) + "\n")
    print(f"top-{args.k} for {len(users)} users written to {args.out}")
    return 0


COMMANDS = {"recommend": cmd_recommend, "recommend-all": cmd_recommend_all}
