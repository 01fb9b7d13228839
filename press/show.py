"""``press show``: look at a wheel, or at what press would make of conda input.

For a wheel (any wheel, not only press's): its name, version and tags, and
why each tag holds: the Python and ABI tags from the extension modules'
file names, the platform tag from the binaries (for manylinux, the symbol
versions each ELF file needs from the system, checked with auditwheel's
policy data, and the file that sets the floor; for macOS, the highest minimum
OS version; for Windows, the PE machine); where each library a binary loads
resolves; its METADATA; and whether press made it, and from which conda
artifacts (its SBOM, :mod:`press.sbom`).

For conda input (an artifact file or MatchSpecs), the conversion runs into a
scratch directory without validation and each wheel it would write is shown
the same way, with what it vendors from which package and the prefix
placeholders; input press refuses is shown as the refusal.

The wheel is read from its archive into a temporary directory (zipfile's
extraction, which keeps members inside it); nothing is imported or run.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.metadata import Metadata
from packaging.utils import parse_wheel_filename

from .errors import PressError, ValidationError

if TYPE_CHECKING:
    from packaging.tags import Tag

    from .convert import ConvertOptions
from .sbom import read_sources

#: Extension-module suffixes that name a Python and ABI
#: (``.cpython-312-x86_64-linux-gnu.so``, ``.cp312-win_amd64.pyd``, ``.abi3.so``).
_EXTENSION = re.compile(r"\.(cpython-(\d)(\d+)t?[-\w]*|cp(\d)(\d+)t?-\w+|abi3|pypy[-\w]*)\.(so|pyd)$")


@dataclass
class TagReason:
    """Why a tag holds: the ``tag``, whether the binaries agree with it
    (``ok``), and the ``reasons`` (file and facts)."""

    tag: str
    ok: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class WheelView:
    """What ``press show`` reports about one wheel (see the module docstring).
    ``dependencies``: per binary, each library it loads -> where it resolves
    (a path in the wheel, ``system``, ``unresolved``); ``problems``: what
    does not hold (a tag the binaries contradict, an unresolved library, a
    RECORD that does not verify)."""

    path: str
    name: str
    version: str
    tags: list[str]
    summary: str | None = None
    requires_python: str | None = None
    requires_dist: list[str] = field(default_factory=list)
    license: str | None = None
    generator: str | None = None
    made_by_press: bool = False
    python_tag: TagReason | None = None
    platform_tag: TagReason | None = None
    vendored_libraries: list[str] = field(default_factory=list)
    vendored_from: dict[str, str] = field(default_factory=dict)
    dependencies: dict[str, dict[str, str]] = field(default_factory=dict)
    conda_sources: list[dict[str, object]] = field(default_factory=list)
    placeholders: list[list[str]] = field(default_factory=list)
    vendored_bytes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human form."""
        out = [Path(self.path).name]
        origin = ""
        if self.made_by_press:
            origin = f" (made by {self.generator}"
            origin += f" from {len(self.conda_sources)} conda artifacts)" if self.conda_sources else ")"
        elif self.generator:
            origin = f" (made by {self.generator})"
        out.append(f"  distribution: {self.name} {self.version}{origin}")
        if self.summary:
            out.append(f"  summary: {self.summary}")
        out.append(f"  tags: {', '.join(self.tags)}")
        for reason in (self.python_tag, self.platform_tag):
            if reason is not None:
                mark = "" if reason.ok else "  [CONTRADICTED]"
                out.append(f"    {reason.tag}{mark}")
                out += [f"      {r}" for r in reason.reasons]
        if self.requires_python:
            out.append(f"  Requires-Python: {self.requires_python}")
        out.append("  Requires-Dist: " + (", ".join(self.requires_dist) if self.requires_dist else "(none)"))
        if self.license:
            out.append(f"  License-Expression: {self.license}")
        if self.vendored_libraries:
            owners = self.vendored_from
            out.append(f"  vendored libraries ({len(self.vendored_libraries)}):")
            out += [f"    {lib}" + (f"  <- {owners[lib]}" if lib in owners else "") for lib in self.vendored_libraries]
        if self.dependencies:
            out.append("  libraries loaded (binary: library -> where it resolves):")
            for binary, deps in sorted(self.dependencies.items()):
                out.append(f"    {binary}")
                out += [f"      {lib} -> {where}" for lib, where in sorted(deps.items())]
        if self.conda_sources:
            out.append("  conda artifacts (SBOM):")
            for s in self.conda_sources:
                scope = f"{s['files']} files" if s["files"] else "nothing shipped"
                out.append(f"    {s['name']} {s['version']} {s['build']} [{s['channel']}/{s['subdir']}] "
                           f"sha256:{str(s['sha256'])[:16]}  ({scope})")
        if self.placeholders:
            left = [p[0] for p in self.placeholders if p[-1] == "unresolved"]
            out.append(f"  prefix placeholders: {len(self.placeholders)} files, {len(left)} unresolved"
                       + (f" (e.g. {left[0]})" if left else ""))
        out += [f"  problem: {p}" for p in self.problems]
        return out


def show_wheel(path: Path) -> WheelView:
    """Inspect the wheel at ``path``. Raises :class:`~press.errors.PressError`
    for a file that is not a readable wheel (its name does not parse, the
    archive is corrupt, it has no METADATA)."""
    path = Path(path)
    if not path.is_file():
        raise PressError("no such wheel file", package=str(path))
    try:
        name, version, _build, tagset = parse_wheel_filename(path.name)
    except Exception as exc:  # packaging's InvalidWheelFilename and friends
        raise PressError(f"not a wheel file name: {exc}", package=path.name) from None
    tags = sorted(str(t) for t in tagset)
    try:
        with tempfile.TemporaryDirectory(prefix="press-show-") as tmp:
            with zipfile.ZipFile(path) as archive:
                _check_size(archive, path.name)
                names = [n for n in archive.namelist() if _safe_name(n)]
                dist_info = next((n.split("/")[0] for n in names if n.count("/") == 1
                                  and n.split("/")[0].endswith(".dist-info") and n.endswith("/METADATA")), None)
                if dist_info is None:
                    raise PressError("the wheel has no .dist-info/METADATA", package=path.name)
                metadata = Metadata.from_email(archive.read(f"{dist_info}/METADATA"), validate=False)
                wheel_text = archive.read(f"{dist_info}/WHEEL").decode("utf-8", "replace") \
                    if f"{dist_info}/WHEEL" in names else ""
                archive.extractall(tmp)
            view = WheelView(path=str(path), name=str(metadata.name or name), version=str(metadata.version or version),
                             tags=tags, summary=metadata.summary,
                             requires_python=str(metadata.requires_python) if metadata.requires_python else None,
                             requires_dist=[str(r) for r in metadata.requires_dist or []],
                             license=metadata.license_expression or metadata.license)
            generator = re.search(r"^Generator: (.+)$", wheel_text, re.M)
            view.generator = generator.group(1).strip() if generator else None
            view.made_by_press = bool(view.generator and view.generator.startswith("press "))
            view.conda_sources = [asdict(s) for s in read_sources(path)]
            _binaries(view, Path(tmp), names, tagset)
            view.vendored_from = {path: owner for owner, paths in _evidence(Path(tmp), dist_info).items()
                                  for path in paths if path in view.vendored_libraries}
    except zipfile.BadZipFile as exc:
        raise PressError(f"not a readable wheel: {exc}", package=path.name) from None
    try:
        from .wheel import verify_wheel

        verify_wheel(path)
    except ValidationError as exc:
        view.problems.append(str(exc))
    return view


def _safe_name(name: str) -> bool:
    """A member name press may build a path from (:func:`press.grammar.relative_path`);
    the others are left out here and reported by :func:`~press.wheel.verify_wheel`."""
    from . import grammar

    try:
        grammar.relative_path(name.rstrip("/"))
    except ValueError:
        return False
    return True


def _check_size(archive: zipfile.ZipFile, label: str) -> None:
    """Refuse a wheel beyond the ``members`` or ``unpacked_size`` limits
    before extracting it (a zip bomb fills no disk)."""
    from .limits import exceeded, limit

    infos = archive.infolist()
    if len(infos) > limit("members"):
        raise exceeded("members", package=label)
    if sum(i.file_size for i in infos) > limit("unpacked_size"):
        raise exceeded("unpacked_size", package=label)


def _evidence(root: Path, dist_info: str) -> dict[str, list[str]]:
    """conda artifact (``name version``) -> the wheel paths the SBOM says
    came from it."""
    import json

    sbom = root / dist_info / "sboms" / "press.cdx.json"
    if not sbom.is_file() or sbom.stat().st_size > 64 << 20:
        return {}
    try:
        doc = json.loads(sbom.read_text("utf-8"))
    except ValueError:
        return {}
    found: dict[str, list[str]] = {}
    for component in doc.get("components", []) if isinstance(doc, dict) else []:
        if not isinstance(component, dict):
            continue
        evidence = component.get("evidence") or {}
        occurrences = evidence.get("occurrences") if isinstance(evidence, dict) else None
        label = f"{component.get('name')} {component.get('version')}"
        found[label] = [o["location"] for o in occurrences or []
                        if isinstance(o, dict) and isinstance(o.get("location"), str)]
    return found


def _python_reason(names: list[str], tagset: frozenset[Tag]) -> TagReason:
    interpreters = sorted({t.interpreter for t in tagset})
    abis = sorted({t.abi for t in tagset})
    extensions = [n for n in names if _EXTENSION.search(n)]
    tag = f"{'.'.join(interpreters)}-{'.'.join(abis)}"
    if not extensions:
        pure = all(a == "none" for a in abis)
        return TagReason(tag, pure, ["no extension modules"] if pure else
                         ["no extension module names a Python or ABI, yet the tag does"])
    reasons, ok = [], True
    for ext in extensions[:5]:
        found = _EXTENSION.search(ext)
        assert found is not None
        major, minor = found.group(2) or found.group(4), found.group(3) or found.group(5)
        if major and minor:
            expected = f"cp{major}{minor}"
            agrees = expected in interpreters or any(a.startswith(expected) for a in abis)
            ok = ok and agrees
            reasons.append(f"{ext} is built for {expected}" + ("" if agrees else " (the tag says otherwise)"))
        else:
            reasons.append(f"{ext} ({found.group(1)})")
    if len(extensions) > 5:
        reasons.append(f"and {len(extensions) - 5} more extension modules")
    return TagReason(tag, ok, reasons)


def _binaries(view: WheelView, root: Path, names: list[str], tagset: frozenset[Tag]) -> None:
    """Fill in the tag reasons, vendored libraries and dependency resolution."""
    platforms = sorted({t.platform for t in tagset})
    view.python_tag = _python_reason(names, tagset)
    platform = platforms[0]
    view.vendored_libraries = sorted(n for n in names if ".libs/" in n and re.search(r"\.so(\.\d+)*$|\.dylib$|\.dll$",
                                                                                     n, re.I))
    if platform.startswith(("manylinux", "musllinux", "linux")):
        view.platform_tag = _elf(view, root, names, platforms)
    elif platform.startswith("macosx"):
        from .structure import check_macho_tree

        problems, resolution, min_os = check_macho_tree(root, platform)
        view.dependencies = resolution
        view.problems += problems
        reason = f"highest minimum macOS version among the binaries: {min_os[0]}.{min_os[1]}" if min_os \
            else "no Mach-O binaries"
        view.platform_tag = TagReason(".".join(platforms), not any("tag" in p for p in problems), [reason])
    elif platform.startswith("win"):
        from .structure import check_pe_tree

        problems, resolution = check_pe_tree(root, platform)
        view.dependencies = resolution
        view.problems += problems
        view.platform_tag = TagReason(".".join(platforms), not any("machine" in p for p in problems),
                                      ["the PE machine of every binary" if resolution else "no PE binaries"])
    else:
        binary = [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
        view.platform_tag = TagReason(platform, not binary,
                                      ["no binaries"] if not binary else [f"{binary[0]} is a binary in a pure wheel"])


def _glibc(tag: str) -> tuple[int, int] | None:
    found = re.match(r"manylinux_(\d+)_(\d+)_", tag)
    if found:
        return int(found.group(1)), int(found.group(2))
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    return next((v for k, v in legacy.items() if tag.startswith(k + "_")), None)


def _elf(view: WheelView, root: Path, names: list[str], platforms: list[str]) -> TagReason:
    """Per ELF file: libraries, RUNPATH resolution and the symbol versions it
    needs from outside the wheel; the manylinux tag those allow (auditwheel's
    policy data) and the file that sets it."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    from .tags import allowed_libraries, manylinux_tag
    from .validate import elf_dynamic, runpath_dirs

    machines = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64", "EM_PPC64": "ppc64le", "EM_S390": "s390x",
                "EM_386": "i686"}
    needs: dict[str, dict[str, set[str]]] = {}
    machine = None
    for name in names:
        path = root / name
        if not path.is_file():
            continue
        with open(path, "rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
            handle.seek(0)
            try:
                elf = ELFFile(handle)
                machine = machines.get(elf["e_machine"], machine)
                needed, runpath, verneeds = elf_dynamic(elf)
            except (ELFError, ValueError, KeyError) as exc:
                view.problems.append(f"{name}: unreadable ELF ({exc})")
                continue
        dirs = runpath_dirs(runpath, path.parent)
        resolved: dict[str, str] = {}
        outside: dict[str, set[str]] = {}
        for library in needed:
            hit = next((d / library for d in dirs if (d / library).is_file()), None)
            if hit is not None and str(hit).startswith(str(root.resolve())):
                resolved[library] = str(hit.relative_to(root.resolve()))
            else:
                resolved[library] = "system"
                outside[library] = verneeds.get(library, set())
        view.dependencies[name] = resolved
        needs[name] = outside
    if machine is None:
        return TagReason(".".join(platforms), True, ["no ELF binaries"])
    allowed = allowed_libraries(machine)
    for binary, resolved in view.dependencies.items():
        for library, where in resolved.items():
            if where == "system" and library not in allowed and not library.startswith(("ld-linux", "ld64.so")):
                resolved[library] = "unresolved"
                view.problems.append(f"{binary}: {library} is neither in the wheel nor on the manylinux allow-list")
    merged: dict[str, set[str]] = {}
    for deps in needs.values():
        for library, versions in deps.items():
            merged.setdefault(library, set()).update(versions)
    tag, why = manylinux_tag(machine, merged)
    floor = _glibc(tag)
    reasons = [f"the binaries allow {tag}" + (f": {'; '.join(why)}" if why else "")]
    if floor:
        setters = []
        for binary, deps in sorted(needs.items()):
            if manylinux_tag(machine, deps)[0] == tag:
                highest: dict[str, str] = {}
                for version in (v for versions in deps.values() for v in versions):
                    prefix = version.partition("_")[0]
                    if prefix not in highest or _version_key(version) > _version_key(highest[prefix]):
                        highest[prefix] = version
                setters.append((_version_key(highest.get("GLIBC", "GLIBC_0")), binary, highest))
        if setters:
            _key, binary, highest = max(setters, key=lambda s: s[0])
            more = f" (and {len(setters) - 1} other files)" if len(setters) > 1 else ""
            reasons.append(f"set by {binary}{more}: needs {', '.join(v for _, v in sorted(highest.items()))}")
    claimed = [p for p in platforms if p.startswith("manylinux")]
    ok = True
    for platform in claimed:
        glibc = _glibc(platform)
        if glibc is not None and floor is not None and glibc < floor:
            ok = False
            reasons.append(f"{platform} claims glibc {glibc[0]}.{glibc[1]}, the binaries need {floor[0]}.{floor[1]}")
    if claimed and floor is None:
        ok = False
    return TagReason(".".join(platforms), ok, reasons)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.partition("_")[2].split("."))


def show_conda(targets: list[str], options: ConvertOptions) -> list[WheelView]:
    """The wheels press would write for ``targets`` (MatchSpecs or artifact
    files) with ``options`` (its ``wheel_dir`` is replaced by a scratch
    directory, validation is off): each converted and shown as
    :func:`show_wheel` does, plus its prefix placeholders and vendored bytes.
    Raises what :func:`press.convert` raises for input press refuses."""
    import dataclasses

    from .convert import convert

    with tempfile.TemporaryDirectory(prefix="press-show-") as tmp:
        scratch = dataclasses.replace(options, wheel_dir=Path(tmp), validate=False)
        report = convert(list(targets), scratch)
        views = []
        for wheel in report.wheels:
            view = show_wheel(Path(wheel.path))
            view.path = Path(wheel.path).name
            view.placeholders = wheel.placeholders
            view.vendored_bytes = wheel.vendored_bytes
            views.append(view)
    return views
