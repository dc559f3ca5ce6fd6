"""Persistent caches on disk (SQLite): generated texts and text embeddings.

Each answer is committed as soon as it arrives, so an interrupted run loses nothing and the next
run asks only for what is missing; a re-run costs nothing. SQLite gives atomic writes and safe
concurrent readers without a server.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ur4rec.data.cache import cache_root
from ur4rec.errors import UR4RecError


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def slug(name: str) -> str:
    """A file-name-safe form of a model name or path."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.strip("/"))
    return cleaned[-80:] or "model"


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = sqlite3.connect(path, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as error:
        raise UR4RecError(f"cache {path} cannot be opened ({error}); delete it or set "
                          "UR4REC_CACHE_DIR to another folder") from None
    return connection


class GenerationCache:
    """Generated texts keyed by (backend, model, prompt version, prompt, generation settings)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_root() / "texts" / "generations.sqlite"
        self._db = _connect(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS generations (key TEXT PRIMARY KEY, "
                         "text TEXT NOT NULL, backend TEXT, model TEXT, created REAL)")
        self._db.commit()

    @staticmethod
    def key(backend: str, model: str, prompt_version: str, system: str, prompt: str,
            settings: dict) -> str:
        payload = json.dumps([backend, model, prompt_version, system, prompt, settings],
                             sort_keys=True, ensure_ascii=False)
        return text_hash(payload)

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(keys)
        found: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self._db.execute(
                f"SELECT key, text FROM generations WHERE key IN ({','.join('?' * len(chunk))})",
                chunk)
            found.update(rows.fetchall())
        return found

    def put(self, key: str, text: str, backend: str, model: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?)",
                         (key, text, backend, model, time.time()))
        self._db.commit()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class EmbeddingCache:
    """Vectors of one encoder, keyed by the sha256 of the text (float32 blobs)."""

    def __init__(self, model_name: str, path: Path | None = None) -> None:
        self.model_name = model_name
        self.path = path or cache_root() / "embeddings" / f"{slug(model_name)}.sqlite"
        self._db = _connect(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, "
                         "vector BLOB NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = self._db.execute("SELECT value FROM meta WHERE key='model'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('model', ?)", (model_name,))
            self._db.commit()
        elif row[0] != model_name:
            raise UR4RecError(f"embedding cache {self.path} belongs to model {row[0]!r}, not "
                              f"{model_name!r}; delete it or set UR4REC_CACHE_DIR")

    def get_many(self, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 500):
            chunk = hashes[start:start + 500]
            rows = self._db.execute(
                f"SELECT hash, vector FROM vectors WHERE hash IN ({','.join('?' * len(chunk))})",
                chunk)
            found.update((h, np.frombuffer(blob, dtype=np.float32)) for h, blob in rows)
        return found

    def put_many(self, hashes: list[str], vectors: np.ndarray) -> None:
        rows = [(h, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                for h, v in zip(hashes, vectors, strict=True)]
        self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
        self._db.commit()

    def close(self) -> None:
        self._db.close()
