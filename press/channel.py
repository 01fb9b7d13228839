"""Channels, repodata and the solve: from MatchSpecs to the records of a closure.

Channels are resolved as conda does (``-c/--channel``): a bare name goes to the
public conda channel host (``conda-forge`` by default), an ``http(s)://`` or
``file://`` URL is used as is, and a local directory is used directly when each
of its subdirs has a ``repodata.json``; otherwise it is indexed into the cache
(never into the user's directory) with a ``repodata.json`` whose
``info.base_url`` (CEP-15) points back at the user's files.

Solving is py-rattler's (strict channel priority unless ``--channel-priority`` says otherwise). The target interpreter is
not taken from the channel: a virtual ``python`` record of the requested
version satisfies ``python`` dependencies, so a channel without the
interpreter package still solves. The other plumbing a wheel never requires
(``python_abi``, ``pip``) is virtual too, but only when the channels have no
record of it (:data:`VIRTUAL_WHEN_ABSENT`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform as _platform
from stat import S_ISREG
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, cast
from urllib.parse import urlparse
from urllib.request import url2pathname

from .artifact import ARCHIVE_SUFFIXES
from .errors import ChannelError, SolveError, SpecError
from .files import atomic_write, open_subdirs

if TYPE_CHECKING:
    from rattler import Gateway, GenericVirtualPackage, MatchSpec, RepoDataRecord
    from rattler.platform.subdir import SubdirLiteral

DEFAULT_CHANNEL = "conda-forge"

#: conda's ``--channel-priority`` values (rattler's ``ChannelPriority`` members, capitalised).
CHANNEL_PRIORITIES = ("strict", "flexible", "disabled")

#: Build string of the virtual python record in conda-forge's convention:
#: its python_abi ``constrains: python 3.X.* *_cpython``.
VIRTUAL_PYTHON_BUILD = "0_cpython"


def virtual_python_builds(python: str, freethreading: bool = False) -> list[str]:
    """The build strings the virtual python record is offered under: one per
    channel convention, since python_abi pins the build by glob:
    conda-forge's ``*_cpython`` and Anaconda's ``*_cpXY`` (``*_cpXYt`` for a
    free-threaded build). ``python``: ``X.Y`` or ``X.Y.Z``."""
    major, minor = python.split(".")[:2]
    tag = f"cp{major}{minor}{'t' if freethreading else ''}"
    return [VIRTUAL_PYTHON_BUILD, f"0_{tag}"]


#: Plumbing (:data:`press.metadata.PLUMBING`: no wheel requires it) that the
#: solve provides as a virtual package when the channels lack it, so that a
#: channel without these records still solves: ``python_abi`` (when no record
#: matches ``python_abi X.Y.*`` for the target) and ``pip`` (when there is no
#: ``pip`` record at all; conda-forge's own ``python`` depends on it).
VIRTUAL_WHEN_ABSENT = ("python_abi", "pip")
#: Version of the virtual ``pip``: above every release, so ``pip >=N`` is
#: met (a package capping pip needs a real ``pip`` record in the channel).
VIRTUAL_PIP_VERSION = "99"


def virtual_python_abi_builds(python: str) -> list[str]:
    """The build strings a virtual ``python_abi X.Y`` is offered under, one
    per ABI suffix conda channels have pinned it with (``python_abi 3.12.*
    *_cp312``; ``*_cp37m`` before Python 3.8, ``*_cp27mu``/``*_cp27m`` for
    2.7: PEP 3149 ABI flags). ``python``: ``X.Y`` or ``X.Y.Z``."""
    major, minor = (int(part) for part in python.split(".")[:2])
    tag = f"cp{major}{minor}"
    builds = [f"0_{tag}"]
    if (major, minor) < (3, 8):
        builds.append(f"0_{tag}m")
    if major == 2:
        builds.append(f"0_{tag}mu")
    return builds


def native_subdir() -> str:
    """The conda subdir of this machine, e.g. ``linux-64``."""
    system = {"Linux": "linux", "Darwin": "osx", "Windows": "win"}.get(_platform.system(), "linux")
    machine = _platform.machine().lower()
    arch = {"x86_64": "64", "amd64": "64", "aarch64": "aarch64", "arm64": "arm64", "ppc64le": "ppc64le"}.get(machine, "64")
    if system == "linux" and arch == "arm64":
        arch = "aarch64"
    if system == "osx" and arch == "aarch64":
        arch = "arm64"
    return f"{system}-{arch}"


#: What users write for a subdir, and the subdir they mean (a wheel
#: platform tag or an OS/arch spelling of another tool).
_SUBDIR_SPELLINGS = {"linux": "linux-64", "x86_64": "linux-64", "amd64": "linux-64", "aarch64": "linux-aarch64",
                     "arm64": "osx-arm64", "macos": "osx-arm64", "osx": "osx-arm64", "darwin": "osx-arm64",
                     "windows": "win-64", "win": "win-64", "win32": "win-64", "win_amd64": "win-64"}


def known_subdirs() -> list[str]:
    """Every subdir conda knows (rattler's ``Subdir.all()``), e.g.
    ``['noarch', 'linux-32', 'linux-64', ...]``."""
    import rattler

    subdir = getattr(rattler, "Subdir", None) or rattler.Platform  # Platform before py-rattler 0.2x's rename
    return [str(item) for item in subdir.all()]


def subdir_hint(subdir: str) -> str | None:
    """None when ``subdir`` is one of :func:`known_subdirs`; otherwise what
    is wrong and the subdir meant: ``linux64`` and ``linux_64`` are
    ``linux-64``, ``osx-arm`` is ``osx-arm64``, ``macosx_11_0_arm64`` (a
    wheel platform tag) is ``osx-arm64``, found by spelling and then by
    closeness (difflib)."""
    import difflib

    known = known_subdirs()
    if subdir in known:
        return None
    text = subdir.strip().lower()
    guess = text.replace("_", "-")
    if guess not in known:
        guess = _SUBDIR_SPELLINGS.get(text, "")
    if not guess:
        for marker, meant in (("manylinux", "linux-"), ("musllinux", "linux-"), ("macosx", "osx-"), ("win", "win-")):
            if text.startswith(marker):
                arch = {"x86_64": "64", "amd64": "64", "aarch64": "aarch64", "arm64": "arm64"}.get(
                    next((a for a in ("x86_64", "amd64", "aarch64", "arm64") if text.endswith(a)), ""), "64")
                guess = meant + ("aarch64" if meant == "linux-" and arch == "arm64" else
                                 "arm64" if meant == "osx-" and arch == "aarch64" else arch)
                break
    if not guess or guess not in known:
        close = difflib.get_close_matches(guess or text, known, n=1, cutoff=0.6)
        guess = close[0] if close else ""
    common = "linux-64, linux-aarch64, osx-64, osx-arm64, win-64"
    meant = f"did you mean {guess}? " if guess else ""
    return f"{subdir!r} is not a conda subdir: {meant}(conda's subdirs are {common}, ... or noarch)"


def virtual_packages(subdir: str, python: str | None, absent: Collection[str] = ()) -> list[GenericVirtualPackage]:
    """The virtual packages of a target ``subdir`` for the solve.

    Linux targets get ``__unix``, ``__linux`` and ``__glibc 2.17`` (the
    conda-forge sysroot; the wheel's manylinux tag is computed later from the
    binaries, not from this), macOS ``__unix`` and ``__osx`` (11.0 on arm64,
    10.13 on x86_64), Windows ``__win``; all get ``__archspec``. ``python``
    (``X.Y`` or ``X.Y.Z``) adds virtual ``python`` records, one per
    build-string convention (:func:`virtual_python_builds`), and, for the
    names of :data:`VIRTUAL_WHEN_ABSENT` listed in ``absent`` (the channels
    have no record of them), ``python_abi X.Y`` (:func:`virtual_python_abi_builds`)
    and ``pip`` (:data:`VIRTUAL_PIP_VERSION`). Returns
    ``rattler.GenericVirtualPackage`` objects.
    """
    from rattler import BuildString, GenericVirtualPackage, PackageName, Version

    def vp(name: str, version: str, build: str = "0") -> GenericVirtualPackage:
        return GenericVirtualPackage(PackageName(name), Version(version), BuildString(build))

    system, _, arch = subdir.partition("-")
    archspec = {"64": "x86_64", "32": "x86"}.get(arch, arch)
    result = [vp("__archspec", "1", archspec)]
    if system == "linux":
        result += [vp("__unix", "0"), vp("__linux", "5.10"), vp("__glibc", "2.17")]
    elif system == "osx":
        result += [vp("__unix", "0"), vp("__osx", "11.0" if arch == "arm64" else "10.13")]
    elif system == "win":
        result += [vp("__win", "0")]
    if python:
        result += [vp("python", python_full_version(python), build) for build in virtual_python_builds(python)]
        if "python_abi" in absent:
            abi = ".".join(python.split(".")[:2])
            result += [vp("python_abi", abi, build) for build in virtual_python_abi_builds(python)]
        if "pip" in absent:
            result.append(vp("pip", VIRTUAL_PIP_VERSION))
    return result


async def absent_plumbing(gateway: Gateway, sources: list[str], platforms: list[SubdirLiteral],
                          python: str | None) -> list[str]:
    """The names of :data:`VIRTUAL_WHEN_ABSENT` that the solve must provide
    (:func:`virtual_packages` ``absent``): ``python_abi`` when no record of
    ``sources`` matches ``python_abi X.Y.*`` for ``python``, ``pip`` when
    there is no ``pip`` record at all; none without a target ``python``. A
    channel's own record is never shadowed. Raises what ``gateway.query``
    raises when a channel cannot be read."""
    from rattler import MatchSpec

    if not python:
        return []
    wanted = {"python_abi": MatchSpec(f"python_abi {'.'.join(python.split('.')[:2])}.*"), "pip": MatchSpec("pip")}
    found = await gateway.query(sources, platforms, specs=list(wanted), recursive=False)
    present = {name for per_channel in found for record in per_channel
               for name, spec in wanted.items() if spec.matches(record)}
    return [name for name in VIRTUAL_WHEN_ABSENT if name not in present]


def python_full_version(python: str) -> str:
    """``3.12`` -> ``3.12.99`` (a patch level above every release, so any
    ``python >=3.12.N`` dependency is met); ``X.Y.Z`` is returned unchanged."""
    parts = python.split(".")
    if len(parts) == 2:
        return f"{python}.99"
    return python


def _local_dir(channel: str) -> Path | None:
    if channel.startswith("file://"):
        return Path(url2pathname(urlparse(channel).path))
    if "://" in channel:
        return None
    path = Path(channel)
    if path.is_dir() or channel.startswith((".", "/", "~")) or os.sep in channel:
        path = path.expanduser()
        if not path.is_dir():
            raise ChannelError(f"channel directory {channel!r} does not exist")
        return path.resolve()
    return None


def channel_source(channel: str, cache_dir: Path, subdir: str, patches: dict[str, dict[str, Any]] | None = None,
                   notes: list[str] | None = None, duplicates: list[str] | None = None) -> str:
    """Return the channel string to hand rattler for ``channel``.

    Local directories without repodata are indexed under
    ``cache_dir/channels/`` (re-indexed only when their files change); the
    files the index left out (unreadable archives, FIFOs and other
    non-regular files) are described in ``notes``, and packages held both
    as ``.conda`` and ``.tar.bz2`` in ``subdir`` or ``noarch`` in one line of
    ``duplicates`` (:func:`local_index_duplicates`). Raises
    :class:`ChannelError` for a directory that does not exist.
    """
    local = _local_dir(channel)
    if local is None:
        return channel
    _check_channel_shape(channel, local)
    if not patches and all(
        (local / sd / "repodata.json").is_file() for sd in (subdir, "noarch") if (local / sd).is_dir()
    ) and (local / "noarch" / "repodata.json").is_file():
        return local.as_uri()
    root = index_local_channel(local, cache_dir, patches)
    if notes is not None:
        notes += [f"{channel}: left out of the index: {reason}" for _name, reason in
                  sorted(local_index_errors(root).items())]
    pairs = local_index_duplicates(root, [subdir, "noarch"]) if duplicates is not None else {}
    if duplicates is not None and pairs:
        ignored = sorted(pairs)
        shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        duplicates.append(f"{channel}: {len(ignored)} package{'s are' if len(ignored) > 1 else ' is'} there both as "
                          f".conda and .tar.bz2; as conda does, press uses the .conda file and ignores {shown}")
    return root.as_uri()


def _check_channel_shape(channel: str, local: Path) -> None:
    """Refuse a local directory that is not a channel but a part of one or
    a folder of them, naming the directory to give instead: a channel holds
    its artifacts in subdir folders (``noarch/``, ``linux-64/``...).
    Raises :class:`ChannelError`."""
    known = set(known_subdirs())
    try:
        children = [c for c in local.iterdir()][:10_000]
    except OSError as exc:
        raise ChannelError(f"channel directory {channel!r} cannot be read: {exc.strerror}") from None
    subdirs = [c.name for c in children if c.name in known and c.is_dir()]
    artifacts = [c.name for c in children if c.name.endswith((".conda", ".tar.bz2"))]
    if subdirs:
        return
    if local.name in known and (artifacts or (local / "repodata.json").is_file()):
        raise ChannelError(f"{channel!r} is the {local.name} subdir folder of a channel, not a channel: "
                           f"use its parent, -c {local.parent}")
    holding = sorted(c.name for c in children if c.is_dir() and any((c / sd).is_dir() for sd in ("noarch",
                     "linux-64", "osx-64", "osx-arm64", "win-64", "linux-aarch64")))
    if holding:
        raise ChannelError(f"{channel!r} holds channels ({', '.join(holding[:5])}), not packages: "
                           f"name one, e.g. -c {local / holding[0]}")
    if artifacts:
        raise ChannelError(f"{channel!r} holds conda artifacts but no subdir folders: a channel keeps each "
                           f"artifact in noarch/ or its platform's folder (linux-64/, osx-arm64/...); "
                           f"or give the artifact files themselves")


def index_local_channel(directory: Path, cache_dir: Path, patches: dict[str, dict[str, Any]] | None = None) -> Path:
    """Index a directory of conda artifacts into the cache and return the index root.

    For each subdir of ``directory`` (and always ``noarch``), writes
    ``<cache>/channels/<hash>/<subdir>/repodata.json`` with records made by
    ``rattler.RepoDataRecord.from_package_archive`` and ``info.base_url``
    pointing at ``directory/<subdir>/``. Records of unchanged files (same name,
    size and mtime) are reused from the previous index.

    ``patches`` maps a subdir to conda repodata patch instructions (the
    ``patch_instructions.json`` format of conda-index and
    conda-forge-repodata-patches: ``packages``/``packages.conda`` mapping a
    file name to the keys to overwrite, ``remove`` listing file names); they
    are applied to the written index, as a channel's hotfixes are. An
    archive that cannot be read, and anything that is not a regular file
    (a FIFO would block the indexer), is left out of the index and listed by
    :func:`local_index_errors`.
    """
    from rattler import RepoDataRecord

    patches = patches or {}
    key = hashlib.sha256(json.dumps([str(directory), patches], sort_keys=True).encode()).hexdigest()[:16]
    root = Path(cache_dir).resolve() / "channels" / key
    subdirs = sorted({p.name for p in directory.iterdir() if p.is_dir()} | {"noarch"})

    async def record_for(path: Path) -> dict[str, Any]:
        try:
            record = await RepoDataRecord.from_package_archive(path)
        except Exception as exc:  # rattler raises its own exception types
            raise ChannelError(f"cannot index {path.name}: {exc}") from exc
        doc: dict[str, Any] = json.loads(record.to_json())
        for volatile in ("url", "channel", "fn"):
            doc.pop(volatile, None)
        return doc

    async def index_all() -> None:
        for subdir in subdirs:
            src = directory / subdir
            out = root / subdir
            open_subdirs(Path(cache_dir).resolve(), "channels", key, subdir).close()  # made; a link planted there refused
            state_file = out / "press-index-state.json"
            state = _read_index_state(state_file)
            files = sorted(p for p in src.iterdir() if p.name.endswith(ARCHIVE_SUFFIXES)) if src.is_dir() else []
            new_state: dict[str, dict[str, Any]] = {}
            for path in files:
                try:
                    stat = path.stat()
                except OSError as exc:  # a dangling symlink or a link loop
                    new_state[path.name] = {"stamp": None, "error": f"{path.name}: {exc.strerror}; skipped"}
                    continue
                stamp = [stat.st_size, stat.st_mtime_ns]
                if not S_ISREG(stat.st_mode):
                    # A FIFO or device would block or feed the indexer forever.
                    new_state[path.name] = {"stamp": stamp, "error": f"{path.name} is not a regular file; skipped"}
                    continue
                previous = state.get(path.name)
                if isinstance(previous, dict) and previous.get("stamp") == stamp \
                        and (isinstance(previous.get("record"), dict) or isinstance(previous.get("error"), str)):
                    new_state[path.name] = previous
                    continue
                try:
                    new_state[path.name] = {"stamp": stamp, "record": await record_for(path)}
                except ChannelError as exc:
                    # One unreadable archive must not hide the rest of the channel.
                    new_state[path.name] = {"stamp": stamp, "error": str(exc)}
            good = {n: s for n, s in new_state.items() if "record" in s}
            repodata = {
                "info": {"subdir": subdir, "base_url": src.as_uri() + "/"},
                "packages": {n: s["record"] for n, s in good.items() if n.endswith(".tar.bz2")},
                "packages.conda": {n: s["record"] for n, s in good.items() if n.endswith(".conda")},
                "repodata_version": 2,
            }
            apply_patch_instructions(repodata, patches.get(subdir, {}))
            atomic_write(out / "repodata.json", json.dumps(repodata, sort_keys=True, indent=1))
            atomic_write(state_file, json.dumps(new_state, sort_keys=True))

    asyncio.run(index_all())
    return root


def _read_index_state(state_file: Path) -> dict[str, Any]:
    """The index state :func:`index_local_channel` left in the cache, or
    ``{}`` when it cannot be used: read without following a link or waiting
    on a FIFO, within the ``metadata_size`` and ``json_containers`` limits,
    and only when it is a JSON object (the cache is not trusted to hold what
    press wrote: anything else is indexed again)."""
    from .files import open_regular
    from .limits import limit

    try:
        with open_regular(state_file) as handle:
            data = handle.read(limit("metadata_size") + 1)
        if len(data) > limit("metadata_size") or data.count(b"{") + data.count(b"[") > limit("json_containers"):
            return {}
        state = json.loads(data)
    except (OSError, ValueError, RecursionError):
        return {}
    return state if isinstance(state, dict) else {}


def local_index_errors(index_root: Path) -> dict[str, str]:
    """``{file name: reason}`` for the archives :func:`index_local_channel`
    could not read, from the index state under ``index_root``."""
    errors = {}
    for state_file in sorted(Path(index_root).glob("*/press-index-state.json")):
        state = _read_index_state(state_file)
        errors.update({name: entry["error"] for name, entry in state.items()
                       if isinstance(entry, dict) and isinstance(entry.get("error"), str)})
    return errors


def local_index_duplicates(index_root: Path, subdirs: Collection[str] | None = None) -> dict[str, str]:
    """``{ignored .tar.bz2 file name: the .conda file name used}`` for the
    packages (same name, version and build) that a local channel indexed by
    :func:`index_local_channel` holds in both formats, in ``subdirs`` (all
    when None). conda (unless ``use_only_tar_bz2`` is set) and rattler's
    gateway read only the ``.conda`` record of such a pair, although the
    index lists both, as conda-index does; press says which file was left
    out rather than dropping it silently. Read from the written
    ``repodata.json`` files, so after the repodata patches."""
    found: dict[str, str] = {}
    for repodata_file in sorted(Path(index_root).glob("*/repodata.json")):
        if subdirs is not None and repodata_file.parent.name not in subdirs:
            continue
        try:
            repodata = json.loads(repodata_file.read_text())
        except (OSError, ValueError):
            continue
        conda = repodata.get("packages.conda") or {}
        for name in sorted(repodata.get("packages") or {}):
            twin = name[: -len(".tar.bz2")] + ".conda"
            if name.endswith(".tar.bz2") and twin in conda:
                found[name] = twin
    return found


def apply_patch_instructions(repodata: dict[str, Any], instructions: dict[str, Any]) -> None:
    """Apply conda repodata patch instructions to ``repodata`` in place.

    Format (conda-index ``patch_instructions.json``, version 1): for each of
    ``packages`` and ``packages.conda``, ``{file name: {key: new value}}``
    overwrites those keys of the record; ``remove`` drops file names.
    """
    for group in ("packages", "packages.conda"):
        for fn, changes in instructions.get(group, {}).items():
            if fn in repodata[group]:
                repodata[group][fn].update(changes)
    for fn in instructions.get("remove", []):
        for group in ("packages", "packages.conda"):
            repodata[group].pop(fn, None)


def load_repodata_patch(path: Path) -> dict[str, dict[str, Any]]:
    """Read a repodata patch file: JSON mapping subdir -> patch instructions.

    Raises :class:`ChannelError` when it cannot be read or is not that shape.
    """
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ChannelError(f"cannot read repodata patch {path}: {exc}") from exc
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise ChannelError(f"repodata patch {path} must map subdir names to patch instructions")
    return doc


def make_gateway(cache_dir: Path) -> Gateway:
    """A rattler ``Gateway`` caching repodata under ``cache_dir/repodata``,
    with press's HTTP client (retries, timeout: :func:`press.fetch.http_client`)."""
    from rattler import Gateway

    from .fetch import http_client

    open_subdirs(Path(cache_dir), "repodata").close()  # rattler writes there: a link planted there is refused
    return Gateway(cache_dir=Path(cache_dir) / "repodata", client=http_client())


def _parse_specs(specs: list[str]) -> list[MatchSpec]:
    """``specs`` parsed by rattler; :class:`SpecError` names the first that does not parse."""
    from rattler import MatchSpec

    parsed: list[MatchSpec] = []
    for spec in specs:
        try:
            parsed.append(MatchSpec(spec))
        except Exception as exc:
            raise SpecError(f"not a valid MatchSpec: {exc}", package=spec) from exc
    return parsed


def solve(
    specs: list[str],
    channels: list[str],
    subdir: str,
    python: str | None,
    cache_dir: Path,
    patches: dict[str, dict[str, Any]] | None = None,
    notes: list[str] | None = None,
    channel_names: dict[str, str] | None = None,
    channel_priority: str = "strict",
    *,
    sources: list[str] | None = None,
    gateway: Gateway | None = None,
) -> list[RepoDataRecord]:
    """Solve ``specs`` (MatchSpec strings) against ``channels`` for ``subdir``.

    Returns the solved rattler ``RepoDataRecord`` objects (virtual packages
    excluded). ``patches`` (see :func:`index_local_channel`) apply to local directory
    channels. ``python`` (``X.Y``) is provided as a virtual package, and so are
    ``python_abi`` and ``pip`` when the channels lack them (:func:`absent_plumbing`);
    virtual records are not part of the result. ``channel_priority`` is conda's: ``strict`` (the
    default: a name found in a higher-priority channel is taken only from
    there), ``flexible`` (prefer higher channels, fall back to lower ones
    when a solve needs it) or ``disabled`` (the highest version wins,
    whichever channel has it). Highest versions otherwise. What
    indexing local directories left out, and the ``.tar.bz2`` files of
    packages they also hold as ``.conda``, are described in ``notes``;
    ``channel_names`` receives, per channel URL that records carry, the
    channel as the user gave it (local directories are indexed in the cache).
    ``sources``: the channels as :func:`channel_source` already resolved
    them, one per channel (a batch resolves them once, not once per job);
    ``gateway``: a :func:`make_gateway` to reuse (its repodata read once per
    process; only while the channels do not change).
    Raises
    :class:`SpecError` for a spec that does not parse or names nothing in the
    channels, :class:`SolveError` when no consistent closure exists.
    """
    from rattler import ChannelPriority, MatchSpec

    hint = subdir_hint(subdir)
    if hint:
        raise SpecError(hint, field="subdir")
    from rattler import solve as rattler_solve

    if channel_priority not in CHANNEL_PRIORITIES:
        raise SolveError(f"channel priority {channel_priority!r} is not one of {', '.join(CHANNEL_PRIORITIES)}")
    priority = getattr(ChannelPriority, channel_priority.capitalize())
    parsed = _parse_specs(specs)
    index_notes: list[str] = []
    # The .conda/.tar.bz2 pairs are only worth reading (every record of the index) for a caller
    # that shows notes; a batch job's solve has none and runs once per job.
    duplicates: list[str] | None = [] if notes is not None else None
    if sources is None or len(sources) != len(channels):
        sources = [channel_source(c, cache_dir, subdir, patches, index_notes, duplicates) for c in channels]
    if notes is not None:
        notes += index_notes + (duplicates or [])
    if channel_names is not None:
        channel_names.update({s.rstrip("/"): c for s, c in zip(sources, channels)})
    gateway = gateway or make_gateway(cache_dir)
    constraints: list[str] = []
    if python:
        # Only the virtual records have this version: the channel's own python never wins.
        constraints.append(f"python =={python_full_version(python)}")

    platforms = cast("list[SubdirLiteral]", list(dict.fromkeys([subdir, "noarch"])))  # rattler checks the names

    async def run() -> list[RepoDataRecord]:
        absent = await absent_plumbing(gateway, sources, platforms, python)
        return await rattler_solve(
            sources,
            parsed,
            gateway=gateway,
            platforms=platforms,
            virtual_packages=virtual_packages(subdir, python, absent),
            channel_priority=priority,
            constraints=constraints,
        )

    try:
        records = asyncio.run(run())
    except Exception as exc:
        text = str(exc)
        # Archives a local channel could not index may be why: say so, whatever the mode.
        unread = f" ({'; '.join(index_notes)})" if index_notes else ""
        missing = [s for s in specs if f"No candidates were found for {MatchSpec(s).name.normalized}" in text]
        if missing or "No candidates were found for" in text and len(specs) == 1:
            asked = missing[0] if missing else specs[0]
            raise SpecError(f"no package matching {asked!r} in {', '.join(channels)} for {subdir}{unread}"
                            f"{pypi_name_hint(MatchSpec(asked).name.normalized, cache_dir)}",
                            package=asked) from exc
        if "GatewayError" in type(exc).__name__ or "could not find" in text:
            raise unreachable(channels, exc) from exc
        raise SolveError(f"cannot solve for {subdir} (python {python or 'none'}): {solver_message(text)}{unread}",
                         package=" ".join(specs)) from exc
    return list(records)


def pypi_name_hint(name: str, cache_dir: Path | None = None) -> str:
    """When ``name`` is not a conda name but the PyPI name of conda
    packages (conda-forge's mapping, the one press translates names with),
    ``": brotli is the PyPI name of conda's brotli-python: ask for that"``;
    otherwise ``""``."""
    from packaging.utils import canonicalize_name

    from .names import load_mapping

    try:
        entries = load_mapping(cache_dir).entries
    except Exception:  # a hint must never hide the error it is added to
        return ""
    wanted = canonicalize_name(name)
    conda = sorted(c for c, pypi in entries.items() if pypi and wanted in {canonicalize_name(n) for n in pypi}
                   and c != name)
    if not conda:
        return ""
    shown = " or ".join(conda[:3])
    return f"; {name} is the PyPI name of conda's {shown}: ask for {'that' if len(conda) == 1 else 'one of them'}"


def solver_message(text: str) -> str:
    """The solver's explanation (rattler's tree, one requirement a line) on
    one line: tree glyphs dropped, steps joined with ``; ``; when a dependency
    has no candidate within its bound, a hint at ``--repodata-patch`` (the
    usual cause on a mirror: the channel's hotfixes that widen such bounds are
    not applied to local directories)."""
    steps = [" ".join(line.strip(" \t\u2500\u2502\u2514\u251c").split()) for line in text.replace("\\n", "\n").splitlines()]
    joined = "; ".join(step for step in steps if step).replace(":; ", ": ").replace("would require; ", "would require ")
    if "for which no candidates were found" in joined:
        joined += (" (if the channel has other versions of that dependency, a bound the channel's repodata "
                   "hotfixes widen can be corrected with --repodata-patch FILE)")
    return joined


def unreachable(channels: list[str], exc: BaseException) -> ChannelError:
    """The error for channels whose repodata cannot be read: the innermost
    cause (``dns error``, ``404``...) and how to point press at a mirror."""
    causes = [c.strip() for c in str(exc).replace("\\n", "\n").split("Caused by:") if c.strip()]
    cause = " ".join(causes[-1].split())[:300] if causes else type(exc).__name__
    return ChannelError(f"cannot read channel {', '.join(channels)} ({cause}); if it cannot be reached from here, "
                        "point press at a mirror: -c DIR (a directory of conda packages, indexed by press) or "
                        "-c URL (a channel mirror)")


def python_versions(specs: list[str], channels: list[str], subdir: str, cache_dir: Path | None = None,
                    patches: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """The Python versions (``X.Y``, newest first) the channels have builds
    of ``specs`` for: from each matching record's ``python_abi``/``python``
    pin in ``subdir`` (noarch builds pin none and add nothing).
    ``cache_dir`` (None: press's default cache, as for a conversion) keeps
    repodata and the indexes of local directories. Raises
    :class:`ChannelError` when the channels cannot be read and
    :class:`SpecError` for a spec that does not parse."""
    from .convert import default_cache_dir
    from .tags import python_version_of

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    parsed = _parse_specs(specs)
    sources = [channel_source(c, cache_dir, subdir, patches, []) for c in channels]
    gateway = make_gateway(cache_dir)

    async def run() -> list[RepoDataRecord]:
        platforms = cast("list[SubdirLiteral]", list(dict.fromkeys([subdir, "noarch"])))  # rattler checks the names
        result = await gateway.query(sources, platforms, specs=parsed, recursive=False)
        return [r for per_channel in result for r in per_channel]

    try:
        records = asyncio.run(run())
    except Exception as exc:
        raise unreachable(channels, exc) from exc
    found = set()
    for record in records:
        if any(spec.matches(record) for spec in parsed):
            try:
                pin = python_version_of([str(d) for d in record.depends])
            except Exception:  # a record whose depends do not parse pins nothing here; solving refuses it
                pin = None
            if pin is not None:
                found.add(pin)
    return [f"{major}.{minor}" for major, minor in sorted(found, reverse=True)]
