"""Every input of a cold-item case precedes its target: its history, the user
text it reads and the memory. Changing what the user did *after* the target — later warm
training items, later cold interactions — must not move the case's scores; changing what they
did before it must.

Each model is the same trained model on every variant of the data: the same weights and item
vectors; what a variant changes is the per-user state a run derives from its data — the user
texts written from the training part and the memory training wrote (here: a different stored
state, as training on the variant would write)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from ur4rec.config import config_from_dict
from ur4rec.data.sequences import pad_right
from ur4rec.evaluation.cold import cold_cases, cold_halves
from ur4rec.models.base import UserBatch
from ur4rec.models.factory import build_model
from ur4rec.models.ur4rec import TextInputs
from ur4rec.text.case_texts import cold_case_user_vectors, cold_case_view
from ur4rec.text.history import training_interactions
from ur4rec.text.pipeline import texts_for_run

from ..conftest import synthetic_interactions
from ..text.conftest import build, film_items
from ..text.test_pipeline import DIM, fast_encoder  # noqa: F401  (autouse: hash encoder)

SMALL = {"sasrec": {"hidden_dim": 16, "max_seq_len": 20, "dropout": 0.0},
         "retriever": {"output_dim": 16, "num_heads": 2, "num_proxies": 2, "dropout": 0.0},
         "texts": {"embedding_dim": DIM}}
MODELS = {"sasrec": {"model": "sasrec"},
          "retriever": {"model": "retriever", "memory": {"enabled": False}},
          "ur4rec with memory": {"model": "ur4rec", "memory": {"enabled": True}}}


@pytest.fixture
def data():
    interactions = synthetic_interactions(num_users=30, num_items=60, length=24, seed=3)
    return build(interactions, film_items(60), cold_items=0.2)


def _case_items(data, protocol):
    return None if protocol == "all" else cold_halves(data)[0]


def _user_with_later_items(data, protocol):
    """``(user, target timestamp)`` of a case with warm training items, and (for a half) cold
    interactions, after its target, and at least two training items before it."""
    cases = cold_cases(data, items=_case_items(data, protocol))
    cold = data.cold_interactions
    for user, history in zip(cases.users, cases.histories, strict=True):
        train = len(data.sequences[user]) - 2
        stamp = int(data.timestamps[user][len(history)]) if len(history) < train else None
        later_cold = cold[(cold.user_idx == user) & (cold.timestamp > (stamp or 0))]
        if stamp is not None and len(history) >= 2 and (protocol == "all" or len(later_cold)):
            return int(user), stamp
    raise AssertionError("no suitable case in the fixture data")


def _swap_items(data, user, rows):
    """Warm items ``user`` never interacted with, one per changed row."""
    warm = np.setdiff1d(np.arange(1, data.num_items + 1), data.cold_items)
    unseen = np.setdiff1d(warm, data.sequences[user])
    return unseen[:rows]


def _variant(data, user, stamp, when):
    """``data`` with ``user``'s training interactions ``"after"`` (and cold interactions after)
    or ``"before"`` ``stamp`` replaced by other items with other ratings."""
    frame = data.interactions.copy()
    position = frame.groupby("user_idx").cumcount()
    train = (frame.user_idx == user) & (position < len(data.sequences[user]) - 2)
    chosen = train & ((frame.timestamp > stamp) if when == "after" else (frame.timestamp < stamp))
    if when == "before":
        chosen &= frame.timestamp == frame.loc[chosen, "timestamp"].min()  # the first item
    frame.loc[chosen, "item_idx"] = _swap_items(data, user, int(chosen.sum()))
    frame.loc[chosen, "rating"] = 6.0 - frame.loc[chosen, "rating"]
    cold = data.cold_interactions.copy()
    if when == "after":  # other cold items of the same half, later in time
        later = (cold.user_idx == user) & (cold.timestamp > stamp)
        cold.loc[later, "item_idx"] = cold.loc[later, "item_idx"].to_numpy()[::-1]
        cold.loc[later, "rating"] = 6.0 - cold.loc[later, "rating"]
    meta = {**data.meta, "fingerprint": f"{data.meta['fingerprint']}-{when}"}
    return replace(data, interactions=frame, cold_interactions=cold, meta=meta)


def _case_scores(name, data, user, protocol, reference, tmp_path):
    """The case's score row under model ``name``: ``reference``'s weights and item vectors,
    the user texts ``data``'s run would write, and a stored memory ``data``'s training would
    have written (seeded by the data's fingerprint: another history, another state)."""
    config = config_from_dict({**SMALL, **MODELS[name]})
    texts = texts_for_run(config, data, tmp_path / f"run-{data.meta['fingerprint']}", None)
    item_vectors = reference["item_vectors"] if reference else texts.item_vectors
    torch.manual_seed(0)
    model = build_model(config, data, TextInputs(texts.user_vectors, item_vectors))
    if reference:
        model.load_state_dict(reference["state"])
    if name == "ur4rec with memory":
        seed = sum(data.meta["fingerprint"].encode())
        model.memory.state.copy_(torch.randn(model.memory.state.shape,
                                             generator=torch.Generator().manual_seed(seed)))
        model.memory.has_memory.fill_(True)
    model.eval()
    cases = cold_cases(data, items=_case_items(data, protocol))
    row = int(np.flatnonzero(cases.users == user)[0])
    text = None
    if model.reads_user_state:
        text = torch.as_tensor(cold_case_user_vectors(config, data, cases)[0][[row]])
    batch = UserBatch(torch.tensor([user]), pad_right([cases.histories[row]], 20), text)
    with torch.no_grad():
        scores = model.score_all(batch)[0, 1:]
    return scores, {"state": model.state_dict(), "item_vectors": item_vectors}


@pytest.mark.parametrize("protocol", ["all", "valid half"])
@pytest.mark.parametrize("name", list(MODELS))
def test_cold_case_scores_ignore_what_follows_the_target(data, name, protocol, tmp_path):
    user, stamp = _user_with_later_items(data, protocol)
    base, reference = _case_scores(name, data, user, protocol, None, tmp_path)
    after = _variant(data, user, stamp, "after")
    assert not after.interactions.equals(data.interactions)
    moved_after, _ = _case_scores(name, after, user, protocol, reference, tmp_path)
    torch.testing.assert_close(moved_after, base, rtol=0, atol=0)
    before = _variant(data, user, stamp, "before")
    moved_before, _ = _case_scores(name, before, user, protocol, reference, tmp_path)
    assert not torch.allclose(moved_before, base)


def test_the_case_view_keeps_each_users_training_before_the_target(data):
    cases = cold_cases(data)
    view = cold_case_view(data, cases)
    train = training_interactions(view)
    for user, history in zip(cases.users, cases.histories, strict=True):
        kept = train.loc[train.user_idx == user, "item_idx"].to_numpy()
        expected = data.train_sequences[user][:len(history)]
        np.testing.assert_array_equal(kept, expected)
    assert view.meta["fingerprint"] != data.meta["fingerprint"]
    np.testing.assert_array_equal(view.test_targets, data.test_targets)


def test_a_model_with_user_state_needs_case_texts(data):
    from ur4rec.config import EvaluationConfig
    from ur4rec.evaluation.cold import evaluate_cold

    config = config_from_dict({**SMALL, **MODELS["retriever"]})
    rng = np.random.default_rng(0)
    model = build_model(config, data, TextInputs(
        rng.normal(size=(data.num_users, DIM)).astype("f4"),
        rng.normal(size=(data.num_items + 1, DIM)).astype("f4")))
    with pytest.raises(ValueError, match="ColdCases.user_text"):
        evaluate_cold(model, data, EvaluationConfig())


def test_imported_or_llm_user_texts_fall_back_to_template_case_texts_and_say_so(data):
    from ur4rec.text.case_texts import case_text_policy

    config = config_from_dict({**SMALL, **MODELS["retriever"]})
    template = {"sides": {"users": {"backend": "template", "origin": "cached"}}}
    assert case_text_policy(config, template)["fallback"] is False
    for backend, origin in (("import", "imported"), ("openai", "generated")):
        policy = case_text_policy(config, {"sides": {"users": {"backend": backend,
                                                                "origin": origin}}})
        assert policy["fallback"] is True and "template" in policy["why"]
        assert policy["run_user_texts"] == {"backend": backend, "origin": origin}


def test_a_run_records_its_case_texts_and_evaluate_reproduces_the_cold_figures(tmp_path):
    from ur4rec import api

    log = tmp_path / "log.csv"
    synthetic_interactions(40, 60, 20, seed=2).rename(
        columns={"user": "user_id", "item": "item_id"}).to_csv(log, index=False)
    config = config_from_dict({
        **SMALL, "model": "retriever",
        "data": {"dataset": "tiny-cold", "path": str(log), "num_candidates": 20,
                 "cold_items": 0.2, "prepared_dir": str(tmp_path / "prepared")},
        "training": {"stages": ["pretrain_retriever"], "epochs_per_stage": 1, "device": "cpu",
                     "batch_size": 16, "warmup_steps": 0}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(api, "_after_training", lambda run_dir: None)
        results = api.train(config, tmp_path / "run", progress=False)
    record = results["cold"]["user_texts"]
    assert record["backend"] == "template" and record["fallback"] is False
    assert record["cases"] == results["cold"]["users"] > 0
    written = tmp_path / "run" / "results.json"  # evaluate writes its own, routing too
    written.write_text(json.dumps({key: value for key, value in results.items()
                                   if key not in ("cold", "routing_by_slice")}))
    again = api.evaluate(tmp_path / "run")
    assert again["cold"]["metrics"] == results["cold"]["metrics"]
    assert again["cold"]["user_texts"]["dir"] == record["dir"]
    assert again["routing_by_slice"]["cold"] == results["routing_by_slice"]["cold"]


def test_routing_on_cold_cases_reads_the_case_texts(data):
    """``routing_by_slice``'s cold slice reads the cases as the cold protocol does: a routed
    retriever's weights there come from the case texts (and a fresh memory), never the stored
    state — without a writer of case texts it refuses."""
    from functools import partial

    from ur4rec.evaluation.routing import routing_by_slice

    config = config_from_dict({**SMALL, "model": "retriever",
                               "retriever": {**SMALL["retriever"], "single_expert": False}})
    rng = np.random.default_rng(0)
    model = build_model(config, data, TextInputs(
        rng.normal(size=(data.num_users, DIM)).astype("f4"),
        rng.normal(size=(data.num_items + 1, DIM)).astype("f4"))).eval()
    with pytest.raises(ValueError, match="user_texts"):
        routing_by_slice(model, data)
    writer = partial(cold_case_user_vectors, config, data)
    before = routing_by_slice(model, data, writer)["cold"]
    with torch.no_grad():
        model.user_text.normal_()  # the stored texts: not read by cold cases
        model.memory.state.normal_()
        model.memory.has_memory.fill_(True)
    assert routing_by_slice(model, data, writer)["cold"] == before
