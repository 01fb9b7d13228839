"""Batch conversion of a channel into a wheelhouse with a PEP 503/691 index.

:func:`convert_channel` plans (:mod:`press.selection`: the channel's records
for a subdir plus ``noarch``, read a chunk of names at a time, selected by
name globs, Python versions and newest only), decides in this process which
planned jobs are up to date (:mod:`press.jobstate`), runs the others
(:mod:`press.dispatch`: worker processes on this machine, ``jobs``, or a
Dask distributed cluster, ``scheduler``; the batch's shared facts sent once
per worker), checks the wheel set, and updates the simple index
(:mod:`press.index`). A job's failure is reported and never stops the batch.

Incremental and resumable: each job has a key, the sha256 of what decides
its output and is known before it runs (the artifact's sha256 and repodata
``depends``, the Python, the options, :data:`press.jobstate.OUTPUT_FORMAT`).
As each job finishes, this process records ``<wheel dir>/.press-state/<key>.json``:
its wheels (sha256 and file identity) and a digest of the repodata records
of every package its solve read; a later run skips a job whose records and
wheels are unchanged, without solving it. Wheels, metadata files, index
pages and state files are only ever renamed into place, and a run starts by
removing the temporary files a killed run left, so the wheel directory never
shows a partial file and a resumed run ends with the bytes an uninterrupted
one makes. Nothing inside the wheel directory is followed through a symbolic
link, and leftovers are removed only when no other press writes there
(:mod:`press.wheelhouse`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, cast

from .errors import PressError
from .files import Directory
from .wheelhouse import STATE_DIR, WriteLock, read_json

if TYPE_CHECKING:
    from rattler import RepoDataRecord
    from rattler.platform.subdir import SubdirLiteral

    from .index import SimpleIndex
    from .names import PackageFacts
    from .selection import ChannelView

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
    ``exclude``/``include_dev``/``strip``: as in
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
    strip: bool = False
    validate: bool = False
    compresslevel: int = 6
    check: bool = True
    #: set by :func:`convert_channel`: names every job of the batch converts.
    batch_names: frozenset[str] = frozenset()
    #: set by :func:`convert_channel`: what naming needs of the channel's
    #: packages that the name mapping does not name (see :mod:`press.names`).
    known_packages: tuple[PackageFacts, ...] = ()
    #: set by :func:`convert_channel`: the channel as rattler reads it (a local directory's index in
    #: the cache), so jobs do not index it again; and an id of the run, for what its jobs share.
    source: str = ""
    batch_id: str = ""


@dataclass(frozen=True, slots=True)
class Job:
    """One artifact to convert (picklable: sent to worker processes).

    ``python``: the ``X.Y`` it is converted for; the rest mirrors its
    repodata record, kept small (a channel has hundreds of thousands): ``url``
    is empty when it is :meth:`default_url`, ``md5`` when ``sha256`` is
    known (it decides alone: :func:`press.fetch._reusable`)."""

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

    @staticmethod
    def default_url(channel: str, subdir: str, file_name: str) -> str:
        """Where a channel keeps an artifact: ``<channel>/<subdir>/<file name>``."""
        return f"{channel.rstrip('/')}/{subdir}/{file_name}"


class _Record:
    """The face of a repodata record that :func:`press.convert.convert_records` reads."""

    def __init__(self, job: Job) -> None:
        from rattler import PackageName

        self.name = PackageName(job.name)
        self.version, self.build, self.file_name = job.version, job.build, job.file_name
        self.url = job.url or Job.default_url(job.channel, job.subdir, job.file_name)
        self.sha256, self.depends = job.sha256, list(job.depends)
        self.channel, self.md5, self.size = job.channel, job.md5 or None, job.size


@dataclass(slots=True)
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
    #: for the batch's state (:mod:`press.jobstate`), not reported: the conda names the job's solve
    #: used, and its wheels' :class:`~press.jobstate.WheelStamp` fields.
    closure: list[str] = field(default_factory=list)
    stamps: list[dict[str, Any]] = field(default_factory=list)


    def public(self) -> dict[str, Any]:
        """The result as ``--json`` shows it (without the batch's bookkeeping)."""
        return {k: v for k, v in asdict(self).items() if k not in ("closure", "stamps")}


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
                           "seconds": round(self.seconds, 2), "results": [r.public() for r in self.results],
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


def plan(options: BatchOptions) -> tuple[list[Job], list[JobResult]]:
    """List and select the channel's records (:func:`press.selection.plan`):
    returns (jobs, results known without converting: skipped records, and
    archives of a local channel that could not even be indexed, as
    failures), and sets ``options.known_packages``. Raises
    :class:`~press.errors.ChannelError` when the channel cannot be read."""
    from .selection import plan as select

    found = select(options)
    options.known_packages = found.known_packages
    return found.jobs, found.results


def _running_python() -> str:
    import sys

    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def default_cache() -> Path:
    """press's default cache directory (:func:`press.convert.default_cache_dir`)."""
    from .convert import default_cache_dir

    return default_cache_dir()


def job_inputs(job: Job, options: BatchOptions, shared: list[Any] | None = None) -> list[Any]:
    """What decides a job's wheels besides its closure, as JSON values (the
    parts of its key, :func:`press.jobstate.job_key`): the artifact's sha256
    and ``depends``, the Python, and ``shared`` (:func:`batch_inputs`, the
    same for every job of a batch; computed when None)."""
    return [job.sha256, sorted(job.depends), job.python, *(shared if shared is not None else batch_inputs(options))]


def batch_inputs(options: BatchOptions) -> list[Any]:
    """The options that change output (the native-name prefix as it is
    decided: a channel moved to another directory name changes it), and a
    digest of the name mapping in effect (the shipped or refreshed one and
    the ``name_mapping`` files' contents: a file edited in place changes
    names)."""
    from .names import load_mapping, native_prefix

    mapping = load_mapping(Path(options.cache_dir or default_cache()), tuple(Path(p) for p in options.name_mapping))
    names = hashlib.sha256(json.dumps(sorted((k, list(v) if v else None) for k, v in mapping.entries.items()))
                           .encode()).hexdigest()
    prefix = options.native_prefix if options.native_prefix is not None else native_prefix(options.channel)
    parts: list[Any] = [options.subdir, options.fatten, options.bundle_python_deps, options.prefer,
                        prefix, options.plat, options.channel_priority, sorted(options.exclude),
                        options.include_dev, ["mapping", names], options.compresslevel]
    if options.strip:
        parts.append(["strip", True])
    return parts


_CONTEXT: dict[str, Any] = {}


def _gateway(options: BatchOptions) -> Any:
    """The rattler gateway this process's jobs of one batch share (its
    repodata read once per process, not once per job); None outside a batch."""
    if not options.batch_id:
        return None
    if _CONTEXT.get("batch") != options.batch_id:
        from .channel import make_gateway

        _CONTEXT.clear()
        _CONTEXT.update(batch=options.batch_id, gateway=make_gateway(Path(options.cache_dir or default_cache())))
    return _CONTEXT["gateway"]


def run_job(job: Job, options: BatchOptions) -> JobResult:
    """Convert one artifact (runs in a worker process, on a Dask worker, or
    in the batch's process). Never raises for a job's failure: a
    :class:`~press.errors.PressError` or any other exception becomes a
    ``failed`` result with its message. The result carries what the batch
    records of it (:mod:`press.jobstate`): the names its solve used and the
    stamps of its wheels."""
    from .channel import solve
    from .closure import thin_closure
    from .convert import ConvertOptions, convert_records
    from .jobstate import stamp
    from .selection import dependency_names

    started = time.monotonic()
    wheel_dir = Path(options.wheel_dir)
    cache = Path(options.cache_dir or default_cache())
    notes: list[str] = []
    try:
        closures = None
        closure_names = sorted({job.name, *dependency_names(job.depends)})
        patches = None
        if options.repodata_patch:
            from .channel import load_repodata_patch

            patches = load_repodata_patch(options.repodata_patch)
        try:
            solved = solve([f"{job.name}=={job.version}={job.build}"], [options.channel], options.subdir, job.python,
                           cache, patches, channel_priority=options.channel_priority,
                           sources=[options.source] if options.source else None, gateway=_gateway(options))
        except PressError as exc:
            if options.fatten:
                raise
            # A thin wheel is made from the artifact alone; its dependencies' names and libraries
            # are then guessed from the name mapping, and the wheelhouse check judges the set.
            notes.append(f"dependencies not solved ({exc}); their names and libraries are guessed")
        else:
            closure_names = sorted({r.name.normalized for r in solved} | {job.name})
            if not options.fatten:
                solved = thin_closure(job.name, solved)
            closures = {job.file_name: solved}
        convert_options = ConvertOptions(
            channels=[options.channel], subdir=options.subdir, python=job.python, fatten=options.fatten,
            bundle_python_deps=options.bundle_python_deps, wheel_dir=wheel_dir, cache_dir=cache,
            validate=False, repodata_patch=options.repodata_patch, prefer=list(options.prefer),
            python_deps_elsewhere=options.batch_names - {job.name},
            name_mapping=list(options.name_mapping), native_prefix=options.native_prefix,
            known_packages=options.known_packages, plat=options.plat,
            channel_priority=options.channel_priority, exclude=list(options.exclude),
            include_dev=options.include_dev, compresslevel=options.compresslevel, strip=options.strip,
        )
        report = convert_records([job.record], convert_options, progress=notes.append, closures=closures)
        wheels = sorted({Path(w.path).name for w in report.wheels})
        stamps = [vars(stamp(wheel_dir, w)) for w in wheels]
        if not wheels and report.skipped:
            return JobResult(job.file_name, "skipped", report.skipped[0][1], [], time.monotonic() - started,
                             closure=closure_names, stamps=stamps)
        reports = [asdict(w) for w in report.wheels] if options.validate else []
        return JobResult(job.file_name, "converted", "", wheels, time.monotonic() - started,
                         [n for n in notes if "retried" in n or "not solved" in n], reports, job.python,
                         closure=closure_names, stamps=stamps)
    except PressError as exc:
        return JobResult(job.file_name, "failed", str(exc), [], time.monotonic() - started,
                         [n for n in notes if "retried" in n])
    except Exception as exc:  # a bug or a library crash must not stop the batch
        return JobResult(job.file_name, "failed", f"{type(exc).__name__}: {exc}", [], time.monotonic() - started,
                         [n for n in notes if "retried" in n])


class _Ledger:
    """The parent's side of :mod:`press.jobstate`: which planned jobs are up
    to date, and the state of each job as its result comes back."""

    def __init__(self, jobs: list[Job], options: BatchOptions, view: ChannelView) -> None:
        from .jobstate import JobState, job_key, read_states

        self.options, self.view = options, view
        self.wheel_dir = Path(options.wheel_dir)
        shared = batch_inputs(options)
        self.keys = {j.file_name: job_key(job_inputs(j, options, shared)) for j in jobs}
        self.states = read_states(self.wheel_dir, self.keys.values())
        self.written: dict[str, JobState] = {}

    def up_to_date(self, job: Job) -> JobResult | None:
        """A ``skipped``/``up to date`` result when ``job``'s state is
        current (its closure's records unchanged, its wheels intact), else None."""
        from .jobstate import JobState, closure_digest, intact, write_state

        key = self.keys[job.file_name]
        state = self.states.get(key)
        if state is None or state.artifact != job.file_name or (self.options.validate and not state.validated):
            return None
        self.view.read_digests(state.closure)
        if closure_digest(state.closure, self.view.digests) != state.closure_digest:
            return None
        whole, stamps = intact(self.wheel_dir, state)
        if not whole:
            return None
        if tuple(stamps) != state.wheels:  # a copied wheelhouse: record the new identities
            try:
                write_state(self.wheel_dir, key, JobState(state.artifact, tuple(stamps), state.closure,
                                                          state.closure_digest, state.validated))
            except (OSError, PressError):
                pass  # hashed again next time
        result = JobResult(job.file_name, "skipped", "up to date", [s.name for s in stamps])
        result.stamps = [vars(s) for s in stamps]
        return result

    def record(self, job: Job, result: JobResult) -> None:
        """Write the state of a finished job (converted, or skipped by the
        conversion itself): its wheels' stamps and its closure with the
        digest of that closure's records now."""
        from .jobstate import JobState, WheelStamp, closure_digest, write_state

        if result.status == "failed" or result.reason == "up to date":
            return
        names = set(result.closure)
        self.view.read_digests(names)
        for name in list(names):  # names a record of the closure may depend on: a new one could change the solve
            names.update(self.view.dependencies.get(name, ()))
        names.discard(job.name)  # the job's spec names its own build: the name's other records are not read
        names.discard("python")  # solved against a virtual python of the target version, never the channel's
        self.view.read_digests(names)
        digest = closure_digest(names, self.view.digests)
        if digest is None:
            return
        stamps = tuple(sorted((WheelStamp(**s) for s in result.stamps), key=lambda s: s.name))
        state = JobState(job.file_name, stamps, tuple(sorted(names)), digest)
        try:
            write_state(self.wheel_dir, self.keys[job.file_name], state)
        except (OSError, PressError) as exc:
            result.notes.append(f"state not recorded ({exc}): the next run converts it again")
        else:
            self.written[job.file_name] = state

    def settle(self, results: list[JobResult]) -> None:
        """After the checks: forget the state of every job they failed (it
        runs again next time, as a failed job does), and mark the wheels of
        the jobs that passed ``--validate`` as validated."""
        from .jobstate import JobState, forget_state, write_state

        for result in results:
            key = self.keys.get(result.artifact)
            if key is None:
                continue
            if result.status == "failed":
                forget_state(self.wheel_dir, key)
            elif self.options.validate and result.artifact in self.written:
                state = self.written[result.artifact]
                try:
                    write_state(self.wheel_dir, key, JobState(state.artifact, state.wheels, state.closure,
                                                              state.closure_digest, validated=True))
                except (OSError, PressError):
                    pass  # validated again next time


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
    import uuid

    from .dispatch import execute
    from .selection import plan as select

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
        found = select(options)
        jobs = found.jobs
        options.known_packages = found.known_packages
        options.batch_names = frozenset(j.name for j in jobs)
        options.source, options.batch_id = found.view.source, uuid.uuid4().hex
        say(f"checking {len(jobs)} artifacts against the wheel directory")
        ledger = _Ledger(jobs, options, found.view)
        results: dict[str, JobResult] = {}
        for job in jobs:
            current = ledger.up_to_date(job)
            if current is not None:
                results[job.file_name] = current
        todo = [j for j in jobs if j.file_name not in results]
        say(f"converting {len(todo)} artifacts" + (f" ({len(results)} up to date)" if results else ""))
        report = BatchReport(results=list(found.results))
        counts = {"converted": 0, "skipped": 0, "failed": 0}
        # jobs are unequal and parallel ones start largest first: the ETA weighs them by archive size
        known = [j.size for j in todo if j.size]
        weight = {j.file_name: j.size or (sum(known) / len(known) if known else 1) for j in todo}
        total_weight, done_weight, jobs_started = sum(weight.values()), 0.0, time.monotonic()
        by_name = {j.file_name: j for j in todo}
        for done, result in enumerate(execute(todo, options), start=1):
            results[result.artifact] = result
            ledger.record(by_name[result.artifact], result)
            counts[result.status] += 1
            done_weight += weight.get(result.artifact, 0)
            if progress:
                eta = remaining_seconds(time.monotonic() - jobs_started, done_weight, total_weight, done)
                progress(Progress(done, len(todo), counts["converted"], counts["skipped"], counts["failed"], eta,
                                  result))
        report.results += [results[j.file_name] for j in jobs]
        targets = sorted({j.python for j in jobs} | {p for p in options.pythons if p != "all"})
        verdict = _set_key(report.results, targets, options, wheel_dir)
        previous = _checked(wheel_dir, verdict)
        if previous is not None and not options.validate:
            report.wheelhouse = previous  # the same wheels passed the same checks before
        else:
            say("checking that no two wheels ship the same file")
            _fail_clashes(report.results, wheel_dir)
            if options.validate:
                _validate(report.results, options, say)
            if options.check:
                report.wheelhouse = _check(report.results, targets, options, say)
            ledger.settle(report.results)
            if report.ok:
                _record_checked(wheel_dir, verdict, report.wheelhouse)
        say(f"writing the index of {sum(1 for _ in wheel_dir.glob('*.whl'))} wheels")
        index = _index(wheel_dir)
        report.projects, report.index_warnings = len(index.projects), index.warnings()
        report.seconds = time.monotonic() - started
        return report
    finally:
        lock.close()


def _set_key(results: list[JobResult], pythons: list[str], options: BatchOptions, wheel_dir: Path) -> str:
    """What the checks after the jobs judge: every wheel of the batch (name
    and sha256), every other wheel of the directory they resolve against
    (name and ``lstat`` identity: another run's or the user's wheel added,
    replaced or removed changes the key), the targets and the checks asked
    for."""
    wheels = sorted({(s["name"], s["sha256"]) for r in results if r.status != "failed" for s in r.stamps})
    present = []
    try:
        with Directory.open(wheel_dir) as directory:
            for name in sorted(directory.names()):
                found = directory.lstat(name) if name.endswith(".whl") else None
                if found is not None:
                    present.append([name, found.st_mode, found.st_size, found.st_ino, found.st_mtime_ns,
                                    found.st_ctime_ns])
    except (OSError, PressError):
        present.append(["unreadable"])
    return hashlib.sha256(json.dumps([wheels, present, pythons, options.subdir, options.plat, options.check],
                                     sort_keys=True).encode()).hexdigest()


def _checked(wheel_dir: Path, key: str) -> list[str] | None:
    """The wheelhouse summary of the last passed check of the wheel set
    ``key``, or None (also for a malformed file, or lines that are not
    printable text: they are shown on a terminal)."""
    try:
        with Directory.open(wheel_dir) as directory, directory.sub(STATE_DIR) as state:
            doc = read_json(state, "checked.json")
    except (OSError, ValueError, PressError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != key:
        return None
    summary = doc.get("wheelhouse")
    if not isinstance(summary, list) or len(summary) > 100 or not all(
            isinstance(line, str) and len(line) < 1000 and line.isprintable() for line in summary):
        return None
    return [str(line) for line in summary]


def _record_checked(wheel_dir: Path, key: str, summary: list[str]) -> None:
    """Remember that the wheel set ``key`` passed the checks (a lost memo only costs a check)."""
    try:
        with Directory.open(wheel_dir) as directory, directory.sub(STATE_DIR, create=True) as state:
            state.write("checked.json", json.dumps({"key": key, "wheelhouse": summary}, indent=1, sort_keys=True))
    except (OSError, PressError):
        pass


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
