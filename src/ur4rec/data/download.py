"""Resumable, verified downloads into the user cache: one function every online source uses.

A file is fetched into ``NAME.part`` (an interrupted transfer is resumed with an HTTP ``Range``
request on the next call), checked, and only then renamed to ``NAME``: a file with the final name
is always complete. Its sha256 is written beside it (``NAME.sha256``) and checked whenever the
cached copy is used again. Where the right sha256 is known in advance it is checked too; where it
cannot be known offline (sources that publish none), the caller verifies what it builds from the
file instead (e.g. the published counts of a dataset).

Every failure is a :class:`~ur4rec.errors.DataError` on one line. A file found damaged (wrong
checksum, not a complete gzip stream) is deleted with its ``.part``; an interrupted transfer
keeps its ``.part`` so that the next call resumes it.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from ur4rec.data.cache import sha256_file
from ur4rec.errors import DataError

log = logging.getLogger(__name__)

CHUNK = 1 << 20
TIMEOUT_SECONDS = 30


def fetch_file(urls: list[str] | str, target: Path, sha256: str | None = None,
               progress: bool = True) -> str:
    """``target`` downloaded from the first of ``urls`` that works (or the cached copy); its sha256.

    ``sha256``: the expected checksum when it is known; None records the checksum found.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    if target.is_file():
        return _cached_checksum(target, sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        try:
            _transfer(url, _part(target), progress)
        except DataError as error:
            failures.append(str(error))
            log.info("download from %s failed: %s", url, error)
            continue
        return _accept(_part(target), target, url, sha256)
    raise DataError(failures[0] if len(failures) == 1 else "; ".join(failures))


def _part(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _record(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _cached_checksum(target: Path, expected: str | None) -> str:
    """The cached file's sha256, checked against the expected one and the one recorded."""
    got = sha256_file(target)
    recorded = _record(target).read_text().strip() if _record(target).is_file() else None
    for want, what in ((expected, "expected"), (recorded, "recorded at download")):
        if want and got != want:
            raise DataError(f"cached file {target} has sha256 {got[:12]}…, {what} {want[:12]}…: "
                            f"the copy is damaged; delete it and run again")
    if recorded is None:
        _record(target).write_text(got + "\n")
    return got


def _transfer(url: str, part: Path, progress: bool) -> None:
    """Append ``url``'s bytes to ``part``, resuming after the bytes it already holds."""
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)  # noqa: S310
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # the part is already whole: nothing left to send
            return
        raise DataError(f"download of {url} failed (HTTP {error.code} {error.reason})") from None
    except (OSError, ValueError) as error:
        raise DataError(f"download of {url} failed ({_reason(error)})") from None
    with response:
        resumed = have and response.status == 206
        if have and not resumed:
            log.info("%s ignores the resume request; downloading it again from the start", url)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        written = _copy(response, part, "ab" if resumed else "wb", have, total, progress,
                        url.rsplit("/", 1)[-1])
    if total is not None and written < total:
        raise DataError(f"download of {url} stopped at {written:,} of {total:,} bytes; run the "
                        f"same command again to resume it ({part} is kept)")


def _copy(response, part: Path, mode: str, have: int, total: int | None, progress: bool,
          label: str) -> int:
    """Stream the body into ``part`` under a progress bar; returns the bytes ``part`` holds."""
    from tqdm import tqdm

    written = have
    with part.open(mode) as handle, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                         desc=label, disable=not progress or None,
                                         leave=False) as bar:
        while True:
            try:
                block = response.read(CHUNK)
            except (OSError, http.client.HTTPException):  # connection lost mid-body: what arrived stays for the resume
                break
            if not block:
                break
            handle.write(block)
            written += len(block)
            bar.update(len(block))
    return written


def _accept(part: Path, target: Path, url: str, expected: str | None) -> str:
    """Check a finished ``part`` and give it its final name; a bad one is deleted."""
    got = sha256_file(part)
    problem = None
    if expected and got != expected:
        problem = f"has sha256 {got[:12]}…, expected {expected[:12]}…"
    elif target.name.endswith(".gz"):
        problem = _gzip_problem(part)
    if problem:
        part.unlink(missing_ok=True)
        raise DataError(f"download of {url} {problem}; nothing was kept, run again to retry")
    os.replace(part, target)
    _record(target).write_text(got + "\n")
    log.info("downloaded %s (sha256 %s)", target, got)
    return got


def _gzip_problem(path: Path) -> str | None:
    """Why ``path`` is not one complete gzip stream, or None when it is (read to the end)."""
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(CHUNK):
                pass
    except EOFError:
        return "is truncated (the gzip stream ends early)"
    except (OSError, zlib.error) as error:
        return f"is not a valid gzip file ({error})"
    return None


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error)
