"""benchmarks/dataset_table.py: the per-dataset tables of docs/text-rich.md (mean ± std over
seeds, each column from its own protocol)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from .conftest import REPO


def _module():
    spec = importlib.util.spec_from_file_location("dataset_table",
                                                  REPO / "benchmarks" / "dataset_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results(full_ndcg: float, sampled_ndcg: float, tail: float) -> dict:
    metrics = {"hit@10": 0.1, "ndcg@10": full_ndcg, "ndcg@20": 0.2}
    return {"test": {"full": metrics, "sampled": {"hit@10": 0.5, "ndcg@10": sampled_ndcg}},
            "valid": {"full": metrics},
            "slices": {"test": {"full": {"item_tail": {"ndcg@10": tail}}}},
            "timing": {"total_s": 100.0}}


def test_a_row_is_the_mean_and_spread_of_its_seeds_per_protocol(tmp_path):
    folder = tmp_path / "sasrec"
    for seed, (full, sampled, tail) in enumerate([(0.05, 0.30, 0.01), (0.07, 0.34, 0.03)], 1):
        (folder / f"seed{seed}").mkdir(parents=True)
        (folder / f"seed{seed}" / "results.json").write_text(
            json.dumps(_results(full, sampled, tail)))
    table = _module().table([folder]).splitlines()
    header = [c.strip() for c in table[0].split("|")]
    cells = dict(zip(header, (c.strip() for c in table[2].split("|")), strict=True))
    assert cells["model"] == "sasrec" and cells["seeds"] == "2"
    assert cells["test full N@10"] == "0.0600 ± 0.0141"
    assert cells["sampled N@10"] == "0.3200 ± 0.0283"
    assert cells["tail N@10"] == "0.0200 ± 0.0141"
    assert cells["head N@10"] == "–"  # not in these results: never a made-up figure


def test_a_run_that_did_not_finish_is_named(tmp_path):
    (tmp_path / "adapter" / "seed1").mkdir(parents=True)
    with pytest.raises(SystemExit, match="seed1"):
        _module().table([tmp_path / "adapter" / "seed1"])
