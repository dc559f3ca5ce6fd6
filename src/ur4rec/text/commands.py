"""The ``ur4rec texts`` subcommands (parsed in :mod:`ur4rec.text.cli`): each prints one JSON
summary on stdout."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from ur4rec.config import DataConfig, TextsConfig, load_config
from ur4rec.data.prepared import PreparedData, prepare_dataset
from ur4rec.errors import DataError, UR4RecError
from ur4rec.text.encode import encode_texts
from ur4rec.text.generate import generate_texts
from ur4rec.text.io import (
    ITEM_FILE,
    UNKNOWN_ITEM_TEXTS,
    USER_FILE,
    is_leakage_free,
    item_id_index,
    item_texts_origin,
    match_ids,
    provenance_record,
    read_provenance,
    read_text_folder,
    read_texts_file,
    user_id_index,
    write_text_folder,
)
from ur4rec.text.pipeline import fill_missing_with_template


def _load(args: argparse.Namespace) -> tuple[PreparedData, TextsConfig]:
    """``(PreparedData, TextsConfig)`` from --data / --dataset / --config."""
    config = load_config(args.config) if args.config else None
    texts = config.texts if config else TextsConfig()
    if args.data:
        return PreparedData.load(args.data), texts
    data_config = DataConfig(dataset=args.dataset) if args.dataset else (
        config.data if config else DataConfig())
    return prepare_dataset(data_config), texts


def _print(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, indent=2, default=str, ensure_ascii=False))


def _selection(args: argparse.Namespace, data: PreparedData
               ) -> tuple[list[int] | None, list[int] | None]:
    """Which user and item indices --limit/--only/--user-ids/--item-ids ask for (None: all)."""
    if args.user_ids or args.item_ids:
        chosen = []
        for wanted, index, kind in ((args.user_ids, user_id_index(data), "user"),
                                    (args.item_ids, item_id_index(data), "item")):
            ids = [i.strip() for i in (wanted or "").split(",") if i.strip()]
            unknown = [i for i in ids if i not in index]
            if unknown:
                raise DataError(f"--{kind}-ids: {unknown} are not {kind}s of dataset "
                                f"{data.name!r}")
            chosen.append([index[i] for i in ids])
        return chosen[0], chosen[1]
    if args.limit is None and args.only is None:
        return None, None
    n_users = min(args.limit or data.num_users, data.num_users)
    n_items = min(args.limit or data.num_items, data.num_items)
    return ([] if args.only == "items" else list(range(n_users)),
            [] if args.only == "users" else list(range(1, n_items + 1)))


def generate(args: argparse.Namespace) -> int:
    data, texts = _load(args)
    updates = {key: value for key, value in (
        ("openai_base_url", args.base_url), ("openai_model", args.model),
        ("openai_concurrency", args.concurrency), ("openai_timeout_s", args.timeout),
        ("openai_max_retries", args.max_retries), ("local_model_path", args.model_path),
        ("max_new_tokens", args.max_new_tokens),
        ("history_items_in_prompt", args.history_items),
        ("item_statistics", False if args.no_item_statistics else None)) if value is not None}
    texts = texts.model_validate({**texts.model_dump(), **updates})
    backend = args.backend or (texts.backend if texts.backend != "import" else "template")
    users, items = _selection(args, data)
    try:
        result = generate_texts(data, backend, texts, args.out, users=users, items=items,
                                progress=not args.no_progress, force=args.force,
                                key_env=args.api_key_env)
    except KeyboardInterrupt:
        print(f"ur4rec: interrupted — the texts written so far are in {args.out} and in the "
              "cache; run the same command again to resume", file=sys.stderr)
        return 130
    provenance = result.provenance
    _print({"folder": str(args.out), "backend": backend, "model": provenance.get("model"),
            "prompt_version": provenance.get("prompt_version"), **provenance["counts"],
            "cached": provenance.get("cached"), "generated": provenance.get("generated"),
            "complete": provenance["complete"], "seconds": provenance["seconds"]})
    if result.failures:
        key, reason = next(iter(result.failures.items()))
        print(f"ur4rec: {len(result.failures)} texts failed and are not in {args.out} "
              f"(e.g. {key}: {reason}); they are listed in texts_provenance.json — run the same "
              "command again to retry only them", file=sys.stderr)
        return 1
    return 0


def import_texts(args: argparse.Namespace) -> int:
    data, _ = _load(args)
    paths = {kind: args.source / name for kind, name in (("user", USER_FILE), ("item", ITEM_FILE))
             if args.source and (args.source / name).is_file()}
    paths.update({kind: path for kind, path in (("user", args.users), ("item", args.items))
                  if path is not None})
    if not paths:
        raise UR4RecError("texts import needs --from DIR (holding user_preferences.json and/or "
                          "item_descriptions.json) or --users FILE and/or --items FILE")
    ids = {"user": user_id_index(data), "item": item_id_index(data)}
    matched = {}
    for kind, path in paths.items():
        if not path.is_file():
            raise DataError(f"{path} does not exist")
        result = match_ids(read_texts_file(path), ids[kind], path, kind)
        if not args.allow_partial and (result.unknown or result.empty):
            problem = (f"{len(result.unknown)} ids are not {kind}s of dataset {data.name!r} "
                       f"(e.g. {result.unknown[:3]})" if result.unknown else
                       f"{len(result.empty)} texts are empty (ids {result.empty[:3]})")
            raise DataError(f"{path}: {problem}; fix the file or pass --allow-partial to "
                            "drop them")
        matched[kind] = (path, result)
    previous = read_provenance(args.source) if args.source else None
    clean = is_leakage_free(previous, data)
    provenance = provenance_record(
        data, "import", (previous or {}).get("model", "unknown"),
        (previous or {}).get("prompt_version", "unknown"),
        "training" if clean else "unknown", complete=True,
        sources={kind: str(path) for kind, (path, _) in matched.items()},
        counts={kind + "s": len(result.texts) for kind, (_, result) in matched.items()},
        dropped={kind: {"unknown": len(r.unknown), "empty": len(r.empty)}
                 for kind, (_, r) in matched.items()},
        possibly_leaking=not clean and "user" in matched,
        item_texts=item_texts_origin(previous) if "item" in matched else UNKNOWN_ITEM_TEXTS)
    users = matched["user"][1].texts if "user" in matched else {}
    items = matched["item"][1].texts if "item" in matched else {}
    write_text_folder(args.out, data, users, items, provenance)
    _print({"folder": str(args.out), "users": len(users), "items": len(items),
            "possibly_leaking": provenance["possibly_leaking"],
            "dropped": provenance["dropped"]})
    if provenance["possibly_leaking"]:
        print("ur4rec: warning: these user texts come from an unknown history and may contain "
              "validation/test items; results computed with them are labelled leaky",
              file=sys.stderr)
    return 0


def export(args: argparse.Namespace) -> int:
    data, texts = _load(args)
    source = read_text_folder(args.texts, data)
    complete = fill_missing_with_template(source, data, texts.item_statistics)
    users, items = complete.users, complete.items
    provenance = dict(source.provenance or {"written_by": "ur4rec", "backend": "import",
                                            "user_history": "unknown"})
    provenance.update(exported_from=str(args.texts), complete=True,
                      fallback={"backend": "template",
                                "users": int(complete.user_fallback.sum()),
                                "items": int(complete.item_fallback.sum())},
                      possibly_leaking=source.possibly_leaking)
    write_text_folder(args.out, data, dict(enumerate(users)),
                      {i: t for i, t in enumerate(items) if i > 0}, provenance)
    _print({"folder": str(args.out), "users": len(users), "items": len(items) - 1,
            "fallback": provenance["fallback"], "possibly_leaking": source.possibly_leaking})
    return 0


def encode(args: argparse.Namespace) -> int:
    data, texts = _load(args)
    source = read_text_folder(args.texts, data)
    complete = fill_missing_with_template(source, data, texts.item_statistics)
    user_fallback, item_fallback = complete.user_fallback, complete.item_fallback
    vectors, report = encode_texts(complete.users + complete.items[1:], args.encoder or texts.encoder_model,
                                   args.batch_size or texts.encode_batch_size,
                                   progress=not args.no_progress)
    item_vectors = np.zeros((data.num_items + 1, report.dim), dtype=np.float32)
    item_vectors[1:] = vectors[data.num_users:]
    out = args.out or args.texts / "embeddings.npz"
    np.savez(out, user_vectors=vectors[:data.num_users], item_vectors=item_vectors,
             user_fallback=user_fallback, item_fallback=item_fallback)
    _print({**report.as_dict(), "out": str(out), "fallback_users": int(user_fallback.sum()),
            "fallback_items": int(item_fallback.sum()),
            "possibly_leaking": source.possibly_leaking})
    return 0


def show(args: argparse.Namespace) -> int:
    out: dict[str, Any] = {}
    for kind, wanted, name in (("users", args.users, USER_FILE), ("items", args.items, ITEM_FILE)):
        ids = [i.strip() for i in wanted.split(",") if i.strip()]
        if ids:
            texts = read_texts_file(args.texts / name)
            out[kind] = {i: texts.get(i) for i in ids}
    _print(out)
    return 0


SUBCOMMANDS = {"generate": generate, "import": import_texts, "export": export,
               "encode": encode, "show": show}
