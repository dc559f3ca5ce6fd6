"""Keep the C heap from growing without bound under evaluation's repeated catalogue-wide
temporaries.

Evaluation makes thousands of ``[B, N + 1]`` tensors of a few MiB (scores, masks, one per fusion
share while shares are chosen). glibc serves blocks above its mmap threshold with ``mmap`` and
returns them on free, but it raises that threshold (up to 32 MiB) each time such a block is
freed; after that the same blocks come from the heap, where blocks of varying sizes fragment it
and the process keeps what it freed. Measured on Yelp (20,033 items, 12 shares per batch, the
selection pass of ``ur4rec_yelp``): the process grew by ~125 MB/s, to 22.7 GB, where the OOM
killer stopped it; with the threshold at glibc's initial 128 KiB it stayed at ~0.85 GB.

:func:`bounded_heap` holds the threshold there while evaluation ranks, then sets 32 MiB — the
most glibc's own rule would raise it to — so training's mid-size blocks come from the heap again
(a threshold left at 128 KiB made Yelp training epochs ~20 % slower: every block mapped and
unmapped). glibc only (``mallopt``); a ``MALLOC_MMAP_THRESHOLD_`` the user set is left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
EVALUATION_THRESHOLD = 128 * 1024  # glibc's initial value
TRAINING_THRESHOLD = 32 * 1024 * 1024  # glibc's upper bound for its dynamic threshold


def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or None off Linux, without glibc, or when the user set the
    threshold in the environment."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return None
    return _glibc_mallopt()


@functools.cache
def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """Looked up once: ``find_library`` runs ``ldconfig``, and ranking calls this every pass."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


@contextmanager
def bounded_heap() -> Iterator[None]:
    """Inside: blocks above 128 KiB are mapped and returned when freed. After: 32 MiB."""
    mallopt = _mallopt()
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, EVALUATION_THRESHOLD)
    try:
        yield
    finally:
        if mallopt is not None:
            mallopt(M_MMAP_THRESHOLD, TRAINING_THRESHOLD)
