"""The work directory of one run: ``$TMPDIR/press-XXXXXXXX``, removed at the
end, and removed by a later run when the run was killed before it could.

A run holds an exclusive ``flock`` on ``<work>/.press-work.lock`` while it
lives; the kernel drops the lock with the process, even after SIGKILL. A new
work directory first sweeps ``$TMPDIR``: a ``press-*`` directory of the same
user whose lock file it can lock is a killed run's, and is removed
(``shutil.rmtree``, which does not follow links). A directory without the
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
        self._fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def close(self) -> None:
        """Remove the directory and release the lock (idempotent)."""
        if self._fd >= 0:
            shutil.rmtree(self.path, ignore_errors=True)
            os.close(self._fd)
            self._fd = -1


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
            shutil.rmtree(entry.path, ignore_errors=True)
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
