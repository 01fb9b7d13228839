"""Fetch artifacts named by repodata records into the cache, checking sha256.

rattler does the download; press checks the result against the record's
sha256 (rattler does not enforce it) and reuses a cached file only when its
hash matches (md5 and size for a record without sha256), in a cache
directory of its own per channel URL. Local ``file://`` artifacts are read
in place; a remote channel's record may not point at one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from . import grammar
from .artifact import sha256_file
from .errors import FetchError, InvalidInputError, PressError
from .files import Directory, open_subdirs
from .limits import limit

if TYPE_CHECKING:
    from rattler.networking import Client


def hex_digest(value: object) -> str | None:
    """A repodata digest as hex text: rattler hands ``bytes``, plain records
    strings; None stays None."""
    if value is None:
        return None
    return value.hex() if isinstance(value, (bytes, bytearray)) else str(value)


def _checked_record(record: Any) -> tuple[str, str, str | None, str | None, int | None]:
    """The record's file name, URL, sha256, md5 and size, each checked at the
    boundary: the file name is one path component of the artifact grammar,
    the URL is ``http(s)://`` or ``file://`` and ends with that file name."""
    from .package import checked

    raw_name = str(record.file_name)
    file_name = checked(grammar.archive_file_name, raw_name, raw_name[:200], "repodata: fn")
    url = str(record.url)
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https", "file") or not unquote(parsed.path).endswith("/" + file_name):
        raise InvalidInputError(f"{url[:300]!r} is not an http(s) or file URL of {file_name}", package=file_name,
                                field="repodata: url")
    sha256 = hex_digest(record.sha256)
    sha256 = checked(grammar.sha256_hex, sha256, file_name, "repodata: sha256") if sha256 else None
    md5 = hex_digest(getattr(record, "md5", None))
    md5 = checked(grammar.md5_hex, md5, file_name, "repodata: md5") if md5 else None
    size = getattr(record, "size", None)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise InvalidInputError(f"{size!r} is not a size in bytes", package=file_name, field="repodata: size")
    return file_name, url, sha256, md5, size


def _digests(directory: Directory, name: str, size: int | None) -> tuple[str, str] | None:
    """The hex sha256 and md5 of the regular file ``name`` in ``directory``
    (a link is not followed, a FIFO not waited on), or None when it is
    absent, not a regular file, not ``size`` bytes (when given) or larger
    than the ``download_size`` limit, so nothing planted in the cache makes
    press hash without end."""
    try:
        fd = directory.open_file(name, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, PressError):
        return None
    found = os.fstat(fd)
    if not S_ISREG(found.st_mode) or found.st_size != (size if size is not None else found.st_size) \
            or found.st_size > limit("download_size"):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as handle:
        sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha256.update(block)
            md5.update(block)
    return sha256.hexdigest(), md5.hexdigest()


def _reusable(directory: Directory, name: str, sha256: str | None, md5: str | None, size: int | None) -> str | None:
    """The sha256 of the cached file ``name`` in ``directory`` when it
    matches the record: its sha256, or without one both its md5 and its
    size; else None (also for a link, a FIFO or a file of another size:
    :func:`_digests`)."""
    found = _digests(directory, name, size)
    if found is None:
        return None
    if sha256:
        return found[0] if found[0] == sha256 else None
    if md5 and size is not None and found[1] == md5:
        return found[0]
    return None


#: Download attempts per artifact; the wait doubles from 0.5 s between them.
ATTEMPTS = 4


def http_client() -> Client:
    """A rattler ``Client`` with retries (exponential back-off on connection
    errors and 5xx, rattler's ``RetryMiddleware``) and a timeout in seconds
    from ``$PRESS_HTTP_TIMEOUT`` (default 60)."""
    from rattler.networking import Client, RetryMiddleware

    timeout = int(os.environ.get("PRESS_HTTP_TIMEOUT", "60") or 60)
    return Client([RetryMiddleware(3)], timeout=timeout)


def _download(url: str, tmp: Path, most: int) -> bool:
    """Download ``url`` to ``tmp`` with rattler, watching the file grow:
    returns False (the download cancelled) as soon as it holds more than
    ``most`` bytes, so a server that sends without end cannot fill the disk."""
    from rattler.package_streaming import download_to_path

    async def watched() -> bool:
        task = asyncio.ensure_future(download_to_path(http_client(), url, tmp))
        while not task.done():
            await asyncio.sleep(0.05)
            try:
                grown = tmp.stat().st_size
            except OSError:
                continue
            if grown > most:
                task.cancel()
                try:
                    await task
                except BaseException:  # noqa: BLE001 - the cancellation itself
                    pass
                return False
        await task
        return tmp.stat().st_size <= most

    return asyncio.run(watched())


def fetch(record: Any, cache_dir: Path, notes: list[str] | None = None) -> tuple[Path, str]:
    """Return a local path holding the artifact of ``record`` (a rattler
    ``RepoDataRecord``, or anything with ``url``, ``file_name``, ``sha256``
    and optionally ``md5``, ``size`` and ``channel``), downloading it into
    ``cache_dir/pkgs/<hash of the URL's directory>/`` when remote, and the
    artifact's verified hex sha256.

    The record's fields are checked first (:func:`_checked_record`); a
    record of a remote channel may not point at a ``file://`` URL. A cached
    file is reused only when the record's sha256 matches it (or, for a record
    without one, its md5 and size); the cache directory is keyed by the
    URL's directory, so two channels never share a file. A download that
    fails (connection reset, timeout, HTTP error, a body cut short) or whose
    sha256 differs from the record's is tried again, up to :data:`ATTEMPTS`
    times with a doubling wait; each retry is described in ``notes``. A
    server that sends more than the record's ``size`` (without one, the
    ``download_size`` limit) is cut off at once. Only a verified file is
    renamed into the cache. Raises :class:`FetchError` when every attempt
    fails or the server sends too much, :class:`~press.errors.InvalidInputError`
    for a bad record.
    """
    label, url, expected, md5, size = _checked_record(record)
    parsed = urlparse(url)
    channel = str(getattr(record, "channel", "") or "")
    if parsed.scheme == "file":
        if channel.startswith(("http://", "https://")):
            raise InvalidInputError(f"a record of the remote channel {channel} points at {url[:300]}, on this machine",
                                    package=label, field="repodata: url")
        path = Path(unquote(parsed.path))
        if not path.is_file():
            raise FetchError(f"artifact {path} is missing", package=label)
        actual = sha256_file(path)
        if expected and actual != expected:
            raise FetchError(f"sha256 of {path} does not match its repodata record", package=label)
        return path, actual
    key = hashlib.sha256(url.rsplit("/", 1)[0].encode()).hexdigest()[:16]
    # The cache is not followed through links: pkgs/ and pkgs/<key> are opened with O_NOFOLLOW,
    # the cached file is read without following a link, and each download goes to a new private
    # directory (random name, mode 0700) and is renamed into place only once verified.
    with open_subdirs(Path(cache_dir), "pkgs", key) as pkgs:
        dest = pkgs.path / label
        reused = _reusable(pkgs, label, expected, md5, size)
        if reused is not None:
            return dest, reused
        problem = ""
        most = size if size is not None else limit("download_size")
        for attempt in range(1, ATTEMPTS + 1):
            tmpname, tmpdir = pkgs.temporary_dir(f".{label[:64]}.")
            try:
                if not _download(url, tmpdir.readable_path(label), most):
                    raise FetchError(f"the server sent more than the {most} bytes {'the record declares' if size is not None else 'press accepts'}"
                                     f"{'' if size is not None else ' (set PRESS_MAX_DOWNLOAD_SIZE to raise it)'}",
                                     package=label, field="download")
                found = _digests(tmpdir, label, None)
                if found is None:
                    problem = "the download is not a regular file"
                elif expected and found[0] != expected:
                    problem = "sha256 does not match the repodata record (truncated or altered download)"
                elif not expected and md5 and found[1] != md5:
                    problem = "md5 does not match the repodata record (truncated or altered download)"
                else:
                    try:
                        tmpdir.replace(label, label, into=pkgs)  # a link or FIFO at dest is replaced, not followed
                    except IsADirectoryError:
                        raise pkgs.not_owned(label, "a directory") from None
                    return dest, found[0]
            except PressError:
                raise
            except Exception as exc:  # rattler raises its own exception types
                problem = f"{type(exc).__name__}: {exc}"
            finally:
                tmpdir.close()
                pkgs.remove(tmpname)
            if attempt < ATTEMPTS:
                if notes is not None:
                    notes.append(f"{label}: download attempt {attempt} failed ({problem}); retried")
                time.sleep(0.5 * 2 ** (attempt - 1))
    raise FetchError(f"cannot download {url} after {ATTEMPTS} attempts: {problem}", package=label)
