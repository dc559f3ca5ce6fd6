"""``results.json``: one schema, written by ``train`` and rewritten by ``evaluate``.

:class:`RunResults` names every section once (what each holds: docs/run-directory.md). Training
fills all of them; ``evaluate`` reads the file back and replaces the evaluated sections
(:class:`Evaluation`: both splits, their slices, the dataset and the cold-item protocol) — the
same function computes them in both. A new section is a new field here, and where it is filled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from ur4rec.config import EvaluationConfig, RunConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.evaluation.cold import CaseUserTexts, cold_results
from ur4rec.evaluation.evaluator import Evaluator, SplitResult
from ur4rec.evaluation.metrics import random_guess_expectation
from ur4rec.evaluation.slices import results_slices
from ur4rec.models.base import Recommender
from ur4rec.models.stages import stage_for
from ur4rec.training.checkpoint import load_checkpoint

RESULTS_FILE = "results.json"


@dataclass
class Evaluation:
    """What evaluating a model on the run's data gives: the sections ``evaluate`` rewrites."""

    test: dict[str, Any]
    valid: dict[str, Any]
    slices: dict[str, Any]
    dataset: dict[str, Any]
    cold: dict[str, Any] | None = None


@dataclass
class RunResults:
    """``results.json``, section by section, in the file's order; a section that is None is not
    written."""

    model: str
    name: str
    test: dict[str, Any]
    valid: dict[str, Any]
    slices: dict[str, Any]
    dataset: dict[str, Any]
    parameters: int
    protocol: dict[str, Any]
    """candidates, tie rule, history masking, selection metric and chance level"""
    texts: dict[str, Any] | None = None
    """the texts record of a text model (docs/texts.md)"""
    leaky: bool | None = None
    """whether the texts may contain held-out interactions (with ``texts``)"""
    cold: dict[str, Any] | None = None
    """the cold-item protocol (data with cold items)"""
    routing_by_slice: dict[str, Any] | None = None
    """a routed mixture of experts: mean router weight per expert and slice"""
    fusion_selection: dict[str, Any] | None = None
    """the fusion weights chosen on validation (``fusion.select_weights``)"""
    fit: dict[str, Any] | None = None
    """what a model fitted in closed form chose"""
    stage_results: list[dict[str, Any]] | None = None
    """each stage's best checkpoint on both splits (runs of several stages)"""
    timing: dict[str, Any] | None = None
    """seconds of each step, epochs, device (how long; never compared between runs)"""
    other: dict[str, Any] = field(default_factory=dict)
    """sections of a file written by another version, kept as they were"""

    def with_evaluation(self, evaluation: Evaluation) -> RunResults:
        """These results with the evaluated sections replaced."""
        return RunResults(**{**self._sections(), **asdict(evaluation), "other": self.other})

    def to_json(self) -> dict[str, Any]:
        """The content of ``results.json``."""
        sections = {key: value for key, value in self._sections().items() if value is not None}
        return {**sections, **self.other}

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> RunResults:
        """A written ``results.json`` read back; sections this schema does not know are kept
        in :attr:`other`."""
        known = {f.name for f in fields(cls)} - {"other"}
        return cls(**{key: value for key, value in saved.items() if key in known},
                   other={key: value for key, value in saved.items() if key not in known})

    def _sections(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "other"}


def evaluate_model(model: Recommender, data: PreparedData, evaluator: Evaluator,
                   device: torch.device, case_texts: CaseUserTexts | None,
                   details: bool = False) -> tuple[Evaluation, SplitResult]:
    """Both splits on both protocols (with per-user ``details`` of the test split when asked),
    their slices and the cold-item protocol; also the test split's result itself."""
    test = evaluator.evaluate(model, "test", device, details=details)
    valid = evaluator.evaluate(model, "valid", device)
    cold = cold_results(model, data, evaluator.config, device, case_texts).get("cold")
    evaluation = Evaluation(test.metrics, valid.metrics, results_slices(valid=valid, test=test),
                            data.summary(), cold)
    return evaluation, test


def protocol(data: PreparedData, config: EvaluationConfig) -> dict[str, Any]:
    """``results.json["protocol"]``: how the figures were measured."""
    candidates = int(data.valid_candidates.shape[1])
    return {"protocols": protocol_names(candidates, data.num_items, config.mask_history),
            "num_candidates": candidates, "ties": config.ties,
            "mask_history": config.mask_history,
            "selection": f"valid {config.protocol} {config.metric}",
            "chance_sampled": random_guess_expectation(candidates, config.ks)}


def protocol_names(candidates: int, items: int, mask_history: bool) -> dict[str, str]:
    """What each metrics key (``sampled``, ``full``) measured, in words: the two protocols
    published figures use, which must never be compared with each other."""
    shown = "the user's history masked" if mask_history else "the user's history not masked"
    return {"sampled": f"the target among {candidates} candidates: it and {candidates - 1} "
                       "negatives sampled once per user and split (LLM-ESR's protocol)",
            "full": f"the target among all {items} items, {shown} (full ranking: the eSASRec "
                    "benchmark and most recent papers)",
            "split": "leave-one-out in time order: each user's last interaction is the test "
                     "target, the one before it the validation target"}


def run_results(config: RunConfig, parameters: int, evaluation: Evaluation,
                data: PreparedData, texts: dict[str, Any] | None) -> RunResults:
    """The results of a run of ``config`` before what only training adds (routing, fusion
    selection, fit, stage results, timing)."""
    return RunResults(
        config.model, config.name, parameters=parameters,
        protocol=protocol(data, config.evaluation), texts=texts,
        leaky=None if texts is None else bool(texts.get("possibly_leaking")),
        **asdict(evaluation))


def stage_results(model: Recommender, run_dir: Path, evaluator: Evaluator,
                  device: torch.device, stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Test and validation metrics of each stage's best checkpoint, scored as that stage
    scores (``pretrain_sasrec``: SASRec alone), so one run shows what each stage added on the
    same weights. The model is left at its final weights."""
    final_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    groups = list(model.parameter_groups())
    rows = []
    for summary in stages:
        path = run_dir / "checkpoints" / f"best_{summary['stage']}.pt"
        if not path.exists():
            continue
        model.load_state_dict(load_checkpoint(path)["model"])
        scored = model.scored_by(stage_for(summary["stage"], groups).scores)
        rows.append({"stage": summary["stage"],
                     "test": evaluator.evaluate(scored, "test", device).metrics,
                     "valid": evaluator.evaluate(scored, "valid", device).metrics})
    model.load_state_dict(final_state)
    return rows


def read_results(run_dir: Path) -> RunResults | None:
    """The run's ``results.json``, or None when it has none."""
    path = run_dir / RESULTS_FILE
    if not path.exists():
        return None
    return RunResults.from_json(json.loads(path.read_text(encoding="utf-8")))


def write_results(run_dir: Path, results: RunResults) -> dict[str, Any]:
    """Write ``results.json``; returns its content."""
    content = results.to_json()
    (run_dir / RESULTS_FILE).write_text(json.dumps(content, indent=2), encoding="utf-8")
    return content


def format_results_table(results: dict[str, Any]) -> str:
    """A markdown table of the test metrics on both protocols, and of the cold items when the
    data has them (all cold items, then each half: choose on valid, quote test)."""
    keys = ["hit@5", "hit@10", "hit@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr", "avg_rank"]
    lines = ["| protocol | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    rows = [(f"test {protocol}", results["test"][protocol]) for protocol in ("sampled", "full")]
    cold = results.get("cold", {})
    rows += [(f"cold {protocol}", cold.get("metrics", {}).get(protocol))
             for protocol in ("sampled", "full")]
    rows += [(f"cold full, {half} half", cold.get(half, {}).get("metrics", {}).get("full"))
             for half in ("valid", "test")]
    for name, metrics in rows:
        if metrics:  # a cold row only where the data has cold cases
            lines.append(f"| {name} | " + " | ".join(
                f"{metrics[k]:.1f}" if k == "avg_rank" else f"{metrics[k]:.4f}" for k in keys)
                + " |")
    dataset = results.get("dataset", {})
    header = (f"{results.get('model', '?')} on {dataset.get('name', '?')} "
              f"({dataset.get('users')} users, {dataset.get('items')} items)")
    if results.get("leaky"):
        sides = results.get("texts", {}).get("sides", {})
        items = sides.get("items", {}).get("possibly_leaking")
        users = sides.get("users", {}).get("possibly_leaking", not items)
        header += " — LEAKY: " + "; ".join(
            note for flagged, note in ((users, "user texts may contain validation/test items"),
                                       (items, "item texts may quote held-out interactions"))
            if flagged)
    return header + "\n" + "\n".join(lines)
