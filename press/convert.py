"""The conversion pipeline: specs or artifacts in, wheels out.

channel (solve) -> fetch -> artifact (unpack) -> layout -> relocate ->
metadata/tags -> wheel -> validate. :func:`convert` is the entry point the CLI
and release scripts call.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from packaging.utils import canonicalize_name

from . import __version__
from .artifact import Artifact, is_artifact_path, open_artifact
from .channel import DEFAULT_CHANNEL, load_repodata_patch, native_subdir, python_versions, solve
from .contained import Root
from .errors import PressError, SolveError, SpecError
from .package import UpstreamMetadata, parse_record_depends
from .limits import limit
from .sbom import SBOM_NAME, build_sbom, read_sources
from .prefix import binary_paths, covered, rewrite_placeholders
from .plan import facts_of, is_python_package, plan_wheel
from .providers import foreign_links, libs_dir
from .fetch import fetch
from .environment import MODULE as ENV_MODULE, WheelSetting, module_source, resolve as resolve_environment
from .environment import declared as declared_environment
from .layout import (Layout, StagedFile, add_artifact, exclude_vendored, launcher_module, prune_vendored,
                     reserve_module)
from .matchspec import is_plumbing, spec_name
from .metadata import build_metadata
from . import native
from .names import Names, PackageFacts, load_mapping, native_prefix
from .owners import TopLevelOwners, startup_hooks
from .relocate.common import Relocation, import_in_packages
from .relocate.elf import ElfInfo
from .relocate.linux import relocate_linux
from .relocate.macho import MachOInfo
from .relocate.macos import relocate_macos
from .relocate.pe import PEInfo
from .relocate.strip import Stripper, not_stripped_note
from .relocate.windows import relocate_windows
from .report import ConversionReport, WheelReport
from .tags import SUBDIR_PLATFORMS, compressed_platform, platform_tags, python_tags
from .wheel import Deflater, Member, write_wheel
from .files import writable_dir
from .wheelhouse import WriteLock, claim, mark_pending, release, unmark_pending
from .workdir import WorkDir

if TYPE_CHECKING:
    from rattler import RepoDataRecord

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
    does not build them again; ``name_mapping``: JSON files of conda name ->
    distribution names that override the shipped mapping (``--name-mapping``);
    ``native_prefix``: the distribution-name prefix of native packages
    (default: derived from each package's channel, ``conda-forge-``);
    ``known_packages``: what a batch knows of the channel's other packages
    (see :class:`press.names.Names`). Naming: :mod:`press.names`;
    ``plat``: a manylinux policy (``manylinux_2_28_x86_64`` or an alias) no
    Linux wheel may exceed, auditwheel's ``--plat``: a wheel that needs more
    is an error naming the file, library and symbol version;
    ``channel_priority``: ``strict`` (default), ``flexible`` or ``disabled``,
    conda's meanings (see :func:`press.channel.solve`); ``exclude``: fnmatch
    globs of vendored files or libraries a fat wheel leaves out (auditwheel's
    ``--exclude``: an excluded library is expected on the target system and
    does not count for the tag); ``include_dev``: keep vendored headers,
    pkg-config and CMake files; ``strip``: remove the symbol table and debug
    sections of the ELF files a wheel ships, after relocation
    (auditwheel's ``--strip``, :mod:`press.relocate.strip`).
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
    name_mapping: list[Path] = field(default_factory=list)
    native_prefix: str | None = None
    known_packages: tuple[PackageFacts, ...] = ()
    plat: str | None = None
    channel_priority: str = "strict"
    exclude: list[str] = field(default_factory=list)
    include_dev: bool = False
    check: bool = True
    strip: bool = False


def default_cache_dir() -> Path:
    """``$PRESS_CACHE_DIR`` or the platform user cache directory for press."""
    if os.environ.get("PRESS_CACHE_DIR"):
        return Path(os.environ["PRESS_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("press"))


def distribution_name(artifact: Artifact, names: Names | None = None) -> str:
    """The wheel's distribution name (:mod:`press.names`: the package's own
    Python metadata, else the name mapping, else a native name)."""
    names = names or Names(load_mapping())
    return names.distribution(facts_of(artifact))


def channel_of_path(path: Path) -> str | None:
    """The channel directory of an artifact file inside a channel layout
    (``<channel>/<subdir>/<file>``), else None."""
    from .tags import SUBDIR_PLATFORMS

    parent = Path(path).resolve().parent
    if parent.name in SUBDIR_PLATFORMS or parent.name == "noarch":
        return str(parent.parent)
    return None




class _Session:
    """State of one :func:`convert` call: the work directory, unpacked artifacts."""

    def __init__(self, options: ConvertOptions, progress: Progress) -> None:
        self.options = options
        self.progress = progress
        self.cache_dir = writable_dir(Path(options.cache_dir or default_cache_dir()), "--cache-dir")
        self.tmp = WorkDir()  # $TMPDIR/press-*, removed by a later run if this one is killed
        self.work = self.tmp.path
        self.opened: dict[str, Artifact] = {}
        self.stages = 0
        self.patches = load_repodata_patch(options.repodata_patch) if options.repodata_patch else None
        self.names = Names(load_mapping(self.cache_dir, tuple(Path(p) for p in options.name_mapping)),
                           options.native_prefix).with_known(options.known_packages)
        self.channel_names: dict[str, str] = {}
        self._deflater: Deflater | None = None
        self.owners = TopLevelOwners()  # no two wheels of one conversion ship the same top-level file
        self.lock: WriteLock | None = None  # held on the wheel directory while the session writes there
        #: wheels written with requested steps still to do (validation, the wheelhouse check), marked
        #: pending in the wheel directory (:func:`~press.wheelhouse.mark_pending`); None: not tracked
        self.pending: list[str] | None = None
        #: the progress message of the wheel being built (``building [i/n] name version``), which
        #: :func:`build_wheel` extends with its slow steps (relocating, compressing)
        self.building = "building"

    @property
    def deflater(self) -> Deflater:
        """The session's deflate workers (made on first use), which start
        compressing wheel members while relocation still edits others."""
        if self._deflater is None:
            self._deflater = Deflater(self.options.compresslevel)
        return self._deflater

    def close(self) -> None:
        """Stop the deflate workers and remove the work directory."""
        if self._deflater is not None:
            self._deflater.close()
        if self.lock is not None:
            self.lock.close()
        self.tmp.close()

    def new_stage(self) -> Root:
        """A fresh contained directory for one wheel's edited copies."""
        self.stages += 1
        return Root(self.work / "stage" / str(self.stages), create=True)

    def open(self, path: Path, sha256: str | None = None, channel: str | None = None) -> Artifact:
        """Unpack an artifact file (once per session); ``channel``: where it
        came from (default: the channel directory it sits in, if any)."""
        key = str(Path(path).resolve())
        if key not in self.opened:
            self.progress(f"unpacking {Path(path).name}")
            notes: list[str] = []
            self.opened[key] = open_artifact(Path(path), self.work / "unpacked" / str(len(self.opened)), sha256,
                                             cache=self.cache_dir / "unpacked", notes=notes)
            for note in notes:  # a cache entry that did not verify, discarded
                self.progress(note)
        return self.opened[key].with_channel(channel or channel_of_path(Path(path)))

    def open_record(self, record: Any) -> Artifact:
        """Fetch and unpack the artifact of a repodata record. The record's
        ``depends`` replace the archive's own: repodata is the channel's truth
        (conda-forge's hotfixes live there, not in the archives)."""
        notes: list[str] = []
        path, sha256 = fetch(record, self.cache_dir, notes)
        for note in notes:
            self.progress(note)
        channel = str(record.channel or "").rstrip("/") or None
        if channel not in self.channel_names and len(self.options.channels) == 1:
            channel = self.options.channels[0]  # a batch's own solve, or its single channel
        artifact = self.open(path, sha256, self.channel_names.get(channel or "", channel))
        return artifact.with_depends(parse_record_depends(record.depends, artifact.label))

    def closure(self, specs: list[str], records: list[RepoDataRecord] | None = None) -> dict[str, Artifact]:
        """Solve (unless ``records``, an already solved closure, is given),
        fetch and unpack; returns conda name -> artifact."""
        if records is None:
            self.progress(f"solving {' '.join(specs)} for {self.options.subdir} (python {self.options.python})")
            notes: list[str] = []
            records = solve(specs, self.options.channels, self.options.subdir, self.options.python, self.cache_dir,
                            self.patches, notes, self.channel_names, self.options.channel_priority)
            for note in notes:
                self.progress(note)
        result = {}
        sizes = [record.size if isinstance(record.size, int) else 0 for record in records]
        for index, record in enumerate(records, 1):
            size = sizes[index - 1]
            shown = f" ({size / 1e6:.1f} MB, {sum(sizes[:index]) / 1e6:.1f} of {sum(sizes) / 1e6:.1f} MB)" if size else ""
            self.progress(f"fetching [{index}/{len(records)}] {record.file_name}{shown}")
            result[record.name.normalized] = self.open_record(record)
        return result


def _start(options: ConvertOptions | None, progress: Progress | None, clean: bool = True
           ) -> tuple[ConvertOptions, _Session, ConversionReport]:
    """Defaults filled in (Python: the running interpreter), a session, an
    empty report, and the wheel directory created and held (:class:`~press.wheelhouse.WriteLock`;
    ``clean``: remove killed runs' leftovers when no other press writes there)."""
    options = options or ConvertOptions()
    if options.plat:
        from .tags import SUBDIR_PLATFORMS, policy_ceiling

        family, machine = SUBDIR_PLATFORMS.get(options.subdir, ("any", "any"))
        if family == "linux":
            try:
                policy_ceiling(options.plat, machine, {})
            except ValueError as exc:
                raise PressError(str(exc), field="--plat") from None
    if options.python is None:
        options.python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    session = _Session(options, progress or (lambda message: None))
    try:
        session.lock = WriteLock(Path(options.wheel_dir), clean=clean)  # creates it; a batch's cleanup waits for it
    except BaseException:
        session.close()
        raise
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
    finished = False
    try:
        files = [t for t in targets if is_artifact_path(t)]
        specs = [t for t in targets if t not in files]
        for target in targets:
            if target not in files and target.endswith((".conda", ".tar.bz2")) and ("/" in target or os.sep in target):
                raise PressError("no such artifact file", package=target)
        jobs: list[tuple[Artifact, dict[str, Artifact]]] = []
        given = {a.name: a for a in (session.open(Path(p)) for p in files)}  # thin: they know each other
        for path in files:
            artifact = session.open(Path(path))
            closure = dict(given) if not options.fatten else {artifact.name: artifact}
            if options.fatten:
                deps = [d for d in artifact.depends if not is_plumbing(spec_name(d))]
                if deps:
                    closure.update(session.closure(deps))
                closure[artifact.name] = artifact
            else:
                closure = {**_thin_file_closure(artifact, Path(path), session, given), **given}
            jobs.append((artifact, closure))
        if specs:
            try:
                closure = session.closure(specs)
            except (SpecError, SolveError) as exc:
                raise _python_hint(exc, specs, options, session) from exc
            names = [spec_name(s) for s in specs]
            for spec, name in zip(specs, names):
                if is_plumbing(name):  # asked for by name: say why nothing comes of it
                    report.skipped.append([spec, f"{name} is conda plumbing (the interpreter, pip, ABI pins, "
                                                 f"mutexes, runtimes): the environment a wheel is installed into "
                                                 f"provides it, press makes no wheel of it"])
            names = [n for n in names if not is_plumbing(n)]
            if options.fatten:
                jobs += [(closure[n], closure) for n in names]
            else:
                jobs += [(a, closure) for n, a in sorted(closure.items()) if not is_plumbing(n)]
        if options.validate or options.check:
            session.pending = []
        _build_all(jobs, options, session, report)
        if options.check and (specs or options.fatten):
            _check(report, options, session.progress)
        finished = True
    finally:
        if session.pending:  # an interrupted or failed run leaves no wheel it did not finish
            unmark_pending(Path(options.wheel_dir), session.pending, remove=not finished)
        session.close()
    return report


def _thin_file_closure(artifact: Artifact, path: Path, session: _Session, given: dict[str, Artifact]
                       ) -> dict[str, Artifact]:
    """What a thin wheel of an artifact file is made with besides the file, as
    a spec's thin wheel is: its dependencies solved against the channels
    (the channel directory the file sits in, before ``-c``'s; only it when
    ``-c`` is left at its default) and the records the wheel's names and
    libraries come from opened (:func:`press.closure.thin_closure`). When the
    dependencies cannot be solved (no channel reachable, a dependency missing)
    the report's progress says so and the names and libraries of the
    dependencies are guessed from the name mapping, as before."""
    from .closure import thin_closure

    options = session.options
    deps = [d for d in artifact.depends if not is_plumbing(spec_name(d)) and spec_name(d) not in given]
    if not deps:
        return {}
    channels = list(options.channels)
    own = channel_of_path(path)
    if own is not None:
        channels = [own] if channels == [DEFAULT_CHANNEL] else [own, *[c for c in channels if c != own]]
    notes: list[str] = []
    try:
        records = solve(deps, channels, options.subdir, options.python, session.cache_dir, session.patches, notes,
                        session.channel_names, options.channel_priority)
    except PressError as exc:
        session.progress(f"{artifact.label}: dependencies not solved ({exc}); their names and libraries are guessed")
        return {}
    return session.closure([], thin_closure(artifact.name, records, [spec_name(d) for d in deps]))


def _check(report: ConversionReport, options: ConvertOptions, progress: Progress | None = None) -> None:
    """The wheelhouse check of :func:`convert`: the wheels of ``report``, for
    ``options.python``, resolved against ``options.wheel_dir`` alone; each one
    that does not install adds a line to ``report.unresolvable``. Without uv
    or pip the check cannot run: that is a line there too, with the remedy
    (a requested check that did not run is not a pass). ``progress``
    receives the check's status messages."""
    from .installable import check_wheelhouse
    from .venvs import NoInstaller

    written = [Path(w.path).name for w in report.wheels]
    if not written or options.python is None:
        return
    try:
        found = check_wheelhouse(Path(options.wheel_dir), written, [options.python], options.subdir,
                                 progress=progress)
    except NoInstaller as exc:  # like validation without a tool: a failure with the remedy
        report.unresolvable.append(f"the wheelhouse check cannot run: {exc}, or --no-wheelhouse-check")
        return
    report.unresolvable += [p.message() for p in found.problems if p.item.endswith(".whl")]


def _python_hint(exc: PressError, specs: list[str], options: ConvertOptions, session: _Session) -> PressError:
    """A solve error, made helpful when the specs have builds for other
    Pythons than the target: which ones the channels have, and the flag to
    ask for them (cibuildwheel's users expect every Python to be an option)."""
    try:
        versions = python_versions(specs, options.channels, options.subdir, session.cache_dir, session.patches)
    except PressError:
        return exc
    if not versions or options.python in versions:
        return exc
    return SolveError(f"no build of {' '.join(specs)} for Python {options.python} in {', '.join(options.channels)} "
                      f"({options.subdir}); the channel has builds for Python {', '.join(versions)}: use "
                      f"--python {versions[0]} (repeatable) or --python all", package=" ".join(specs))


def convert_pythons(
    targets: list[str],
    options: ConvertOptions | None = None,
    pythons: list[str] | tuple[str, ...] = (),
    progress: Progress | None = None,
) -> ConversionReport:
    """:func:`convert` once per Python version, into one wheel directory.

    ``pythons``: ``X.Y`` versions, or ``["all"]`` for every version the
    channels have builds of the spec targets for (newest first; the running
    interpreter's when none pins one). With several versions, each spec is
    converted for the versions it has builds for (a noarch spec for each),
    as cibuildwheel builds every CPython. Returns one report with the wheels
    of every run. Raises what :func:`convert` raises, and
    :class:`~press.errors.SpecError` when no spec has a build for a
    requested version.
    """
    options = options or ConvertOptions()
    progress = progress or (lambda message: None)
    specs = [t for t in targets if not is_artifact_path(t)]
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    cache = Path(options.cache_dir or default_cache_dir())
    patches = load_repodata_patch(options.repodata_patch) if options.repodata_patch else None
    versions = list(dict.fromkeys(pythons))
    per_spec: dict[str, list[str]] = {}
    if "all" in versions or len(versions) > 1:
        for spec in specs:
            per_spec[spec] = python_versions([spec], options.channels, options.subdir, cache, patches)
    if "all" in versions:
        found = sorted({v for vs in per_spec.values() for v in vs}, key=lambda v: tuple(map(int, v.split("."))),
                       reverse=True)
        versions = found or [options.python or running]
        progress(f"Python versions with builds of {' '.join(specs) or 'the targets'}: {', '.join(versions)}")
    if len(versions) <= 1:
        python = versions[0] if versions else options.python
        return convert(targets, dataclasses.replace(options, python=python), progress)
    report = ConversionReport()
    for version in versions:
        chosen = [t for t in targets if t not in per_spec or not per_spec[t] or version in per_spec[t]]
        if not any(t in per_spec for t in chosen) and specs and not [t for t in targets if t not in specs]:
            raise SpecError(f"no build of {' '.join(specs)} for Python {version} in {', '.join(options.channels)} "
                            f"({options.subdir})", package=" ".join(specs))
        progress(f"converting for Python {version}")
        part = convert(chosen, dataclasses.replace(options, python=version), progress)
        report.wheels += part.wheels
        report.skipped += [s for s in part.skipped if s not in report.skipped]
        report.unresolvable += part.unresolvable
    return report


def _alias_note(artifact: Artifact, names: Names) -> str | None:
    """Why an artifact makes no wheel: it is an alias (see :mod:`press.names`)."""
    target = names.alias_target(facts_of(artifact))
    if target is None:
        return None
    real = sorted({spec_name(s) for s in target if not is_plumbing(spec_name(s))})
    files = f"; its {len(artifact.paths)} files are not shipped" if artifact.paths else ""
    return (f"an alias of {', '.join(real)} (no dist-info of its own): no wheel, dependents require "
            f"{', '.join(real)}{files}")


def convert_records(
    records: list[Any],
    options: ConvertOptions | None = None,
    progress: Progress | None = None,
    closures: dict[str, list[RepoDataRecord]] | None = None,
) -> ConversionReport:
    """Convert the artifacts of repodata records, one wheel each (the batch API).

    ``records``: rattler ``RepoDataRecord`` objects (or anything with ``name``,
    ``file_name``, ``url``, ``sha256`` and ``depends``). Thin mode converts
    exactly these artifacts, with no solve; ``closures`` may map a record's
    file name to the records of its closure (:func:`press.closure.thin_closure`),
    which then name its requirements and provide the libraries its binaries
    load, as in spec mode. ``fatten`` vendors each record's closure: ``closures``
    maps a record's file name to its solved closure (records, as
    :func:`press.channel.solve` returns them); without an entry the closure is
    solved here. The records' ``depends`` replace the archives'
    own (repodata carries the channel's hotfixes). Returns and raises as
    :func:`convert` does.
    """
    options, session, report = _start(options, progress, clean=False)  # a batch job: its batch cleans
    try:
        jobs: list[tuple[Artifact, dict[str, Artifact]]] = []
        for record in records:
            name = record.name.normalized if hasattr(record.name, "normalized") else str(record.name)
            if options.fatten:
                spec = f"{name}=={record.version}={record.build}"
                closure = session.closure([spec], (closures or {}).get(record.file_name))
                jobs.append((closure[name], closure))
            elif closures and record.file_name in closures:  # thin, with the records of its closure
                closure = session.closure([], closures[record.file_name])
                jobs.append((closure[name], closure))
            else:
                artifact = session.open_record(record)
                jobs.append((artifact, {artifact.name: artifact}))
        _build_all(jobs, options, session, report)
    finally:
        session.close()
    return report


def convert_lock(
    lock: Path,
    options: ConvertOptions | None = None,
    progress: Progress | None = None,
    environment: str = "default",
) -> ConversionReport:
    """Convert exactly the environment of a lock file (``press --file``), with no solve.

    ``lock``: an ``@EXPLICIT`` file, a ``conda-lock.yml`` or a ``pixi.lock``
    (:func:`press.lockfile.read_lock`), read for ``options.subdir`` and, in a
    pixi lock, ``environment``. Each locked artifact is found by file name in
    a local ``-c`` channel directory or downloaded from its URL, and checked
    against the locked md5/sha256 (:func:`press.lockfile.fetch_locked`). The
    interpreter's records (``python`` and what only it needs) are left out,
    as in spec mode, each listed in ``report.skipped``
    (:func:`press.lockfile.interpreter_only`). Thin: one wheel per remaining
    package (plumbing left out), made as a spec's closure makes it; fat: one
    wheel per package the environment was asked for (what nothing else
    needs) and per Python package, each with its locked closure vendored.
    The target Python is the lock's (``options.python``, when set, must
    agree). Returns and raises as :func:`convert` does, and
    :class:`~press.lockfile.LockFileError` for a lock file press refuses.
    """
    from .lockfile import LockedPackage, fetch_locked, interpreter_only, read_lock, roots

    options = options or ConvertOptions()
    locked = read_lock(Path(lock), options.subdir, environment)
    python = locked.python_version()
    if python and options.python and options.python != python:
        raise PressError(f"the lock file is for Python {python}, not {options.python}: give --python {python} or "
                         f"leave --python out", package=str(lock), field="--python")
    options, session, report = _start(dataclasses.replace(options, python=options.python or python), progress)
    finished = False
    try:
        session.progress(f"reading {lock}: {locked.format}, {len(locked.packages)} packages for {locked.subdir} "
                         f"(no solve)")
        report.skipped += [[entry, reason] for entry, reason in locked.skipped]
        opened: dict[str, Artifact] = {}

        def open_locked(package: LockedPackage) -> Artifact:
            if package.name not in opened:
                session.progress(f"fetching [{len(opened) + 1}/{len(locked.packages)}] {package.file_name}")
                path, sha256, channel = fetch_locked(package, options.channels, session.cache_dir, session.progress)
                artifact = session.open(path, sha256, channel)
                opened[package.name] = artifact if package.depends is None else artifact.with_depends(
                    parse_record_depends(list(package.depends), artifact.label))
            return opened[package.name]

        def depends_of(package: LockedPackage) -> tuple[str, ...]:
            if package.dependency_names is not None:
                return package.dependency_names
            return tuple(spec_name(d) for d in open_locked(package).depends)  # @EXPLICIT: the archive says

        needed, left_out = interpreter_only(locked.packages, depends_of)
        for package in locked.packages:
            if package.name in left_out:
                report.skipped.append([package.file_name, "the interpreter: the environment a wheel is installed "
                                       "into provides it (left out as in spec mode)" if package.name == "python"
                                       else "needed only by the interpreter (left out with it)"])
        if left_out:
            session.progress(f"left out the interpreter's records: {', '.join(sorted(left_out))}")
        closure = {p.name: open_locked(p) for p in locked.packages if p.name in needed}
        if options.fatten:
            wanted = roots(needed, locked.packages, depends_of)
            wanted |= {n for n, a in closure.items() if is_python_package(a) and not is_plumbing(n)}
            jobs = [(closure[n], closure) for n in sorted(wanted)]
        else:
            jobs = [(a, closure) for n, a in sorted(closure.items()) if not is_plumbing(n)]
        if options.validate or options.check:
            session.pending = []
        _build_all(jobs, options, session, report)
        if options.check:
            _check(report, options, session.progress)
        finished = True
    finally:
        if session.pending:
            unmark_pending(Path(options.wheel_dir), session.pending, remove=not finished)
        session.close()
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
        count = len(done | {m.label for m, _ in queue})  # grows when fat wheels' Python dependencies join
        session.building = f"building [{len(done)}/{count}] {main.name} {main.version}"
        names = session.names.with_known(facts_of(a) for a in closure.values())
        alias = _alias_note(main, names)
        if alias:
            report.skipped.append([main.source.name, alias])
            session.progress(f"{main.label}: {alias}")
            continue
        session.progress(session.building)
        wheel, python_deps = build_wheel(main, closure, options, session)
        for artifact in [main, *closure.values()]:
            artifact.root.release()
        report.wheels.append(wheel)
        session.progress(f"wrote {wheel.summary()}")
        if options.fatten and not options.bundle_python_deps:
            queue += [(dep, closure) for dep in python_deps if dep.name not in options.python_deps_elsewhere]
    if options.validate:
        from .validate import validate_wheels

        session.progress(f"validating {len(report.wheels)} {_plural(len(report.wheels), 'wheel', 'wheels')}")
        validate_wheels(report.wheels, options, _test_requirements(options, session), progress=session.progress)


def _test_requirements(options: ConvertOptions, session: _Session
                       ) -> Callable[[list[str]], tuple[list[str], list[str], list[str]]]:
    """The validation's source of test requirements: conda MatchSpecs ->
    (paths of thin wheels made from them and their closure, solved from the
    conversion's channels for its subdir and Python, in a scratch wheel
    directory; the conda names that no channel provides; their PyPI names
    from the name mapping). Results are kept per set of specs."""
    known: dict[tuple[str, ...], tuple[list[str], list[str], list[str]]] = {}
    scratch = session.work / "test-requires"

    def provide(specs: list[str]) -> tuple[list[str], list[str], list[str]]:
        key = tuple(sorted(specs))
        if key in known:
            return known[key]
        found, missing = [], []
        for spec in key:
            try:
                solve([spec], options.channels, options.subdir, options.python, session.cache_dir, session.patches,
                      [], session.channel_names, options.channel_priority)
                found.append(spec)
            except PressError:
                missing.append(spec_name(spec))
        paths: list[str] = []
        if found:
            session.progress(f"making wheels of the test requirements {' '.join(found)}")
            sub = dataclasses.replace(options, wheel_dir=scratch, validate=False, fatten=False)
            try:
                closure = session.closure(found)
                made = ConversionReport()
                _build_all([(a, closure) for n, a in sorted(closure.items()) if not is_plumbing(n)], sub, session,
                           made)
                paths = [w.path for w in made.wheels]
            except PressError as exc:
                session.progress(f"test requirements {' '.join(found)}: {exc}")
                missing += [spec_name(s) for s in found]
        pypi = [n for m in missing for n in session.names.mapping.get(m) or ()]
        known[key] = (paths, sorted(missing), sorted(set(pypi)))
        return known[key]

    return provide


def _check_ceiling(layout: Layout, relocation: Relocation, plat: str, machine: str, label: str) -> None:
    """Refuse a Linux wheel that needs more than the ``plat`` policy allows."""
    from .errors import RelocationError
    from .tags import policy_ceiling

    needs: dict[str, dict[str, set[str]]] = {}
    for arc, deps in relocation.dependencies.items():
        info = layout.files[arc].binary if arc in layout.files else None
        for library, where in deps.items():
            if where in ("system", "unresolved"):
                needs.setdefault(arc, {})[library] = set(getattr(info, "version_needs", {}).get(library, set()))
    try:
        problems = policy_ceiling(plat, machine, needs)
    except ValueError as exc:
        raise PressError(str(exc), field="--plat") from None
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise RelocationError(f"needs more than {plat} allows (tag {relocation.platform}): "
                              f"{'; '.join(problems[:3])}{more}", package=label)


def _vendored_bytes(layout: Layout, main_owners: set[str]) -> dict[str, int]:
    """Uncompressed bytes in the wheel per vendored package (label)."""
    sizes: dict[str, int] = {}
    for staged in layout.files.values():
        if staged.owner not in main_owners:
            sizes[staged.owner] = sizes.get(staged.owner, 0) + staged.root.size(staged.rel)
    return dict(sorted(sizes.items()))


def license_sources(artifact: Artifact) -> list[tuple[str, str]]:
    """``(path in the package, path under dist-info/licenses/)`` of the
    artifact's licence files: ``info/licenses/`` (conda-build's
    ``license_file``), else what the payload keeps under ``share/licenses/``
    (conda-forge's GCC runtime packages ship their licence texts only there)."""
    if artifact.licenses:
        return [(f"info/licenses/{p}", p) for p in artifact.licenses]
    found = []
    for path in sorted(artifact.files):
        for prefix in ("share/licenses/", "Library/share/licenses/"):
            if path.startswith(prefix) and len(path) > len(prefix):
                found.append((path, path[len(prefix):]))
    return found


def _upstream(artifact: Artifact, name: str) -> UpstreamMetadata | None:
    """The core metadata of the artifact's own dist-info named ``name``."""
    for dist_info in artifact.dist_infos:
        if dist_info.name and canonicalize_name(dist_info.name) == canonicalize_name(name):
            return dist_info.metadata
    return None


def _native_closure(main: Artifact, closure: dict[str, Artifact], names: Names) -> list[Artifact]:
    """The non-Python packages ``main`` depends on, transitively (thin mode:
    each is a dependency wheel installed beside it)."""
    found: dict[str, Artifact] = {}
    todo = [spec_name(s) for s in names.expand_aliases(main.depends, main.channel)]
    while todo:
        name = todo.pop()
        artifact = closure.get(name)
        if name in found or artifact is None or is_plumbing(name) or is_python_package(artifact):
            continue
        found[name] = artifact
        todo += [spec_name(s) for s in artifact.depends]
    return [found[n] for n in sorted(found)]


def _environment(main: Artifact, closure: dict[str, Artifact], vendored: list[Artifact], layout: Layout,
                 names: Names, fat: bool, notes: list[str]) -> list[WheelSetting]:
    """The variables the wheel's libraries need (:mod:`press.environment`):
    the main and vendored packages' with paths in this wheel, and in thin
    mode those of the native packages it depends on, in their wheels."""
    prefix = f"{layout.libs_dir}/"
    here = [arc[len(prefix):] for arc in layout.files if arc.startswith(prefix)]
    settings: list[WheelSetting] = []
    for artifact in [main] + vendored:
        settings += resolve_environment(artifact, layout.libs_dir, here, notes, own=artifact is main)
    if not fat:
        for dep in _native_closure(main, closure, names):
            settings += resolve_environment(dep, libs_dir(names.dependency(dep.name, main.channel)), dep.files,
                                            notes, own=False)
    return settings


def _add_environment(layout: Layout, stage: Root, dist: str, settings: list[WheelSetting],
                     notes: list[str]) -> str | None:
    """Write the environment module for ``settings`` when the wheel runs
    something that loads the libraries (commands, extension modules), and
    import it from the packages holding extension modules. Returns its
    module name, or None when none is written."""
    extensions = [e for e in layout.extensions if e in layout.files and layout.files[e].binary is not None]
    if not settings or not (layout.commands or extensions):
        return None
    module = ENV_MODULE.format(dist=dist)
    reserve_module(layout, module)
    stage.write_bytes(f"{module}.py", module_source(settings).encode("utf-8"))
    layout.files[f"{module}.py"] = StagedFile(stage, f"{module}.py", 0o644, "press")
    statement = f"import {module}  # added by press: sets the variables the vendored libraries read"
    edited = import_in_packages(layout, stage, statement, extensions)
    names = ", ".join(sorted({s.name for s in settings}))
    notes.append(f"{module}.py sets {names} for the commands"
                 + (f" and on import of {', '.join(e.split('/')[0] for e in edited)}" if edited else ""))
    return module


def _covered_by(staged: StagedFile, layout: Layout, settings: list[WheelSetting]) -> str:
    """``environment: VAR, ...`` when every path a binary names under its
    placeholder is one the wheel's environment variables point at (or
    below one), else ``unresolved``."""
    prefix = f"{layout.libs_dir}/"
    targets = {s.path[len(prefix):]: s.name for s in settings if s.path.startswith(prefix)}
    if staged.binary is None or not targets or staged.placeholder is None:
        return "unresolved"
    data = staged.root.read_bytes(staged.rel, limit("binary_size") + 1)
    paths = binary_paths(data, staged.placeholder)
    if not covered(paths, set(targets)):
        return "unresolved"
    used = {name for target, name in targets.items() for p in paths if p == target or p.startswith(target + "/")}
    return "environment: " + ", ".join(sorted(used))


def _plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many


#: wheel platform family -> (binary info class, relocation function).
_RELOCATORS: dict[str, tuple[type[ElfInfo] | type[MachOInfo] | type[PEInfo], Callable[..., Relocation]]] = {
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
    plan = plan_wheel(main, closure, session.names, fat=options.fatten, bundle_python_deps=options.bundle_python_deps)
    fat, names, name, dist, version, build_tag = plan.fat, plan.names, plan.distribution, plan.dist, plan.version, \
        plan.build_tag
    family, machine, providers = plan.family, plan.machine, plan.providers
    vendored_artifacts, python_deps, requires = list(plan.vendored), list(plan.python_deps), list(plan.requires)
    layout = Layout(libs_dir=plan.libs_dir, prefer=list(options.prefer), include_dev=options.include_dev)
    add_artifact(layout, main, main=True)
    for dep in vendored_artifacts:
        add_artifact(layout, dep, main=is_python_package(dep))
    layout.check_conflicts()
    if fat:
        main_owners = {main.label} | {a.label for a in vendored_artifacts if is_python_package(a)}
        prune_vendored(layout, main_owners)
        if options.exclude:
            excluded = exclude_vendored(layout, main_owners, list(options.exclude))
            if excluded:
                layout.notes.append(f"--exclude left out {len(excluded)} vendored files, e.g. {excluded[0]}")
    dependency_libs = providers.unknown
    if not fat:
        layout.notes += foreign_links(main, closure, family)
    conventions = native.wanted(is_python_package(main), options.include_dev)
    link_names = native.link_names(layout, [main] + vendored_artifacts, family) if conventions else []
    stage = session.new_stage()
    rewritten = rewrite_placeholders(layout, stage)
    info_class, relocator = _RELOCATORS.get(family, (None, None))
    notes = layout.all_notes()
    binaries = [f for f in layout.files.values() if info_class is not None and isinstance(f.binary, info_class)]
    relocation = None
    stripped: dict[str, int] | None = {} if options.strip else None
    if binaries:
        assert relocator is not None  # binaries is empty when the family has no relocator
        session.progress(f"{session.building} (relocating {len(binaries)} {_plural(len(binaries), 'binary', 'binaries')})")
        kwargs: dict[str, Any] = {"dist": dist} if family == "win" else {}
        if not fat:
            kwargs["providers"] = providers
        if family == "linux" and options.exclude:
            kwargs["excluded"] = list(options.exclude)
        stripper = Stripper(stage) if options.strip and family == "linux" else None
        if family == "linux":
            def on_final(arc: str, staged: StagedFile) -> None:
                if stripper is not None:  # stripped before its compression starts
                    stripper.strip(arc, staged)
                session.deflater.submit(Member(arc, root=staged.root, rel=staged.rel,
                                               executable=bool(staged.mode & 0o111)))
            kwargs["on_final"] = on_final
        relocation = relocator(layout, fat=fat, dependency_libs=dependency_libs, stage=stage, machine=machine, **kwargs)
        if stripper is not None:
            stripped = stripper.strip_all(layout)
        elif options.strip:
            note = not_stripped_note(layout, "Mach-O" if family == "macosx" else "PE")
            notes += [note] if note else []
        if family == "linux" and options.plat:
            _check_ceiling(layout, relocation, options.plat, machine, main.label)
        notes += relocation.notes
        platform = relocation.platform
    else:
        platform = "any"
    runs_code = bool(layout.commands) or any(layout.files[e].binary is not None for e in layout.extensions
                                              if e in layout.files)
    settings = _environment(main, closure, vendored_artifacts, layout, names, fat, notes) if runs_code else []
    if not runs_code:
        declared_environment(main, notes)  # notes the activation variables press does not set
    env_module = _add_environment(layout, stage, dist, settings, notes)
    if conventions:  # pkg_config / cmake.prefix entry points, load_library(), linker names (press/native.py)
        note = native.add_conventions(layout, stage, dist, family, link_names, relocation, None if fat else providers)
        notes += [note] if note else []
    # Extension modules of the target platform's format only (conda's linux
    # package ships Windows launchers in site-packages, for instance).
    extensions = [
        posixpath.basename(e) for e in layout.extensions
        if e.endswith((".so", ".pyd")) and e in layout.files and info_class is not None
        and isinstance(layout.files[e].binary, info_class)
    ]
    try:
        tags = python_tags(main.depends, extensions)
    except PressError as exc:
        if exc.package is not None:
            raise
        raise type(exc)(exc.reason, package=main.label, field="depends") from None  # name the artifact
    # PEP 600 tag plus its legacy aliases (auditwheel's compressed tag set) for pip before 20.3.
    tag = f"{tags.python}-{tags.abi}-{compressed_platform(platform)}"
    filename = f"{dist}-{version}-{build_tag}-{tag}.whl"
    dist_info = f"{dist}-{version}.dist-info"
    # Licences: the main package's, and one folder per vendored package that ships files.
    license_files: list[str] = []
    license_members: list[Member] = []
    shipping = {f.owner for f in layout.files.values()} | {main.label}
    for artifact, prefix in [(main, "")] + [(a, f"vendored/{a.name}/") for a in vendored_artifacts
                                            if a.label in shipping]:
        for source, license_path in license_sources(artifact):
            if not source.startswith("info/"):  # a payload licence text: kept once, in dist-info
                layout.files.pop(f"{layout.libs_dir}/{source}", None)
            if not prefix and license_path.split("/", 1)[0] == "vendored":
                license_path = f"{main.name}/{license_path}"  # vendored/ holds vendored packages' only
            license_files.append(prefix + license_path)
            license_members.append(Member(f"{dist_info}/licenses/{prefix}{license_path}", root=artifact.root,
                                          rel=source))
    members: list[Member] = []
    placeholders: list[list[str]] = []
    for arc, staged in sorted(layout.files.items()):
        members.append(Member(arc, root=staged.root, rel=staged.rel, executable=bool(staged.mode & 0o111)))
        if staged.placeholder:
            how = rewritten.get(arc) or _covered_by(staged, layout, settings if env_module else [])
            placeholders.append([arc, staged.placeholder_mode or "text", how])
    data_members = []
    for script_name, script in sorted(layout.scripts.items()):
        data_members.append(f"{dist}-{version}.data/scripts/{script_name}")
        members.append(Member(data_members[-1], root=script.root, rel=script.rel, header=b"#!python\n",
                              skip=script.skip, executable=True))
    entry_points = {g: dict(v) for g, v in layout.entry_points.items()}
    if layout.commands:
        module = f"_press_commands_{dist}"
        reserve_module(layout, module)
        loader = f"_press_dlls_{dist}" if f"_press_dlls_{dist}.py" in layout.files else None
        members.append(Member(f"{module}.py", data=launcher_module(layout.commands, loader, env_module).encode()))
        console = entry_points.setdefault("console_scripts", {})
        for index, command in enumerate(sorted(layout.commands)):
            console.setdefault(command, f"{module}:cmd_{index}")
    members += license_members
    owned: dict[str, list[str]] = {}
    for arc, staged in layout.files.items():
        owned.setdefault(staged.owner, []).append(arc)
    owned.setdefault(main.label, []).extend(data_members)
    members.append(Member(f"{dist_info}/{SBOM_NAME}", data=build_sbom(name, version, [main] + vendored_artifacts,
                                                                     owned)))
    upstream = _upstream(main, name)
    if upstream is not None:
        notes += [f"{main.label}: upstream METADATA {d} (left out)" for d in upstream.dropped]
    provides = [d.name for d in main.dist_infos if d.name and canonicalize_name(d.name) != canonicalize_name(name)]
    members.append(Member(f"{dist_info}/METADATA", data=build_metadata(main, name, requires, license_files,
                                                                      upstream, provides)))
    wheel_text = (
        "Wheel-Version: 1.0\n"
        f"Generator: press {__version__}\n"
        f"Root-Is-Purelib: {'true' if platform == 'any' else 'false'}\n"
        + "".join(f"Tag: {tags.python}-{tags.abi}-{p}\n" for p in platform_tags(platform))
        + f"Build: {build_tag}\n"
    )
    members.append(Member(f"{dist_info}/WHEEL", data=wheel_text.encode()))
    if entry_points:
        text = "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in sorted(points.items())) + "\n"
            for group, points in sorted(entry_points.items())
        )
        members.append(Member(f"{dist_info}/entry_points.txt", data=text.encode()))
    session.owners.claim(name, main.label, (m.arcname for m in members))
    timestamp = main.identity.timestamp / 1000
    out = Path(options.wheel_dir) / filename
    claimed = claim(Path(options.wheel_dir), filename, name, main.name, main.source.name, main.sha256,
                    f"{native_prefix(main.channel).rstrip('-')}@{main.version}")
    megabytes = sum(m.size() for m in members) / 1e6
    session.progress(f"{session.building} (compressing {megabytes:.1f} MB)")
    try:
        if session.pending is not None and not os.path.lexists(out):  # steps to do once it is written
            mark_pending(Path(options.wheel_dir), filename)
            session.pending.append(filename)
        write_wheel(out, members, timestamp=timestamp, compresslevel=options.compresslevel, data_members=data_members,
                    deflater=session.deflater)
    except BaseException:
        release(Path(options.wheel_dir), claimed)
        raise
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
        vendored_bytes=_vendored_bytes(layout, {main.label}),
        install_hooks=startup_hooks(m.arcname for m in members),
        stripped=stripped,
        conda_sources=[dataclasses.asdict(source) for source in read_sources(out)],
        test_imports=list(dict.fromkeys(
            list(main.test_imports) + [i for a in vendored_artifacts if is_python_package(a) for i in a.test_imports]
        )),
        test_requires=list(dict.fromkeys(
            list(main.test_requires) + [r for a in vendored_artifacts if is_python_package(a) for r in a.test_requires]
        )),
    )
    return wheel, python_deps
