"""Keep the C heap from growing without bound under evaluation's repeated catalogue-wide
temporaries.

Evaluation makes thousands of ``[B, N + 1]`` tensors of a few MiB (scores, masks, one per fusion
share while shares are chosen). glibc serves blocks above its mmap threshold with ``mmap`` and
returns them on free, but it raises that threshold (up to 32 MiB) each time such a block is
freed; after that the same blocks come from the heap, where blocks of varying sizes fragment it
and the process keeps what it freed. Measured on Yelp (20,033 items, 12 shares per batch, the
selection pass of ``ur4rec_yelp``): the process grew by ~125 MB/s, to 22.7 GB, where the OOM
killer stopped it; with the threshold fixed at glibc's initial 128 KiB it stayed at ~0.85 GB.
:func:`bound_heap_growth` fixes it (``mallopt``, glibc only; a ``MALLOC_MMAP_THRESHOLD_`` the
user set is left alone).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's initial value, kept from then on
_fixed = False


def bound_heap_growth() -> bool:
    """Fix glibc's mmap threshold once per process; True when this call fixed it. Does nothing
    off Linux, without glibc's ``mallopt`` (e.g. musl), or when ``MALLOC_MMAP_THRESHOLD_`` is
    set (the user chose)."""
    global _fixed
    if _fixed or not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    _fixed = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    if not _fixed:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused; the heap may grow during evaluation")
    return _fixed
