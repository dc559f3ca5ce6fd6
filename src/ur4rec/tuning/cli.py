"""The ``tune`` command: an Optuna search over a config's keys (:mod:`ur4rec.tuning.study`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _add_tune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="Optuna search over config keys, selected on validation")
    p.add_argument("--config", required=True, type=Path,
                   help="the base YAML config (or a packaged config's name)")
    p.add_argument("--space", required=True, type=Path,
                   help="search space YAML: {dotted.key: {type, low, high, log, choices}} (or "
                   "a packaged one's name, e.g. tune_space_sasrec)")
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add this part's commands to the ``ur4rec`` parser."""
    _add_tune(sub)


def cmd_tune(args: argparse.Namespace) -> int:
    # torch loads only when a command runs (Optuna only once the study opens)
    from ur4rec.tuning.study import TuneSettings, run_study, trials_table, write_best_config

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


COMMANDS = {"tune": cmd_tune}
