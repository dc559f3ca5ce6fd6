"""The ``tune``, ``recommend-all`` and ``convert`` commands (registered by ``ur4rec.cli_extra``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ur4rec.errors import UR4RecError


def _add_tune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="Optuna search over config keys, selected on validation")
    p.add_argument("--config", required=True, type=Path, help="the base YAML config")
    p.add_argument("--space", required=True, type=Path,
                   help="search space YAML: {dotted.key: {type, low, high, log, choices}}")
    p.add_argument("--trials", required=True, type=int,
                   help="finished trials the study should hold (a rerun adds only the missing)")
    p.add_argument("--study-dir", "--study_dir", required=True, type=Path,
                   help="study.db, trial_N/ runs and best.yaml go here")
    p.add_argument("--first-trials", "--first_trials", nargs="+", type=Path, default=[],
                   metavar="PLAN.yaml", help="configs whose values for the searched keys run "
                   "first, in this order (e.g. plan A and plan B)")
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument("--metric", default="ndcg@10", help="validation metric (default ndcg@10)")
    p.add_argument("--protocol", default="sampled", choices=["sampled", "full"])
    p.add_argument("--pruner", default="median", choices=["median", "none"],
                   help="stop trials whose validation curve is below the median (default)")
    p.add_argument("--seed", type=int, help="sampler seed (default: the config's seed)")
    p.add_argument("--study-name", "--study_name", default="ur4rec")


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


# the converters' names, spelled out so that building the parser imports no data code (torch);
# tests/scale checks them against ur4rec.scale.datasets.CONVERTERS
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
    _add_tune(sub)
    _add_recommend_all(sub)
    _add_convert(sub)


def cmd_tune(args: argparse.Namespace) -> int:
    from ur4rec.scale.tune import TuneSettings, run_study, trials_table, write_best_config

    settings = TuneSettings(args.config, args.space, args.trials, args.study_dir,
                            list(args.first_trials), args.timeout, args.metric, args.protocol,
                            args.pruner, args.seed, args.study_name)
    try:
        study = run_study(settings)
    except KeyboardInterrupt:
        print(f"ur4rec: tune interrupted — run the same command again to resume the study in "
              f"{args.study_dir}", file=sys.stderr)
        return 130
    print(trials_table(study, settings))
    best = write_best_config(study, settings)
    if best is None:
        print("no trial completed; nothing written", file=sys.stderr)
        return 1
    print(f"best config written to {best}")
    return 0


def cmd_recommend_all(args: argparse.Namespace) -> int:
    from ur4rec import api
    from ur4rec.scale.retrieval import faiss_topk_for_run, supports_faiss

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


def cmd_convert(args: argparse.Namespace) -> int:
    from ur4rec.scale.datasets import CONVERTERS

    out = CONVERTERS[args.kind](args.source, args.out)
    print(f"{args.kind}: {args.source} → {out}")
    return 0


COMMANDS = {"tune": cmd_tune, "recommend-all": cmd_recommend_all, "convert": cmd_convert}
