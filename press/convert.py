"""The conversion pipeline: specs or artifacts in, wheels out.

channel (solve) -> fetch -> artifact (unpack) -> layout -> relocate ->
metadata/tags -> wheel -> validate. :func:`convert` is the entry point the CLI
and release scripts call.
"""

from __future__ import annotations

import os
import posixpath
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from packaging.utils import canonicalize_name

from . import __version__
from .artifact import Artifact, is_artifact_path, open_artifact
from .channel import DEFAULT_CHANNEL, load_repodata_patch, native_subdir, solve
from .contained import Root
from .errors import PressError
from .package import parse_record_depends, site_packages_prefix
from .fetch import fetch
from .layout import Layout, add_artifact, launcher_module, prune_vendored
from .metadata import (
    build_metadata,
    is_plumbing,
    pypi_name_from,
    requirement,
    wheel_name_for_conda,
)
from .relocate.elf import ElfInfo
from .relocate.linux import relocate_linux
from .relocate.macho import MachOInfo
from .relocate.macos import relocate_macos
from .relocate.pe import PEInfo
from .relocate.windows import relocate_windows
from .report import ConversionReport, WheelReport
from .tags import SUBDIR_PLATFORMS, python_tags
from .version import to_pep440
from .wheel import Member, write_wheel

Progress = Callable[[str], None]


@dataclass
class ConvertOptions:
    """Options of :func:`convert` (the CLI flags of the same names).

    ``channels``: channel names, URLs or directories, highest priority first;
    ``subdir``: target conda subdir; ``python``: target interpreter ``X.Y``
    (default: the one running press); ``fatten``: vendor the non-Python closure;
    ``bundle_python_deps``: with ``fatten``, also merge Python dependencies
    into the one wheel; ``wheel_dir``: output directory; ``cache_dir``:
    downloads and channel indexes (default: the platform cache directory);
    ``validate``/``python_exe``: see :mod:`press.validate`;
    ``repodata_patch``: a JSON file of patch instructions per subdir applied
    to local directory channels; ``prefer``: conda package names whose copy
    wins when packages merged into one wheel ship the same path with
    different bytes (earliest first; without it such a clash is an error);
    ``python_deps_elsewhere``: conda names of Python dependencies whose
    wheels something else builds (a batch's other jobs), so a fat conversion
    does not build them again.
    """

    channels: list[str] = field(default_factory=lambda: [DEFAULT_CHANNEL])
    subdir: str = field(default_factory=native_subdir)
    python: str | None = None
    fatten: bool = False
    bundle_python_deps: bool = False
    wheel_dir: Path = Path("wheelhouse")
    cache_dir: Path | None = None
    validate: bool = True
    python_exe: Path | None = None
    repodata_patch: Path | None = None
    compresslevel: int = 6
    prefer: list[str] = field(default_factory=list)
    python_deps_elsewhere: frozenset[str] = frozenset()


def default_cache_dir() -> Path:
    """``$PRESS_CACHE_DIR`` or the platform user cache directory for press."""
    if os.environ.get("PRESS_CACHE_DIR"):
        return Path(os.environ["PRESS_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("press"))


def is_python_package(artifact: Artifact) -> bool:
    """True for ``noarch: python`` packages and packages with site-packages content."""
    return artifact.noarch == "python" or any(site_packages_prefix(e.path) for e in artifact.paths)


def distribution_name(artifact: Artifact) -> str:
    """The wheel's distribution name: from the package's own Python metadata,
    else derived from the conda name (see :mod:`press.metadata`)."""
    return pypi_name_from(artifact.dist_infos, artifact.name) or wheel_name_for_conda(artifact.name)


def _spec_name(spec: str) -> str:
    from rattler import MatchSpec

    return MatchSpec(spec).name.normalized


class _Session:
    """State of one :func:`convert` call: the work directory, unpacked artifacts."""

    def __init__(self, options: ConvertOptions, progress: Progress) -> None:
        self.options = options
        self.progress = progress
        self.cache_dir = Path(options.cache_dir or default_cache_dir())
        self.tmp = tempfile.TemporaryDirectory(prefix="press-")
        self.work = Path(self.tmp.name)
        self.opened: dict[str, Artifact] = {}
        self.stages = 0
        self.patches = load_repodata_patch(options.repodata_patch) if options.repodata_patch else None

    def new_stage(self) -> Root:
        """A fresh contained directory for one wheel's edited copies."""
        self.stages += 1
        return Root(self.work / "stage" / str(self.stages), create=True)

    def open(self, path: Path, sha256: str | None = None) -> Artifact:
        key = str(Path(path).resolve())
        if key not in self.opened:
            self.progress(f"unpacking {Path(path).name}")
            self.opened[key] = open_artifact(Path(path), self.work / "unpacked" / str(len(self.opened)), sha256)
        return self.opened[key]

    def open_record(self, record) -> Artifact:
        """Fetch and unpack the artifact of a repodata record. The record's
        ``depends`` replace the archive's own: repodata is the channel's truth
        (conda-forge's hotfixes live there, not in the archives)."""
        notes: list[str] = []
        path, sha256 = fetch(record, self.cache_dir, notes)
        for note in notes:
            self.progress(note)
        artifact = self.open(path, sha256)
        return artifact.with_depends(parse_record_depends(record.depends, artifact.label))

    def closure(self, specs: list[str], records: list | None = None) -> dict[str, Artifact]:
        """Solve (unless ``records``, an already solved closure, is given),
        fetch and unpack; returns conda name -> artifact."""
        if records is None:
            self.progress(f"solving {' '.join(specs)} for {self.options.subdir} (python {self.options.python})")
            notes: list[str] = []
            records = solve(specs, self.options.channels, self.options.subdir, self.options.python, self.cache_dir,
                            self.patches, notes)
            for note in notes:
                self.progress(note)
        result = {}
        for index, record in enumerate(records, 1):
            self.progress(f"fetching [{index}/{len(records)}] {record.file_name}")
            result[record.name.normalized] = self.open_record(record)
        return result


def _start(options: ConvertOptions | None, progress: Progress | None) -> tuple[ConvertOptions, _Session, ConversionReport]:
    """Defaults filled in (Python: the running interpreter), a session, an
    empty report, and the wheel directory created."""
    options = options or ConvertOptions()
    if options.python is None:
        options.python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    session = _Session(options, progress or (lambda message: None))
    Path(options.wheel_dir).mkdir(parents=True, exist_ok=True)
    return options, session, ConversionReport()


def convert(
    targets: list[str],
    options: ConvertOptions | None = None,
    progress: Progress | None = None,
) -> ConversionReport:
    """Convert conda specs or artifact files into wheels in ``options.wheel_dir``.

    ``targets``: MatchSpec strings (``cffi``, ``iminuit=1.3.7``) and/or paths
    of ``.conda``/``.tar.bz2`` files. Thin mode writes one wheel per conda
    package of the solved closure (plumbing such as ``_libgcc_mutex`` left
    out); ``fatten`` writes one wheel per requested spec with the non-Python
    closure vendored, plus a wheel for every Python dependency so the wheel
    directory installs offline. ``progress`` receives short status strings.

    Returns a :class:`ConversionReport`. Raises a :class:`PressError` subclass
    for bad input (nothing half-written is left in the wheel directory).
    """
    options, session, report = _start(options, progress)
    try:
        files = [t for t in targets if is_artifact_path(t)]
        specs = [t for t in targets if t not in files]
        for target in targets:
            if target not in files and target.endswith((".conda", ".tar.bz2")) and ("/" in target or os.sep in target):
                raise PressError("no such artifact file", package=target)
        jobs: list[tuple[Artifact, dict[str, Artifact]]] = []
        for path in files:
            artifact = session.open(Path(path))
            closure = {artifact.name: artifact}
            if options.fatten:
                deps = [d for d in artifact.depends if not is_plumbing(_spec_name(d))]
                if deps:
                    closure.update(session.closure(deps))
                closure[artifact.name] = artifact
            jobs.append((artifact, closure))
        if specs:
            closure = session.closure(specs)
            names = [_spec_name(s) for s in specs]
            if options.fatten:
                jobs += [(closure[n], closure) for n in names]
            else:
                jobs += [(a, closure) for n, a in sorted(closure.items()) if not is_plumbing(n)]
        _build_all(jobs, options, session, report)
    finally:
        session.tmp.cleanup()
    return report


def convert_records(
    records: list,
    options: ConvertOptions | None = None,
    progress: Progress | None = None,
    closures: dict[str, list] | None = None,
) -> ConversionReport:
    """Convert the artifacts of repodata records, one wheel each (the batch API).

    ``records``: rattler ``RepoDataRecord`` objects (or anything with ``name``,
    ``file_name``, ``url``, ``sha256`` and ``depends``). Thin mode converts
    exactly these artifacts, with no solve. ``fatten`` vendors each record's
    closure: ``closures`` maps a record's file name to its solved closure
    (records, as :func:`press.channel.solve` returns them); without an entry
    the closure is solved here. The records' ``depends`` replace the archives'
    own (repodata carries the channel's hotfixes). Returns and raises as
    :func:`convert` does.
    """
    options, session, report = _start(options, progress)
    try:
        jobs: list[tuple[Artifact, dict[str, Artifact]]] = []
        for record in records:
            name = record.name.normalized if hasattr(record.name, "normalized") else str(record.name)
            if options.fatten:
                spec = f"{name}=={record.version}={record.build}"
                closure = session.closure([spec], (closures or {}).get(record.file_name))
                jobs.append((closure[name], closure))
            else:
                artifact = session.open_record(record)
                jobs.append((artifact, {artifact.name: artifact}))
        _build_all(jobs, options, session, report)
    finally:
        session.tmp.cleanup()
    return report


def _build_all(
    jobs: list[tuple[Artifact, dict[str, Artifact]]], options: ConvertOptions, session: _Session, report: ConversionReport
) -> None:
    """Build the wheels of ``jobs`` (plus, when fat, of their Python
    dependencies) into ``report``, then validate them if asked."""
    done: set[str] = set()
    queue = list(jobs)
    while queue:
        main, closure = queue.pop(0)
        if main.label in done:
            continue
        done.add(main.label)
        wheel, python_deps = build_wheel(main, closure, options, session)
        report.wheels.append(wheel)
        session.progress(f"wrote {wheel.summary()}")
        if options.fatten and not options.bundle_python_deps:
            queue += [(dep, closure) for dep in python_deps if dep.name not in options.python_deps_elsewhere]
    if options.validate:
        from .validate import validate_wheel

        for wheel in report.wheels:
            session.progress(f"validating {Path(wheel.path).name}")
            wheel.validation = validate_wheel(wheel, options)


def _walk_closure(main: Artifact, closure: dict[str, Artifact], bundle_python: bool) -> tuple[list[Artifact], list[str], list[Artifact]]:
    """Vendored artifacts, Requires-Dist specs and Python dependency artifacts of ``main``."""
    vendored: list[Artifact] = []
    requires: list[str] = []
    python_deps: list[Artifact] = []
    seen = {main.name}
    stack = [main]
    while stack:
        current = stack.pop(0)
        for spec in current.depends:
            name = _spec_name(spec)
            if is_plumbing(name):
                continue
            dep = closure.get(name)
            if dep is None:
                continue
            if is_python_package(dep) and not bundle_python:
                requires.append(spec)
                if dep not in python_deps:
                    python_deps.append(dep)
                continue
            if name in seen:
                continue
            seen.add(name)
            vendored.append(dep)
            stack.append(dep)
    return vendored, requires, python_deps


def _libs_dir(name: str) -> str:
    return canonicalize_name(name).replace("-", "_") + ".libs"


#: wheel platform family -> (binary info class, relocation function).
_RELOCATORS = {
    "linux": (ElfInfo, relocate_linux),
    "macosx": (MachOInfo, relocate_macos),
    "win": (PEInfo, relocate_windows),
}


def build_wheel(
    main: Artifact,
    closure: dict[str, Artifact],
    options: ConvertOptions,
    session: _Session,
) -> tuple[WheelReport, list[Artifact]]:
    """Build one wheel for ``main`` (thin, or fat with ``closure``) into the wheel dir.

    Returns its report and the Python dependencies that need wheels of their own.
    """
    fat = options.fatten
    name = distribution_name(main)
    layout = Layout(libs_dir=_libs_dir(name), prefer=list(options.prefer))
    vendored_artifacts, requires_specs, python_deps = ([], list(main.depends), [])
    if fat:
        vendored_artifacts, requires_specs, python_deps = _walk_closure(main, closure, options.bundle_python_deps)
    add_artifact(layout, main, main=True)
    for dep in vendored_artifacts:
        add_artifact(layout, dep, main=is_python_package(dep))
    layout.check_conflicts()
    if fat:
        prune_vendored(layout, {main.label} | {a.label for a in vendored_artifacts if is_python_package(a)})
    name_map = {n: distribution_name(a) for n, a in closure.items()}
    requires = [r for r in (requirement(s, name_map, main.label) for s in requires_specs) if r]
    # Thin wheels find their dependencies' libraries in the sibling <dep>.libs.
    dependency_libs = []
    if not fat:
        for spec in main.depends:
            dep_name = _spec_name(spec)
            if not is_plumbing(dep_name) and not (dep_name in closure and is_python_package(closure[dep_name])):
                dependency_libs.append(_libs_dir(name_map.get(dep_name) or wheel_name_for_conda(dep_name)))
    family, machine = SUBDIR_PLATFORMS.get(main.subdir, ("any", "any")) if main.subdir != "noarch" else ("any", "any")
    if family == "any" and main.subdir != "noarch":
        raise PressError(f"unknown subdir {main.subdir}", package=main.label)
    stage = session.new_stage()
    dist = canonicalize_name(name).replace("-", "_")
    info_class, relocator = _RELOCATORS.get(family, (None, None))
    notes = layout.all_notes()
    binaries = [f for f in layout.files.values() if info_class is not None and isinstance(f.binary, info_class)]
    relocation = None
    if binaries:
        kwargs = {"dist": dist} if family == "win" else {}
        relocation = relocator(layout, fat=fat, dependency_libs=dependency_libs, stage=stage, machine=machine, **kwargs)
        notes += relocation.notes
        platform = relocation.platform
    else:
        platform = "any"
    # Extension modules of the target platform's format only (conda's linux
    # package ships Windows launchers in site-packages, for instance).
    extensions = [
        posixpath.basename(e) for e in layout.extensions
        if e.endswith((".so", ".pyd")) and e in layout.files and info_class is not None
        and isinstance(layout.files[e].binary, info_class)
    ]
    tags = python_tags(main.depends, extensions)
    version = to_pep440(main.version, main.label)
    build_tag = f"{main.build_number}_{''.join(c if c.isascii() and c.isalnum() else '_' for c in main.build)}"
    tag = f"{tags.python}-{tags.abi}-{platform}"
    filename = f"{dist}-{version}-{build_tag}-{tag}.whl"
    dist_info = f"{dist}-{version}.dist-info"
    members: list[Member] = []
    placeholders: list[list[str]] = []
    for arc, staged in sorted(layout.files.items()):
        members.append(Member(arc, root=staged.root, rel=staged.rel, executable=bool(staged.mode & 0o111)))
        if staged.placeholder:
            placeholders.append([arc, staged.placeholder_mode or "text"])
    data_members = []
    for script_name, script in sorted(layout.scripts.items()):
        data_members.append(f"{dist}-{version}.data/scripts/{script_name}")
        members.append(Member(data_members[-1], root=script.root, rel=script.rel, header=b"#!python\n",
                              skip=script.skip, executable=True))
    entry_points = {g: dict(v) for g, v in layout.entry_points.items()}
    if layout.commands:
        module = f"_press_commands_{dist}"
        loader = f"_press_dlls_{dist}" if f"_press_dlls_{dist}.py" in layout.files else None
        members.append(Member(f"{module}.py", data=launcher_module(layout.commands, loader).encode()))
        console = entry_points.setdefault("console_scripts", {})
        for index, command in enumerate(sorted(layout.commands)):
            console.setdefault(command, f"{module}:cmd_{index}")
    license_files = []
    for artifact, prefix in [(main, "")] + [(a, f"vendored/{a.name}/") for a in vendored_artifacts]:
        for license_path in artifact.licenses:
            license_files.append(prefix + license_path)
            members.append(Member(f"{dist_info}/licenses/{prefix}{license_path}", root=artifact.root,
                                  rel=f"info/licenses/{license_path}"))
    members.append(Member(f"{dist_info}/METADATA", data=build_metadata(main, name, requires, license_files)))
    wheel_text = (
        "Wheel-Version: 1.0\n"
        f"Generator: press {__version__}\n"
        f"Root-Is-Purelib: {'true' if platform == 'any' else 'false'}\n"
        f"Tag: {tag}\n"
        f"Build: {build_tag}\n"
    )
    members.append(Member(f"{dist_info}/WHEEL", data=wheel_text.encode()))
    if entry_points:
        text = "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in sorted(points.items())) + "\n"
            for group, points in sorted(entry_points.items())
        )
        members.append(Member(f"{dist_info}/entry_points.txt", data=text.encode()))
    timestamp = main.identity.timestamp / 1000
    out = Path(options.wheel_dir) / filename
    write_wheel(out, members, timestamp=timestamp, compresslevel=options.compresslevel, data_members=data_members)
    wheel = WheelReport(
        path=str(out),
        name=name,
        version=version,
        tags=tag,
        size=out.stat().st_size,
        conda_packages=[main.source.name] + [a.source.name for a in vendored_artifacts],
        requires_dist=sorted(requires),
        vendored_libraries=relocation.vendored if relocation else [],
        external_libraries=sorted(relocation.external) if relocation else [],
        dependencies=relocation.dependencies if relocation else {},
        relocated=relocation.changed if relocation else [],
        commands=sorted(entry_points.get("console_scripts", {})),
        placeholders=placeholders,
        notes=notes,
        test_imports=list(dict.fromkeys(
            list(main.test_imports) + [i for a in vendored_artifacts if is_python_package(a) for i in a.test_imports]
        )),
    )
    return wheel, python_deps
