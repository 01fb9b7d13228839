"""Which dependency wheel provides each library a thin wheel loads.

A thin wheel's binaries load libraries that other wheels of the same
wheelhouse install beside it: the wheels of its dependencies, direct or not
(libpng needs ``libz.1.dylib``, shipped by ``libzlib``, which it reaches
through ``zlib``). pip installs the whole chain of requirements press writes,
so every package of that chain is a candidate. The chain is conda's
``depends`` (aliases expanded as for the requirements, :mod:`press.names`),
walked breadth first from the package, leaving out plumbing
(:func:`press.metadata.is_plumbing`: it makes no requirement) and Python
packages (their files go to site-packages; they are required but stop the
walk, as in a fat wheel).

:func:`library_providers` maps each library file name shipped in a
candidate's library directories to the directory of the wheel that holds it
(``<dist>.libs/lib``, ``<dist>.libs/Library/bin`` ...); the nearest package
in the walk wins, so the answer depends only on the closure, never on the
order of a directory listing. A relocator then writes a search path of
exactly the directories a binary needs (ELF ``DT_RUNPATH``, Mach-O
``LC_RPATH``, the Windows loader's imports).

A symlink in a dependency that points at a file of another package
(conda-forge's ``libblas`` ships ``lib/libblas.so.3 -> libopenblas.so.0``, a
file of ``libopenblas``) cannot be stored in a wheel, and the package's own
wheel cannot serve it. The library is then served by the wheel of the
package holding the target: dependents load the target's own name (ELF
``DT_NEEDED``, Mach-O load command rewritten) from that wheel; the mapping
is in :attr:`LibraryProviders.aliases`. The wheel of the package holding
such a link says so in its notes (:func:`foreign_links`).

Dependencies press has no files of (a batch job converts one artifact with
no solve) are listed in :attr:`LibraryProviders.unknown`, in the same
breadth-first order, through what is known of their ``depends``: a binary
whose library no known package provides searches all of them.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from packaging.utils import canonicalize_name

from .errors import PressError
from .matchspec import is_plumbing, spec_name

if TYPE_CHECKING:
    from .artifact import Artifact
    from .names import Names

#: A shared library file name of each platform family (ELF, Mach-O, PE).
_LIBRARY_NAME = {
    "linux": re.compile(r"\.so(\.\d+)*$"),
    "macosx": re.compile(r"\.dylib$"),
    "win": re.compile(r"\.dll$", re.I),
}
#: Directories the dynamic linker looks a library up in by name, per family
#: (plugins in subdirectories are loaded by path, never as a dependency).
LIBRARY_DIRS = {
    "linux": ("lib", "lib64", "lib32"),
    "macosx": ("lib",),
    "win": ("Library/bin", "", "bin", "Library/mingw-w64/bin", "DLLs"),
}

#: SONAME -> the conda-forge package that ships it, for dependencies press
#: has not unpacked (a batch's thin jobs): the GCC runtime and zlib, allow-listed libraries whose
#: thin wheels give them names of their own (:func:`press.relocate.common.thin_own_name`).
RUNTIME_PROVIDERS = {"libstdc++.so.6": "libstdcxx", "libgcc_s.so.1": "libgcc", "libgomp.so.1": "libgomp",
                     "libz.so.1": "libzlib"}


@dataclass(frozen=True)
class Provider:
    """Where a library a binary needs is installed: ``directory``, relative
    to site-packages (``conda_forge_libzlib.libs/lib``); ``package``: the
    conda name of the package whose wheel holds it; ``name``: the file name
    to load from there (the name asked for, or the target of a link into
    another package, :mod:`press.providers`)."""

    directory: str
    package: str
    name: str


@dataclass
class LibraryProviders:
    """The libraries a thin wheel's dependency wheels provide.

    ``by_name``: library file name (lower-case on Windows) -> its
    :class:`Provider`; ``unknown``: the ``<dist>.libs`` directories of
    dependencies press has no files of, nearest first.
    """

    by_name: dict[str, Provider] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    @property
    def aliases(self) -> dict[str, str]:
        """Library name asked for -> the name to load instead (links into
        another package)."""
        return {k: p.name for k, p in self.by_name.items() if p.name != k and p.name.lower() != k}

    def lookup(self, name: str, family: str) -> Provider | None:
        """The provider of ``name`` (case-insensitive on Windows), or None."""
        return self.by_name.get(name.lower() if family == "win" else name)


def libs_dir(distribution: str) -> str:
    """``<dist>.libs``, the directory of a distribution's non-Python files
    (:mod:`press.layout`)."""
    return canonicalize_name(distribution).replace("-", "_") + ".libs"


def _library_paths(artifact: Artifact, family: str) -> list[str]:
    """Paths (files and links) of ``artifact`` that a dynamic loader finds
    by name: shared libraries in the family's library directories, sorted."""
    pattern, dirs = _LIBRARY_NAME[family], LIBRARY_DIRS[family]
    found = [p for p in set(artifact.files) | set(artifact.links)
             if pattern.search(p) and posixpath.dirname(p) in dirs]
    return sorted(found)


def library_providers(main: Artifact, closure: Mapping[str, Artifact], names: Names, family: str) -> LibraryProviders:
    """The :class:`LibraryProviders` of ``main``'s thin wheel for the
    platform ``family`` (``linux``, ``macosx``, ``win``): its dependency
    closure walked breadth first through ``depends`` (aliases expanded,
    plumbing and Python packages left out, ``main`` itself skipped),
    ``closure`` giving the unpacked artifacts press has. Raises
    :class:`~press.errors.SpecError` for a dependency that does not parse
    (the boundary has already checked them)."""
    result = LibraryProviders()
    if family not in _LIBRARY_NAME:
        return result
    order = _walk(main, closure, names)
    foreign: list[tuple[str, str, str]] = []  # (name, dep, resolved target path)
    for dep in order:
        artifact = closure.get(dep)
        directory = libs_dir(names.dependency(dep, main.channel))
        if artifact is None:
            result.unknown.append(directory)
            if family == "linux":
                for soname, provider in sorted(RUNTIME_PROVIDERS.items()):
                    if provider == dep:
                        result.by_name.setdefault(soname, Provider(f"{directory}/lib", dep, soname))
            continue
        for path in _library_paths(artifact, family):
            name = posixpath.basename(path)
            key = name.lower() if family == "win" else name
            if key in result.by_name:
                continue
            try:
                kind, resolved = artifact.resolve(path)
            except PressError:
                continue  # a link leaving the package: refused where the package's own wheel is made
            if kind == "file":
                result.by_name[key] = Provider(f"{directory}/{posixpath.dirname(path)}".rstrip("/"), dep, name)
            elif kind == "missing":
                foreign.append((key, dep, resolved))
    for key, dep, resolved in foreign:
        if key in result.by_name:
            continue
        found = result.lookup(posixpath.basename(resolved), family)
        if found is not None and found.package != dep:
            result.by_name[key] = found  # else nothing serves it: the dependent's binary stays unresolved
    return result


def _walk(main: Artifact, closure: Mapping[str, Artifact], names: Names) -> list[str]:
    """Conda names of ``main``'s dependency closure, breadth first, each once
    (see :func:`library_providers`)."""
    order: list[str] = []
    seen = {main.name}
    level = [spec_name(s) for s in names.expand_aliases(main.depends, main.channel)]
    while level:
        following: list[str] = []
        for dep in level:
            if dep in seen or is_plumbing(dep):
                continue
            seen.add(dep)
            artifact = closure.get(dep)
            facts = names.facts(dep, main.channel)
            if names.is_python(facts):
                continue
            order.append(dep)
            depends = artifact.depends if artifact is not None else facts.depends
            following += [spec_name(s) for s in names.expand_aliases(depends, main.channel)]
        level = following
    return order


def foreign_links(artifact: Artifact, closure: Mapping[str, Artifact], family: str) -> list[str]:
    """Notes for the wheel of ``artifact`` on its shared-library symlinks
    whose target is a file of another package (left out of this wheel): the
    package of ``closure`` that ships the target, whose wheel serves the
    library to the dependents, or that none does. Development links (a bare
    ``.so``/``.dylib`` name, read by linkers only) are not mentioned."""
    if family not in _LIBRARY_NAME:
        return []
    notes = []
    for path in _library_paths(artifact, family):
        if path not in artifact.links or re.search(r"(^|/)[^/.]+\.(so|dylib)$", path):
            continue
        try:
            kind, resolved = artifact.resolve(path)
        except PressError:
            continue
        if kind != "missing":
            continue
        holders = sorted(n for n, a in closure.items() if n != artifact.name and resolved in set(a.files) | set(a.links))
        where = (f"{', '.join(holders)} ships it, and its wheel serves {posixpath.basename(path)} to the dependents "
                 f"(they load {posixpath.basename(resolved)} from it)") if holders else \
            "a file of another package: dependents load the target's own name from that package's wheel"
        notes.append(f"{artifact.label}: symlink {path} -> {artifact.links[path]} is not in this wheel ({where})")
    return notes
