"""A text cache key names what is written: without scipy the template has no "also liked"."""

from __future__ import annotations

import hashlib
import logging
import sys

import numpy as np
import pytest

from ur4rec.config import TextsConfig
from ur4rec.text.generate import generate_texts
from ur4rec.text.sources import default_texts_dir
from ur4rec.text.template import TEMPLATE_VERSION, template_texts
from ur4rec.text.versions import backend_identity


class HashEncoder:
    """A stand-in sentence encoder: fast, deterministic, 384-d."""

    def encode(self, texts, **_):
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest() * 12, dtype=np.uint8)[:384]
                for t in texts]
        return np.stack(rows).astype(np.float32) / 255


@pytest.fixture
def no_scipy(monkeypatch):
    """``import scipy`` fails, as where the text extra is not installed."""
    def block():
        for name in [m for m in sys.modules if m == "scipy" or m.startswith("scipy.")]:
            monkeypatch.setitem(sys.modules, name, None)
        monkeypatch.setitem(sys.modules, "scipy", None)
    return block


def test_without_scipy_the_template_identity_and_folder_differ(films, no_scipy, tmp_path,
                                                              monkeypatch, caplog):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    config = TextsConfig()
    full = backend_identity("template", config)
    assert full == ("template", TEMPLATE_VERSION)
    full_items = template_texts(films)[1]
    assert any("also liked" in text for text in full_items)
    no_scipy()
    with caplog.at_level(logging.WARNING, logger="ur4rec.text.catalog"):
        reduced_items = template_texts(films)[1]
    assert not any("also liked" in text for text in reduced_items)
    assert "scipy is not installed" in caplog.text
    reduced = backend_identity("template", config)
    assert reduced != full and reduced[1] == f"{TEMPLATE_VERSION}-noneighbours"
    assert default_texts_dir(films, "template", *reduced) != default_texts_dir(
        films, "template", *full)
    written = generate_texts(films, "template", config, tmp_path / "out")
    assert written.provenance["prompt_version"] == reduced[1]


def test_without_scipy_the_llm_prompt_version_differs(no_scipy, monkeypatch):
    config = TextsConfig(openai_model="some-model")
    full = backend_identity("openai", config)
    no_scipy()
    model, version = backend_identity("openai", config)
    assert model == full[0] and version == f"{full[1]}-noneighbours"


def test_texts_cached_with_scipy_are_not_read_without_it(films, no_scipy, tmp_path,
                                                        monkeypatch):
    from ur4rec.config import RunConfig
    from ur4rec.text import encode
    from ur4rec.text.pipeline import texts_for_run

    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(encode, "load_encoder", lambda location, device=None: HashEncoder())
    config = RunConfig(model="ur4rec")
    first = texts_for_run(config, films, tmp_path / "run1", None)
    no_scipy()
    second = texts_for_run(config, films, tmp_path / "run2", None)
    assert first.info["origin"] == "generated" and second.info["origin"] == "generated"
    assert second.info["dir"] != first.info["dir"]
    assert second.info["prompt_version"] == f"{TEMPLATE_VERSION}-noneighbours"


def test_texts_without_item_statistics_have_their_own_version_and_folder(films, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    bare = TextsConfig(item_statistics=False)
    model, version = backend_identity("template", bare)
    assert version == f"{TEMPLATE_VERSION}-noitemstats"
    assert default_texts_dir(films, "template", model, version) != default_texts_dir(
        films, "template", *backend_identity("template", TextsConfig()))
    llm = backend_identity("openai", TextsConfig(openai_model="m", item_statistics=False))
    assert llm[1] == backend_identity("openai", TextsConfig(openai_model="m"))[1] + "-noitemstats"
    written = generate_texts(films, "template", bare, tmp_path / "out")
    assert written.provenance["prompt_version"] == version
    assert not any("viewers" in text or "also liked" in text for text in written.items.values())
