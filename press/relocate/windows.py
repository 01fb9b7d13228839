"""Relocation plan for Windows wheels (PE, the Windows DLL search order).

Windows has no RPATH. Since Python 3.8, extension modules load their DLL
dependencies from the module's own directory, the system directories and
directories registered with ``os.add_dll_directory`` (``PATH`` no longer
counts). So press writes a loader module ``_press_dlls_<dist>.py`` that
registers the wheel's DLL directories (``PATH`` is prepended on Pythons
without ``add_dll_directory``), and makes it run before any extension module
loads: the ``__init__.py`` of each top-level package holding extension
modules imports it first (delvewheel's mechanism), and a
``<dist>-press-dlls.pth`` file imports it at interpreter start when there are
top-level extension modules, which have no package to hook into.

Fat wheels give vendored DLLs content-hashed names (``zstd-<h>.dll``) and
rename the imports of every PE file that loads them, because Windows keeps
one DLL per name in a process. The Microsoft Visual C++ runtime is vendored
under its own names (delvewheel's default): it is backward compatible and a
process needs one copy. System DLLs, the Universal CRT and ``api-ms-win-*``
API sets stay external. ``vcruntime140.dll``/``vcruntime140_1.dll`` are
shipped by CPython itself, so they count as provided when not vendored.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Sequence

from ..contained import Root
from ..errors import RelocationError
from ..layout import Layout, StagedFile, reserve_module
from ..tags import CPYTHON_SHIPPED_DLLS, WINDOWS_TAGS, is_msvc_runtime, windows_system_dll
from .common import Relocation, content_hash, hashed_name, import_in_packages, rename_arc, staged_copy
from .pe import PEInfo, patch_pe

if TYPE_CHECKING:
    from ..providers import LibraryProviders

def relocate_windows(
    layout: Layout, *, fat: bool, dependency_libs: list[str], stage: Root, machine: str, dist: str,
    providers: LibraryProviders | None = None,
) -> Relocation:
    """Relocate the PE files of ``layout`` and add the DLL loader (edited
    copies and new files go to ``stage``). ``providers`` (thin wheels,
    :mod:`press.providers`): the DLLs of the dependency wheels of the
    closure, direct or not; the loader imports the loader of each wheel
    that ships a DLL this wheel imports; ``dependency_libs``: the
    ``<dep>.libs`` directories of thin dependency wheels press has no files
    of, whose loaders are imported when a DLL no provider ships is needed;
    ``machine``: ``amd64``, ``win32`` or ``arm64``; ``dist``: the normalized
    distribution name. Returns the :class:`Relocation`; raises
    :class:`~press.errors.RelocationError` when a file cannot be edited."""
    platform = WINDOWS_TAGS.get(machine, f"win_{machine}")
    libs = layout.libs_dir + "/"
    result = Relocation(platform=platform)
    left_out = sorted(
        a for a, f in layout.files.items()
        if a.startswith(libs) and isinstance(f.binary, PEInfo) and windows_system_dll(posixpath.basename(a), platform)
    )
    for arc in left_out:
        del layout.files[arc]
    if left_out:
        result.notes.append(f"{len(left_out)} system DLLs shipped by vendored packages (Universal CRT, API sets) left to Windows")
    pes = {a: f for a, f in layout.files.items() if isinstance(f.binary, PEInfo)}
    renames: dict[str, str] = {}  # lower-case old name -> new file name
    if fat:
        # Only DLLs some PE file imports are renamed; plugins loaded by path keep their names.
        needed_names = {n.lower() for f in pes.values() for n in f.binary.needed}  # type: ignore[union-attr]
        for arc, staged in sorted(pes.items()):
            base = posixpath.basename(arc)
            if (arc.startswith(libs) and base.lower().endswith(".dll") and not is_msvc_runtime(base)
                    and base.lower() in needed_names):
                if base.lower() not in renames:
                    renames[base.lower()] = hashed_name(base, content_hash(staged))
                    pes[rename_arc(layout, arc, renames[base.lower()])] = pes.pop(arc)
    by_name: dict[str, str] = {}
    for arc in sorted(pes, key=lambda a: (not a.startswith(libs + "Library/bin/"), a)):
        by_name.setdefault(posixpath.basename(arc).lower(), arc)
    dll_dirs: list[str] = []
    loads_dlls: list[str] = []  # extension modules outside the libs dir that need a DLL directory
    used: list[str] = []  # <dep>.libs directories of the dependency wheels whose DLLs are imported
    for arc, staged in sorted(pes.items()):
        info = staged.binary
        assert isinstance(info, PEInfo)
        if info.machine != machine:
            result.notes.append(f"{arc}: built for {info.machine}, the wheel is for {machine}")
        here = posixpath.dirname(arc)
        deps: dict[str, str] = {}
        rename: dict[str, str] = {}
        for needed in info.needed:
            lower = needed.lower()
            provider = providers.lookup(needed, "win") if providers is not None and not fat else None
            if windows_system_dll(needed, platform):
                deps[needed] = "system"
                result.external.setdefault(needed, set())
                continue
            target_name = renames.get(lower, lower)
            target = by_name.get(target_name.lower())
            if target is not None:
                deps[needed] = target
                if lower in renames:
                    rename[needed] = renames[lower]
                directory = posixpath.dirname(target)
                if directory != here:
                    if directory not in dll_dirs:
                        dll_dirs.append(directory)
                    if not arc.startswith(libs) and arc not in loads_dlls:
                        loads_dlls.append(arc)
            elif lower in CPYTHON_SHIPPED_DLLS:
                deps[needed] = "system"
                result.external.setdefault(needed, set())
            elif provider is not None or dependency_libs:
                # Thin: the dependency wheel's own loader registers its DLL
                # directory; this wheel's loader imports those loaders.
                deps[needed] = "dependency wheel"
                found = [provider.directory.split("/", 1)[0]] if provider is not None else dependency_libs
                used += [d for d in found if d not in used]
                if not arc.startswith(libs) and arc not in loads_dlls:
                    loads_dlls.append(arc)
            else:
                deps[needed] = "unresolved"
                result.notes.append(f"{arc}: {needed} is neither in the wheel nor a system DLL")
        result.dependencies[arc] = deps
        if rename:
            patch_pe(staged_copy(staged, stage, arc), rename)
            result.changed.append(arc)
    result.vendored = sorted(a for a in pes if a.startswith(libs) and a.lower().endswith(".dll"))
    dependencies = list(dict.fromkeys(f"_press_dlls_{d[: -len('.libs')]}" for d in used))
    if not fat:
        # A thin wheel registers every directory of its own that holds DLLs,
        # for the wheels that depend on it to import.
        for arc in sorted(pes):
            directory = posixpath.dirname(arc)
            if arc.startswith(libs) and arc.lower().endswith(".dll") and directory not in dll_dirs:
                dll_dirs.append(directory)
    if (dll_dirs and (loads_dlls or not fat)) or (dependencies and loads_dlls):
        _add_loader(layout, stage, dist, dll_dirs, dependencies if not fat else [], loads_dlls, result)
    return result


def loader_source(dll_dirs: list[str], dependencies: Sequence[str] = ()) -> str:
    """Source of ``_press_dlls_<dist>.py``: registers ``dll_dirs`` (relative
    to site-packages, ``/``-separated) as DLL directories on Windows, after
    importing the loaders of the dependency wheels named in ``dependencies``
    (thin wheels; a missing one is skipped). ``all_directories()`` lists the
    directories of the whole chain, for launchers that set ``PATH`` for a
    child process."""
    return "\n".join([
        '"""Registers the DLL directories of DLLs vendored by press (Windows).',
        "",
        "Imported by the package's __init__.py or a .pth file before any",
        'extension module loads; a no-op elsewhere."""',
        "import importlib",
        "import os",
        "",
        f"DLL_DIRECTORIES = {list(dll_dirs)!r}",
        f"DEPENDENCIES = {list(dependencies)!r}",
        "_HERE = os.path.dirname(os.path.abspath(__file__))",
        "_HANDLES = []",
        "_LOADED = []",
        "",
        "for _name in DEPENDENCIES:",
        "    try:",
        "        _LOADED.append(importlib.import_module(_name))",
        "    except ImportError:",
        "        pass",
        "",
        "",
        "def all_directories():",
        "    found = [os.path.join(_HERE, *rel.split('/')) for rel in DLL_DIRECTORIES]",
        "    for module in _LOADED:",
        "        found += [d for d in module.all_directories() if d not in found]",
        "    return found",
        "",
        "",
        "if os.name == 'nt':",
        "    for _path in [os.path.join(_HERE, *rel.split('/')) for rel in DLL_DIRECTORIES]:",
        "        if not os.path.isdir(_path):",
        "            continue",
        "        if hasattr(os, 'add_dll_directory'):",
        "            _HANDLES.append(os.add_dll_directory(_path))",
        "        else:",
        "            os.environ['PATH'] = _path + os.pathsep + os.environ.get('PATH', '')",
        "",
    ])


def _add_loader(
    layout: Layout, stage: Root, dist: str, dll_dirs: list[str], dependencies: list[str], users: list[str],
    result: Relocation,
) -> None:
    module = f"_press_dlls_{dist}"
    reserve_module(layout, module)
    if f"{dist}-press-dlls.pth" in layout.files:
        raise RelocationError("the package ships a file of the name press gives the DLL loader it writes",
                              package=layout.files[f"{dist}-press-dlls.pth"].owner, field=f"{dist}-press-dlls.pth")
    stage.write_bytes(f"{module}.py", loader_source(dll_dirs, dependencies).encode("utf-8"))
    layout.files[f"{module}.py"] = StagedFile(stage, f"{module}.py", 0o644, "press")
    statement = f"import {module}  # added by press: registers the vendored DLL directories"
    edited = import_in_packages(layout, stage, statement, users)
    needs_pth = any("/" not in u or f"{u.split('/', 1)[0]}/__init__.py" not in edited for u in users)
    result.notes += [f"{init}: imports {module} to register the vendored DLL directories" for init in edited]
    if needs_pth and users:
        pth = f"{dist}-press-dlls.pth"
        stage.write_bytes(pth, f"import {module}\n".encode("utf-8"))
        layout.files[pth] = StagedFile(stage, pth, 0o644, "press")
        result.notes.append(f"{pth}: imports {module} at start-up for top-level extension modules")
