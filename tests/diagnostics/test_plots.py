"""plot_run writes viewable PNGs, and copes with runs that lack the UR4Rec fields."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from ur4rec.diagnostics.plots import plot_run  # noqa: E402

from .synthetic import (  # noqa: E402
    UR4REC_CONFIG,
    healthy_sasrec_rows,
    healthy_ur4rec_rows,
    results_for,
    write_run,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_pngs(paths):
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5_000, path


def test_sasrec_run_gets_the_common_plots(tmp_path):
    paths = plot_run(write_run(tmp_path, healthy_sasrec_rows()))
    assert [p.name for p in paths] == ["losses.png", "validation.png", "optimisation.png"]
    assert all(p.parent == tmp_path / "plots" for p in paths)
    _assert_pngs(paths)


def test_ur4rec_run_gets_memory_and_routing_plots(tmp_path):
    paths = plot_run(write_run(tmp_path, healthy_ur4rec_rows(), UR4REC_CONFIG))
    assert {p.name for p in paths} >= {"memory.png", "routing.png"}
    _assert_pngs(paths)


def test_partial_fields_and_nan_do_not_crash(tmp_path):
    rows = healthy_ur4rec_rows()
    for row in rows[::2]:
        del row["memory"], row["routing"], row["lr"], row["targets"]
    rows[-1]["losses"]["loss"] = float("nan")
    _assert_pngs(plot_run(write_run(tmp_path, rows, UR4REC_CONFIG)))


def test_run_without_epochs_gets_no_plots(tmp_path):
    run = write_run(tmp_path, None, {"model": "pop"}, results=results_for(3.0, model="pop"),
                    info={"stages": []})
    assert plot_run(run) == []


def test_run_whose_only_epoch_diverged_gets_plots_without_validation(tmp_path):
    # a run that diverged in its first epoch logs one row with valid: {} (the trainer never
    # validates a diverged epoch); plotting it ended in an IndexError
    row = healthy_sasrec_rows()[0]
    row.update(valid={}, best=False, diverged=True, non_finite_loss=True,
               losses={"loss": float("nan"), "sasrec": float("nan")})
    paths = plot_run(write_run(tmp_path, [row]))
    assert [p.name for p in paths] == ["losses.png", "optimisation.png"]
