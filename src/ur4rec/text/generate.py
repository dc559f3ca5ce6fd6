"""``texts generate``: user and item texts from one backend, written as a text folder.

Template texts are computed directly; LLM texts go through the persistent cache, so an interrupted
or failed run is resumed by running it again. Whatever happens, the texts obtained so far are
written (with ``complete: false`` and the failures in the provenance) before the error surfaces.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ur4rec.config import TextsConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.errors import ConfigError, DataError
from ur4rec.text.cache import GenerationCache
from ur4rec.text.domain import domain_of
from ur4rec.text.io import (
    TRAINING_HISTORY,
    has_texts,
    item_text_record,
    provenance_record,
    read_provenance,
    write_text_folder,
)
from ur4rec.text.llm import GenerationOutcome, LLMBackend, run_with_cache
from ur4rec.text.local_backend import LocalBackend
from ur4rec.text.prompting import item_requests, user_requests
from ur4rec.text.template import TextMaterial, build_material, template_texts
from ur4rec.text.versions import backend_identity

log = logging.getLogger(__name__)

GENERATING_BACKENDS = ("template", "openai", "local")


@dataclass
class GenerationResult:
    """What one generation wrote; indices are dataset indices (users 0.., items 1..)."""

    folder: Path
    users: dict[int, str]
    items: dict[int, str]
    failures: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return bool(self.provenance.get("complete"))


def generate_texts(data: PreparedData, backend: str, config: TextsConfig, out: Path, *,
                   users: list[int] | None = None, items: list[int] | None = None,
                   progress: bool = True, force: bool = False, key_env: str = "OPENAI_API_KEY",
                   llm: LLMBackend | None = None, material: TextMaterial | None = None
                   ) -> GenerationResult:
    """Write ``out/{user_preferences,item_descriptions,texts_provenance}.json``."""
    started = time.perf_counter()
    if backend not in GENERATING_BACKENDS:
        raise ConfigError(f"texts backend {backend!r} does not generate; use one of "
                          f"{', '.join(GENERATING_BACKENDS)}")
    if backend != "template" and llm is None:
        llm = make_llm_backend(backend, config, key_env)
    model, version = backend_identity(backend, config, llm, domain_of(data))
    check_output_folder(out, data, backend, model, version, force)
    material = material or build_material(data, config.item_statistics)
    user_list = list(range(data.num_users)) if users is None else users
    item_list = list(range(1, data.num_items + 1)) if items is None else items
    extra = {"selection": None if users is None and items is None else
             {"users": len(user_list), "items": len(item_list)},
             "kg": material.catalog.kg_check,
             "item_texts": item_text_record(data, config.item_statistics)}
    if backend == "template":
        user_texts, item_texts = template_texts(data, material, config.item_statistics)
        result = GenerationResult(out, {u: user_texts[u] for u in user_list},
                                  {i: item_texts[i] for i in item_list})
    else:
        assert llm is not None
        result = _generate_with_llm(data, llm, config, out, user_list, item_list, material,
                                    progress, model, version, extra, started)
    _write(result, data, backend, model, version, extra, started,
           complete=users is None and items is None and not result.failures)
    return result


def make_llm_backend(backend: str, config: TextsConfig, key_env: str = "OPENAI_API_KEY",
                     **overrides: Any) -> LLMBackend:
    if backend == "openai":
        from ur4rec.text.openai_backend import backend_from_config  # httpx: the text extra

        return backend_from_config(config, key_env, **overrides)
    if backend == "local":
        return LocalBackend(config.local_model_path, config.max_new_tokens, **overrides)
    raise ConfigError(f"texts backend {backend!r} does not generate; use one of "
                      f"{', '.join(GENERATING_BACKENDS)}")


def check_output_folder(folder: Path, data: PreparedData, backend: str, model: str,
                        version: str, force: bool) -> None:
    """Refuse to overwrite texts of another origin (they may not be reproducible)."""
    if force or not has_texts(folder):
        return
    previous = read_provenance(folder)
    same = previous is not None and (previous.get("fingerprint"), previous.get("backend"),
                                     previous.get("model"), previous.get("prompt_version")) == (
        data.meta.get("fingerprint"), backend, model, version)
    if not same:
        origin = (f"backend {previous.get('backend')!r}, model {previous.get('model')!r}, "
                  f"dataset {previous.get('dataset')!r} with fingerprint "
                  f"{previous.get('fingerprint')} (this data: {data.meta.get('fingerprint')})"
                  if previous else "an unknown origin")
        raise DataError(f"{folder} already holds texts from {origin}; choose another --out or "
                        "pass --force to overwrite them")


def _generate_with_llm(data: PreparedData, llm: LLMBackend, config: TextsConfig, out: Path,
                       user_list: list[int], item_list: list[int], material: TextMaterial,
                       progress: bool, model: str, version: str, extra: dict[str, Any],
                       started: float) -> GenerationResult:
    requests = (user_requests(data, material, config.history_items_in_prompt, user_list)
                + item_requests(data, material, item_list, config.item_statistics))
    outcome = GenerationOutcome()
    cache = GenerationCache()
    try:
        run_with_cache(llm, requests, cache, progress, outcome)
    except BaseException as error:  # keep what arrived, whatever stopped the run
        partial = _result_from(outcome, out)
        _write(partial, data, llm.name, model, version,
               {**extra, "stopped_by": f"{type(error).__name__}: {error}"}, started,
               complete=False)
        log.warning("generation stopped: %d texts kept in %s and in the cache %s",
                    len(outcome.texts), out, cache.path)
        raise
    finally:
        cache.close()
    extra.update(cached=outcome.cached, generated=outcome.generated)
    if outcome.failures:
        log.warning("%d of %d texts failed (e.g. %s: %s); they are not in %s — run the same "
                    "command again to retry only them", len(outcome.failures), len(requests),
                    *next(iter(outcome.failures.items())), out)
    return _result_from(outcome, out)


def _result_from(outcome: GenerationOutcome, out: Path) -> GenerationResult:
    users = {int(k[5:]): t for k, t in outcome.texts.items() if k.startswith("user:")}
    items = {int(k[5:]): t for k, t in outcome.texts.items() if k.startswith("item:")}
    return GenerationResult(out, users, items, dict(outcome.failures))


def _write(result: GenerationResult, data: PreparedData, backend: str, model: str,
           version: str, extra: dict[str, Any], started: float, complete: bool) -> None:
    result.provenance = provenance_record(
        data, backend, model, version, TRAINING_HISTORY, complete=complete,
        counts={"users": len(result.users), "items": len(result.items),
                "failed": len(result.failures)},
        failures=result.failures, seconds=round(time.perf_counter() - started, 3), **extra)
    write_text_folder(result.folder, data, result.users, result.items, result.provenance)
