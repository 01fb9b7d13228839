"""Publishing files safely: write to a temporary name, rename into place;
and reading back a file press did not make (a wheel in a wheel directory)
without following a link or blocking on a FIFO.

Temporary names are ``.<name>.<pid>.tmp`` beside the target, so a reader
never sees a partial file, two processes never share a temporary, and a
batch can recognise (and remove) what a killed run left.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file itself: a
    symlink is not followed (``O_NOFOLLOW``) and a FIFO or device is not
    waited on (``O_NONBLOCK``, then refused). Raises ``OSError`` otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise OSError(f"{path} is not a regular file")
    return handle


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` (``str`` as UTF-8) to ``path`` through a temporary file
    renamed over it (``os.replace``: atomic on POSIX within one file system).
    Creates the parent directory. Raises ``OSError``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
