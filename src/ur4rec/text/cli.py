"""``ur4rec texts generate|import|export|encode|show``: the parser; the subcommands run in
:mod:`ur4rec.text.commands`, a thin layer over :mod:`ur4rec.text`.

Each subcommand prints one JSON summary on stdout; problems a user can fix raise
:class:`~ur4rec.errors.UR4RecError` and are printed on one line by ``ur4rec``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _add_data_args(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data", type=Path, help="prepared dataset folder")
    source.add_argument("--dataset", help="a preset (ml-100k, ml-100k-seed, amazon-beauty, "
                        "amazon-scientific, yelp), prepared if needed")
    p.add_argument("--config", type=Path, help="take the data and texts sections of this config")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ur4rec texts`` and its subcommands to the ``ur4rec`` parser."""
    texts = subparsers.add_parser("texts", help="user/item texts: generate, import, encode")
    sub = texts.add_subparsers(dest="texts_command", required=True)
    _add_generate(sub)
    _add_import_export(sub)
    _add_encode_show(sub)


def _add_generate(sub: argparse._SubParsersAction) -> None:
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


def _add_import_export(sub: argparse._SubParsersAction) -> None:
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


def _add_encode_show(sub: argparse._SubParsersAction) -> None:
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


def cmd_texts(args: argparse.Namespace) -> int:
    from ur4rec.text.commands import SUBCOMMANDS  # torch loads only when a command runs

    return SUBCOMMANDS[args.texts_command](args)


COMMANDS = {"texts": cmd_texts}
