"""The diagnosis rules: each a small function ``RunLog -> Finding | None``.

A rule returns ``None`` when the run does not show its pattern (or the pattern cannot apply to
the model), a :class:`~ur4rec.diagnostics.findings.Finding` when it does, and a "not measured"
finding when the model has the part but the log lacks its evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ur4rec.diagnostics.findings import SEVERITY_ORDER, Finding, not_measured
from ur4rec.diagnostics.rules.components import (
    expert_unused,
    fusion_branch_irrelevant,
    loss_component_flat,
    memory_never_fires,
    scheduler_never_switches,
)
from ur4rec.diagnostics.rules.outcome import (
    chance_level,
    leaky_texts,
    overfitting,
    still_improving,
    too_many_parameters,
)
from ur4rec.diagnostics.rules.training import (
    learning_rate_too_high,
    learning_rate_too_low,
    too_few_batches,
    too_few_targets,
    warmup_never_ends,
)
from ur4rec.diagnostics.runlog import RunLog

log = logging.getLogger(__name__)

Rule = Callable[[RunLog], "Finding | None"]

RULES: dict[str, Rule] = {rule.__name__: rule for rule in (
    leaky_texts, chance_level, too_few_targets, learning_rate_too_high, learning_rate_too_low,
    overfitting, loss_component_flat, scheduler_never_switches, memory_never_fires,
    fusion_branch_irrelevant, expert_unused, too_few_batches, too_many_parameters,
    warmup_never_ends, still_improving)}


def _apply(name: str, rule: Rule, run: RunLog) -> Finding | None:
    """One rule; a rule that raises on an odd log becomes "not measured" — diagnosis runs at the
    end of every ``train`` and must never lose a finished run to a bug in one rule."""
    try:
        return rule(run)
    except Exception as error:  # noqa: BLE001 — reported in the diagnosis and the log
        log.warning("diagnosis rule %s raised %s: %s", name, type(error).__name__, error)
        return not_measured(name, name, f"the rule raised {type(error).__name__}: {error}")


def run_rules(run: RunLog) -> list[Finding]:
    """Every rule's finding, most severe first (stable within a severity)."""
    findings = [f for name, rule in RULES.items() if (f := _apply(name, rule, run)) is not None]
    return sorted(findings, key=lambda f: SEVERITY_ORDER.get(f.severity, 9))


__all__ = ["RULES", "Rule", "run_rules"]
