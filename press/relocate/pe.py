"""PE (Windows DLL, ``.pyd`` and ``.exe``) reading and editing with LIEF:
the import and delay-import tables (Microsoft PE/COFF specification)."""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ..errors import RelocationError

_LOCK = threading.Lock()
_MACHINES = {"AMD64": "amd64", "I386": "win32", "ARM64": "arm64"}


def is_pe(path: Path) -> bool:
    """True for a file with an MZ header pointing at a ``PE\\0\\0`` signature."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
            if len(head) < 64 or head[:2] != b"MZ":
                return False
            handle.seek(int.from_bytes(head[60:64], "little"))
            return handle.read(4) == b"PE\0\0"
    except OSError:
        return False


@dataclass
class PEInfo:
    """The dynamic-linking facts of one PE file: ``needed`` (imported and
    delay-loaded DLL names as written) and ``machine`` (``amd64``, ``win32``,
    ``arm64``). A DLL is known by its file name, so ``name`` is None."""

    needed: list[str] = field(default_factory=list)
    machine: str = ""
    name: str | None = None
    dynamic: bool = True


def _lief() -> ModuleType:
    import lief

    lief.logging.disable()
    return lief


def read_pe(path: Path) -> PEInfo:
    """Parse ``path`` with LIEF. Raises :class:`RelocationError` when LIEF cannot."""
    lief = _lief()
    binary = lief.PE.parse(str(path))
    if binary is None:
        raise RelocationError(f"LIEF cannot parse PE file {path.name}")
    size = os.path.getsize(path)
    for section in binary.sections:
        if section.pointerto_raw_data + section.sizeof_raw_data > size:
            raise RelocationError("PE file is truncated (a section ends past the end of the file)")
    machine = binary.header.machine.name
    needed = [i.name for i in binary.imports] + [i.name for i in binary.delay_imports]
    return PEInfo(needed=needed, machine=_MACHINES.get(machine, machine.lower()))


def patch_pe(path: Path, rename_needed: dict[str, str]) -> None:
    """Rename imported DLLs of ``path`` in place (matching case-insensitively,
    as the Windows loader does). LIEF rebuilds the import table in a new
    section and keeps the import address table where the code expects it.
    The edit goes to a temporary file renamed over the original. Raises
    :class:`RelocationError`.
    """
    lief = _lief()
    lower = {k.lower(): v for k, v in rename_needed.items()}
    with _LOCK:
        binary = lief.PE.parse(str(path))
        if binary is None:
            raise RelocationError(f"LIEF cannot parse PE file {path.name}")
        for table in (binary.imports, binary.delay_imports):
            for entry in table:
                if entry.name.lower() in lower:
                    entry.name = lower[entry.name.lower()]
                del entry
        config = lief.PE.Builder.config_t()
        config.imports = True
        mode = os.stat(path).st_mode & 0o7777
        # a new name of its own (O_EXCL): a package file named like a fixed temporary is never written
        handle, name = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".press-tmp", dir=path.parent)
        os.close(handle)
        tmp = Path(name)
        try:
            binary.write(str(tmp), config)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise RelocationError(f"cannot write relocated {path.name}: {exc}") from exc
