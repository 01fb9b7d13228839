"""Publishing files safely in directories press does not fully own (the
wheel directory, its ``.press-state``, the cache): write to a temporary
name, rename into place; and reading back a file press did not make (a
wheel in a wheel directory) without following a link or blocking on a FIFO.

A :class:`Directory` is held by a descriptor and every name inside it is
one path component used relative to that descriptor: a symbolic link
planted at a name press creates, writes, renames or deletes is never
followed (``O_NOFOLLOW``, ``O_EXCL``, ``rename(2)``/``unlink(2)``, which
act on the link itself). Temporary names are ``.<name head>.<16 random hex
digits>.tmp``, created with ``O_CREAT | O_EXCL | O_NOFOLLOW``: a reader
never sees a partial file, nobody can plant a link at a name before press
creates it, and a later run can still recognise (and remove) what a killed
run left.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .errors import PressError

#: Flags of every descriptor opened inside a directory press does not fully own.
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
#: How many random names :meth:`Directory.temporary` tries before giving up.
_ATTEMPTS = 100


class NotOwnedError(PressError):
    """A name inside a directory press writes holds something press did not
    make there and will not write through: a symbolic link, a FIFO, a file
    where press keeps a directory. ``package`` is the directory, ``field``
    the name."""


def open_regular(path: Path, follow_symlinks: bool = False) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file itself: a
    symlink is not followed (``O_NOFOLLOW``; ``follow_symlinks`` for a path
    the user named) and a FIFO or device is not waited on (``O_NONBLOCK``,
    then refused). Raises ``OSError`` otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW))
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise OSError(f"{path} is not a regular file")
    os.set_blocking(fd, True)
    return handle


class Directory:
    """A directory held open by a descriptor (``fd``); ``path`` is for
    messages. Every method takes one path component (no ``/``) and acts
    relative to the descriptor without following a link at that name.
    Close it (or use it as a context manager) to release the descriptor."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = Path(path)

    @classmethod
    def open(cls, path: Path, create: bool = False) -> Directory:
        """Open the directory ``path``, the caller's own (a link on the way
        is followed: the user named it); ``create`` makes it and its parents
        first. Raises ``OSError``."""
        if create:
            Path(path).mkdir(parents=True, exist_ok=True)
        return cls(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), Path(path))

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release the descriptor (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _name(self, name: str) -> str:
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise ValueError(f"not one path component: {name!r}")
        return name

    def not_owned(self, name: str, what: str) -> NotOwnedError:
        """The error for ``name`` holding ``what`` (a symbolic link, ...)
        where press expects its own file or directory."""
        return NotOwnedError(f"is {what}, not press's own; press does not write through it: remove it",
                             package=str(self.path / name))

    def sub(self, name: str, create: bool = False) -> Directory:
        """The subdirectory ``name`` (made first when ``create``), opened
        with ``O_NOFOLLOW``. Raises :class:`NotOwnedError` when ``name`` is
        a symbolic link or not a directory, ``OSError`` otherwise."""
        self._name(name)
        if create:
            try:
                os.mkdir(name, 0o777, dir_fd=self.fd)
            except FileExistsError:
                pass
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self.not_owned(name, self._kind(name)) from None
            raise
        return Directory(fd, self.path / name)

    def _kind(self, name: str) -> str:
        found = self.lstat(name)
        if found is not None and stat.S_ISLNK(found.st_mode):
            return "a symbolic link"
        return "not a directory" if found is not None and not stat.S_ISDIR(found.st_mode) else "not a regular file"

    def lstat(self, name: str) -> os.stat_result | None:
        """``lstat`` of ``name`` (a link is described, not followed), None when absent."""
        try:
            return os.stat(self._name(name), dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def open_file(self, name: str, flags: int, mode: int = 0o666) -> int:
        """``os.open`` of ``name`` with ``flags`` plus ``O_NOFOLLOW``:
        a link at ``name`` is :class:`NotOwnedError`. Returns the descriptor."""
        try:
            return os.open(self._name(name), flags | _NOFOLLOW, mode, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self.not_owned(name, "a symbolic link") from None
            raise

    def read(self, name: str, limit: int) -> bytes:
        """The bytes of the regular file ``name``, at most ``limit`` of
        them (a link is not followed, a FIFO not waited on). Raises
        :class:`NotOwnedError` for a link or special file, ``OSError`` when
        absent or longer than ``limit``."""
        fd = self.open_file(name, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise self.not_owned(name, "not a regular file")
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"{self.path / name} holds more than {limit} bytes")
        return data

    def temporary(self, name: str) -> tuple[str, int]:
        """Create a new file for ``name``'s content under a random name
        (``.<name head>.<random>.tmp``, ``O_CREAT | O_EXCL | O_NOFOLLOW``,
        mode 0666 less the umask). Returns (temporary name, descriptor open
        for reading and writing). Raises ``OSError``."""
        head = self._name(name).encode()[:96].decode(errors="ignore")
        for _ in range(_ATTEMPTS):
            candidate = f".{head}.{secrets.token_hex(8)}.tmp"
            try:
                return candidate, self.open_file(candidate, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                continue
        raise FileExistsError(errno.EEXIST, f"no free temporary name in {self.path}")

    def temporary_dir(self, prefix: str) -> tuple[str, Directory]:
        """Make a new private directory ``<prefix><random>`` (mode 0700;
        ``mkdir`` never follows a link) and open it. Returns (its name, it)."""
        for _ in range(_ATTEMPTS):
            candidate = self._name(f"{prefix}{secrets.token_hex(8)}")
            try:
                os.mkdir(candidate, 0o700, dir_fd=self.fd)
            except FileExistsError:
                continue
            return candidate, self.sub(candidate)
        raise FileExistsError(errno.EEXIST, f"no free temporary name in {self.path}")

    def write(self, name: str, data: bytes | str) -> None:
        """Publish ``data`` (``str`` as UTF-8) as ``name``: written to a
        :meth:`temporary` file, renamed over ``name`` (atomic on POSIX; a
        link at ``name`` is replaced, never written through). Raises ``OSError``."""
        temporary, fd = self.temporary(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            self.replace(temporary, name)
        except BaseException:
            self.unlink(temporary)
            raise

    def replace(self, source: str, target: str, into: Directory | None = None) -> None:
        """Rename ``source`` over ``target`` (in ``into``, default this
        directory); neither name is followed if it is a link."""
        os.replace(self._name(source), self._name(target), src_dir_fd=self.fd,
                   dst_dir_fd=(into or self).fd)

    def link(self, source: str, target: str) -> None:
        """Hard-link ``source`` (not followed) as the new name ``target``.
        Raises ``FileExistsError`` when ``target`` exists, even as a link."""
        os.link(self._name(source), self._name(target), src_dir_fd=self.fd, dst_dir_fd=self.fd,
                follow_symlinks=False)

    def unlink(self, name: str) -> None:
        """Remove ``name`` (a link itself, never its target) if it is there."""
        try:
            os.unlink(self._name(name), dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def rmdir(self, name: str) -> bool:
        """Remove the empty directory ``name``; False when it is not one or not empty."""
        try:
            os.rmdir(self._name(name), dir_fd=self.fd)
        except OSError:
            return False
        return True

    def remove(self, name: str) -> None:
        """Remove ``name`` whatever it is: a directory with its content
        (``shutil.rmtree`` on descriptors, which follows no link), else the
        entry itself. Errors are ignored (leftovers are retried next run)."""
        found = self.lstat(name)
        if found is None:
            return
        if stat.S_ISDIR(found.st_mode):
            shutil.rmtree(name, ignore_errors=True, dir_fd=self.fd)
        else:
            try:
                self.unlink(name)
            except OSError:
                pass

    def names(self) -> list[str]:
        """The names in the directory (unsorted)."""
        return os.listdir(self.fd)

    def readable_path(self, name: str) -> Path:
        """A path that reaches ``name`` in this very directory, for code
        that opens files by path: ``/proc/self/fd/<fd>/<name>`` on Linux
        (even when the directory was renamed or replaced meanwhile), else
        ``path/name``."""
        proc = Path(f"/proc/self/fd/{self.fd}")
        return proc / self._name(name) if proc.is_dir() else self.path / name


def open_subdirs(root: Path, *names: str) -> Directory:
    """The directory ``root/<names[0]>/<names[1]>/...``: ``root`` is the
    caller's (made if missing; a link on the way is followed: the user named
    it), each of ``names`` is made when missing and opened with
    ``O_NOFOLLOW`` relative to its parent (:meth:`Directory.sub`), so a link
    planted at any of them (``<cache>/pkgs`` pointing at ``/``) is never
    followed. Raises :class:`NotOwnedError` for a link or file at one of
    ``names``, ``OSError`` otherwise."""
    directory = Directory.open(root, create=True)
    try:
        for name in names:
            sub = directory.sub(name, create=True)
            directory.close()
            directory = sub
    except BaseException:
        directory.close()
        raise
    return directory


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` (``str`` as UTF-8) to ``path`` through a temporary file
    renamed over it (``os.replace``: atomic on POSIX within one file system);
    see :meth:`Directory.write`. The parent directory is the caller's (made
    if missing; a link on the way is followed); a link at ``path`` or at the
    temporary name is never written through. Raises ``OSError``."""
    path = Path(path)
    with Directory.open(path.parent, create=True) as directory:
        directory.write(path.name, data)


def writable_dir(path: Path, field: str) -> Path:
    """Create directory ``path`` (and its parents) if needed and prove it
    writable by creating and removing a temporary file in it, before any
    work is done. Returns ``path``. Raises :class:`~press.errors.PressError`
    naming ``field`` (the option, e.g. ``--cache-dir``) when it cannot be
    created or written (a read-only file system, no permission, a file in
    the way)."""
    import tempfile

    from .errors import PressError

    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise PressError(f"cannot write into {path}: {exc.strerror or exc}; choose a directory you can write to",
                         field=field) from None
    return Path(path)
