"""The retriever's score: routed cosine over the temperature plus the item bias, and the single
(summed) expert's shortcut gives exactly what routing over one token would."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ur4rec.config import RetrieverConfig
from ur4rec.models.retriever import MoERetriever


def _routed_by_hand(model: MoERetriever, tokens, items, with_bias: bool):
    route = model.router_query(tokens) @ model.router_key(items).T / math.sqrt(items.shape[-1])
    if with_bias:
        route = route + model.router_bias[:, None]
    weights = torch.softmax(route, dim=-2)
    cosine = F.normalize(tokens, dim=-1) @ F.normalize(items, dim=-1).T
    temperature = model.log_temperature.exp().clamp(min=1e-3)
    return (weights * cosine).sum(dim=-2) / temperature + model.item_bias[1:]


def _model(single_expert: bool) -> MoERetriever:
    torch.manual_seed(0)
    model = MoERetriever(20, 12, RetrieverConfig(output_dim=8, num_heads=2),
                         single_expert=single_expert)
    with torch.no_grad():
        model.item_bias.normal_()
    return model.eval()


def test_routed_score_is_the_routed_cosine_over_the_temperature():
    model = _model(single_expert=False)
    tokens, items = torch.randn(3, 5, 3, 8), torch.randn(20, 8)
    torch.testing.assert_close(model.score(tokens, items),
                               _routed_by_hand(model, tokens, items, with_bias=True))


def test_single_expert_score_equals_routing_over_its_one_token_and_ignores_the_router():
    model = _model(single_expert=True)
    tokens, items = torch.randn(3, 5, 1, 8), torch.randn(20, 8)
    scores = model.score(tokens, items)
    torch.testing.assert_close(scores, _routed_by_hand(model, tokens, items, with_bias=False))
    with torch.no_grad():  # a one-token softmax is 1 whatever the router says
        model.router_query.weight.normal_()
        model.router_key.weight.normal_()
    torch.testing.assert_close(model.score(tokens, items), scores)
    rows = torch.tensor([3, 7])
    torch.testing.assert_close(model.score(tokens, items[rows - 1], rows), scores[..., rows - 1])
