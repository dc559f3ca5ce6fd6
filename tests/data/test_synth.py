"""`ur4rec data synth`: MovieLens-shaped synthetic logs, exact sizes, seeded, ready to prepare."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ur4rec import api
from ur4rec.cli import main
from ur4rec.config import ColumnNames, DataConfig
from ur4rec.data.prepared import prepare_dataset
from ur4rec.data.synth import history_lengths, synth_stats, synthesize
from ur4rec.errors import DataError

SIZES = (150, 1_500, 15_000)  # ~100 per user, like ML-100K


@pytest.fixture(scope="module")
def small():
    return synthesize(*SIZES, seed=7)


def test_sizes_are_exact_and_pairs_unique(small):
    frame, items = small
    users, num_items, interactions = SIZES
    assert len(frame) == interactions and frame.attrs["shortfall"] == 0
    assert list(frame.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert sorted(frame["user_id"].unique()) == list(range(1, users + 1))
    assert frame["item_id"].between(1, num_items).all()
    assert not frame.duplicated(["user_id", "item_id"]).any()
    assert frame.groupby("user_id").size().min() >= 3
    assert set(frame["rating"].unique()) <= {1, 2, 3, 4, 5}
    assert list(items.columns) == ["item_id", "title", "year", "genres"]
    assert items["item_id"].tolist() == list(range(1, num_items + 1))
    assert items["year"].between(1950, 2020).all()
    genres = items["genres"].str.split("|")
    assert genres.map(len).between(1, 3).all() and genres.map(lambda g: len(set(g)) == len(g)).all()
    assert items["title"].nunique() > 0.8 * num_items


def test_timestamps_increase_along_every_history(small):
    frame, _ = small
    same_user = frame["user_id"].to_numpy()[1:] == frame["user_id"].to_numpy()[:-1]
    assert (np.diff(frame["timestamp"].to_numpy())[same_user] > 0).all()
    starts = frame.groupby("user_id")["timestamp"].min()
    assert starts.max() - starts.min() > 365 * 86_400  # users start across a window of years


def test_popularity_is_a_power_law_and_taste_is_learnable(small):
    frame, items = small
    stats = synth_stats(frame["user_id"].to_numpy(), frame["item_id"].to_numpy(), SIZES[1])
    assert stats["top20_item_share"] > 0.45  # uniform popularity would give about 0.2
    assert stats["item_gini"] > 0.35
    # users concentrate on their genres: users' genre mixes stray from the overall mix far
    # more than after shuffling the items across users (same counts, no taste)
    genres = items["genres"].str.split("|")
    names = sorted({g for gs in genres for g in gs})
    has = np.zeros((len(items) + 1, len(names)), dtype=float)
    for row, gs in zip(items["item_id"], genres, strict=True):
        has[row, [names.index(g) for g in gs]] = 1.0

    def spread(item_ids: np.ndarray) -> float:
        shares = pd.DataFrame(has[item_ids]).groupby(frame["user_id"].to_numpy()).mean()
        return float(((shares - has[item_ids].mean(axis=0)) ** 2).sum(axis=1).mean())

    shuffled = np.random.default_rng(0).permutation(frame["item_id"].to_numpy())
    assert spread(frame["item_id"].to_numpy()) > 2.5 * spread(shuffled)


def test_same_seed_same_data_other_seed_other_data(small):
    frame, items = small
    again, again_items = synthesize(*SIZES, seed=7)
    pd.testing.assert_frame_equal(frame, again)
    pd.testing.assert_frame_equal(items, again_items)
    other, _ = synthesize(*SIZES, seed=8)
    assert not frame.equals(other)


def test_lengths_add_up_and_respect_caps():
    rng = np.random.default_rng(0)
    lengths = history_lengths(500, 40, 6_000, rng)
    assert lengths.sum() == 6_000 and lengths.min() >= 5 and lengths.max() <= 20
    # a dense, small catalogue: heavy users run out of popular items and are topped up
    frame, _ = synthesize(50, 40, 900, seed=1)
    assert len(frame) == 900 and not frame.duplicated(["user_id", "item_id"]).any()
    assert frame.groupby("user_id").size().max() <= 20


def test_odd_catalogue_states_its_shortfall():
    frame, _ = synthesize(10, 11, 55, seed=0)  # 10 × (11 // 2) = 50 fit
    assert len(frame) == 50 and frame.attrs["shortfall"] == 5


@pytest.mark.parametrize(("args", "message"), [
    (["--users", "0"], "--users must be a positive number"),
    (["--items", "-3"], "--items must be a positive number"),
    (["--interactions", "0"], "--interactions must be a positive number"),
    (["--interactions", "500"], "below 3 × --users"),
    (["--interactions", "100000"], "above --users × --items / 2"),
])
def test_bad_sizes_are_one_line_errors(tmp_path, capsys, args, message):
    base = {"--users": "200", "--items": "300", "--interactions": "8000"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["data", "synth", *[x for pair in base.items() for x in pair], "--out",
            str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ur4rec: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "out" / "interactions.parquet").exists()


def test_unwritable_out_names_the_flag(tmp_path, capsys, monkeypatch):
    """A folder the user may not write (simulated: tests may run as root, who may)."""
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if "locked" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert main(["data", "synth", "--users", "20", "--items", "30", "--interactions", "200",
                 "--out", str(tmp_path / "locked" / "out")]) == 2
    assert "--out" in capsys.readouterr().err


def test_out_that_is_a_file_names_the_flag(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="--out"):
        main(["--debug", "data", "synth", "--users", "20", "--items", "30",
              "--interactions", "200", "--out", str(tmp_path / "file" / "out")])


def test_cli_files_are_deterministic_and_csv_works(tmp_path, capsys):
    argv = ["data", "synth", "--users", "40", "--items", "60", "--interactions", "600"]
    assert main([*argv, "--seed", "3", "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--seed", "3", "--out", str(tmp_path / "b")]) == 0
    assert main([*argv, "--seed", "4", "--out", str(tmp_path / "c")]) == 0
    assert main([*argv, "--seed", "3", "--format", "csv", "--out", str(tmp_path / "d")]) == 0
    capsys.readouterr()
    for name in ("interactions.parquet", "items.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "interactions.parquet").read_bytes() != (
        tmp_path / "c" / "interactions.parquet").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "interactions.parquet"),
                                  pd.read_csv(tmp_path / "d" / "interactions.csv"),
                                  check_dtype=False)
    stats = json.loads((tmp_path / "a" / "stats.json").read_text())
    assert stats["synthetic"]["interactions"] == 600 and stats["ml100k"] is None


def test_synth_prepare_and_one_sasrec_epoch(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["data", "synth", "--users", "40", "--items", "500", "--interactions", "800",
                 "--seed", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "top20_item_share" in printed and "history_median" in printed
    command = shlex.split(printed.strip().splitlines()[-1])
    assert command[:3] == ["ur4rec", "data", "prepare"]
    assert main(["--quiet", *command[1:], "--out", str(tmp_path / "prepared")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["users"] == 40 and summary["interactions"] == 800
    data = prepare_dataset(DataConfig(
        dataset=command[command.index("--dataset") + 1], path=out / "interactions.parquet",
        columns=ColumnNames(rating="rating"), item_metadata=out / "items.csv"),
        tmp_path / "prepared")
    assert data.items["title"].notna().all() and data.items["genres"].map(len).min() >= 1
    config = tmp_path / "synth.yaml"
    config.write_text(f"model: sasrec\ndata: {{dataset: {data.name}, path: "
                      f"{out / 'interactions.parquet'}, item_metadata: {out / 'items.csv'}, "
                      f"columns: {{rating: rating}}, "
                      f"prepared_dir: {tmp_path / 'prepared'}}}\n"
                      "sasrec: {hidden_dim: 8, num_blocks: 1, max_seq_len: 20}\n"
                      "training: {epochs_per_stage: 1}\n")
    results = api.train(config, tmp_path / "run", progress=False)
    assert results["dataset"]["users"] == 40
