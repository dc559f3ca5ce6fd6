"""``diagnosis.md``: the findings of every rule on a run, with evidence and a change to try."""

from __future__ import annotations

from pathlib import Path

from ur4rec.diagnostics.findings import NOT_MEASURED, Finding, format_value
from ur4rec.diagnostics.rules import RULES, run_rules
from ur4rec.diagnostics.runlog import RunLog, read_run

DOCS_HINT = "Rules and thresholds: docs/diagnosis.md in the ur4rec repository."


def diagnose(run_dir: str | Path) -> list[Finding]:
    """Every finding on the run in ``run_dir``, most severe first."""
    return run_rules(read_run(run_dir))


def _headline(run: RunLog) -> list[str]:
    dataset = run.info.get("dataset", {})
    lines = [f"# Diagnosis: {run.config.name} ({run.model} on {dataset.get('name', '?')})", "",
             f"- run directory: `{run.run_dir}`",
             f"- data: {dataset.get('users', '?')} users, {dataset.get('items', '?')} items, "
             f"{format_value(dataset.get('interactions', '?'))} interactions; "
             f"{run.num_candidates} candidates per user (sampled protocol)"]
    if run.epochs:
        stages = ", ".join(f"{s} ({len(run.stage_epochs(s))} epochs)" for s in run.stages())
        lines.append(f"- trained: {stages}")
    final = run.final_metrics("sampled")
    if final is not None:
        metrics, source = final
        shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("hit@10", "ndcg@10", "mrr")
                          if k in metrics)
        lines.append(f"- final ({source}): {shown}")
    return lines


def _finding_block(number: int, finding: Finding) -> list[str]:
    lines = [f"### {number}. [{finding.severity}] {finding.title}", ""]
    if finding.detail:
        lines += [finding.detail, ""]
    if finding.evidence:
        lines.append("Evidence:")
        lines += [f"- {label}: {format_value(value)}" for label, value in finding.evidence.items()]
        lines.append("")
    if finding.suggestion:
        lines += [f"Suggested change: {finding.suggestion}", ""]
    return lines


def render_diagnosis(run: RunLog, findings: list[Finding]) -> str:
    """The markdown report: headline, findings, what was not measured, what passed."""
    shown = [f for f in findings if f.severity != NOT_MEASURED]
    missing = [f for f in findings if f.severity == NOT_MEASURED]
    firing = [f for f in shown if f.fires]
    lines = _headline(run) + ["", "## Findings", ""]
    if not shown:
        lines += ["No failure pattern found.", ""]
    else:
        counts = {s: sum(f.severity == s for f in shown) for s in dict.fromkeys(
            f.severity for f in shown)}
        lines += [", ".join(f"{n} {s}" for s, n in counts.items()) + ".", ""]
        for number, finding in enumerate(shown, start=1):
            lines += _finding_block(number, finding)
    if missing:
        lines += ["## Not measured", ""]
        lines += [f"- {f.title} (`{f.rule}`): {f.detail}" for f in missing]
        lines.append("")
    reported = {f.rule for f in findings}
    passed = [name for name in RULES if name not in reported]
    lines += ["## Checked: nothing found or not applicable to this model", "", ", ".join(f"`{name}`" for name in passed) or "—",
              "", f"{len(firing)} failure pattern(s). {DOCS_HINT}"]
    return "\n".join(lines) + "\n"


def write_diagnosis(run_dir: str | Path) -> Path:
    """Diagnose the run, write ``run_dir/diagnosis.md`` and return its path."""
    run = read_run(run_dir)
    path = Path(run_dir) / "diagnosis.md"
    path.write_text(render_diagnosis(run, run_rules(run)), encoding="utf-8")
    return path
