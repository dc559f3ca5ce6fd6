"""Resumable, verified downloads (data/download.py) against a loopback HTTP server."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from ur4rec.data.download import fetch_file
from ur4rec.errors import DataError

from .loopback import LoopbackServer

PAYLOAD = gzip.compress(b"".join(b'{"line": %d}\n' % k for k in range(5000)))
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server():
    with LoopbackServer() as running:
        running.served.files["/data.json.gz"] = PAYLOAD
        yield running


def test_download_writes_the_file_and_records_its_checksum(server, tmp_path):
    target = tmp_path / "data.json.gz"
    assert fetch_file(server.url("/data.json.gz"), target) == SHA
    assert target.read_bytes() == PAYLOAD
    assert (tmp_path / "data.json.gz.sha256").read_text().strip() == SHA
    assert not (tmp_path / "data.json.gz.part").exists()
    # the cached copy is used again: no second request
    assert fetch_file(server.url("/data.json.gz"), target) == SHA
    assert len(server.served.requests) == 1


def test_an_interrupted_download_keeps_its_part_and_resumes_with_a_range(server, tmp_path):
    target = tmp_path / "data.json.gz"
    server.served.cut_after["/data.json.gz"] = 1000
    with pytest.raises(DataError, match="stopped at 1,000 of .* run the same command again"):
        fetch_file(server.url("/data.json.gz"), target)
    assert not target.exists()
    assert (tmp_path / "data.json.gz.part").stat().st_size == 1000
    assert fetch_file(server.url("/data.json.gz"), target, SHA) == SHA
    assert server.served.requests[-1] == ("/data.json.gz", "bytes=1000-")
    assert target.read_bytes() == PAYLOAD


def test_a_part_left_from_before_is_resumed(server, tmp_path):
    target = tmp_path / "data.json.gz"
    (tmp_path / "data.json.gz.part").write_bytes(PAYLOAD[:777])
    fetch_file(server.url("/data.json.gz"), target, SHA)
    assert server.served.requests == [("/data.json.gz", "bytes=777-")]
    assert target.read_bytes() == PAYLOAD


def test_a_server_ignoring_range_restarts_the_file_from_the_start(server, tmp_path):
    target = tmp_path / "data.json.gz"
    (tmp_path / "data.json.gz.part").write_bytes(b"junk that must not stay" * 10)
    server.served.ignore_range.add("/data.json.gz")
    fetch_file(server.url("/data.json.gz"), target, SHA)
    assert target.read_bytes() == PAYLOAD


def test_a_truncated_gzip_is_refused_and_nothing_is_kept(server, tmp_path):
    server.served.files["/cut.json.gz"] = PAYLOAD[: len(PAYLOAD) // 2]
    target = tmp_path / "cut.json.gz"
    with pytest.raises(DataError, match="truncated") as error:
        fetch_file(server.url("/cut.json.gz"), target)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(server, tmp_path):
    target = tmp_path / "data.json.gz"
    with pytest.raises(DataError, match="expected 000000000000") as error:
        fetch_file(server.url("/data.json.gz"), target, "0" * 64)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_a_cached_copy_that_changed_since_its_download_is_refused(server, tmp_path):
    target = tmp_path / "data.json.gz"
    fetch_file(server.url("/data.json.gz"), target)
    target.write_bytes(PAYLOAD[:10] + bytes([PAYLOAD[10] ^ 1]) + PAYLOAD[11:])
    with pytest.raises(DataError, match="recorded at download"):
        fetch_file(server.url("/data.json.gz"), target)


def test_a_missing_file_names_the_url_and_the_next_url_is_tried(server, tmp_path):
    target = tmp_path / "data.json.gz"
    with pytest.raises(DataError, match="HTTP 404"):
        fetch_file(server.url("/nowhere.json.gz"), target)
    urls = [server.url("/nowhere.json.gz"), server.url("/data.json.gz")]
    assert fetch_file(urls, target) == SHA


def test_movielens_grouplens_zip_comes_through_the_same_downloader(server, tmp_path,
                                                                   monkeypatch):
    import io
    import zipfile

    from ur4rec.data import movielens

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in (("u.data", "1\t1\t5\t100\n"), ("u.item", "1|Toy Story (1995)|\n"),
                           ("u.user", "1|24|M|technician|85711\n")):
            archive.writestr(f"ml-100k/{name}", text)
    server.served.files["/ml-100k.zip"] = buffer.getvalue()
    server.served.files["/broken.zip"] = b"not a zip"
    monkeypatch.setattr(movielens, "GROUPLENS_URL", server.url("/ml-100k.zip"))
    folder = movielens._fetch_grouplens(tmp_path)
    assert (folder / "u.item").read_text() == "1|Toy Story (1995)|\n"
    assert (tmp_path / "downloads" / "ml-100k.zip.sha256").is_file()
    monkeypatch.setattr(movielens, "GROUPLENS_URL", server.url("/broken.zip"))
    with pytest.raises(DataError, match="not a zip"):
        movielens._fetch_grouplens(tmp_path / "other")
    assert list((tmp_path / "other" / "downloads").iterdir()) == []
