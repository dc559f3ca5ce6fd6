"""glibc's mmap threshold is held low while evaluation ranks the catalogue, and raised after."""

from __future__ import annotations

import ctypes

import pytest
import torch

from ur4rec.evaluation import evaluator, heap


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return 1


@pytest.fixture
def libc(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: fake)
    monkeypatch.setattr(heap.sys, "platform", "linux")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    heap._glibc_mallopt.cache_clear()  # looked up once per process: look up the fake
    yield fake
    heap._glibc_mallopt.cache_clear()  # and the real one again after


def test_the_threshold_is_low_inside_and_glibcs_ceiling_after(libc):
    with heap.bounded_heap():
        assert libc.calls == [(heap.M_MMAP_THRESHOLD, 128 * 1024)]
    assert libc.calls[-1] == (heap.M_MMAP_THRESHOLD, 32 * 1024 * 1024)
    with pytest.raises(RuntimeError), heap.bounded_heap():  # raised even when ranking fails
        raise RuntimeError
    assert libc.calls[-1] == (heap.M_MMAP_THRESHOLD, 32 * 1024 * 1024)


def test_a_threshold_the_user_set_and_other_platforms_are_left_alone(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    with heap.bounded_heap():
        pass
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    monkeypatch.setattr(heap.sys, "platform", "darwin")
    with heap.bounded_heap():
        pass
    assert libc.calls == []


def test_ranking_runs_inside_the_bounded_heap(tiny_data, libc, monkeypatch):
    from ur4rec.config import EvaluationConfig
    from ur4rec.models.baselines import PopularityRecommender

    model = PopularityRecommender(tiny_data.train_item_counts)
    seen = []
    scoring = model.score_all
    monkeypatch.setattr(model, "score_all", lambda batch: seen.append(list(libc.calls))
                        or scoring(batch))
    evaluator.Evaluator(tiny_data, EvaluationConfig()).evaluate(model, "valid",
                                                                torch.device("cpu"))
    assert seen and seen[0] == [(heap.M_MMAP_THRESHOLD, 128 * 1024)]
    assert libc.calls[-1] == (heap.M_MMAP_THRESHOLD, 32 * 1024 * 1024)


def test_libc_is_looked_up_once(libc, monkeypatch):
    lookups = []
    monkeypatch.setattr(ctypes, "CDLL", lambda name: lookups.append(name) or libc)
    heap._glibc_mallopt.cache_clear()
    for _ in range(3):
        with heap.bounded_heap():
            pass
    assert len(lookups) == 1 and len(libc.calls) == 6
