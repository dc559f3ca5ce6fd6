"""The diagnose / plot / compare commands, through this part's ``register``.

(``ur4rec.cli.main`` registers the parts again on every call, so it runs once per process:
the error path is checked in a subprocess.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from ur4rec.diagnostics.cli import COMMANDS, register

from .synthetic import healthy_sasrec_rows, results_for, write_run


def run_command(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


def test_commands_are_registered():
    assert set(COMMANDS) == {"diagnose", "plot", "compare"}


def test_diagnose_prints_and_writes(tmp_path, capsys):
    run = write_run(tmp_path, healthy_sasrec_rows(), results=results_for(1.05))
    assert run_command("diagnose", str(run)) == 0
    out = capsys.readouterr().out
    assert "Metrics at chance level" in out and (run / "diagnosis.md").exists()
    assert run_command("diagnose", "--strict", str(run)) == 1


def test_diagnose_error_is_one_line_through_the_real_cli(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ur4rec", "diagnose", str(tmp_path / "nope")],
                          capture_output=True, text=True, env={**os.environ})
    assert done.returncode == 2
    assert done.stderr.startswith("ur4rec: error:") and done.stderr.count("\n") == 1


def test_plot_command(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert run_command("plot", str(write_run(tmp_path, healthy_sasrec_rows()))) == 0
    assert "losses.png" in capsys.readouterr().out


def test_compare_command_writes_output(tmp_path, capsys):
    a = write_run(tmp_path / "a", healthy_sasrec_rows())
    b = write_run(tmp_path / "b", healthy_sasrec_rows(), {"training": {"batch_size": 32}})
    out_file = tmp_path / "cmp.md"
    assert run_command("compare", str(a), str(b), "--output", str(out_file)) == 0
    assert "`training.batch_size`" in capsys.readouterr().out
    assert out_file.read_text().startswith("| | a | b |")
