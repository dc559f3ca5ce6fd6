"""Does the router use text where ids are weak? Mean routing weight per expert on the target.

For each evaluated user the retriever's router gives one weight per expert for the (user, target
item) pair — the weights it uses to mix the experts' similarities for that item. Averaged over
the users of the ``item_head`` / ``item_tail`` slices (and over the cold-item cases when the data
has them), they say whether the text experts take over on rare and new items. Only a routed MoE
(``retriever.single_expert: false``) has a router; other models get ``{}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ur4rec.data.prepared import PreparedData
from ur4rec.data.sequences import pad_right
from ur4rec.evaluation.cold import cold_cases, with_user_texts
from ur4rec.evaluation.evaluator import split_inputs
from ur4rec.evaluation.slices import slice_spec
from ur4rec.models.base import Recommender


@torch.no_grad()
def target_routing(model: Any, histories: list[np.ndarray], users: np.ndarray,
                   targets: np.ndarray, batch_size: int = 256,
                   user_text: np.ndarray | None = None) -> torch.Tensor:
    """``[C, K]`` router weights of each (user, target) pair, experts in ``retriever.experts``
    order, each user read from ``histories`` (oldest first); ``user_text`` ``[C, E]``: cases
    read from their history alone (:attr:`~ur4rec.models.base.UserBatch.user_text`)."""
    retriever = model.retriever
    was_training = model.training
    model.eval()
    items = model.candidate_vectors()  # [N, D]
    rows = []
    for start in range(0, len(users), batch_size):
        chunk = slice(start, start + batch_size)
        history = pad_right(histories[chunk], model.max_seq_len)
        lengths = (history > 0).sum(dim=1)
        positions = (lengths - 1).clamp(min=0).unsqueeze(1)
        case_text = None if user_text is None else torch.as_tensor(user_text[chunk])
        tokens = model.retriever_user(torch.as_tensor(users[chunk]), history, positions,
                                      case_text=case_text)
        target = torch.as_tensor(np.asarray(targets[chunk], dtype=np.int64)) - 1
        rows.append(retriever.route_weights(tokens[:, 0], items[target]))
    model.train(was_training)
    return torch.cat(rows) if rows else torch.zeros(0, len(retriever.experts))


def routing_by_slice(model: Recommender, data: PreparedData, user_texts: Any = None,
                     split: str = "test") -> dict[str, Any]:
    """Mean router weight per expert on all users, ``item_head``, ``item_tail`` and (with cold
    items) the cold cases, read as :func:`~ur4rec.evaluation.cold.evaluate_cold` reads them
    (``user_texts``: :data:`~ur4rec.evaluation.cold.CaseUserTexts`)."""
    retriever = model.mixture_of_experts()
    if retriever is None or retriever.single_expert:
        return {}
    histories, candidates = split_inputs(data, split)
    users = np.arange(data.num_users)
    weights = target_routing(model, histories, users, candidates[:, 0])
    masks = slice_spec(data).masks[split]

    def mean(rows: torch.Tensor) -> dict[str, float] | None:
        if not len(rows):
            return None
        return dict(zip(retriever.experts, rows.mean(dim=0).tolist(), strict=True))

    out: dict[str, Any] = {"split": split, "experts": list(retriever.experts),
                           "all": mean(weights)}
    for name in ("item_head", "item_tail"):
        out[name] = mean(weights[torch.as_tensor(masks[name])])
    if len(data.cold_items):
        if user_texts is None:
            raise ValueError("routing on cold cases needs user_texts: the model's stored user "
                             "state is written from the whole training part")
        cases, _ = with_user_texts(cold_cases(data), user_texts)
        out["cold"] = mean(target_routing(model, cases.histories, cases.users, cases.targets,
                                          user_text=cases.user_text))
    return out
