"""Structural checks of macOS and Windows binaries in an installed wheel tree.

There is no macOS or Windows to load the files on, so these checks read them
with parsers independent of the LIEF code that wrote them: macholib for
Mach-O, pefile for PE. Each ``check_*`` function takes the installed tree
(the platlib directory) and the wheel's platform tag and returns
``(problems, resolution)``: human-readable problems (empty when the tree is
sound) and, per binary (path relative to the tree), where each dependency
resolves: a path inside the tree or ``"system"``.

Rules: dyld's search (``man dyld``: ``@rpath`` expands through the image's
``LC_RPATH`` entries, ``@loader_path`` is the image's directory); Apple's
code signature format (TN3126: a CodeDirectory holding one hash per page of
the file up to the signature); the Windows DLL search order for extension
modules (``LOAD_LIBRARY_SEARCH_DEFAULT_DIRS``: the DLL's own directory plus
directories added with ``os.add_dll_directory``) and delvewheel's list of
system DLLs.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import struct
from pathlib import Path

from .tags import CPYTHON_SHIPPED_DLLS, macos_tag, windows_system_dll

Resolution = dict[str, dict[str, str]]

_MACHO_MAGICS = {b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"}
_CPU = {0x0100000C: "arm64", 0x01000007: "x86_64", 7: "i386"}
_PE_MACHINES = {0x8664: "win_amd64", 0x14C: "win32", 0xAA64: "win_arm64"}
_SYSTEM_PREFIXES = ("/usr/lib/", "/System/Library/")


def _files(root: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and (suffixes is None or p.name.lower().endswith(suffixes)))


def verify_code_signature(path: Path) -> list[str]:
    """Problems with the embedded code signature of every slice of ``path``:
    missing signature, no CodeDirectory, a CodeDirectory that does not cover
    the file up to the signature, or a page whose hash differs."""
    from macholib.mach_o import LC_CODE_SIGNATURE
    from macholib.MachO import MachO

    problems = []
    data = path.read_bytes()
    for header in MachO(str(path)).headers:
        base = header.offset
        found = [cmd for load, cmd, _ in header.commands if load.cmd == LC_CODE_SIGNATURE]
        if not found:
            problems.append("no code signature")
            continue
        dataoff, datasize = found[0].dataoff, found[0].datasize
        blob = data[base + dataoff: base + dataoff + datasize]
        magic, _length, count = struct.unpack(">III", blob[:12])
        if magic != 0xFADE0CC0:
            problems.append("code signature is not an embedded signature superblob")
            continue
        directories = 0
        for index in range(count):
            slot, offset = struct.unpack(">II", blob[12 + 8 * index: 20 + 8 * index])
            if slot != 0 and not 0x1000 <= slot < 0x1005:
                continue
            cd = blob[offset:]
            if struct.unpack(">I", cd[:4])[0] != 0xFADE0C02:
                continue
            directories += 1
            (hash_offset,) = struct.unpack(">I", cd[16:20])
            _special, code_slots, code_limit = struct.unpack(">III", cd[24:36])
            hash_size, hash_type, page_log = cd[36], cd[37], cd[39]  # cd[38] is the platform byte
            algorithm = {1: "sha1", 2: "sha256", 3: "sha256", 4: "sha384"}.get(hash_type)
            if algorithm is None:
                problems.append(f"unknown code signature hash type {hash_type}")
                continue
            if code_limit != dataoff:
                problems.append(f"code signature covers {code_limit} bytes, the code ends at {dataoff}")
            page = 1 << page_log if page_log else code_limit
            expected_slots = -(-code_limit // page)
            if code_slots != expected_slots:
                problems.append(f"code signature has {code_slots} page hashes, the code has {expected_slots} pages")
            for slot_index in range(code_slots):
                start = base + slot_index * page
                chunk = data[start: base + min((slot_index + 1) * page, code_limit)]
                digest = hashlib.new(algorithm, chunk).digest()[:hash_size]
                stored = cd[hash_offset + slot_index * hash_size: hash_offset + (slot_index + 1) * hash_size]
                if digest != stored:
                    problems.append(f"code signature hash of page {slot_index} does not match")
                    break
        if directories == 0:
            problems.append("code signature has no CodeDirectory")
    return problems


def check_macho_tree(root: Path, platform_tag: str, changed: set[str] | None = None) -> tuple[list[str], Resolution, tuple[int, int] | None]:
    """Check every Mach-O file under ``root`` (see the module docstring).

    Each dependent library must be a system library (``/usr/lib``,
    ``/System/Library``) or found through the file's ``@loader_path`` /
    ``@rpath`` entries inside ``root``; ``LC_RPATH`` entries and install ids
    must not be absolute; every file in ``changed`` (relative paths; default
    all) must carry a valid code signature; the architecture and the highest
    minimum macOS version must give ``platform_tag``. Returns (problems,
    resolution, highest minimum macOS version).
    """
    from macholib.mach_o import LC_BUILD_VERSION, LC_ID_DYLIB, LC_RPATH, LC_VERSION_MIN_MACOSX
    from macholib.MachO import MachO

    root = root.resolve()
    problems: list[str] = []
    resolution: Resolution = {}
    min_os: tuple[int, int] | None = None
    archs: set[str] = set()
    for path in _files(root):
        with open(path, "rb") as handle:
            if handle.read(4) not in _MACHO_MAGICS:
                continue
        rel = str(path.relative_to(root))
        try:
            macho = MachO(str(path))
        except Exception as exc:  # macholib raises bare ValueErrors and struct errors
            if path.read_bytes()[:4] == b"\xca\xfe\xba\xbe":
                continue  # a Java class file shares the universal magic
            problems.append(f"{rel}: unreadable Mach-O ({exc})")
            continue
        deps: dict[str, str] = {}
        for header in macho.headers:
            archs.add(_CPU.get(header.header.cputype, str(header.header.cputype)))
            rpaths = []
            for load, cmd, payload in header.commands:
                if load.cmd == LC_RPATH:
                    rpaths.append(payload.rstrip(b"\0").decode())
                elif load.cmd == LC_ID_DYLIB and payload.rstrip(b"\0").startswith(b"/"):
                    problems.append(f"{rel}: absolute install id {payload.rstrip(bytes(1)).decode()}")
                elif load.cmd == LC_BUILD_VERSION and cmd.platform == 1:
                    version = (cmd.minos >> 16, (cmd.minos >> 8) & 0xFF)
                    min_os = max(min_os or version, version)
                elif load.cmd == LC_VERSION_MIN_MACOSX:
                    version = (cmd.version >> 16, (cmd.version >> 8) & 0xFF)
                    min_os = max(min_os or version, version)
            for entry in rpaths:
                if not entry.startswith("@loader_path"):
                    problems.append(f"{rel}: LC_RPATH {entry} does not point inside the wheel")
            for _index, _kind, name in header.walkRelocatables():  # dependent libraries, not LC_ID_DYLIB
                deps[name] = _resolve_macho(name, path, rpaths, root)
                if deps[name] == "":
                    problems.append(f"{rel}: {name} resolves neither inside the wheel nor to a system library")
        resolution[rel] = deps
        if changed is None or rel in changed:
            problems += [f"{rel}: {p}" for p in verify_code_signature(path)]
    if resolution:
        arch = platform_tag.split("_", 3)[-1] if platform_tag.startswith("macosx_") else ""
        if archs and archs != {arch} and not (arch == "universal2" and archs <= {"arm64", "x86_64"}):
            problems.append(f"binaries are {'/'.join(sorted(archs))}, the tag says {platform_tag}")
        if min_os and arch and macos_tag(min_os, arch) != platform_tag:
            problems.append(f"binaries need macOS {min_os[0]}.{min_os[1]}, the tag {platform_tag} says otherwise")
    return problems, resolution, min_os


def _resolve_macho(name: str, path: Path, rpaths: list[str], root: Path) -> str:
    if name.startswith(_SYSTEM_PREFIXES):
        return "system"
    here = str(path.parent)
    candidates = []
    if name.startswith("@rpath/"):
        for entry in rpaths:
            if entry.startswith("@loader_path"):
                candidates.append(entry.replace("@loader_path", here, 1) + "/" + name[len("@rpath/"):])
    elif name.startswith("@loader_path/"):
        candidates.append(name.replace("@loader_path", here, 1))
    for candidate in candidates:
        resolved = Path(os.path.normpath(candidate))
        if resolved.is_file() and str(resolved).startswith(str(root) + os.sep):
            return str(resolved.relative_to(root))
    return ""


def dll_directories(root: Path) -> tuple[dict[str, list[str]], set[str]]:
    """The DLL directories press's loader modules add, read from the
    installed tree: ``{loader module name: [directories relative to root]}``
    (a loader's own directories plus those of the loaders it imports,
    transitively), and the set of loader modules a ``.pth`` file imports at
    startup."""
    own: dict[str, list[str]] = {}
    imports: dict[str, list[str]] = {}
    for module in root.glob("_press_dlls_*.py"):
        tree = ast.parse(module.read_text("utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign):
                names = {getattr(t, "id", "") for t in node.targets}
                if "DLL_DIRECTORIES" in names:
                    own[module.stem] = list(ast.literal_eval(node.value))
                elif "DEPENDENCIES" in names:
                    imports[module.stem] = list(ast.literal_eval(node.value))
    loaders: dict[str, list[str]] = {}
    for name in own:
        seen, stack, dirs = {name}, [name], []
        while stack:
            current = stack.pop()
            dirs += [d for d in own.get(current, []) if d not in dirs]
            for dep in imports.get(current, []):
                if dep in own and dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        loaders[name] = dirs
    started = set()
    for pth in root.glob("*.pth"):
        for line in pth.read_text("utf-8").splitlines():
            found = re.match(r"^import\s+(_press_dlls_\w+)\s*$", line.strip())
            if found:
                started.add(found.group(1))
    return loaders, started


def check_pe_tree(root: Path, platform_tag: str) -> tuple[list[str], Resolution]:
    """Check every PE file (``.pyd``/``.dll``/``.exe``) under ``root``.

    Each import (and delay-load import) must be a system DLL or be found,
    case-insensitively, in the file's own directory or a directory added by
    the loader module that runs before the file is loaded: the ``__init__.py``
    of the extension's top-level package imports it, or a ``.pth`` file does
    for top-level extension modules. ``vcruntime140.dll``/``vcruntime140_1.dll``
    may also come from the interpreter, which ships them. The machine must
    match ``platform_tag``.
    """
    import pefile

    root = root.resolve()
    problems: list[str] = []
    resolution: Resolution = {}
    loaders, started = dll_directories(root)
    for path in _files(root, (".pyd", ".dll", ".exe")):
        rel = path.relative_to(root).as_posix()
        with open(path, "rb") as handle:
            if handle.read(2) != b"MZ":
                continue  # e.g. script launchers uv writes for a --target install
        try:
            pe = pefile.PE(str(path), fast_load=True)
            pe.parse_data_directories(directories=[
                pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
                pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT"],
            ])
        except pefile.PEFormatError as exc:
            problems.append(f"{rel}: unreadable PE ({exc})")
            continue
        tag = _PE_MACHINES.get(pe.FILE_HEADER.Machine, hex(pe.FILE_HEADER.Machine))
        if tag != platform_tag:
            problems.append(f"{rel}: machine {tag}, the tag says {platform_tag}")
        names = [e.dll.decode("ascii", "replace") for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]
        names += [e.dll.decode("ascii", "replace") for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])]
        pe.close()
        search = [path.parent]
        active = _active_loaders(rel, root, loaders, started)
        for module in active:
            search += [root / d for d in loaders[module]]
        deps = {}
        for name in names:
            if windows_system_dll(name, platform_tag):
                deps[name] = "system"
                continue
            hit = next((d / f for d in search if d.is_dir() for f in os.listdir(d) if f.lower() == name.lower()), None)
            if hit is None and name.lower() in CPYTHON_SHIPPED_DLLS:
                deps[name] = "python"  # CPython ships it beside python.exe
            elif hit is None:
                problems.append(f"{rel}: {name} resolves neither inside the wheel nor to a system DLL")
                deps[name] = ""
            else:
                deps[name] = hit.relative_to(root).as_posix()
        resolution[rel] = deps
    return problems, resolution


def _active_loaders(rel: str, root: Path, loaders: dict[str, list[str]], started: set[str]) -> list[str]:
    active = set(started)
    top = rel.split("/", 1)[0]
    init = root / top / "__init__.py"
    if "/" in rel and init.is_file():
        text = init.read_text("utf-8", "replace")
        active |= {m for m in loaders if re.search(rf"^import {m}\b", text, re.M)}
    if "/" in rel and ".libs" in top:
        active |= set(loaders)  # a vendored DLL is loaded after the loader ran
    return sorted(active & set(loaders))
