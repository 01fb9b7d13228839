"""Relocation plan for macOS wheels (Mach-O, dyld search rules).

Every dylib of the wheel gets the install id ``@rpath/<file name>``; fat
wheels give vendored dylibs content-hashed file names (so two wheels that
vendor different builds of one library never share an image in a process);
every dependent library found in the wheel is renamed ``@rpath/<file name>``
and the file's ``LC_RPATH`` entries are replaced by the ``@loader_path``
-relative directories that hold them. Absolute and prefix paths go. System
libraries (``/usr/lib``, ``/System/Library``) stay. Each edited file is
signed ad hoc. The platform tag is ``macosx_X_Y_<arch>`` from the highest
minimum macOS version among the binaries.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from ..contained import Root
from ..layout import Layout
from ..tags import macos_tag
from .common import Relocation, content_hash, hashed_name, rename_arc, staged_copy
from .macho import MachOInfo, patch_macho

if TYPE_CHECKING:
    from ..providers import LibraryProviders

SYSTEM_PREFIXES = ("/usr/lib/", "/System/Library/")


def relocate_macos(layout: Layout, *, fat: bool, dependency_libs: list[str], stage: Root, machine: str,
                   providers: LibraryProviders | None = None) -> Relocation:
    """Relocate the Mach-O files of ``layout`` (edited copies go to ``stage``).

    ``providers`` (thin wheels, :mod:`press.providers`): the libraries of
    the dependency wheels of the closure, direct or not; a dependent library
    one of them ships is renamed ``@rpath/<name>`` (for a link into another
    package, the target's name) and gets that wheel's directory as an
    ``LC_RPATH``; ``dependency_libs``: the ``<dep>.libs`` directories of thin
    dependency wheels press has no files of, the rpaths of a library no
    provider ships; ``machine``: ``arm64`` or ``x86_64``. Returns the
    :class:`Relocation`; a binary for another architecture or a dependency
    found nowhere is reported in its notes and dependencies
    (``"unresolved"``). Raises :class:`~press.errors.RelocationError` when a
    file cannot be edited.
    """
    libs = layout.libs_dir + "/"
    machos = {a: f for a, f in layout.files.items() if isinstance(f.binary, MachOInfo) and f.binary.dynamic}
    result = Relocation(platform="")
    renames: dict[str, str] = {}  # old file name -> new file name
    if fat:
        # Only libraries a load command names are renamed; bundles and
        # plugins loaded by path keep their names.
        needed_names = {posixpath.basename(n) for f in machos.values() for n in f.binary.needed}  # type: ignore[union-attr]
        for arc, staged in sorted(machos.items()):
            name = staged.binary.name  # type: ignore[union-attr]
            if (arc.startswith(libs) and name and posixpath.basename(arc) == name and name not in renames
                    and name in needed_names):
                renames[name] = hashed_name(name, content_hash(staged))
                machos[rename_arc(layout, arc, renames[name])] = machos.pop(arc)
    by_name: dict[str, str] = {}
    for arc in sorted(machos):
        by_name.setdefault(posixpath.basename(arc), arc)
    min_os: tuple[int, int] | None = None
    for arc, staged in sorted(machos.items()):
        info = staged.binary
        assert isinstance(info, MachOInfo)
        if info.arch != machine:
            result.notes.append(f"{arc}: built for {info.arch}, the wheel is for {machine}")
        if info.min_os:
            min_os = max(min_os or info.min_os, info.min_os)
        here = posixpath.dirname(arc) or "."
        rpaths: list[str] = []
        rename: dict[str, str] = {}
        deps: dict[str, str] = {}
        needs_dependency = False
        for needed in info.needed:
            if needed.startswith(SYSTEM_PREFIXES):
                deps[needed] = "system"
                result.external.setdefault(needed, set())
                continue
            base = needed.rsplit("/", 1)[-1]
            target = renames.get(base, base)
            provider = providers.lookup(base, "macosx") if providers is not None and not fat else None
            if target in by_name:
                deps[needed] = by_name[target]
                if needed != f"@rpath/{target}":
                    rename[needed] = f"@rpath/{target}"
                rel = posixpath.relpath(posixpath.dirname(by_name[target]) or ".", here)
                entry = "@loader_path" if rel == "." else f"@loader_path/{rel}"
                if entry not in rpaths:
                    rpaths.append(entry)
            elif provider is not None:
                deps[needed] = "dependency wheel"
                if needed != f"@rpath/{provider.name}":
                    rename[needed] = f"@rpath/{provider.name}"
                entry = f"@loader_path/{posixpath.relpath(provider.directory, here)}"
                if entry not in rpaths:
                    rpaths.append(entry)
            elif dependency_libs:
                deps[needed] = "dependency wheel"
                if needed != f"@rpath/{base}":
                    rename[needed] = f"@rpath/{base}"
                needs_dependency = True
            else:
                deps[needed] = "unresolved"
                result.notes.append(f"{arc}: {needed} is neither in the wheel nor a system library")
        if needs_dependency:
            rpaths += [e for e in (f"@loader_path/{posixpath.relpath(d + '/lib', here)}" for d in dependency_libs)
                       if e not in rpaths]
        result.dependencies[arc] = deps
        install_id = f"@rpath/{posixpath.basename(arc)}" if info.install_id else None
        if install_id == info.install_id and not rename and rpaths == info.rpaths:
            continue
        patch_macho(staged_copy(staged, stage, arc), install_id=install_id, rename_needed=rename, rpaths=rpaths)
        result.changed.append(arc)
    result.vendored = sorted(a for a in machos if a.startswith(libs) and machos[a].binary.install_id)  # type: ignore[union-attr]
    result.platform = macos_tag(min_os or (10, 9) if machine == "x86_64" else min_os or (11, 0), machine)
    return result
