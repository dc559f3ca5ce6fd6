"""What training reads: one vector per user and per item, and a record of where the texts came from.

:func:`texts_for_run` picks the texts (imported, generated now, or from the cache), fills any
missing text with the template text — counted and flagged, never silently — encodes everything
through the embedding cache and writes ``run_dir/texts.json``. Fast when everything is cached.
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
from ur4rec.data.cache import cache_root
from ur4rec.data.prepared import PreparedData
from ur4rec.errors import ConfigError, DataError
from ur4rec.text.cache import slug
from ur4rec.text.domain import domain_of
from ur4rec.text.encode import encode_texts
from ur4rec.text.generate import backend_identity, generate_texts
from ur4rec.text.io import (
    ITEM_FILE,
    TextFolder,
    check_item_texts,
    has_texts,
    item_id_index,
    item_texts_origin,
    match_ids,
    read_provenance,
    read_text_folder,
    read_texts_file,
)
from ur4rec.text.template import template_texts

log = logging.getLogger(__name__)

RUN_RECORD = "texts.json"


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


def default_texts_dir(data: PreparedData, backend: str, model: str, version: str) -> Path:
    """The cache folder of one (dataset, backend, model, prompt version)."""
    return (cache_root() / "texts" / f"{slug(data.name)}-{data.meta.get('fingerprint')}"
            / f"{backend}-{slug(model)}-{slug(version)}")


def texts_for_run(config: RunConfig, data: PreparedData, run_dir: Path,
                  llm_data_dir: Path | None) -> RunTexts:
    """Texts → vectors for training; see the module docstring."""
    started = time.perf_counter()
    texts_config = config.texts
    folder, origin = _text_source(texts_config, data, Path(run_dir), llm_data_dir)
    source = read_text_folder(folder, data)
    item_origin = origin
    if texts_config.item_dir is not None:
        source = with_imported_items(source, texts_config, data)
        item_origin = "imported"
    user_texts, item_texts, user_fallback, item_fallback = fill_missing_with_template(
        source, data, texts_config.item_statistics)
    imported_items = int((~item_fallback[1:]).sum())
    if not texts_config.item_statistics and item_origin == "imported" and imported_items:
        log.warning("texts.item_statistics is false, but %d item texts are imported from %s and "
                    "are used as they are (only generated and template stand-in texts leave "
                    "training statistics out)", imported_items,
                    texts_config.item_dir or folder)
    vectors, report = encode_texts(user_texts + item_texts[1:], texts_config.encoder_model,
                                   texts_config.encode_batch_size)
    if report.dim != texts_config.embedding_dim:
        raise ConfigError(f"texts.embedding_dim is {texts_config.embedding_dim} but encoder "
                          f"{report.encoder!r} gives {report.dim}-d vectors; set "
                          f"texts.embedding_dim: {report.dim}")
    user_vectors = vectors[:data.num_users]
    item_vectors = np.zeros((data.num_items + 1, report.dim), dtype=np.float32)
    item_vectors[1:] = vectors[data.num_users:]
    info = _describe(texts_config, data, source, origin, user_fallback, item_fallback, report)
    info["sides"] = {
        "users": {"origin": origin, "dir": str(folder), "backend": info["backend"],
                  "possibly_leaking": source.possibly_leaking},
        "items": {"origin": item_origin, "backend": "import" if texts_config.item_dir
                  else info["backend"], "dir": str(texts_config.item_dir or folder),
                  "from_source": info["counts"]["item_texts_from_source"],
                  "fallback_template": int(item_fallback.sum())}}
    _check_item_side(info, texts_config, source, data)
    info["seconds"] = round(time.perf_counter() - started, 3)
    _write_record(Path(run_dir), info, texts_config)
    return RunTexts(user_vectors, item_vectors, user_fallback, item_fallback, info,
                    user_texts, item_texts)


def _check_item_side(info: dict[str, Any], config: TextsConfig, source: TextFolder,
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
                  else source.provenance)
    items.update(check_item_texts(item_texts_origin(provenance), data))
    if items["possibly_leaking"]:
        info["possibly_leaking"] = True
        log.warning("item texts from %s are possibly leaky: %s (results.json: leaky, "
                    "texts.sides.items)", items["dir"], items["reason"])


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


def _text_source(config: TextsConfig, data: PreparedData, run_dir: Path,
                 llm_data_dir: Path | None) -> tuple[Path, str]:
    """``(folder, origin)``; origin is imported, generated, cached or reused.

    Without ``llm_data_dir`` a run that has texts already (``run_dir/texts.json``: a resume, or
    a trained run evaluated again) reads the same folder again. Texts it had *imported* (from
    ``--llm_data_dir`` or ``texts.backend: import``) stay ``imported``, so the training view
    is skipped as in the first attempt and training and evaluation read the same imported texts
    — never template texts for one and imported ones for the other; if that folder holds no
    texts any more, the run is refused (see :func:`_previous_source`).
    """
    if llm_data_dir is not None:
        if has_texts(llm_data_dir):
            return llm_data_dir, "imported"
        if config.backend == "import":
            raise DataError(f"--llm_data_dir {llm_data_dir} holds no user_preferences.json or "
                            "item_descriptions.json to import")
        generate_texts(data, config.backend, config, llm_data_dir, progress=True)
        return llm_data_dir, "generated"
    previous = _previous_source(run_dir, config, data)
    if previous is not None:
        folder, previous_origin = previous
        return folder, "imported" if previous_origin == "imported" else "reused"
    if config.backend == "import":
        if not has_texts(config.dir):
            raise ConfigError(f"texts.backend is 'import' but texts.dir ({config.dir}) holds no "
                              "user_preferences.json or item_descriptions.json")
        return Path(config.dir), "imported"  # type: ignore[arg-type]
    model, version = backend_identity(config.backend, config, domain=domain_of(data))
    folder = Path(config.dir) if config.dir else default_texts_dir(data, config.backend, model,
                                                                   version)
    if has_texts(folder):
        provenance = read_provenance(folder)
        if provenance is None:  # texts someone put there: use them, as an import
            return folder, "imported"
        identity = (provenance.get("fingerprint"), provenance.get("backend"),
                    provenance.get("model"), provenance.get("prompt_version"))
        if identity == (data.meta.get("fingerprint"), config.backend, model, version):
            if provenance.get("complete"):
                return folder, "cached"
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
    generate_texts(data, config.backend, config, folder, force=config.dir is None)
    return folder, "generated"


def _previous_source(run_dir: Path, config: TextsConfig, data: PreparedData
                     ) -> tuple[Path, str] | None:
    """``(folder, origin)`` this run used before (a resume, or a trained run evaluated again),
    with the same texts config and dataset; None when it has none.

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
    origin = str(record.get("origin", "reused"))
    if has_texts(folder):
        return folder, origin
    if origin == "imported" and not (config.backend == "import" and config.dir is not None
                                     and Path(config.dir) == folder):  # that names texts.dir
        raise DataError(f"{record_path}: this run's texts were imported from {folder}, which "
                        "holds no user_preferences.json or item_descriptions.json now; pass "
                        "--llm_data_dir with the folder that holds them (or train into a new "
                        "output directory)")
    return None


def fill_missing_with_template(source: TextFolder, data: PreparedData,
                               item_statistics: bool = True
                               ) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """``(user_texts, item_texts [row 0 = ""], user_fallback, item_fallback)``: the source's
    texts, and the template text (flagged, logged; ``texts.item_statistics`` as configured)
    wherever the source has none."""
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
    return users, items, user_fallback, item_fallback


def _describe(config: TextsConfig, data: PreparedData, source: TextFolder, origin: str,
              user_fallback: np.ndarray, item_fallback: np.ndarray, report: Any
              ) -> dict[str, Any]:
    provenance = source.provenance or {}
    backend = provenance.get("backend") or "import"
    from_source_users = int((~user_fallback).sum())
    return {
        "backend": backend, "origin": origin, "dir": str(source.folder),
        "model": provenance.get("model"), "prompt_version": provenance.get("prompt_version"),
        "encoder": report.encoder, "dim": report.dim,
        "counts": {"users": data.num_users, "items": data.num_items,
                   "user_texts_from_source": from_source_users,
                   "item_texts_from_source": int((~item_fallback[1:]).sum())},
        "fallback": {"users": int(user_fallback.sum()), "items": int(item_fallback.sum()),
                     "backend": "template",
                     "empty_user_texts": len(source.users.empty),
                     "empty_item_texts": len(source.items.empty)},
        "unknown_ids_ignored": {"users": len(source.users.unknown),
                                "items": len(source.items.unknown)},
        "possibly_leaking": source.possibly_leaking,
        "leaking_users": from_source_users if source.possibly_leaking else 0,
        "user_history": provenance.get("user_history", "unknown"),
        "kg": provenance.get("kg"),
        "encoding": report.as_dict(),
        "fingerprint": data.meta.get("fingerprint"),
    }


def _write_record(run_dir: Path, info: dict[str, Any], config: TextsConfig) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {**info, "texts_config": config.model_dump(mode="json")}
    (run_dir / RUN_RECORD).write_text(json.dumps(record, indent=2, default=str),
                                      encoding="utf-8")


def training_view_user_vectors(config: RunConfig, data: PreparedData, holdout: int
                               ) -> tuple[np.ndarray, dict[str, Any]]:
    """User vectors written *before* each user's last ``holdout`` training items.

    The retriever trains only on targets among those items (``retriever.train_window``); if it
    read text written from them ("recently enjoyed …" names them), training would teach it to
    read answers out of the text, which no evaluation text offers. Generated with the same
    backend as the evaluation texts, cached like them (the view has its own fingerprint). The
    record says how many training targets the texts name: by construction none.
    """
    texts_config = config.texts
    view = data.without_recent_training(holdout)
    model, version = backend_identity(texts_config.backend, texts_config,
                                      domain=domain_of(view))
    folder = default_texts_dir(view, texts_config.backend, model, version)
    provenance = read_provenance(folder) if has_texts(folder) else None
    if not provenance or provenance.get("fingerprint") != view.meta.get("fingerprint"):
        generate_texts(view, texts_config.backend, texts_config, folder, items=[], force=True,
                       progress=False)
    source = read_text_folder(folder, view)
    missing = [u for u in range(view.num_users) if not source.users.texts.get(u)]
    templates = template_texts(view)[0] if missing else []
    texts = [source.users.texts.get(u) or templates[u] for u in range(view.num_users)]
    vectors, report = encode_texts(texts, texts_config.encoder_model,
                                   texts_config.encode_batch_size)
    return vectors, {"holdout": holdout, "dir": str(folder), "fallback_users": len(missing),
                     "encoding": report.as_dict(),
                     "targets": training_target_exposure(data, view, texts),
                     "meaning": f"training reads user texts written without each user's last "
                                f"{holdout} training items, the only positions the retriever "
                                "trains on (retriever.train_window)"}


def training_target_exposure(data: PreparedData, view: PreparedData, texts: list[str]
                             ) -> dict[str, Any]:
    """How many of the retriever's possible training targets (the training items ``view`` left
    out) the training-view texts could see: inside the items they were written from, or named
    verbatim by title. Both must be 0 for a leak-free training view.

    A title only counts as naming the target when no item the text was written from carries it
    within its own title: ML-100K lists some films twice under one title (two ids for "Chasing
    Amy (1997)"), and "Fear (1996)" is part of "Primal Fear (1996)". Raw matches are reported too.
    """
    from ur4rec.text.catalog import display_title

    titles = [""] + [display_title(t, y, i, alternate_wanted=False) for t, y, i in
                     data.items[["title", "year", "item"]].itertuples(index=False)]
    targets = in_window = named = raw = 0
    for user, (full, cut) in enumerate(zip(data.train_sequences, view.train_sequences,
                                           strict=True)):
        held_out = full[len(cut):]
        source_items = set(cut.tolist())
        source_titles = [titles[item] for item in source_items]
        text = texts[user]
        targets += len(held_out)
        in_window += sum(int(item) in source_items for item in held_out)
        for item in held_out:
            title = titles[item]
            if title and title in text:
                raw += 1
                named += not any(title in other for other in source_titles)
    def share(count: int) -> float:
        return round(count / targets, 6) if targets else 0.0

    return {"possible_targets": targets, "in_text_source": in_window,
            "named_in_text": named, "share_named": share(named),
            "share_in_source": share(in_window), "title_matches_raw": raw}
