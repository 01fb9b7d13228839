"""Publishing files safely: write to a temporary name, rename into place.

Temporary names are ``.<name>.<pid>.tmp`` beside the target, so a reader
never sees a partial file, two processes never share a temporary, and a
batch can recognise (and remove) what a killed run left.
"""

from __future__ import annotations

import os
from pathlib import Path


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
