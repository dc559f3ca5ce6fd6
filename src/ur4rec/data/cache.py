"""Where downloaded and prepared data live on the user's machine (never in the repository)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ur4rec.errors import DataError


def cache_root() -> Path:
    """``$UR4REC_CACHE_DIR``, else ``$XDG_CACHE_HOME/ur4rec``, else ``~/.cache/ur4rec``."""
    explicit = os.environ.get("UR4REC_CACHE_DIR")
    if explicit:
        root = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base) / "ur4rec"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"cache directory {root} cannot be created ({error.strerror}); "
            "set UR4REC_CACHE_DIR to a writable folder"
        ) from None
    if not os.access(root, os.W_OK):
        raise DataError(f"cache directory {root} is not writable; set UR4REC_CACHE_DIR")
    return root


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(folder: Path, expected: dict[str, str]) -> None:
    """Raise naming the first file whose sha256 differs from ``expected``."""
    for name, want in expected.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"cached file {path} is missing; delete {folder} and prepare again")
        try:
            got = sha256_file(path)
        except OSError as error:
            raise DataError(f"cached file {path} is unreadable ({error.strerror})") from None
        if got != want:
            raise DataError(
                f"cached file {path} has sha256 {got[:12]}…, expected {want[:12]}… — "
                f"the copy is damaged; delete {folder} and prepare again"
            )
