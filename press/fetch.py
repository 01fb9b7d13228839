"""Fetch artifacts named by repodata records into the cache, checking sha256.

rattler does the download; press checks the result against the record's
sha256 (rattler does not enforce it) and reuses a cached file only when its
hash matches. Local ``file://`` artifacts are read in place.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from .artifact import sha256_file
from .errors import FetchError


def _expected_sha256(record) -> str | None:
    value = record.sha256
    if value is None:
        return None
    return value.hex() if isinstance(value, (bytes, bytearray)) else str(value)


def fetch(record, cache_dir: Path) -> tuple[Path, str]:
    """Return a local path holding the artifact of ``record`` (a rattler
    ``RepoDataRecord``), downloading it into ``cache_dir/pkgs`` when remote,
    and the artifact's verified hex sha256.

    Raises :class:`FetchError` when the download fails or the sha256 differs
    from the record's.
    """
    url = str(record.url)
    label = record.file_name
    expected = _expected_sha256(record)
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        if not path.is_file():
            raise FetchError(f"artifact {path} is missing", package=label)
        actual = sha256_file(path)
        if expected and actual != expected:
            raise FetchError(f"sha256 of {path} does not match its repodata record", package=label)
        return path, actual
    pkgs = Path(cache_dir) / "pkgs"
    pkgs.mkdir(parents=True, exist_ok=True)
    dest = pkgs / record.file_name
    if dest.is_file():
        actual = sha256_file(dest)
        if expected is None or actual == expected:
            return dest, actual
    tmp = pkgs / f".{record.file_name}.{os.getpid()}.part"
    try:
        from rattler import Client
        from rattler.package_streaming import download_to_path

        asyncio.run(download_to_path(Client(), url, tmp))
        actual = sha256_file(tmp)
        if expected and actual != expected:
            raise FetchError(f"downloaded {url} but its sha256 does not match the repodata record", package=label)
        os.replace(tmp, dest)
    except FetchError:
        raise
    except Exception as exc:
        raise FetchError(f"cannot download {url}: {exc}", package=label) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest, actual
