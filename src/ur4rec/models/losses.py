"""Losses the models train with: next-item losses over hidden states (every model with an
item-scoring head), the softmax over a catalogue, and the weighing of loss components.

The next-item losses take ``hidden`` ``[T, D]`` (one row per training target), ``targets``
``[T]`` item indices, and the item table ``[N + 1, D]`` (row 0 padding). Sampled losses take
``negatives`` ``[T, K]``; the shared softmax takes one ``[K]`` set of negatives for all targets
of a batch.

``weights`` ``[T]`` (optional, 1 or 0) lets a caller pass every position of a padded batch
instead of selecting the real targets: rows of weight 0 count for nothing. On an accelerator
this keeps every shape fixed — selecting rows with a boolean mask makes the host wait for the
device to learn how many there are, once per step. The mean is then over the weighted rows,
the same value as over the selected ones.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` ``[T, ...]`` over the rows whose ``weights`` ``[T]`` are 1 (all rows
    when ``weights`` is None); no host sync."""
    if weights is None:
        return values.mean()
    expanded = weights.to(values.dtype).reshape(-1, *([1] * (values.ndim - 1))).expand_as(values)
    return (values * expanded).sum() / expanded.sum().clamp(min=1)


def real_targets(targets: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """``targets`` with each row of weight 0 (a padding position, target 0) replaced by the
    batch's largest target, a real item: its logits stay finite and it counts for nothing."""
    if weights is None:
        return targets
    return torch.where(weights > 0, targets, targets.max())


def sample_negatives(positives: torch.Tensor, per_user: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``[B, per_user]`` items drawn uniformly (with replacement) from each user's non-positives.

    ``positives`` ``[B, N + 1]`` bool marks each user's training items (column 0 is padding).
    Sampling from the complement directly is exact and shape-stable — no rejection loop, no
    host synchronisation on an accelerator. A user who has seen every item gets uniform draws.
    """
    weights = (~positives).float()
    weights[:, 0] = 0
    empty = weights.sum(dim=1, keepdim=True) == 0
    weights = torch.where(empty, torch.ones_like(weights), weights)
    weights[:, 0] = 0
    on_cpu = positives.device.type == "cpu"
    return torch.multinomial(weights, per_user, replacement=True,
                             generator=generator if on_cpu else None)


class _ChunkedCrossEntropy(torch.autograd.Function):
    """Mean softmax cross-entropy of ``hidden @ items.T``, a block of rows at a time.

    The ``[T, N]`` logit matrix never exists whole: each block stays in cache. Because the loss
    is a scalar that backward only rescales, the gradients are computed in the same pass as the
    loss (softmax − one-hot, then two small matmuls) and saved, so the logits are built once.
    Same values and gradients as ``F.cross_entropy(hidden @ items.T, targets)`` (tested),
    ~3× faster on a 2-core CPU where the full matrix is memory-bound.
    """

    @staticmethod
    def forward(ctx, hidden, items, targets, rows):  # type: ignore[override]
        total = hidden.new_zeros((), dtype=torch.float32)
        wants_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        grad_hidden = torch.empty_like(hidden) if wants_grad else None
        grad_items = torch.zeros_like(items) if wants_grad else None
        scale = 1.0 / max(hidden.shape[0], 1)
        for start in range(0, hidden.shape[0], rows):
            block = hidden[start:start + rows]
            block_targets = targets[start:start + rows]
            logits = (block @ items.T).float()
            peak = logits.amax(dim=1, keepdim=True)
            picked = logits.gather(1, block_targets[:, None])
            probs = logits.sub_(peak).exp_()  # in place: one [rows, N] buffer per block
            norm = probs.sum(dim=1, keepdim=True)
            total = total + (norm.log() + peak - picked).sum()
            if wants_grad:
                probs.mul_(scale / norm)  # softmax × scale in one pass
                probs[torch.arange(len(block), device=block.device), block_targets] -= scale
                probs = probs.to(hidden.dtype)
                torch.mm(probs, items, out=grad_hidden[start:start + rows])
                grad_items.addmm_(probs.T, block)
        ctx.save_for_backward(grad_hidden, grad_items)
        return total * scale

    @staticmethod
    def backward(ctx, grad_output):  # type: ignore[override]
        grad_hidden, grad_items = ctx.saved_tensors
        return grad_hidden * grad_output, grad_items * grad_output, None, None


def fused_logits_fit(hidden: torch.Tensor, catalogue_size: int) -> bool:
    """On an accelerator the fused kernel over the whole ``[T, N]`` logit matrix wins while that
    matrix fits a budget; on the CPU the chunked kernel is faster (see its docstring)."""
    return hidden.device.type != "cpu" and hidden.shape[0] * catalogue_size <= 2**28


def full_cross_entropy(hidden: torch.Tensor, targets: torch.Tensor, items: torch.Tensor,
                       weights: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the whole catalogue; row 0 (padding) is left out rather than masked."""
    catalogue = items[1:]
    if fused_logits_fit(hidden, len(catalogue)):
        losses = F.cross_entropy(hidden @ catalogue.T, real_targets(targets, weights) - 1,
                                 reduction="none")
        return weighted_mean(losses, weights)
    if weights is not None:  # the chunked kernel takes the real rows only
        keep = weights > 0
        hidden, targets = hidden[keep], targets[keep]
    budget = 2**18 if hidden.device.type == "cpu" else 2**26  # cache vs. memory sized blocks
    rows = int(min(65536, max(16, budget // max(len(catalogue), 1))))
    return _ChunkedCrossEntropy.apply(hidden, catalogue, targets - 1, rows)


def _pos_neg_logits(hidden: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
                    items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pos = (hidden * items[targets]).sum(-1)  # [T]
    neg = torch.einsum("td,tkd->tk", hidden, items[negatives])  # [T, K]
    return pos, neg


def binary_cross_entropy(hidden: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
                         items: torch.Tensor, weights: torch.Tensor | None = None
                         ) -> torch.Tensor:
    """SASRec paper loss: −log σ(pos) − Σ_k log(1 − σ(neg_k)), averaged over targets."""
    pos, neg = _pos_neg_logits(hidden, targets, negatives, items)
    return weighted_mean(F.softplus(-pos) + F.softplus(neg).sum(-1), weights)


def bpr(hidden: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
        items: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Bayesian personalised ranking: −log σ(pos − neg), averaged over targets and negatives."""
    pos, neg = _pos_neg_logits(hidden, targets, negatives, items)
    return weighted_mean(F.softplus(neg - pos.unsqueeze(1)), weights)


def sampled_softmax(hidden: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
                    items: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the target and its K uniform negatives (no correction needed: uniform)."""
    pos, neg = _pos_neg_logits(hidden, targets, negatives, items)
    logits = torch.cat([pos.unsqueeze(1), neg], dim=1)
    zeros = torch.zeros(len(pos), dtype=torch.long, device=pos.device)
    return weighted_mean(F.cross_entropy(logits, zeros, reduction="none"), weights)


class SharedNegatives:
    """One set of ``count`` negatives per batch, shared by all its targets (large catalogues).

    Drawn with replacement from ``Q`` ∝ training count + 1 (``popularity``: the frequent items
    that make hard negatives, a catalogue of 100k items costs no more than one of 1k) or
    uniformly; cold (``excluded``) items and padding have ``Q = 0`` and are never drawn.
    ``log_q`` ``[N + 1]`` is what the log-Q correction subtracts from every logit (Yi et al.,
    RecSys 2019; Bengio & Senécal, 2008), so the sampled softmax estimates the full one instead
    of pushing popular items down.
    """

    def __init__(self, item_counts: torch.Tensor, count: int, distribution: str = "popularity",
                 excluded: torch.Tensor | None = None, logq_correction: bool = True) -> None:
        if distribution not in ("popularity", "uniform"):
            raise ValueError(f"unknown negative distribution {distribution!r}")
        weights = (item_counts.double() + 1.0 if distribution == "popularity"
                   else torch.ones(len(item_counts), dtype=torch.float64,
                                   device=item_counts.device))
        weights[0] = 0.0
        if excluded is not None:
            weights[excluded] = 0.0
        if not bool((weights > 0).any()):
            raise ValueError("no item is left to draw shared negatives from")
        self.count = count
        self.probabilities = (weights / weights.sum()).float()  # [N + 1]
        self.log_q = self.probabilities.log()  # -inf where never drawn (never used there)
        # what the losses subtract (``training.logq_correction``); None: no correction
        self.correction = self.log_q if logq_correction else None

    def draw(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[count]`` item indices."""
        on_cpu = self.probabilities.device.type == "cpu"
        return torch.multinomial(self.probabilities, self.count, replacement=True,
                                 generator=generator if on_cpu else None)


def shared_negative_cross_entropy(pos: torch.Tensor, neg: torch.Tensor, targets: torch.Tensor,
                                  negatives: torch.Tensor, log_q: torch.Tensor | None,
                                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of each row's target logit ``pos`` ``[R, 1]`` against the shared
    negatives' logits ``neg`` ``[R, K]`` (``targets`` ``[R]``, ``negatives`` ``[K]`` item
    indices). With ``log_q`` every logit — the target's too — is corrected by ``− log Q(item)``;
    a negative equal to the row's target (an accidental hit) is masked out."""
    if log_q is not None:
        pos = pos - log_q[targets].unsqueeze(-1).to(pos.dtype)
        neg = neg - log_q[negatives].to(neg.dtype)
    neg = neg.masked_fill(negatives == targets.unsqueeze(-1), float("-inf"))
    logits = torch.cat([pos, neg], dim=-1).float()
    zeros = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    return weighted_mean(F.cross_entropy(logits, zeros, reduction="none"), weights)


def shared_softmax(hidden: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
                   items: torch.Tensor, log_q: torch.Tensor | None = None,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over each target and the batch's shared ``negatives`` ``[K]``: ``[T, K]``
    logits instead of ``[T, N]`` (:func:`shared_negative_cross_entropy`). When the negatives are
    the whole catalogue once each and no correction is applied, this is exactly the full softmax
    cross-entropy (tested).
    """
    targets = real_targets(targets, weights)
    pos = (hidden * items[targets]).sum(-1, keepdim=True)  # [T, 1]
    neg = hidden @ items[negatives].T  # [T, K]
    return shared_negative_cross_entropy(pos, neg, targets, negatives, log_q, weights)


SAMPLED_LOSSES = {"bce": binary_cross_entropy, "bpr": bpr, "sampled_softmax": sampled_softmax}


def kept_items(excluded: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(kept, remap)`` for a training catalogue without the ``excluded`` ``[N + 1]`` items:
    ``kept`` ``[N + 1]`` bool (row 0, padding, kept) and ``remap`` ``[N + 1]`` each kept item's
    index among the kept rows; ``None`` when nothing is excluded."""
    if excluded is None or not bool(excluded.any()):
        return None
    kept = ~excluded
    kept[0] = True
    return kept, torch.cumsum(kept.long(), dim=0) - 1


def next_item_loss(kind: str, hidden: torch.Tensor, targets: torch.Tensor, items: torch.Tensor,
                   negatives: torch.Tensor | None = None,
                   excluded: torch.Tensor | None = None,
                   weights: torch.Tensor | None = None) -> torch.Tensor:
    """Dispatch on the configured loss name (``ce``, ``bce``, ``bpr``, ``sampled_softmax``).

    ``excluded`` ``[N + 1]`` bool: items outside the training catalogue (cold items); the full
    softmax runs over the others only, so their rows of ``items`` get no gradient at all (the
    sampled losses get negatives drawn without them). ``weights``: see the module docstring."""
    targets = real_targets(targets, weights)
    if kind == "ce":
        catalogue = kept_items(excluded)
        if catalogue is not None:
            kept, remap = catalogue
            return full_cross_entropy(hidden, remap[targets], items[kept], weights)
        return full_cross_entropy(hidden, targets, items, weights)
    if negatives is None:
        raise ValueError(f"loss {kind!r} needs sampled negatives")
    return SAMPLED_LOSSES[kind](hidden, targets, negatives, items, weights)


def fixed_shapes(device: torch.device) -> bool:
    """Whether losses take every padded position with a 0/1 weight (an accelerator: a boolean
    row selection would make the host wait for the device once per step) or select the real
    targets (the CPU, where selecting is free and the loss then skips the padding)."""
    return device.type != "cpu"


def softmax_loss(scores: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor
                 ) -> torch.Tensor:
    """Cross-entropy of ``[B, P, M]`` scores over the training catalogue for ``targets``
    (1-based column + 1), over the ``valid`` positions (see :func:`fixed_shapes`)."""
    if not fixed_shapes(scores.device):
        return F.cross_entropy(scores[valid], targets[valid] - 1)
    weights = valid.flatten()
    losses = F.cross_entropy(scores.flatten(0, 1), real_targets(targets.flatten(), weights) - 1,
                             reduction="none")
    return weighted_mean(losses, weights)


# the share of each loss component's rows a rank holds, for data-parallel training (below)
ShardWeights = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


def weigh_components(losses: dict[str, torch.Tensor], rows: dict[str, torch.Tensor],
                     shard_weights: ShardWeights | None) -> dict[str, torch.Tensor]:
    """Each component's mean over this rank's ``rows`` (a 0-d count) scaled by
    ``shard_weights`` (see :meth:`DistributedContext.shard_weights`: ``rows × ranks / rows of
    all ranks``), so the mean over ranks that DDP takes of the gradients is the mean over the
    whole batch, as in one process. A rank with no rows for a component (its shard of a short
    last batch is empty) gives it 0, not the NaN of a mean over nothing. ``None`` (one
    process): the means as they are."""
    if shard_weights is None:
        return losses
    weights = shard_weights({name: rows[name] for name in losses})
    return {name: torch.where(rows[name] > 0, value * weights[name], torch.zeros_like(value))
            for name, value in losses.items()}
