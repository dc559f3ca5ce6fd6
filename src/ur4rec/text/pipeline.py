"""What training reads: one vector per user and per item, and a record of where the texts came from.

:func:`texts_for_run` takes five steps, each once, in this order:

1. **choose the source** (:func:`ur4rec.text.sources.choose_source`): imported, generated now,
   cached, or what the run read before;
2. **generate or read** (:func:`produce_texts`): the backend writes the folder if step 1 says so,
   then it is read and matched to the dataset (item texts from ``texts.item_dir`` replace the
   folder's);
3. **fill the gaps** (:func:`fill_missing_with_template`): a user or item without a text gets
   the template text — counted and flagged, never silently;
4. **encode** (:func:`encode_run_texts`): every text the model reads through the embedding cache
   (user texts only for a model that reads them: a third of Beauty's texts are items);
5. **record provenance** (:func:`record_provenance`): where each side came from, whether it may
   leak, what was filled in — into ``results.json["texts"]`` and ``run_dir/texts.json``.

Fast when everything is cached.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ur4rec.config import RunConfig, TextsConfig
from ur4rec.data.prepared import PreparedData
from ur4rec.errors import ConfigError, DataError
from ur4rec.text.encode import EncodeReport, encode_texts
from ur4rec.text.generate import generate_texts
from ur4rec.text.io import (
    ITEM_FILE,
    TextFolder,
    check_item_texts,
    item_id_index,
    item_texts_origin,
    match_ids,
    read_provenance,
    read_text_folder,
    read_texts_file,
)
from ur4rec.text.sources import RUN_RECORD, TextSource, choose_source
from ur4rec.text.template import template_texts

log = logging.getLogger(__name__)


@dataclass
class RunTexts:
    """Encoded texts for one run.

    ``user_vectors`` ``[num_users, dim]`` (row = user index), ``item_vectors``
    ``[num_items + 1, dim]`` (row 0 = zeros for padding), float32; ``*_fallback`` mark rows whose
    text was missing from the source and came from the template instead.
    """

    user_vectors: np.ndarray
    item_vectors: np.ndarray
    user_fallback: np.ndarray
    item_fallback: np.ndarray
    info: dict[str, Any]
    user_texts: list[str] = field(default_factory=list, repr=False)
    item_texts: list[str] = field(default_factory=list, repr=False)

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable summary (goes into ``results.json["texts"]``)."""
        return json.loads(json.dumps(self.info, default=str))


@dataclass
class CompleteTexts:
    """A text for every user (``users`` ``[num_users]``) and item (``items`` ``[num_items + 1]``,
    row 0 ``""``); ``*_fallback`` (bool, same lengths) mark the template stand-ins."""

    users: list[str]
    items: list[str]
    user_fallback: np.ndarray
    item_fallback: np.ndarray


def texts_for_run(config: RunConfig, data: PreparedData, run_dir: Path,
                  llm_data_dir: Path | None, encode_users: bool = True) -> RunTexts:
    """Texts → vectors for training, in the five steps of the module docstring.
    ``encode_users=False`` (a model that reads item texts only) leaves ``user_vectors`` zeros
    and says so in the record (``sides.users.encoded``)."""
    started = time.perf_counter()
    texts_config, run_dir = config.texts, Path(run_dir)
    source = choose_source(texts_config, data, run_dir, llm_data_dir)
    folder = produce_texts(source, texts_config, data)
    texts = fill_missing_with_template(folder, data, texts_config.item_statistics)
    _warn_imported_item_statistics(texts, texts_config, source)
    user_vectors, item_vectors, report = encode_run_texts(texts, texts_config, data,
                                                          encode_users)
    info = record_provenance(source, folder, texts, report, texts_config, data)
    info["sides"]["users"]["encoded"] = encode_users
    info["seconds"] = round(time.perf_counter() - started, 3)
    _write_record(run_dir, info, texts_config)
    return RunTexts(user_vectors, item_vectors, texts.user_fallback, texts.item_fallback, info,
                    texts.users, texts.items)


# --- step 2: generate or read ---------------------------------------------------------------------

def produce_texts(source: TextSource, config: TextsConfig, data: PreparedData) -> TextFolder:
    """The source's texts matched to ``data``, written by the backend first where step 1 says
    so; item texts from ``texts.item_dir`` replace the folder's."""
    if source.generate:
        generate_texts(data, config.backend, config, source.folder, force=source.force)
    folder = read_text_folder(source.folder, data)
    if config.item_dir is not None:
        folder = with_imported_items(folder, config, data)
    return folder


def with_imported_items(source: TextFolder, config: TextsConfig, data: PreparedData
                        ) -> TextFolder:
    """``source`` with its item texts replaced by ``texts.item_dir``'s item_descriptions.json.

    Ids the dataset does not have are refused (one line naming the file) unless
    ``texts.ignore_unknown_item_ids`` says they are items the data filters removed."""
    path = Path(config.item_dir) / ITEM_FILE  # type: ignore[arg-type]
    if not path.is_file():
        raise ConfigError(f"texts.item_dir: {path} does not exist (expected a JSON object of "
                          "item id → description)")
    items = match_ids(read_texts_file(path), item_id_index(data), path, "item")
    if items.unknown and not config.ignore_unknown_item_ids:
        raise DataError(f"{path}: {len(items.unknown)} item ids are not in dataset "
                        f"{data.name!r} (e.g. {items.unknown[:3]}); set "
                        "texts.ignore_unknown_item_ids: true if your data filters removed them")
    if items.unknown:
        log.warning("%s: %d item ids not in dataset %r ignored (texts.ignore_unknown_item_ids)",
                    path, len(items.unknown), data.name)
    return replace(source, items=items)


# --- step 3: fill the gaps ------------------------------------------------------------------------

def fill_missing_with_template(source: TextFolder, data: PreparedData,
                               item_statistics: bool = True) -> CompleteTexts:
    """The source's texts, and the template text (flagged, logged; ``texts.item_statistics`` as
    configured) wherever the source has none."""
    user_fallback = np.array([u not in source.users.texts for u in range(data.num_users)])
    item_fallback = np.array([i == 0 or i not in source.items.texts
                              for i in range(data.num_items + 1)])
    item_fallback[0] = False
    templates_users: list[str] = []
    templates_items: list[str] = []
    if user_fallback.any() or item_fallback.any():
        templates_users, templates_items = template_texts(data, item_statistics=item_statistics)
        log.warning("texts from %s miss %d of %d users and %d of %d items: the template text "
                    "is used for them (flagged in texts.json)", source.folder,
                    int(user_fallback.sum()), data.num_users, int(item_fallback.sum()),
                    data.num_items)
    users = [source.users.texts.get(u) or templates_users[u] for u in range(data.num_users)]
    items = [""] + [source.items.texts.get(i) or templates_items[i]
                    for i in range(1, data.num_items + 1)]
    for kind, matched in (("user", source.users), ("item", source.items)):
        if matched.unknown:
            log.warning("%s: %d %s ids are not in dataset %r and were ignored (e.g. %s)",
                        source.folder, len(matched.unknown), kind, data.name,
                        matched.unknown[:3])
    return CompleteTexts(users, items, user_fallback, item_fallback)


def _warn_imported_item_statistics(texts: CompleteTexts, config: TextsConfig,
                                   source: TextSource) -> None:
    """``texts.item_statistics: false`` leaves statistics out of the texts ur4rec writes only;
    imported item texts are used as they are, which is said."""
    imported_items = int((~texts.item_fallback[1:]).sum())
    imported = config.item_dir is not None or source.origin == "imported"
    if not config.item_statistics and imported and imported_items:
        log.warning("texts.item_statistics is false, but %d item texts are imported from %s and "
                    "are used as they are (only generated and template stand-in texts leave "
                    "training statistics out)", imported_items, config.item_dir or source.folder)


# --- step 4: encode -------------------------------------------------------------------------------

def encode_run_texts(texts: CompleteTexts, config: TextsConfig, data: PreparedData,
                     encode_users: bool = True) -> tuple[np.ndarray, np.ndarray, EncodeReport]:
    """``(user_vectors [U, D], item_vectors [N + 1, D] with row 0 zeros, report)``; the
    encoder's dimension must be ``texts.embedding_dim``. ``encode_users=False``: the user rows
    are zeros and no user text is encoded."""
    users = texts.users if encode_users else []
    vectors, report = encode_texts(users + texts.items[1:], config.encoder_model,
                                   config.encode_batch_size)
    if report.dim != config.embedding_dim:
        raise ConfigError(f"texts.embedding_dim is {config.embedding_dim} but encoder "
                          f"{report.encoder!r} gives {report.dim}-d vectors; set "
                          f"texts.embedding_dim: {report.dim}")
    item_vectors = np.zeros((data.num_items + 1, report.dim), dtype=np.float32)
    item_vectors[1:] = vectors[len(users):]
    user_vectors = (vectors[:data.num_users] if encode_users
                    else np.zeros((data.num_users, report.dim), dtype=np.float32))
    return user_vectors, item_vectors, report


# --- step 5: record provenance --------------------------------------------------------------------

def record_provenance(source: TextSource, folder: TextFolder, texts: CompleteTexts,
                      report: EncodeReport, config: TextsConfig, data: PreparedData
                      ) -> dict[str, Any]:
    """What ``results.json["texts"]`` says of the texts: backend, origin, counts, fallbacks,
    the encoding, and per side (``sides``) where the texts came from and whether they may leak."""
    info = _describe(folder, source.origin, texts, report, data)
    item_origin = "imported" if config.item_dir is not None else source.origin
    info["sides"] = {
        "users": {"origin": source.origin, "dir": str(source.folder), "backend": info["backend"],
                  "possibly_leaking": folder.possibly_leaking},
        "items": {"origin": item_origin, "backend": "import" if config.item_dir
                  else info["backend"], "dir": str(config.item_dir or source.folder),
                  "from_source": info["counts"]["item_texts_from_source"],
                  "fallback_template": int(texts.item_fallback.sum())}}
    _check_item_side(info, config, folder, data)
    return info


def _describe(folder: TextFolder, origin: str, texts: CompleteTexts, report: EncodeReport,
              data: PreparedData) -> dict[str, Any]:
    provenance = folder.provenance or {}
    from_source_users = int((~texts.user_fallback).sum())
    return {
        "backend": provenance.get("backend") or "import", "origin": origin,
        "dir": str(folder.folder),
        "model": provenance.get("model"), "prompt_version": provenance.get("prompt_version"),
        "encoder": report.encoder, "dim": report.dim,
        "counts": {"users": data.num_users, "items": data.num_items,
                   "user_texts_from_source": from_source_users,
                   "item_texts_from_source": int((~texts.item_fallback[1:]).sum())},
        "fallback": {"users": int(texts.user_fallback.sum()),
                     "items": int(texts.item_fallback.sum()), "backend": "template",
                     "empty_user_texts": len(folder.users.empty),
                     "empty_item_texts": len(folder.items.empty)},
        "unknown_ids_ignored": {"users": len(folder.users.unknown),
                                "items": len(folder.items.unknown)},
        "possibly_leaking": folder.possibly_leaking,
        "leaking_users": from_source_users if folder.possibly_leaking else 0,
        "user_history": provenance.get("user_history", "unknown"),
        "kg": provenance.get("kg"),
        "encoding": report.as_dict(),
        "fingerprint": data.meta.get("fingerprint"),
    }


def _check_item_side(info: dict[str, Any], config: TextsConfig, folder: TextFolder,
                     data: PreparedData) -> None:
    """Add the item texts' provenance check (:func:`~ur4rec.text.io.check_item_texts`) to
    ``info["sides"]["items"]``; possibly leaking item texts make the whole record
    ``possibly_leaking`` (→ ``results.json["leaky"]``) and are logged. Only texts taken from
    the source count: template stand-ins are written here from this data."""
    items = info["sides"]["items"]
    if not items["from_source"]:
        items.update(possibly_leaking=False, reason="no item text from the source")
        return
    provenance = (read_provenance(Path(config.item_dir)) if config.item_dir is not None
                  else folder.provenance)
    items.update(check_item_texts(item_texts_origin(provenance), data))
    if items["possibly_leaking"]:
        info["possibly_leaking"] = True
        log.warning("item texts from %s are possibly leaky: %s (results.json: leaky, "
                    "texts.sides.items)", items["dir"], items["reason"])


def _write_record(run_dir: Path, info: dict[str, Any], config: TextsConfig) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {**info, "texts_config": config.model_dump(mode="json")}
    (run_dir / RUN_RECORD).write_text(json.dumps(record, indent=2, default=str),
                                      encoding="utf-8")
