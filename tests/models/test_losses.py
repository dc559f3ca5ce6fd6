import math

import pytest
import torch
import torch.nn.functional as F

from ur4rec.models.losses import (
    binary_cross_entropy,
    bpr,
    full_cross_entropy,
    sample_negatives,
    sampled_softmax,
)

ITEMS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # row 0 = padding
HIDDEN = torch.tensor([[2.0, 0.0]])


def test_bce_by_hand():
    # pos item 1: logit 2; neg item 2: logit 0
    loss = binary_cross_entropy(HIDDEN, torch.tensor([1]), torch.tensor([[2]]), ITEMS)
    assert loss.item() == pytest.approx(-math.log(1 / (1 + math.exp(-2))) + math.log(2))


def test_bpr_by_hand():
    loss = bpr(HIDDEN, torch.tensor([1]), torch.tensor([[2, 3]]), ITEMS)
    # pos 2, negs 0 and 2 -> mean of softplus(-2) and softplus(0)
    assert loss.item() == pytest.approx((math.log1p(math.exp(-2)) + math.log(2)) / 2)


def test_sampled_softmax_by_hand():
    loss = sampled_softmax(HIDDEN, torch.tensor([1]), torch.tensor([[2, 3]]), ITEMS)
    logits = [2.0, 0.0, 2.0]
    assert loss.item() == pytest.approx(-logits[0] + math.log(sum(math.exp(v) for v in logits)))


def test_full_cross_entropy_excludes_padding_by_hand():
    loss = full_cross_entropy(HIDDEN, torch.tensor([3]), ITEMS)
    logits = [2.0, 0.0, 2.0]  # items 1..3; padding row never competes
    assert loss.item() == pytest.approx(-logits[2] + math.log(sum(math.exp(v) for v in logits)))


def test_chunked_cross_entropy_equals_dense_in_value_and_gradient():
    torch.manual_seed(0)
    hidden = torch.randn(1000, 16, requires_grad=True)
    items = torch.randn(301, 16, requires_grad=True)
    targets = torch.randint(1, 301, (1000,))
    full_cross_entropy(hidden, targets, items).backward()
    grads = hidden.grad.clone(), items.grad.clone()
    hidden.grad = items.grad = None
    reference = F.cross_entropy(hidden @ items[1:].T, targets - 1)
    reference.backward()
    assert full_cross_entropy(hidden, targets, items).item() == pytest.approx(reference.item())
    torch.testing.assert_close(grads[0], hidden.grad)
    torch.testing.assert_close(grads[1], items.grad)


def test_negatives_avoid_the_users_positives():
    positives = torch.zeros(2, 11, dtype=torch.bool)
    positives[0, 1:10] = True  # user 0 may only get item 10
    negatives = sample_negatives(positives, 50, torch.Generator().manual_seed(0))
    assert (negatives[0] == 10).all()
    assert ((negatives >= 1) & (negatives <= 10)).all()
    assert len(set(negatives[1].tolist())) > 5  # user 1 draws across the catalogue


def test_user_who_saw_everything_still_gets_negatives():
    positives = torch.ones(1, 5, dtype=torch.bool)
    negatives = sample_negatives(positives, 20, torch.Generator().manual_seed(0))
    assert ((negatives >= 1) & (negatives <= 4)).all()


def test_chunked_cross_entropy_under_cpu_bf16_autocast_stays_close_in_float32():
    torch.manual_seed(0)
    hidden = torch.randn(1000, 16, requires_grad=True)
    items = torch.randn(301, 16, requires_grad=True)
    targets = torch.randint(1, 301, (1000,))
    reference = F.cross_entropy(hidden @ items[1:].T, targets - 1)
    reference.backward()
    grads = hidden.grad.clone(), items.grad.clone()
    hidden.grad = items.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = full_cross_entropy(hidden, targets, items)
    loss.backward()
    assert loss.dtype == hidden.grad.dtype == items.grad.dtype == torch.float32
    assert loss.item() == pytest.approx(reference.item(), rel=1e-2)
    assert loss.item() != reference.item()  # the matmuls really ran in bfloat16
    # ... and only they: the softmax over the bf16 logits is taken in float32
    logits = (hidden.detach().bfloat16() @ items.detach()[1:].bfloat16().T).float()
    assert loss.item() == pytest.approx(F.cross_entropy(logits, targets - 1).item(), rel=1e-5)
    for ours, exact in zip((hidden.grad, items.grad), grads, strict=True):
        cosine = F.cosine_similarity(ours.flatten(), exact.flatten(), dim=0)
        assert cosine > 0.999
