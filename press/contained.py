"""File system access that cannot leave its root directory.

Every read and write of package content goes through a :class:`Root`:
paths are checked against :func:`press.grammar.relative_path` (no absolute
path, no ``..``, no NUL), and each component is opened relative to its
parent's file descriptor with ``O_NOFOLLOW``, so a symlink anywhere on the
way is refused by the kernel instead of followed (press never creates
symlinks in its roots: archive links are resolved by press itself, see
:meth:`press.package.Package.resolve`). New files are created with
``O_EXCL``: nothing that exists is ever overwritten, except through
:meth:`Root.replace`, which renames a file press wrote over another.

A :class:`PackedRoot` also serves files that are ranges of one pack file
(an unpacked artifact's members, appended in archive order): reading them
builds no path from their names at all.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import stat
import threading
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO, Iterator, Mapping, cast

from .grammar import relative_path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Block size of streaming copies.
CHUNK = 1 << 20


class ContainmentError(OSError):
    """A path that is not a valid relative path, or that meets a symlink or a
    non-directory on the way."""


class Root:
    """A directory whose files press reads and writes by relative path.

    ``Root(path, create=True)`` makes the directory (and parents) first.
    Methods raise :class:`ContainmentError` for a path outside the grammar or
    one that meets a symlink, ``FileNotFoundError`` for a missing file and
    ``FileExistsError`` when creating a file that exists.
    """

    #: Directory descriptors kept open per root (least recently used go first):
    #: files are mostly created and read directory by directory, and opening
    #: every component again for each file cost more than the files' own I/O.
    DIRECTORY_CACHE = 16

    def __init__(self, path: Path, *, create: bool = False) -> None:
        path = Path(path)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        self.path = path.resolve()
        if not self.path.is_dir():
            raise ContainmentError(f"{path} is not a directory")
        self._dirs: OrderedDict[tuple[str, ...], int] = OrderedDict()
        self._lock = threading.RLock()

    def release(self) -> None:
        """Close the directory descriptors kept open (done when the root is
        collected; call it when a root will not be used for a while)."""
        with self._lock:
            while self._dirs:
                os.close(self._dirs.popitem()[1])

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release()

    def __repr__(self) -> str:
        return f"Root({str(self.path)!r})"

    @staticmethod
    def _parts(rel: str) -> list[str]:
        try:
            return relative_path(rel).split("/")
        except ValueError as exc:
            raise ContainmentError(str(exc)) from exc

    def _directory(self, parts: tuple[str, ...], create: bool) -> int:
        """A descriptor of the directory ``parts`` (kept in the cache; the
        caller holds the lock), each component opened relative to its parent
        with ``O_NOFOLLOW``: a symlink or a non-directory on the way is refused."""
        cached = self._dirs.get(parts)
        if cached is not None:
            self._dirs.move_to_end(parts)
            return cached
        if not parts:
            fd = self._open_top()
        else:
            parent = self._directory(parts[:-1], create)
            part = parts[-1]
            try:
                fd = os.open(part, _DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, 0o755, dir_fd=parent)
                except FileExistsError:
                    pass
                try:
                    fd = os.open(part, _DIR_FLAGS, dir_fd=parent)
                except OSError as exc:
                    raise ContainmentError(f"{'/'.join(parts)}: {part} is a symlink or not a directory") from exc
            except OSError as exc:
                raise ContainmentError(f"{'/'.join(parts)}: {part} is a symlink or not a directory") from exc
        self._dirs[parts] = fd
        while len(self._dirs) > self.DIRECTORY_CACHE:
            os.close(self._dirs.popitem(last=False)[1])
        return fd

    def _open_top(self) -> int:
        """A new descriptor of the root directory itself."""
        return os.open(self.path, _DIR_FLAGS)

    @contextlib.contextmanager
    def _parent(self, parts: list[str], create: bool) -> Iterator[int]:
        """A descriptor of the directory holding ``parts[-1]``, opened step by
        step (see :meth:`_directory`); valid inside the ``with`` block."""
        with self._lock:
            yield self._directory(tuple(parts[:-1]), create)

    def open(self, rel: str) -> BinaryIO:
        """Open the regular file ``rel`` for reading (binary)."""
        parts = self._parts(rel)
        with self._parent(parts, create=False) as parent:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=parent)
            except OSError as exc:
                if isinstance(exc, FileNotFoundError):
                    raise
                raise ContainmentError(f"{rel}: cannot open ({exc.strerror})") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ContainmentError(f"{rel}: not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def create(self, rel: str, mode: int = 0o644) -> BinaryIO:
        """Create the new regular file ``rel`` (parents made) for writing."""
        parts = self._parts(rel)
        with self._parent(parts, create=True) as parent:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(parts[-1], flags, mode & 0o777, dir_fd=parent)
        os.fchmod(fd, mode & 0o777)
        return os.fdopen(fd, "wb")

    def mkdir(self, rel: str) -> None:
        """Make the directory ``rel`` and its parents (existing ones are fine)."""
        parts = self._parts(rel)
        with self._parent(parts + ["x"], create=True):  # makes every component of rel; "x" is never touched
            pass

    def lstat(self, rel: str) -> os.stat_result | None:
        """``lstat`` of ``rel``, or None when it or a parent is missing."""
        parts = self._parts(rel)
        try:
            with self._parent(parts, create=False) as parent:
                return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def is_file(self, rel: str) -> bool:
        """True when ``rel`` is a regular file (never following a symlink)."""
        found = self.lstat(rel)
        return found is not None and stat.S_ISREG(found.st_mode)

    def is_dir(self, rel: str) -> bool:
        """True when ``rel`` is a directory (never following a symlink)."""
        found = self.lstat(rel)
        return found is not None and stat.S_ISDIR(found.st_mode)

    def size(self, rel: str) -> int:
        """The size in bytes of the regular file ``rel`` (``FileNotFoundError`` when missing)."""
        found = self.lstat(rel)
        if found is None or not stat.S_ISREG(found.st_mode):
            raise FileNotFoundError(rel)
        return found.st_size

    def identity(self, rel: str) -> tuple[int, ...]:
        """What changes when the file ``rel`` is written or replaced: its
        device, inode, size and modification time in nanoseconds
        (``FileNotFoundError`` when missing)."""
        found = self.lstat(rel)
        if found is None:
            raise FileNotFoundError(rel)
        return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns

    def read_bytes(self, rel: str, limit: int | None = None) -> bytes:
        """The content of ``rel``; with ``limit``, at most that many bytes
        (the caller compares the length to see whether it was cut)."""
        with self.open(rel) as handle:
            return handle.read() if limit is None else handle.read(limit)

    def write_bytes(self, rel: str, data: bytes, mode: int = 0o644, *, replace: bool = False) -> None:
        """Create ``rel`` holding ``data``; with ``replace``, an existing
        ``rel`` is replaced through a temporary file renamed over it (its
        mode kept)."""
        if not replace:
            with self.create(rel, mode) as handle:
                handle.write(data)
            return
        found = self.lstat(rel)
        tmp = f"{rel}.{secrets.token_hex(8)}.press-tmp"  # never a name a package may have shipped
        with self.create(tmp, stat.S_IMODE(found.st_mode) if found else mode) as handle:
            handle.write(data)
        self.replace(tmp, rel)

    def copy_from(self, source: "Root", source_rel: str, rel: str, mode: int = 0o644) -> None:
        """Create ``rel`` as a streamed copy of ``source_rel`` in ``source``."""
        with source.open(source_rel) as src, self.create(rel, mode) as dst:
            shutil.copyfileobj(src, dst, CHUNK)

    def host_path(self, rel: str) -> Path:
        """The host path of the existing regular file ``rel``, for libraries
        that only take paths (LIEF). Checked like :meth:`open`: no component
        is a symlink, and press creates none in its roots."""
        with self.open(rel):
            pass
        return self.path_unchecked(rel)

    def path_unchecked(self, rel: str) -> Path:
        """The host path ``rel`` would have (grammar checked, existence not)."""
        return self.path.joinpath(*self._parts(rel))

    def replace(self, tmp_rel: str, rel: str) -> None:
        """Rename the file ``tmp_rel`` over ``rel`` (atomic on POSIX)."""
        self._parts(tmp_rel)
        self._parts(rel)
        self.open(tmp_rel).close()
        os.replace(self.path_unchecked(tmp_rel), self.path_unchecked(rel))

    def sha256(self, rel: str) -> str:
        """Hex sha256 of ``rel``, streamed."""
        import hashlib

        digest = hashlib.sha256()
        with self.open(rel) as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
        return digest.hexdigest()


class _Range(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes at ``start`` of the file
    open as ``fd`` (positional reads: views of one file never disturb each
    other). Closing it closes ``fd``."""

    def __init__(self, fd: int, start: int, size: int) -> None:
        super().__init__()
        self._fd, self._start, self._size, self._pos = fd, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        count = min(len(buffer), self._size - self._pos)
        if count <= 0:
            return 0
        data = os.pread(self._fd, count, self._start + self._pos)
        if len(data) != count:
            raise OSError(f"pack file is shorter than its manifest says (at byte {self._start + self._pos})")
        buffer[:count] = data
        self._pos += count
        return count

    def readall(self) -> bytes:
        data = bytearray(max(0, self._size - self._pos))
        view = memoryview(data)
        done = 0
        while done < len(data):
            done += self.readinto(view[done:done + CHUNK])
        return bytes(data)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class PackedRoot(Root):
    """A :class:`Root` whose files are either files under ``path`` or ranges
    of the pack file ``pack``: ``packed`` maps a relative path to its
    ``(offset, size)`` in bytes. Packed files read like the others through
    :meth:`open` (and so :meth:`read_bytes`, :meth:`sha256`,
    :meth:`copy_from`), but have no host path: :meth:`host_path` raises
    :class:`ContainmentError` for them, so tools that need a file on disk
    (LIEF) get only the files under ``path``. Paths are checked against the
    grammar as for any root, and a packed file's range is checked against
    the pack's size when opened.

    ``path`` and ``pack`` lie in one directory, the *entry* (an unpacked
    artifact: a cache entry or a work directory). The entry's parent is
    resolved once (it may be a link the user made, such as a cache directory
    on another disk), and the entry, ``path`` and ``pack`` are opened from it
    with ``O_NOFOLLOW`` step by step, every time: a symlink in their place
    (a tampered cache entry) is refused, not followed. With ``create``, the
    entry and ``path`` are made (existing directories are fine; a symlink is
    refused)."""

    def __init__(self, path: Path, pack: Path, packed: Mapping[str, tuple[int, int]], *,
                 create: bool = False) -> None:
        path, pack = Path(path), Path(pack)
        if path.parent != pack.parent or path.name == pack.name:
            raise ValueError(f"{path} and {pack} must be two names in one directory")
        entry = path.parent
        if entry.name in ("", ".", "..") or path.name in (".", "..") or pack.name in (".", ".."):
            raise ValueError(f"{entry} is not a named directory")
        if create:
            entry.parent.mkdir(parents=True, exist_ok=True)
        self._anchor = entry.parent.resolve()
        self.path = self._anchor / entry.name / path.name
        self.pack = self._anchor / entry.name / pack.name
        self.packed = packed
        self._dirs: OrderedDict[tuple[str, ...], int] = OrderedDict()
        self._lock = threading.RLock()
        self._entry_fd: int | None = None
        with self._lock:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(entry.name, 0o755, dir_fd=self._anchor_fd())
                with contextlib.suppress(FileExistsError):
                    os.mkdir(path.name, 0o755, dir_fd=self._entry())
            self._directory((), False)  # the root must be a directory, reached without a symlink

    def _anchor_fd(self) -> int:
        """A new descriptor of the entry's (resolved) parent directory."""
        return os.open(self._anchor, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def _entry(self) -> int:
        """The entry directory's descriptor (kept until :meth:`release`; the
        caller holds the lock), opened from its parent with ``O_NOFOLLOW``."""
        if self._entry_fd is None:
            anchor = self._anchor_fd()
            try:
                self._entry_fd = os.open(self.path.parent.name, _DIR_FLAGS, dir_fd=anchor)
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise ContainmentError(f"{self.path.parent}: a symlink or not a directory") from exc
            finally:
                os.close(anchor)
        return self._entry_fd

    def _open_top(self) -> int:
        try:
            return os.open(self.path.name, _DIR_FLAGS, dir_fd=self._entry())
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise ContainmentError(f"{self.path}: a symlink or not a directory") from exc

    def release(self) -> None:
        with self._lock:
            super().release()
            if self._entry_fd is not None:
                os.close(self._entry_fd)
                self._entry_fd = None

    def __repr__(self) -> str:
        return f"PackedRoot({str(self.path)!r}, {str(self.pack)!r})"

    def _open_pack(self, flags: int, mode: int = 0o644) -> int:
        """A descriptor of the pack file, opened in the entry with ``O_NOFOLLOW``."""
        with self._lock:
            try:
                return os.open(self.pack.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=self._entry())
            except (FileNotFoundError, FileExistsError):
                raise
            except OSError as exc:
                raise ContainmentError(f"{self.pack}: cannot open ({exc.strerror})") from exc

    def create_pack(self) -> BinaryIO:
        """Create the pack file (it must not exist) and open it for writing."""
        return os.fdopen(self._open_pack(os.O_WRONLY | os.O_CREAT | os.O_EXCL), "wb")

    def open(self, rel: str) -> BinaryIO:
        """Open ``rel`` (a packed file or a file under ``path``) for reading."""
        found = self.packed.get(rel)
        if found is None:
            return super().open(rel)
        self._parts(rel)
        offset, size = found
        fd = self._open_pack(os.O_RDONLY | os.O_NONBLOCK)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise ContainmentError(f"{self.pack}: not a regular file")
        if offset < 0 or size < 0 or offset + size > info.st_size:
            os.close(fd)
            raise ContainmentError(f"{rel}: its range lies outside the pack file")
        os.set_blocking(fd, True)
        return cast(BinaryIO, _Range(fd, offset, size))

    def is_file(self, rel: str) -> bool:
        return rel in self.packed or super().is_file(rel)

    def size(self, rel: str) -> int:
        found = self.packed.get(rel)
        return super().size(rel) if found is None else found[1]

    def identity(self, rel: str) -> tuple[int, ...]:
        found = self.packed.get(rel)
        return super().identity(rel) if found is None else (-1, *found)

    def host_path(self, rel: str) -> Path:
        if rel in self.packed:
            raise ContainmentError(f"{rel}: a packed file has no host path")
        return super().host_path(rel)
