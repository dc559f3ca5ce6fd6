"""The OpenAI-compatible client against a loopback server this test starts: retries, timeouts,
bounded concurrency, the persistent cache, resuming, and failures that are reported."""

from __future__ import annotations

import json
import socket
import time

import pytest

from ur4rec.config import TextsConfig
from ur4rec.errors import ConfigError, UR4RecError
from ur4rec.text.cache import GenerationCache
from ur4rec.text.generate import generate_texts
from ur4rec.text.io import ITEM_FILE, PROVENANCE_FILE, USER_FILE, read_texts_file
from ur4rec.text.llm import EndpointError, run_with_cache
from ur4rec.text.openai_backend import OpenAIBackend, backend_from_config
from ur4rec.text.prompting import TextRequest

from .fake_openai import FakeBehaviour, FakeOpenAIServer


def requests(n: int, tag: str = "") -> list[TextRequest]:
    return [TextRequest(f"user:{k}", "system", f"prompt {tag}{k}", "v1") for k in range(n)]


def backend(server: FakeOpenAIServer, **kwargs) -> OpenAIBackend:
    settings = dict(concurrency=4, timeout_s=5.0, max_retries=3, backoff_s=0.01)
    settings.update(kwargs)
    return OpenAIBackend(server.base_url, kwargs.pop("model", "fake"), "key", **settings)


@pytest.fixture
def cache(tmp_path):
    store = GenerationCache(tmp_path / "generations.sqlite")
    yield store
    store.close()


def test_texts_are_cached_and_a_rerun_sends_nothing(cache):
    with FakeOpenAIServer() as server:
        first = run_with_cache(backend(server), requests(10), cache, progress=False)
        assert server.stats.requests == 10 and first.generated == 10
        again = run_with_cache(backend(server), requests(10), cache, progress=False)
        assert server.stats.requests == 10
        assert again.cached == 10 and again.texts == first.texts


def test_the_cache_key_holds_model_and_prompt_version(cache):
    with FakeOpenAIServer() as server:
        run_with_cache(backend(server), requests(3), cache, progress=False)
        other = OpenAIBackend(server.base_url, "another-model", "key", backoff_s=0.01)
        run_with_cache(other, requests(3), cache, progress=False)
        bumped = [TextRequest(r.key, r.system, r.prompt, "v2") for r in requests(3)]
        run_with_cache(backend(server), bumped, cache, progress=False)
        assert server.stats.requests == 9


def test_server_errors_are_retried_until_they_pass(cache):
    with FakeOpenAIServer(FakeBehaviour(errors_before_success=2)) as server:
        outcome = run_with_cache(backend(server, max_retries=2), requests(5), cache,
                                 progress=False)
        assert not outcome.failures and len(outcome.texts) == 5
        assert set(server.stats.attempts_by_prompt.values()) == {3}


def test_retry_after_is_honoured(cache):
    behaviour = FakeBehaviour(errors_before_success=1, error_status=429, retry_after_s=0.3)
    with FakeOpenAIServer(behaviour) as server:
        started = time.perf_counter()
        outcome = run_with_cache(backend(server), requests(1), cache, progress=False)
        assert time.perf_counter() - started >= 0.3
        assert len(outcome.texts) == 1


@pytest.mark.parametrize("behaviour, reason", [
    (FakeBehaviour(garbage=True), "unusable reply"),
    (FakeBehaviour(empty_reply=True), "unusable reply"),
    (FakeBehaviour(errors_before_success=99), "HTTP 500"),
    (FakeBehaviour(delay_s=0.6), "no answer within 0.2 s"),
    (FakeBehaviour(status=400), "HTTP 400"),
])
def test_failures_are_reported_with_their_reason_and_never_cached(cache, behaviour, reason):
    with FakeOpenAIServer(behaviour) as server:
        outcome = run_with_cache(backend(server, timeout_s=0.2, max_retries=1), requests(3),
                                 cache, progress=False)
    assert not outcome.texts and len(outcome.failures) == 3
    assert all(reason in why for why in outcome.failures.values())
    assert len(cache) == 0


def test_an_unreachable_endpoint_fails_each_text_clearly(cache):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "fake", "key", max_retries=1,
                           backoff_s=0.01)
    outcome = run_with_cache(client, requests(2), cache, progress=False)
    assert all("connection failed" in why for why in outcome.failures.values())


def test_a_refused_key_stops_the_run_at_once(cache):
    with FakeOpenAIServer(FakeBehaviour(status=401)) as server:
        with pytest.raises(EndpointError, match="HTTP 401 .* API key was refused"):
            run_with_cache(backend(server), requests(20), cache, progress=False)
        assert server.stats.requests <= 4  # the workers stop, they do not try all 20


def test_concurrency_is_bounded_and_used(cache):
    with FakeOpenAIServer(FakeBehaviour(delay_s=0.05)) as server:
        started = time.perf_counter()
        run_with_cache(backend(server, concurrency=3), requests(30), cache, progress=False)
        elapsed = time.perf_counter() - started
        assert 2 <= server.stats.max_in_flight <= 3
    assert elapsed < 30 * 0.05  # overlapped, not one after another


def test_missing_settings_give_clear_messages(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="needs an endpoint: set texts.openai_base_url"):
        backend_from_config(TextsConfig(openai_model="m"))
    with pytest.raises(ConfigError, match="needs a model"):
        backend_from_config(TextsConfig(openai_base_url="http://127.0.0.1:1/v1"))
    with pytest.raises(UR4RecError, match="API key in the environment variable OPENAI_API_KEY"):
        backend_from_config(TextsConfig(openai_base_url="http://127.0.0.1:1/v1",
                                        openai_model="m"))
    with pytest.raises(ConfigError, match="must start with http"):
        OpenAIBackend("api.openai.com/v1", "m", "k")
    monkeypatch.setenv("MY_KEY", "secret")
    client = backend_from_config(TextsConfig(openai_base_url="http://h/v1/", openai_model="m",
                                             openai_concurrency=3), key_env="MY_KEY")
    assert client.url == "http://h/v1/chat/completions" and client.concurrency == 3


def test_failed_texts_are_listed_not_replaced_and_a_rerun_retries_only_them(films, tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "texts"
    behaviour = FakeBehaviour(fail_prompts_containing="Film Number 3 (1953)")
    with FakeOpenAIServer(behaviour) as server:
        result = generate_texts(films, "openai", TextsConfig(), out, progress=False,
                                llm=backend(server, max_retries=1))
        failed = set(result.failures)
        assert failed and not result.complete
        provenance = json.loads((out / PROVENANCE_FILE).read_text())
        assert set(provenance["failures"]) == failed and provenance["counts"]["failed"]
        written = len(read_texts_file(out / USER_FILE)) + len(read_texts_file(out / ITEM_FILE))
        assert written == films.num_users + films.num_items - len(failed)
        before = server.stats.requests
        behaviour.fail_prompts_containing = None
        again = generate_texts(films, "openai", TextsConfig(), out, progress=False,
                               llm=backend(server))
        assert server.stats.requests - before == len(failed)
        assert again.complete and not again.failures


def test_an_interrupted_run_keeps_its_texts_and_resumes(films, tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "texts"
    real_put = GenerationCache.put
    calls = {"n": 0}

    def put_then_interrupt(self, *args, **kwargs):
        real_put(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt

    total = films.num_users + films.num_items
    with FakeOpenAIServer() as server:
        monkeypatch.setattr(GenerationCache, "put", put_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            generate_texts(films, "openai", TextsConfig(), out, progress=False,
                           llm=backend(server, concurrency=1))
        provenance = json.loads((out / PROVENANCE_FILE).read_text())
        assert not provenance["complete"] and "KeyboardInterrupt" in provenance["stopped_by"]
        kept = len(read_texts_file(out / USER_FILE)) + len(read_texts_file(out / ITEM_FILE))
        assert kept == 7
        monkeypatch.setattr(GenerationCache, "put", real_put)
        before = server.stats.requests
        result = generate_texts(films, "openai", TextsConfig(), out, progress=False,
                                llm=backend(server))
        assert server.stats.requests - before == total - 7
        assert result.complete and result.provenance["cached"] == 7


def test_a_refused_key_mid_way_loses_nothing_already_generated(films, tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "texts"
    behaviour = FakeBehaviour()
    with FakeOpenAIServer(behaviour) as server:
        generate_texts(films, "openai", TextsConfig(), out, users=[0, 1, 2], items=[],
                       progress=False, llm=backend(server))
        behaviour.status = 401
        with pytest.raises(EndpointError):
            generate_texts(films, "openai", TextsConfig(), out, progress=False,
                           llm=backend(server))
    assert len(read_texts_file(out / USER_FILE)) == 3


def test_a_folder_of_another_origin_is_not_overwritten(films, tmp_path, monkeypatch):
    monkeypatch.setenv("UR4REC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "texts"
    generate_texts(films, "template", TextsConfig(), out)
    with FakeOpenAIServer() as server:
        with pytest.raises(UR4RecError, match="already holds texts from backend 'template'"):
            generate_texts(films, "openai", TextsConfig(), out, llm=backend(server))
        generate_texts(films, "openai", TextsConfig(), out, llm=backend(server), force=True,
                       progress=False)
