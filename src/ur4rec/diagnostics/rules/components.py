"""Rules on the UR4Rec parts: loss components, alternation, memory, fusion, routing.

The ``memory``, ``routing`` and ``fusion`` fields exist only for ``model: ur4rec``: for other
models these rules stay silent; for a UR4Rec run that lacks them they say "not measured".
Thresholds are named constants documented in ``docs/diagnosis.md``.
"""

from __future__ import annotations

import math

from ur4rec.diagnostics.findings import NOTE, WARNING, Finding, not_measured
from ur4rec.diagnostics.rules.training import GROUP_COMPONENTS, lr_key
from ur4rec.diagnostics.runlog import RunLog

# a loss component is flat when (max − min) / |mean| over a stage is below this …
FLAT_COMPONENT_REL_RANGE = 0.01
# … over at least this many epochs
FLAT_COMPONENT_MIN_EPOCHS = 3
# joint_finetune with no switch after this many epochs (or the scheduler's own limit, if longer)
SWITCH_MIN_EPOCHS = 3
# a fusion branch whose weight is below this share of the total hardly changes the ranking
FUSION_MIN_SHARE = 0.1
# an expert whose mean router weight is below this share is ignored by the router
ROUTING_MIN_SHARE = 0.05

COMPONENT_GROUPS = {component: group for group, component in GROUP_COMPONENTS.items()}


def _is_flat(values: list[float]) -> bool:
    if len(values) < FLAT_COMPONENT_MIN_EPOCHS or not all(math.isfinite(v) for v in values):
        return False
    mean = sum(values) / len(values)
    return mean != 0 and (max(values) - min(values)) / abs(mean) < FLAT_COMPONENT_REL_RANGE


def _flat_components(run: RunLog) -> tuple[list[tuple], list[tuple]]:
    """(component, group, stage, values) of flat components, trained ones and frozen ones."""
    trained_flat, frozen_flat = [], []
    for component, group in COMPONENT_GROUPS.items():
        for stage in run.stages():
            rows = [r for r in run.stage_epochs(stage) if component in r.losses]
            trained = [r.losses[component] for r in rows if group in r.trained]
            frozen = [r.losses[component] for r in rows if group not in r.trained]
            if _is_flat(trained):
                trained_flat.append((component, group, stage, trained))
            elif _is_flat(frozen):
                frozen_flat.append((component, group, stage, frozen))
    return trained_flat, frozen_flat


def loss_component_flat(run: RunLog) -> Finding | None:
    """A component of a multi-part loss that does not move; says whether its module trained."""
    components = {k for r in run.epochs for k in r.losses if k != "loss"}
    if len(components) < 2:
        return None  # a single-objective run is covered by the learning-rate rules
    trained_flat, frozen_flat = _flat_components(run)
    if not trained_flat and not frozen_flat:
        return None
    chosen = trained_flat or frozen_flat
    component, group, stage, values = chosen[0]
    ever_trained = [s for s in run.stages() if any(group in r.trained
                                                   for r in run.stage_epochs(s))]
    evidence = {"component": component, "stage": stage, "epochs": len(values),
                "first": values[0], "last": values[-1],
                "relative range": (max(values) - min(values)) / abs(sum(values) / len(values)),
                "threshold": FLAT_COMPONENT_REL_RANGE, f"stages training {group}": ever_trained,
                "all flat": [f"{c} in {s}" for c, _, s, _ in chosen]}
    if trained_flat:
        lr = getattr(run.config.training, lr_key(group))
        return Finding("loss_component_flat", WARNING, f"Loss component '{component}' does not "
                       f"move although {group} is trained", evidence, suggestion=(
                           f"Raise `training.{lr_key(group)}` from {lr:g} to {lr * 10:g}; if it "
                           "still does not move, the loss does not reach the trained parameters "
                           "(check the fusion weight and the gradient norm)."))
    if not ever_trained:
        return Finding("loss_component_flat", WARNING, f"'{component}' never trained: {group} is "
                       "frozen in every stage", evidence, suggestion=(
                           "Add a stage that trains it to `training.stages` (`pretrain_retriever`"
                           " or `end_to_end`)."))
    return Finding("loss_component_flat", NOTE, f"'{component}' flat only while {group} is frozen",
                   evidence, detail=(
                       "A module frozen by design in a stage cannot move its loss there — "
                       "the prototype's 'retrieval loss ~22, unchanged' was this, not a bug."),
                   suggestion="Nothing to change; read this loss in the stages that train it.")


def scheduler_never_switches(run: RunLog) -> Finding | None:
    """joint_finetune keeps training one module; or alternation is on but cannot run."""
    training = run.config.training
    plan = run.info.get("stages") or run.config.resolved_stages()
    joint = run.stage_epochs("joint_finetune")
    if not joint:
        if training.use_adaptive_alternating and run.model == "ur4rec" \
                and "joint_finetune" not in plan:
            return Finding("scheduler_never_switches", NOTE, "Alternation is on but never runs",
                           {"stages": plan, "training.use_adaptive_alternating": True},
                           suggestion=("Alternation runs only in `joint_finetune`: add it to "
                                       "`training.stages`, or drop `use_adaptive_alternating`."))
        return None
    if not all(len(r.trained) == 1 for r in joint):
        return None  # joint_finetune trains every module at once: nothing to switch
    limit = 4 * training.adaptive_min_steps if training.use_adaptive_alternating \
        else training.alternate_every
    needed = max(SWITCH_MIN_EPOCHS, limit + 1)
    switches = max(r.switch_count for r in joint)
    if switches or len(joint) < needed:
        return None
    if training.use_adaptive_alternating:
        change = (f"Raise `training.adaptive_switch_threshold` (relative improvement, now "
                  f"{training.adaptive_switch_threshold:g}) or set "
                  "`training.use_adaptive_alternating: false` to switch every "
                  f"`training.alternate_every` ({training.alternate_every}) epochs.")
    else:
        change = f"Lower `training.alternate_every` from {training.alternate_every} to 1."
    return Finding("scheduler_never_switches", WARNING, "Alternation never switches", {
        "joint_finetune epochs": len(joint), "switch count": switches,
        "always trained": joint[0].trained[0], "expected a switch within": needed,
        "adaptive": training.use_adaptive_alternating}, suggestion=change)


def _retriever_epochs(run: RunLog) -> list:
    """Epochs that trained the retriever: the only ones where memory and router statistics
    can be non-empty (in ``pretrain_sasrec`` they are ``{}`` or zero by design)."""
    return [r for r in run.epochs if "retriever" in r.trained]


def memory_never_fires(run: RunLog) -> Finding | None:
    """The user memory of a UR4Rec run is never updated."""
    config = run.config.memory
    retriever_epochs = _retriever_epochs(run)
    if run.model != "ur4rec" or not config.enabled or not retriever_epochs:
        return None  # the memory is updated by the retriever: nothing to expect before it trains
    rows = [r for r in retriever_epochs if r.memory]
    title = "Memory never updates"
    if not rows:
        return not_measured("memory_never_fires", title,
                            "metrics.jsonl has no `memory` field in epochs training the retriever")
    updates = sum(int(r.memory.get("updates_this_epoch") or 0) for r in rows)
    if updates > 0:
        return None
    last = rows[-1].memory
    pending = float(last.get("avg_interactions_since_update") or 0.0)
    trigger = str(last.get("trigger") or config.update_trigger.value)
    if pending == 0:
        change = ("The memory counts no interactions at all, so no threshold can help (the "
                  "prototype's guess): check that the stages that train the retriever ran and "
                  "feed the memory.")
    elif "INTERACTION" in trigger:
        change = (f"Lower `memory.interaction_threshold` from {config.interaction_threshold} to "
                  f"{max(1, math.floor(pending))} (users gather {pending:.1f} on average).")
    elif "DRIFT" in trigger:
        change = f"Lower `memory.drift_threshold` from {config.drift_threshold:g} to " \
                 f"{config.drift_threshold / 2:g}."
    elif "TIME" in trigger:
        change = f"Lower `memory.time_threshold` from {config.time_threshold} to 1."
    else:
        change = "EXPLICIT updates only on request: use `memory.update_trigger: INTERACTION_COUNT`."
    return Finding("memory_never_fires", WARNING, title, {
        "epochs": len(rows), "updates": updates, "trigger": trigger,
        "users with memory": last.get("users_with_memory"),
        "avg interactions since update": pending,
        "memory.interaction_threshold": config.interaction_threshold}, suggestion=change)


def _fusion_weights(run: RunLog) -> tuple[dict[str, float], str] | None:
    rows = [r for r in run.epochs if r.fusion]
    if rows:
        weights = {k: float(rows[-1].fusion[k]) for k in ("sasrec_weight", "retriever_weight")
                   if k in rows[-1].fusion}
        if len(weights) == 2 and all(math.isfinite(w) for w in weights.values()):
            return weights, "metrics.jsonl (last epoch)"
    if run.config.fusion.method == "weighted":
        return {"sasrec_weight": run.config.fusion.sasrec_weight,
                "retriever_weight": run.config.fusion.retriever_weight}, "config.yaml"
    return None


def fusion_branch_irrelevant(run: RunLog) -> Finding | None:
    """A fusion weight so small that its branch hardly changes the ranking."""
    if run.model != "ur4rec":
        return None
    title = "A fusion branch is irrelevant"
    found = _fusion_weights(run)
    if found is None:
        return not_measured("fusion_branch_irrelevant", title,
                            f"`fusion.method: {run.config.fusion.method}` and no `fusion` field")
    weights, source = found
    total = sum(abs(w) for w in weights.values())
    if total == 0:
        return None
    weak = min(weights, key=lambda k: abs(weights[k]))
    share = abs(weights[weak]) / total
    if share >= FUSION_MIN_SHARE:
        return None
    branch = weak.removesuffix("_weight")
    return Finding("fusion_branch_irrelevant", WARNING, f"The {branch} branch is irrelevant", {
        "source": source, **weights, f"{branch} share": share, "threshold": FUSION_MIN_SHARE,
        "fusion.method": run.config.fusion.method, "fusion.normalize": run.config.fusion.normalize},
        detail="Its scores are trained and computed, but barely move the fused ranking.",
        suggestion=(f"Set `fusion.{weak}` to at least {FUSION_MIN_SHARE:g} of the total (e.g. "
                    f"0.3), or if the learned fusion drove it there, train the {branch} alone "
                    f"(`model: {'retriever' if branch == 'retriever' else 'sasrec'}`) to see "
                    "whether it learns anything."))


def expert_unused(run: RunLog) -> Finding | None:
    """The MoE router gives an expert (almost) no weight."""
    retriever_epochs = _retriever_epochs(run)
    if run.model != "ur4rec" or len(run.config.retriever.experts) < 2 or not retriever_epochs:
        return None  # the router only runs when the retriever does
    rows = [r for r in retriever_epochs if r.routing]
    if not rows:
        return not_measured("expert_unused", "Router ignores an expert",
                            "metrics.jsonl has no `routing` in epochs training the retriever")
    routing = {k: float(v) for k, v in rows[-1].routing.items() if math.isfinite(float(v))}
    total = sum(routing.values())
    unused = [k for k, v in routing.items() if total > 0 and v / total < ROUTING_MIN_SHARE]
    if len(routing) < 2 or not unused:
        return None
    return Finding("expert_unused", WARNING, "Router ignores an expert", {
        **{f"weight {k}": v for k, v in routing.items()}, "threshold": ROUTING_MIN_SHARE},
        suggestion=(f"Drop {unused} from `retriever.experts`, or check their input "
                    "(e.g. image features that are all zero)."))
