import torch

from ur4rec.config import MemoryConfig
from ur4rec.models.memory import UserMemory


def memory_with(trigger: str, **kwargs) -> UserMemory:
    torch.manual_seed(0)
    return UserMemory(5, 4, MemoryConfig(update_trigger=trigger, **kwargs))


def test_interaction_count_counts_new_interactions_since_the_last_update():
    memory = memory_with("INTERACTION_COUNT", interaction_threshold=5)
    users = torch.tensor([0, 1])
    memory.update(users, torch.randn(2, 4), torch.tensor([3, 6]))  # items read so far
    assert memory.has_memory.tolist() == [False, True, False, False, False]
    assert memory.since_update.tolist() == [3, 0, 0, 0, 0]
    assert memory.statistics()["new_interactions_this_epoch"] == 9
    memory.start_epoch()
    # a revisit of the same history brings nothing new: no rewrite (the old code counted
    # every target of the row again, so a threshold of 5 fired on every visit)
    memory.update(users, torch.randn(2, 4), torch.tensor([3, 6]))
    stats = memory.statistics()
    assert stats["updates_this_epoch"] == 0 and stats["new_interactions_this_epoch"] == 0
    assert memory.since_update.tolist()[:2] == [3, 0]
    memory.update(users, torch.randn(2, 4), torch.tensor([5, 9]))  # 2 and 3 new items
    assert memory.has_memory[0] and memory.since_update.tolist()[:2] == [0, 3]
    assert memory.statistics()["updates_this_epoch"] == 1


def test_drift_threshold_fires_for_new_users_and_on_drift_only():
    memory = memory_with("DRIFT_THRESHOLD", drift_threshold=0.5)
    user = torch.tensor([2])
    first = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    memory.update(user, first, torch.tensor([1]))
    assert memory.has_memory[2]
    stored = memory.state[2].clone()
    memory.update(user, stored.unsqueeze(0), torch.tensor([1]))  # no drift: kept
    torch.testing.assert_close(memory.state[2], stored)
    memory.update(user, -stored.unsqueeze(0), torch.tensor([1]))  # opposite: drift
    assert not torch.allclose(memory.state[2], stored)


def test_time_based_and_explicit_triggers():
    memory = memory_with("TIME_BASED", time_threshold=2)
    user = torch.tensor([0])
    memory.update(user, torch.randn(1, 4), torch.tensor([1]))
    assert memory.history_size[0] == 1
    memory.start_epoch()
    memory.update(user, torch.randn(1, 4), torch.tensor([1]))
    assert memory.history_size[0] == 1  # one epoch later: not yet
    memory.start_epoch()
    memory.update(user, torch.randn(1, 4), torch.tensor([1]))
    assert memory.history_size[0] == 2
    explicit = memory_with("EXPLICIT")
    explicit.update(user, torch.randn(1, 4), torch.tensor([100]))
    assert not explicit.has_memory[0]
    explicit.request_update(user)
    explicit.update(user, torch.randn(1, 4), torch.tensor([1]))
    assert explicit.has_memory[0] and not explicit.explicit[0]


def test_history_is_bounded_and_memory_is_in_the_state_dict():
    memory = memory_with("INTERACTION_COUNT", interaction_threshold=1, max_memory_size=3)
    for step in range(7):
        memory.update(torch.tensor([4]), torch.randn(1, 4), torch.tensor([step + 1]))
    assert memory.history_size[4] == 3
    restored = memory_with("INTERACTION_COUNT", interaction_threshold=1, max_memory_size=3)
    restored.load_state_dict(memory.state_dict())
    torch.testing.assert_close(restored.state, memory.state)
    assert restored.has_memory[4]


def test_gru_and_gate_receive_gradients_through_the_update():
    memory = memory_with("INTERACTION_COUNT", interaction_threshold=1)
    rep = torch.randn(2, 4)
    fresh = memory.update(torch.tensor([0, 1]), rep, torch.tensor([1, 1]))
    memory.gated(rep, fresh).sum().backward()
    assert memory.gru.weight_ih.grad is not None and memory.gru.weight_ih.grad.abs().sum() > 0
    assert memory.gate.weight.grad.abs().sum() > 0
