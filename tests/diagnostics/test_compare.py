"""compare: only differing config keys, final metrics side by side, best in bold."""

from __future__ import annotations

import pytest

from ur4rec.diagnostics.compare import compare_runs, flatten
from ur4rec.errors import UR4RecError

from .synthetic import healthy_sasrec_rows, results_for, write_run


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": [1]}}, "e": 2}) == {"a.b": 1, "a.c.d": [1], "e": 2}


def test_plan_a_vs_plan_b(tmp_path):
    a = write_run(tmp_path / "plan_a", healthy_sasrec_rows(),
                  {"sasrec": {"hidden_dim": 128}, "training": {"sasrec_lr": 0.001}},
                  results=results_for(5.0))
    b = write_run(tmp_path / "plan_b", healthy_sasrec_rows(),
                  {"sasrec": {"hidden_dim": 64}, "training": {"sasrec_lr": 0.005}},
                  results=results_for(6.0))
    table = compare_runs([a, b])
    lines = table.splitlines()
    assert lines[0] == "| | plan_a | plan_b |"
    assert "| `sasrec.hidden_dim` | 128 | 64 |" in lines
    assert "| `training.sasrec_lr` | 0.001 | 0.005 |" in lines
    assert not any("training.batch_size" in line for line in lines)  # same in both
    ndcg = next(line for line in lines if line.startswith("| test sampled ndcg@10"))
    assert ndcg.endswith(f"| **{results_for(6.0)['test']['sampled']['ndcg@10']:.4f}** |")


def _cold_section(valid: float, test: float) -> dict:
    half = lambda value: {"metrics": {"full": {"ndcg@10": value}}}  # noqa: E731
    return {"metrics": {"full": {"ndcg@10": (valid + test) / 2},
                        "sampled": {"ndcg@10": valid + test}},
            "chance": {"full": {"ndcg@10": 0.0288}}, "users": 926, "cold_items": 168,
            "valid": half(valid), "test": half(test)}


def test_cold_items_get_their_own_table_with_the_halves(tmp_path):
    a = write_run(tmp_path / "map", healthy_sasrec_rows(),
                  results=results_for(5.0, cold=_cold_section(0.30, 0.20)))
    b = write_run(tmp_path / "adapter", healthy_sasrec_rows(),
                  results=results_for(5.0, cold=_cold_section(0.25, 0.28)))
    warm = write_run(tmp_path / "warm", healthy_sasrec_rows(), results=results_for(5.0))
    lines = compare_runs([a, b, warm]).splitlines()
    assert "| **cold items** (data.cold_items) | map | adapter | warm |" in lines
    valid = next(line for line in lines if "valid half (choose here)" in line)
    assert valid.endswith("| **0.3000** | 0.2500 | — |")
    test = next(line for line in lines if "test half (quote this)" in line)
    assert test.endswith("| 0.2000 | **0.2800** | — |")
    assert "| cold users | 926 | 926 | — |" in lines
    assert "cold items" not in compare_runs([warm, warm])  # no cold data: no table


def test_missing_results_shown_as_dash(tmp_path):
    a = write_run(tmp_path / "a", healthy_sasrec_rows())
    b = write_run(tmp_path / "b", healthy_sasrec_rows(), results=None)
    assert "—" in compare_runs([a, b]) and "(identical configs)" in compare_runs([a, b])


def test_same_folder_names_use_paths(tmp_path):
    a = write_run(tmp_path / "x" / "run", healthy_sasrec_rows())
    b = write_run(tmp_path / "y" / "run", healthy_sasrec_rows())
    assert str(a) in compare_runs([a, b]).splitlines()[0]


def test_not_a_run(tmp_path):
    with pytest.raises(UR4RecError, match="config.yaml is missing"):
        compare_runs([tmp_path])
