"""What a diagnosis rule returns: a finding with its evidence and a concrete change to try."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

CRITICAL = "critical"  # the run's results cannot be trusted or are at chance
WARNING = "warning"  # a pattern that wastes training or hurts the metrics
NOTE = "note"  # worth knowing, not a failure (e.g. a loss flat because its module is frozen)
NOT_MEASURED = "not measured"  # the rule applies to this model but the log lacks its evidence

SEVERITY_ORDER = {CRITICAL: 0, WARNING: 1, NOTE: 2, NOT_MEASURED: 3}


@dataclass(frozen=True)
class Finding:
    """One diagnosis: ``evidence`` maps a label to the number (or short text) it was read as."""

    rule: str
    severity: str
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)
    suggestion: str = ""
    detail: str = ""

    @property
    def fires(self) -> bool:
        """True for a failure pattern (critical or warning); notes and gaps do not fire."""
        return self.severity in (CRITICAL, WARNING)


def not_measured(rule: str, title: str, reason: str) -> Finding:
    """The rule applies but the run does not log what it needs."""
    return Finding(rule, NOT_MEASURED, title, detail=reason)


def format_value(value: Any) -> str:
    """Numbers as a reader wants them: integers plain, small floats with 4 significant digits."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value)
