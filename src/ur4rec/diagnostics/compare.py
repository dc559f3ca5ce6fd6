"""Side-by-side markdown table of runs: the config keys that differ, then the final results.

For ablations and for the seed's plan A vs plan B: only what differs is shown, so the table
says what was changed and what it did. A second table shows the test NDCG@10 of each slice
(``results.json["slices"]``, :mod:`ur4rec.evaluation.slices`) per protocol, the slice's user
count and the thresholds; runs written before slices existed show a dash there. When a run has
cold items (``data.cold_items``), a third table shows ``results.json["cold"]``: all cold items,
and the two halves — choose between the runs on the valid half, quote the test half.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ur4rec.diagnostics.findings import format_value
from ur4rec.diagnostics.rules import run_rules
from ur4rec.diagnostics.runlog import RunLog, read_run
from ur4rec.errors import UR4RecError

# (protocol, metric) rows of the results part; higher is better except avg_rank
RESULT_METRICS = (("sampled", "hit@10"), ("sampled", "ndcg@10"), ("sampled", "mrr"),
                  ("full", "hit@10"), ("full", "ndcg@10"))
SLICE_METRIC = "ndcg@10"  # the metric of the slice table
# ur4rec.evaluation.slices.SLICE_NAMES, spelled out so compare imports no torch; slices a run
# has beyond these are shown after them
SLICE_NAMES = ("item_head", "item_tail", "user_short", "user_long")
SLICE_THRESHOLDS = ("item_head_min_count", "user_short_max_length")


def flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def config_differences(runs: Sequence[RunLog]) -> dict[str, list[Any]]:
    """Dotted config keys whose values are not the same in every run, with each run's value."""
    flats = [flatten(run.config.model_dump(mode="json")) for run in runs]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    missing = object()
    differing = {}
    for key in keys:
        values = [flat.get(key, missing) for flat in flats]
        if any(v != values[0] for v in values[1:]):
            differing[key] = [None if v is missing else v for v in values]
    return differing


def run_labels(runs: Sequence[RunLog]) -> list[str]:
    """Folder names, or full paths where two runs share a folder name."""
    names = [run.run_dir.name for run in runs]
    return [name if names.count(name) == 1 else str(run.run_dir)
            for name, run in zip(names, runs, strict=True)]


def _metric(run: RunLog, protocol: str, metric: str) -> float | None:
    value = (run.results or {}).get("test", {}).get(protocol, {}).get(metric)
    return None if value is None else float(value)


def result_rows(runs: Sequence[RunLog]) -> dict[str, list[Any]]:
    """Final test metrics, chance level, size, time and diagnosis count per run."""
    rows: dict[str, list[Any]] = {}
    for protocol, metric in RESULT_METRICS:
        rows[f"test {protocol} {metric}"] = [_metric(r, protocol, metric) for r in runs]
    rows["sampled ndcg@10 / chance"] = [
        None if (v := _metric(r, "sampled", "ndcg@10")) is None
        else v / (r.results or {}).get("protocol", {}).get("chance_sampled", {}).get(
            "ndcg@10", float("nan")) for r in runs]
    rows["epochs"] = [len(r.epochs) for r in runs]
    rows["parameters"] = [r.info.get("parameters") for r in runs]
    rows["train seconds"] = [(r.results or {}).get("timing", {}).get("train_s") for r in runs]
    rows["failure patterns (diagnose)"] = [sum(f.fires for f in run_rules(r)) for r in runs]
    return rows


def _slices(run: RunLog) -> dict[str, Any]:
    slices = (run.results or {}).get("slices")
    return slices if isinstance(slices, dict) else {}


def _slice_value(run: RunLog, protocol: str, name: str, key: str) -> Any:
    value = _slices(run).get("test", {}).get(protocol, {}).get(name, {}).get(key)
    return None if value is None else (float(value) if key != "users" else int(value))


def slice_rows(runs: Sequence[RunLog]) -> dict[str, list[Any]]:
    """Test ``SLICE_METRIC`` per slice and protocol, users per slice and the thresholds;
    ``None`` where a run has no slices (older ``results.json``)."""
    names = list(SLICE_NAMES)
    for run in runs:
        for protocol in ("sampled", "full"):
            names += [n for n in _slices(run).get("test", {}).get(protocol, {}) if n not in names]
    rows: dict[str, list[Any]] = {}
    for protocol in ("sampled", "full"):
        for name in names:
            rows[f"test {protocol} {SLICE_METRIC} {name}"] = [
                _slice_value(r, protocol, name, SLICE_METRIC) for r in runs]
    for name in names:
        rows[f"users {name}"] = [_slice_value(r, "sampled", name, "users") for r in runs]
    for key in SLICE_THRESHOLDS:
        rows[key] = [_slices(r).get("thresholds", {}).get(key) for r in runs]
    return rows


def _cold_value(run: RunLog, *keys: str) -> Any:
    value: Any = (run.results or {}).get("cold")
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


# (row name, path into results.json["cold"]); rows named "cold ndcg…" are compared (bold best)
COLD_ROWS = (
    ("cold ndcg@10 full, all cold items", ("metrics", "full", "ndcg@10")),
    ("cold ndcg@10 sampled, all cold items", ("metrics", "sampled", "ndcg@10")),
    ("cold ndcg@10 full, valid half (choose here)", ("valid", "metrics", "full", "ndcg@10")),
    ("cold ndcg@10 full, test half (quote this)", ("test", "metrics", "full", "ndcg@10")),
    ("chance full, all cold items", ("chance", "full", "ndcg@10")),
    ("cold users", ("users",)),
    ("cold items", ("cold_items",)),
)


def cold_rows(runs: Sequence[RunLog]) -> dict[str, list[Any]]:
    """The cold-item rows, ``{}`` when no run has cold items; ``None`` where one has none."""
    if not any(_cold_value(run) for run in runs):
        return {}
    return {name: [_cold_value(run, *path) for run in runs] for name, path in COLD_ROWS}


def _compared(name: str) -> bool:
    """Rows whose values are metrics of the runs: 4 decimals, the best in bold."""
    return name.startswith(("test", "cold ndcg"))


def _cell(value: Any, best: bool, metric: bool = False) -> str:
    if value is None:
        return "—"
    text = f"{value:.4f}" if metric and isinstance(value, float) else format_value(value)
    text = text.replace("|", "\\|")
    return f"**{text}**" if best else text


def _best_flags(name: str, values: list[Any]) -> list[bool]:
    numbers = [v for v in values if isinstance(v, float)]
    if not _compared(name) or len(numbers) < 2:
        return [False] * len(values)
    top = max(numbers)
    return [isinstance(v, float) and v == top for v in values]


def format_comparison(runs: Sequence[RunLog]) -> str:
    """The markdown table: one column per run; config rows first, then results (best bold)."""
    labels = run_labels(runs)
    lines = ["| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    width = len(labels) + 1
    differences = config_differences(runs)
    lines.append("| **config** " + "| " * (width - 1) + "|")
    if not differences:
        lines.append("| (identical configs) " + "| " * (width - 1) + "|")
    for key, values in differences.items():
        lines.append(f"| `{key}` | " + " | ".join(_cell(v, False) for v in values) + " |")
    lines.append("| **results** " + "| " * (width - 1) + "|")
    lines += _rows(result_rows(runs))
    lines += ["", f"| **slices** (test {SLICE_METRIC}) | " + " | ".join(labels) + " |",
              "|---" * (len(labels) + 1) + "|"]
    lines += _rows(slice_rows(runs))
    cold = cold_rows(runs)
    if cold:
        lines += ["", "| **cold items** (data.cold_items) | " + " | ".join(labels) + " |",
                  "|---" * (len(labels) + 1) + "|"]
        lines += _rows(cold)
    return "\n".join(lines) + "\n"


def _rows(rows: dict[str, list[Any]]) -> list[str]:
    """Markdown rows, the best of each compared row (``test …``, ``cold ndcg…``) in bold."""
    lines = []
    for name, values in rows.items():
        flags = _best_flags(name, values)
        lines.append(f"| {name} | " + " | ".join(
            _cell(v, b, _compared(name)) for v, b in zip(values, flags, strict=True))
            + " |")
    return lines


def compare_runs(run_dirs: Sequence[str | Path]) -> str:
    """Read each run directory and return the comparison table (markdown)."""
    if not run_dirs:
        raise UR4RecError("compare needs at least one run directory")
    return format_comparison([read_run(run_dir) for run_dir in run_dirs])
