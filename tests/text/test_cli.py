"""``ur4rec texts …`` end to end (subprocess) and in-process for the cheaper paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from ur4rec.text import encode

from .test_io import texts_cli
from .test_pipeline import HashEncoder


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "TQDM_DISABLE": "1", **env}
    environment.pop("OPENAI_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "ur4rec", *args], capture_output=True,
                          text=True, env=environment)


def test_generate_template_from_a_prepared_folder(films, tmp_path):
    films.save(tmp_path / "data")
    result = run_cli("texts", "generate", "--data", str(tmp_path / "data"), "--out",
                     str(tmp_path / "texts"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["users"] == films.num_users and summary["items"] == films.num_items
    assert summary["complete"] is True and summary["backend"] == "template"
    shown = run_cli("texts", "show", "--texts", str(tmp_path / "texts"), "--users", "u0",
                    "--items", "1")
    assert json.loads(shown.stdout)["items"]["1"].startswith("Film Number 1 (1951)")


def test_missing_api_key_is_one_line_and_writes_nothing(films, tmp_path):
    films.save(tmp_path / "data")
    result = run_cli("texts", "generate", "--data", str(tmp_path / "data"), "--backend",
                     "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
                     "--out", str(tmp_path / "texts"),
                     UR4REC_CACHE_DIR=str(tmp_path / "cache"))
    assert result.returncode == 2
    assert result.stderr.strip() == ("ur4rec: error: the openai backend needs an API key in the "
                                     "environment variable OPENAI_API_KEY (any non-empty value "
                                     "for servers that need none)")
    assert not (tmp_path / "texts").exists()


def test_unknown_ids_in_an_import_are_one_line(films, tmp_path):
    films.save(tmp_path / "data")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "user_preferences.json").write_text('{"nobody": "x", "u1": "y"}')
    result = run_cli("texts", "import", "--data", str(tmp_path / "data"), "--from",
                     str(tmp_path / "src"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "1 ids are not users of dataset 'films'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_encode_writes_vectors_and_counts_cached_texts(films, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(encode, "load_encoder", lambda location, device=None: HashEncoder())
    films.save(tmp_path / "data")
    texts_cli("generate", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "t"))
    capsys.readouterr()
    for expected_encoded in (films.num_users + films.num_items, 0):
        assert texts_cli("encode", "--data", str(tmp_path / "data"), "--texts",
                         str(tmp_path / "t"), "--no-progress") == 0
        report = json.loads(capsys.readouterr().out)
        assert report["encoded"] == expected_encoded
    with np.load(tmp_path / "t" / "embeddings.npz") as arrays:
        assert arrays["user_vectors"].shape == (films.num_users, 384)
        assert arrays["item_vectors"].shape == (films.num_items + 1, 384)
        assert not arrays["item_vectors"][0].any()
