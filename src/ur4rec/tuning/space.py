"""The search space of ``ur4rec tune``: a YAML mapping of config keys to distributions.

    sasrec.hidden_dim: {type: categorical, choices: [32, 64, 128]}
    sasrec.dropout:    {type: float, low: 0.1, high: 0.5}
    training.sasrec_lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    sasrec.num_blocks: {type: int, low: 1, high: 3}

Keys are the dotted keys of a config (``ur4rec.config.valid_keys()``); the prototype's flat keys
(``sasrec_lr``) are accepted and stored under their dotted name. Every problem names the file and
the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ur4rec.config import LEGACY_KEYS, RunConfig, config_file, load_config, set_dotted
from ur4rec.errors import ConfigError

_FIELDS = {"float": {"low", "high", "log", "step"}, "int": {"low", "high", "log", "step"},
           "categorical": {"choices"}}


@dataclass(frozen=True)
class Parameter:
    """One searched key and its distribution."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial draws (or was given, for an enqueued trial)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        if self.kind == "categorical":
            return value in self.choices
        return isinstance(value, int | float) and self.low <= value <= self.high

    def cast(self, value: Any) -> Any:
        """A plan's value in the type Optuna stores for this parameter."""
        if self.kind == "int" and isinstance(value, float) and value.is_integer():
            return int(value)
        if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"one of {list(self.choices)}"
        return f"{self.kind} in [{self.low}, {self.high}]" + (" (log)" if self.log else "")


def dotted_key(key: str, source: str) -> str:
    """The dotted name of ``key``; unknown keys are a ConfigError naming the closest valid one."""
    set_dotted({}, key, None, source)  # raises for an unknown key, with a suggestion
    if key in LEGACY_KEYS:
        target = LEGACY_KEYS[key]
        if target is None:
            raise ConfigError(f"{source}: key {key!r} is accepted but ignored by ur4rec; "
                              "it cannot be searched")
        return ".".join(target)
    return key


def _parameter(key: str, spec: Any, source: str) -> Parameter:
    where = f"{source}: key {key!r}"
    if not isinstance(spec, dict) or spec.get("type") not in _FIELDS:
        raise ConfigError(f"{where}: expected a mapping with type: float, int or categorical")
    kind = spec["type"]
    unknown = set(spec) - _FIELDS[kind] - {"type"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)} for type {kind}; "
                          f"allowed: {sorted(_FIELDS[kind])}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices or any(
                isinstance(c, dict | list) for c in choices):
            raise ConfigError(f"{where}: choices must be a non-empty list of plain values")
        return Parameter(key, kind, choices=tuple(choices))
    low, high, log, step = spec.get("low"), spec.get("high"), spec.get("log", False), \
        spec.get("step")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        raise ConfigError(f"{where}: low and high must be numbers (got {low!r}, {high!r})")
    if kind == "int" and not all(float(v).is_integer() for v in (low, high)):
        raise ConfigError(f"{where}: an int range needs whole low and high (got {low}, {high})")
    if low > high:
        raise ConfigError(f"{where}: low ({low}) is above high ({high})")
    if not isinstance(log, bool) or (log and (low <= 0 or step is not None)):
        raise ConfigError(f"{where}: log must be true or false; log needs low > 0 and no step")
    if step is not None and (not isinstance(step, int | float) or step <= 0):
        raise ConfigError(f"{where}: step must be a positive number (got {step!r})")
    return Parameter(key, kind, float(low) if kind == "float" else int(low),
                     float(high) if kind == "float" else int(high), log, step)


def load_space(path: str | Path) -> dict[str, Parameter]:
    """Read and validate a search-space YAML file (or a packaged one by name, e.g.
    ``tune_space_sasrec``: :func:`~ur4rec.config.config_file`)."""
    path = config_file(path, "search space")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: expected a non-empty mapping of config keys to distributions")
    space: dict[str, Parameter] = {}
    for key, spec in raw.items():
        name = dotted_key(str(key), str(path))
        if name in space:
            raise ConfigError(f"{path}: key {key!r} names {name!r} twice")
        space[name] = _parameter(name, spec, str(path))
    return space


def check_space_fits(base: Path, space: dict[str, Parameter]) -> None:
    """Every bound and choice must make a valid config with ``base`` (caught now, not at trial
    37)."""
    for parameter in space.values():
        values = parameter.choices or (parameter.low, parameter.high)
        for value in values:
            try:
                load_config(base, {parameter.key: value})
            except ConfigError as error:
                raise ConfigError(f"search space key {parameter.key!r} = {value!r} does not fit "
                                  f"{base}: {error}") from None


def flatten(config: RunConfig) -> dict[str, Any]:
    """``{dotted key: value}`` of a resolved config."""
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            flat[prefix[:-1]] = node

    walk(config.model_dump(mode="json"), "")
    return flat


def plan_params(plan: Path, base: Path, space: dict[str, Parameter]
                ) -> tuple[dict[str, Any], list[str]]:
    """A plan config projected on the space: its (resolved) value for each searched key, and
    the keys where it differs from ``base`` outside the space (those keep the base's value)."""
    plan_values, base_values = flatten(load_config(plan)), flatten(load_config(base))
    params = {}
    for key, parameter in space.items():
        value = parameter.cast(plan_values[key])
        if not parameter.contains(value):
            raise ConfigError(f"{plan}: {key} = {value!r} is outside the search space "
                              f"({parameter.describe()}); widen the space to include it")
        params[key] = value
    ignored = sorted(key for key, value in plan_values.items()
                     if key not in space and key != "name" and base_values.get(key) != value)
    return params, ignored
