"""Write a wheel reproducibly and verify it before it is renamed into place.

The archive is written with ``wheel.wheelfile.WheelFile`` (which computes
RECORD), members sorted with the ``.dist-info`` last, every timestamp set to
one fixed date, modes normalised to 0644/0755. The finished file is re-read
with pypa/installer (``validate_record``), checked for exactly one
``.dist-info`` and a METADATA that ``packaging`` accepts, then renamed from a
temporary name into the wheel directory (PEP 427, PEP 491).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import time
import zipfile
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Collection, Iterator, cast

from packaging.metadata import Metadata
from wheel.wheelfile import WheelFile, urlsafe_b64encode

from . import grammar
from .contained import CHUNK, Root
from .errors import ValidationError
from .files import Directory
from .limits import limit

#: Zip dates cannot precede 1980.
_MIN_EPOCH = 315532800


@dataclass(frozen=True)
class Member:
    """One wheel member: its archive name, its content (``data``, or the file
    ``rel`` of a contained ``root`` with its first ``skip`` bytes replaced by
    ``header``) and whether it is executable."""

    arcname: str
    data: bytes | None = None
    root: Root | None = None
    rel: str | None = None
    executable: bool = False
    header: bytes = b""
    skip: int = 0

    def size(self) -> int:
        """The member's size in bytes."""
        if self.data is not None:
            return len(self.data)
        assert self.root is not None and self.rel is not None
        return len(self.header) + self.root.size(self.rel) - self.skip

    def chunks(self) -> Iterator[bytes]:
        """The content in blocks of at most 1 MiB (never the whole file at once)."""
        if self.data is not None:
            yield self.data
            return
        assert self.root is not None and self.rel is not None
        if self.header:
            yield self.header
        with self.root.open(self.rel) as handle:
            handle.seek(self.skip)
            for block in iter(lambda: handle.read(CHUNK), b""):
                yield block


class _FixedDateWheelFile(WheelFile):  # type: ignore[misc]  # wheel ships no type information
    """WheelFile whose implicit members (RECORD) get the fixed date too, and
    that writes members deflated ahead of time (:meth:`write_prepared`)."""

    date_time: tuple[int, int, int, int, int, int] = (1980, 1, 1, 0, 0, 0)

    def writestr(
        self, zinfo_or_arcname: str | zipfile.ZipInfo, data: bytes | str, compress_type: int | None = None
    ) -> None:
        if isinstance(zinfo_or_arcname, str):
            zinfo = zipfile.ZipInfo(zinfo_or_arcname, date_time=self.date_time)
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            zinfo.external_attr = (0o644 | stat.S_IFREG) << 16
            zinfo_or_arcname = zinfo
        super().writestr(zinfo_or_arcname, data, compress_type)

    def write_prepared(self, zinfo: zipfile.ZipInfo, prepared: "_Prepared") -> None:
        """Write a member compressed beforehand (:func:`_prepare`): the same
        bytes ``ZipFile.open(zinfo, "w")`` writes on a seekable file (one
        local header with the final sizes and CRC, no data descriptor, ZIP64
        extra fields when the member is near or beyond 4 GiB), recording
        its hash and size for RECORD."""
        zinfo.file_size = prepared.size
        zinfo.compress_size = prepared.compressed_size
        zinfo.CRC = prepared.crc
        zinfo.flag_bits = 0
        zip64 = zinfo.file_size * 1.05 > zipfile.ZIP64_LIMIT or zinfo.compress_size > zipfile.ZIP64_LIMIT
        zinfo.header_offset = self.fp.tell()
        self._writecheck(zinfo)
        self._didModify = True
        self.fp.write(zinfo.FileHeader(zip64))
        prepared.data.seek(0)
        shutil.copyfileobj(prepared.data, self.fp, CHUNK)
        prepared.data.close()
        self.filelist.append(zinfo)
        self.NameToInfo[zinfo.filename] = zinfo
        self.start_dir = self.fp.tell()
        self._file_hashes[zinfo.filename] = ("sha256", urlsafe_b64encode(prepared.sha256).decode("ascii"))
        self._file_sizes[zinfo.filename] = prepared.size


@dataclass
class _Prepared:
    """A member deflated ahead of writing: raw deflate ``data`` (spooled to
    disk beyond 8 MiB), its CRC-32, sizes and sha256."""

    data: BinaryIO
    crc: int
    size: int
    compressed_size: int
    sha256: bytes


def _prepare(member: Member, level: int, spool: int | None = 8 << 20) -> _Prepared:
    """Deflate ``member`` block by block (zipfile's raw deflate: window bits
    -15, default memory level, so the bytes equal what ``ZipFile`` writes at
    that level), kept in memory up to ``spool`` bytes and on disk beyond
    (on disk from the start with None). Runs in worker threads: zlib and
    hashlib release the GIL."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    out: BinaryIO = (tempfile.TemporaryFile() if spool is None  # type: ignore[assignment]
                     else tempfile.SpooledTemporaryFile(max_size=spool))
    crc, size, digest = 0, 0, hashlib.sha256()
    for block in member.chunks():
        crc = zlib.crc32(block, crc)
        size += len(block)
        digest.update(block)
        out.write(compressor.compress(block))
    out.write(compressor.flush())
    return _Prepared(out, crc, size, out.tell(), digest.digest())


#: Members of at least this many bytes are deflated first, largest first
#: (one member is one deflate stream, so the largest bounds the time; started
#: last, it would run alone on one core), into files on disk.
LARGE_MEMBER = 1 << 20


def _workers(workers: int | None) -> int:
    if workers is None:
        affinity = getattr(os, "sched_getaffinity", None)
        return len(affinity(0)) if affinity else (os.cpu_count() or 1)
    return workers


class Deflater:
    """Worker threads that deflate the members of one wheel, possibly before
    the wheel is written: :meth:`submit` starts a large member as soon as its
    content is final (relocation calls it after each edit), and
    :meth:`prepared` yields every member's deflated data in the writer's
    order. A member submitted early is used only when its file is still the
    same (:meth:`press.contained.Root.identity`), so a later edit only costs
    deflating it again. ``level``: zlib's 0-9; ``workers``: threads (default:
    the CPUs available; with one, nothing runs ahead). Use as a context
    manager, or call :meth:`close`."""

    def __init__(self, level: int, workers: int | None = None) -> None:
        if not 0 <= level <= 9:
            raise ValueError(f"compression level {level} is not 0-9")
        self.level = level
        self.workers = _workers(workers)
        self._pool = (ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="press-deflate")
                      if self.workers > 1 else None)
        self._early: dict[tuple[str, str, str], tuple[tuple[int, ...], Future[_Prepared]]] = {}

    def __enter__(self) -> "Deflater":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _key(member: Member) -> tuple[str, str, str]:
        assert member.root is not None and member.rel is not None
        return member.arcname, str(member.root.path), member.rel

    def submit(self, member: Member) -> None:
        """Start deflating ``member`` (a file member of at least
        :data:`LARGE_MEMBER` bytes; others are left for :meth:`prepared`)."""
        if self._pool is None or member.root is None or member.header or member.skip:
            return
        assert member.rel is not None
        if member.size() < LARGE_MEMBER:
            return
        key = self._key(member)
        self._discard(key)
        self._early[key] = (member.root.identity(member.rel), self._pool.submit(_prepare, member, self.level, None))

    def _discard(self, key: tuple[str, str, str]) -> None:
        found = self._early.pop(key, None)
        if found is not None:
            _drop([found[1]])

    def _take(self, member: Member) -> "Future[_Prepared] | None":
        if member.root is None or member.header or member.skip:
            return None
        assert member.rel is not None
        found = self._early.pop(self._key(member), None)
        if found is None:
            return None
        if found[0] != member.root.identity(member.rel):  # edited since: deflate it again
            _drop([found[1]])
            return None
        return found[1]

    def prepared(self, members: list[Member]) -> Iterator[_Prepared]:
        """Every member's deflated data, in order. Members submitted early
        and still unchanged are taken as they are; the other members of
        :data:`LARGE_MEMBER` bytes or more are started now, largest first, to
        disk; the rest at most ``2 * workers`` ahead of the consumer
        (bounded memory)."""
        if self._pool is None:
            for member in members:
                yield _prepare(member, self.level)
            return
        pool = self._pool
        early: dict[int, Future[_Prepared]] = {}
        for index, member in enumerate(members):
            future = self._take(member)
            if future is not None:
                early[index] = future
        sizes = {i: m.size() for i, m in enumerate(members) if i not in early}
        for i in sorted((i for i, size in sizes.items() if size >= LARGE_MEMBER), key=lambda i: (-sizes[i], i)):
            early[i] = pool.submit(_prepare, members[i], self.level, None)
        pending: deque[tuple[int, Future[_Prepared]]] = deque()
        queue = (i for i in range(len(members)) if i not in early)
        try:
            for index in range(len(members)):
                while len(pending) < 2 * self.workers:
                    following = next(queue, None)
                    if following is None:
                        break
                    pending.append((following, pool.submit(_prepare, members[following], self.level)))
                if index in early:
                    yield early.pop(index).result()
                else:
                    following, future = pending.popleft()
                    assert following == index
                    yield future.result()
        finally:
            _drop(list(early.values()) + [f for _, f in pending])

    def close(self) -> None:
        """Stop the workers and drop what was deflated but not written."""
        _drop([f for _, f in self._early.values()])
        self._early.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _drop(futures: list["Future[_Prepared]"]) -> None:
    """Cancel ``futures`` and close the data of those already done."""
    for future in futures:
        future.cancel()
    for future in futures:
        if not future.cancelled():
            try:
                future.result().data.close()
            except Exception:  # noqa: BLE001 (its error is not ours to report: the member is not written)
                pass


def write_wheel(
    path: Path,
    members: list[Member],
    timestamp: float = _MIN_EPOCH,
    compresslevel: int = 6,
    data_members: Collection[str] = (),
    workers: int | None = None,
    deflater: "Deflater | None" = None,
) -> Path:
    """Write the wheel ``path`` (its file name must be a valid wheel name).

    ``members`` must not include RECORD; ``timestamp`` (seconds since the
    epoch) dates every member; ``data_members`` are the archive names under
    ``<name>-<version>.data/`` that press itself put there (see
    :func:`verify_wheel`); ``compresslevel`` is zlib's 0 (stored as
    deflate blocks) to 9; ``workers`` threads deflate members ahead of the
    writer (default: the CPUs available), which writes them in a fixed order,
    so the bytes do not depend on it; ``deflater``: a :class:`Deflater` at
    ``compresslevel`` that may hold members deflated earlier (the caller
    closes it). Returns ``path``. Raises :class:`ValidationError`
    for two members of one name or a wheel that does not verify; in every
    failure case nothing is left at ``path``.
    """
    path = Path(path)
    names = [m.arcname for m in members]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ValidationError(f"two wheel members named {twice[0]!r}", package=path.name)
    if deflater is not None and deflater.level != compresslevel:
        raise ValueError(f"the deflater compresses at level {deflater.level}, not {compresslevel}")
    own = deflater is None
    deflater = deflater or Deflater(compresslevel, workers)
    date_time = time.gmtime(max(int(timestamp), _MIN_EPOCH))[:6]
    ordered = sorted(members, key=lambda m: (".dist-info/" in m.arcname.split("/", 1)[0] + "/", m.arcname))
    # The wheel directory is not press's alone: the wheel is made in a new private directory
    # (random name, mode 0700) held by its descriptor, created there with O_EXCL | O_NOFOLLOW, and
    # renamed over the final name, which replaces a link planted there instead of writing through it.
    try:
        directory = Directory.open(path.parent)
        try:
            tmpname, tmpdir = directory.temporary_dir(".press-")
        except BaseException:
            directory.close()
            raise
    except BaseException:
        if own:
            deflater.close()
        raise
    try:
        # The private directory is new and press's alone (mode 0700): nothing can be planted in it,
        # and its descriptor path reaches it even if its name in the wheel directory is swapped.
        with _FixedDateWheelFile(tmpdir.readable_path(path.name), "w") as wheel:
            wheel.date_time = date_time
            wheel.compresslevel = compresslevel
            for member, prepared in zip(ordered, deflater.prepared(ordered)):
                zinfo = zipfile.ZipInfo(member.arcname, date_time=date_time)
                zinfo.compress_type = zipfile.ZIP_DEFLATED
                mode = 0o755 if member.executable else 0o644
                zinfo.external_attr = (mode | stat.S_IFREG) << 16
                wheel.write_prepared(zinfo, prepared)
        verify_wheel(tmpdir.readable_path(path.name), data_members, deflater.workers)
        try:
            tmpdir.replace(path.name, path.name, into=directory)
        except IsADirectoryError:  # someone else's directory at the wheel's name: left alone
            raise directory.not_owned(path.name, "a directory") from None
    finally:
        if own:
            deflater.close()
        tmpdir.close()
        directory.remove(tmpname)
        directory.close()
    return path


#: The ``.data`` subdirectories an installer knows (PEP 427, the install schemes of sysconfig).
DATA_SCHEMES = frozenset({"purelib", "platlib", "headers", "scripts", "data"})


def _check_names(label: str, names: list[str], platforms: set[str], data_members: Collection[str] | None) -> None:
    """Member names: safe relative paths, unique (also under NFC, and under
    case folding when the wheel may install on macOS or Windows), and
    ``.data/`` entries only where press put them (``data_members``). With
    ``data_members`` None (any wheel, :func:`wheel_problems`), the wheel
    format's own rules (PEP 427) instead: directory entries (``pkg/``) are
    allowed, and ``.data/`` entries must lie in one of :data:`DATA_SCHEMES`
    of a ``.data`` directory named like the wheel's ``.dist-info``."""
    case_matters = any(not p.startswith(("manylinux", "musllinux", "linux")) for p in platforms)
    if len(set(names)) != len(names):
        raise ValidationError("two members have one name", package=label)
    dist_info = next((n.split("/", 1)[0] for n in names if n.split("/", 1)[0].lower().endswith(".dist-info")), "")
    seen: dict[str, str] = {}
    for name in names:
        path = name[:-1] if data_members is None and name.endswith("/") else name
        try:
            grammar.relative_path(path)
        except ValueError as exc:
            raise ValidationError(f"member {name[:200]!r}: {exc}", package=label) from None
        keys = [grammar.nfc_key(path)] + ([grammar.nfc_key(path).casefold()] if case_matters else [])
        for key in keys:
            other = seen.setdefault(key, name)
            if other != name:
                raise ValidationError(f"members {other!r} and {name!r} collide on the file systems the wheel "
                                      "installs on (Unicode normalisation or case)", package=label)
        top, _, rest = path.partition("/")
        if not top.lower().endswith(".data"):
            continue
        if data_members is not None:
            if name not in data_members:
                raise ValidationError(f"member {name!r} is in a .data directory press did not make", package=label)
        elif top[:-len(".data")] != dist_info[:-len(".dist-info")]:
            raise ValidationError(f"member {name!r} is in a .data directory not named like {dist_info!r} "
                                  "(PEP 427)", package=label)
        elif rest and rest.split("/", 1)[0] not in DATA_SCHEMES:
            raise ValidationError(f"member {name!r} is in {rest.split('/', 1)[0]!r}, not one of the .data "
                                  f"directories installers know ({', '.join(sorted(DATA_SCHEMES))}; PEP 427)",
                                  package=label)


def verify_wheel(path: Path, data_members: Collection[str] = (), workers: int | None = None) -> None:
    """Re-read a wheel: an ASCII file name that packaging parses, member names
    (:func:`_check_names`), RECORD hashes and sizes (pypa/installer), exactly
    one ``.dist-info`` and no ``.egg-info`` (suffixes compared without case),
    METADATA accepted by ``packaging.metadata`` whose name and version match
    the file name. ``workers``: threads that check member hashes (default:
    the CPUs available).

    Raises :class:`ValidationError` naming the wheel and the problem (the
    first of :func:`wheel_problems`).
    """
    problems = wheel_problems(path, data_members, workers, first=True)
    if problems:
        raise problems[0]


def wheel_problems(path: Path, data_members: Collection[str] | None = None, workers: int | None = None,
                   first: bool = False) -> list[ValidationError]:
    """Every check of :func:`verify_wheel`, each run even when an earlier one
    fails (the RECORD is verified whatever the member names are), returning
    what does not hold, each a :class:`ValidationError` (none: a valid wheel).
    ``data_members``: the ``.data/`` members press made; None for any
    wheel, which :func:`_check_names` then holds to the wheel format's rules
    (PEP 427) rather than press's. ``first``: stop at the first problem.
    Raises ``zipfile.BadZipFile`` (and ``OSError``) for an archive zipfile
    cannot read."""
    from installer.sources import WheelFile as InstallerWheel
    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

    label = Path(path).name
    try:
        if not label.isascii():
            raise InvalidWheelFilename("not ASCII")
        name, version, _build, tags = parse_wheel_filename(label)
    except InvalidWheelFilename as exc:
        return [ValidationError(f"not a valid wheel file name: {exc}", package=label)]
    problems: list[ValidationError] = []
    with zipfile.ZipFile(path) as archive:
        try:
            _check_names(label, archive.namelist(), {t.platform for t in tags}, data_members)
        except ValidationError as exc:
            problems.append(exc)
            if first:
                return problems
        tops = {n.split("/", 1)[0] for n in archive.namelist()}
        dist_infos = sorted(t for t in tops if t.lower().endswith(".dist-info"))
        egg_infos = sorted(t for t in tops if t.lower().endswith(".egg-info"))
        if egg_infos:
            problems.append(ValidationError(f"wheel holds {egg_infos[0]}, which installers would take for another "
                                            "project's metadata", package=label))
        if len(dist_infos) != 1:
            problems.append(ValidationError(f"wheel has {len(dist_infos)} .dist-info directories: {dist_infos}",
                                            package=label))
        if problems and first:
            return problems
        record_name = f"{dist_infos[0]}/RECORD" if dist_infos else ""
        if len(dist_infos) == 1:
            metadata: Metadata | None = None
            try:
                text = archive.read(f"{dist_infos[0]}/METADATA")
                metadata = Metadata.from_email(text, validate=True)
            except Exception as exc:
                subs = [str(e) for e in getattr(exc, "exceptions", [exc])]
                # Any wheel: a field newer than its Metadata-Version (setuptools wrote License-File
                # into 2.1 for years) is read by every installer; press's own wheels are strict.
                if data_members is not None or any("introduced in metadata version" not in s for s in subs):
                    problems.append(ValidationError(f"METADATA is invalid: {'; '.join(subs)}", package=label))
                else:
                    metadata = Metadata.from_email(text, validate=False)
            if metadata is not None and (canonicalize_name(metadata.name) != name or metadata.version != version):
                problems.append(ValidationError(f"METADATA names {metadata.name} {metadata.version}, the file "
                                                f"name {name} {version}", package=label))
            if problems and first:
                return problems
        infos = [i for i in archive.infolist() if i.filename != record_name and not i.is_dir()]
        # A wheel from elsewhere: RECORD is read whole and parsed row by row (here and by
        # pypa/installer), so it is held to the metadata_size limit and to a row per member.
        record_info = archive.NameToInfo.get(record_name)
        if record_info is not None and record_info.file_size > limit("metadata_size"):
            problems.append(ValidationError(f"RECORD declares {record_info.file_size} bytes, more than the "
                                            f"metadata_size limit ({limit('metadata_size')}; set "
                                            "PRESS_MAX_METADATA_SIZE to raise it): not verified", package=label))
            return problems
        record = archive.read(record_name) if record_info is not None else b""
        lines, members = record.count(b"\n"), len(archive.infolist())
        if lines > members + 1:
            problems.append(ValidationError(f"RECORD has {lines} lines for {members} members: not verified",
                                            package=label))
            return problems
    try:
        with InstallerWheel.open(path) as source:
            source.validate_record(validate_contents=False)
        _verify_contents(Path(path), record, infos, _workers(workers))
    except Exception as exc:
        problems.append(ValidationError(f"RECORD does not verify: {exc}", package=label))
    return problems


def _verify_contents(path: Path, record: bytes, infos: list[zipfile.ZipInfo], workers: int) -> None:
    """Check the size and hash of every member in ``infos`` against
    ``record`` (the RECORD file's bytes; pypa/installer's
    :class:`~installer.records.RecordEntry`), largest members first, in
    ``workers`` threads (inflating and hashing release the GIL), each with
    its own handle on the archive. Raises ``ValueError`` naming the first
    member that does not match."""
    import threading

    from installer.records import RecordEntry, parse_record_file

    lines = record.decode("utf-8").splitlines()
    infos = sorted(infos, key=lambda i: (-i.file_size, i.filename))
    records = {row[0]: RecordEntry.from_elements(*row) for row in parse_record_file(lines)}
    local = threading.local()
    handles: list[zipfile.ZipFile] = []

    def check(name: str) -> str | None:
        entry = records.get(name)
        if entry is None:  # RECORD.jws/.p7s: installer's check allows them unlisted
            return None
        archive = getattr(local, "archive", None)
        if archive is None:
            archive = local.archive = zipfile.ZipFile(path)
            handles.append(archive)
        with archive.open(name) as stream:
            return None if entry.validate_stream(cast(BinaryIO, stream)) else name

    try:
        if workers <= 1 or len(infos) < 2:
            problems = [check(i.filename) for i in infos]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="press-verify") as pool:
                problems = list(pool.map(check, [i.filename for i in infos]))
    finally:
        for handle in handles:
            handle.close()
    bad = sorted(p for p in problems if p)
    if bad:
        raise ValueError(f"{bad[0]}: size or hash differs from RECORD" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
