"""Mach-O reading and editing with LIEF: install ids (``LC_ID_DYLIB``),
dependent libraries (``LC_LOAD_DYLIB`` and friends), ``LC_RPATH`` and the
minimum macOS version, plus an ad hoc code signature after every edit.

dyld rules used (Apple, ``man dyld``): ``@rpath/X`` is searched in every
``LC_RPATH`` of the loading image chain; ``@loader_path`` is the directory of
the image holding the load command. arm64 macOS kills a process that maps
unsigned code, so every file changed here is re-signed ad hoc with
repairwheel's pure-Python signer (:func:`repairwheel.macos.machosign.ad_hoc_sign`).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import RelocationError

_THIN_MAGICS = {b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xfe\xed\xfa\xce"}
_FAT_MAGICS = {b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"}
_LOCK = threading.Lock()
#: load commands naming a dependent library.
DEPENDENCY_COMMANDS = ("LOAD_DYLIB", "LOAD_WEAK_DYLIB", "REEXPORT_DYLIB", "LAZY_LOAD_DYLIB", "LOAD_UPWARD_DYLIB")


def is_macho(path: Path) -> bool:
    """True for a thin or universal Mach-O file (a Java class file, which
    shares the universal magic, is told apart by its small arch count)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return False
    if head[:4] in _THIN_MAGICS:
        return True
    return head[:4] in _FAT_MAGICS and len(head) == 8 and 0 < struct.unpack(">I", head[4:])[0] < 20


@dataclass
class MachOInfo:
    """The dynamic-linking facts of one Mach-O file (the first slice of a universal one).

    ``install_id``: the ``LC_ID_DYLIB`` name (dylibs only); ``needed``:
    dependent library names as written in the load commands; ``rpaths``:
    ``LC_RPATH`` entries; ``min_os``: ``(major, minor)`` from
    ``LC_BUILD_VERSION`` or ``LC_VERSION_MIN_MACOSX``; ``arch``: ``arm64`` or
    ``x86_64``; ``filetype``: ``DYLIB``, ``BUNDLE``, ``EXECUTE`` ...
    """

    install_id: str | None = None
    needed: list[str] = field(default_factory=list)
    rpaths: list[str] = field(default_factory=list)
    min_os: tuple[int, int] | None = None
    arch: str = ""
    filetype: str = ""
    signed: bool = False

    @property
    def name(self) -> str | None:
        """The file name dyld knows the library by (basename of the install id)."""
        return self.install_id.rsplit("/", 1)[-1] if self.install_id else None

    @property
    def dynamic(self) -> bool:
        return self.filetype in ("DYLIB", "BUNDLE", "EXECUTE")


_ARCHS = {"ARM64": "arm64", "X86_64": "x86_64", "X86": "i386", "ARM": "arm"}


def _lief() -> ModuleType:
    import lief

    lief.logging.disable()
    return lief


def _slices(path: Path) -> Any:  # lief.MachO.FatBinary, whose at(i) is never None for i < size
    lief = _lief()
    fat = lief.MachO.parse(str(path))
    if fat is None or fat.size == 0:
        raise RelocationError(f"LIEF cannot parse Mach-O file {path.name}")
    return fat


def _check_structure(fat: Any) -> None:
    """Refuse a slice whose CPU type LIEF does not know (garbage after the
    magic) or whose segments end past the end of the slice (a cut file)."""
    for index in range(fat.size):
        binary = fat.at(index)
        if not hasattr(binary.header.cpu_type, "name"):
            raise RelocationError("has the Mach-O magic but no valid Mach-O header (unknown CPU type)")
        for segment in binary.segments:
            if segment.file_offset + segment.file_size > binary.original_size:
                raise RelocationError("Mach-O file is truncated (a segment ends past the end of the file)")


def read_macho(path: Path) -> MachOInfo:
    """Parse ``path`` with LIEF. Raises :class:`RelocationError` when LIEF
    cannot, or when the file is not a whole Mach-O file."""
    fat = _slices(path)
    _check_structure(fat)
    binary = fat.at(0)
    info = MachOInfo(
        arch=_ARCHS.get(binary.header.cpu_type.name, binary.header.cpu_type.name.lower()),
        filetype=binary.header.file_type.name,
        signed=binary.has_code_signature,
    )
    commands: list[tuple[str, Any]] = [  # values checked by read_binary (press.grammar)
        (c.command.name, c.path if c.command.name == "RPATH" else getattr(c, "name", None)) for c in binary.commands
    ]
    for kind, value in commands:
        if kind == "ID_DYLIB":
            info.install_id = value
        elif kind in DEPENDENCY_COMMANDS:
            info.needed.append(value)
        elif kind == "RPATH":
            info.rpaths.append(value)
    for index in range(fat.size):
        sliced = fat.at(index)
        version = None
        if sliced.has_build_version:
            version = sliced.build_version.minos
        elif sliced.has_version_min:
            version = sliced.version_min.version
        if version:
            found = (int(version[0]), int(version[1]))
            info.min_os = max(info.min_os or found, found)
    return info


def patch_macho(
    path: Path,
    *,
    install_id: str | None = None,
    rename_needed: dict[str, str] | None = None,
    rpaths: list[str] | None = None,
) -> None:
    """Edit every slice of ``path`` in place, then sign it ad hoc.

    ``install_id`` replaces ``LC_ID_DYLIB``; ``rename_needed`` maps old to new
    dependent library names; ``rpaths`` (when given) replaces every
    ``LC_RPATH``. The old signature is dropped before the edit and a new ad hoc
    one (SHA-256 page hashes, as ``codesign -s -`` makes) is written after.
    The file mode is kept; the edit goes to a temporary file renamed over the
    original. Raises :class:`RelocationError`.
    """
    rename_needed = rename_needed or {}
    lief = _lief()
    with _LOCK:
        fat = _slices(path)
        keep = []  # LIEF objects stay referenced until the write (temporaries abort nanobind)
        for index in range(fat.size):
            binary = fat.at(index)
            for command in list(binary.commands):
                kind = command.command.name
                if kind == "ID_DYLIB" and install_id is not None:
                    command.name = install_id
                elif kind in DEPENDENCY_COMMANDS and command.name in rename_needed:
                    command.name = rename_needed[command.name]
                # Release each wrapper now: one left pointing at a command that
                # remove() frees below aborts nanobind when it is dropped later.
                del command
            if rpaths is not None:
                binary.remove(lief.MachO.LoadCommand.TYPE.RPATH)
                for entry in rpaths:
                    keep.append(lief.MachO.RPathCommand.create(entry))
                    binary.add(keep[-1])
            if binary.has_code_signature:
                binary.remove_signature()
        mode = os.stat(path).st_mode & 0o7777
        # The signer takes the file name as the signature's identifier (as
        # codesign does), so the temporary copy keeps the real name.
        tmpdir = Path(tempfile.mkdtemp(prefix=".press-", dir=path.parent))
        tmp = tmpdir / path.name
        try:
            fat.write(str(tmp))
            from repairwheel.macos.machosign import ad_hoc_sign

            ad_hoc_sign(str(tmp))
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except Exception as exc:
            raise RelocationError(f"cannot write relocated {path.name}: {exc}") from exc
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
