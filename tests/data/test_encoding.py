"""Bytes that do not decode are an error naming file, line and byte offset —
never a replacement character that makes "café" and "cafè" one item."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ur4rec.cli import main
from ur4rec.config import ColumnNames, DataConfig
from ur4rec.data.converters import amazon_items
from ur4rec.data.loaders import load_table_dataset
from ur4rec.data.prepared import prepare_dataset
from ur4rec.errors import ConfigError, DataError

from ..conftest import synthetic_interactions


def latin1_log(folder: Path) -> Path:
    """A CSV in Latin-1 whose users rate two items spelled café and cafè."""
    lines = ["user_id,item_id,timestamp"]
    lines += [f"{u},{i},{i}" for u, i, _, _ in
              synthetic_interactions(num_users=20, num_items=40, length=6).to_numpy()]
    lines += ["u0,café,100", "u1,cafè,100", "u2,café,100"]
    path = folder / "log.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return path


def test_latin1_ids_are_an_error_naming_line_and_offset(tmp_path):
    path = latin1_log(tmp_path)
    raw = path.read_bytes()
    offset = raw.index("café".encode("latin-1")) + 3
    line = raw[:offset].count(b"\n") + 1
    with pytest.raises(DataError) as caught:
        load_table_dataset(path, "csv", ColumnNames(), "mine")
    message = str(caught.value)
    assert f"{path}: line {line} (byte offset {offset}) is not valid utf-8" in message
    assert "--encoding latin-1" in message and "\n" not in message


def test_with_the_encoding_named_they_are_two_items(tmp_path):
    path = latin1_log(tmp_path)
    data = load_table_dataset(path, "csv", ColumnNames(), "mine", encoding="latin-1")
    assert {"café", "cafè"} <= set(data.interactions["item"])
    prepared = prepare_dataset(DataConfig(dataset="mine", path=path, encoding="latin-1",
                                          num_candidates=5), tmp_path / "p")
    assert {"café", "cafè"} <= set(prepared.items["item"])


def test_the_command_line_says_it_in_one_line_and_takes_encoding(tmp_path, capsys):
    path = latin1_log(tmp_path)
    command = ["data", "prepare", "--dataset", "mine", "--path", str(path),
               "--out", str(tmp_path / "p")]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "is not valid utf-8" in err and len(err.strip().splitlines()) == 1
    assert main([*command, "--encoding", "latin-1"]) == 2  # 100 candidates from 42 items
    assert "fewer than 99 remain" in capsys.readouterr().err  # read: the ids decoded
    assert main([*command, "--encoding", "klingon"]) == 2
    err = capsys.readouterr().err
    assert "unknown text encoding 'klingon'" in err and len(err.strip().splitlines()) == 1


def test_the_item_metadata_file_is_checked_too(tmp_path):
    log = tmp_path / "log.csv"
    synthetic_interactions().rename(columns={"user": "user_id", "item": "item_id"}).to_csv(
        log, index=False)
    items = tmp_path / "items.csv"
    items.write_bytes("item_id,title\n1,Café Society\n".encode("latin-1"))
    config = DataConfig(dataset="mine", path=log, item_metadata=items, num_candidates=5)
    with pytest.raises(DataError, match=rf"{items}: line 2 \(byte offset 19\)"):
        prepare_dataset(config, tmp_path / "p")
    data = prepare_dataset(config.model_copy(update={"encoding": "latin-1"}), tmp_path / "p")
    assert data.items.set_index("item").loc["1", "title"] == "Café Society"


def test_offsets_are_exact_across_read_blocks(tmp_path):
    """The check streams 1 MiB blocks: a character split between two blocks is fine, and the
    bad byte after it is found at its true line and offset."""
    from ur4rec.data.loaders import undecodable

    head = b"a" * ((1 << 20) - 1) + "é".encode() + b"\nline two\n"  # é spans the boundary
    path = tmp_path / "big.csv"
    path.write_bytes(head + b"caf\xe9\n")
    error = undecodable(path, "utf-8", path.open)
    assert error is not None
    assert f"line 3 (byte offset {len(head) + 3})" in str(error)
    path.write_bytes(head + "café\n".encode())
    assert undecodable(path, "utf-8", path.open) is None
    path.write_bytes(b"ok\n" + "é".encode()[:1])  # cut inside the last character
    assert "line 2 (byte offset 3)" in str(undecodable(path, "utf-8", path.open))


def test_a_preset_refuses_an_encoding():
    with pytest.raises(DataError, match="data.encoding is set"):
        prepare_dataset(DataConfig(dataset="ml-100k", encoding="latin-1"))
    from ur4rec.config import data_config_from_dict

    with pytest.raises(ConfigError, match="unknown text encoding"):
        data_config_from_dict({"encoding": "nope"}, "test")


def test_converters_name_the_undecodable_line(tmp_path):
    path = tmp_path / "meta.json.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b'{"asin": "B1", "title": "ok"}\n{"asin": "B2", "title": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"line 2 \(byte offset 58\).*iconv"):
        amazon_items(path)
