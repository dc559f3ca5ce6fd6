"""A run directory read into typed objects, so rules, plots and comparisons never parse files.

The format is the one in ``docs/run-directory.md``. Anything missing or malformed raises a
:class:`~ur4rec.errors.UR4RecError` naming the file (and line or key) and what was expected.
Optional parts stay optional: ``results.json`` is absent in an interrupted run, ``metrics.jsonl``
in a run of a model that does not train (``random``, ``pop``), and the UR4Rec-only fields
(``memory``, ``routing``, ``fusion``, ``uncertainty``) are ``None`` for every other model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ur4rec.config import RunConfig, load_config
from ur4rec.errors import UR4RecError

# keys every metrics.jsonl row must have (the rest are optional, see docs/run-directory.md)
REQUIRED_ROW_KEYS = ("stage", "stage_index", "epoch", "global_epoch", "losses", "valid")


@dataclass(frozen=True)
class EpochRecord:
    """One line of ``metrics.jsonl``: one epoch of one stage."""

    stage: str
    stage_index: int
    epoch: int
    global_epoch: int
    losses: dict[str, float]
    valid: dict[str, dict[str, float]]
    trained: tuple[str, ...] = ()
    switch_count: int = 0
    switched: bool = False
    batches: int | None = None
    targets: int | None = None
    grad_norm: float | None = None
    grad_norm_max: float | None = None
    lr: dict[str, float] = field(default_factory=dict)
    best: bool = False
    selection: str | None = None
    non_finite_loss: bool = False
    seconds: float | None = None
    memory: dict[str, Any] | None = None
    routing: dict[str, float] | None = None
    fusion: dict[str, Any] | None = None
    uncertainty: dict[str, float] | None = None

    @property
    def loss(self) -> float:
        """The objective's mean per batch (NaN when it was not logged)."""
        return _as_float(self.losses.get("loss", math.nan))

    def valid_metric(self, protocol: str, metric: str) -> float | None:
        value = self.valid.get(protocol, {}).get(metric)
        return None if value is None else _as_float(value)


@dataclass(frozen=True)
class RunLog:
    """Everything a run directory says about one training run."""

    run_dir: Path
    config: RunConfig
    info: dict[str, Any]
    epochs: list[EpochRecord]
    results: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self.run_dir.name or str(self.run_dir)

    @property
    def model(self) -> str:
        return self.config.model

    @property
    def num_users(self) -> int | None:
        users = self.info.get("dataset", {}).get("users")
        return int(users) if users else None

    @property
    def num_candidates(self) -> int:
        """Candidates per user in the sampled protocol: results.json, else the config."""
        protocol = (self.results or {}).get("protocol", {})
        return int(protocol.get("num_candidates") or self.config.data.num_candidates)

    def stages(self) -> list[str]:
        """Stage names in the order they ran (only stages with at least one logged epoch)."""
        return list(dict.fromkeys(record.stage for record in self.epochs))

    def stage_epochs(self, stage: str) -> list[EpochRecord]:
        return [record for record in self.epochs if record.stage == stage]

    def final_metrics(self, protocol: str = "sampled") -> tuple[dict[str, float], str] | None:
        """The run's final metrics and where they come from: test in results.json, else the
        best validation epoch in metrics.jsonl; ``None`` when neither exists."""
        test = (self.results or {}).get("test", {}).get(protocol)
        if test:
            return {k: _as_float(v) for k, v in test.items()}, f"results.json test {protocol}"
        best = [record for record in self.epochs if record.best and protocol in record.valid]
        if best:
            return dict(best[-1].valid[protocol]), f"metrics.jsonl best validation {protocol}"
        return None


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _read_json(path: Path, required: bool) -> dict[str, Any] | None:
    if not path.is_file():
        if required:
            raise UR4RecError(f"{path} is missing: expected a run directory written by "
                              "`ur4rec train` (see docs/run-directory.md)")
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UR4RecError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise UR4RecError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def parse_epoch(row: Any, where: str) -> EpochRecord:
    """One ``metrics.jsonl`` row into an :class:`EpochRecord`; ``where`` names file and line."""
    if not isinstance(row, dict):
        raise UR4RecError(f"{where}: expected a JSON object per line, got {type(row).__name__}")
    missing = [key for key in REQUIRED_ROW_KEYS if key not in row]
    if missing:
        raise UR4RecError(f"{where}: missing key(s) {missing} (see docs/run-directory.md)")
    if not isinstance(row["losses"], dict) or not isinstance(row["valid"], dict):
        raise UR4RecError(f"{where}: 'losses' and 'valid' must be JSON objects")
    try:
        return EpochRecord(
            stage=str(row["stage"]), stage_index=int(row["stage_index"]),
            epoch=int(row["epoch"]), global_epoch=int(row["global_epoch"]),
            losses={str(k): _as_float(v) for k, v in row["losses"].items()},
            valid={str(p): {str(k): _as_float(v) for k, v in m.items()}
                   for p, m in row["valid"].items() if isinstance(m, dict)},
            trained=tuple(row.get("trained") or ()),
            switch_count=int(row.get("switch_count") or 0),
            switched=bool(row.get("switched", False)),
            batches=_optional_int(row.get("batches")), targets=_optional_int(row.get("targets")),
            grad_norm=_optional_float(row.get("grad_norm")),
            grad_norm_max=_optional_float(row.get("grad_norm_max")),
            lr={str(k): _as_float(v) for k, v in (row.get("lr") or {}).items()},
            best=bool(row.get("best", False)), selection=row.get("selection"),
            non_finite_loss=bool(row.get("non_finite_loss", False)),
            seconds=_optional_float(row.get("seconds")),
            memory=row.get("memory"), routing=row.get("routing"), fusion=row.get("fusion"),
            uncertainty=row.get("uncertainty"))
    except (TypeError, ValueError, AttributeError) as error:
        raise UR4RecError(f"{where}: a value has the wrong type ({error})") from None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else _as_float(value)


def read_epochs(path: Path) -> list[EpochRecord]:
    """Every row of ``metrics.jsonl``; a line that is cut off at the end (a killed run) is
    skipped, any other malformed line is an error naming its number."""
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):
                break  # the last line of a killed run may be half written
            raise UR4RecError(f"{path} line {number}: not valid JSON ({error})") from None
        records.append(parse_epoch(row, f"{path} line {number}"))
    return records


def read_run(run_dir: str | Path) -> RunLog:
    """Read ``config.yaml``, ``run.json``, ``metrics.jsonl`` and ``results.json`` of a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UR4RecError(f"{run_dir} is not a directory: expected a run directory written by "
                          "`ur4rec train`")
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise UR4RecError(f"{config_path} is missing: {run_dir} is not a run directory")
    config = load_config(config_path)
    info = _read_json(run_dir / "run.json", required=True) or {}
    metrics_path = run_dir / "metrics.jsonl"
    trains = bool(info.get("stages", config.resolved_stages()))
    if metrics_path.is_file():
        epochs = read_epochs(metrics_path)
    elif trains and (run_dir / "results.json").is_file():
        raise UR4RecError(f"{metrics_path} is missing although the run trained stages "
                          f"{info.get('stages')}")
    else:
        epochs = []
    results = _read_json(run_dir / "results.json", required=False)
    return RunLog(run_dir, config, info, epochs, results)
