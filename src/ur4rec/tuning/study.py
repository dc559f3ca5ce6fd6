"""``ur4rec tune``: an Optuna search over a config's keys, selected on validation only.

Each trial is one ``api.train`` run in ``DIR/trial_<number>`` (the base config plus the trial's
values). Its value is the final model's validation metric (``results.json["valid"]``, the same
weights the run reports); test metrics stay in the trial's own run and are never read here. An
epoch callback reports each epoch's validation metric so the pruner can stop a hopeless trial.

The study lives in ``DIR/study.db`` (SQLite): running the same command again resumes it and runs
only the trials still missing. A trial that was running when the process died is marked failed
and its values are queued again. Plans given with ``--first-trials`` run first (projected on the
space: their values for the searched keys; every other key keeps the base config's value).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ur4rec import api
from ur4rec.config import load_config, resolved_dict
from ur4rec.errors import UR4RecError
from ur4rec.tuning.space import (
    Parameter,
    check_space_fits,
    flatten,
    load_space,
    plan_params,
)

log = logging.getLogger(__name__)

FINISHED = ("COMPLETE", "PRUNED", "FAIL")


@dataclass
class TuneSettings:
    """What ``ur4rec tune`` was asked for."""

    config: Path
    space: Path
    trials: int
    study_dir: Path
    first_trials: list[Path] = field(default_factory=list)
    timeout: float | None = None
    metric: str = "ndcg@10"
    protocol: str = "sampled"
    pruner: str = "median"
    seed: int | None = None
    study_name: str = "ur4rec"


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError as error:
        raise UR4RecError(f"ur4rec tune needs Optuna: pip install 'ur4rec[scale]' ({error})"
                          ) from None
    return optuna


class TrialRunner:
    """The objective: train one trial's config and return its validation metric."""

    def __init__(self, settings: TuneSettings, space: dict[str, Parameter]) -> None:
        self.settings = settings
        self.space = space
        self.optuna = import_optuna()

    def __call__(self, trial: Any) -> float:
        overrides = {key: parameter.suggest(trial) for key, parameter in self.space.items()}
        run_dir = self.settings.study_dir / f"trial_{trial.number}"
        trial.set_user_attr("run_dir", str(run_dir))
        try:
            # trial numbers never repeat within a study, so a trial_N folder already there is
            # left from a study.db that was deleted: it belongs to no trial of this study
            results = api.train(self.settings.config, run_dir, overrides=overrides,
                                overwrite=True, progress=False,
                                callbacks=[self._pruning_callback(trial)])
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)  # Optuna marks it failed; a rerun retries
            raise
        return float(results["valid"][self.settings.protocol][self.settings.metric])

    def _pruning_callback(self, trial: Any) -> Any:
        def report(row: dict[str, Any]) -> None:
            value = row["valid"][self.settings.protocol][self.settings.metric]
            trial.report(value, row["global_epoch"])
            trial.set_user_attr("epochs", row["global_epoch"] + 1)
            if trial.should_prune():
                raise self.optuna.TrialPruned(f"pruned after epoch {row['global_epoch']}: "
                                              f"valid {self.settings.metric} {value:.4f}")
        return report


def open_study(settings: TuneSettings, space: dict[str, Parameter]) -> Any:
    """Create ``DIR/study.db`` or load it, refusing one made for another base or space."""
    optuna = import_optuna()
    settings.study_dir.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(settings.study_dir / 'study.db').resolve()}"
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1) \
        if settings.pruner == "median" else optuna.pruners.NopPruner()
    seed = settings.seed if settings.seed is not None else load_config(
        settings.config).training.seed
    study = optuna.create_study(storage=storage, study_name=settings.study_name,
                                direction="maximize", load_if_exists=True, pruner=pruner,
                                sampler=optuna.samplers.TPESampler(seed=seed))
    identity = {"base": flatten(load_config(settings.config)),
                "space": {key: repr(p) for key, p in space.items()},
                "objective": f"valid {settings.protocol} {settings.metric}"}
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", json.loads(json.dumps(identity)))
    elif stored != json.loads(json.dumps(identity)):
        changed = sorted(part for part in identity if stored.get(part) != json.loads(
            json.dumps(identity[part])))
        raise UR4RecError(f"{settings.study_dir}/study.db was started with another "
                          f"{' and '.join(changed)}; resume with the same files or choose a new "
                          "--study-dir")
    return study


def requeue_interrupted(study: Any) -> list[int]:
    """Trials a dead process left RUNNING, or a Ctrl-C left failed: queue their values again.

    Their numbers go to the study's ``requeued`` list, so they are not counted as finished.
    """
    optuna = import_optuna()
    done = set(study.user_attrs.get("requeued", []))
    interrupted = []
    for trial in study.get_trials(deepcopy=False):
        if trial.number in done:
            continue
        if trial.state.name == "RUNNING":  # only one tune works on a study (StudyLock)
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        elif not (trial.state.name == "FAIL" and trial.user_attrs.get("interrupted")):
            continue
        source = trial.user_attrs.get("source", "sampler").split(" (retry")[0]
        study.enqueue_trial(trial.params, user_attrs={
            "source": f"{source} (retry of {trial.number})"})
        interrupted.append(trial.number)
    if interrupted:
        study.set_user_attr("requeued", sorted(done | set(interrupted)))
    return interrupted


def enqueue_plans(study: Any, settings: TuneSettings, space: dict[str, Parameter]) -> None:
    """Queue each plan's values for the searched keys (once: a rerun does not repeat them)."""
    for plan in settings.first_trials:
        params, ignored = plan_params(plan, settings.config, space)
        if ignored:
            log.warning("%s: not in the search space, so kept from %s: %s", plan,
                        settings.config, ", ".join(ignored))
        study.enqueue_trial(params, user_attrs={"source": plan.name}, skip_if_exists=True)


def trials_still_missing(study: Any, wanted: int) -> int:
    """``wanted`` minus the finished trials, not counting those interrupted (they rerun)."""
    interrupted = set(study.user_attrs.get("requeued", []))
    finished = [t for t in study.get_trials(deepcopy=False)
                if t.state.name in FINISHED and t.number not in interrupted]
    return max(0, wanted - len(finished))


class StudyLock:
    """``DIR/tune.lock`` holds the pid of the one ``ur4rec tune`` working on DIR."""

    def __init__(self, study_dir: Path) -> None:
        self.path = study_dir / "tune.lock"

    def __enter__(self) -> StudyLock:
        if self.path.exists():
            text = self.path.read_text(encoding="utf-8").strip()
            if text.isdigit() and int(text) != os.getpid() and _alive(int(text)):
                raise UR4RecError(f"{self.path}: ur4rec tune (pid {text}) is already working on "
                                  "this study; wait for it or stop it first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(str(os.getpid()), encoding="utf-8")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_study(settings: TuneSettings) -> Any:
    """Run (or resume) the search until ``settings.trials`` trials have finished."""
    if settings.trials < 1:
        raise UR4RecError(f"--trials must be ≥ 1, got {settings.trials}")
    ks = load_config(settings.config).evaluation.ks
    known = [f"{name}@{k}" for name in ("ndcg", "hit") for k in ks] + ["mrr"]
    if settings.metric not in known:
        raise UR4RecError(f"--metric {settings.metric!r} is not one of {known} (evaluation.ks of "
                          f"{settings.config}; higher must be better)")
    space = load_space(settings.space)
    check_space_fits(settings.config, space)
    api.prepare_data(load_config(settings.config))  # once, before any trial: fails fast
    with StudyLock(settings.study_dir):
        study = open_study(settings, space)
        retried = requeue_interrupted(study)
        if retried:
            log.warning("trials %s were interrupted; their values run again", retried)
        enqueue_plans(study, settings, space)
        missing = trials_still_missing(study, settings.trials)
        log.info("study %s: %d trial(s) to run", settings.study_dir, missing)
        if missing:
            study.optimize(TrialRunner(settings, space), n_trials=missing,
                           timeout=settings.timeout, catch=(UR4RecError,), gc_after_trial=True)
    return study


def write_best_config(study: Any, settings: TuneSettings) -> Path | None:
    """``DIR/best.yaml``: the base config with the best trial's values, every key resolved."""
    completed = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not completed:
        return None
    best = max(completed, key=lambda t: t.value)
    config = load_config(settings.config, best.params)
    path = settings.study_dir / "best.yaml"
    header = (f"# ur4rec tune: best of {len(completed)} completed trial(s) by valid "
              f"{settings.protocol} {settings.metric} = {best.value:.4f}: trial {best.number} "
              f"({best.user_attrs.get('run_dir')})\n")
    path.write_text(header + yaml.safe_dump(resolved_dict(config), sort_keys=False),
                    encoding="utf-8")
    return path


def trials_table(study: Any, settings: TuneSettings) -> str:
    """Markdown: one row per trial, in order, with its source, state, value and values."""
    trials = study.get_trials(deepcopy=False)
    keys = sorted({key for trial in trials for key in trial.params})
    metric = f"valid {settings.protocol} {settings.metric}"
    lines = ["| trial | source | state | " + metric + " | epochs | seconds | " +
             " | ".join(keys) + " |", "|---" * (6 + len(keys)) + "|"]
    for trial in trials:
        value = "" if trial.value is None else f"{trial.value:.4f}"
        seconds = "" if trial.duration is None else f"{trial.duration.total_seconds():.1f}"
        cells = [str(trial.number), trial.user_attrs.get("source", "sampler"), trial.state.name,
                 value, str(trial.user_attrs.get("epochs", "")), seconds]
        cells += [_short(trial.params.get(key, "")) for key in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
