"""Step 1 of a run's texts (:mod:`ur4rec.text.pipeline`): choose where they come from.

:func:`choose_source` looks, in this order, at

1. ``--llm_data_dir``: its texts, imported; a folder without texts is generated into;
2. the folder this run read before (``run_dir/texts.json``: a resume, or a trained run evaluated
   again) — texts it had imported stay imported, so training and evaluation read the same ones;
3. ``texts.backend: import``: the texts in ``texts.dir``;
4. the backend's own folder — ``texts.dir``, else the cache folder of (dataset, backend, model,
   version): its texts when the backend wrote them, complete, for this data; else it is
   generated into (the cache folder may be overwritten, a ``texts.dir`` only when it holds this
   backend's incomplete texts for this data).

It only chooses: generating is step 2's, which reads :attr:`TextSource.generate`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ur4rec.config import TextsConfig
from ur4rec.data.cache import cache_root
from ur4rec.data.prepared import PreparedData
from ur4rec.errors import ConfigError, DataError
from ur4rec.text.cache import slug
from ur4rec.text.domain import domain_of
from ur4rec.text.io import has_texts, read_provenance
from ur4rec.text.versions import backend_identity

RUN_RECORD = "texts.json"
"""what a run writes of its texts (:mod:`ur4rec.text.pipeline`), read by :func:`previous_source`"""


@dataclass(frozen=True)
class TextSource:
    """The folder a run's texts are read from and its ``origin``: ``imported``, ``generated``,
    ``cached`` or ``reused``. ``generate``: the backend writes the folder first (``force``: over
    texts of another origin there)."""

    folder: Path
    origin: str
    generate: bool = False
    force: bool = False


def default_texts_dir(data: PreparedData, backend: str, model: str, version: str) -> Path:
    """The cache folder of one (dataset, backend, model, prompt version)."""
    return (cache_root() / "texts" / f"{slug(data.name)}-{data.meta.get('fingerprint')}"
            / f"{backend}-{slug(model)}-{slug(version)}")


def choose_source(config: TextsConfig, data: PreparedData, run_dir: Path,
                  llm_data_dir: Path | None) -> TextSource:
    """Where this run's texts come from; see the module docstring for the order."""
    if llm_data_dir is not None:
        return _given_folder(llm_data_dir, config)
    previous = previous_source(run_dir, config, data)
    if previous is not None:
        return previous
    if config.backend == "import":
        if not has_texts(config.dir):
            raise ConfigError(f"texts.backend is 'import' but texts.dir ({config.dir}) holds no "
                              "user_preferences.json or item_descriptions.json")
        return TextSource(Path(config.dir), "imported")  # type: ignore[arg-type]
    return _backend_folder(config, data)


def _given_folder(folder: Path, config: TextsConfig) -> TextSource:
    """``--llm_data_dir``: imported when it holds texts, else the backend writes them there."""
    if has_texts(folder):
        return TextSource(folder, "imported")
    if config.backend == "import":
        raise DataError(f"--llm_data_dir {folder} holds no user_preferences.json or "
                        "item_descriptions.json to import")
    return TextSource(folder, "generated", generate=True)


def previous_source(run_dir: Path, config: TextsConfig, data: PreparedData
                    ) -> TextSource | None:
    """The folder this run read before, with the same texts config and dataset: ``imported``
    when it imported them then, else ``reused``; None when it has none.

    Texts it imported must be found again: a :class:`DataError` names the folder and
    ``--llm_data_dir`` when that folder holds no texts any more (other texts would silently
    replace the ones the run was trained on).
    """
    record_path = run_dir / RUN_RECORD
    if not record_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = (record.get("texts_config") == config.model_dump(mode="json")
            and record.get("fingerprint") == data.meta.get("fingerprint"))
    if not same or not record.get("dir"):
        return None
    folder = Path(record["dir"])
    imported = str(record.get("origin", "reused")) == "imported"
    if has_texts(folder):
        return TextSource(folder, "imported" if imported else "reused")
    if imported and not (config.backend == "import" and config.dir is not None
                         and Path(config.dir) == folder):  # that names texts.dir
        raise DataError(f"{record_path}: this run's texts were imported from {folder}, which "
                        "holds no user_preferences.json or item_descriptions.json now; pass "
                        "--llm_data_dir with the folder that holds them (or train into a new "
                        "output directory)")
    return None


def _backend_folder(config: TextsConfig, data: PreparedData) -> TextSource:
    """The backend's texts in ``texts.dir`` or its cache folder: ``cached`` when complete and
    written by this backend, model and version for this data, else to be generated there.
    Texts someone put there without ur4rec's provenance are ``imported``; a ``texts.dir``
    holding other texts is refused."""
    model, version = backend_identity(config.backend, config, domain=domain_of(data))
    folder = Path(config.dir) if config.dir else default_texts_dir(data, config.backend, model,
                                                                   version)
    if has_texts(folder):
        provenance = read_provenance(folder)
        if provenance is None:  # texts someone put there: use them, as an import
            return TextSource(folder, "imported")
        identity = (provenance.get("fingerprint"), provenance.get("backend"),
                    provenance.get("model"), provenance.get("prompt_version"))
        if identity == (data.meta.get("fingerprint"), config.backend, model, version):
            if provenance.get("complete"):
                return TextSource(folder, "cached")
        elif config.dir is not None and identity[1:] == (config.backend, model, version):
            raise DataError(
                f"texts.dir {folder} holds texts written from other data (fingerprint "
                f"{identity[0]}; this data: {data.meta.get('fingerprint')} — the data file or "
                "its settings changed since): delete them to write them again, or choose "
                "another texts.dir")
        elif config.dir is not None:
            raise ConfigError(
                f"texts.dir {folder} holds texts from backend {provenance.get('backend')!r} "
                f"(model {provenance.get('model')!r}, dataset {provenance.get('dataset')!r}), "
                f"not from texts.backend {config.backend!r} for this dataset; set "
                "texts.backend: import to use them as they are, or choose another texts.dir")
    return TextSource(folder, "generated", generate=True, force=config.dir is None)
