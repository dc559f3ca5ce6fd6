"""training.deterministic: two runs of one seed add up index gradients in the same order."""

from __future__ import annotations

import pytest
import torch

from ur4rec import api
from ur4rec.config import TrainingConfig
from ur4rec.training.trainer import deterministic_kernels


def _index_gradients(repeats: int) -> set[bytes]:
    """The distinct gradients of ``table[rows, cols]`` (many duplicate indices) over repeats."""
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(50, 64, 32, generator=generator, requires_grad=True)
    rows = torch.randint(0, 50, (200_000,), generator=generator)
    cols = torch.randint(0, 64, (200_000,), generator=generator)
    weights = torch.randn(200_000, 32, generator=generator)
    seen = set()
    for _ in range(repeats):
        table.grad = None
        (table[rows, cols] * weights).sum().backward()
        seen.add(table.grad.numpy().tobytes())
    return seen


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the thread-order sums need threads to differ
    yield
    torch.set_num_threads(before)


def test_index_backward_is_the_same_every_time_under_deterministic_kernels(two_threads):
    with deterministic_kernels(True):
        assert len(_index_gradients(5)) == 1


def test_the_previous_setting_comes_back_after_the_block():
    assert not torch.are_deterministic_algorithms_enabled()
    with deterministic_kernels(True):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert not torch.are_deterministic_algorithms_enabled()
    with deterministic_kernels(False):
        assert not torch.are_deterministic_algorithms_enabled()


def test_training_runs_under_the_setting_of_its_config(tmp_path, monkeypatch):
    assert TrainingConfig().deterministic is True
    from ..models.test_text_baselines import _tiny_config

    monkeypatch.setattr(api, "_after_training", lambda run_dir: None)
    seen = []
    for enabled in (True, False):
        api.train(_tiny_config(tmp_path, "sasrec"), tmp_path / f"run_{enabled}", progress=False,
                  overrides={"training.deterministic": enabled},
                  callbacks=[lambda row: seen.append(torch.are_deterministic_algorithms_enabled())])
    assert seen == [True, False]
    assert not torch.are_deterministic_algorithms_enabled()


def test_cuda_runs_say_when_they_are_not_deterministic(caplog, monkeypatch):
    """The fast CUDA setting is said on screen; the deterministic one fixes cuBLAS's workspace
    and restricts attention to the plain kernel (whose backward is deterministic)."""
    import logging
    import os

    cuda = torch.device("cuda")
    with caplog.at_level(logging.WARNING), deterministic_kernels(False, cuda):
        pass
    assert "training.deterministic is false" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING), deterministic_kernels(False, torch.device("cpu")):
        pass
    assert caplog.text == ""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    with deterministic_kernels(True, cuda):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.backends.cuda.math_sdp_enabled()
        assert not torch.backends.cuda.flash_sdp_enabled()
        assert not torch.backends.cuda.cudnn_sdp_enabled()
    assert torch.backends.cuda.flash_sdp_enabled()  # restored
