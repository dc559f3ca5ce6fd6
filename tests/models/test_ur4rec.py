"""UR4Rec on tiny generated data with random text vectors (the real texts are tested apart)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ur4rec.config import config_from_dict
from ur4rec.evaluation.evaluator import Evaluator
from ur4rec.models.base import UserBatch
from ur4rec.models.factory import build_model
from ur4rec.models.stages import final_scoring
from ur4rec.models.ur4rec import TextInputs
from ur4rec.runs.results import stage_results
from ur4rec.training.batches import TrainingBatches
from ur4rec.training.trainer import Trainer

from ..conftest import make_prepared, synthetic_interactions
from .building import stage_losses, ur4rec_model


def random_inputs(data, dim=12, seed=0):
    rng = np.random.default_rng(seed)
    return TextInputs(rng.normal(size=(data.num_users, dim)).astype("f4"),
                      rng.normal(size=(data.num_items + 1, dim)).astype("f4"),
                      user_text_train=rng.normal(size=(data.num_users, dim)).astype("f4"))


def small_config(**overrides):
    base = {"model": "ur4rec", "sasrec": {"hidden_dim": 16, "max_seq_len": 12},
            "retriever": {"output_dim": 16, "num_heads": 2, "num_proxies": 2,
                          "train_positions": 3},
            "texts": {"embedding_dim": 12},
            "training": {"epochs_per_stage": 2, "patience": 5, "batch_size": 8}}
    for key, value in overrides.items():
        base.setdefault(key, {}).update(value) if isinstance(value, dict) else base.update(
            {key: value})
    return config_from_dict(base)


@pytest.fixture
def data():
    return make_prepared(synthetic_interactions(num_users=24, num_items=30), num_candidates=8)


def test_scores_cover_the_catalogue_and_padding_never_wins(data):
    model = ur4rec_model(data.num_users, data.num_items, small_config(), random_inputs(data)).eval()
    history = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    for scoring in ("sasrec", "retriever", "fused"):
        scores = model.scored_by(scoring).score_all(UserBatch(torch.tensor([0, 1]), history))
        assert scores.shape == (2, data.num_items + 1)
        assert torch.isinf(scores[:, 0]).all() and torch.isfinite(scores[:, 1:]).all()


def test_scoring_a_branch_leaves_the_models_own_scoring_alone(data):
    """A stage validated on one branch asks for it; the model keeps scoring as it was built."""
    model = ur4rec_model(data.num_users, data.num_items, small_config(), random_inputs(data))
    model.eval()
    batch = UserBatch(torch.tensor([0, 1]), torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]))
    fused = model.score_all(batch)
    sasrec = model.scored_by("sasrec")
    assert not torch.allclose(sasrec.score_all(batch), fused)
    torch.testing.assert_close(model.score_all(batch), fused)
    assert model.scored_by("fused") is model and not sasrec.training  # the model's mode
    model.train()
    assert model.scored_by("sasrec").training


def test_retriever_user_at_a_position_ignores_later_items(data):
    model = ur4rec_model(data.num_users, data.num_items, small_config(memory={"enabled": False}),
                   random_inputs(data)).eval()
    users = torch.tensor([0])
    history = torch.tensor([[3, 4, 5, 6]])
    changed = history.clone()
    changed[0, 3] = 9
    at_two = torch.tensor([[2]])
    a = model.retriever_user(users, history, at_two)
    b = model.retriever_user(users, changed, at_two)
    torch.testing.assert_close(a, b)


def test_each_stage_trains_what_it_says(data):
    config = small_config()
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data))
    batch = next(TrainingBatches(data, 12, 8).epoch(torch.Generator().manual_seed(0)))
    expected = {"pretrain_sasrec": {"sasrec"}, "pretrain_retriever": {"retrieval"},
                "end_to_end": {"sasrec", "retrieval", "fused"}}
    for stage, components in expected.items():
        losses = stage_losses(model, batch, stage, config.training)
        assert set(losses) - {"loss"} == components, stage
    # text projections get gradients: they are trained, not frozen at initialisation
    model.zero_grad()
    stage_losses(model, batch, "pretrain_retriever", config.training,
                 ["retriever"])["loss"].backward()
    assert model.retriever.item_text.net[0].weight.grad.abs().sum() > 0
    assert model.retriever.user_text.net[0].weight.grad.abs().sum() > 0


def test_training_reads_the_training_view_of_user_texts(data):
    inputs = random_inputs(data)
    model = ur4rec_model(data.num_users, data.num_items, small_config(memory={"enabled": False}),
                   inputs)
    users, history, at = torch.tensor([0]), torch.tensor([[1, 2, 3]]), torch.tensor([[2]])
    model.train()
    torch.manual_seed(0)
    trained_view = model.retriever.expert_tokens(model.user_text_train[users], history,
                                                 model.item_text, None, at)
    model.eval()
    eval_view = model.retriever.expert_tokens(model.user_text[users], history,
                                              model.item_text, None, at)
    assert not torch.allclose(trained_view[..., 0, :], eval_view[..., 0, :])


def test_full_staged_run_logs_memory_routing_fusion_and_switches(data, tmp_path):
    config = small_config(training={"stages": ["pretrain_sasrec", "pretrain_retriever",
                                               "joint_finetune", "end_to_end"],
                                    "epochs_per_stage": 3, "patience": 10},
                          fusion={"method": "learned"}, memory={"update_trigger": "TIME_BASED"})
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data))
    trainer = Trainer(model, "ur4rec", data, config.training, config.resolved_stages(),
                      tmp_path, torch.device("cpu"), Evaluator(data, config.evaluation),
                      progress=False)
    summary = trainer.fit()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [s["stage"] for s in summary["stages"]] == config.training.stages
    retriever_rows = [r for r in rows if r["stage"] == "pretrain_retriever"]
    assert all(r["memory"]["updates_this_epoch"] > 0 for r in retriever_rows)
    assert retriever_rows[-1]["memory"]["users_with_memory"] == data.num_users
    assert set(retriever_rows[0]["routing"]) == {"user_text", "history_text", "item_id"}
    assert sum(retriever_rows[0]["routing"].values()) == pytest.approx(1.0, abs=1e-4)
    joint = [r for r in rows if r["stage"] == "joint_finetune"]
    assert [r["trained"] for r in joint] == [["sasrec"], ["retriever"], ["sasrec"]]
    assert joint[-1]["switch_count"] == 3
    assert {r["scoring"] for r in rows} == {"sasrec", "retriever", "fused"}
    end = [r for r in rows if r["stage"] == "end_to_end"]
    assert set(end[0]["losses"]) == {"loss", "sasrec", "retrieval", "fused"}
    assert 0 < end[0]["fusion"]["sasrec_weight"] < 1


def test_memory_never_reads_validation_or_test_items(data):
    """Changing only the held-out items leaves everything memory learns unchanged."""
    frame = synthetic_interactions(num_users=24, num_items=30)
    other = frame.copy()
    last_two = other.groupby("user").tail(2).index
    other.loc[last_two, "timestamp"] += 10_000  # still last, but other items
    other.loc[last_two, "item"] = ((other.loc[last_two, "item"].astype(int) + 7) % 30 + 1
                                   ).astype(str)
    states = []
    for rows in (frame, other):
        prepared = make_prepared(rows, num_candidates=5)
        config = small_config()
        torch.manual_seed(0)
        model = ur4rec_model(prepared.num_users, prepared.num_items, config, random_inputs(prepared))
        batch = next(TrainingBatches(prepared, 12, 64).epoch(torch.Generator().manual_seed(0)))
        torch.manual_seed(1)
        stage_losses(model, batch, "pretrain_retriever", config.training, ["retriever"])
        states.append(model.memory.state.clone())
    same_train = all(np.array_equal(a, b) for a, b in zip(
        make_prepared(frame, 5).train_sequences, make_prepared(other, 5).train_sequences,
        strict=True))
    assert same_train
    torch.testing.assert_close(states[0], states[1])


@pytest.mark.parametrize(("stages", "preloaded", "expected"), [
    (["pretrain_sasrec", "pretrain_retriever"], False, "fused"),
    (["pretrain_sasrec"], False, "sasrec"),
    (["pretrain_retriever"], False, "retriever"),
    (["pretrain_retriever"], True, "fused"),
    (["end_to_end"], False, "fused"),
])
def test_trained_model_scores_with_what_was_trained(data, stages, preloaded, expected,
                                                   tmp_path):
    assert final_scoring(stages, ("sasrec",) if preloaded else ()) == expected
    init = {"init_from": str(tmp_path / "sasrec.pt")} if preloaded else {}
    model = build_model(small_config(training={"stages": stages, **init}), data,
                        random_inputs(data))
    assert model.scoring == expected
    batch = UserBatch(torch.tensor([0, 1]), torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]))
    model.eval()
    torch.testing.assert_close(model.score_all(batch), model.score_with(batch, expected))


def test_stage_results_score_each_stage_as_it_was_selected(data, tmp_path):
    config = small_config(training={"stages": ["pretrain_sasrec", "pretrain_retriever"]})
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data))
    evaluator = Evaluator(data, config.evaluation)
    summary = Trainer(model, "ur4rec", data, config.training, config.resolved_stages(),
                      tmp_path, torch.device("cpu"), evaluator, progress=False).fit()
    assert model.scoring == "fused"
    # final weights may differ from every stage's best (e.g. fusion.select_weights moved them)
    with torch.no_grad():
        model.retriever.item_bias.add_(torch.randn_like(model.retriever.item_bias))
    final = evaluator.evaluate(model, "test", torch.device("cpu")).metrics
    rows = stage_results(model, tmp_path, evaluator, torch.device("cpu"), summary["stages"])
    assert [r["stage"] for r in rows] == ["pretrain_sasrec", "pretrain_retriever"]
    # the model is handed back at its final weights and fused scoring
    assert model.scoring == "fused"
    assert evaluator.evaluate(model, "test", torch.device("cpu")).metrics == final
    model.load_state_dict(torch.load(tmp_path / "checkpoints" / "best_pretrain_sasrec.pt",
                                     weights_only=False)["model"])
    alone = evaluator.evaluate(model.scored_by("sasrec"), "test", torch.device("cpu")).metrics
    assert rows[0]["test"] == alone
    assert rows[0]["test"] != final


def test_fusion_weights_are_chosen_on_validation_only(data, tmp_path):
    from ur4rec.training.fusion_selection import SASREC_SHARES, select_fusion_weights

    config = small_config(training={"stages": ["pretrain_sasrec", "pretrain_retriever"]},
                          fusion={"select_weights": True})
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data))
    evaluator = Evaluator(data, config.evaluation)
    summary = Trainer(model, "ur4rec", data, config.training, config.resolved_stages(),
                      tmp_path, torch.device("cpu"), evaluator, progress=False).fit()
    chosen = summary["fusion_selection"]
    assert set(chosen["valid"]) == {f"{s:.2f}" for s in SASREC_SHARES}
    assert chosen["valid"][f"{chosen['sasrec_weight']:.2f}"] == max(chosen["valid"].values())
    assert model.fusion.fixed.tolist() == pytest.approx([chosen["sasrec_weight"],
                                                         chosen["retriever_weight"]])
    # the chosen weights are what final.pt holds, so a reloaded run scores the same
    saved = torch.load(tmp_path / "checkpoints" / "final.pt", weights_only=False)["model"]
    assert saved["fusion.fixed"].tolist() == pytest.approx(model.fusion.fixed.tolist())

    # the test split is never read: an evaluator that refuses it still selects
    class ValidOnly:
        def evaluate_many(self, model, split, device, score_variants):
            assert split == "valid", "fusion selection read the test split"
            return evaluator.evaluate_many(model, split, device, score_variants)

    select_fusion_weights(model, ValidOnly(), torch.device("cpu"), ("sampled", "ndcg@10"))


def test_one_pass_over_all_shares_equals_evaluating_each_share(data):
    """The fusion selection scores the branches once; each share must score exactly as the
    model does with ``fusion.fixed`` set to it."""
    config = small_config()
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data)).eval()
    evaluator = Evaluator(data, config.evaluation)
    shares = [0.0, 0.3, 0.7, 1.0]
    together = evaluator.evaluate_many(model, "valid", "cpu",
                                       lambda batch: model.score_all_shares(batch, shares))
    assert set(together) == {repr(share) for share in shares}
    for share in shares:
        model.fusion.fixed.copy_(torch.tensor([share, 1.0 - share]))
        alone = evaluator.evaluate(model, "valid", "cpu")
        assert together[repr(share)].metrics == alone.metrics
    assert together["0.0"].metrics != together["1.0"].metrics  # the shares really differ


def _no_dropout_config(**overrides):
    return small_config(sasrec={"dropout": 0.0}, retriever={"dropout": 0.0},
                        memory={"interaction_threshold": 1}, **overrides)


def test_memory_in_training_never_shows_a_position_its_own_target(data):
    """Memory on, training mode: changing only the target of the earlier sampled position (an
    item the later position may read) leaves the earlier position's scores unchanged."""
    import copy

    config = _no_dropout_config()
    torch.manual_seed(0)
    base = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data)).train()
    users = torch.tensor([0])
    history = torch.tensor([[3, 4, 5, 6, 7, 8, 9, 10]])
    positions, start = torch.tensor([[2, 5]]), torch.tensor([2])
    changed = history.clone()
    changed[0, 3] = 20  # the target of position 2, read by position 5
    scores = []
    for seqs in (history, changed):
        model = copy.deepcopy(base)
        out = model.branch_scores(users, seqs, positions, start, need="retriever")
        assert bool(model.memory.has_memory[0])  # the memory did fire and is read
        scores.append(out["retriever"][:, 0])
    torch.testing.assert_close(scores[0], scores[1])


def test_training_positions_lie_in_the_window_the_memory_and_text_precede(data):
    """Every sampled target position is at or after where the memory is written from; short
    rows write from their first position, never from padding."""
    config = small_config(retriever={"train_positions": 3, "train_window": 4})
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data)).train()
    seen = {}

    def spy(users, history, positions, memory_position=None, **kwargs):
        seen.update(positions=positions, start=memory_position, history=history)
        return original(users, history, positions, memory_position, **kwargs)

    original, model.branch_scores = model.branch_scores, spy
    batch = next(TrainingBatches(data, 12, 64).epoch(torch.Generator().manual_seed(0)))
    stage_losses(model, batch, "pretrain_retriever", config.training, ["retriever"])
    lengths = (batch.targets > 0).sum(dim=1)
    start = seen["start"]
    assert torch.equal(start, (lengths - 4).clamp(min=0))
    assert bool((seen["positions"] >= start.unsqueeze(1)).all())
    # the memory source position holds a real item for every row (never padding)
    assert bool((seen["history"].gather(1, start.unsqueeze(1)) > 0).all())


def test_text_free_retriever_ignores_every_text_vector(data):
    """experts [item_id] + item_text false: replacing every text vector by noise moves nothing."""
    config = small_config(retriever={"experts": ["item_id"], "item_text": False})
    torch.manual_seed(0)
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data, seed=0)).eval()
    batch = UserBatch(torch.tensor([0, 1]), torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]))
    retriever = model.scored_by("retriever")
    before = retriever.score_all(batch)
    for name in ("user_text", "item_text", "user_text_train"):
        getattr(model, name).normal_()
    torch.testing.assert_close(retriever.score_all(batch), before)
    # and with item text on, the same noise moves the scores (the test can fail)
    config = small_config(retriever={"experts": ["item_id"]})
    torch.manual_seed(0)
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data, seed=0)).eval()
    retriever = model.scored_by("retriever")
    before = retriever.score_all(batch)
    model.item_text.normal_()
    assert not torch.allclose(retriever.score_all(batch), before)


@pytest.mark.parametrize("best_share", [0.0, 1.0])
def test_fusion_selection_can_choose_one_branch_alone(best_share):
    """Validation may say SASRec alone (1.0) or the retriever alone (0.0) is best."""
    from types import SimpleNamespace

    from ur4rec.training.fusion_selection import select_fusion_weights

    fusion = SimpleNamespace(fixed=torch.tensor([0.5, 0.5]))
    model = SimpleNamespace(
        fused_with="retriever", selects_rarity_lean=False,
        sasrec_share=lambda: float(fusion.fixed[0]),
        set_sasrec_share=lambda share: fusion.fixed.copy_(torch.tensor([share, 1.0 - share])),
        score_all_shares=lambda batch, shares: {
            repr(share): share for share in shares})  # stands in for each share's scores

    class Evaluator_:
        def evaluate_many(self, model, split, device, score_variants):
            return {name: SimpleNamespace(metrics={"sampled": {"ndcg@10": -abs(share - best_share)}})
                    for name, share in score_variants(None).items()}

    chosen = select_fusion_weights(model, Evaluator_(), torch.device("cpu"),
                                   ("sampled", "ndcg@10"))
    assert chosen["sasrec_weight"] == best_share
    assert fusion.fixed.tolist() == [best_share, 1.0 - best_share]


def test_frozen_temperature_stays_frozen_through_training(data, tmp_path):
    config = small_config(retriever={"learn_temperature": False},
                          training={"stages": ["pretrain_retriever"], "epochs_per_stage": 2})
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data))
    before = model.retriever.log_temperature.detach().clone()
    Trainer(model, "ur4rec", data, config.training, config.resolved_stages(), tmp_path,
            torch.device("cpu"), Evaluator(data, config.evaluation), progress=False).fit()
    assert not model.retriever.log_temperature.requires_grad
    torch.testing.assert_close(model.retriever.log_temperature.detach(), before)
    # a learned temperature does move (the test can fail)
    config = small_config(training={"stages": ["pretrain_retriever"], "epochs_per_stage": 2})
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data))
    Trainer(model, "ur4rec", data, config.training, config.resolved_stages(),
            tmp_path / "learned", torch.device("cpu"), Evaluator(data, config.evaluation),
            progress=False).fit()
    assert not torch.allclose(model.retriever.log_temperature.detach(), before)


def test_text_only_retriever_ignores_every_id_embedding(data):
    """experts [user_text, history_text] + item_id false: new id vectors move nothing."""
    config = small_config(retriever={"experts": ["user_text", "history_text"],
                                     "item_id": False}, memory={"enabled": False})
    torch.manual_seed(0)
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data)).eval()
    retriever = model.scored_by("retriever")
    batch = UserBatch(torch.tensor([0, 1]), torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]))
    before = retriever.score_all(batch)
    with torch.no_grad():
        model.retriever.item_id.weight.normal_()
    torch.testing.assert_close(retriever.score_all(batch), before)


def test_routing_by_slice_reports_the_weights_the_scores_use(data):
    """The per-target router weights equal the ones score() mixes for that item."""
    from ur4rec.evaluation.routing import routing_by_slice, target_routing

    config = small_config(retriever={"single_expert": False})
    torch.manual_seed(0)
    model = ur4rec_model(data.num_users, data.num_items, config, random_inputs(data)).eval()
    histories = [data.train_sequences[0], data.train_sequences[1]]
    targets = np.array([3, 7])
    weights = target_routing(model, histories, np.array([0, 1]), targets)
    assert weights.shape == (2, 3)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2))
    # the same weights by hand from score()'s own computation
    from ur4rec.data.sequences import pad_right

    history = pad_right(histories, model.max_seq_len)
    positions = ((history > 0).sum(dim=1) - 1).unsqueeze(1)
    tokens = model.retriever_user(torch.tensor([0, 1]), history, positions)
    items = model.candidate_vectors()
    retriever = model.retriever
    logits = retriever.router_query(tokens) @ retriever.router_key(items).T / 4.0
    full = torch.softmax(logits + retriever.router_bias[:, None], dim=-2)  # [B, 1, K, N]
    torch.testing.assert_close(weights, full[:, 0, :, targets - 1].diagonal(dim1=0, dim2=2).T)
    report = routing_by_slice(model, data)
    assert set(report) >= {"all", "item_head", "item_tail", "experts"}
    single = ur4rec_model(data.num_users, data.num_items, small_config(retriever={"single_expert":
                                                                            True}),
                    random_inputs(data))
    assert routing_by_slice(single, data) == {}
