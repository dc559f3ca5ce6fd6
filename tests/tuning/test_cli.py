"""``ur4rec tune``: bad input is one line, before any study is written."""

from __future__ import annotations

from ur4rec.cli import main


def test_tune_with_a_bad_space_is_one_line(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("sasrec.hiden_dim: {type: int, low: 8, high: 64}\n")
    assert main(["tune", "--config", "configs/sasrec_ml100k.yaml", "--space", str(space),
                 "--trials", "2", "--study-dir", str(tmp_path / "study")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'sasrec.hiden_dim'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "study").exists()


def test_tune_with_an_unknown_metric_is_one_line(tmp_path, capsys):
    assert main(["tune", "--config", "configs/sasrec_ml100k.yaml", "--space",
                 "configs/tune_space_sasrec.yaml", "--trials", "2", "--study-dir",
                 str(tmp_path / "study"), "--metric", "avg_rank"]) == 2
    assert "--metric 'avg_rank' is not one of" in capsys.readouterr().err
