"""``ur4rec texts generate|import|export|encode|show``: a thin layer over :mod:`ur4rec.text`.

Each subcommand prints one JSON summary on stdout; problems a user can fix raise
:class:`~ur4rec.errors.UR4RecError` and are printed on one line by ``ur4rec``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ur4rec.errors import DataError, UR4RecError


def _add_data_args(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, help="prepared dataset folder")
    source.add_argument("--dataset", help="a preset (ml-100k, ml-100k-seed, amazon-beauty, "
                        "amazon-scientific, yelp), prepared if needed")
    p.add_argument("--config", type=Path, help="take the data and texts sections of this config")


def register(subparsers: argparse._SubParsersAction) -> None:
    texts = subparsers.add_parser("texts", help="user/item texts: generate, import, encode")
    sub = texts.add_subparsers(dest="texts_command", required=True)

    gen = sub.add_parser("generate", help="write user and item texts with a backend")
    _add_data_args(gen)
    gen.add_argument("--backend", choices=["template", "openai", "local"])
    gen.add_argument("--out", type=Path, required=True, help="text folder to write")
    gen.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1")
    gen.add_argument("--model", help="model name at the endpoint")
    gen.add_argument("--api-key-env", default="OPENAI_API_KEY",
                     help="environment variable holding the API key (default OPENAI_API_KEY)")
    gen.add_argument("--concurrency", type=int, help="requests in flight at once")
    gen.add_argument("--timeout", type=float, help="seconds per request attempt")
    gen.add_argument("--max-retries", type=int)
    gen.add_argument("--model-path", type=Path, help="local backend: GGUF file or HF folder")
    gen.add_argument("--max-new-tokens", type=int)
    gen.add_argument("--history-items", type=int, help="training items shown per user prompt")
    gen.add_argument("--limit", type=int, help="only the first N users and N items")
    gen.add_argument("--only", choices=["users", "items"], help="only user or only item texts")
    gen.add_argument("--no-item-statistics", action="store_true",
                     help="item texts without training statistics (texts.item_statistics: false)")
    gen.add_argument("--user-ids", help="only these users (comma-separated original ids)")
    gen.add_argument("--item-ids", help="only these items (comma-separated original ids)")
    gen.add_argument("--force", action="store_true", help="overwrite texts of another origin")
    gen.add_argument("--no-progress", action="store_true")

    imp = sub.add_parser("import", help="import texts in the prototype's format")
    _add_data_args(imp)
    imp.add_argument("--from", dest="source", type=Path,
                     help="folder with user_preferences.json and/or item_descriptions.json")
    imp.add_argument("--users", type=Path, help="a user_preferences.json file")
    imp.add_argument("--items", type=Path, help="an item_descriptions.json file")
    imp.add_argument("--out", type=Path, required=True, help="text folder to write")
    imp.add_argument("--allow-partial", action="store_true",
                     help="drop ids unknown to the dataset and empty texts instead of failing")

    exp = sub.add_parser("export", help="write the complete texts a run would use "
                                        "(template text where the source has none)")
    _add_data_args(exp)
    exp.add_argument("--texts", type=Path, required=True, help="source text folder")
    exp.add_argument("--out", type=Path, required=True)

    enc = sub.add_parser("encode", help="encode a text folder (cached per text)")
    _add_data_args(enc)
    enc.add_argument("--texts", type=Path, required=True, help="text folder")
    enc.add_argument("--encoder", help="sentence-transformers model name or folder")
    enc.add_argument("--batch-size", type=int)
    enc.add_argument("--out", type=Path, help="vectors file (default TEXTS/embeddings.npz)")
    enc.add_argument("--no-progress", action="store_true")

    show = sub.add_parser("show", help="print some texts of a folder")
    show.add_argument("--texts", type=Path, required=True)
    show.add_argument("--users", default="", help="comma-separated original user ids")
    show.add_argument("--items", default="", help="comma-separated original item ids")


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(PreparedData, TextsConfig)`` from --data / --dataset / --config."""
    from ur4rec.config import DataConfig, TextsConfig, load_config
    from ur4rec.data.prepared import PreparedData, prepare_dataset

    config = load_config(args.config) if args.config else None
    texts = config.texts if config else TextsConfig()
    if args.data:
        return PreparedData.load(args.data), texts
    data_config = DataConfig(dataset=args.dataset) if args.dataset else (
        config.data if config else DataConfig())
    return prepare_dataset(data_config), texts


def _print(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, indent=2, default=str, ensure_ascii=False))


def _selection(args: argparse.Namespace, data: Any) -> tuple[list[int] | None, list[int] | None]:
    """Which user and item indices --limit/--only/--user-ids/--item-ids ask for (None: all)."""
    from ur4rec.text.io import item_id_index, user_id_index

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


def cmd_generate(args: argparse.Namespace) -> int:
    from ur4rec.text.generate import generate_texts

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


def cmd_import(args: argparse.Namespace) -> int:
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
        read_texts_file,
        user_id_index,
        write_text_folder,
    )

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


def cmd_export(args: argparse.Namespace) -> int:
    from ur4rec.text.io import read_text_folder, write_text_folder
    from ur4rec.text.pipeline import fill_missing_with_template

    data, texts = _load(args)
    source = read_text_folder(args.texts, data)
    users, items, user_fallback, item_fallback = fill_missing_with_template(
        source, data, texts.item_statistics)
    provenance = dict(source.provenance or {"written_by": "ur4rec", "backend": "import",
                                            "user_history": "unknown"})
    provenance.update(exported_from=str(args.texts), complete=True,
                      fallback={"backend": "template", "users": int(user_fallback.sum()),
                                "items": int(item_fallback.sum())},
                      possibly_leaking=source.possibly_leaking)
    write_text_folder(args.out, data, dict(enumerate(users)),
                      {i: t for i, t in enumerate(items) if i > 0}, provenance)
    _print({"folder": str(args.out), "users": len(users), "items": len(items) - 1,
            "fallback": provenance["fallback"], "possibly_leaking": source.possibly_leaking})
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    import numpy as np

    from ur4rec.text.encode import encode_texts
    from ur4rec.text.io import read_text_folder
    from ur4rec.text.pipeline import fill_missing_with_template

    data, texts = _load(args)
    source = read_text_folder(args.texts, data)
    users, items, user_fallback, item_fallback = fill_missing_with_template(
        source, data, texts.item_statistics)
    vectors, report = encode_texts(users + items[1:], args.encoder or texts.encoder_model,
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


def cmd_show(args: argparse.Namespace) -> int:
    from ur4rec.text.io import ITEM_FILE, USER_FILE, read_texts_file

    out: dict[str, Any] = {}
    for kind, wanted, name in (("users", args.users, USER_FILE), ("items", args.items, ITEM_FILE)):
        ids = [i.strip() for i in wanted.split(",") if i.strip()]
        if ids:
            texts = read_texts_file(args.texts / name)
            out[kind] = {i: texts.get(i) for i in ids}
    _print(out)
    return 0


_SUBCOMMANDS = {"generate": cmd_generate, "import": cmd_import, "export": cmd_export,
                "encode": cmd_encode, "show": cmd_show}


def cmd_texts(args: argparse.Namespace) -> int:
    return _SUBCOMMANDS[args.texts_command](args)


COMMANDS = {"texts": cmd_texts}
