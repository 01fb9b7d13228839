"""The work directory of one run: ``$TMPDIR/press-XXXXXXXX``, removed at the
end, and removed by a later run when the run was killed before it could.

A run holds an exclusive ``flock`` on ``<work>/.press-work.lock`` while it
lives; the kernel drops the lock with the process, even after SIGKILL. A new
work directory first sweeps ``$TMPDIR``: a ``press-*`` directory of the same
user whose lock file it can lock is a killed run's, and is removed
(:func:`remove_tree`, which does not follow links). A directory without the
lock file (another program's, or a run still creating it) is left alone.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The lock file a live run holds in its work directory.
LOCK_NAME = ".press-work.lock"
#: Prefix of work directories in ``$TMPDIR``.
PREFIX = "press-"


class WorkDir:
    """A fresh work directory (``path``) held by this process until
    :meth:`close`, which removes it. Creating one removes the work
    directories of killed runs (:func:`remove_stale`). Raises ``OSError``
    when ``$TMPDIR`` cannot be written."""

    def __init__(self, kind: str = "", parent: Path | None = None) -> None:
        self.parent = Path(parent or tempfile.gettempdir())
        remove_stale(self.parent)
        self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}", dir=self.parent))
        # Locked before it has its name: another run's sweep never sees an unlocked lock file of a live run.
        creating = self.path / f"{LOCK_NAME}.new"
        self._fd = os.open(creating, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.rename(creating, self.path / LOCK_NAME)

    def close(self) -> None:
        """Remove the directory and release the lock (idempotent)."""
        if self._fd >= 0:
            remove_tree(self.path)
            os.close(self._fd)
            self._fd = -1


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove the directory ``path`` and everything in it, as
    ``shutil.rmtree`` does (no link followed), also when a directory in it
    is not writable or searchable by its owner: package code that ran in
    the validation's scratch directory may ``chmod 0`` or ``0500`` a
    directory of its own, which a user without ``CAP_DAC_OVERRIDE`` (not
    root) could then not empty, leaving the package's files in ``$TMPDIR``
    for good. Such directories (real ones, this user's, never through a
    link) get ``0700`` back and the removal is tried again. Never raises:
    what still cannot be removed stays."""
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return
    uid = os.getuid()

    def reopen(directory: str) -> bool:
        try:
            found = os.lstat(directory)
            if stat.S_ISDIR(found.st_mode) and found.st_uid == uid and found.st_mode & 0o700 != 0o700:
                os.chmod(directory, 0o700)
            return stat.S_ISDIR(found.st_mode)
        except OSError:
            return False

    if reopen(os.fspath(path)):
        for top, directories, _files in os.walk(path):  # top-down: each is opened before it is listed
            directories[:] = [name for name in directories if reopen(os.path.join(top, name))]
    shutil.rmtree(path, ignore_errors=True)


def remove_stale(parent: Path) -> list[str]:
    """Remove the work directories in ``parent`` that killed runs left: a
    ``press-*`` directory (not a link) owned by this user whose
    ``.press-work.lock`` no process holds. Returns the names removed; never
    raises (what cannot be removed stays)."""
    removed: list[str] = []
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(PREFIX)]
    except OSError:
        return removed
    for entry in entries:
        try:
            found = entry.stat(follow_symlinks=False)
            if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
                continue
            fd = os.open(os.path.join(entry.path, LOCK_NAME), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live run holds it
            remove_tree(entry.path)
            removed.append(entry.name)
        finally:
            os.close(fd)
    return removed


@contextmanager
def work_dir(kind: str = "") -> Iterator[str]:
    """A :class:`WorkDir` (``$TMPDIR/press-<kind>XXXXXXXX``) as a context
    manager yielding its path as a string, as ``tempfile.TemporaryDirectory``
    does."""
    held = WorkDir(kind)
    try:
        yield str(held.path)
    finally:
        held.close()
