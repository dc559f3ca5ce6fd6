"""What names a generation (backend, model, version) in cache keys, folder names and provenance.

The version says what this environment writes: the wording's own version (the film template's
:data:`~ur4rec.text.template.TEMPLATE_VERSION`, a domain's, or the prompt files'), plus
``-noneighbours`` where scipy is missing and the "also liked" sentences cannot be written, plus
:data:`~ur4rec.text.io.NO_ITEM_STATISTICS_SUFFIX` without item statistics
(``texts.item_statistics: false``): two settings that write different texts never share a
cache entry.
"""

from __future__ import annotations

import os

from ur4rec.config import TextsConfig
from ur4rec.errors import ConfigError
from ur4rec.text.catalog import neighbours_suffix
from ur4rec.text.domain import VOCABULARIES
from ur4rec.text.io import NO_ITEM_STATISTICS_SUFFIX
from ur4rec.text.llm import LLMBackend
from ur4rec.text.local_backend import resolve_model_path
from ur4rec.text.prompting import prompt_version
from ur4rec.text.template import TEMPLATE_VERSION


def item_statistics_suffix(item_statistics: bool) -> str:
    return "" if item_statistics else NO_ITEM_STATISTICS_SUFFIX


def template_version(item_statistics: bool = True, domain: str = "film") -> str:
    """The version of the template texts written here: :data:`TEMPLATE_VERSION` for films, the
    domain's own otherwise (:data:`ur4rec.text.domain.VOCABULARIES`), with the suffixes above."""
    base = TEMPLATE_VERSION if domain == "film" else VOCABULARIES[domain].version
    return base + neighbours_suffix() + item_statistics_suffix(item_statistics)


def backend_identity(backend: str, config: TextsConfig, llm: LLMBackend | None = None,
                     domain: str = "film") -> tuple[str, str]:
    """``(model, version)`` of what ``backend`` writes for data of ``domain``
    (:func:`ur4rec.text.domain.domain_of`); ``llm``: the backend object, when one is built."""
    if backend == "template":
        return "template", template_version(config.item_statistics, domain)
    version = prompt_version() + neighbours_suffix() + item_statistics_suffix(
        config.item_statistics)
    if llm is not None:
        return llm.model, version
    if backend == "openai":
        return (config.openai_model or os.environ.get("OPENAI_MODEL") or "?"), version
    if backend == "local":
        path = resolve_model_path(config.local_model_path)
        model = f"{path.name}:{path.stat().st_size}" if path.is_file() else path.name
        return model, version
    raise ConfigError(f"texts backend {backend!r} does not generate")
