"""ELF reading and editing with LIEF: SONAME, NEEDED, version requirements and
RPATH/RUNPATH (System V gABI, glibc ld.so search rules)."""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import RelocationError

if TYPE_CHECKING:
    import lief

ELF_MAGIC = b"\x7fELF"
_LOCK = threading.Lock()

#: Files at least this large (bytes) are edited with spare room (see
#: :func:`patch_elf`): below it the memory LIEF needs does not matter.
SPARE_ROOM_FROM = 8 << 20
#: Zero bytes appended while LIEF reads a large file, more than an edit of the
#: dynamic section grows it by (a new segment and the program header table,
#: page-aligned).
SPARE_ROOM = 1 << 20


def is_elf(path: Path) -> bool:
    """True when ``path`` is a regular file starting with the ELF magic."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == ELF_MAGIC
    except OSError:
        return False


@dataclass
class ElfInfo:
    """The dynamic-linking facts of one ELF file.

    ``needed``: DT_NEEDED names in order; ``rpaths``: DT_RPATH and DT_RUNPATH
    entries (split on ``:``); ``version_needs``: library name -> symbol
    versions required from it (``GLIBC_2.17`` ...); ``dynamic`` is False for
    static executables and relocatable objects.
    """

    soname: str | None = None
    needed: list[str] = field(default_factory=list)
    rpaths: list[str] = field(default_factory=list)
    version_needs: dict[str, set[str]] = field(default_factory=dict)
    dynamic: bool = True
    machine: str = ""

    @property
    def name(self) -> str | None:
        """The name the dynamic linker knows the library by (its SONAME)."""
        return self.soname


def _lief() -> ModuleType:
    import lief

    lief.logging.disable()
    return lief


def _parse(lief: ModuleType, path: Path) -> Any:
    """``lief.ELF.parse`` without the warnings LIEF's enums raise for
    values they do not know (``13355 is not a valid ARCH``): a hostile file
    is refused with one error line, not preceded by them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lief.ELF.parse(str(path))


def read_elf(path: Path) -> ElfInfo:
    """Parse ``path`` with LIEF. Raises :class:`RelocationError` when LIEF cannot."""
    lief = _lief()
    binary = _parse(lief, path)
    if binary is None:
        raise RelocationError(f"LIEF cannot parse ELF file {path.name}")
    _check_structure(lief, binary, os.path.getsize(path))
    TAG = lief.ELF.DynamicEntry.TAG
    info = ElfInfo(machine=str(binary.header.machine_type).split(".")[-1])
    entries = list(binary.dynamic_entries)
    info.dynamic = bool(entries)
    for entry in entries:
        if entry.tag == TAG.NEEDED:
            info.needed.append(_text(entry.name, "DT_NEEDED"))
        elif entry.tag == TAG.SONAME:
            info.soname = _text(entry.name, "DT_SONAME")
        elif entry.tag in (TAG.RPATH, TAG.RUNPATH):
            value = _text(entry.rpath if entry.tag == TAG.RPATH else entry.runpath, "DT_RUNPATH")
            info.rpaths.extend(p for p in value.split(":") if p)
    for requirement in binary.symbols_version_requirement:
        versions = {aux.name for aux in requirement.get_auxiliary_symbols()}
        info.version_needs.setdefault(requirement.name, set()).update(versions)
    return info


def _text(value: str | bytes, what: str) -> str:
    """A dynamic-section string; LIEF hands back ``bytes`` for one that is not UTF-8."""
    if not isinstance(value, str):
        raise RelocationError(f"{what} {bytes(value)[:100]!r} is not valid UTF-8")
    return value


def _check_structure(lief: ModuleType, binary: lief.ELF.Binary, size: int) -> None:
    """Refuse what LIEF reads from garbage or a cut file without complaint:
    an unknown class or machine, or a segment or section that ends past the
    end of the file (LIEF then reports no dynamic entries at all)."""
    header = binary.header
    if header.identity_class == lief.ELF.Header.CLASS.NONE or header.machine_type == lief.ELF.ARCH.NONE:
        raise RelocationError("has the ELF magic but no valid ELF header (unknown class or machine)")
    for segment in binary.segments:
        if segment.file_offset + segment.physical_size > size:
            raise RelocationError("ELF file is truncated (a segment ends past the end of the file)")
    for section in binary.sections:
        if section.type != lief.ELF.Section.TYPE.NOBITS and section.offset + section.size > size:
            raise RelocationError("ELF file is truncated (a section ends past the end of the file)")


def patch_elf(
    path: Path,
    *,
    soname: str | None = None,
    rename_needed: dict[str, str] | None = None,
    runpath: list[str] | None = None,
    spare_room: int | None = None,
) -> None:
    """Edit ``path`` in place: set DT_SONAME, rename DT_NEEDED entries (and the
    matching version-requirement file names, which ld.so checks), and replace
    every DT_RPATH/DT_RUNPATH with one DT_RUNPATH of ``runpath`` (none when the
    list is empty). The file mode is kept; the edit goes to a temporary file
    renamed over the original. Raises :class:`RelocationError`.

    ``spare_room`` (bytes; default :data:`SPARE_ROOM` for files of at least
    :data:`SPARE_ROOM_FROM` bytes, else 0) bounds memory, not output: LIEF's
    builder reserves the size of the file it read (``Builder::Builder``
    reserves ``original_size()``), and an edit that grows the file makes that
    buffer double while both copies live: three times the file at peak. The
    file is therefore read with that many zero bytes appended (a sparse
    extension, cut again if the edit fails), and LIEF's overlay, which then
    ends with them, is cut back to the file's own before writing: the bytes
    written are the same as without it (a test compares), and the peak is two
    times the file.
    """
    lief = _lief()
    rename_needed = rename_needed or {}
    size = os.path.getsize(path)
    room = spare_room if spare_room is not None else (SPARE_ROOM if size >= SPARE_ROOM_FROM else 0)
    with _LOCK:
        replaced = False
        if room:
            os.truncate(path, size + room)
        try:
            binary = _parse(lief, path)
            if binary is None:
                raise RelocationError(f"LIEF cannot parse ELF file {path.name}")
            if room:
                _cut_room(binary, room)
            _edit(lief, binary, soname, rename_needed, runpath)
            mode = os.stat(path).st_mode & 0o7777
            # a new name of its own (O_EXCL): a package file named like a fixed temporary is never written
            handle, name = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".press-tmp", dir=path.parent)
            os.close(handle)
            tmp = Path(name)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    binary.write(str(tmp))
                os.chmod(tmp, mode)
                os.replace(tmp, path)
                replaced = True
            except Exception as exc:
                tmp.unlink(missing_ok=True)
                raise RelocationError(f"cannot write relocated {path.name}: {exc}") from exc
        finally:
            if room and not replaced:
                os.truncate(path, size)


def _cut_room(binary: lief.ELF.Binary, room: int) -> None:
    """Drop the ``room`` zero bytes :func:`patch_elf` appended from the end of
    ``binary``'s overlay (the bytes past everything its headers describe)."""
    overlay = binary.overlay
    if len(overlay) < room or bytes(overlay[len(overlay) - room:]) != bytes(room):
        raise RelocationError("ELF file changed while it was read (its appended spare room is not there)")
    binary.overlay = bytes(overlay[:len(overlay) - room]) if len(overlay) > room else b""


def _edit(lief: ModuleType, binary: Any, soname: str | None, rename_needed: dict[str, str],
          runpath: list[str] | None) -> None:
    """The dynamic-section edits of :func:`patch_elf`, on a parsed
    ``lief.ELF.Binary`` (typed ``Any``: its NEEDED and SONAME entries are
    subclasses of ``DynamicEntry`` that LIEF's stubs only name by tag)."""
    TAG = lief.ELF.DynamicEntry.TAG
    for entry in binary.dynamic_entries:
        if entry.tag == TAG.NEEDED and entry.name in rename_needed:
            entry.name = rename_needed[entry.name]
        elif entry.tag == TAG.SONAME and soname is not None:
            entry.name = soname
    for requirement in binary.symbols_version_requirement:
        if requirement.name in rename_needed:
            requirement.name = rename_needed[requirement.name]
    if runpath is not None:
        while binary.has(TAG.RPATH):
            binary.remove(TAG.RPATH)
        while binary.has(TAG.RUNPATH):
            binary.remove(TAG.RUNPATH)
        if runpath:
            binary.add(lief.ELF.DynamicEntryRunPath(":".join(runpath)))
