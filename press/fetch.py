"""Fetch artifacts named by repodata records into the cache, checking sha256.

rattler does the download; press checks the result against the record's
sha256 (rattler does not enforce it) and reuses a cached file only when its
hash matches. Local ``file://`` artifacts are read in place.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

from .artifact import sha256_file
from .errors import FetchError


def _expected_sha256(record) -> str | None:
    value = record.sha256
    if value is None:
        return None
    return value.hex() if isinstance(value, (bytes, bytearray)) else str(value)


#: Download attempts per artifact; the wait doubles from 0.5 s between them.
ATTEMPTS = 4


def http_client():
    """A rattler ``Client`` with retries (exponential back-off on connection
    errors and 5xx, rattler's ``RetryMiddleware``) and a timeout in seconds
    from ``$PRESS_HTTP_TIMEOUT`` (default 60)."""
    from rattler.networking import Client, RetryMiddleware

    timeout = int(os.environ.get("PRESS_HTTP_TIMEOUT", "60") or 60)
    return Client([RetryMiddleware(3)], timeout=timeout)


def fetch(record, cache_dir: Path, notes: list[str] | None = None) -> tuple[Path, str]:
    """Return a local path holding the artifact of ``record`` (a rattler
    ``RepoDataRecord``, or anything with ``url``, ``file_name`` and
    ``sha256``), downloading it into ``cache_dir/pkgs`` when remote, and the
    artifact's verified hex sha256.

    A download that fails (connection reset, timeout, HTTP error, a body cut
    short) or whose sha256 differs from the record's is tried again, up to
    :data:`ATTEMPTS` times with a doubling wait; each retry is described in
    ``notes``. Only a verified file is renamed into the cache. Raises
    :class:`FetchError` when every attempt fails.
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
    problem = ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            from rattler.package_streaming import download_to_path

            asyncio.run(download_to_path(http_client(), url, tmp))
            actual = sha256_file(tmp)
            if expected and actual != expected:
                problem = "sha256 does not match the repodata record (truncated or altered download)"
            else:
                os.replace(tmp, dest)
                return dest, actual
        except Exception as exc:  # rattler raises its own exception types
            problem = f"{type(exc).__name__}: {exc}"
        finally:
            tmp.unlink(missing_ok=True)
        if attempt < ATTEMPTS:
            if notes is not None:
                notes.append(f"{label}: download attempt {attempt} failed ({problem}); retried")
            time.sleep(0.5 * 2 ** (attempt - 1))
    raise FetchError(f"cannot download {url} after {ATTEMPTS} attempts: {problem}", package=label)
