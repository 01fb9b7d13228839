"""Which artifacts of a channel a batch converts: the plan of ``press channel``.

:func:`plan` reads the channel's package names once, keeps those the
``-n`` globs select, and reads the repodata records of the selected names
a chunk of names at a time (:class:`ChannelView`): with ``-n`` only the
matching names are ever queried (with sharded repodata, CEP-16, only their
shards are fetched), and without it no more than a chunk's records are held
at once, so planning's memory grows with what is selected, not with the
channel. Of each record only what decides whether it becomes a job is read
first (its name, and its ``python``/``python_abi`` dependencies for the
Python it is built for); the whole ``depends`` list is parsed (checked as
channel input, :func:`press.package.parse_record_depends`) only for the
records that become jobs.

Selection, per name and Python pin: one build per version (conda's choice,
:func:`one_build_per_version`), then with ``--latest`` the newest version
only. What dependents need to know of the channel's packages that the name
mapping does not tell (:class:`press.names.PackageFacts`) is read for the
names the jobs depend on, and the :func:`press.jobstate.name_digest` of
every name read is kept for the up-to-date check.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence, cast

from .errors import PressError
from .fetch import hex_digest

if TYPE_CHECKING:
    from rattler import Gateway, RepoDataRecord, SparseRepoData
    from rattler.platform.subdir import SubdirLiteral

    from .batch import BatchOptions, Job, JobResult
    from .names import NameMapping, PackageFacts

#: Package names queried at once, and queries between two drops of the gateway's in-memory records
#: (rattler keeps every record it returned; dropping them costs a re-read of the subdir's index).
CHUNK_NAMES = 1000
CLEAR_EVERY = 4

_PYTHON_DEP = re.compile(r"^\s*(python|python_abi)(?![\w.-])")


class ChannelView:
    """A channel's ``subdir`` and ``noarch`` records, read by name in chunks.

    ``channel``: as the user gave it (a name, URL or directory; a local
    directory without repodata is indexed into ``cache``, see
    :func:`press.channel.channel_source`); ``patches``: repodata patch
    instructions. ``source`` is the channel as rattler reads it; ``digests``
    maps every name read so far to its :func:`press.jobstate.name_digest`.
    Raises :class:`~press.errors.ChannelError` when the channel cannot be read.
    """

    def __init__(self, channel: str, subdir: str, cache: Path,
                 patches: dict[str, dict[str, object]] | None = None) -> None:
        from .channel import channel_source, make_gateway

        self.channel, self.cache = channel, cache
        self.source = channel_source(channel, cache, subdir, patches)
        self.gateway: Gateway = make_gateway(cache)
        self.platforms = cast("list[SubdirLiteral]", list(dict.fromkeys([subdir, "noarch"])))
        self.digests: dict[str, str] = {}
        #: every name read so far -> the names its records depend on (what a solve may read next)
        self.dependencies: dict[str, tuple[str, ...]] = {}
        self._queries = 0
        self._sparse = self._local_repodata()

    def _local_repodata(self) -> list[SparseRepoData] | None:
        """rattler's ``SparseRepoData`` of each subdir's ``repodata.json``
        when the channel is a local directory that has them (read by name on
        demand, nothing kept: the gateway would keep every record it
        returned); None for other channels."""
        from urllib.parse import unquote, urlparse

        from rattler import Channel, SparseRepoData

        if not self.source.startswith("file://"):
            return None
        root = Path(unquote(urlparse(self.source).path))
        if not (root / "noarch" / "repodata.json").is_file():
            return None
        found = []
        try:
            for platform in self.platforms:
                path = root / platform / "repodata.json"
                if path.is_file():
                    found.append(SparseRepoData(Channel(self.source), platform, path))
        except Exception as exc:  # rattler's parse errors have no common base
            from .errors import ChannelError

            raise ChannelError(f"cannot read channel {self.channel}: {exc}") from exc
        return found

    def _run(self, coroutine: object) -> object:
        from .errors import ChannelError

        try:
            return asyncio.run(coroutine)  # type: ignore[arg-type]
        except Exception as exc:
            raise ChannelError(f"cannot read channel {self.channel}: {exc}") from exc

    def names(self) -> list[str]:
        """Every package name of the channel's two subdirs, sorted."""
        if self._sparse is not None:
            return sorted({str(n) for sparse in self._sparse for n in sparse.package_names()})
        found = cast("list[object]", self._run(self.gateway.names([self.source], self.platforms)))
        return sorted({str(getattr(n, "normalized", n)) for n in found})

    def _query(self, chunk: list[str]) -> dict[str, list[RepoDataRecord]]:
        """The records of ``chunk``'s names, by name (a ``.tar.bz2`` whose
        ``.conda`` twin is in the same subdir left out, as conda reads the pair)."""
        by_name: dict[str, list[RepoDataRecord]] = {}
        if self._sparse is not None:
            from rattler import PackageName

            try:
                for name in chunk:
                    package = PackageName(name)
                    by_name[name] = [r for sparse in self._sparse for r in sparse.load_records(package)]
            except Exception as exc:  # rattler's parse errors have no common base
                from .errors import ChannelError

                raise ChannelError(f"cannot read channel {self.channel}: {exc}") from exc
        else:
            result = cast("list[list[RepoDataRecord]]", self._run(
                self.gateway.query([self.source], self.platforms, specs=chunk, recursive=False)))
            for per_channel in result:
                for record in per_channel:
                    by_name.setdefault(record.name.normalized, []).append(record)
            del result
            self._queries += 1
            if self._queries % CLEAR_EVERY == 0:
                self.gateway.clear_repodata_cache(self.source, self.platforms)
        for name, records in by_name.items():
            conda = {(str(r.subdir), str(r.file_name)[:-len(".conda")]) for r in records
                     if str(r.file_name).endswith(".conda")}
            if conda:
                by_name[name] = [r for r in records if not (str(r.file_name).endswith(".tar.bz2") and (
                    str(r.subdir), str(r.file_name)[:-len(".tar.bz2")]) in conda)]
        return by_name

    def groups(self, names: Sequence[str]) -> Iterator[tuple[str, list[RepoDataRecord]]]:
        """``(name, its records)`` for each of ``names`` in order (an empty
        list for a name the channel lacks), queried :data:`CHUNK_NAMES` at a
        time; each name's digest is recorded in :attr:`digests`."""
        from .jobstate import name_digest

        for start in range(0, len(names), CHUNK_NAMES):
            chunk = list(names[start:start + CHUNK_NAMES])
            by_name = self._query(chunk)
            for name in chunk:
                records = by_name.pop(name, [])
                self.digests[name] = name_digest(records)
                self.dependencies[name] = tuple(sorted({sys.intern(d) for r in records
                                                        for d in dependency_names(r.depends)}))
                yield name, records

    def read_digests(self, names: Iterable[str]) -> None:
        """Record the digests of those of ``names`` not read yet (invalid
        conda names are left out: nothing in the channel has them)."""
        from .grammar import conda_name

        missing = []
        for name in sorted(set(names) - set(self.digests)):
            try:
                missing.append(conda_name(name))
            except ValueError:
                continue
        for _ in self.groups(missing):
            pass


@dataclass
class BatchPlan:
    """What :func:`plan` found: ``jobs`` (sorted by file name), ``results``
    known without converting (skipped records with the reason; archives of
    a local channel that could not be indexed and hostile records as
    failures), ``known_packages`` (facts of the packages the jobs depend on
    that the name mapping does not name), and the :class:`ChannelView` read."""

    jobs: list[Job]
    results: list[JobResult]
    view: ChannelView
    known_packages: tuple[PackageFacts, ...] = ()
    pythons: list[str] = field(default_factory=list)


def record_pin(depends: Sequence[str], label: str) -> str | None:
    """The ``X.Y`` a record is built for, from its ``python``/``python_abi``
    dependencies alone (checked against the MatchSpec grammar; the rest of
    ``depends`` is not read): :func:`press.tags.python_version_of`. None for
    noarch and non-Python records. Raises :class:`~press.errors.PressError`
    for a malformed ``python`` dependency."""
    relevant = tuple(d for d in depends if isinstance(d, str) and _PYTHON_DEP.match(d))
    if not relevant:
        return None
    try:
        return _pin_of(relevant)
    except ValueError as exc:  # named here: the cached parse cannot know the record
        from .package import invalid

        raise invalid(label, "repodata: depends", str(exc)) from None


@functools.lru_cache(maxsize=4096)
def _pin_of(relevant: tuple[str, ...]) -> str | None:
    """:func:`record_pin` of the ``python``/``python_abi`` dependencies
    alone (a channel has few distinct sets of them). Raises ValueError."""
    from .grammar import match_spec
    from .tags import python_version_of

    found = python_version_of([match_spec(d) for d in relevant])
    return f"{found[0]}.{found[1]}" if found else None


def _selected(name: str, globs: Sequence[str]) -> bool:
    return not globs or any(fnmatch.fnmatchcase(name, glob) for glob in globs)


def plan(options: BatchOptions) -> BatchPlan:
    """List and select the channel's records for ``options`` (see the module
    docstring). Raises :class:`~press.errors.ChannelError` when the channel
    cannot be read.

    The cyclic garbage collector is paused meanwhile: planning makes no
    cycles, and with hundreds of thousands of results alive each of its
    full passes walks them all (``--latest`` on 465k records took 26 s
    instead of 17)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        return _plan(options)
    finally:
        if enabled:
            gc.enable()


def _plan(options: BatchOptions) -> BatchPlan:
    from urllib.parse import unquote, urlparse

    from .batch import JobResult, _running_python, default_cache
    from .channel import load_repodata_patch
    from .files import writable_dir
    from .matchspec import is_plumbing
    from .names import load_mapping

    cache = writable_dir(Path(options.cache_dir or default_cache()), "--cache-dir")
    patches = load_repodata_patch(options.repodata_patch) if options.repodata_patch else None
    view = ChannelView(options.channel, options.subdir, cache, patches)
    results: list[JobResult] = []
    index_root = Path(unquote(urlparse(view.source).path)) if view.source.startswith("file://") else None
    if index_root is not None and cache.resolve() in index_root.parents:
        from .channel import local_index_duplicates, local_index_errors

        for file_name, reason in sorted(local_index_errors(index_root).items()):
            results.append(JobResult(file_name, "failed", reason))
        for file_name in sorted(local_index_duplicates(index_root, view.platforms)):  # conda reads only the .conda
            if _selected(file_name.rsplit("-", 2)[0], options.names):
                results.append(JobResult(file_name, "skipped", "also in the channel as .conda, the file conda uses"))
    selected = [n for n in view.names() if _selected(n, options.names)]
    pythons = [p for p in options.pythons if p != "all"] or [_running_python()]
    if "all" in options.pythons:  # every Python some selected record pins, newest first
        pins: set[str] = set()
        for _, records in view.groups(selected):
            for record in records:
                try:
                    pin = record_pin(record.depends, str(record.file_name))
                except PressError:
                    continue
                if pin is not None:
                    pins.add(pin)
        pythons = sorted(pins, key=lambda v: tuple(map(int, v.split("."))), reverse=True) or pythons
    mapping = load_mapping(cache, tuple(Path(p) for p in options.name_mapping))
    jobs: list[Job] = []
    facts: dict[str, PackageFacts] = {}
    for name, records in view.groups(selected):
        if not options.names:  # the whole channel: every name's facts, while its records are here
            _add_facts(facts, name, records, options.channel, mapping)
        if is_plumbing(name):
            results += [JobResult(str(r.file_name), "skipped", "conda plumbing: no wheel") for r in records]
            continue
        jobs += _select(name, records, options, pythons, results)
    jobs.sort(key=lambda j: j.file_name)
    if options.names:  # only the packages the jobs depend on
        wanted = sorted({d for job in jobs for d in dependency_names(job.depends)} - set(facts))
        from .grammar import conda_name

        valid = []
        for name in wanted:
            try:
                valid.append(conda_name(name))
            except ValueError:
                continue
        for name, records in view.groups(valid):
            _add_facts(facts, name, records, options.channel, mapping)
    return BatchPlan(jobs, results, view, tuple(facts[n] for n in sorted(facts)), pythons)


_NAME = re.compile(r"\s*([^\s=<>!~\[]+)")


def dependency_names(depends: Iterable[str]) -> set[str]:
    """The package names of MatchSpec strings (their first word, unchecked)."""
    found = set()
    for spec in depends:
        match = _NAME.match(spec)
        if match:
            found.add(match.group(1))
    return found


def _select(name: str, records: list[RepoDataRecord], options: BatchOptions, pythons: list[str],
            results: list[JobResult]) -> list[Job]:
    """The jobs of one name's records (appending the records left out to ``results``)."""
    from .batch import Job, JobResult
    from .package import parse_record_depends

    by_pin: dict[str | None, list[tuple[RepoDataRecord, str]]] = {}
    for file_name, record in sorted(((str(r.file_name), r) for r in records), key=lambda pair: pair[0]):
        try:
            pin = record_pin(record.depends, file_name)
        except PressError as exc:  # a hostile or broken record fails alone
            results.append(JobResult(file_name, "failed", str(exc)))
            continue
        if pin is not None and pin not in pythons:
            results.append(JobResult(file_name, "skipped", _not_requested(pin)))
            continue
        by_pin.setdefault(pin, []).append((record, file_name))
    jobs: list[Job] = []
    for pin, pairs in sorted(by_pin.items(), key=lambda kv: kv[0] or ""):
        pairs.sort(key=lambda p: (p[0].version, p[0].build_number, str(p[0].build)), reverse=True)
        file_names = {id(r): f for r, f in pairs}
        group, left_out = one_build_per_version([r for r, _ in pairs], [pin] if pin else pythons)
        results += left_out
        if options.latest:
            results += [JobResult(file_names[id(r)], "skipped", "not the newest (--latest)") for r in group[1:]]
            group = group[:1]
        for record in group:
            file_name = file_names[id(record)]
            try:
                depends = parse_record_depends(record.depends, file_name)
            except PressError as exc:
                results.append(JobResult(file_name, "failed", str(exc)))
                continue
            size, sha256 = record.size, hex_digest(record.sha256) or ""
            subdir, channel = sys.intern(str(record.subdir)), sys.intern(str(record.channel or ""))
            url = str(record.url)
            jobs.append(Job(name=name, version=str(record.version), build=str(record.build),
                            build_number=int(record.build_number), subdir=subdir, file_name=file_name,
                            url="" if url == Job.default_url(channel, subdir, file_name) else url,
                            sha256=sha256, depends=tuple(sys.intern(d) for d in depends), python=pin or pythons[0],
                            channel=channel, md5="" if sha256 else hex_digest(record.md5) or "",
                            size=size if isinstance(size, int) else None))
    return jobs


@functools.lru_cache(maxsize=64)
def _not_requested(pin: str) -> str:
    return f"built for Python {pin}, not requested"


def one_build_per_version(group: list[RepoDataRecord], pythons: list[str]
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
    highest build number, then newest timestamp. Only versions with several
    builds have their ``python`` dependency read."""
    from .batch import JobResult

    def admitted(record: RepoDataRecord) -> int:
        return _admitted(tuple(d for d in record.depends if _PYTHON_DEP.match(d)), tuple(pythons))

    def stamp(record: RepoDataRecord) -> float:
        timestamp = getattr(record, "timestamp", None)
        return timestamp.timestamp() if timestamp is not None else 0.0

    by_version: dict[str, list[RepoDataRecord]] = {}
    for record in group:  # keyed as installers see it: 1.0 and 1.0.0 are one version
        by_version.setdefault(_installer_version(str(record.version)), []).append(record)
    kept: set[int] = set()
    left_out: list[JobResult] = []
    for builds in by_version.values():
        if len(builds) == 1:
            kept.add(id(builds[0]))
            continue
        best = max(builds, key=lambda r: (admitted(r), int(r.build_number), stamp(r), str(r.file_name)))
        kept.add(id(best))
        left_out += [JobResult(str(r.file_name), "skipped",
                               f"another build of {r.name.normalized} {r.version} is kept ({best.build}): a "
                               "wheelhouse holds one build per version (installers take the highest build tag)")
                     for r in builds if r is not best]
    return [r for r in group if id(r) in kept], left_out


@functools.lru_cache(maxsize=4096)
def _admitted(relevant: tuple[str, ...], pythons: tuple[str, ...]) -> int:
    """How many of ``pythons`` (``X.Y``) the ``python`` dependencies
    ``relevant`` admit, as the solver reads ``X.Y`` (0 for malformed ones)."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    from .grammar import match_spec
    from .metadata import requires_python

    try:
        allowed = SpecifierSet(requires_python([match_spec(d) for d in relevant]) or "")
    except (ValueError, PressError, InvalidSpecifier):
        return 0
    return sum(allowed.contains(f"{python}.99", prereleases=True) for python in pythons)


@functools.lru_cache(maxsize=4096)
def _installer_version(conda_version: str) -> str:
    """The version as installers compare it (:func:`press.version.to_pep440`), or the conda one."""
    from .version import to_pep440

    try:
        return to_pep440(conda_version)
    except PressError:
        return conda_version


def _add_facts(facts: dict[str, PackageFacts], name: str, records: list[RepoDataRecord], channel: str,
               mapping: NameMapping) -> None:
    """The :class:`~press.names.PackageFacts` of the newest of ``records``
    when the name mapping cannot tell what ``name`` is (unmapped or
    ``null``), or names a package that is no Python package here."""
    from rattler import Version

    from .names import record_facts
    from .package import parse_record_depends

    if not records:
        return
    newest = max(records, key=lambda r: (Version(str(r.version)), int(r.build_number)))
    try:
        depends = parse_record_depends(newest.depends, str(newest.file_name))
    except PressError:
        return
    noarch = getattr(newest, "noarch", None)
    fact = record_facts(name, channel, depends, "python" if getattr(noarch, "python", False) else None)
    if not mapping.get(name) or not fact.python:
        facts[name] = fact
