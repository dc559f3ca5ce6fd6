"""Where the retriever (and the fusion) is trained: which positions of each row, over which items.

The retriever is trained at ``retriever.train_positions`` positions among each user's last
``retriever.train_window`` (each target predicted only from the items before it; the
training-view user text and the memory are written from the items before the window, so no
training position reads its own target or anything after it). Its softmax runs over the
training catalogue — every item but the cold ones — or, with ``training.loss:
shared_softmax``, over the batch's targets and its shared negatives only.
"""

from __future__ import annotations

import torch

from ur4rec.models.losses import kept_items, shared_negative_cross_entropy


def window_start(targets: torch.Tensor, window: int) -> torch.Tensor:
    """``[B]`` first target position of each row's last ``window`` positions: the retriever's
    training targets lie at or after it, and the user text and memory it reads in training are
    written only from the items before its target (``inputs[..start]``)."""
    return ((targets > 0).sum(dim=1) - window).clamp(min=0)


def last_positions(targets: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The last ``count`` target positions of each right-padded row ``[B, count]`` and a mask of
    which exist (short rows have fewer)."""
    lengths = (targets > 0).sum(dim=1, keepdim=True)
    positions = lengths - 1 - torch.arange(count, device=targets.device).flip(0).unsqueeze(0)
    return positions.clamp(min=0), positions >= 0


def random_positions(targets: torch.Tensor, count: int, generator: torch.Generator | None,
                     start: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` distinct target positions per row drawn uniformly (fresh every epoch) at or
    after ``start`` ``[B]``, sorted, and a mask of which exist — so a model cannot memorise a
    fixed set of targets per user."""
    on_cpu = targets.device.type == "cpu"
    keys = torch.rand(targets.shape, device=targets.device,
                      generator=generator if on_cpu else None)
    eligible = targets > 0
    if start is not None:
        columns = torch.arange(targets.shape[1], device=targets.device)
        eligible &= columns.unsqueeze(0) >= start.unsqueeze(1)
    keys = keys.masked_fill(~eligible, -1.0)
    count = min(count, targets.shape[1])
    chosen, positions = keys.topk(count, dim=1)
    positions, order = positions.sort(dim=1)
    return positions, chosen.gather(1, order) >= 0


class SampledCatalogue:
    """The retriever's (and the fusion's) shared-negative softmax (``training.loss:
    shared_softmax``): the batch is scored over ``columns`` — its targets and the shared
    ``negatives`` ``[K]`` — only, so a step costs K + targets item vectors, not the catalogue.

    Each valid position's logits are its own target and the K negatives, scored as
    ``losses.shared_negative_cross_entropy`` scores them (log-Q, accidental hits masked).
    The fusion standardises each user's scores over these columns instead of the catalogue.
    """

    def __init__(self, targets: torch.Tensor, valid: torch.Tensor, negatives: torch.Tensor,
                 log_q: torch.Tensor | None) -> None:
        self.targets = targets[valid]  # [R] the valid positions' targets
        items = torch.unique(torch.cat([self.targets, negatives]))  # 1-based, sorted
        self.columns = items - 1  # [M] 0-based, as branch_scores takes them
        self.valid, self.negatives, self.log_q = valid, negatives, log_q
        self.target_columns = torch.searchsorted(items, self.targets)  # [R]
        self.negative_columns = torch.searchsorted(items, negatives)  # [K]

    def loss(self, scores: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the valid positions of ``scores`` ``[B, P, M]``."""
        rows = scores[self.valid]  # [R, M]
        pos = rows.gather(-1, self.target_columns.unsqueeze(-1))  # [R, 1]
        return shared_negative_cross_entropy(pos, rows[:, self.negative_columns], self.targets,
                                             self.negatives, self.log_q)


def training_catalogue(excluded: torch.Tensor | None) -> tuple[torch.Tensor | None,
                                                               torch.Tensor | None]:
    """``(columns [M], remap [N + 1])``: the 0-based score columns of the items in the training
    catalogue (all but ``excluded``), and each item's 1-based index among them; ``(None, None)``
    when nothing is excluded."""
    catalogue = kept_items(excluded)
    if catalogue is None:
        return None, None
    kept, remap = catalogue
    return torch.nonzero(kept[1:]).squeeze(1), remap
