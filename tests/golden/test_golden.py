"""The golden runs reproduce: metrics.jsonl and results.json (after training and after
``api.evaluate``) equal the recorded ones, to the last digit where the environment is the one
they were recorded in (see :mod:`tests.golden.runs`)."""

from __future__ import annotations

import math

import pytest

from .runs import (
    RUNS,
    differences,
    environment,
    read_golden,
    recorded_environment,
    train_and_evaluate,
)


def _rounded(value, digits=4):
    """Floats to ``digits`` significant digits: for another CPU or torch, where the last bits
    of a sum may differ."""
    if isinstance(value, dict):
        return {key: _rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item, digits) for item in value]
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))
    return value


@pytest.mark.parametrize("name", list(RUNS))
def test_golden_run_reproduces(name, tmp_path):
    got = train_and_evaluate(name, tmp_path)
    expected = read_golden(name)
    if environment() != recorded_environment():  # another machine: the same to 4 digits
        got, expected = _rounded(got), _rounded(expected)
    lines = differences(expected, got)
    assert not lines, f"golden run {name} differs:\n" + "\n".join(lines[:40])
