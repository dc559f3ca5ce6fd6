"""PNG curves of a run, written into ``run_dir/plots/``.

Drawn on matplotlib's Agg canvas directly (no pyplot), so plotting never changes the backend
or the open figures of the program that called it. Files: ``losses.png``, ``validation.png``,
``optimisation.png``, and for UR4Rec runs that log them ``memory.png`` and ``routing.png``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ur4rec.diagnostics.rules.components import COMPONENT_GROUPS
from ur4rec.diagnostics.rules.training import MIN_BATCHES_PER_EPOCH, MIN_TARGETS_PER_USER
from ur4rec.diagnostics.runlog import EpochRecord, RunLog, read_run
from ur4rec.evaluation.metrics import random_guess_expectation

VALIDATION_METRICS = ("ndcg@10", "hit@10", "mrr")
PANEL_SIZE = (6.4, 2.3)  # inches per subplot row


def _figure(rows: int) -> tuple[Any, list[Any]]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plots need matplotlib: pip install 'ur4rec[plots]'") from error
    figure = Figure(figsize=(PANEL_SIZE[0], PANEL_SIZE[1] * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(rows, 1, i + 1) for i in range(rows)]
    return figure, axes


def _series(epochs: list[EpochRecord], value: Callable[[EpochRecord], Any]
            ) -> tuple[list[int], list[float]]:
    """x = global epoch, y = value (NaN where missing, so lines break instead of lying)."""
    ys = []
    for record in epochs:
        try:
            y = value(record)
            ys.append(math.nan if y is None else float(y))
        except (KeyError, TypeError, ValueError, AttributeError):
            ys.append(math.nan)
    return [r.global_epoch for r in epochs], ys


def _mark_stages(ax: Any, run: RunLog, label: bool = False) -> None:
    for stage in run.stages():
        start = run.stage_epochs(stage)[0].global_epoch
        ax.axvline(start - 0.5, color="0.7", linestyle=":", linewidth=1)
        if label:
            ax.annotate(stage, (start - 0.4, 1), xycoords=("data", "axes fraction"),
                        fontsize=7, color="0.4", va="top")
    ax.set_xlabel("epoch (all stages)")
    ax.grid(alpha=0.3)


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def plot_losses(run: RunLog, path: Path) -> Path | None:
    """One panel per loss key; epochs where a component's module was frozen drawn as ×.
    ``None`` (no file) when no epoch logged a loss."""
    keys = list(dict.fromkeys(k for r in run.epochs for k in r.losses))
    if not keys:
        return None
    if len(keys) == 2 and all(r.losses.get(keys[0]) == r.losses.get(keys[1]) for r in run.epochs):
        keys = keys[:1]  # a single-component objective: the component is the loss
    figure, axes = _figure(len(keys))
    for ax, key in zip(axes, keys, strict=True):
        xs, ys = _series(run.epochs, lambda r, key=key: r.losses.get(key))
        ax.plot(xs, ys, color="tab:blue", linewidth=1)
        if not any(math.isfinite(y) for y in ys):  # e.g. a run whose only epoch diverged
            # nothing to autoscale on: without limits the stage label lands off the canvas
            ax.set_xlim(min(xs) - 1, max(xs) + 1)
            ax.set_ylim(0, 1)
            ax.text(0.5, 0.5, "no finite value", transform=ax.transAxes, ha="center",
                    color="tab:red")
        group = COMPONENT_GROUPS.get(key)
        if group is not None:
            frozen = [group not in r.trained for r in run.epochs]
            ax.scatter([x for x, f in zip(xs, frozen, strict=True) if f],
                       [y for y, f in zip(ys, frozen, strict=True) if f],
                       marker="x", color="0.5", label=f"{group} frozen", zorder=3)
            if any(frozen):
                ax.legend(fontsize=7)
        ax.set_ylabel(key)
        _mark_stages(ax, run, label=ax is axes[0])
    axes[0].set_title(f"{run.config.name}: training loss (mean per batch)")
    return _save(figure, path)


def plot_validation(run: RunLog, path: Path) -> Path | None:
    """Validation metrics per epoch for each protocol; sampled ones with their chance level.
    ``None`` (no file) when no epoch was validated, e.g. a run whose only epoch diverged (a
    diverged epoch is logged with ``valid: {}``)."""
    protocols = list(dict.fromkeys(p for r in run.epochs for p in r.valid))
    if not protocols:
        return None
    figure, axes = _figure(len(protocols))
    chance = random_guess_expectation(run.num_candidates)
    for ax, protocol in zip(axes, protocols, strict=True):
        for index, metric in enumerate(VALIDATION_METRICS):
            color = f"C{index}"
            xs, ys = _series(run.epochs, lambda r, p=protocol, m=metric: r.valid[p][m])
            ax.plot(xs, ys, color=color, linewidth=1, label=metric)
            best = [(x, y) for x, y, r in zip(xs, ys, run.epochs, strict=True) if r.best]
            ax.scatter([x for x, _ in best], [y for _, y in best], color=color, s=12, zorder=3)
            if protocol == "sampled" and metric in chance:
                ax.axhline(chance[metric], color=color, linestyle="--", linewidth=0.8)
        ax.set_ylabel(f"valid {protocol}")
        ax.legend(fontsize=7, ncol=3)
        _mark_stages(ax, run, label=ax is axes[0])
    axes[0].set_title(f"{run.config.name}: validation (dots: best so far in stage; "
                      f"dashed: chance among {run.num_candidates})", fontsize=9)
    return _save(figure, path)


def plot_optimisation(run: RunLog, path: Path) -> Path:
    """Learning rate per group, gradient norm, targets per user and steps per epoch; the
    dashed lines are the thresholds of the ``too_few_targets`` / ``too_few_batches`` rules."""
    figure, (lr_ax, grad_ax, target_ax, batch_ax) = _figure(4)
    for group in dict.fromkeys(g for r in run.epochs for g in r.lr):
        lr_ax.plot(*_series(run.epochs, lambda r, g=group: r.lr.get(g)), label=group)
        lr_ax.legend(fontsize=7)
    lr_ax.set_ylabel("learning rate")
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    grad_ax.plot(*_series(run.epochs, lambda r: r.grad_norm), label="mean")
    grad_ax.plot(*_series(run.epochs, lambda r: r.grad_norm_max), label="max")
    grad_ax.set_ylabel("grad norm")
    grad_ax.legend(fontsize=7)
    users = run.num_users or math.nan
    target_ax.plot(*_series(run.epochs, lambda r: r.targets / users), marker=".")
    target_ax.axhline(MIN_TARGETS_PER_USER, color="tab:red", linestyle="--", linewidth=0.8)
    target_ax.set_ylabel("targets / user")
    batch_ax.plot(*_series(run.epochs, lambda r: r.batches), marker=".")
    batch_ax.axhline(MIN_BATCHES_PER_EPOCH, color="tab:red", linestyle="--", linewidth=0.8)
    batch_ax.set_ylabel("steps / epoch")
    for ax in (lr_ax, grad_ax, target_ax, batch_ax):
        _mark_stages(ax, run, label=ax is lr_ax)
    lr_ax.set_title(f"{run.config.name}: optimisation")
    return _save(figure, path)


def _numeric_keys(dicts: Iterable[dict[str, Any] | None]) -> list[str]:
    keys: dict[str, None] = {}
    for d in dicts:
        for key, value in (d or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                keys[key] = None
    return list(keys)


def plot_memory(run: RunLog, path: Path) -> Path | None:
    """Each numeric memory statistic per epoch (UR4Rec runs only)."""
    keys = _numeric_keys(r.memory for r in run.epochs)
    if not keys:
        return None
    figure, axes = _figure(len(keys))
    for ax, key in zip(axes, keys, strict=True):
        ax.plot(*_series(run.epochs, lambda r, k=key: (r.memory or {}).get(k)), marker=".")
        ax.set_ylabel(key, fontsize=8)
        _mark_stages(ax, run, label=ax is axes[0])
    axes[0].set_title(f"{run.config.name}: user memory")
    return _save(figure, path)


def plot_routing(run: RunLog, path: Path) -> Path | None:
    """Router weight per expert, fusion weights and uncertainty log-variances, where logged."""
    panels = [(name, _numeric_keys(getattr(r, name) for r in run.epochs))
              for name in ("routing", "fusion", "uncertainty")]
    panels = [(name, keys) for name, keys in panels if keys]
    if not panels:
        return None
    figure, axes = _figure(len(panels))
    for ax, (name, keys) in zip(axes, panels, strict=True):
        for key in keys:
            ax.plot(*_series(run.epochs, lambda r, n=name, k=key: (getattr(r, n) or {}).get(k)),
                    label=key)
        ax.set_ylabel(name)
        if name != "uncertainty":  # weights are shares: keep zero in view (log-variances aren't)
            ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
        _mark_stages(ax, run, label=ax is axes[0])
    axes[0].set_title(f"{run.config.name}: routing and fusion")
    return _save(figure, path)


def plot_run(run_dir: str | Path) -> list[Path]:
    """Write every plot the run's log supports into ``run_dir/plots/``; return their paths.

    A run without training epochs (``random``, ``pop``) gets no plots; one without a validated
    epoch (it diverged in its first) no ``validation.png``.
    """
    run = read_run(run_dir)
    if not run.epochs:
        return []
    folder = Path(run_dir) / "plots"
    written = [plot_losses(run, folder / "losses.png"),
               plot_validation(run, folder / "validation.png"),
               plot_optimisation(run, folder / "optimisation.png"),
               plot_memory(run, folder / "memory.png"),
               plot_routing(run, folder / "routing.png")]
    return [path for path in written if path is not None]
