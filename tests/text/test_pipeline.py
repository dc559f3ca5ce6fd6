"""texts_for_run: what training reads — vectors, explicit fallbacks, leakage labels, caching."""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
import pytest

from ur4rec.config import RunConfig, TextsConfig
from ur4rec.errors import ConfigError
from ur4rec.text import encode, pipeline
from ur4rec.text.generate import generate_texts
from ur4rec.text.io import ITEM_FILE, USER_FILE
from ur4rec.text.pipeline import texts_for_run

from .fake_openai import FakeBehaviour, FakeOpenAIServer

DIM = 384


class HashEncoder:
    """A stand-in sentence encoder: fast, deterministic, 384-d (the real one is tested apart)."""

    calls = 0

    def encode(self, texts, **_):
        HashEncoder.calls += 1
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest() * 48, dtype=np.uint8)[:DIM]
                for t in texts]
        return np.stack(rows).astype(np.float32) / 255


@pytest.fixture(autouse=True)
def fast_encoder(tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(encode, "load_encoder", lambda location, device=None: HashEncoder())
    HashEncoder.calls = 0


def config(**texts) -> RunConfig:
    return RunConfig(model="ur4rec", texts=TextsConfig(**texts))


def test_default_template_texts_become_vectors_with_padding_row(films, tmp_path):
    run = texts_for_run(config(), films, tmp_path / "run", None)
    assert run.user_vectors.shape == (films.num_users, DIM)
    assert run.item_vectors.shape == (films.num_items + 1, DIM)
    assert run.user_vectors.dtype == np.float32 and not run.item_vectors[0].any()
    assert not run.user_fallback.any() and not run.item_fallback.any()
    info = run.describe()
    assert info["backend"] == "template" and info["origin"] == "generated"
    assert info["possibly_leaking"] is False and info["leaking_users"] == 0
    assert info["prompt_version"] == "template-v1" and info["dim"] == DIM
    record = json.loads((tmp_path / "run" / "texts.json").read_text())
    assert record["dir"] == info["dir"] and record["texts_config"]["backend"] == "template"
    json.dumps(info)


def test_a_second_run_reads_everything_from_the_caches(films, tmp_path, monkeypatch):
    first = texts_for_run(config(), films, tmp_path / "run1", None)
    calls = HashEncoder.calls
    monkeypatch.setattr(pipeline, "generate_texts", lambda *a, **k: pytest.fail("regenerated"))
    second = texts_for_run(config(), films, tmp_path / "run2", None)
    assert second.info["origin"] == "cached" and HashEncoder.calls == calls
    assert np.array_equal(first.user_vectors, second.user_vectors)
    assert second.info["encoding"]["encoded"] == 0


def test_imported_texts_are_labelled_leaking_and_gaps_fall_back_visibly(films, tmp_path):
    source = tmp_path / "llm"
    source.mkdir()
    users = {str(films.user_ids[u]): f"Prototype text for user {u}." for u in range(10)}
    users["not-a-user"] = "ignored, and counted"
    (source / USER_FILE).write_text(json.dumps(users))
    items = {str(films.item_ids[i]): f"Prototype text for item {i}." for i in range(1, 21)}
    items[str(films.item_ids[21])] = ""
    (source / ITEM_FILE).write_text(json.dumps(items))
    run = texts_for_run(config(), films, tmp_path / "run", source)
    info = run.describe()
    assert info["origin"] == "imported" and info["possibly_leaking"] is True
    assert info["leaking_users"] == 10
    assert info["fallback"]["users"] == films.num_users - 10
    assert info["fallback"]["items"] == films.num_items - 20
    assert info["fallback"]["empty_item_texts"] == 1
    assert info["unknown_ids_ignored"] == {"users": 1, "items": 0}
    assert run.user_fallback.tolist() == [False] * 10 + [True] * (films.num_users - 10)
    assert not run.item_fallback[0] and run.item_fallback[21]
    assert run.user_texts[0] == "Prototype text for user 0."
    assert run.user_texts[10].startswith("A ")  # the template text


def test_an_empty_llm_data_dir_is_filled_with_the_configured_backend(films, tmp_path):
    target = tmp_path / "llm"
    run = texts_for_run(config(), films, tmp_path / "run", target)
    assert run.info["origin"] == "generated" and (target / USER_FILE).is_file()
    assert run.info["possibly_leaking"] is False
    again = texts_for_run(config(), films, tmp_path / "run", target)
    assert again.info["origin"] == "imported" and again.info["possibly_leaking"] is False


def test_evaluating_a_run_again_reuses_its_texts(films, tmp_path):
    source = tmp_path / "llm"
    generate_texts(films, "template", TextsConfig(), source, users=[0, 1], items=[1])
    texts_for_run(config(), films, tmp_path / "run", source)
    again = texts_for_run(config(), films, tmp_path / "run", None)
    # texts imported once stay imported (never a template training view beside them)
    assert again.info["origin"] == "imported" and again.info["dir"] == str(source)


def test_openai_texts_through_the_run_with_failures_falling_back(films, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    behaviour = FakeBehaviour(fail_prompts_containing="Film Number 7 (1957)")
    with FakeOpenAIServer(behaviour) as server:
        run = texts_for_run(config(backend="openai", openai_base_url=server.base_url,
                                   openai_model="fake", openai_max_retries=0),
                            films, tmp_path / "run", None)
    info = run.describe()
    assert info["backend"] == "openai" and info["model"] == "fake"
    assert info["prompt_version"].startswith("user_preference@1-")
    assert info["fallback"]["items"] + info["fallback"]["users"] > 0
    assert run.item_fallback[7] and run.item_texts[7].startswith("Film Number 7 (1957) is")
    from_llm = sum(t.startswith("[fake reply") for t in run.item_texts)
    assert from_llm == films.num_items - info["fallback"]["items"] > 0


@pytest.mark.parametrize("texts, message", [
    ({"backend": "import"}, "texts.backend is 'import' but texts.dir"),
    ({"embedding_dim": 768}, "texts.embedding_dim is 768 but encoder"),
])
def test_configuration_mistakes_are_clear(films, tmp_path, texts, message):
    with pytest.raises(ConfigError, match=message):
        texts_for_run(config(**texts), films, tmp_path / "run", None)


def test_texts_dir_of_another_backend_is_not_used_silently(films, tmp_path, monkeypatch):
    folder = tmp_path / "texts"
    generate_texts(films, "template", TextsConfig(), folder)
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    with pytest.raises(ConfigError, match="holds texts from backend 'template'"):
        texts_for_run(config(backend="openai", dir=folder, openai_base_url="http://127.0.0.1:9",
                             openai_model="m"), films, tmp_path / "run", None)
    run = texts_for_run(config(backend="import", dir=folder), films, tmp_path / "run", None)
    assert run.info["possibly_leaking"] is False


@pytest.mark.slow
def test_ml100k_with_everything_cached_takes_under_two_seconds(ml100k, tmp_path):
    texts_for_run(config(), ml100k, tmp_path / "run1", None)
    started = time.perf_counter()
    run = texts_for_run(config(), ml100k, tmp_path / "run2", None)
    elapsed = time.perf_counter() - started
    assert run.info["origin"] == "cached" and run.info["encoding"]["encoded"] == 0
    assert elapsed <= 2.0, elapsed
    assert run.user_vectors.shape == (943, DIM) and run.item_vectors.shape == (1683, DIM)
    assert os.path.isdir(run.info["dir"])


def test_item_texts_imported_alone_while_user_texts_stay_generated(films, tmp_path):
    """texts.item_dir: item descriptions from a file, user texts from the template (leak-free),
    and the provenance of each side in the record."""
    items_dir = tmp_path / "llm_items"
    items_dir.mkdir()
    (items_dir / ITEM_FILE).write_text(json.dumps({"1": "A film about a lighthouse keeper.",
                                                   "2": "A caper in Lisbon."}))
    run = texts_for_run(config(item_dir=items_dir), films, tmp_path / "run", None)
    assert run.item_texts[1] == "A film about a lighthouse keeper."
    assert run.item_texts[3].startswith("Film Number 3")  # not in the file: template, flagged
    sides = run.info["sides"]
    assert sides["items"]["origin"] == "imported" and sides["items"]["dir"] == str(items_dir)
    assert sides["items"]["from_source"] == 2
    assert sides["items"]["fallback_template"] == films.num_items - 2
    assert sides["users"]["origin"] == "generated" and sides["users"]["backend"] == "template"
    assert sides["users"]["possibly_leaking"] is False and not run.info["possibly_leaking"]
    plain = texts_for_run(config(), films, tmp_path / "plain", None)
    assert plain.user_texts == run.user_texts and plain.item_texts[1] != run.item_texts[1]


def test_item_statistics_off_reaches_generated_and_fallback_item_texts(films, tmp_path):
    """texts.item_statistics: false for a run: neither the generated item texts nor the
    template's stand-ins for items an imported file lacks quote a training statistic."""
    run = texts_for_run(config(item_statistics=False), films, tmp_path / "run", None)
    assert run.info["prompt_version"] == "template-v1-noitemstats"
    items_dir = tmp_path / "llm_items"
    items_dir.mkdir()
    (items_dir / ITEM_FILE).write_text(json.dumps({"1": "A film about a lighthouse keeper."}))
    imported = texts_for_run(config(item_dir=items_dir, item_statistics=False), films,
                             tmp_path / "imported", None)
    for texts in (run.item_texts, imported.item_texts):
        assert not any("viewers" in t or "also liked" in t or "Nobody" in t for t in texts)
    assert imported.item_texts[2] == run.item_texts[2]  # the stand-in: the same bare text
    assert imported.item_texts[1] == "A film about a lighthouse keeper."  # imported: as it is
    with_statistics = texts_for_run(config(), films, tmp_path / "plain", None)
    assert any("viewers" in t for t in with_statistics.item_texts)


def test_item_statistics_off_says_that_imported_item_texts_stay_as_they_are(films, tmp_path,
                                                                          caplog):
    items_dir = tmp_path / "llm_items"
    items_dir.mkdir()
    (items_dir / ITEM_FILE).write_text(json.dumps({"1": "Seen by 300 viewers, acclaimed."}))
    with caplog.at_level("WARNING", logger="ur4rec.text.pipeline"):
        texts_for_run(config(item_dir=items_dir), films, tmp_path / "on", None)
    assert "are used as they are" not in caplog.text
    with caplog.at_level("WARNING", logger="ur4rec.text.pipeline"):
        texts_for_run(config(item_dir=items_dir, item_statistics=False), films,
                      tmp_path / "off", None)
    assert "1 item texts are imported" in caplog.text and str(items_dir) in caplog.text


def test_imported_item_texts_for_unknown_ids_are_refused_in_one_line(films, tmp_path):
    from ur4rec.errors import DataError

    items_dir = tmp_path / "llm_items"
    items_dir.mkdir()
    (items_dir / ITEM_FILE).write_text(json.dumps({"1": "Known.", "9999": "Unknown film."}))
    with pytest.raises(DataError, match=r"item_descriptions.json: 1 item ids are not in "
                                        r"dataset 'films' \(e.g. \['9999'\]\)"):
        texts_for_run(config(item_dir=items_dir), films, tmp_path / "run", None)
    run = texts_for_run(config(item_dir=items_dir, ignore_unknown_item_ids=True), films,
                        tmp_path / "run2", None)
    assert run.item_texts[1] == "Known."
    with pytest.raises(ConfigError, match="texts.item_dir: .* does not exist"):
        texts_for_run(config(item_dir=tmp_path / "nowhere"), films, tmp_path / "run3", None)


def test_a_model_that_reads_item_texts_only_encodes_no_user_text(films, tmp_path, monkeypatch):
    """SASRec with the item-text adapter reads item vectors only: encoding the users' texts too
    would double the first run's encoding on Amazon data for nothing."""
    from ur4rec.config import SASRecConfig
    from ur4rec.runs.inputs import model_inputs

    seen: list[str] = []

    class Recording(HashEncoder):
        def encode(self, texts, **kwargs):
            seen.extend(texts)
            return super().encode(texts, **kwargs)

    monkeypatch.setattr(encode, "load_encoder", lambda location, device=None: Recording())
    adapter = RunConfig(model="sasrec", sasrec=SASRecConfig(item_text="adapter"))
    inputs = model_inputs(adapter, films, tmp_path / "adapter", None)
    full = texts_for_run(config(), films, tmp_path / "full", None)
    assert len(seen) == len(set(full.item_texts[1:])) + len(set(full.user_texts)) > 0
    assert set(seen[:len(set(full.item_texts[1:]))]) == set(full.item_texts[1:])
    assert not inputs.vectors.user_text.any()
    assert np.array_equal(inputs.vectors.item_text, full.item_vectors)
    assert inputs.summary["sides"]["users"]["encoded"] is False
    assert full.info["sides"]["users"]["encoded"] is True
