"""What the LLM backends share: the cache-first runner, the progress bar, reply cleaning.

A backend only turns requests into replies; :func:`run_with_cache` asks it for the texts the cache
lacks, stores each reply the moment it arrives and counts failures — a failed text is reported,
never replaced by something else here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm.auto import tqdm

from ur4rec.errors import UR4RecError
from ur4rec.text.cache import GenerationCache
from ur4rec.text.prompting import TextRequest

OnText = Callable[[TextRequest, str], None]
OnFailure = Callable[[TextRequest, str], None]


class EndpointError(UR4RecError):
    """The model or endpoint cannot answer any request (bad key, wrong URL or model name)."""


class LLMBackend(Protocol):
    name: str
    model: str
    settings: dict[str, Any]

    def generate(self, requests: list[TextRequest], on_text: OnText,
                 on_failure: OnFailure) -> None: ...


@dataclass
class GenerationOutcome:
    """Texts by request key, failures by request key (with the reason), and counts."""

    texts: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    cached: int = 0
    generated: int = 0
    seconds: float = 0.0


def clean_reply(text: Any) -> str | None:
    """The reply as one paragraph, or None when there is nothing usable in it."""
    if not isinstance(text, str):
        return None
    cleaned = " ".join(text.split())
    if len(cleaned) >= 2 and cleaned[0] == cleaned[-1] and cleaned[0] in "\"'":
        cleaned = cleaned[1:-1].strip()
    return cleaned or None


def run_with_cache(backend: LLMBackend, requests: list[TextRequest], cache: GenerationCache,
                   progress: bool = True, outcome: GenerationOutcome | None = None
                   ) -> GenerationOutcome:
    """Fill ``outcome`` (pass one in to keep partial results if this raises) from cache + backend."""
    started = time.perf_counter()
    outcome = outcome if outcome is not None else GenerationOutcome()
    keys = {r.key: GenerationCache.key(backend.name, backend.model, r.prompt_version, r.system,
                                       r.prompt, backend.settings) for r in requests}
    found = cache.get_many(keys.values())
    for request in requests:
        if keys[request.key] in found:
            outcome.texts[request.key] = found[keys[request.key]]
    outcome.cached = len(outcome.texts)
    missing = [r for r in requests if r.key not in outcome.texts]
    bar = tqdm(total=len(requests), initial=outcome.cached, unit="text",
               desc=f"texts via {backend.name}", disable=not progress or not missing)

    def on_text(request: TextRequest, text: str) -> None:
        outcome.texts[request.key] = text  # first, so a failing put still keeps the text
        outcome.generated += 1
        cache.put(keys[request.key], text, backend.name, backend.model)
        bar.update(1)
        bar.set_postfix(cached=outcome.cached, new=outcome.generated,
                        failed=len(outcome.failures), refresh=False)

    def on_failure(request: TextRequest, reason: str) -> None:
        outcome.failures[request.key] = reason
        bar.update(1)
        bar.set_postfix(cached=outcome.cached, new=outcome.generated,
                        failed=len(outcome.failures), refresh=False)

    try:
        if missing:
            backend.generate(missing, on_text, on_failure)
    finally:
        bar.close()
        outcome.seconds = round(time.perf_counter() - started, 3)
    return outcome
