"""Binary relocation: rewrite the library references of ELF, Mach-O and PE
files so they resolve inside the wheel.

Format modules (:mod:`.elf`, :mod:`.macho`, :mod:`.pe`) read and edit one
file; platform modules (:mod:`.linux`, :mod:`.macos`, :mod:`.windows`) plan
the edits of a whole wheel. :func:`read_binary` dispatches on the file's magic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

from .elf import ElfInfo, is_elf, read_elf
from .macho import MachOInfo, is_macho, read_macho
from .pe import PEInfo, is_pe, read_pe

BinaryInfo = Union[ElfInfo, MachOInfo, PEInfo]


def read_binary(path: Path) -> BinaryInfo | None:
    """The linking facts of an ELF, Mach-O or PE file; None for any other file.
    Raises :class:`~press.errors.RelocationError` for a binary LIEF cannot parse."""
    if is_elf(path):
        return read_elf(path)
    if is_macho(path):
        return read_macho(path)
    if is_pe(path):
        return read_pe(path)
    return None


def lookup_name(needed: str, info: BinaryInfo) -> str:
    """The file name a dependency is looked up by: the basename of a Mach-O
    load command (``@rpath/libz.1.dylib`` -> ``libz.1.dylib``), the lower-case
    DLL name for PE (Windows file names are case-insensitive), the ELF
    ``DT_NEEDED`` as is."""
    if isinstance(info, PEInfo):
        return needed.lower()
    return needed.rsplit("/", 1)[-1]


def file_key(arcname: str, info: BinaryInfo) -> str:
    """The name a file of the wheel answers to in :func:`lookup_name` terms."""
    base = arcname.rsplit("/", 1)[-1]
    return base.lower() if isinstance(info, PEInfo) else base
