"""Relocation plan for Linux wheels (ELF, glibc ``ld.so`` search rules).

Fat wheels: every vendored shared library that a binary loads through
DT_NEEDED gets a content-hashed SONAME and file name (auditwheel's scheme;
plugins loaded by path keep theirs), every ``DT_NEEDED`` and version requirement
follows, and each ELF file gets one ``DT_RUNPATH`` of ``$ORIGIN``-relative
directories holding what it needs. Thin wheels: ``DT_NEEDED`` entries the
wheel cannot satisfy are looked up in the wheels of the dependency closure
that ship them (:mod:`press.providers`).
The platform tag comes from auditwheel's manylinux policies.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Callable

from ..contained import Root
from ..layout import Layout, StagedFile
from ..tags import allowed_libraries, manylinux_tag
from ..providers import LIBRARY_DIRS
from .common import Relocation, content_hash, hashed_name, rename_arc, staged_copy, thin_own_name
from .elf import ElfInfo, patch_elf

if TYPE_CHECKING:
    from ..providers import LibraryProviders


def relocate_linux(layout: Layout, *, fat: bool, dependency_libs: list[str], stage: Root, machine: str,
                   providers: LibraryProviders | None = None, excluded: list[str] | None = None,
                   on_final: Callable[[str, StagedFile], None] | None = None) -> Relocation:
    """Relocate the ELF files of ``layout`` in place (edited copies go to
    ``stage``). ``providers`` (thin wheels, :mod:`press.providers`): the
    library of every dependency wheel of the closure, direct or not; a
    ``DT_NEEDED`` one of them ships gets that wheel's directory in the
    RUNPATH (and, for a link into another package, the target's name), which
    wins over the system copy even for allow-listed libraries (a thin wheel
    links the C++ runtime of its closure, as conda does), although the
    symbol versions such a library must provide still count for the tag:
    the loader reuses a copy of that name loaded first (auditwheel's rule,
    docs/metadata.md, Tags);
    ``dependency_libs``: the ``<dep>.libs`` directories of thin dependency
    wheels press has no files of, searched for a ``DT_NEEDED`` no
    provider ships; ``excluded``: fnmatch globs of libraries the user keeps out
    (``--exclude``): expected on the target system, so they count neither as
    unresolved nor for the tag, as in auditwheel. ``machine``: ``x86_64``,
    ``aarch64`` ... ``on_final(arc, staged)`` is called for each edited file
    once its edit is written (largest files are edited first), so its
    compression can start while the others are edited.
    Returns the :class:`Relocation`; raises :class:`~press.errors.RelocationError`."""
    import fnmatch

    def is_excluded(soname: str) -> bool:
        return any(fnmatch.fnmatchcase(soname, glob) for glob in excluded or ())
    allowed = allowed_libraries(machine)
    libs = layout.libs_dir + "/"
    library_dirs = {f"{layout.libs_dir}/{d}" for d in LIBRARY_DIRS["linux"]}
    elves = {a: f for a, f in layout.files.items() if isinstance(f.binary, ElfInfo) and f.binary.dynamic}
    renames: dict[str, str] = {}
    if fat:
        # Only libraries some binary loads through DT_NEEDED are renamed;
        # plugins dlopen'ed by path (krb5's preauth modules) keep their names.
        needed_names = {n for f in elves.values() for n in f.binary.needed}  # type: ignore[union-attr]
        for arc, staged in sorted(elves.items()):
            soname = staged.binary.soname  # type: ignore[union-attr]
            if arc.startswith(libs) and soname and soname in needed_names and soname not in renames:
                renames[soname] = hashed_name(soname, content_hash(staged))
    else:
        # A thin wheel's libraries a process may already hold (the interpreter's libssl, the
        # system's libstdc++) get a name of their own (thin_own_name), so that copy does not
        # stand in for them.
        for arc in list(elves):
            soname = elves[arc].binary.soname  # type: ignore[union-attr]
            if soname and posixpath.dirname(arc) in library_dirs and posixpath.basename(arc) == soname \
                    and soname not in renames:
                own = thin_own_name(soname, layout.libs_dir, allowed)
                if own is not None:
                    renames[soname] = own
    for arc in list(elves):
        soname = elves[arc].binary.soname  # type: ignore[union-attr]
        if soname in renames and posixpath.basename(arc) == soname and arc.startswith(libs):
            elves[rename_arc(layout, arc, renames[soname])] = elves.pop(arc)
    by_name: dict[str, str] = {}
    for arc in sorted(elves):
        by_name.setdefault(posixpath.basename(arc), arc)
    result = Relocation(platform="")
    edits: list[tuple[int, str, StagedFile, str | None, dict[str, str], list[str]]] = []
    result.vendored = sorted(a for a in elves if a.startswith(libs) and elves[a].binary.soname)  # type: ignore[union-attr]
    for arc, staged in sorted(elves.items()):
        info = staged.binary
        assert isinstance(info, ElfInfo)
        here = posixpath.dirname(arc) or "."
        runpath: list[str] = []
        deps: dict[str, str] = {}
        needs_dependency = False
        rename = {n: renames[n] for n in info.needed if n in renames}
        for needed in info.needed:
            target = renames.get(needed, needed)
            provider = providers.lookup(needed, "linux") if providers is not None and not fat else None
            if target in by_name:
                deps[needed] = by_name[target]
                rel = posixpath.relpath(posixpath.dirname(by_name[target]) or ".", here)
                entry = "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"
                if entry not in runpath:
                    runpath.append(entry)
            elif is_excluded(needed):
                deps[needed] = "excluded"
            elif provider is not None:
                deps[needed] = "dependency wheel"
                own = thin_own_name(provider.name, provider.directory.split("/", 1)[0], allowed)
                if own is not None:
                    rename[needed] = own  # the provider's copy goes by a name of its own (thin_own_name)
                elif provider.name in allowed:
                    # The loader reuses a copy already loaded under this name (the system's), so its
                    # symbol versions count for the tag as auditwheel counts them (docs/metadata.md, Tags).
                    result.external.setdefault(needed, set()).update(info.version_needs.get(needed, set()))
                elif provider.name != needed:
                    rename[needed] = provider.name  # a link into another package: load its target
                entry = f"$ORIGIN/{posixpath.relpath(provider.directory, here)}"
                if entry not in runpath:
                    runpath.append(entry)
            elif needed in allowed or needed.startswith("ld-linux") or not dependency_libs:
                deps[needed] = "system" if (needed in allowed or needed.startswith("ld-")) else "unresolved"
                result.external.setdefault(needed, set()).update(info.version_needs.get(needed, set()))
            else:
                deps[needed] = "dependency wheel"
                needs_dependency = True
        if needs_dependency:
            for dep_libs in dependency_libs:
                entry = f"$ORIGIN/{posixpath.relpath(dep_libs + '/lib', here)}"
                if entry not in runpath:
                    runpath.append(entry)
        result.dependencies[arc] = deps
        new_soname = renames.get(info.soname) if info.soname else None
        if not (rename or new_soname or runpath or info.rpaths):
            continue
        edits.append((staged.root.size(staged.rel), arc, staged, new_soname, rename, runpath))
        result.changed.append(arc)
    for _, arc, staged, new_soname, rename, runpath in sorted(edits, key=lambda e: (-e[0], e[1])):
        patch_elf(staged_copy(staged, stage, arc), soname=new_soname, rename_needed=rename, runpath=runpath)
        if on_final is not None:
            on_final(arc, staged)
    result.platform, reasons = manylinux_tag(machine, result.external)
    result.notes += reasons
    return result
