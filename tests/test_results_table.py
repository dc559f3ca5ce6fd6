"""The table `ur4rec train` / `evaluate` print: test rows always, cold rows only with cold data."""

from __future__ import annotations

from ur4rec.api import format_results_table

KEYS = ("hit@5", "hit@10", "hit@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr", "avg_rank")


def _metrics(value: float) -> dict[str, float]:
    return {key: value for key in KEYS}


def _results(**extra) -> dict:
    return {"model": "sasrec", "dataset": {"name": "tiny", "users": 3, "items": 9},
            "test": {"sampled": _metrics(0.5), "full": _metrics(0.1)}, **extra}


def test_a_warm_run_prints_only_the_test_rows():
    lines = format_results_table(_results()).splitlines()
    assert [line.split(" | ")[0] for line in lines[3:]] == ["| test sampled", "| test full"]


def test_a_cold_run_adds_all_cold_items_and_both_halves():
    cold = {"metrics": {"sampled": _metrics(0.3), "full": _metrics(0.2)},
            "valid": {"metrics": {"full": _metrics(0.25)}},
            "test": {"metrics": {}}}  # a half without cases has no metrics: no row
    lines = format_results_table(_results(cold=cold)).splitlines()
    names = [line.split(" | ")[0] for line in lines[3:]]
    assert names == ["| test sampled", "| test full", "| cold sampled", "| cold full",
                     "| cold full, valid half"]
    assert lines[-1].startswith("| cold full, valid half | 0.2500 |")
