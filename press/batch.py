"""Batch conversion of a channel into a wheelhouse with a PEP 503/691 index.

:func:`convert_channel` lists the channel's repodata records for a subdir
(plus ``noarch``), selects them (name globs, Python versions, newest only),
converts each selected artifact as one job, and writes the simple index
(:mod:`press.index`). Jobs run in worker processes on this machine
(``jobs``) or on a Dask distributed cluster (``scheduler``); a job's failure
is reported and never stops the batch.

Incremental and resumable: each job has a key, the sha256 of the inputs that
decide its output (the artifact's sha256 and repodata ``depends``, for fat
wheels those of its whole solved closure, press's version and the options).
A finished job leaves ``<wheel dir>/.press-state/<key>.json`` listing its
wheels and their sha256; a later run skips a job whose state file and wheels
are intact. Wheels, metadata files, index pages and state files are only
ever renamed into place, and a run starts by removing the temporary files a
killed run left, so the wheel directory never shows a partial file and a
resumed run ends with the bytes an uninterrupted one makes. Nothing inside
the wheel directory is followed through a symbolic link, and leftovers are
removed only when no other press writes there (:mod:`press.wheelhouse`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, cast

from . import __version__
from .errors import PressError
from .fetch import hex_digest
from .files import Directory, open_regular
from .wheelhouse import STATE_DIR, WriteLock, read_json

if TYPE_CHECKING:
    from rattler import RepoDataRecord
    from rattler.platform.subdir import SubdirLiteral

    from .index import SimpleIndex
    from .names import PackageFacts

@dataclass
class BatchOptions:
    """Options of :func:`convert_channel` (the ``press channel`` flags).

    ``channel``: a channel name, URL or directory; ``subdir``: the target
    subdir (``noarch`` is always included); ``names``: fnmatch globs on
    package names (default all); ``pythons``: ``X.Y`` versions (or ``all``:
    every version a selected record is built for) to convert
    for (records pinned to another Python are skipped; default: the running
    interpreter's); ``latest``: only the newest version/build per name and
    Python; ``fatten``/``bundle_python_deps``/``prefer``: as in
    :class:`~press.convert.ConvertOptions`; ``wheel_dir``; ``cache_dir``;
    ``jobs``: worker processes (1 runs in this process); ``scheduler``: a
    Dask distributed scheduler address (overrides ``jobs``);
    ``repodata_patch``: patch instructions for a local directory channel;
    ``name_mapping``/``native_prefix``/``plat``/``channel_priority``/
    ``exclude``/``include_dev``: as in
    :class:`~press.convert.ConvertOptions`; ``validate``: after every job
    ran, install the wheels written, per Python, into one fresh venv each
    (offline, from the wheelhouse, so thin dependencies resolve) and run
    their import tests; a job whose wheel fails is reported failed (off by
    default: a whole channel is many venvs' worth of work); ``compresslevel``:
    as in :class:`~press.convert.ConvertOptions`.
    """

    channel: str
    subdir: str
    wheel_dir: Path
    names: list[str] = field(default_factory=list)
    pythons: list[str] = field(default_factory=list)
    latest: bool = False
    fatten: bool = False
    bundle_python_deps: bool = False
    prefer: list[str] = field(default_factory=list)
    cache_dir: Path | None = None
    jobs: int = 1
    scheduler: str | None = None
    repodata_patch: Path | None = None
    name_mapping: list[Path] = field(default_factory=list)
    native_prefix: str | None = None
    plat: str | None = None
    channel_priority: str = "strict"
    exclude: list[str] = field(default_factory=list)
    include_dev: bool = False
    validate: bool = False
    compresslevel: int = 6
    check: bool = True
    #: set by :func:`convert_channel`: names every job of the batch converts.
    batch_names: frozenset[str] = frozenset()
    #: set by :func:`convert_channel`: what naming needs of the channel's
    #: packages that the name mapping does not name (see :mod:`press.names`).
    known_packages: tuple[PackageFacts, ...] = ()


@dataclass(frozen=True)
class Job:
    """One artifact to convert (picklable: sent to worker processes).

    ``python``: the ``X.Y`` it is converted for; the rest mirrors its
    repodata record."""

    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    file_name: str
    url: str
    sha256: str
    depends: tuple[str, ...]
    python: str
    channel: str = ""
    md5: str = ""
    size: int | None = None

    @property
    def record(self) -> "_Record":
        return _Record(self)


class _Record:
    """The face of a repodata record that :func:`press.convert.convert_records` reads."""

    def __init__(self, job: Job) -> None:
        from rattler import PackageName

        self.name = PackageName(job.name)
        self.version, self.build, self.file_name = job.version, job.build, job.file_name
        self.url, self.sha256, self.depends = job.url, job.sha256, list(job.depends)
        self.channel, self.md5, self.size = job.channel, job.md5 or None, job.size


@dataclass
class JobResult:
    """``status``: ``converted``, ``skipped`` or ``failed``; ``reason`` says
    why for the last two; ``wheels``: file names written (or up to date);
    ``seconds``: wall time; ``notes``: retries and the like."""

    artifact: str
    status: str
    reason: str = ""
    wheels: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: with ``validate``: the wheels' reports (:class:`~press.report.WheelReport` as dicts), for the
    #: validation pass after every job ran; empty otherwise.
    reports: list[dict[str, Any]] = field(default_factory=list)
    python: str | None = None


@dataclass
class BatchReport:
    """Every artifact of the channel considered, in plan order, and the index written."""

    results: list[JobResult] = field(default_factory=list)
    projects: int = 0
    seconds: float = 0.0
    #: the wheelhouse check (:mod:`press.installable`): one line per target,
    #: ``"<target>: N of M wheels install"``; empty when it did not run.
    wheelhouse: list[str] = field(default_factory=list)
    #: wheels of the directory left out of the index, ``"<file>: <reason>"`` (:func:`press.index.write_index`).
    index_warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when any job failed."""
        return not any(r.status == "failed" for r in self.results)

    def counts(self) -> dict[str, int]:
        counts = {"converted": 0, "skipped": 0, "failed": 0}
        for result in self.results:
            counts[result.status] += 1
        return counts

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "counts": self.counts(), "projects": self.projects,
                           "seconds": round(self.seconds, 2), "results": [asdict(r) for r in self.results],
                           "wheelhouse": self.wheelhouse, "index_warnings": self.index_warnings},
                          indent=2, sort_keys=True)

    def table(self, verbose: bool = False, width: int | None = None) -> str:
        """A human summary: converted and failed artifacts one per line,
        skipped ones grouped by reason (``verbose``: one per line too, and
        every job's notes), then the counts. ``width``: the columns of the
        terminal it is printed on; when a line is wider, each artifact gets
        its own line and its detail follows indented, every line broken at
        spaces to fit (:func:`press.report.fit`). None (files, pipes): the
        table as it is."""
        wide = self._table(verbose)
        if width is None or all(len(line) <= width for line in wide.splitlines()):
            return wide
        from .report import fit

        indent = " " * 11
        lines = [f"{'status':<10} artifact", f"{indent}wheels written, or why not"]
        reasons: dict[str, int] = {}
        for result in self.results:
            if result.status == "skipped" and not verbose:
                reasons[result.reason] = reasons.get(result.reason, 0) + 1
                continue
            lines += fit(f"{result.status:<10} {result.artifact}", width, indent)
            detail = ", ".join(result.wheels) if result.status == "converted" else result.reason
            for text in [detail, *(result.notes if verbose else [])]:
                lines += fit(indent + text, width, indent) if text else []
        for reason, count in sorted(reasons.items()):
            lines += fit(f"{'skipped':<10} {count} artifacts: {reason}", width, indent)
        lines += [part for line in wide.splitlines()[-1 - len(self.wheelhouse) - len(self.index_warnings):]
                  for part in fit(line, width)]
        return "\n".join(lines)

    def _table(self, verbose: bool) -> str:
        lines = [f"{'status':<10} {'artifact':<58} detail"]
        for result in self.results:
            if result.status != "skipped" or verbose:
                detail = ", ".join(result.wheels) if result.status == "converted" else result.reason
                lines.append(f"{result.status:<10} {result.artifact:<58} {detail}")
                if verbose:
                    lines += [f"{'':<10} {'':<58} {note}" for note in result.notes]
        reasons: dict[str, int] = {}
        for result in self.results:
            if result.status == "skipped" and not verbose:
                reasons[result.reason] = reasons.get(result.reason, 0) + 1
        for reason, count in sorted(reasons.items()):
            lines.append(f"{'skipped':<10} {f'{count} artifacts':<58} {reason}")
        lines += [f"wheelhouse check: {line}" for line in self.wheelhouse]
        lines += [f"warning: {line}" for line in self.index_warnings]
        c = self.counts()
        lines.append(f"{c['converted']} converted, {c['skipped']} skipped, {c['failed']} failed; "
                     f"{self.projects} projects in the index; {self.seconds:.1f} s")
        return "\n".join(lines)


@dataclass
class Progress:
    """What the progress callback receives after each job: counts so far,
    the total, the estimated seconds left (None until it means something:
    :func:`remaining_seconds`), and the job just finished."""

    done: int
    total: int
    converted: int
    skipped: int
    failed: int
    eta_seconds: float | None
    last: JobResult


def remaining_seconds(elapsed: float, done: float, total: float, finished: int, min_finished: int = 3,
                      min_elapsed: float = 5.0) -> float | None:
    """The seconds left of work measured in ``done`` of ``total`` units
    (jobs, or bytes of archives when jobs are unequal) after ``elapsed``
    seconds, by the rate so far; None while that means little: before
    ``min_finished`` items finished (never after the first), before
    ``min_elapsed`` seconds, or when nothing is left (a first job's time
    times the job count overstated a 153 s batch as 49 minutes)."""
    if finished < min_finished or elapsed < min_elapsed or done <= 0 or done >= total:
        return None
    return elapsed * (total - done) / done


def _python_pin(depends: Iterable[str]) -> str | None:
    from .tags import python_version_of

    found = python_version_of(depends)
    return f"{found[0]}.{found[1]}" if found else None


def plan(options: BatchOptions) -> tuple[list[Job], list[JobResult]]:
    """List and select the channel's records: returns (jobs, results known
    without converting: skipped records, and archives of a local channel
    that could not even be indexed, as failures).

    Raises :class:`~press.errors.ChannelError` when the channel cannot be read.
    """
    import asyncio

    from rattler import Version

    from .channel import channel_source, load_repodata_patch, make_gateway
    from .errors import ChannelError
    from .matchspec import is_plumbing
    from .package import parse_record_depends

    from .files import writable_dir

    cache = writable_dir(Path(options.cache_dir or _default_cache()), "--cache-dir")
    patches = load_repodata_patch(options.repodata_patch) if options.repodata_patch else None
    source = channel_source(options.channel, cache, options.subdir, patches)
    gateway = make_gateway(cache)
    platforms = cast("list[SubdirLiteral]", list(dict.fromkeys([options.subdir, "noarch"])))  # --subdir noarch: once

    async def records() -> list[RepoDataRecord]:
        names = await gateway.names([source], platforms)
        specs = [getattr(n, "normalized", n) for n in names]
        result = await gateway.query([source], platforms, specs=specs, recursive=False)
        return [r for per_channel in result for r in per_channel]

    try:
        found = asyncio.run(records())
    except Exception as exc:
        raise ChannelError(f"cannot read channel {options.channel}: {exc}") from exc
    pythons = [p for p in options.pythons if p != "all"] or [_running_python()]
    skipped: list[JobResult] = []
    from urllib.parse import unquote, urlparse

    index_root = Path(unquote(urlparse(source).path)) if source.startswith("file://") else None
    if index_root is not None and cache.resolve() in index_root.parents:
        from .channel import local_index_errors

        for file_name, reason in sorted(local_index_errors(index_root).items()):
            skipped.append(JobResult(file_name, "failed", reason))
        from .channel import local_index_duplicates

        for file_name in sorted(local_index_duplicates(index_root, platforms)):  # conda reads only the .conda
            if not options.names or any(fnmatch.fnmatchcase(file_name.rsplit("-", 2)[0], g) for g in options.names):
                skipped.append(JobResult(file_name, "skipped", "also in the channel as .conda, the file conda uses"))
    if "all" in options.pythons:  # every Python some selected record pins, newest first
        pins = set()
        for record in found:
            if not options.names or any(fnmatch.fnmatchcase(record.name.normalized, g) for g in options.names):
                try:
                    pin = _python_pin(parse_record_depends(record.depends, str(record.file_name)))
                except PressError:
                    continue
                if pin is not None:
                    pins.add(pin)
        pythons = sorted(pins, key=lambda v: tuple(map(int, v.split("."))), reverse=True) or pythons
    candidates: dict[tuple[str, str | None], list[RepoDataRecord]] = {}
    for record in sorted(found, key=lambda r: r.file_name):
        name = record.name.normalized
        if options.names and not any(fnmatch.fnmatchcase(name, glob) for glob in options.names):
            continue
        if is_plumbing(name):
            skipped.append(JobResult(record.file_name, "skipped", "conda plumbing: no wheel"))
            continue
        try:
            pin = _python_pin(parse_record_depends(record.depends, str(record.file_name)))
        except PressError as exc:  # a hostile or broken record fails alone
            skipped.append(JobResult(record.file_name, "failed", str(exc)))
            continue
        if pin is not None and pin not in pythons:
            skipped.append(JobResult(record.file_name, "skipped", f"built for Python {pin}, not requested"))
            continue
        candidates.setdefault((name, pin), []).append(record)
    jobs: list[Job] = []
    for (name, pin), group in sorted(candidates.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        group.sort(key=lambda r: (Version(str(r.version)), int(r.build_number), str(r.build)), reverse=True)
        group, left_out = _one_build_per_version(group, [pin] if pin else pythons)
        skipped += left_out
        chosen = group[:1] if options.latest else group
        for record in group[1:] if options.latest else []:
            skipped.append(JobResult(record.file_name, "skipped", "not the newest (--latest)"))
        for record in chosen:
            sha = hex_digest(record.sha256) or ""
            jobs.append(Job(name=name, version=str(record.version), build=str(record.build),
                            build_number=int(record.build_number), subdir=str(record.subdir),
                            file_name=str(record.file_name), url=str(record.url), sha256=sha,
                            depends=tuple(str(d) for d in record.depends), python=pin or pythons[0],
                            channel=str(record.channel or ""),
                            md5=hex_digest(record.md5) or "",
                            size=record.size if isinstance(record.size, int) else None))
    jobs.sort(key=lambda j: j.file_name)
    options.known_packages = _known_packages(found, options, cache)
    return jobs, skipped


def _one_build_per_version(group: list[RepoDataRecord], pythons: list[str]
                           ) -> tuple[list[RepoDataRecord], list[JobResult]]:
    """One build of each version of ``group`` (records of one name and
    Python pin, newest first), as conda would choose it, and the others as
    skipped results.

    Installers see the builds of one version as one version: pip and uv take
    the highest build tag and do not fall back to another build when its
    ``Requires-Python`` refuses the interpreter, so two builds of one version
    in a wheelhouse break resolution for the Python only the other serves
    (conda-forge's pycparser 2.22 ``pyh29332c3_1`` needs 3.9, ``pyhd8ed1ab_0``
    3.8). The build kept is the one whose ``python`` dependency admits the
    most of ``pythons`` (the batch's targets), then conda's own order:
    highest build number, then newest timestamp."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    from .metadata import requires_python
    from .package import parse_record_depends

    def admitted(record: RepoDataRecord) -> int:
        try:
            spec = requires_python(parse_record_depends(record.depends, str(record.file_name)))
            allowed = SpecifierSet(spec or "")
        except (PressError, InvalidSpecifier):
            return 0
        return sum(allowed.contains(f"{python}.99", prereleases=True) for python in pythons)  # as the solver reads X.Y

    def stamp(record: RepoDataRecord) -> float:
        timestamp = getattr(record, "timestamp", None)
        return timestamp.timestamp() if timestamp is not None else 0.0

    from .version import to_pep440

    by_version: dict[str, list[RepoDataRecord]] = {}
    for record in group:  # keyed as installers see it: 1.0 and 1.0.0 are one version
        try:
            key = to_pep440(str(record.version))
        except PressError:
            key = str(record.version)
        by_version.setdefault(key, []).append(record)
    kept: list[RepoDataRecord] = []
    left_out: list[JobResult] = []
    for builds in by_version.values():
        best = max(builds, key=lambda r: (admitted(r), int(r.build_number), stamp(r), str(r.file_name)))
        kept.append(best)
        left_out += [JobResult(str(r.file_name), "skipped",
                               f"another build of {r.name.normalized} {r.version} is kept ({best.build}): a "
                               "wheelhouse holds one build per version (installers take the highest build tag)")
                     for r in builds if r is not best]
    return [r for r in group if any(r is k for k in kept)], left_out


def _known_packages(found: list[RepoDataRecord], options: BatchOptions, cache: Path) -> tuple[PackageFacts, ...]:
    """:class:`~press.names.PackageFacts` of the newest record of every
    package the name mapping does not name (``null`` or absent): what
    dependents need to tell aliases, native and Python packages apart."""
    from rattler import Version

    from .names import load_mapping, record_facts
    from .package import parse_record_depends

    mapping = load_mapping(cache, tuple(Path(p) for p in options.name_mapping))
    newest: dict[str, RepoDataRecord] = {}
    for record in sorted(found, key=lambda r: (Version(str(r.version)), int(r.build_number))):
        newest[record.name.normalized] = record
    facts = []
    for name, record in sorted(newest.items()):
        try:
            depends = parse_record_depends(record.depends, str(record.file_name))
        except PressError:
            continue
        noarch = getattr(record, "noarch", None)
        fact = record_facts(name, options.channel, depends, "python" if getattr(noarch, "python", False) else None)
        # Only what the mapping cannot tell: unmapped or null names (aliases,
        # native or Python?), and mapped ones that are no Python package here.
        if not mapping.get(name) or not fact.python:
            facts.append(fact)
    return tuple(facts)


def _running_python() -> str:
    import sys

    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def _default_cache() -> Path:
    from .convert import default_cache_dir

    return default_cache_dir()


def _key(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _up_to_date(wheel_dir: Path, key: str) -> list[str] | None:
    """The wheels of the finished job ``key`` when its state file and every
    wheel it lists are intact (regular files, not links, with the recorded
    sha256), else None."""
    try:
        with Directory.open(wheel_dir) as directory, directory.sub(STATE_DIR) as state:
            doc = read_json(state, f"{key}.json")
            wheels = doc.get("wheels") if isinstance(doc, dict) else None
            if not isinstance(wheels, dict):
                return None
            for name, digest in wheels.items():
                found = directory.lstat(name) if isinstance(name, str) and "/" not in name else None
                if found is None or not stat.S_ISREG(found.st_mode) or _sha256(wheel_dir / name) != digest:
                    return None
    except (OSError, ValueError, PressError):
        return None
    return sorted(wheels)


def _sha256(path: Path) -> str:
    """Hex sha256 of a regular file (a link is not followed, a FIFO not waited on)."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_state(wheel_dir: Path, key: str, job: Job, wheels: list[str]) -> None:
    doc = {"artifact": job.file_name, "press": __version__,
           "wheels": {w: _sha256(wheel_dir / w) for w in sorted(set(wheels))}}
    with Directory.open(wheel_dir) as directory, directory.sub(STATE_DIR, create=True) as state:
        state.write(f"{key}.json", json.dumps(doc, indent=1, sort_keys=True))


def run_job(job: Job, options: BatchOptions) -> JobResult:
    """Convert one artifact (runs in a worker process or on a Dask worker).

    Never raises: a :class:`~press.errors.PressError` or any other exception
    becomes a ``failed`` result with its message."""
    from .channel import solve
    from .closure import thin_closure
    from .convert import ConvertOptions, convert_records

    started = time.monotonic()
    wheel_dir = Path(options.wheel_dir)
    cache = Path(options.cache_dir or _default_cache())
    notes: list[str] = []
    try:
        base = [__version__, job.sha256, sorted(job.depends), job.python, options.subdir, options.fatten,
                options.bundle_python_deps, options.prefer, options.native_prefix, options.plat, options.channel_priority,
                sorted(options.exclude), options.include_dev,
                [str(p) for p in options.name_mapping]]
        if options.compresslevel != 6:  # the default keeps the keys of earlier runs
            base.append(["compresslevel", options.compresslevel])
        closures = None
        spec = f"{job.name}=={job.version}={job.build}"
        patches = None
        if options.repodata_patch:
            from .channel import load_repodata_patch

            patches = load_repodata_patch(options.repodata_patch)
        try:
            solved = solve([spec], [options.channel], options.subdir, job.python, cache, patches,
                           channel_priority=options.channel_priority)
        except PressError as exc:
            if options.fatten:
                raise
            # A thin wheel is made from the artifact alone; its dependencies' names and libraries
            # are then guessed from the name mapping, and the wheelhouse check judges the set.
            notes.append(f"dependencies not solved ({exc}); their names and libraries are guessed")
        else:
            if not options.fatten:
                solved = thin_closure(job.name, solved)
            closures = {job.file_name: solved}
            base.append(sorted([str(hex_digest(r.sha256)), sorted(r.depends)]
                               for r in solved))
        key = _key(base)
        current = _up_to_date(wheel_dir, key)
        if current is not None:
            return JobResult(job.file_name, "skipped", "up to date", current, time.monotonic() - started)
        convert_options = ConvertOptions(
            channels=[options.channel], subdir=options.subdir, python=job.python, fatten=options.fatten,
            bundle_python_deps=options.bundle_python_deps, wheel_dir=wheel_dir, cache_dir=cache,
            validate=False, repodata_patch=options.repodata_patch, prefer=list(options.prefer),
            python_deps_elsewhere=options.batch_names - {job.name},
            name_mapping=list(options.name_mapping), native_prefix=options.native_prefix,
            known_packages=options.known_packages, plat=options.plat,
            channel_priority=options.channel_priority, exclude=list(options.exclude),
            include_dev=options.include_dev, compresslevel=options.compresslevel,
        )
        report = convert_records([job.record], convert_options, progress=notes.append, closures=closures)
        wheels = [Path(w.path).name for w in report.wheels]
        _write_state(wheel_dir, key, job, wheels)
        if not wheels and report.skipped:
            return JobResult(job.file_name, "skipped", report.skipped[0][1], [], time.monotonic() - started)
        reports = [asdict(w) for w in report.wheels] if options.validate else []
        return JobResult(job.file_name, "converted", "", sorted(wheels), time.monotonic() - started,
                         [n for n in notes if "retried" in n or "not solved" in n], reports, job.python)
    except PressError as exc:
        return JobResult(job.file_name, "failed", str(exc), [], time.monotonic() - started,
                         [n for n in notes if "retried" in n])
    except Exception as exc:  # a bug or a library crash must not stop the batch
        return JobResult(job.file_name, "failed", f"{type(exc).__name__}: {exc}", [], time.monotonic() - started,
                         [n for n in notes if "retried" in n])


def _execute(jobs: list[Job], options: BatchOptions) -> Iterator[JobResult]:
    """Yield a :class:`JobResult` per job as jobs finish. Parallel jobs are
    started largest archive first (longest-processing-time order), so the
    batch does not end on one large job while the other workers idle."""
    if options.scheduler or options.jobs > 1:
        jobs = sorted(jobs, key=lambda j: (-(j.size or 0), j.file_name))
    if options.scheduler:
        from distributed import Client, as_completed

        with Client(options.scheduler) as client:
            futures = {client.submit(run_job, job, options, pure=False): job for job in jobs}
            for future in as_completed(futures):
                try:
                    yield future.result()
                except Exception as exc:  # a worker that died
                    yield JobResult(futures[future].file_name, "failed", f"worker lost: {exc}")
        return
    if options.jobs <= 1:
        for job in jobs:
            yield run_job(job, options)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed as futures_completed

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(options.jobs, len(jobs)) or 1, mp_context=context)
    finished = False
    try:
        futures = {pool.submit(run_job, job, options): job for job in jobs}
        for future in futures_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # BrokenProcessPool: a worker crashed
                yield JobResult(futures[future].file_name, "failed", f"worker crashed: {exc}")
        finished = True
    finally:
        # After the last result the workers only exit (interpreter teardown,
        # about 0.5 s): the index is written meanwhile instead of waiting;
        # concurrent.futures still joins them before the interpreter exits.
        pool.shutdown(wait=not finished, cancel_futures=not finished)


def convert_channel(options: BatchOptions, progress: Callable[[Progress], None] | None = None,
                    messages: Callable[[str], None] | None = None) -> BatchReport:
    """Convert a channel (see the module docstring) into ``options.wheel_dir``.

    ``progress`` is called after every job with a :class:`Progress`;
    ``messages`` receives status strings of the other phases (reading the
    channel, the validation with ``validating [i/n] <wheel>``, the
    wheelhouse check, writing the index).
    Returns the :class:`BatchReport` (``ok`` is False when a job failed).
    Raises :class:`~press.errors.PressError` when the channel cannot be read
    or another batch holds the wheel directory.
    """
    started = time.monotonic()
    if options.scheduler:
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            raise PressError("a Dask scheduler needs Dask's distributed package, an optional extra of press: "
                             "pip install 'press[dask]'", field="--scheduler")
    wheel_dir = Path(options.wheel_dir)
    lock = WriteLock(wheel_dir, batch=True)  # removes a killed run's leftovers unless another press writes here
    options.wheel_dir = wheel_dir.resolve()
    say = messages or (lambda message: None)
    try:
        say(f"reading {options.channel} ({options.subdir} and noarch)")
        jobs, skipped = plan(options)
        options.batch_names = frozenset(j.name for j in jobs)
        say(f"converting {len(jobs)} artifacts")
        report = BatchReport(results=list(skipped))
        results: dict[str, JobResult] = {}
        done = 0
        # jobs are unequal and parallel ones start largest first: the ETA weighs them by archive size
        known = [j.size for j in jobs if j.size]
        weight = {j.file_name: j.size or (sum(known) / len(known) if known else 1) for j in jobs}
        total_weight, done_weight, jobs_started = sum(weight.values()), 0.0, time.monotonic()
        for result in _execute(jobs, options):
            results[result.artifact] = result
            done += 1
            done_weight += weight.get(result.artifact, 0)
            if progress:
                eta = remaining_seconds(time.monotonic() - jobs_started, done_weight, total_weight, done)
                counts = {"converted": 0, "skipped": 0, "failed": 0}
                for r in results.values():
                    counts[r.status] += 1
                progress(Progress(done, len(jobs), counts["converted"], counts["skipped"], counts["failed"], eta, result))
        report.results += [results[j.file_name] for j in jobs]
        say("checking that no two wheels ship the same file")
        _fail_clashes(report.results, wheel_dir)
        if options.validate:
            _validate(report.results, options, say)
        if options.check:
            targets = {j.python for j in jobs} | {p for p in options.pythons if p != "all"}
            report.wheelhouse = _check(report.results, sorted(targets), options, say)
        say(f"writing the index of {sum(1 for _ in wheel_dir.glob('*.whl'))} wheels")
        index = _index(wheel_dir)
        report.projects, report.index_warnings = len(index.projects), index.warnings()
        report.seconds = time.monotonic() - started
        return report
    finally:
        lock.close()


def _fail_clashes(results: list[JobResult], wheel_dir: Path) -> None:
    """Fail both jobs when wheels of two distributions ship the same file or
    import name (:func:`press.owners.wheel_clashes`): installed together, one
    would overwrite the other."""
    from .owners import wheel_clashes

    owner = {w: r for r in results if r.status != "failed" for w in r.wheels}
    for member, wheel, other in wheel_clashes({w: wheel_dir / w for w in owner}):
        for mine, theirs in ((wheel, other), (other, wheel)):
            if owner[mine].status != "failed":
                owner[mine].status, owner[mine].reason = "failed", f"{mine}: {member} is also shipped by {theirs}"


def _validate(results: list[JobResult], options: BatchOptions, say: Callable[[str], None]) -> None:
    """The validation pass of ``--validate``: the converted jobs' wheels, per
    Python, installed together into one venv (:func:`press.validate.validate_wheels`),
    with the test requirements single-spec validation uses (the channel's,
    converted on demand; imports needing one the channel lacks are skipped);
    a job with a failed wheel becomes ``failed``, one whose imports pass gets a note. ``say``
    receives the status messages."""
    from .convert import ConvertOptions, _Session, _test_requirements
    from .report import ValidationResult, WheelReport
    from .validate import validate_wheels

    by_python: dict[str | None, list[tuple[JobResult, WheelReport]]] = {}
    for result in results:
        for data in result.reports:
            wheel = WheelReport(**{k: v for k, v in data.items() if k != "validation"})
            by_python.setdefault(result.python, []).append((result, wheel))
    for python, pairs in sorted(by_python.items(), key=lambda kv: kv[0] or ""):
        convert_options = ConvertOptions(
            channels=[options.channel], subdir=options.subdir, python=python, wheel_dir=Path(options.wheel_dir),
            cache_dir=options.cache_dir, repodata_patch=options.repodata_patch,
            name_mapping=list(options.name_mapping), native_prefix=options.native_prefix,
            known_packages=options.known_packages, channel_priority=options.channel_priority,
            compresslevel=options.compresslevel,
        )
        # the test requirements of single-spec validation (convert._test_requirements): made from
        # the channel into a scratch directory, those it lacks turn their imports into skipped ones
        # the scratch wheels of test requirements are built with progress, but not listed as written
        session = _Session(convert_options, lambda message: None if message.startswith("wrote ") else say(message))
        try:
            say(f"validating {len(pairs)} wheels for Python {python or _running_python()}")
            validate_wheels([w for _, w in pairs], convert_options, _test_requirements(convert_options, session),
                            progress=say)
        finally:
            session.close()
        for result, wheel in pairs:
            outcome = wheel.validation or ValidationResult("skipped", "not validated")
            if outcome.status == "failed":
                result.status, result.reason = "failed", f"validation failed: {outcome.reason}"
            else:
                kind = "structural " if outcome.kind == "structural" else ""
                skipped = "; ".join(f"import skipped: {s}" for s in outcome.skipped_imports)
                detail = "; ".join(part for part in (outcome.reason, skipped) if part)
                result.notes.append(f"{Path(wheel.path).name}: {kind}validation {outcome.status}"
                                    + (f" ({detail})" if detail else ""))
        for result, _ in pairs:
            result.reports = []


def _check(results: list[JobResult], pythons: list[str], options: BatchOptions,
           say: Callable[[str], None] | None = None) -> list[str]:
    """The wheelhouse check after every job ran (:func:`press.installable.check_wheelhouse`)
    over the wheels of the converted and up-to-date jobs, for ``pythons``: a
    job whose wheel (pinned, or by its distribution name) does not install
    becomes ``failed`` with the reason. Returns the per-target summary lines.
    Without uv or pip the check cannot run: every job whose wheels it was to
    check fails with the remedy, and the one line says so. ``say`` receives
    the check's status messages."""
    from .installable import check_wheelhouse
    from .venvs import NoInstaller

    written = sorted({w for r in results if r.status != "failed" for w in r.wheels})
    if not written:
        return []
    try:
        found = check_wheelhouse(Path(options.wheel_dir), written, pythons, options.subdir, jobs=max(1, options.jobs),
                                 progress=say)
    except NoInstaller as exc:  # like validation without a tool: a failure with the remedy
        reason = f"the wheelhouse check cannot run: {exc}, or --no-wheelhouse-check"
        for result in results:
            if result.status != "failed" and result.wheels:
                result.status, result.reason = "failed", reason
        return [f"cannot run: {exc}"]
    owner = {w: r for r in results for w in r.wheels}
    for problem in found.problems:  # the wheel refused, pinned or the one a name resolves to
        hit = owner.get(problem.wheel or "")
        if hit is not None and hit.status != "failed":
            hit.status, hit.reason = "failed", problem.message()
    return found.summary()


def _index(wheel_dir: Path) -> SimpleIndex:
    from .index import write_index

    return write_index(wheel_dir)
