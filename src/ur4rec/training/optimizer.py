"""The optimizer of a stage: AdamW over the parameter groups it trains, as the model declares
them (:meth:`~ur4rec.models.base.Recommender.parameter_groups`,
:meth:`~ur4rec.models.base.Recommender.no_weight_decay`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ur4rec.config import TrainingConfig
from ur4rec.models.base import Recommender


def group_lr(config: TrainingConfig, group: str) -> float:
    """The learning rate of a parameter group: ``training.sasrec_lr`` for ``sasrec``,
    ``training.retriever_lr`` for the rest."""
    return config.sasrec_lr if group == "sasrec" else config.retriever_lr


def build_optimizer(model: Recommender, groups: Sequence[str], config: TrainingConfig,
                    device: torch.device, frozen: set[int]) -> torch.optim.Optimizer:
    """AdamW over the trained ``groups``, each at its own learning rate; weight decay on the
    parameters the model does not exempt. The other groups, and the parameters the model built
    ``frozen`` (ids), do not train."""
    exempt = model.no_weight_decay()
    names = {id(p): name for name, p in model.named_parameters()}
    param_groups = []
    for group_name, params in model.parameter_groups().items():
        train = group_name in groups
        set_trainable(params, train, frozen)
        params = [p for p in params if id(p) not in frozen]
        if not train or not params:
            continue
        lr = group_lr(config, group_name)
        decay = [p for p in params if names[id(p)] not in exempt]
        plain = [p for p in params if names[id(p)] in exempt]
        for members, weight_decay in ((decay, config.weight_decay), (plain, 0.0)):
            if members:
                param_groups.append({"params": members, "lr": lr, "name": group_name,
                                     "weight_decay": weight_decay})
    if not param_groups:
        raise ValueError(f"no trainable parameters in groups {list(groups)}")
    # one fused kernel per step on CUDA instead of several per parameter tensor
    return torch.optim.AdamW(param_groups, betas=tuple(config.adam_betas),
                             fused=device.type == "cuda" or None)


def set_trainable(params: list[nn.Parameter], train: bool, frozen: set[int]) -> None:
    """Train ``params`` or freeze them; a parameter built ``frozen`` (ids) stays frozen."""
    for p in params:
        p.requires_grad_(train and id(p) not in frozen)
