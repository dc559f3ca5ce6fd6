"""Text folders in the prototype's format, plus the provenance that says whether they leak.

A text folder holds ``user_preferences.json`` and ``item_descriptions.json`` (original id → text,
the prototype's format) and, when ur4rec wrote it, ``texts_provenance.json``. User texts count as
leakage-free only if that provenance says they were written by ur4rec from the *training*
histories of this very dataset (same fingerprint); anything else is *possibly leaking*.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ur4rec import __version__
from ur4rec.data.prepared import PreparedData
from ur4rec.errors import DataError

USER_FILE = "user_preferences.json"
ITEM_FILE = "item_descriptions.json"
PROVENANCE_FILE = "texts_provenance.json"
TRAINING_HISTORY = "training"
NO_ITEM_STATISTICS_SUFFIX = "-noitemstats"
"""ends a template or prompt version whose item texts quote no training statistic"""
HISTORY_RULE = ("user texts read only each user's training prefix: the first len(history) - 2 "
                "interactions (validation and test items excluded)")


@dataclass
class MatchedTexts:
    """Texts of one file matched to dataset indices."""

    texts: dict[int, str]
    unknown: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)


@dataclass
class TextFolder:
    """What a text folder holds, matched to a dataset."""

    folder: Path
    users: MatchedTexts
    items: MatchedTexts
    provenance: dict[str, Any] | None
    possibly_leaking: bool


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write to a temporary file, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(payload, stream, ensure_ascii=False, indent=1)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_texts_file(path: Path) -> dict[str, str]:
    """``{id: text}`` from a prototype-format file, or a one-line error naming what is wrong."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(f"{path} cannot be read ({error.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(payload, dict):
        raise DataError(f"{path} must hold a JSON object mapping ids to texts, "
                        f"got a {type(payload).__name__}")
    for key, value in payload.items():
        if not isinstance(value, str):
            raise DataError(f"{path}: the value of id {key!r} must be a string, "
                            f"got {type(value).__name__}")
    return payload


def match_ids(texts: dict[str, str], ids: dict[str, int], path: Path, kind: str
              ) -> MatchedTexts:
    """Map original ids onto dataset indices; unknown and empty ones are listed, not dropped
    silently. No id of the dataset at all means the wrong file or dataset: an error."""
    matched = MatchedTexts(texts={})
    for key, text in texts.items():
        index = ids.get(str(key).strip())
        if index is None:
            matched.unknown.append(key)
        elif not text.strip():
            matched.empty.append(key)
        else:
            matched.texts[index] = text.strip()
    if texts and not matched.texts and matched.unknown:
        article = "an" if kind[0] in "aeiou" else "a"
        raise DataError(f"{path}: none of its {len(texts)} ids is {article} {kind} of this dataset "
                        f"(e.g. {matched.unknown[:3]}); is it the file for another dataset?")
    return matched


def user_id_index(data: PreparedData) -> dict[str, int]:
    return {str(uid): index for index, uid in enumerate(data.user_ids)}


def item_id_index(data: PreparedData) -> dict[str, int]:
    return {str(iid): index for index, iid in enumerate(data.item_ids) if index > 0}


def read_provenance(folder: Path) -> dict[str, Any] | None:
    path = folder / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DataError(f"{path} is unreadable; delete it (the texts will then count as "
                        "possibly leaking)") from None
    return payload if isinstance(payload, dict) and payload.get("written_by") == "ur4rec" else None


def is_leakage_free(provenance: dict[str, Any] | None, data: PreparedData) -> bool:
    """Only ur4rec's own record that the texts came from this dataset's training histories."""
    return bool(provenance and provenance.get("user_history") == TRAINING_HISTORY
                and provenance.get("fingerprint") == data.meta.get("fingerprint"))


def has_texts(folder: Path | None) -> bool:
    return folder is not None and ((folder / USER_FILE).is_file()
                                   or (folder / ITEM_FILE).is_file())


def read_text_folder(folder: Path, data: PreparedData) -> TextFolder:
    """Load and match a text folder (either file may be absent: those texts count as missing)."""
    if not has_texts(folder):
        raise DataError(f"{folder} holds neither {USER_FILE} nor {ITEM_FILE}")
    users = MatchedTexts(texts={})
    items = MatchedTexts(texts={})
    if (folder / USER_FILE).is_file():
        users = match_ids(read_texts_file(folder / USER_FILE), user_id_index(data),
                          folder / USER_FILE, "user")
    if (folder / ITEM_FILE).is_file():
        items = match_ids(read_texts_file(folder / ITEM_FILE), item_id_index(data),
                          folder / ITEM_FILE, "item")
    provenance = read_provenance(folder)
    leaking = bool(users.texts) and not is_leakage_free(provenance, data)
    return TextFolder(folder, users, items, provenance, leaking)


def write_text_folder(folder: Path, data: PreparedData, users: dict[int, str],
                      items: dict[int, str], provenance: dict[str, Any]) -> None:
    """Write both files keyed by original ids, then the provenance (last: it marks a finished
    write)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PROVENANCE_FILE).unlink(missing_ok=True)
    write_json_atomic(folder / USER_FILE,
                      {str(data.user_ids[u]): text for u, text in sorted(users.items())})
    write_json_atomic(folder / ITEM_FILE,
                      {str(data.item_ids[i]): text for i, text in sorted(items.items())})
    write_json_atomic(folder / PROVENANCE_FILE, provenance)


def provenance_record(data: PreparedData, backend: str, model: str, prompt_version: str,
                      user_history: str, **extra: Any) -> dict[str, Any]:
    return {"written_by": "ur4rec", "ur4rec_version": __version__, "dataset": data.name,
            "fingerprint": data.meta.get("fingerprint"), "backend": backend, "model": model,
            "prompt_version": prompt_version, "user_history": user_history,
            "history_rule": HISTORY_RULE if user_history == TRAINING_HISTORY else None,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}


def cold_set_record(data: PreparedData) -> dict[str, Any] | None:
    """``{"items": n, "sha256": …}`` naming ``data``'s cold items by their original ids (sorted),
    or None when the data has none: which items a text's training statistics never saw."""
    if not len(data.cold_items):
        return None
    ids = sorted(str(data.item_ids[int(i)]) for i in data.cold_items)
    digest = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
    return {"items": len(ids), "sha256": digest}


def item_text_record(data: PreparedData, item_statistics: bool) -> dict[str, Any]:
    """What ``item_texts`` in a provenance says about item texts ur4rec writes from ``data``:
    the data they were written from, whether they quote its training statistics, and the
    cold set those statistics left out."""
    return {"written_from": data.meta.get("fingerprint"), "dataset": data.name,
            "item_statistics": bool(item_statistics), "cold_set": cold_set_record(data)}


UNKNOWN_ITEM_TEXTS: dict[str, Any] = {"written_from": None}
"""``item_texts`` of texts ur4rec did not write (imported files): their origin is unknown"""


def item_texts_origin(provenance: dict[str, Any] | None) -> dict[str, Any]:
    """The ``item_texts`` record of a folder's provenance (:func:`item_text_record`); for ur4rec
    records written before it existed, derived from the backend, fingerprint and prompt
    version; :data:`UNKNOWN_ITEM_TEXTS` when the origin is unknown."""
    if not provenance:
        return dict(UNKNOWN_ITEM_TEXTS)
    if isinstance(provenance.get("item_texts"), dict):
        return provenance["item_texts"]
    if provenance.get("backend") in (None, "import"):
        return dict(UNKNOWN_ITEM_TEXTS)
    version = str(provenance.get("prompt_version") or "")
    return {"written_from": provenance.get("fingerprint"), "dataset": provenance.get("dataset"),
            "item_statistics": not version.endswith(NO_ITEM_STATISTICS_SUFFIX),
            "cold_set": "unknown"}


def check_item_texts(origin: dict[str, Any], data: PreparedData) -> dict[str, Any]:
    """Whether item texts of ``origin`` (:func:`item_texts_origin`) may quote interactions this
    run holds out: ``{"possibly_leaking": bool, "reason": str, **origin}``.

    Clean: written by ur4rec from this very data (same fingerprint), or quoting no training
    statistic (``texts.item_statistics: false``: title, genres, era — content only). Possibly
    leaking: statistics of other data (its training part may hold this run's held-out
    interactions — on cold data, typically the cold items' own: "59 viewers … averaging 3.9"
    for an item this run calls new), and, on data with cold items, texts of unknown origin (a
    cold item's text is all that places it). Flagged, never refused: importing such texts on
    purpose (to measure what a leak is worth) stays possible, and the results say so.
    """
    fingerprint = data.meta.get("fingerprint")
    cold = cold_set_record(data)
    written_from = origin.get("written_from")
    if written_from is None:
        leaking = cold is not None
        reason = ("unknown origin: not written by ur4rec, so nothing says which interactions "
                  "they quote" + (f"; this run has {cold['items']} cold items, whose texts may "
                                  "describe held-out interactions" if leaking else ""))
    elif origin.get("item_statistics") is False:
        leaking, reason = False, "they quote no training statistic (content only)"
    elif written_from == fingerprint:
        leaking, reason = False, "written by ur4rec from this data's training part"
    else:
        leaking = True
        source_cold = origin.get("cold_set")
        reason = (f"they quote training statistics of other data (dataset "
                  f"{origin.get('dataset')!r}, fingerprint {written_from}), whose training part "
                  "may hold interactions this run holds out")
        if cold is not None and (not isinstance(source_cold, dict)
                                 or source_cold.get("sha256") != cold["sha256"]):
            held = ("no cold set" if source_cold is None else "an unknown cold set"
                    if source_cold == "unknown" else f"another cold set of "
                    f"{source_cold.get('items')} items")
            reason += (f"; that data has {held}, so this run's {cold['items']} cold items may "
                       "have been trained there (their texts quote held-out interactions)")
    return {"possibly_leaking": leaking, "reason": reason, **origin}
