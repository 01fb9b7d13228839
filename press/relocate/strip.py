"""``--strip``: remove the symbol table and debug sections from the ELF files
a Linux wheel ships, as ``auditwheel repair --strip`` does.

auditwheel runs binutils' ``strip -s`` on each library it grafts and on
each binary that needs one (``auditwheel/repair.py``, ``strip_symbols``);
press does the same to every ELF shared library, extension module and
program of the wheel, vendored or the package's own. ``strip -s``
(``--strip-all``) drops ``.symtab``, ``.strtab`` and the ``.debug_*``
sections, none of which the dynamic loader reads: the dynamic symbol table
(``.dynsym``) that ``dlopen`` and symbol binding use stays, and so do the
program headers, ``.dynamic`` and the unwind tables (``.eh_frame``).
Relocatable objects (``ET_REL``, ``*.o``) are left alone: stripping all
their symbols would make them useless to a linker.

LIEF is not used for this: removing a section with LIEF does not shrink
the file (its builder keeps the bytes in place, and the files it writes
came out larger than their input for libmambapy's closure), whereas
binutils moves the sections that remain. The tool is per ELF machine
(binutils' ``strip`` only reads its own; Debian's x86-64 ``strip`` refuses
an aarch64 library): the host's ``strip`` for its own machine, the cross
binutils ``<triplet>-strip`` (Debian ``binutils-aarch64-linux-gnu``), then
LLVM's ``llvm-strip``, which reads every machine; the first that succeeds
is used. Its output depends only on its input (no time stamps), so a run is
reproducible on one machine; another binutils version may lay the bytes
out differently. Each run is bounded like a validation step
(:func:`press.sandbox.run`: ``run_seconds``, ``run_memory``).

Mach-O and PE files are not stripped (see :func:`not_stripped_note`).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..contained import Root
from ..errors import RelocationError
from ..layout import Layout, StagedFile
from .common import staged_copy
from .elf import ELF_MAGIC, ElfInfo

#: LIEF's ELF machine name (:attr:`ElfInfo.machine`) -> (the ``uname -m``
#: values of hosts whose own ``strip`` reads it, the GNU triplet of the
#: cross binutils).
MACHINES: dict[str, tuple[tuple[str, ...], str]] = {
    "X86_64": (("x86_64", "amd64"), "x86_64-linux-gnu"),
    "AARCH64": (("aarch64", "arm64"), "aarch64-linux-gnu"),
    "PPC64": (("ppc64le",), "powerpc64le-linux-gnu"),
    "S390": (("s390x",), "s390x-linux-gnu"),
    "ARM": (("armv7l", "armv6l"), "arm-linux-gnueabihf"),
    "I386": (("i686", "i386"), "i686-linux-gnu"),
    "RISCV": (("riscv64",), "riscv64-linux-gnu"),
}

#: ``e_type`` of relocatable objects (System V gABI), left unstripped.
ET_REL = 1

#: What the candidate tools print for a file of a machine they do not read
#: (binutils; LLVM): the next candidate is tried.
_UNREADABLE = ("file format not recognized", "unable to recognise the format", "not recognized as a valid object",
               "unsupported")


@functools.lru_cache(maxsize=None)
def strip_tools(machine: str) -> tuple[str, ...]:
    """The installed strip programs that may read ELF files of ``machine``
    (LIEF's name: ``X86_64``, ``AARCH64`` ...), best first, as absolute
    paths: ``strip`` when the host is that machine, ``<triplet>-strip``,
    ``llvm-strip``, then ``strip`` anyway (Debian's ``binutils-multiarch``
    reads every machine). Empty when none is installed."""
    hosts, triplet = MACHINES.get(machine, ((), ""))
    names = (["strip"] if platform.machine().lower() in hosts else []) + ([f"{triplet}-strip"] if triplet else [])
    names += ["llvm-strip", "strip"]
    found: dict[str, str] = {}  # one path per program (x86_64-linux-gnu-strip is Debian's strip under another name)
    for path in (shutil.which(name) for name in names):
        if path:
            found.setdefault(os.path.realpath(path), path)
    return tuple(found.values())


def _remedy(machine: str) -> str:
    triplet = MACHINES.get(machine, ((), "<triplet>"))[1]
    return (f"install binutils for {machine} ({triplet}-strip; Debian: apt-get install "
            f"binutils-{triplet.replace('_', '-')}) or LLVM (llvm-strip), or leave out --strip")


def _is_relocatable(root: Root, rel: str) -> bool:
    """Whether ``rel`` is an ELF relocatable object (``e_type`` ET_REL)."""
    with root.open(rel) as handle:
        head = handle.read(18)
    if len(head) < 18 or head[:4] != ELF_MAGIC:
        return False
    return int.from_bytes(head[16:18], "little" if head[5] == 1 else "big") == ET_REL


def strip_file(stage: Root, arc: str, machine: str, package: str | None = None) -> int:
    """Strip the ELF file ``arc`` of ``stage`` in place (``strip -s`` of
    the first of :func:`strip_tools` that reads it, into a temporary file
    renamed over it, the mode kept). The result is kept only when it is
    smaller. Returns the bytes removed (0 when nothing was to strip).
    Raises :class:`~press.errors.RelocationError` naming ``package`` and
    ``arc`` when no strip is installed for ``machine`` or none succeeds."""
    from ..sandbox import run

    tools = strip_tools(machine)
    if not tools:
        raise RelocationError(f"--strip: no strip program for {machine} ELF files here: {_remedy(machine)}",
                              package=package, field=arc)
    target = stage.host_path(arc)
    before = target.stat()
    # The output goes to a private directory beside the stage, never to a name inside it: a package
    # may ship any name there (a file called like the temporary would be overwritten, then moved).
    with tempfile.TemporaryDirectory(prefix=".press-strip-", dir=Path(stage.path).parent) as private:
        tmp = Path(private) / "stripped"
        failures: list[str] = []
        stripped = False
        for tool in tools:
            tmp.unlink(missing_ok=True)
            done = run([tool, "-s", "-o", str(tmp), str(target)], env={"LC_ALL": "C"})
            if done.returncode == 0 and tmp.is_file():
                stripped = True
                break
            said = (done.stderr.strip() or f"exit status {done.returncode}").replace(str(target), arc)
            failures.append(said if os.path.basename(tool) in said else f"{os.path.basename(tool)}: {said}")
            if not any(words in done.stderr.lower() for words in _UNREADABLE):
                break  # it read the file and failed: another tool would not do better
        if not stripped:
            unread = len(failures) == len(tools) and all(any(w in f.lower() for w in _UNREADABLE) for f in failures)
            raise RelocationError(f"--strip: cannot strip it: {'; '.join(f[-300:] for f in failures)}"
                                  + (f" ({_remedy(machine)})" if unread else ""), package=package, field=arc)
        saved = before.st_size - tmp.stat().st_size
        if saved <= 0:
            return 0
        os.chmod(tmp, stat.S_IMODE(before.st_mode))
        os.replace(tmp, target)
    return saved


@dataclass
class Stripper:
    """Strips the ELF files of one wheel, each once, into ``stage`` (where
    the relocation writes its edited copies; a file still in an artifact's
    unpacked tree is copied there first). ``saved``: archive name -> bytes
    removed, for each file that shrank."""

    stage: Root
    saved: dict[str, int] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def strip(self, arc: str, staged: StagedFile) -> None:
        """Strip ``staged`` (the file the wheel ships as ``arc``) unless it
        was already, it is no ELF file of :attr:`ElfInfo` facts, or it is a
        relocatable object. Raises what :func:`strip_file` raises."""
        if arc in self._seen or not isinstance(staged.binary, ElfInfo):
            return
        self._seen.add(arc)
        if _is_relocatable(staged.root, staged.rel):
            return
        staged_copy(staged, self.stage, arc)
        saved = strip_file(self.stage, arc, staged.binary.machine, staged.owner)
        if saved:
            self.saved[arc] = saved

    def strip_all(self, layout: Layout) -> dict[str, int]:
        """Strip every ELF file of ``layout`` not stripped yet, in archive
        name order; returns :attr:`saved`."""
        for arc, staged in sorted(layout.files.items()):
            self.strip(arc, staged)
        return self.saved


def not_stripped_note(layout: Layout, kind: str) -> str | None:
    """The report's note for ``--strip`` on a wheel whose binaries are
    ``kind`` (``Mach-O`` or ``PE``) files, which are left as they are (a
    Mach-O file's code signature covers its bytes, and binutils strips
    neither format as the platform's own tools do). None when the layout
    has no binaries."""
    count = sum(1 for staged in layout.files.values() if staged.binary is not None)
    if not count:
        return None
    return f"--strip: {count} {kind} binar{'y' if count == 1 else 'ies'} left unstripped (only ELF files are stripped)"
