"""Binary relocation: rewrite the library references of ELF, Mach-O and PE
files so they resolve inside the wheel.

Format modules (:mod:`.elf`, :mod:`.macho`, :mod:`.pe`) read and edit one
file; platform modules (:mod:`.linux`, :mod:`.macos`, :mod:`.windows`) plan
the edits of a whole wheel. :func:`read_binary` dispatches on the file's magic.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Union

from .. import grammar
from ..contained import Root
from ..errors import RelocationError
from ..limits import exceeded, limit

from .elf import ElfInfo, is_elf, read_elf
from .macho import MachOInfo, is_macho, read_macho
from .pe import PEInfo, is_pe, read_pe

BinaryInfo = Union[ElfInfo, MachOInfo, PEInfo]


#: First bytes of the files :func:`read_binary` reads: ELF, Mach-O (thin and
#: universal), PE (``MZ``).
_MAGICS = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xfe\xed\xfa\xce",
           b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf", b"MZ")


def may_be_binary(magic: bytes) -> bool:
    """Whether a file starting with ``magic`` (its first four bytes) may be
    one :func:`read_binary` reads; False rules it out without opening it."""
    return magic.startswith(_MAGICS)


#: Names of files that only a loader opens (Windows DLLs, extension modules
#: and programs; ELF shared objects; Mach-O dylibs and bundles): a file so
#: named whose first bytes claim a binary format (``MZ``; the universal Mach-O
#: magic, which Java class files share) but that is none is refused like any
#: other lying binary, never shipped as data.
_LOADED_NAME = re.compile(r"\.(dll|pyd|exe|so|dylib|bundle)$|\.so(\.\d+)+$", re.I)


def _claimed_format(path: Path, rel: str) -> str | None:
    """``PE`` or ``Mach-O`` when ``rel`` is named as a loaded binary
    (``.dll``, ``.pyd``, ``.exe``, ``.so``, ``.dylib``, ``.bundle``) and
    starts with that format's magic (``MZ``; ``\\xca\\xfe\\xba\\xbe`` or
    ``\\xca\\xfe\\xba\\xbf``) though the format's own test (:func:`is_pe`,
    :func:`is_macho`) says it is none; else None. (ELF and thin Mach-O
    magics are always parsed, so they lie to the parser, which refuses them.)"""
    if not _LOADED_NAME.search(rel):
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError:
        return None
    if head[:2] == b"MZ":
        return "PE"
    if head in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"):
        return "Mach-O"
    return None


def read_binary(root: Root, rel: str, package: str | None = None, named: str | None = None) -> BinaryInfo | None:
    """The linking facts of the ELF, Mach-O or PE file ``rel`` in ``root``;
    None for any other file.

    What LIEF reads is input like any other: every SONAME, needed library
    and DLL name must be a plain file name, every RUNPATH/RPATH entry and
    install name printable ASCII (:mod:`press.grammar`). Raises
    :class:`~press.errors.RelocationError` naming ``package`` and ``rel``
    for a file whose magic says ELF, Mach-O or PE but that LIEF cannot
    parse, and :class:`~press.errors.InvalidInputError` for a name outside
    its grammar, and :class:`~press.errors.LimitError` for a binary larger
    than the ``binary_size`` limit (LIEF reads whole files into memory).
    A file named as a PE or Mach-O binary (``named``: the name it is reached
    by, a symlink's; default ``rel``) that starts with that format's magic
    but is none is refused too (:func:`_claimed_format`)."""
    path = root.host_path(rel)
    readers = ((is_elf, read_elf), (is_macho, read_macho), (is_pe, read_pe))
    reader = next((read for test, read in readers if test(path)), None)
    if reader is None:
        claimed = _claimed_format(path, named or rel)
        if claimed is not None:
            raise RelocationError(f"is named and starts like a {claimed} file but is none (no valid {claimed} "
                                  "header)", package=package, field=rel)
        return None
    if path.stat().st_size > limit("binary_size"):
        raise exceeded("binary_size", package=package, field=rel)
    try:
        info: BinaryInfo = reader(path)
    except RelocationError as exc:
        raise RelocationError(exc.reason, package=package, field=rel) from None
    except Exception as exc:  # LIEF and nanobind raise their own types (UnicodeDecodeError, ...)
        raise RelocationError(f"cannot read the binary ({type(exc).__name__}: {exc})", package=package,
                              field=rel) from None
    _check_names(info, package or "", rel)
    return info


def _check_names(info: BinaryInfo, package: str, rel: str) -> None:
    from ..package import checked

    for needed in info.needed:
        if isinstance(info, MachOInfo):
            checked(grammar.search_path, needed, package, f"{rel}: LC_LOAD_DYLIB")
            checked(grammar.file_name, needed.rsplit("/", 1)[-1], package, f"{rel}: LC_LOAD_DYLIB")
        else:
            checked(grammar.file_name, needed, package, f"{rel}: {'DT_NEEDED' if isinstance(info, ElfInfo) else 'import'}")
    if isinstance(info, ElfInfo):
        if info.soname is not None:
            checked(grammar.file_name, info.soname, package, f"{rel}: DT_SONAME")
        for library, versions in info.version_needs.items():
            checked(grammar.file_name, library, package, f"{rel}: DT_VERNEED")
            for version in versions:
                checked(grammar.search_path, version, package, f"{rel}: DT_VERNEED {library}")
    if isinstance(info, MachOInfo) and info.install_id is not None:
        checked(grammar.search_path, info.install_id, package, f"{rel}: LC_ID_DYLIB")
        checked(grammar.file_name, info.install_id.rsplit("/", 1)[-1], package, f"{rel}: LC_ID_DYLIB")
    for entry in getattr(info, "rpaths", []):
        checked(grammar.search_path, entry, package, f"{rel}: RUNPATH")


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
