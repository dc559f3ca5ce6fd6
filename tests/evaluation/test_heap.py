"""glibc's mmap threshold is fixed once, before evaluation makes its catalogue-wide temporaries."""

from __future__ import annotations

import ctypes

import pytest
import torch

from ur4rec.evaluation import evaluator, heap


class FakeLibc:
    def __init__(self, accepts: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.accepts = accepts

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return self.accepts


@pytest.fixture
def libc(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: fake)
    monkeypatch.setattr(heap, "_fixed", False)
    monkeypatch.setattr(heap.sys, "platform", "linux")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    return fake


def test_the_threshold_is_fixed_at_glibcs_initial_value_once(libc):
    assert heap.bound_heap_growth() is True
    assert heap.bound_heap_growth() is False  # once per process
    assert libc.calls == [(heap.M_MMAP_THRESHOLD, 128 * 1024)]


def test_a_threshold_the_user_set_and_other_platforms_are_left_alone(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert heap.bound_heap_growth() is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    monkeypatch.setattr(heap.sys, "platform", "darwin")
    assert heap.bound_heap_growth() is False
    assert libc.calls == []


def test_a_refused_mallopt_is_tried_again_next_time(libc):
    libc.accepts = 0
    assert heap.bound_heap_growth() is False
    libc.accepts = 1
    assert heap.bound_heap_growth() is True


def test_evaluation_fixes_it_before_ranking(tiny_data, monkeypatch):
    from ur4rec.config import EvaluationConfig
    from ur4rec.models.baselines import PopularityRecommender

    calls = []
    monkeypatch.setattr(evaluator, "bound_heap_growth", lambda: calls.append(1))
    ev = evaluator.Evaluator(tiny_data, EvaluationConfig())
    ev.evaluate(PopularityRecommender(tiny_data.train_item_counts), "valid", torch.device("cpu"))
    assert calls
