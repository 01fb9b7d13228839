"""The wheelhouse check: do the wheels written install as a set, from the wheel directory alone?

Each wheel press writes can be valid while the set is not: a requirement on a
version the channel does not have (a dependent's ``libzlib <1.3.0a0`` beside
``libzlib 1.3.1``), two builds of one version whose ``Requires-Python``
differ, a dependency that failed to convert. This module asks a real
resolver, per target Python and platform, offline, with the wheel directory as
the only source (uv's ``pip compile`` with ``--python-version`` and
``--python-platform``, or pip's ``install --dry-run`` with ``--platform`` when
uv is absent; see :mod:`press.venvs`):

1. every distribution name of the wheels checked, unpinned, as a user runs
   ``pip install NAME``: the newest installable candidate must exist;
2. every wheel file itself, pinned by its path: a user pinning that version
   must get it and its requirements.

Both are first tried jointly (one resolver run each), and a run that fails
is split in halves until the items that fail alone are found, so a sound
wheelhouse costs two runs per target and a few bad items a few more. For each
item the resolver refuses, an :class:`Unresolvable` names it, the resolver's
own explanation, and, from a walk of the wheels' core metadata, the chain of
requirements down to the first one no wheel in the directory satisfies and
the versions the directory has of it.

The wheels' metadata is read back as untrusted: file names parsed by
packaging, ``METADATA`` read only up to :data:`METADATA_LIMIT` bytes, members
never extracted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from packaging.markers import Marker
from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from .venvs import Installer, NoInstaller, _pip_platforms, clean_environment, find_installer
from .workdir import work_dir

#: Most bytes of a wheel's ``METADATA`` read (a METADATA press writes is a few kB).
METADATA_LIMIT = 4 << 20

#: uv ``--python-platform`` values of the manylinux glibc versions uv knows
#: beyond 2.17 (uv's documentation of ``--python-platform``).
_UV_MANYLINUX = (17, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)

_WINDOWS = {"win-64": ("x86_64-pc-windows-msvc", "win_amd64"), "win-arm64": ("aarch64-pc-windows-msvc", "win_arm64"),
            "win-32": ("i686-pc-windows-msvc", "win32")}
_MACOS = {"osx-arm64": ("aarch64-apple-darwin", "arm64"), "osx-64": ("x86_64-apple-darwin", "x86_64")}
_LINUX = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}


@dataclass(frozen=True)
class Target:
    """One machine a wheelhouse is checked for: CPython ``python`` (``X.Y``)
    on uv's ``--python-platform`` value ``platform``
    (``x86_64-manylinux_2_17``, ``aarch64-apple-darwin`` ...); ``macos``: the
    macOS version (``X.Y``) of that machine, for macOS targets."""

    python: str
    platform: str
    macos: str | None = None

    def label(self) -> str:
        """``Python 3.12 on x86_64-manylinux_2_17`` (with the macOS version when set)."""
        machine = f"{self.platform} {self.macos}" if self.macos else self.platform
        return f"Python {self.python} on {machine}"


@dataclass(frozen=True)
class Unresolvable:
    """A distribution name (``pip install NAME``) or a wheel file (pinned) the
    resolver could not install from the wheel directory for ``target``.

    ``item``: the distribution name or wheel file name; ``resolver``: the
    resolver's explanation (uv's derivation tree or pip's error), one line
    per sentence; ``chain``: requirements from ``item`` down to ``missing``,
    the first requirement no wheel in the directory satisfies (empty when
    every requirement has a candidate: a conflict between them);
    ``available``: the versions the directory has of ``missing``'s name for
    ``target``; ``elsewhere``: its wheels there for other Pythons or
    platforms only (file names);
    ``conda_name``: the conda package a wheel of that name was made from,
    when the directory has one."""

    item: str
    target: Target
    resolver: str
    chain: tuple[str, ...] = ()
    missing: str | None = None
    available: tuple[str, ...] = ()
    conda_name: str | None = None
    elsewhere: tuple[str, ...] = ()
    #: the wheel file refused: ``item`` itself, or for a name the wheel of it the resolver would take.
    wheel: str | None = None

    def message(self) -> str:
        """One line: what does not install, for which target, why, and what would fix it."""
        head = f"{self.item} does not install from the wheel directory for {self.target.label()}"
        if self.missing is None:
            return f"{head}: {self.resolver}"
        name = Requirement(self.missing).name
        conda = f" (conda package {self.conda_name})" if self.conda_name else ""
        via = " -> ".join(self.chain)
        if self.available:
            has = f"the directory has {name} {', '.join(self.available)}{conda} only"
            hint = ("a bound the channel's repodata hotfixes correct can be applied with --repodata-patch FILE "
                    "(conda-forge publishes them as conda-forge-repodata-patches)")
            return f"{head}: {via}: {has}; {hint}"
        if self.elsewhere:
            shown = ", ".join(self.elsewhere[:3]) + (f" and {len(self.elsewhere) - 3} more" if len(self.elsewhere) > 3 else "")
            return (f"{head}: {via}: the directory's wheels of {name}{conda} are for other Pythons or platforms "
                    f"only ({shown}); the channel has no build of it for this target")
        return f"{head}: {via}: no wheel of {name} is in the directory (its conversion failed, or it was not selected: --name)"


@dataclass(frozen=True)
class _Wheel:
    path: Path
    name: NormalizedName
    version: Version
    tags: frozenset[Tag]
    requires: tuple[Requirement, ...]
    requires_python: SpecifierSet | None
    conda_name: str | None


@dataclass
class _Catalogue:
    wheels: dict[NormalizedName, list[_Wheel]] = field(default_factory=dict)

    def add(self, wheel: _Wheel) -> None:
        self.wheels.setdefault(wheel.name, []).append(wheel)


def _read_wheel(path: Path) -> _Wheel | None:
    """The facts of one wheel file, or None for a file that is no readable
    wheel: not a regular file (a symlink, a FIFO are never opened), a file
    name that is no wheel's, no ``<name>-<version>.dist-info/METADATA`` of
    the file's own distribution within :data:`METADATA_LIMIT`, or anything
    the zip or metadata readers refuse. Requirements that do not parse are
    left out one by one (``parse_email``'s raw fields, not the lazily
    validated ones)."""
    from .errors import PressError
    from .wheelread import WheelReader, check_header_fields

    try:
        name, version, _build, tags = parse_wheel_filename(path.name)
        with WheelReader(path, follow_symlinks=False) as reader:  # press's limits; a link is not followed
            top = reader.dist_info(name)
            if top is None or canonicalize_name(top.split("-", 1)[0]) != name \
                    or reader.archive.getinfo(f"{top}/METADATA").file_size > METADATA_LIMIT:
                return None
            data = reader.read(f"{top}/METADATA")
            try:
                sources = reader.sources()
            except PressError:  # an SBOM that is not press's: no conda name
                sources = []
        if len(data) > METADATA_LIMIT:
            return None
        check_header_fields(data, None, None)  # packaging's parser is quadratic in distinct field names
        raw, _unparsed = parse_email(data)
        requires = []
        for text in raw.get("requires_dist") or []:
            try:
                requires.append(Requirement(str(text)))
            except InvalidRequirement:
                continue
        try:
            requires_python = SpecifierSet(str(raw["requires_python"])) if raw.get("requires_python") else None
        except InvalidSpecifier:
            requires_python = None
    except Exception:  # a hostile or broken file: not a wheel of this directory's set
        return None
    return _Wheel(path, name, version, frozenset(tags), tuple(requires), requires_python,
                  sources[0].name if sources else None)


def _supported(target: Target) -> frozenset[Tag]:
    """Every tag CPython ``target.python`` on ``target.platform`` accepts (packaging.tags)."""
    major, minor = (int(x) for x in target.python.split(".")[:2])
    platforms: list[str]
    if target.platform.endswith("apple-darwin"):
        arch = "arm64" if target.platform.startswith("aarch64") else "x86_64"
        mac_major, mac_minor = (int(x) for x in (target.macos or ("11.0" if arch == "arm64" else "10.9")).split("."))
        platforms = list(mac_platforms((mac_major, mac_minor), arch))
    elif "windows" in target.platform:
        platforms = [next(tag for uv, tag in _WINDOWS.values() if uv == target.platform)]
    else:
        platforms = [*_pip_platforms(target.platform), f"linux_{target.platform.split('-')[0]}"]
    python = (major, minor)
    tags = list(cpython_tags(python, platforms=platforms)) + list(compatible_tags(python, f"cp{major}{minor}", platforms))
    return frozenset(tags)


def _environment(target: Target) -> dict[str, str]:
    """PEP 508 marker values of ``target`` (no extra)."""
    if "apple-darwin" in target.platform:
        system = {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"}
    elif "windows" in target.platform:
        system = {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"}
    else:
        system = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
    machine = target.platform.split("-")[0]
    if "windows" in target.platform:
        machine = {"x86_64": "AMD64", "aarch64": "ARM64", "i686": "x86"}.get(machine, machine)
    elif "apple" in target.platform and machine == "aarch64":
        machine = "arm64"
    return {**system, "platform_machine": machine, "python_version": target.python,
            "python_full_version": f"{target.python}.0", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "implementation_version": f"{target.python}.0",
            "platform_release": "", "platform_version": "", "extra": ""}


def _usable(wheel: _Wheel, target: Target, supported: frozenset[Tag]) -> bool:
    # X.Y.99 as conda's solver reads a target X.Y (python >=3.8.1 serves 3.8)
    python_ok = wheel.requires_python is None or wheel.requires_python.contains(f"{target.python}.99", prereleases=True)
    return python_ok and bool(wheel.tags & supported)


def targets_for(wheels: Iterable[Path], pythons: Sequence[str], subdir: str) -> dict[str, list[Target]]:
    """For each wheel file name, the targets it is meant for: each of
    ``pythons`` (``X.Y``) whose tags it carries and that its own
    ``Requires-Python`` admits, on the machine of conda ``subdir`` new enough
    for every wheel of the set (the highest manylinux glibc or macOS version
    among their tags). Unreadable files are left out."""
    return _targets([w for w in (_read_wheel(Path(p)) for p in wheels) if w is not None], pythons, subdir)


def _targets(read: list[_Wheel], pythons: Sequence[str], subdir: str) -> dict[str, list[Target]]:
    machine = _machine(read, subdir)
    result: dict[str, list[Target]] = {}
    for wheel in read:
        chosen = []
        for python in pythons:
            target = Target(python, *machine) if machine else None
            if target is not None and _usable(wheel, target, _supported(target)):
                chosen.append(target)
        result[wheel.path.name] = chosen
    return result


def _machine(wheels: list[_Wheel], subdir: str) -> tuple[str, str | None] | None:
    """uv's ``--python-platform`` value and the macOS version of the machine
    a set of wheels for conda ``subdir`` is checked on; None for a subdir
    uv has no such value for (``linux-ppc64le``, ``linux-s390x`` ...)."""
    if subdir in _WINDOWS:
        return _WINDOWS[subdir][0], None
    platforms = {tag.platform for wheel in wheels for tag in wheel.tags}
    if subdir in _MACOS:
        uv, arch = _MACOS[subdir]
        newest = (11, 0) if arch == "arm64" else (10, 9)
        for platform in platforms:
            parts = platform.split("_")
            if len(parts) >= 4 and parts[0] == "macosx" and parts[1].isdigit() and parts[2].isdigit():
                newest = max(newest, (int(parts[1]), int(parts[2])))
        return uv, f"{newest[0]}.{newest[1]}"
    import platform as _platform

    if subdir != "noarch" and subdir not in _LINUX:
        return None
    arch = _LINUX.get(subdir) or {"arm64": "aarch64"}.get(_platform.machine(), _platform.machine())
    if arch not in _LINUX.values():
        return None
    glibc = 17
    for platform in platforms:
        parts = platform.split("_")
        if len(parts) >= 4 and parts[0] == "manylinux" and parts[1] == "2" and parts[2].isdigit():
            glibc = max(glibc, int(parts[2]))
        elif platform.startswith("manylinux2014") or platform.startswith("manylinux1"):
            continue
    uv_glibc = next((m for m in _UV_MANYLINUX if m >= glibc), None)
    if uv_glibc is None:  # newer than uv knows: such wheels are reported unchecked
        uv_glibc = _UV_MANYLINUX[-1]
    return f"{arch}-manylinux_2_{uv_glibc}", None


def _resolve(tool: Installer, requirements: list[str], links: Path, target: Target, usable: list[Path]) -> str | None:
    """Run the resolver for ``requirements`` (PEP 508 lines) against the
    directory ``links`` alone; None when it finds a solution, else its
    explanation. ``usable``: the wheels of ``links`` whose Requires-Python
    admits the target; pip, which checks Requires-Python against the
    interpreter running it (pypa/pip#11664), sees only those (uv reads
    ``--python-version``)."""
    try:
        return _run_resolver(tool, requirements, links, target, usable)
    except subprocess.TimeoutExpired:
        return "the resolver did not finish in 600 s"


def _run_resolver(tool: Installer, requirements: list[str], links: Path, target: Target, usable: list[Path]
                  ) -> str | None:
    env = clean_environment()
    if target.macos:
        env["MACOSX_DEPLOYMENT_TARGET"] = target.macos
    with work_dir("resolve-") as tmp:
        listing = Path(tmp) / "requirements.txt"
        listing.write_text("".join(f"{line}\n" for line in requirements))
        if tool.kind == "uv":
            argv = [*tool.command, "pip", "compile", "-q", "--no-config", "--offline", "--no-cache", "--no-index",
                    "--no-build", "--no-header", "--find-links", str(links), "--python", sys.executable,
                    "--python-version", target.python, "--python-platform", target.platform,
                    "-o", str(Path(tmp) / "out.txt"), str(listing)]
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
            return None if done.returncode == 0 else _explanation(done.stderr)
        platforms = [arg for tag in sorted(_supported_platforms(target)) for arg in ("--platform", tag)]
        report = Path(tmp) / "report.json"
        view = Path(tmp) / "links"  # links of our own making to regular files _read_wheel checked
        view.mkdir()
        for wheel in usable:
            (view / wheel.name).symlink_to(wheel)
        links = view
        argv = [*tool.command, "install", "-q", "--dry-run", "--ignore-installed", "--target", str(Path(tmp) / "t"),
                *platforms, "--python-version", target.python, "--implementation", "cp", "--only-binary", ":all:",
                "--no-cache-dir", "--no-index", "--disable-pip-version-check", "--ignore-requires-python",
                "--find-links", str(links), "--report", str(report), "-r", str(listing)]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            return _explanation(done.stderr)
        # pip checks Requires-Python against its own interpreter (pypa/pip#11664): checked here.
        try:
            installs = json.loads(report.read_text()).get("install", [])
        except (OSError, ValueError):
            return "pip wrote no readable --report"
        for entry in installs:
            meta = entry.get("metadata", {}) if isinstance(entry, dict) else {}
            requires = meta.get("requires_python")
            try:
                if requires and not SpecifierSet(str(requires)).contains(f"{target.python}.99", prereleases=True):
                    return f"{meta.get('name')} {meta.get('version')} requires Python {requires}"
            except InvalidSpecifier:
                return f"{meta.get('name')} has an invalid Requires-Python {requires!r}"
        return None


def _supported_platforms(target: Target) -> set[str]:
    return {tag.platform for tag in _supported(target) if tag.platform != "any"}


def _explanation(stderr: str) -> str:
    """The resolver's reason, without warnings and framing, on one line per sentence."""
    lines = [line.strip() for line in stderr.splitlines()]
    kept = [line for line in lines if line and not line.lower().startswith("warning")]
    text = " ".join(kept)
    for prefix in ("error: No solution found when resolving dependencies", "× No solution found when resolving dependencies"):
        text = text.replace(prefix + ":", "").replace(prefix, "")
    text = text.replace("cause:", "").replace("╰─▶", "").strip()
    return text[:4000] or "the resolver refused without saying why"


def _walk(item: _Wheel, target: Target, catalogue: _Catalogue, supported: frozenset[Tag]
          ) -> tuple[tuple[str, ...], Requirement | None]:
    """The requirement chain from ``item`` to the first requirement no wheel
    satisfies (breadth first, newest candidate), or ``((), None)``."""
    environment = _environment(target)
    start = f"{item.name} {item.version}"
    queue: list[tuple[_Wheel, tuple[str, ...]]] = [(item, (start,))]
    seen = {(item.name, item.version)}
    while queue:
        wheel, chain = queue.pop(0)
        for requirement in wheel.requires:
            if requirement.marker is not None and not _applies(requirement.marker, environment):
                continue
            candidates = [w for w in catalogue.wheels.get(canonicalize_name(requirement.name), [])
                          if _usable(w, target, supported)]
            matching = [w for w in candidates
                        if w.version in set(requirement.specifier.filter([c.version for c in candidates]))]
            if not matching:
                return (*chain, str(requirement)), requirement
            best = max(matching, key=lambda w: w.version)
            if (best.name, best.version) not in seen:
                seen.add((best.name, best.version))
                queue.append((best, (*chain, f"{best.name} {best.version}")))
    return (), None


def _applies(marker: Marker, environment: dict[str, str]) -> bool:
    try:
        return marker.evaluate(environment)
    except Exception:  # an undefined marker variable: not for this target
        return False


@dataclass(frozen=True)
class WheelhouseCheck:
    """What :func:`check_wheelhouse` found: ``problems``, the items the
    resolver refused, sorted by target and item (empty when the set
    installs); ``checked``: per target label, how many of the wheels were
    checked for it; ``unchecked``: wheels written that no target could check
    (unreadable, or for a platform or Python none of the targets is), so a
    check that checked nothing never reads as a pass."""

    problems: tuple[Unresolvable, ...]
    checked: tuple[tuple[str, int], ...]
    unchecked: tuple[str, ...]

    def summary(self) -> list[str]:
        """One line per target, ``"<target>: N of M wheels install"``, and one
        for the unchecked wheels."""
        bad: dict[str, set[str]] = {}
        for problem in self.problems:
            if problem.wheel is not None:
                bad.setdefault(problem.target.label(), set()).add(problem.wheel)
        lines = [f"{label}: {count - len(bad.get(label, ()))} of {count} wheels install" for label, count in self.checked]
        if self.unchecked:
            lines.append(f"not checked (no target this check can resolve for): {', '.join(self.unchecked)}")
        return lines


def check_wheelhouse(wheel_dir: Path, wheels: Sequence[str], pythons: Sequence[str], subdir: str,
                     jobs: int = 2, progress: Callable[[str], None] | None = None) -> WheelhouseCheck:
    """Resolve ``wheels`` (file names in ``wheel_dir``) for every target they
    are meant for (:func:`targets_for`), against ``wheel_dir`` alone (see the
    module docstring); a :class:`WheelhouseCheck`. ``jobs``: resolver runs at
    once when a failed run is split. ``progress`` receives a status message
    per target (``wheelhouse check [i/n]: ...``) and per round of splitting.

    Raises :class:`~press.venvs.NoInstaller` when neither uv nor pip runs."""
    wheel_dir = Path(wheel_dir).resolve()
    tool = find_installer()
    catalogue = _Catalogue()
    for path in sorted(wheel_dir.glob("*.whl")):
        read = _read_wheel(path)
        if read is not None:
            catalogue.add(read)
    by_file = {w.path.name: w for ws in catalogue.wheels.values() for w in ws}
    meant = _targets([by_file[name] for name in dict.fromkeys(wheels) if name in by_file], pythons, subdir)
    unchecked = tuple(sorted(name for name in set(wheels) if not meant.get(name)))
    per_target: dict[Target, list[_Wheel]] = {}
    for name, targets in meant.items():
        for target in targets:
            per_target.setdefault(target, []).append(by_file[name])
    problems: list[Unresolvable] = []
    say = progress or (lambda message: None)
    for position, (target, written) in enumerate(sorted(per_target.items(),
                                                        key=lambda kv: (kv[0].platform, Version(kv[0].python))), 1):
        say(f"wheelhouse check [{position}/{len(per_target)}]: resolving {len(written)} wheels for {target.label()}")
        supported = _supported(target)
        names = sorted({w.name for w in written})
        items: list[tuple[str, str, _Wheel]] = [(n, n, max((w for w in written if w.name == n),
                                                          key=lambda w: w.version)) for n in names]
        items += [(w.path.name, f"{w.name} @ {w.path.as_uri()}", w) for w in sorted(written, key=lambda w: w.path.name)]
        candidates = [w.path for ws in catalogue.wheels.values() for w in ws if _usable(w, target, supported)]
        refused = _refused(tool, [(label, line) for label, line, _ in items], wheel_dir, target, jobs, candidates,
                           lambda parts: say(f"wheelhouse check [{position}/{len(per_target)}]: {target.label()}: "
                                             f"narrowing down what does not install ({parts} resolver runs)"))
        for label, line, wheel in items:
            if label not in refused:
                continue
            chain, missing = _walk(wheel, target, catalogue, supported)
            available: tuple[str, ...] = ()
            elsewhere: tuple[str, ...] = ()
            conda_name = None
            if missing is not None:
                others = catalogue.wheels.get(canonicalize_name(missing.name), [])
                usable = [w for w in others if _usable(w, target, supported)]
                available = tuple(sorted({str(w.version) for w in usable}, key=Version))
                elsewhere = tuple(sorted(w.path.name for w in others if w not in usable))
                conda_name = next((w.conda_name for w in others if w.conda_name), None)
            problems.append(Unresolvable(label, target, refused[label], chain,
                                         str(missing) if missing else None, available, conda_name, elsewhere,
                                         wheel.path.name))
    checked = tuple((target.label(), len(written)) for target, written in
                    sorted(per_target.items(), key=lambda kv: (kv[0].platform, Version(kv[0].python))))
    return WheelhouseCheck(tuple(problems), checked, unchecked)


def _refused(tool: Installer, items: list[tuple[str, str]], wheel_dir: Path, target: Target, jobs: int,
             usable: list[Path], splitting: Callable[[int], None] | None = None) -> dict[str, str]:
    """``{label: explanation}`` of the requirement lines the resolver refuses
    alone: one joint run per layer of distinct names, and a layer that fails
    is split in halves until the lines that fail alone are found (a few runs
    for a few bad lines among many; lines that conflict only with each other
    pass alone and are not reported). ``jobs``: halves resolved at once;
    ``splitting`` is told how many runs each round of splitting makes."""
    layers: list[list[tuple[str, str]]] = []
    for label, line in items:
        name = canonicalize_name(line.split(" @ ")[0])
        layer = next((lay for lay in layers if all(canonicalize_name(ln.split(" @ ")[0]) != name for _, ln in lay)), None)
        if layer is None:
            layers.append([(label, line)])
        else:
            layer.append((label, line))
    refused: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        pending = [(layer, _resolve(tool, [line for _, line in layer], wheel_dir, target, usable)) for layer in layers]
        while pending:
            halves = []
            for part, why in pending:
                if why is None:
                    continue
                if len(part) == 1:
                    refused[part[0][0]] = why
                    continue
                middle = len(part) // 2
                halves += [part[:middle], part[middle:]]
            if halves and splitting is not None:
                splitting(len(halves))
            verdicts = list(pool.map(lambda part: _resolve(tool, [line for _, line in part], wheel_dir, target, usable),
                                     halves))
            pending = list(zip(halves, verdicts))
    return refused


__all__ = ["METADATA_LIMIT", "NoInstaller", "Target", "Unresolvable", "WheelhouseCheck", "check_wheelhouse",
           "targets_for"]
