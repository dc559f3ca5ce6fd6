"""Import/export in the prototype's format, and the provenance that decides what leaks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ur4rec.config import TextsConfig
from ur4rec.errors import DataError
from ur4rec.text.cli import cmd_texts, register
from ur4rec.text.generate import generate_texts
from ur4rec.text.io import (
    ITEM_FILE,
    PROVENANCE_FILE,
    USER_FILE,
    read_text_folder,
    read_texts_file,
)

PROTOTYPE = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-100k-llm"
PROTOTYPE_EXCERPT = Path(__file__).resolve().parents[1] / "data" / "prototype_texts"


def texts_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return cmd_texts(parser.parse_args(["texts", *argv]))


def save(data, folder: Path) -> Path:
    data.save(folder)
    return folder


def write(folder: Path, users: dict | None = None, items: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if users is not None:
        (folder / USER_FILE).write_text(json.dumps(users))
    if items is not None:
        (folder / ITEM_FILE).write_text(json.dumps(items))
    return folder


@pytest.mark.slow
def test_the_prototype_files_import_and_are_marked_possibly_leaking(ml100k, tmp_path, capsys):
    # the whole files where the workplace has them, else the committed excerpt
    source = PROTOTYPE if PROTOTYPE.is_dir() else PROTOTYPE_EXCERPT
    users = len(read_texts_file(source / USER_FILE))
    items = len(read_texts_file(source / ITEM_FILE))
    if source == PROTOTYPE:
        assert (users, items) == (938, 1659)
    out = tmp_path / "imported"
    assert texts_cli("import", "--data", str(ml100k.folder), "--from", str(source),
                     "--out", str(out), *(["--allow-partial"] if source != PROTOTYPE else [])) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"folder": str(out), "users": users, "items": items,
                       "possibly_leaking": True,
                       "dropped": {"user": {"unknown": 0, "empty": 0},
                                   "item": {"unknown": 0, "empty": 0}}}
    folder = read_text_folder(out, ml100k)
    assert folder.possibly_leaking and len(folder.users.texts) == users
    prototype = read_texts_file(source / ITEM_FILE)
    assert folder.items.texts[1] == prototype["1"].strip()  # movie 1 is Toy Story: index 1


def test_ids_unknown_to_the_dataset_are_an_error_naming_file_and_ids(films, tmp_path):
    data_dir = save(films, tmp_path / "data")
    source = write(tmp_path / "src", users={"u0": "likes films", "ghost": "who?"})
    with pytest.raises(DataError, match=r"user_preferences.json: 1 ids are not users of "
                                        r"dataset 'films' \(e.g. \['ghost'\]\)"):
        texts_cli("import", "--data", str(data_dir), "--from", str(source),
                  "--out", str(tmp_path / "out"))
    assert texts_cli("import", "--data", str(data_dir), "--from", str(source), "--out",
                     str(tmp_path / "out"), "--allow-partial") == 0
    assert read_texts_file(tmp_path / "out" / USER_FILE) == {"u0": "likes films"}


def test_a_file_for_another_dataset_is_an_error(films, tmp_path):
    source = write(tmp_path / "src", items={"9991": "x", "9992": "y"})
    with pytest.raises(DataError, match="none of its 2 ids is an item of this dataset"):
        read_text_folder(source, films)


def test_empty_texts_are_an_error_or_dropped_explicitly(films, tmp_path):
    data_dir = save(films, tmp_path / "data")
    source = write(tmp_path / "src", items={"1": "A film.", "2": "   "})
    with pytest.raises(DataError, match=r"1 texts are empty \(ids \['2'\]\)"):
        texts_cli("import", "--data", str(data_dir), "--items", str(source / ITEM_FILE),
                  "--out", str(tmp_path / "out"))
    assert read_text_folder(source, films).items.empty == ["2"]


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object mapping ids to texts, got a list"),
    ('{"1": 5}', "the value of id '1' must be a string, got int"),
])
def test_malformed_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / ITEM_FILE
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_texts_file(path)


def test_only_ur4rec_provenance_for_this_dataset_clears_user_texts(films, tiny_data, tmp_path):
    out = tmp_path / "generated"
    generate_texts(films, "template", TextsConfig(), out)
    assert not read_text_folder(out, films).possibly_leaking
    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    provenance["fingerprint"] = "another-split"
    (out / PROVENANCE_FILE).write_text(json.dumps(provenance))
    assert read_text_folder(out, films).possibly_leaking  # written from another split's history
    (out / PROVENANCE_FILE).unlink()
    assert read_text_folder(out, films).possibly_leaking


def test_importing_ur4rec_texts_keeps_them_leakage_free(films, tmp_path):
    data_dir = save(films, tmp_path / "data")
    generate_texts(films, "template", TextsConfig(), tmp_path / "generated")
    texts_cli("import", "--data", str(data_dir), "--from", str(tmp_path / "generated"),
              "--out", str(tmp_path / "copy"))
    assert not read_text_folder(tmp_path / "copy", films).possibly_leaking


def test_export_writes_every_text_with_fallbacks_counted(films, tmp_path, capsys):
    data_dir = save(films, tmp_path / "data")
    source = write(tmp_path / "src", users={"u0": "Loves long films."})
    assert texts_cli("export", "--data", str(data_dir), "--texts", str(source),
                     "--out", str(tmp_path / "out")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["fallback"] == {"backend": "template", "users": films.num_users - 1,
                                   "items": films.num_items}
    users = read_texts_file(tmp_path / "out" / USER_FILE)
    assert users["u0"] == "Loves long films." and len(users) == films.num_users
    assert len(read_texts_file(tmp_path / "out" / ITEM_FILE)) == films.num_items
