"""Hyper-parameter search: ``ur4rec tune``.

- :mod:`ur4rec.tuning.space` — the search space file: dotted config keys and their ranges;
- :mod:`ur4rec.tuning.study` — the Optuna study: one training run per trial, selected on
  validation only, resumable;
- :mod:`ur4rec.tuning.cli` — the command.

Optuna is the optional extra ``ur4rec[scale]``; it is imported only when a study opens.
"""
