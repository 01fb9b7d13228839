"""What makes a native-library wheel usable by builds and by other wheels.

The native-library wheels on PyPI settled on three conventions, which press
follows for a wheel whose main package is not a Python package (a thin or fat
``conda-forge-libffi``) and for a fat wheel that keeps the vendored headers
(``--include-dev``):

- a ``pkg_config`` entry point whose value is a package whose directory holds
  ``.pc`` files: the ``pkgconf`` wheel (``python -m pkgconf``, ``pkgconf-pypi``)
  puts that directory on ``PKG_CONFIG_PATH`` (it finds the directory through
  the import system without running the package, or from the dotted name);
- a ``cmake.prefix`` entry point whose value is a package whose directory is a
  CMake prefix (``lib/cmake/<Pkg>/<Pkg>Config.cmake`` below it):
  scikit-build-core adds ``importlib.resources.files(ep.load())`` to
  ``CMAKE_PREFIX_PATH``;
- a ``load_library()`` function that loads the wheel's shared libraries with
  ctypes, so that a dependent's extension module, linked against them, finds
  them by SONAME without a RUNPATH into another wheel (RAPIDS' ``libcudf``,
  NVIDIA's ``nvidia-*`` wheels, wheelnext's native library loader).

A conda tree cannot be imported (``<dist>.libs`` has a dot in its name), so
press writes one package per such wheel, ``_press_native_<dist>/`` (named like
its other generated modules), holding ``load_library()``, a copy of each
``.pc`` file whose ``${pcfiledir}`` paths lead back into ``<dist>.libs/``, and
for each CMake package configuration (and version) file a one-line file that
``include()``\\ s the real one (which then finds its prefix from its own place).

The linker looks for ``lib<name>.so`` (``-l<name>``), and a CMake target names
the library's real file (``libzstd.so.1.5.6``); a wheel stores a library once,
under its SONAME or a name of its own (``libffi-9c915d14.so.8``), and cannot
hold the conda package's symlinks. On Linux press writes, for each such name
the package had in a library directory, a GNU ld linker script
``INPUT(<stored name>)`` (what distributions ship as ``libc.so``): the linker
reads it and records the stored library's SONAME, which ``load_library()``
has loaded. Names a dynamic loader may look up (a library's SONAME) never get
one.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from .artifact import Artifact
from .contained import Root
from .errors import PressError
from .layout import Layout, StagedFile, reserve_module
from .limits import exceeded, limit
from .providers import LIBRARY_DIRS, LibraryProviders
from .relocate.common import Relocation

#: The package press writes, per distribution.
MODULE = "_press_native_{dist}"
#: Entry point groups, their readers' spelling.
PKG_CONFIG_GROUP = "pkg_config"
CMAKE_PREFIX_GROUP = "cmake.prefix"

#: A name the link editor looks up (``-lffi``) or a CMake target names: ``lib*.so``, ``lib*.so.1.2.3``.
_LINK_NAME = re.compile(r"^lib[^/]+\.so(\.\d+)*$")
_SHARED = {
    "linux": re.compile(r"\.so(\.\d+)*$"),
    "macosx": re.compile(r"\.dylib$"),
    "win": re.compile(r"\.dll$", re.I),
}
_PKG_CONFIG = re.compile(r"^(Library/)?(lib|lib64|share)/pkgconfig/[^/]+\.pc$")
#: CMake package configuration files find_package opens (``<Pkg>Config.cmake``,
#: ``<pkg>-config.cmake`` and their version files), in the directories it searches below a prefix.
#: pkg-config's default search order below a prefix (pkgconf: lib, lib64, share).
_SEARCH_ORDER = ("lib", "lib64", "share")
#: Names written into a GNU ld script's INPUT() unquoted, and paths into a CMake quoted argument:
#: nothing ld would split at or CMake would expand (``$``, ``;``, ``"``, ``\``, blanks, parentheses).
_PLAIN = re.compile(r"^[A-Za-z0-9._+-]+$")
_CMAKE_PLAIN = re.compile(r"^[A-Za-z0-9._+/-]+$")
_CMAKE_CONFIG = re.compile(
    r"^(Library/)?(lib|lib64|share)/cmake/[^/]+/[^/]+(Config|-config)(Version|-version)?\.cmake$")
_PCFILEDIR = re.compile(rb"\$\{pcfiledir\}((?:/\.\.)*)")


@dataclass(frozen=True)
class LinkName:
    """A name of a conda package's library directory (``lib/libffi.so``, a
    symlink or the real file) that stands for ``library``, a file of the
    layout stored under another name."""

    path: str
    library: StagedFile


def wanted(main_is_python: bool, include_dev: bool) -> bool:
    """Whether a wheel gets the conventions: its main package is a native one,
    or it keeps vendored development files (``--include-dev``)."""
    return not main_is_python or include_dev


def link_names(layout: Layout, artifacts: list[Artifact], family: str) -> list[LinkName]:
    """The names a linker or CMake looks for that the wheel would lack (Linux
    only; run before relocation renames libraries): every ``lib*.so[.N...]``
    file or symlink in a library directory of ``artifacts`` that resolves to a
    shared library the layout stores under another name, except the
    library's SONAME (the dynamic loader looks that up) and names the layout
    already has. Links that leave the package are skipped."""
    if family != "linux":
        return []
    stored: dict[tuple[str, str], tuple[str, StagedFile]] = {}
    sonames: set[str] = set()
    for arc, staged in layout.files.items():
        if staged.binary is not None and arc.startswith(layout.libs_dir + "/"):
            stored[(staged.owner, staged.rel)] = (arc, staged)
            if staged.binary.name:
                sonames.add(staged.binary.name)
    found: dict[str, LinkName] = {}
    for artifact in artifacts:
        for path in sorted(set(artifact.files) | set(artifact.links)):
            directory, name = posixpath.split(path)
            if directory not in LIBRARY_DIRS["linux"] or not _LINK_NAME.match(name) or name in sonames:
                continue
            try:
                kind, resolved = artifact.resolve(path)
            except PressError:
                continue
            hit = stored.get((artifact.label, resolved)) if kind == "file" else None
            if hit is None or posixpath.basename(hit[0]) == name:
                continue
            arc = f"{layout.libs_dir}/{path}"
            if arc not in layout.files:
                found.setdefault(arc, LinkName(path, hit[1]))
    return [found[arc] for arc in sorted(found)]


def _pc_copy(data: bytes, libs_dir: str, pc_dir: str) -> bytes:
    """A ``.pc`` file at ``<libs_dir>/<pc_dir>/`` rewritten for the package
    directory beside ``<libs_dir>``: each ``${pcfiledir}`` path (with its
    ``/..`` steps) names the same place from there."""
    def repl(match: re.Match[bytes]) -> bytes:
        here = posixpath.normpath(f"../{libs_dir}/{pc_dir}" + match.group(1).decode())
        return b"${pcfiledir}/" + here.encode()
    return _PCFILEDIR.sub(repl, data)


def _loader_source(dist: str, libs_dir: str, libraries: list[str], dependencies: list[str],
                   dll_loader: str | None) -> str:
    """Source of ``_press_native_<dist>/__init__.py``."""
    return "\n".join([
        f'"""The conda libraries of the {dist} wheel, for builds and dependents (written by press).',
        "",
        "load_library() loads them with ctypes before an extension module built against them is",
        "imported, so the dynamic loader finds them by SONAME without a RUNPATH into this wheel.",
        "RTLD_LOCAL by default: the libraries count as loaded, and their symbols do not",
        "replace those of copies the process already holds (the interpreter's libssl, libffi).",
        "This package's directory also holds the pkg-config files (entry point group",
        "pkg_config) and is the CMake prefix (cmake.prefix) of the wheel, when it has them.",
        '"""',
        "import ctypes",
        "import importlib",
        "import os",
        "",
        f"LIBRARIES = {tuple(libraries)!r}",
        f"DEPENDENCIES = {tuple(dependencies)!r}",
        f"_DLL_LOADER = {dll_loader!r}",
        "_SITE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))",
        "_LOADED = []",
        "",
        "",
        "def prefix():",
        '    """The directory of the wheel\'s conda files (its conda prefix)."""',
        f"    return os.path.join(_SITE, {libs_dir!r})",
        "",
        "",
        "def load_library(mode=ctypes.RTLD_LOCAL):",
        '    """Load the libraries of the dependency wheels, then this wheel\'s (once);',
        '    returns this wheel\'s ctypes.CDLL handles. Raises OSError for one that',
        '    does not load."""',
        "    if _LOADED:",
        "        return list(_LOADED)",
        "    for name in DEPENDENCIES:",
        "        try:",
        "            module = importlib.import_module(name)",
        "        except ImportError as exc:",
        "            if getattr(exc, 'name', None) != name:",
        "                raise",
        "            continue  # made without a loader: its libraries are found through RUNPATH",
        "        module.load_library(mode)",
        "    if _DLL_LOADER:",
        "        importlib.import_module(_DLL_LOADER)",
        "    handles = [ctypes.CDLL(os.path.join(_SITE, *rel.split('/')), mode) for rel in LIBRARIES]",
        "    _LOADED.extend(handles)",
        "    return list(handles)",
        "",
    ])


def _dependencies(libraries: list[str], relocation: Relocation | None, providers: LibraryProviders | None,
                  family: str) -> list[str]:
    """The loader packages of the dependency wheels that ship a library one
    of ``libraries`` needs (thin wheels)."""
    if relocation is None or providers is None:
        return []
    found = set()
    for arc in libraries:
        for needed, where in relocation.dependencies.get(arc, {}).items():
            provider = providers.lookup(needed, family) if where == "dependency wheel" else None
            if provider is not None:
                dist = provider.directory.split("/", 1)[0]
                found.add(MODULE.format(dist=dist[:-len(".libs")] if dist.endswith(".libs") else dist))
    return sorted(found)


def add_conventions(layout: Layout, stage: Root, dist: str, family: str, names: list[LinkName],
                    relocation: Relocation | None, providers: LibraryProviders | None) -> str | None:
    """Write the linker scripts for ``names`` (:func:`link_names`, taken
    before relocation) and the package ``_press_native_<dist>/`` into
    ``stage`` and ``layout``, and register its entry points in
    ``layout.entry_points``. Returns a note for the report, or None when the
    wheel has no shared library, pkg-config or CMake file (nothing is
    written). Raises :class:`~press.errors.ConflictError` when a package
    ships a module of that name."""
    prefix = layout.libs_dir + "/"
    where = {id(staged): arc for arc, staged in layout.files.items()}
    scripts = []
    skipped: list[str] = []
    for link in names:
        target = where.get(id(link.library))
        arc = prefix + link.path
        if target is None or arc in layout.files:
            continue
        if not _PLAIN.match(posixpath.basename(target)) or not _PLAIN.match(posixpath.basename(link.path)):
            skipped.append(link.path)  # a name ld's script grammar would read as more than one input
            continue
        text = (f"/* GNU ld script (press): -l{link.path.rsplit('/', 1)[1][3:].split('.so')[0]} and this "
                f"name stand for the library stored as {posixpath.basename(target)} */\n"
                f"INPUT({posixpath.basename(target)})\n")
        stage.write_bytes(arc, text.encode())
        layout.files[arc] = StagedFile(stage, arc, 0o644, link.library.owner)
        scripts.append(link.path)
    dirs = {prefix + d if d else layout.libs_dir for d in LIBRARY_DIRS.get(family, ())}
    shared = _SHARED.get(family)
    libraries = sorted(arc for arc, staged in layout.files.items()
                       if staged.binary is not None and shared is not None and shared.search(arc)
                       and posixpath.dirname(arc) in dirs)
    def ours(arc: str, pattern: re.Pattern[str]) -> bool:
        match = pattern.match(arc[len(prefix):]) if arc.startswith(prefix) else None
        return match is not None and (match.group(1) is None or family == "win")  # Library/: Windows' prefix

    # pkg-config's own search order (lib, lib64, then share) decides which of two same-named files wins
    pc_files = sorted((arc for arc in layout.files if ours(arc, _PKG_CONFIG)),
                      key=lambda arc: (_SEARCH_ORDER.index(arc[len(prefix):].removeprefix("Library/").split("/")[0]),
                                       arc))
    cmake = sorted(arc for arc in layout.files if ours(arc, _CMAKE_CONFIG))
    if not (libraries or pc_files or cmake):
        return None
    package = MODULE.format(dist=dist)
    reserve_module(layout, package)

    def add(rel: str, data: bytes) -> None:
        arc = f"{package}/{rel}"
        stage.write_bytes(arc, data)
        layout.files[arc] = StagedFile(stage, arc, 0o644, "press")

    dll_loader = f"_press_dlls_{dist}" if f"_press_dlls_{dist}.py" in layout.files else None
    add("__init__.py", _loader_source(dist, layout.libs_dir, libraries,
                                      _dependencies(libraries, relocation, providers, family), dll_loader).encode())
    pc_names = []
    for arc in pc_files:
        name = posixpath.basename(arc)
        if name in pc_names:
            continue  # lib/pkgconfig/ is searched first, as pkg-config's default path has it
        pc_names.append(name)
        staged = layout.files[arc]
        data = staged.root.read_bytes(staged.rel, limit("text_size") + 1)
        if len(data) > limit("text_size"):
            raise exceeded("text_size", package=staged.owner, field=arc)
        copy = _pc_copy(data, layout.libs_dir, posixpath.dirname(arc[len(prefix):]))
        if len(copy) > limit("text_size"):  # each ${pcfiledir} grows by a path: bounded again
            raise exceeded("text_size", package=staged.owner, field=arc)
        add(name, copy)
    shims: set[str] = set()
    for arc in list(cmake):
        rel = arc[len(prefix):].removeprefix("Library/")  # a prefix of Windows' own shape below the package
        if rel in shims or not _CMAKE_PLAIN.match(arc):
            cmake.remove(arc)  # a second file for one shim, or a path CMake's quoted argument would not keep literal
            skipped.append(arc[len(prefix):])
            continue
        shims.add(rel)
        up = "../" * (rel.count("/") + 1)
        add(rel, (f"# Written by press: CMake finds this file through the cmake.prefix entry point of {dist};\n"
                  f"# the package's own file, in the wheel's conda tree, finds its prefix from its place.\n"
                  f'include("${{CMAKE_CURRENT_LIST_DIR}}/{up}{arc}")\n').encode())
    if pc_names:
        layout.entry_points.setdefault(PKG_CONFIG_GROUP, {})[dist] = package
    packages = sorted({posixpath.dirname(a[len(prefix):]).rsplit("/", 1)[1] for a in cmake})
    if cmake:
        layout.entry_points.setdefault(CMAKE_PREFIX_GROUP, {})[dist] = package
    parts = [f"{package}: load_library() for {len(libraries)} "
             f"{'library' if len(libraries) == 1 else 'libraries'}"]
    if pc_names:
        parts.append(f"pkg_config: {', '.join(n[:-3] for n in pc_names)}")
    if packages:
        parts.append(f"cmake.prefix: {', '.join(packages)}")
    if scripts:
        parts.append(f"linker names: {', '.join(scripts)}")
    if skipped:
        parts.append(f"left without a linker name or CMake shim (a name their grammar would not keep literal, or "
                     f"a second file for one name): {', '.join(sorted(skipped))}")
    return "; ".join(parts)
