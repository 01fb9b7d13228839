"""``press show``: look at a wheel, or at what press would make of conda input.

For a wheel (any wheel, not only press's): its name, version and tags, and
why each tag holds: the Python and ABI tags from the extension modules'
file names, the platform tag from the binaries (for manylinux, the symbol
versions each ELF file needs from the system, checked with auditwheel's
policy data, and the file that sets the floor; for macOS, the highest minimum
OS version; for Windows, the PE machine); where each library a binary loads
resolves and by which rule (in the wheel, in a dependency wheel named by
distribution, the allow-list: :func:`_resolve_library`); what ``auditwheel
show`` would say of the tag and why press differs (:class:`AuditwheelView`,
docs/metadata.md Tags); its METADATA; whether press made it, and from which
conda artifacts (its SBOM, :mod:`press.sbom`); and every wheel-format
problem (:func:`press.wheel.wheel_problems`, PEP 427 rules for any wheel).

For conda input (an artifact file or MatchSpecs), the conversion runs into a
scratch directory without validation and each wheel it would write is shown
the same way, with what it vendors from which package and the prefix
placeholders; input press refuses is shown as the refusal.

The wheel is read from its archive into a temporary directory, each member
with a checked name written where an installer puts it (``.data/purelib``
and ``platlib`` at the top), within the size limits; wheels beside it are
only read (central directory and METADATA); nothing is imported or run.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import parse_wheel_filename

from .errors import PressError, ValidationError
from .wheelread import MALFORMED, WheelReader, printable, sources_of, startup_hook
from .workdir import work_dir

if TYPE_CHECKING:
    from packaging.tags import Tag

    from .convert import ConvertOptions

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
    (a path in the wheel; ``<distribution>: <path>`` in a dependency wheel;
    ``system``: the manylinux allow-list; ``unresolved``), and ``rules`` by
    which rule (ELF files); ``auditwheel``: what ``auditwheel show`` says of
    the tag and why press differs (:class:`AuditwheelView`); ``problems``: what
    does not hold (a tag the binaries contradict, an unresolved library, a
    RECORD that does not verify); ``hooks``: the files it installs that run
    at every interpreter start (top-level ``*.pth``, ``sitecustomize``,
    ``usercustomize``: :func:`press.wheelread.startup_hook`)."""

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
    rules: dict[str, dict[str, str]] = field(default_factory=dict)
    auditwheel: AuditwheelView | None = None
    conda_sources: list[dict[str, object]] = field(default_factory=list)
    placeholders: list[list[str]] = field(default_factory=list)
    vendored_bytes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human form, each line :func:`~press.wheelread.printable` (text
        from the wheel cannot drive the terminal)."""
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
                rules = self.rules.get(binary, {})
                for lib, where in sorted(deps.items()):
                    out.append(f"      {lib} -> {where}")
                    if lib in rules:
                        out.append(f"        ({rules[lib]})")
        if self.auditwheel is not None:
            aw = self.auditwheel
            agreement = "agrees" if aw.agrees else ("differs, safe" if aw.safe else "differs, NOT safe")
            out.append(f"  auditwheel show: {aw.tag} ({agreement})")
            out += [f"    {r}" for r in aw.reasons]
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
        if self.hooks:
            out.append(f"  install-time hooks (run at every interpreter start): {', '.join(self.hooks)}")
        out += [f"  problem: {p}" for p in self.problems]
        return [printable(line) for line in out]


def show_wheel(path: Path) -> WheelView:
    """Inspect the wheel at ``path``, read within press's limits
    (:class:`press.wheelread.WheelReader`: bounded sizes, eager metadata, only
    the binaries and DLL loaders extracted). Raises
    :class:`~press.errors.PressError` for a file that is not a readable wheel
    (its name does not parse, the archive is corrupt or beyond a limit, its
    METADATA is missing or a field press shows does not parse)."""
    path = Path(path)
    label = printable(path.name[:300])
    try:
        regular = path.is_file()
    except OSError as exc:  # a name too long for the file system, a path through a file
        raise PressError(f"cannot open the wheel: {exc.strerror or exc}", package=printable(str(path)[:300])) from None
    if not regular:
        raise PressError("no such wheel file", package=printable(str(path)[:300]))
    try:
        name, version, _build, tagset = parse_wheel_filename(path.name)
    except Exception as exc:  # packaging's InvalidWheelFilename and friends
        raise PressError(f"not a wheel file name: {printable(str(exc))}", package=label) from None
    tags = sorted(str(t) for t in tagset)
    with WheelReader(path) as wheel, work_dir("show-") as tmp:
        root = Path(tmp) / "site"
        names = [n for n in wheel.names if not n.endswith("/") and _safe_name(n)]
        metadata = wheel.metadata()
        dist_info = wheel.dist_info()
        wheel_text = wheel.read(f"{dist_info}/WHEEL", "text_size").decode("utf-8", "replace") \
            if f"{dist_info}/WHEEL" in names else ""
        installed, clashes = _extract(wheel, names, root)
        view = WheelView(path=str(path), name=metadata.name or name, version=metadata.version or str(version),
                         tags=tags, summary=metadata.summary, requires_python=metadata.requires_python,
                         requires_dist=list(metadata.requires_dist), license=metadata.license)
        view.problems += clashes
        view.hooks = sorted(target for target in map(_installed_name, names) if startup_hook(target))
        generator = re.search(r"^Generator: (.+)$", wheel_text, re.M)
        view.generator = generator.group(1).strip() if generator else None
        view.made_by_press = bool(view.generator and view.generator.startswith("press "))
        try:
            sbom = wheel.sbom()
            view.conda_sources = [asdict(s) for s in sources_of(sbom, label, printable(wheel.sbom_name() or ""))] \
                if sbom is not None else []
        except PressError as exc:
            view.problems.append(f"SBOM not read: {exc}")
            sbom = None
        _binaries(view, root, names, tagset, installed)
        view.vendored_from = {path: owner for owner, paths in _evidence(sbom).items()
                              for path in paths if path in view.vendored_libraries}
    from .wheel import wheel_problems

    try:
        view.problems += [str(p) for p in wheel_problems(path)]
    except MALFORMED as exc:
        view.problems.append(f"{label}: not a readable wheel: {printable(str(exc))}")
    return view


def _installed_name(name: str) -> str:
    """Where member ``name`` lands relative to site-packages: a
    ``<dist>.data/purelib/`` or ``platlib/`` member at the path after it
    (PEP 427: installers move them into the install root); every other
    member, ``.data/scripts`` etc. included, at its own name (those install
    outside site-packages, and no binary in site-packages finds them)."""
    top, _, rest = name.partition("/")
    if top.endswith(".data"):
        scheme, _, inner = rest.partition("/")
        if scheme in ("purelib", "platlib") and inner:
            return inner
    return name


#: The magic numbers of the binaries ``press show`` reads: ELF, Mach-O (thin
#: and universal, both byte orders) and PE (``MZ``).
_BINARY_MAGICS = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xfe\xed\xfa\xce",
                  b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf", b"MZ")
#: Members never sniffed for a magic number: text no loader maps.
_TEXT_SUFFIXES = (".py", ".pyi", ".pyc", ".txt", ".md", ".rst", ".json", ".h", ".hpp", ".c", ".cc", ".cpp", ".pxd",
                  ".pyx", ".html", ".js", ".css", ".csv", ".cfg", ".toml", ".yaml", ".yml", ".xml", ".typed", ".ini")


def _loader_source(target: str) -> bool:
    """A file the Windows checks read as text (:func:`press.structure.dll_directories`):
    a top-level ``_press_dlls_*.py`` or ``*.pth``, or a top-level package's ``__init__.py``."""
    parts = target.split("/")
    if len(parts) == 1:
        return (parts[0].startswith("_press_dlls_") and parts[0].endswith(".py")) or parts[0].endswith(".pth")
    return len(parts) == 2 and parts[1] == "__init__.py"


def _extract(wheel: WheelReader, names: list[str], root: Path) -> tuple[dict[str, str], list[str]]:
    """Write, of the members ``names`` (already checked by :func:`_safe_name`),
    only those the checks read, under ``root`` where an installer puts them
    (:func:`_installed_name`): binaries (by magic number, each within the
    ``binary_size`` limit) and the DLL loaders' sources (within ``text_size``);
    the rest is never written. Returns (installed name -> member name of the
    files written, problems: two members landing on one installed path, a
    member installed where another needs a directory, one that cannot be
    written or is too large to read)."""
    from .limits import limit

    placed: dict[str, str] = {}
    problems: list[str] = []
    for name in names:
        target = _installed_name(name)
        if target in placed:
            problems.append(f"members {placed[target]!r} and {name!r} both install to {target!r}")
            continue
        placed[target] = name
    parents = {target.rsplit("/", 1)[0] for target in placed if "/" in target}
    parents = {"/".join(p.split("/")[:i]) for p in parents for i in range(1, p.count("/") + 2)}
    for target in sorted(parents & placed.keys()):
        problems.append(f"member {placed[target]!r} installs to {target!r}, where other members need a directory")
    wanted: list[tuple[str, str]] = []
    for target, name in placed.items():
        size = wheel.archive.getinfo(name).file_size
        if _loader_source(target):
            if size <= limit("text_size"):
                wanted.append((name, target))
            continue
        if target.lower().endswith(_TEXT_SUFFIXES):
            continue
        if not wheel.head(name).startswith(_BINARY_MAGICS):
            continue
        if size > limit("binary_size"):
            problems.append(f"{name}: not read: a binary larger than the binary_size limit "
                            f"({limit('binary_size')} bytes; set PRESS_MAX_BINARY_SIZE to raise it)")
            continue
        wanted.append((name, target))
    written, failed = wheel.extract(wanted, root)
    problems += failed
    members = dict((target, name) for name, target in wanted)
    return {target: members[target] for target in written}, problems


def _safe_name(name: str) -> bool:
    """A member name press may build a path from (:func:`press.grammar.relative_path`);
    the others are left out here and reported by :func:`~press.wheel.verify_wheel`."""
    from . import grammar

    try:
        grammar.relative_path(name.rstrip("/"))
    except ValueError:
        return False
    return True


def _evidence(doc: object) -> dict[str, list[str]]:
    """conda artifact (``name version``) -> the wheel paths the SBOM
    ``doc`` (parsed within limits, :meth:`press.wheelread.WheelReader.sbom`) says came from it."""
    found: dict[str, list[str]] = {}
    components = doc.get("components") if isinstance(doc, dict) else None
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict):
            continue
        evidence = component.get("evidence") or {}
        occurrences = evidence.get("occurrences") if isinstance(evidence, dict) else None
        label = f"{component.get('name')} {component.get('version')}"
        found[label] = [o["location"] for o in occurrences if isinstance(o, dict) and isinstance(o.get("location"), str)
                        ] if isinstance(occurrences, list) else []
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


def _binaries(view: WheelView, root: Path, names: list[str], tagset: frozenset[Tag], installed: dict[str, str]) -> None:
    """Fill in the tag reasons, vendored libraries and dependency resolution
    (``root``: the wheel as installed, ``installed``: installed name -> member)."""
    platforms = sorted({t.platform for t in tagset})
    binaries = set(installed.values())
    view.python_tag = _python_reason(names, tagset)
    platform = platforms[0]
    view.vendored_libraries = sorted(n for n in names if ".libs/" in n and re.search(r"\.so(\.\d+)*$|\.dylib$|\.dll$",
                                                                                     n, re.I)
                                     and n in binaries)  # by magic number: not a linker script
    if platform.startswith(("manylinux", "musllinux", "linux")):
        view.platform_tag = _elf(view, root, installed, platforms)
    elif platform.startswith("macosx"):
        from .structure import check_macho_tree

        try:
            problems, resolution, min_os = check_macho_tree(root, platform)
        except Exception as exc:  # macholib on hostile bytes raises what it likes  # noqa: BLE001
            problems, resolution, min_os = [f"Mach-O files not read: {printable(str(exc)[:300])}"], {}, None
        view.dependencies = resolution
        view.problems += problems
        reason = f"highest minimum macOS version among the binaries: {min_os[0]}.{min_os[1]}" if min_os \
            else "no Mach-O binaries"
        view.platform_tag = TagReason(".".join(platforms), not any("tag" in p for p in problems), [reason])
    elif platform.startswith("win"):
        from .structure import check_pe_tree

        try:
            problems, resolution = check_pe_tree(root, platform)
        except Exception as exc:  # pefile, ast and text decoding on hostile files  # noqa: BLE001
            problems, resolution = [f"PE files not read: {printable(str(exc)[:300])}"], {}
        view.dependencies = resolution
        view.problems += problems
        view.platform_tag = TagReason(".".join(platforms), not any("machine" in p for p in problems),
                                      ["the PE machine of every binary" if resolution else "no PE binaries"])
    else:
        binary = [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
        view.platform_tag = TagReason(platform, not binary,
                                      ["no binaries"] if not binary else [f"{binary[0]} is a binary in a pure wheel"])


def _glibc(tag: str) -> tuple[int, int] | None:
    """The glibc version a manylinux tag claims; a legacy alias by its policy (auditwheel's data)."""
    from .tags import policy_platform

    found = re.match(r"manylinux_(\d+)_(\d+)_", policy_platform(tag))
    return (int(found.group(1)), int(found.group(2))) if found else None


#: How a library an ELF file loads resolves, the rules ``press show`` names (docs/cli.md, docs/metadata.md).
RULE_WHEEL = "in the wheel, through the file's RUNPATH/RPATH entry {entry}"
RULE_DEPENDENCY = ("in the wheel of {dist}, through RUNPATH/RPATH entry {entry} ({libs} is the library directory of "
                   "{dist}, which the wheel requires {chain})")
RULE_SYSTEM = "from the system: {library} is on the manylinux allow-list (auditwheel's policy data)"
RULE_LOADER = "the dynamic loader itself"
RULE_UNRESOLVED = "neither in the wheel, nor in a wheel it requires, nor on the manylinux allow-list"


def _checked_names(view: WheelView, member: str, needed: list[str], runpath: list[str]
                   ) -> tuple[list[str], list[str]]:
    """The ``DT_NEEDED`` names that are plain file names and the RUNPATH
    entries that are printable paths (:mod:`press.grammar`, the rules press
    holds a package's binaries to); each other one is a problem and is
    not looked up (a name over 255 bytes, with ``/``, or a control character)."""
    from . import grammar

    kept_needed, kept_runpath = [], []
    for library in needed:
        try:
            kept_needed.append(grammar.file_name(library))
        except ValueError:
            view.problems.append(f"{member}: DT_NEEDED {str(library)[:300]!r} is not a plain file name")
    for entry in runpath:
        try:
            kept_runpath.append(grammar.search_path(entry))
        except ValueError:
            view.problems.append(f"{member}: RUNPATH entry {str(entry)[:300]!r} is not a printable path")
    return kept_needed, kept_runpath


def _elf(view: WheelView, root: Path, installed: dict[str, str], platforms: list[str]) -> TagReason:
    """Per ELF file: libraries, where each resolves and by which rule
    (:func:`_resolve_library`), and the symbol versions it needs from the
    system; the manylinux tag those allow (auditwheel's policy data) and the
    file that sets it; what ``auditwheel show`` would say and why press
    differs (:func:`_auditwheel_view`).

    Symbol versions count for the tag when they are needed from a library
    whose name is on the allow-list, wherever this wheel finds that library:
    glibc's loader reuses a library already loaded under the same SONAME,
    so a system copy loaded first serves it (auditwheel's rule, which press
    follows; ``tests/test_tag_rules.py`` shows the reuse at run time)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    from .tags import allowed_libraries, manylinux_tag
    from .validate import elf_dynamic, runpath_dirs

    machines = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64", "EM_PPC64": "ppc64le", "EM_S390": "s390x",
                "EM_386": "i686"}
    needs: dict[str, dict[str, set[str]]] = {}
    every: dict[str, dict[str, set[str]]] = {}  # auditwheel's view: every version every ELF file needs
    machine = None
    site = root.resolve()
    closure = _Closure(Path(view.path), view.requires_dist)
    elves: list[tuple[str, Path, list[str], list[str], dict[str, set[str]]]] = []
    for target, member in sorted(installed.items()):
        path = root / target
        with open(path, "rb") as handle:
            if handle.read(4) != b"\x7fELF":
                continue
            handle.seek(0)
            try:
                elf = ELFFile(handle)
                machine = machines.get(elf["e_machine"], machine)
                needed, runpath, verneeds = elf_dynamic(elf)
            except (ELFError, TypeError, AssertionError) + MALFORMED as exc:  # pyelftools on hostile bytes
                view.problems.append(f"{member}: unreadable ELF ({printable(str(exc)[:300])})")
                continue
        needed, runpath = _checked_names(view, member, needed, runpath)
        elves.append((member, path, needed, runpath, verneeds))
    if machine is None:
        return TagReason(".".join(platforms), True, ["no ELF binaries"])
    allowed = allowed_libraries(machine)
    for member, path, needed, runpath, verneeds in elves:
        resolved: dict[str, str] = {}
        rules: dict[str, str] = {}
        outside: dict[str, set[str]] = {}
        for library in needed:
            where, rule, problem = _resolve_library(library, runpath, runpath_dirs(runpath, path.parent), site,
                                                    allowed, closure)
            resolved[library], rules[library] = where, rule
            if problem:
                view.problems.append(f"{member}: {library} {problem}")
            if where in ("system", "unresolved") or library in allowed:
                outside[library] = verneeds.get(library, set())
        view.dependencies[member] = resolved
        view.rules[member] = rules
        needs[member] = outside
        every[member] = {k: v for k, v in verneeds.items() if not re.match(r"^ld-linux.*|^ld64\.so\.\d$", k)}
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
    view.auditwheel = _auditwheel_view(view, machine, claimed, every, allowed, ok)
    return TagReason(".".join(platforms), ok, reasons)


@dataclass
class AuditwheelView:
    """What ``auditwheel show`` says of a manylinux wheel, computed with its
    own policy data and rules (every symbol version any ELF file of the wheel
    needs counts; a library the wheel does not hold must be on the policy's
    allow-list): its ``tag``, whether it ``agrees`` with the wheel's, and
    if not the ``reasons`` (each naming its rule, docs/metadata.md) and
    whether the difference is ``safe``."""

    tag: str
    agrees: bool
    safe: bool
    reasons: list[str] = field(default_factory=list)


#: Why press's tag may differ from auditwheel's, and the tests that prove each rule at run time.
RULE_OWN_NAME = ("vendored-own-name: auditwheel counts {versions} needed from {libraries}, which {holder} ships under "
                 "a name no system library has, so no copy the process loaded first can stand in for it and the "
                 "system need not provide those versions; safe (tests/test_tag_rules.py::"
                 "test_vendored_runtime_serves_its_versions_after_the_system_copy)")
RULE_DEPENDENCY_WHEEL = ("dependency-wheel: auditwheel checks the wheel alone and takes {libraries} for system "
                         "libraries off the allow-list ({tag}); they come from the wheels of {dists}, which installers "
                         "install with this one (Requires-Dist) and which carry their own tags; safe{unconfirmed} "
                         "(tests/test_tag_rules.py::test_dependency_wheel_library_loads_after_the_system_copy)")
RULE_STRICTER = "press's tag is newer than the binaries need (--plat): installers on older systems pass it over; safe"
RULE_FOLLOW = ("press cannot show this tag holds: follow auditwheel ({tag}); a library on the allow-list counts "
               "wherever the wheel finds it, since the loader reuses a copy loaded first under the same name "
               "(tests/test_tag_rules.py::test_same_name_library_loaded_first_serves_the_dependent)")


def _auditwheel_view(view: WheelView, machine: str, claimed: list[str], every: dict[str, dict[str, set[str]]],
                     allowed: set[str], ok: bool) -> AuditwheelView | None:
    """The :class:`AuditwheelView` of a wheel whose ELF files need the
    symbol versions ``every`` (file -> library -> versions), after
    :attr:`WheelView.dependencies` is filled (``ok``: the binaries allow the
    wheel's tag, as press counts); None for a wheel that claims
    no manylinux tag. auditwheel's policy data and symbol rule
    (``WheelPolicies.versioned_symbols_policy``) are used as they are."""
    from auditwheel.architecture import Architecture
    from auditwheel.libc import Libc
    from auditwheel.policy import WheelPolicies

    from .tags import policy_platform

    def glibc(tag: str) -> tuple[int, ...]:
        found = re.match(r"^manylinux_(\d+)_(\d+)_", tag)
        return (int(found.group(1)), int(found.group(2))) if found else (0,)

    pep600 = sorted({policy_platform(p) for p in claimed}, key=lambda t: (glibc(t), t))  # by glibc, not text
    if not pep600:
        return None
    policies = WheelPolicies(libc=Libc.GLIBC, arch=Architecture(machine))
    by_name = {p.name: p for p in policies}
    where = {lib: w for deps in view.dependencies.values() for lib, w in deps.items()}
    external = sorted(lib for lib, w in where.items() if (w in ("system", "unresolved") or ": " in w)
                      and not lib.startswith(("ld-linux", "ld64.so")))

    def symbol_policy(needs: dict[str, set[str]]) -> int:
        return int(policies.versioned_symbols_policy(needs).priority)

    all_needs: dict[str, set[str]] = {}
    counted: dict[str, set[str]] = {}
    for deps in every.values():
        for lib, versions in deps.items():
            all_needs.setdefault(lib, set()).update(versions)
            if where.get(lib) in ("system", "unresolved") or lib in allowed:
                counted.setdefault(lib, set()).update(versions)
    sym = symbol_policy(all_needs)
    tag = f"linux_{machine}"
    for policy in sorted(policies, key=lambda p: p.priority, reverse=True):
        if not policy.name.startswith("linux") and policy.priority <= sym and \
                all(lib in policy.whitelist for lib in external):
            tag = policy.name
            break
    mine = pep600[-1]
    result = AuditwheelView(tag, tag == mine, True)
    if result.agrees:
        return result
    if not ok or mine not in by_name:
        result.safe = False
        result.reasons.append(RULE_FOLLOW.format(tag=tag))
        return result
    off_list = [lib for lib in external if lib not in allowed]
    served = [lib for lib in off_list if ": " in where[lib]]
    if served:
        dists = sorted({where[lib].split(": ", 1)[0] for lib in served})
        rules = [r for deps in view.rules.values() for lib, r in deps.items() if lib in served]
        unconfirmed = any("not confirmed" in r for r in rules)
        result.reasons.append(RULE_DEPENDENCY_WHEEL.format(
            libraries=", ".join(served), tag=f"linux_{machine}", dists=", ".join(dists),
            unconfirmed=" if those wheels ship them (not confirmed: they are not beside this one)" if unconfirmed
            else ""))
    if len(served) != len(off_list):
        result.safe = False
        result.reasons.append(RULE_FOLLOW.format(tag=tag))
    if sym < by_name[mine].priority:
        extra = {lib: v for lib, v in all_needs.items() if lib not in counted and
                 symbol_policy({**counted, lib: v}) < symbol_policy(counted)}
        if extra:
            holders = sorted({"the wheel" if ": " not in where.get(lib, "") else where[lib].split(": ", 1)[0]
                              for lib in extra})
            top: dict[str, str] = {}
            for version in sorted({v for vs in extra.values() for v in vs}, key=_version_key):
                top[version.partition("_")[0]] = version
            result.reasons.append(RULE_OWN_NAME.format(versions="up to " + ", ".join(sorted(top.values())),
                                                       libraries=", ".join(sorted(extra)),
                                                       holder=" and ".join(holders)))
    elif sym > by_name[mine].priority and not off_list:
        result.reasons.append(RULE_STRICTER)
    if not result.reasons:
        result.safe = False
        result.reasons.append(RULE_FOLLOW.format(tag=tag))
    return result


def _resolve_library(library: str, entries: list[str], dirs: list[Path], site: Path, allowed: set[str],
                     closure: _Closure) -> tuple[str, str, str | None]:
    """Where ``library`` (a ``DT_NEEDED`` name) resolves for an ELF file whose
    RUNPATH/RPATH ``entries`` expand to ``dirs`` (``site``: the wheel as
    installed in site-packages), glibc's search order: each entry in turn,
    then the system. Returns ``(where, rule, problem)``: ``where`` is the
    path in the wheel, ``<dist>: <path>`` for a dependency wheel,
    ``system`` or ``unresolved``; ``rule`` one of the ``RULE_*`` texts (plus
    what confirms it); ``problem`` None or what does not hold."""
    if library.startswith(("ld-linux", "ld64.so")):
        return "system", RULE_LOADER, None
    unconfirmed: list[tuple[str, str]] = []
    missing: list[str] = []
    for entry, directory in zip(entries, dirs):
        if directory != site and not str(directory).startswith(str(site) + "/"):
            continue
        hit = directory / library
        try:
            found_here = hit.is_file()
        except OSError:  # a RUNPATH component too long for the file system
            found_here = False
        if found_here:
            return str(hit.relative_to(site)), RULE_WHEEL.format(entry=entry), None
        rel = directory.relative_to(site).as_posix()
        top = rel.split("/", 1)[0]
        owner = closure.owner(top) if top.endswith(".libs") else None
        if owner is None:
            continue
        dist, chain = owner
        rule = RULE_DEPENDENCY.format(dist=dist, entry=entry, libs=top, chain=chain)
        found = closure.holds(dist, f"{rel}/{library}")
        if found is True:
            return f"{dist}: {rel}/{library}", f"{rule}; {library} is in {closure.wheel_of(dist)}", None
        if found is None:
            unconfirmed.append((f"{dist}: {rel}/{library}", f"{rule}; not confirmed: no wheel of {dist} beside this one"))
        else:
            missing.append(closure.wheel_of(dist))
    if unconfirmed:
        where, rule = unconfirmed[0]
        if len(unconfirmed) > 1:
            rule += f"; or in {', '.join(w for w, _ in unconfirmed[1:])}"
        return where, rule + (f"; else {RULE_SYSTEM.format(library=library)}" if library in allowed else ""), None
    if library in allowed:
        return "system", RULE_SYSTEM.format(library=library), None
    beside = f" ({', '.join(missing)}, beside it, do not ship it)" if missing else ""
    return "unresolved", RULE_UNRESOLVED, f"is {RULE_UNRESOLVED}{beside}"


class _Closure:
    """The distributions a wheel requires, directly (its Requires-Dist) or
    through the wheels of its requirements found beside it (their
    Requires-Dist; each sibling wheel read bounded: its central directory and
    METADATA, never extracted). Requirements for an extra are left out."""

    def __init__(self, wheel: Path, requires_dist: list[str]) -> None:
        self._wheel = wheel
        self._direct = _requirement_names(requires_dist)
        self._chains: dict[str, list[str]] | None = None
        self._siblings: dict[str, list[Path]] | None = None
        self._read: dict[Path, tuple[set[str], list[str]] | None] = {}

    def _sibling_files(self) -> dict[str, list[Path]]:
        if self._siblings is None:
            from packaging.utils import canonicalize_name, parse_wheel_filename

            from .limits import limit

            self._siblings = {}
            try:
                files = sorted(self._wheel.parent.glob("*.whl"))[: limit("members")]
            except OSError:
                files = []
            for file in files:
                if file.name == self._wheel.name or file.is_symlink() or not file.is_file():
                    continue
                try:
                    name = canonicalize_name(parse_wheel_filename(file.name)[0])
                except Exception:  # packaging's InvalidWheelFilename: not a wheel, not a sibling
                    continue
                self._siblings.setdefault(name, []).append(file)
        return self._siblings

    def _contents(self, file: Path) -> tuple[set[str], list[str]] | None:
        """Installed names and Requires-Dist of a sibling wheel; None when it
        cannot be read within the limits."""
        if file not in self._read:
            result: tuple[set[str], list[str]] | None = None
            try:
                with WheelReader(file, follow_symlinks=False) as wheel:
                    infos = wheel.infos
                    requires = list(wheel.metadata().requires_dist) if wheel.dist_info() else []
                    result = ({_installed_name(i.filename) for i in infos if not i.is_dir()}, requires)
            except PressError:  # a hostile sibling (bad zip, beyond a limit, bad metadata): not read
                result = None
            self._read[file] = result
        return self._read[file]

    def _walk(self) -> dict[str, list[str]]:
        """Canonical name -> the chain from this wheel (``[a, b, name]``), breadth first."""
        if self._chains is None:
            self._chains = {}
            level = [(n, [n]) for n in self._direct]
            while level:
                following = []
                for name, chain in level:
                    if name in self._chains:
                        continue
                    self._chains[name] = chain
                    for file in self._sibling_files().get(name, []):
                        contents = self._contents(file)
                        if contents is not None:
                            following += [(n, chain + [n]) for n in _requirement_names(contents[1])]
                level = following
        return self._chains

    def owner(self, libs: str) -> tuple[str, str] | None:
        """The required distribution whose library directory is ``libs``
        (``conda_forge_libffi.libs``, :func:`press.providers.libs_dir`) and how
        it is required (``directly``, ``through a -> b``); None if none is."""
        from .providers import libs_dir

        for name, chain in self._walk().items():
            if libs_dir(name) == libs:
                how = "directly" if len(chain) == 1 else "through " + " -> ".join(chain[:-1])
                return name, how
        return None

    def holds(self, dist: str, installed: str) -> bool | None:
        """Whether a wheel of ``dist`` beside this one installs ``installed``;
        None when there is no readable wheel of it."""
        contents = [c for c in (self._contents(f) for f in self._sibling_files().get(dist, [])) if c is not None]
        if not contents:
            return None
        return any(installed in c[0] for c in contents)

    def wheel_of(self, dist: str) -> str:
        """The file name(s) of ``dist``'s wheels beside this one."""
        return ", ".join(f.name for f in self._sibling_files().get(dist, []))


def _requirement_names(requires_dist: list[str]) -> list[str]:
    """Canonical names of ``requires_dist`` (PEP 508), leaving out
    requirements for an extra and any that do not parse."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    names: list[str] = []
    for text in requires_dist:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue
        names.append(canonicalize_name(requirement.name))
    return names


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

    with work_dir("show-") as tmp:
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
