"""Read a conda artifact (``.conda`` or ``.tar.bz2``) into a contained store.

:func:`open_artifact` streams every member of the archive once. Each member
name is checked against the relative-path grammar before anything is
written, and every regular file is hashed on the way. Where its bytes go is
decided per member: a file that may be an ELF, Mach-O or PE binary (by its
first bytes) is written to a file of a :class:`~press.contained.PackedRoot`,
where LIEF can read it; every other file is appended to the root's one pack
file (no file or directory is made for it); a member no conversion reads
(:func:`is_discarded`: compiled Python caches, documentation, ``info/``
files other than the documents press parses) keeps only its size and
sha256. Links are *not* created on disk: symlinks are kept as a table that
:meth:`Artifact.resolve` follows step by step inside the package, and
hardlinks become copies of the earlier member they name. Devices, FIFOs and
anything else are refused. Resource limits (:mod:`press.limits`) bound
members, tar header bytes (read before tarfile parses them), unpacked bytes
(links counted at their targets' size) and metadata sizes. Decompression is
metered (:class:`_Meter`): zstd frames and bzip2 streams are counted,
compressed input read without output is bounded, and what an artifact
unpacks to (members' declared sizes, before their bytes are written, and
the decompressed stream itself) may not exceed the expansion ratio times
its compressed size. With a cache, the unpacked tree is an entry of the
unpacked-artifact cache, used again only when it is exactly what press
wrote and its bytes hash to its manifest (:func:`_verify_entry`). Then the
``info/`` documents are parsed at the validation boundary
(:mod:`press.package`) and the payload is compared with ``paths.json`` as
conda verifies a package.
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Callable, Iterator, Mapping

from . import grammar
from .contained import CHUNK, ContainmentError, PackedRoot, Root
from .errors import ArchiveError, PressError, UnsafeArchiveError
from .limits import exceeded, limit
from .relocate import may_be_binary
from .package import (
    About,
    DistInfo,
    EnvSetting,
    EntryPoint,
    Identity,
    PathEntry,
    UpstreamMetadata,
    decode_text,
    invalid,
    load_json,
    parse_about,
    parse_activation,
    parse_core_metadata,
    parse_entry_points_txt,
    parse_index,
    parse_legacy_files,
    parse_link,
    parse_paths,
    parse_recipe_tests,
    parse_test_requires,
    site_packages_prefix,
)

__all__ = ["ARCHIVE_SUFFIXES", "Artifact", "FileFacts", "PathEntry", "open_artifact",
           "artifact_stem", "is_artifact_path", "is_discarded", "sha256_file"]

ARCHIVE_SUFFIXES = (".conda", ".tar.bz2")

#: The ``info/`` documents press parses (:func:`open_artifact`) and the
#: licence texts it ships; the rest of ``info/`` (recipe scripts, test
#: sources, build hashes) is never read.
_INFO_READ = re.compile(r"^info/(index\.json|about\.json|link\.json|paths\.json|files|has_prefix|"
                        r"recipe/meta\.yaml(\.rendered)?|tests/tests\.yaml|test/run_test\.py|licenses/.+)\Z")
#: Documentation no installed wheel can use (man cannot see into
#: site-packages): left out of every wheel (:mod:`press.layout`).
DOCUMENTATION = re.compile(r"^(Library/)?(share/man/|man/|share/doc/|share/info/|share/gtk-doc/)")
#: Compiled Python caches: left out of every wheel (installers compile their own).
PYTHON_CACHE = re.compile(r"(^|/)__pycache__/|\.pyc\Z")
def is_discarded(path: str) -> bool:
    """True for a member no conversion reads, whose bytes press does not
    keep (its size and sha256 are still checked against ``paths.json``):
    ``info/`` files other than the documents press parses, compiled Python
    caches and documentation (see :data:`DOCUMENTATION`)."""
    if path.startswith("info/"):
        return not _INFO_READ.match(path)
    return bool(PYTHON_CACHE.search(path) or DOCUMENTATION.search(path))


@dataclass(frozen=True)
class FileFacts:
    """A regular file of the unpacked artifact: ``size`` in bytes, hex
    ``sha256`` (computed while unpacking), whether its owner-execute bit
    is set, and its first four bytes (``magic``: what could make it an ELF,
    Mach-O or PE file, without opening it again)."""

    size: int
    sha256: str
    executable: bool
    magic: bytes = b""


@dataclass(frozen=True, eq=False)
class Artifact:
    """An unpacked, validated conda artifact.

    ``root`` holds the regular files of the archive (never a link): those
    that may be binaries as files, the others as ranges of its pack file,
    and not those :func:`is_discarded` names; ``files`` maps each regular
    file's path to its :class:`FileFacts` (discarded ones included);
    ``dirs`` are the directories (explicit or implied); ``links`` maps each
    symlink's path to its target as written (followed only by
    :meth:`resolve`). ``paths`` lists the payload as ``paths.json`` (or the
    legacy ``files``) declares it; ``entry_points`` are ``link.json``'s
    console scripts; ``test_imports``/``test_requires`` the recipe's import
    tests and the MatchSpecs they need beyond the package; ``dist_infos`` the package's own Python metadata;
    ``licenses`` the files under ``info/licenses/`` (relative to it);
    ``activation`` the environment variables its ``etc/conda/activate.d``
    scripts point into the prefix; ``sha256`` is the archive's hex digest; ``channel`` the channel it came
    from (a name, URL or directory; None when unknown).
    """

    source: Path
    sha256: str
    root: Root
    identity: Identity
    about: About
    paths: tuple[PathEntry, ...]
    files: Mapping[str, FileFacts]
    dirs: frozenset[str]
    links: Mapping[str, str]
    entry_points: tuple[EntryPoint, ...] = ()
    test_imports: tuple[str, ...] = ()
    test_requires: tuple[str, ...] = ()
    dist_infos: tuple[DistInfo, ...] = ()
    licenses: tuple[str, ...] = ()
    channel: str | None = None
    activation: tuple[EnvSetting, ...] = ()

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def version(self) -> str:
        return self.identity.version

    @property
    def build(self) -> str:
        return self.identity.build

    @property
    def build_number(self) -> int:
        return self.identity.build_number

    @property
    def subdir(self) -> str:
        return self.identity.subdir

    @property
    def noarch(self) -> str | None:
        return self.identity.noarch

    @property
    def depends(self) -> tuple[str, ...]:
        return self.identity.depends

    @functools.cached_property
    def has_site_packages(self) -> bool:
        """Whether any payload path lies in a site-packages directory
        (computed once per object: naming asks it of every closure member
        for every wheel)."""
        return any(site_packages_prefix(e.path) for e in self.paths)

    @property
    def label(self) -> str:
        """``name-version-build``, the conda file stem, for messages."""
        return self.identity.label

    def with_depends(self, depends: tuple[str, ...]) -> "Artifact":
        """A copy whose ``depends`` are replaced (a repodata record's, already
        validated: the channel's hotfixes live in repodata, not in archives)."""
        return dataclasses.replace(self, identity=dataclasses.replace(self.identity, depends=tuple(depends)))

    def with_channel(self, channel: str | None) -> "Artifact":
        """A copy that knows the channel it came from."""
        return dataclasses.replace(self, channel=channel)

    def resolve(self, path: str) -> tuple[str, str]:
        """Follow ``path`` through the package's symlinks the way the kernel
        would, but inside the package only: returns ``(kind, resolved)`` with
        kind ``file``, ``dir`` or ``missing``. Raises
        :class:`~press.errors.UnsafeArchiveError` when the walk leaves the
        package or follows more than the ``link_hops`` limit of links."""
        return _resolve(path, self.files, self.dirs, self.links, self.label)


def _resolve(path: str, files: Mapping[str, Any], dirs: frozenset[str] | set[str], links: Mapping[str, str],
             label: str) -> tuple[str, str]:
    pending = path.split("/")
    done: list[str] = []
    hops = 0
    last = ""
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                how = f"symlink {last!r} -> {links[last]!r}" if last else "'..'"
                raise UnsafeArchiveError(f"leads outside the package (through {how})", package=label, field=path)
            done.pop()
            continue
        here = "/".join(done + [part])
        target = links.get(here)
        if target is None:
            done.append(part)
            continue
        hops += 1
        last = here
        if hops > limit("link_hops"):
            raise exceeded("link_hops", package=label, field=path)
        if target.startswith("/"):
            raise UnsafeArchiveError(f"symlink {here!r} points at {target!r}, outside the package",
                                     package=label, field=path)
        pending = target.split("/") + pending
    resolved = "/".join(done)
    if resolved in files:
        return "file", resolved
    if resolved == "" or resolved in dirs:
        return "dir", resolved
    return "missing", resolved


def artifact_stem(path: Path) -> str:
    """Return the file name of a conda artifact without its ``.conda``/``.tar.bz2`` suffix.

    Raises :class:`ArchiveError` for any other suffix.
    """
    for suffix in ARCHIVE_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    raise ArchiveError("not a conda artifact (expected .conda or .tar.bz2)", package=path.name)


def is_artifact_path(value: str) -> bool:
    """True when ``value`` names an existing ``.conda`` or ``.tar.bz2`` file."""
    return value.endswith(ARCHIVE_SUFFIXES) and Path(value).is_file()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class _HeaderGuard:
    """The decompressed tar stream, metered: while armed (between members,
    when tarfile reads headers), more than the ``header_bytes`` limit (plus
    tarfile's read-ahead) is refused before tarfile can parse it, which
    bounds the PAX parsing cost of unpatched CPython (CVE-2024-6232: a 64 KiB
    crafted header takes 9 s on 3.11.7, the 1.5 kB of real ones nothing)."""

    #: tarfile's stream buffer; a small one keeps its read-ahead (bytes it
    #: may parse that were read while disarmed) small.
    BUFSIZE = 4 * tarfile.BLOCKSIZE
    SLACK = BUFSIZE + 2 * tarfile.BLOCKSIZE

    def __init__(self, raw: BinaryIO, label: str) -> None:
        self.raw = raw
        self.label = label
        self.budget: int | None = None

    def arm(self) -> None:
        self.budget = limit("header_bytes") + self.SLACK

    def disarm(self) -> None:
        self.budget = None

    def read(self, size: int = -1) -> bytes:
        if self.budget is not None and (size < 0 or size > self.budget):
            size = self.budget + 1
        data = self.raw.read(size)
        if self.budget is not None:
            self.budget -= len(data)
            if self.budget < 0:
                raise exceeded("header_bytes", package=self.label)
        return data


#: Compressed bytes read at a time.
_READ = 1 << 16
#: Bytes any artifact may unpack beyond its ``expansion_ratio`` (small ones
#: expand more: the sample's largest ratio, 31:1, is a 33 kB artifact).
EXPANSION_SLACK = 1 << 20


def expansion_bound(archive_size: int) -> int:
    """The most bytes an artifact of ``archive_size`` compressed bytes may
    unpack to: the ``expansion_ratio`` limit times its size, plus
    :data:`EXPANSION_SLACK` (zip-bomb guards bound the ratio the same way)."""
    return limit("expansion_ratio") * archive_size + EXPANSION_SLACK


class _Meter:
    """The decompression effort of one artifact: frames started (zstd
    frames, skippable ones included, and bzip2 streams), compressed bytes
    read and bytes produced. Refuses (:class:`~press.errors.LimitError`)
    more frames than the ``frames`` limit, output beyond
    :func:`expansion_bound`, and more than ``idle_input`` compressed bytes
    read since the last output (skippable frames and empty streams cost
    time but produce nothing)."""

    def __init__(self, archive_size: int, label: str) -> None:
        self.archive_size = archive_size
        self.label = label
        #: The compressed data being read (a ``.conda`` component), for messages.
        self.field = "bzip2 data"
        self.allowed = expansion_bound(archive_size)
        self.frames = self.read = self.produced = self.idle = 0

    def frame(self) -> None:
        self.frames += 1
        if self.frames > limit("frames"):
            raise exceeded("frames", package=self.label, field=self.field)

    def consumed(self, size: int) -> None:
        self.read += size
        self.idle += size
        if self.idle > limit("idle_input"):
            raise exceeded("idle_input", package=self.label, field=self.field,
                           found=f"{self.idle} bytes read without output")

    def output(self, size: int) -> None:
        self.produced += size
        self.idle = 0
        if self.produced > self.allowed:
            raise _ratio_error(self.label, self.field, self.produced, self.archive_size)


def _ratio_error(label: str, field: str | None, unpacked: int, archive_size: int) -> PressError:
    return exceeded("expansion_ratio", package=label, field=field,
                    found=f"{unpacked} bytes from a {archive_size}-byte archive")


class _Frames(io.RawIOBase):
    """The decompressed bytes of ``raw``, a sequence of compressed frames
    (zstd frames or bzip2 streams, one ``new()`` decompressor each), metered
    by a :class:`_Meter`. As in Python's own bz2 and zstd files, bytes after
    a complete frame that do not start another one (``trailing`` raised)
    end the stream, and a frame cut short is an ``EOFError``."""

    def __init__(self, raw: IO[bytes], new: Callable[[], Any], trailing: type[Exception], meter: _Meter) -> None:
        super().__init__()
        self.raw, self.new, self.trailing, self.meter = raw, new, trailing, meter
        meter.frame()
        self.decompressor = new()
        self.finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: "memoryview | bytearray") -> int:  # type: ignore[override]
        data = self._next(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _input(self) -> bytes:
        data = self.raw.read(_READ)
        self.meter.consumed(len(data))
        return data

    def _next(self, size: int) -> bytes:
        while not self.finished and size > 0:
            if self.decompressor.eof:
                rest = self.decompressor.unused_data or self._input()
                if not rest:
                    self.finished = True
                    break
                self.meter.frame()
                self.decompressor = self.new()
                try:
                    data = self.decompressor.decompress(rest, size)
                except self.trailing:
                    self.finished = True
                    break
            else:
                rest = self._input() if self.decompressor.needs_input else b""
                if self.decompressor.needs_input and not rest:
                    raise EOFError("compressed data ended before the end-of-stream marker")
                data = self.decompressor.decompress(rest, size)
            if data:
                self.meter.output(len(data))
                return data  # type: ignore[no-any-return]
        return b""


def _tar_stream(raw: IO[bytes], new: Callable[[], Any], trailing: type[Exception], meter: _Meter,
                label: str) -> Iterator[tuple[_HeaderGuard, tarfile.TarFile]]:
    plain = io.BufferedReader(_Frames(raw, new, trailing, meter), _READ)
    guard = _HeaderGuard(plain, label)
    guard.arm()
    with tarfile.open(fileobj=guard, mode="r|", encoding="utf-8", bufsize=guard.BUFSIZE) as tar:  # type: ignore[call-overload]
        yield guard, tar


def _components(source: Path, label: str) -> Iterator[tuple[_HeaderGuard, tarfile.TarFile]]:
    """The tar streams of an artifact: ``info`` then ``pkg`` of a ``.conda``
    (zstd-compressed members of a zip), or the one tar of a ``.tar.bz2``;
    decompressed through one :class:`_Meter` for the whole artifact."""
    meter = _Meter(source.stat().st_size, label)
    if source.name.endswith(".conda"):
        from conda_package_streaming.package_streaming import zstd

        from .wheelread import declared_entries

        with open(source, "rb") as handle:
            # Counted from the end-of-central-directory record before zipfile makes an object per entry.
            entries = declared_entries(handle, limit("members"))
            if entries is not None and entries > limit("members"):
                raise exceeded("members", package=label, found=f"at least {entries} in the zip's central directory")
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                for component in ("info", "pkg"):
                    found = [i for i in archive.infolist()
                             if i.filename.startswith(f"{component}-") and i.filename.endswith(".tar.zst")]
                    if len(found) != 1:
                        raise ArchiveError(f"has {len(found)} {component}-*.tar.zst components, not one",
                                           package=label)
                    meter.field = found[0].filename
                    with archive.open(found[0]) as raw:
                        yield from _tar_stream(raw, zstd.ZstdDecompressor, zstd.ZstdError, meter, label)
    else:
        with open(source, "rb") as raw:
            yield from _tar_stream(raw, bz2.BZ2Decompressor, OSError, meter, label)


class _Unpacker:
    """State of one artifact's extraction (see the module docstring):
    binaries go to files of ``root``, other kept files to its pack file."""

    def __init__(self, root: PackedRoot, label: str, archive_size: int) -> None:
        self.root = root
        self.label = label
        #: The compressed size of the artifact, which bounds what it may unpack to.
        self.archive_size = archive_size
        self.files: dict[str, FileFacts] = {}
        self.dirs: set[str] = set()
        self.links: dict[str, str] = {}
        self.nfc: dict[str, str] = {}
        self.folded: dict[str, str] = {}
        self.case_clashes: list[tuple[str, str]] = []
        self.members = 0
        self.total = 0
        self.declared: dict[str, int] | None = None
        #: ``paths.json``, once parsed to check sizes while unpacking.
        self.paths: tuple[PathEntry, ...] | None = None
        #: ``(offset, size)`` in the pack file of each packed member (the root's table).
        self.packed: dict[str, tuple[int, int]] = dict(root.packed)
        self.root.packed = self.packed
        self.pack: BinaryIO | None = None
        self.pack_size = 0
        #: Hardlinks that need the bytes of a discarded member: link -> target
        #: (kept by a second pass over the archive, see :func:`_extract`).
        self.wanted: dict[str, str] = {}
        #: Each hardlink's regular-file member (links to links resolved).
        self.origins: dict[str, str] = {}

    def refuse(self, name: str, reason: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(reason, package=self.label, field=name)

    def count(self, size: int, name: str) -> None:
        """Count ``size`` more unpacked bytes (a member's declared size, before
        any of it is written; a link at its target's size), within the
        ``unpacked_size`` limit and the artifact's :func:`expansion_bound`."""
        self.total += size
        if self.total > limit("unpacked_size"):
            raise exceeded("unpacked_size", package=self.label, field=name)
        if self.total > expansion_bound(self.archive_size):
            raise _ratio_error(self.label, name, self.total, self.archive_size)

    def _name(self, member: tarfile.TarInfo) -> str:
        try:
            name = grammar.relative_path(member.name)
        except ValueError as exc:
            raise self.refuse(repr(member.name)[1:-1][:200], f"unsafe archive member name: {exc}") from None
        if name in self.files or name in self.links or (name in self.dirs and not member.isdir()):
            raise self.refuse(name, "archive member appears twice")
        key = grammar.nfc_key(name)
        other = self.nfc.setdefault(key, name)
        if other != name:
            raise self.refuse(name, f"archive members {other!r} and {name!r} are the same name under Unicode "
                                    "normalisation (NFC)")
        parts = name.split("/")
        for index in range(1, len(parts)):
            parent = "/".join(parts[:index])
            if parent in self.links or parent in self.files:
                raise self.refuse(name, f"archive member lies under {parent!r}, which is a link or a file")
            self.dirs.add(parent)
        if not member.isdir():
            folded = self.folded.setdefault(name.lower(), name)
            if folded != name:
                self.case_clashes.append((folded, name))
        return name

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.members += 1
        if self.members > limit("members"):
            raise exceeded("members", package=self.label)
        name = self._name(member)
        if member.isdir():
            self.dirs.add(name)
        elif member.issym():
            target = member.linkname
            if not target or len(target) > grammar.MAX_PATH or "\0" in target or "\\" in target:
                raise self.refuse(name, f"symlink target {target[:200]!r} is not a POSIX path")
            if target.startswith("/"):
                raise self.refuse(name, f"is a symlink to {target!r}, outside the package")
            self.links[name] = target
        elif member.islnk():
            try:
                target = grammar.relative_path(member.linkname)
            except ValueError:
                raise self.refuse(name, f"is a hardlink to {member.linkname[:200]!r}, outside the package") from None
            facts = self.files.get(target)
            if facts is None:
                raise self.refuse(name, f"is a hardlink to {target!r}, which is not an earlier regular file")
            self.count(facts.size, name)
            origin = self.origins.get(target, target)  # the regular-file member holding the bytes
            self.origins[name] = origin
            if is_discarded(name):
                pass
            elif origin in self.packed:
                self.packed[name] = self.packed[origin]
            elif is_discarded(origin):
                self.wanted[name] = origin
            else:  # a binary, stored as a file
                self.root.copy_from(self.root, origin, name, 0o755 if facts.executable else 0o644)
            self.files[name] = facts
        elif member.isfile():
            self._file(tar, member, name)
        else:
            raise self.refuse(name, "archive member is a device, FIFO or other special file")

    def _file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
        if member.size < 0:
            raise self.refuse(name, "archive member has a negative size")
        self.count(member.size, name)
        if (self.declared is None and not name.startswith("info/") and "info/paths.json" in self.files
                and self.root.is_file("info/paths.json")):  # not yet when it links to a member not kept
            if self.pack is not None:
                self.pack.flush()
            self.paths = _read_paths_json(self.root, self.label)
            self.declared = {e.path: e.size for e in self.paths if e.path_type == "hardlink" and e.size is not None}
        if self.declared and name in self.declared and member.size != self.declared[name]:
            raise self.refuse(name, f"archive member is {member.size} bytes, info/paths.json declares "
                                    f"{self.declared[name]}")
        executable = bool(member.mode & 0o100)
        source = tar.extractfile(member)
        if source is None:
            raise self.refuse(name, "archive member has no data")
        sha256, magic = self.store(source, member.size, name, [] if is_discarded(name) else [name], executable)
        self.files[name] = FileFacts(member.size, sha256, executable, magic)

    def store(self, source: IO[bytes], size: int, member: str, names: list[str], executable: bool,
              ) -> tuple[str, bytes]:
        """Copy the ``size`` bytes of archive member ``member`` from
        ``source`` to where ``names`` keep them (a file, copied to the other
        names, when the first bytes may make a binary; else one range of the
        pack that every name shares; nowhere for no name), hashing them.
        Returns the hex sha256 and the first four bytes."""
        digest = hashlib.sha256()
        first = source.read(min(CHUNK, size))
        magic = first[:4]
        mode = 0o755 if executable else 0o644
        binary = bool(names) and may_be_binary(magic)
        out: BinaryIO | None = None
        if binary:
            out = self.root.create(names[0], mode)
        elif names:
            if self.pack is None:
                self.pack = self.root.create_pack()  # closed by finish()
            out = self.pack
        written = 0
        try:
            block = first
            while block:
                written += len(block)
                digest.update(block)
                if out is not None:
                    out.write(block)
                block = source.read(min(CHUNK, size - written))
        finally:
            if binary and out is not None:
                out.close()
        if written != size:
            raise ArchiveError(f"archive member {member!r} is cut short", package=self.label)
        if binary:
            for other in names[1:]:
                self.root.copy_from(self.root, names[0], other, mode)
        elif names:
            for name in names:
                self.packed[name] = (self.pack_size, size)
            self.pack_size += size
        return digest.hexdigest(), magic

    def finish(self) -> None:
        """Close the pack file (every member is in)."""
        if self.pack is not None:
            self.pack.close()
            self.pack = None


def _read_paths_json(root: Root, label: str) -> tuple[PathEntry, ...]:
    data = _read_metadata(root, "info/paths.json", label)
    assert data is not None
    return parse_paths(load_json(data, label, "info/paths.json"), label)


def _read_metadata(root: Root, rel: str, label: str) -> bytes | None:
    """The bytes of a metadata file of the package (None when absent), at
    most the ``metadata_size`` limit."""
    if not root.is_file(rel):
        return None
    data = root.read_bytes(rel, limit("metadata_size") + 1)
    if len(data) > limit("metadata_size"):
        raise exceeded("metadata_size", package=label, field=rel)
    return data


def _read_text(root: Root, rel: str, label: str) -> str | None:
    data = _read_metadata(root, rel, label)
    return None if data is None else decode_text(data, label, rel)


def _extract(source: Path, unpacker: _Unpacker) -> None:
    """Stream the members of ``source`` into ``unpacker``; then, when
    hardlinks need the bytes of discarded members (rare: a kept name linked
    to a compiled cache or a documentation file), stream it again for those."""
    label = unpacker.label
    try:
        try:
            for guard, tar in _components(source, label):
                for member in tar:
                    guard.disarm()
                    unpacker.add(tar, member)
                    guard.arm()
            if unpacker.wanted:
                _keep_wanted(source, unpacker)
        finally:
            unpacker.finish()
    except PressError:
        raise
    except ContainmentError as exc:
        raise UnsafeArchiveError(f"unsafe archive member: {exc}", package=label) from exc
    except Exception as exc:  # tarfile, zipfile, zstd and bz2 errors have no common base class
        raise ArchiveError(f"corrupt or truncated archive ({type(exc).__name__}: {exc})", package=label) from exc


def _keep_wanted(source: Path, unpacker: _Unpacker) -> None:
    """Second pass of :func:`_extract`: store the discarded members that
    hardlinks in ``unpacker.wanted`` need, under the links' names (their
    content must hash as in the first pass)."""
    targets: dict[str, list[str]] = {}
    for link, target in sorted(unpacker.wanted.items()):
        targets.setdefault(target, []).append(link)
    for guard, tar in _components(source, unpacker.label):
        for member in tar:
            guard.disarm()
            try:
                links = targets.pop(grammar.relative_path(member.name), None) if member.isfile() else None
            except ValueError:  # refused in the first pass already
                links = None
            source_file = tar.extractfile(member) if member.isfile() else None
            if not links and source_file is not None:
                while source_file.read(CHUNK):  # data read here, not skipped as header bytes
                    pass
            elif links and source_file is not None:
                facts = unpacker.files[member.name]
                sha256, _ = unpacker.store(source_file, member.size, member.name, links, facts.executable)
                if sha256 != facts.sha256 or member.size != facts.size:
                    raise ArchiveError(f"archive member {member.name!r} reads differently the second time",
                                       package=unpacker.label)
            guard.arm()
    if targets:
        raise ArchiveError(f"archive member {next(iter(targets))!r} is missing the second time", package=unpacker.label)


def _dist_infos(root: Root, files: Mapping[str, FileFacts], paths: tuple[PathEntry, ...], label: str,
                ) -> tuple[DistInfo, ...]:
    """The package's own ``*.dist-info``/``*.egg-info`` metadata in site-packages."""
    found: dict[str, DistInfo] = {}
    for entry in paths:
        prefix = site_packages_prefix(entry.path)
        if prefix is None:
            continue
        top = entry.path[len(prefix):].split("/", 1)[0]
        where = prefix + top
        if not top.lower().endswith((".dist-info", ".egg-info")) or where in found:
            continue
        if len(found) >= limit("dist_infos"):
            raise exceeded("dist_infos", package=label)
        if top.lower().endswith(".dist-info"):
            metadata_file = f"{where}/METADATA"
        elif f"{where}/PKG-INFO" in files:
            metadata_file = f"{where}/PKG-INFO"
        else:
            metadata_file = where  # a single-file egg-info
        name, upstream = None, UpstreamMetadata()
        if metadata_file in files:
            data = _read_metadata(root, metadata_file, label)
            name, upstream = parse_core_metadata(data or b"", label, metadata_file)
        points: tuple[EntryPoint, ...] = ()
        entry_points_file = f"{where}/entry_points.txt"
        if entry_points_file in files:
            text = _read_text(root, entry_points_file, label) or ""
            points = parse_entry_points_txt(text, label, entry_points_file)
        found[where] = DistInfo(where, name, points, upstream)
    return tuple(found[k] for k in sorted(found))


#: Version of the unpacked-artifact cache's layout and manifest.
_CACHE_FORMAT = 4
#: Directories opened without following a symlink in their place.
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


class _BadEntry(Exception):
    """A cache entry that is not what press writes; the message says why."""


def _entry_name(sha256: str) -> str:
    """The cache entry name of an artifact: its sha256 plus a digest of what
    decides how it was unpacked (press's version, the cache format and every
    limit in force), so no entry made under other rules is ever used."""
    from . import __version__
    from .limits import LIMITS

    rules = json.dumps([__version__, _CACHE_FORMAT, sorted((n, limit(n)) for n in LIMITS)]).encode()
    return f"{sha256}-{hashlib.sha256(rules).hexdigest()[:12]}"


#: How a manifest ends: the sha256 of the bytes before it, plus ``}``.
_DIGEST_TAIL = re.compile(rb',"digest":"([0-9a-f]{64})"}\Z')


def _manifest_bytes(body: Mapping[str, Any]) -> bytes:
    """The manifest file: ``body`` as a JSON object whose last key,
    ``digest``, is the sha256 of the bytes before it plus ``}`` (the
    body's own JSON): checked on the raw bytes, without serialising again."""
    data = json.dumps(body, sort_keys=True).encode()
    return data[:-1] + b',"digest":"' + hashlib.sha256(data).hexdigest().encode() + b'"}'


def _max_manifest_size() -> int:
    """The largest manifest read: far above what the ``members`` limit of
    members needs (a real one takes about 150 bytes a member)."""
    return 320 * limit("members") + (1 << 20)


@dataclass
class _Manifest:
    """A cache entry's manifest, its types checked (see :func:`_parse_manifest`)."""

    files: dict[str, FileFacts]
    packed: dict[str, tuple[int, int]]
    pack_size: int
    dirs: set[str]
    links: dict[str, str]
    case_clashes: list[tuple[str, str]]
    members: int
    total: int


def _manifest_body(unpacker: "_Unpacker") -> dict[str, Any]:
    return {"format": _CACHE_FORMAT,
            "files": {p: [f.size, f.sha256, f.executable, f.magic.hex()] for p, f in sorted(unpacker.files.items())},
            "packed": {p: list(r) for p, r in sorted(unpacker.packed.items())}, "pack_size": unpacker.pack_size,
            "dirs": sorted(unpacker.dirs), "links": dict(sorted(unpacker.links.items())),
            "case_clashes": [list(c) for c in unpacker.case_clashes], "members": unpacker.members,
            "total": unpacker.total}


def _count(value: object) -> int:
    if type(value) is not int or value < 0:
        raise _BadEntry(f"its manifest holds {value!r} where a count belongs")
    return value


def _entry_path(value: object) -> str:
    try:
        return grammar.relative_path(value)
    except ValueError as exc:
        raise _BadEntry(f"its manifest names an unsafe path ({exc})") from None


def _parse_manifest(data: bytes, archive_size: int) -> _Manifest:
    """The manifest ``data`` as press wrote it, or :class:`_BadEntry`: its
    digest matches its content (an edited manifest is not used), every path
    follows the path grammar, every value has its type, and the counts are
    within the limits in force."""
    tail = _DIGEST_TAIL.search(data)
    if tail is None or hashlib.sha256(data[:tail.start()] + b"}").hexdigest() != tail.group(1).decode():
        raise _BadEntry("its manifest does not match its digest (edited or cut short)")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _BadEntry(f"its manifest does not read ({type(exc).__name__})") from None
    if not isinstance(document, dict) or document.get("format") != _CACHE_FORMAT:
        raise _BadEntry("its manifest is not one this press writes")
    try:
        files: dict[str, FileFacts] = {}
        for path, facts in document["files"].items():
            size, sha256, executable, magic = facts
            if not isinstance(sha256, str) or not _HEX64.match(sha256) or type(executable) is not bool:
                raise _BadEntry(f"its manifest's facts of {path!r} are not what press writes")
            files[_entry_path(path)] = FileFacts(_count(size), sha256, executable, bytes.fromhex(magic)[:4])
        packed: dict[str, tuple[int, int]] = {}
        for path, (offset, size) in document["packed"].items():
            if path not in files or files[path].size != size:
                raise _BadEntry(f"its manifest packs {path!r} at a size its files do not have")
            packed[path] = (_count(offset), _count(size))
        dirs = {_entry_path(d) for d in document["dirs"]}
        links: dict[str, str] = {}
        for path, target in document["links"].items():
            if (not isinstance(target, str) or not target or len(target) > grammar.MAX_PATH or "\0" in target
                    or "\\" in target or target.startswith("/")):
                raise _BadEntry(f"its manifest's symlink {path!r} has a target press does not keep")
            links[_entry_path(path)] = target
        if set(files) & set(links) or dirs & (set(files) | set(links)):
            raise _BadEntry("its manifest names one path twice")
        clashes = [(_entry_path(a), _entry_path(b)) for a, b in document["case_clashes"]]
        manifest = _Manifest(files, packed, _count(document["pack_size"]), dirs, links, clashes,
                             _count(document["members"]), _count(document["total"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _BadEntry(f"its manifest is not what press writes ({type(exc).__name__})") from None
    if (manifest.members > limit("members") or manifest.total > limit("unpacked_size")
            or manifest.total > expansion_bound(archive_size)):
        raise _BadEntry("its manifest's counts exceed the limits in force")
    kept = sum(f.size for p, f in files.items() if p not in packed and not is_discarded(p))
    if manifest.pack_size + kept > manifest.total:  # what verification reads stays within the limits too
        raise _BadEntry("its manifest keeps more bytes than it counts")
    return manifest


def _open_regular(name: str, dir_fd: int, what: str) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file ``name`` in ``dir_fd``
    (never a symlink, FIFO or device) and its ``fstat``."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        raise _BadEntry(f"its {what} cannot be opened without following a link ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _BadEntry(f"its {what} is not a regular file")
    return fd, info


def _check_bytes(fd: int, offset: int, size: int, facts: list[FileFacts], what: str) -> None:
    """Hash ``size`` bytes at ``offset`` of ``fd``: they must be every one of ``facts``' size, sha256 and magic."""
    digest = hashlib.sha256()
    done, head = 0, b""
    while done < size:
        block = os.pread(fd, min(CHUNK, size - done), offset + done)
        if not block:
            raise _BadEntry(f"{what} is cut short")
        if done == 0:
            head = block[:4]
        digest.update(block)
        done += len(block)
    found = digest.hexdigest()
    for fact in facts:
        if fact.size != size or fact.sha256 != found or fact.magic != head:
            raise _BadEntry(f"{what} does not hash to what its manifest says")


def _verify_pack(entry_fd: int, manifest: _Manifest) -> None:
    """The pack file holds exactly the manifest's ranges, one after the
    other from its start, each hashing to its members' sha256."""
    by_range: dict[tuple[int, int], list[str]] = {}
    for path, found in manifest.packed.items():
        by_range.setdefault(found, []).append(path)
    fd, info = _open_regular("members.pack", entry_fd, "members.pack")
    try:
        if info.st_size != manifest.pack_size:
            raise _BadEntry("its members.pack is not the size its manifest says")
        end = 0
        for (offset, size) in sorted(by_range):
            if offset != end:
                raise _BadEntry("its manifest's pack ranges are not what press writes")
            names = by_range[(offset, size)]
            _check_bytes(fd, offset, size, [manifest.files[n] for n in names], f"its packed member {names[0]!r}")
            end = offset + size
        if end != manifest.pack_size:
            raise _BadEntry("its members.pack holds bytes its manifest does not name")
    finally:
        os.close(fd)


def _verify_root(entry_fd: int, manifest: _Manifest) -> None:
    """``root/`` holds exactly the manifest's files that are neither packed
    nor discarded (and the directories above them), no link or other kind of
    file, each hashing to its sha256. Every directory is opened with
    ``O_NOFOLLOW`` relative to its parent."""
    expected = {p: f for p, f in manifest.files.items() if p not in manifest.packed and not is_discarded(p)}
    parents = {p.rsplit("/", i)[0] for p in expected for i in range(1, p.count("/") + 1)}
    try:
        top = os.open("root", _NOFOLLOW_DIR, dir_fd=entry_fd)
    except OSError:
        raise _BadEntry("its root is a symlink or not a directory") from None
    pending: list[tuple[str, int]] = [("", top)]
    seen = 0
    try:
        while pending:
            prefix, dir_fd = pending.pop()
            try:
                with os.scandir(dir_fd) as listing:
                    entries = [(e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
                               for e in listing]
                for name, is_dir, is_file in entries:
                    rel = prefix + name
                    if is_dir and rel in parents:
                        try:
                            pending.append((rel + "/", os.open(name, _NOFOLLOW_DIR, dir_fd=dir_fd)))
                        except OSError:
                            raise _BadEntry(f"its root's {rel!r} changed while read") from None
                    elif is_file and rel in expected:
                        fd, info = _open_regular(name, dir_fd, f"root file {rel!r}")
                        try:
                            if info.st_size != expected[rel].size:
                                raise _BadEntry(f"its file {rel!r} is not the size its manifest says")
                            _check_bytes(fd, 0, info.st_size, [expected[rel]], f"its file {rel!r}")
                        finally:
                            os.close(fd)
                        seen += 1
                    else:
                        raise _BadEntry(f"its root holds {rel[:200]!r}, which is not a file its manifest names")
            finally:
                os.close(dir_fd)
    finally:
        for _prefix, dir_fd in pending:
            os.close(dir_fd)
    if seen != len(expected):
        raise _BadEntry("its root lacks files its manifest names")


def _verify_entry(cache_fd: int, name: str, archive_size: int) -> _Manifest | None:
    """The manifest of the cache entry ``name`` (None when there is none)
    once the entry is checked to be exactly what press writes: a directory
    (not a link) holding only ``manifest.json``, ``root/`` and, when members
    are packed, ``members.pack``; a manifest that reads (:func:`_parse_manifest`);
    a pack and a root whose bytes hash to it (:func:`_verify_pack`,
    :func:`_verify_root`). Every file is opened relative to its directory
    with ``O_NOFOLLOW``. Raises :class:`_BadEntry` for anything else."""
    try:
        entry_fd = os.open(name, _NOFOLLOW_DIR, dir_fd=cache_fd)
    except FileNotFoundError:
        return None
    except OSError:
        raise _BadEntry("it is a symlink or not a directory") from None
    try:
        names = set(os.listdir(entry_fd))
        if not names <= {"manifest.json", "members.pack", "root"} or not {"manifest.json", "root"} <= names:
            raise _BadEntry(f"it holds {len(names)} names, not the manifest, root and pack press writes")
        fd, info = _open_regular("manifest.json", entry_fd, "manifest")
        try:
            if info.st_size > _max_manifest_size():
                raise _BadEntry("its manifest is larger than any press writes")
            data = os.read(fd, info.st_size + 1)
        finally:
            os.close(fd)
        manifest = _parse_manifest(data, archive_size)
        if ("members.pack" in names) != bool(manifest.packed):
            raise _BadEntry("its members.pack is not there exactly when its manifest packs members")
        if manifest.packed:
            _verify_pack(entry_fd, manifest)
        _verify_root(entry_fd, manifest)
        return manifest
    finally:
        os.close(entry_fd)


def _open_cache(cache: Path) -> int:
    """A descriptor of the unpacked-artifact cache directory ``cache``, made
    when missing. Its parent (the user's cache directory) may be a link;
    ``cache`` itself is opened with ``O_NOFOLLOW``. Raises ``OSError``."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    parent = os.open(cache.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(cache.name, 0o755, dir_fd=parent)
        return os.open(cache.name, _NOFOLLOW_DIR, dir_fd=parent)
    finally:
        os.close(parent)


def _remove(cache_fd: int, name: str) -> None:
    """Remove ``name`` in the cache directory, whatever it is, without
    following a link (shutil's descriptor-based tree removal)."""
    try:
        found = os.stat(name, dir_fd=cache_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(found.st_mode):
        shutil.rmtree(name, dir_fd=cache_fd, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=cache_fd)


def _discard(cache_fd: int, name: str) -> None:
    """Take the entry ``name`` out of use at once (renamed to a random
    temporary name, which no process looks up), then remove it."""
    trash = f".{name[:16]}-discarded-{secrets.token_hex(8)}"
    try:
        os.rename(name, trash, src_dir_fd=cache_fd, dst_dir_fd=cache_fd)
    except FileNotFoundError:
        return  # another process discarded it first
    _remove(cache_fd, trash)


def _write_new(cache_fd: int, directory: str, name: str, data: bytes) -> None:
    """Create the file ``directory/name`` in the cache directory holding
    ``data`` (``O_EXCL``, no link followed on the way)."""
    dir_fd = os.open(directory, _NOFOLLOW_DIR, dir_fd=cache_fd)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    finally:
        os.close(dir_fd)


def _new_temporary(cache_fd: int, prefix: str) -> str:
    """A new directory in the cache directory with a random name (made with
    ``mkdir``, which never follows a link or reuses a name)."""
    while True:
        name = f"{prefix}{secrets.token_hex(8)}"
        try:
            os.mkdir(name, 0o700, dir_fd=cache_fd)
            return name
        except FileExistsError:
            continue


def _use_entry(cache_fd: int, cache: Path, name: str, label: str, archive_size: int,
               notes: list[str]) -> _Unpacker | None:
    """The extraction state of the cache entry ``name`` when it is there and
    verifies (:func:`_verify_entry`); None when it is not there, or when it
    is not what press writes: then it is discarded, with a note."""
    try:
        manifest = _verify_entry(cache_fd, name, archive_size)
    except _BadEntry as exc:
        notes.append(f"{label}: unpacked-artifact cache entry {name} discarded ({exc}); unpacking the artifact again")
        _discard(cache_fd, name)
        return None
    if manifest is None:
        return None
    unpacker = _Unpacker(PackedRoot(cache / name / "root", cache / name / "members.pack", manifest.packed), label,
                         archive_size)
    unpacker.pack_size = manifest.pack_size
    unpacker.files = manifest.files
    unpacker.dirs = manifest.dirs
    unpacker.links = manifest.links
    unpacker.case_clashes = manifest.case_clashes
    unpacker.members, unpacker.total = manifest.members, manifest.total
    return unpacker


def _unpack_cached(source: Path, cache: Path, sha256: str, label: str, notes: list[str]) -> _Unpacker | None:
    """Unpack ``source`` into the unpacked-artifact cache ``cache``
    (content-addressed by sha256, see :func:`_entry_name`) unless a verified
    entry is there, and return its extraction state. An entry is used only
    when it is exactly what press writes and its bytes hash to its manifest
    (:func:`_verify_entry`); any other is discarded with a note in ``notes``
    and unpacked anew. A new entry is unpacked into a directory with a
    random name, its manifest written last, then renamed into place:
    processes sharing the cache never see half an entry, and the first
    rename wins. Nothing in the cache is created, opened or removed through
    a symlink. Returns None (with a note) when ``cache`` cannot be used
    (not a directory, or a symlink): the caller unpacks elsewhere."""
    archive_size = source.stat().st_size
    name = _entry_name(sha256)
    try:
        cache_fd = _open_cache(cache)
    except OSError as exc:
        notes.append(f"{label}: the unpacked-artifact cache {cache} is not used ({exc.strerror or exc}: a symlink "
                     "or not a directory); unpacking into the work directory")
        return None
    try:
        found = _use_entry(cache_fd, cache, name, label, archive_size, notes)
        if found is not None:
            return found
        tmp = _new_temporary(cache_fd, f".{sha256[:16]}-")
        try:
            unpacker = _Unpacker(PackedRoot(cache / tmp / "root", cache / tmp / "members.pack", {}, create=True),
                                 label, archive_size)
            _extract(source, unpacker)
            _write_new(cache_fd, tmp, "manifest.json", _manifest_bytes(_manifest_body(unpacker)))
            unpacker.root.release()
            for _attempt in range(3):
                try:
                    os.rename(tmp, name, src_dir_fd=cache_fd, dst_dir_fd=cache_fd)
                    break
                except OSError:  # something is in place: another process's entry (used), or anything else (replaced)
                    theirs = _use_entry(cache_fd, cache, name, label, archive_size, notes)
                    if theirs is not None:
                        _remove(cache_fd, tmp)
                        return theirs
            else:
                raise ArchiveError("the unpacked-artifact cache entry cannot be put in place", package=label)
        except BaseException:
            _remove(cache_fd, tmp)
            raise
    finally:
        os.close(cache_fd)
    unpacker.root = PackedRoot(cache / name / "root", cache / name / "members.pack", unpacker.packed)
    return unpacker


def open_artifact(source: Path, workdir: Path, sha256: str | None = None, cache: Path | None = None,
                  notes: list[str] | None = None) -> Artifact:
    """Unpack the conda artifact ``source`` into ``workdir`` (made, must be new
    or empty: binaries under ``workdir/root``, other files in
    ``workdir/members.pack``, see the module docstring) and parse its
    metadata at the validation boundary.

    Returns the :class:`Artifact`. Raises :class:`UnsafeArchiveError` for a
    member whose name is not a safe relative path (absolute, ``..``, NUL,
    backslash), a link leaving the package, a device/FIFO, a duplicate path
    (also under Unicode normalisation; case-only duplicates for targets
    other than Linux), a size other than ``paths.json`` declares, or input
    beyond a :mod:`press.limits` limit (:class:`~press.errors.LimitError`);
    :class:`~press.errors.InvalidInputError` for a metadata document whose
    types, ranges or grammars are wrong; :class:`ArchiveError` for a corrupt
    or truncated archive, a missing ``info/index.json`` or a payload that
    disagrees with ``paths.json`` (missing file, size, sha256). Nothing is
    written outside ``workdir``. ``sha256`` (hex), when the caller has
    already checked it, saves hashing the archive again. With ``cache`` (a
    directory), the archive is unpacked there once, content-addressed by its
    sha256 (:func:`_unpack_cached`), and ``workdir`` is not used: later
    conversions, and batch jobs in other processes, read the same tree. The
    metadata is parsed and every payload check below runs again each time.
    A cache entry is used only when its bytes hash to its manifest; one that
    does not (or is not what press writes) is unpacked anew and a line
    saying so is appended to ``notes``.

    Decompression is bounded (:mod:`press.limits`): ``frames`` zstd frames
    or bzip2 streams, ``idle_input`` compressed bytes read without output,
    and ``expansion_ratio`` times the archive's size unpacked (declared
    member sizes are counted before any byte is written), each a
    :class:`~press.errors.LimitError`.
    """
    source = Path(source)
    label = source.name
    artifact_stem(source)
    if not source.is_file():
        raise ArchiveError("no such file", package=label)
    found: _Unpacker | None = None
    if cache is not None:
        sha256 = sha256 or sha256_file(source)
        found = _unpack_cached(source, Path(cache), sha256, label, notes if notes is not None else [])
    if found is not None:
        unpacker = found
        root = unpacker.root
    else:
        workdir = Path(workdir)
        root = PackedRoot(workdir / "root", workdir / "members.pack", {}, create=True)
        unpacker = _Unpacker(root, label, source.stat().st_size)
        _extract(source, unpacker)
    index_data = _read_metadata(root, "info/index.json", label)
    if index_data is None:
        raise ArchiveError("missing info/index.json", package=label)
    identity = parse_index(load_json(index_data, label, "info/index.json"), label)
    label = identity.label
    unpacker.label = label
    about_data = _read_metadata(root, "info/about.json", label)
    about = parse_about(load_json(about_data, label, "info/about.json"), label) if about_data else About()
    link_data = _read_metadata(root, "info/link.json", label)
    entry_points = parse_link(load_json(link_data, label, "info/link.json"), label) if link_data else ()
    if unpacker.paths is not None:
        paths = unpacker.paths
    elif root.is_file("info/paths.json"):
        paths = _read_paths_json(root, label)
    elif root.is_file("info/files"):
        paths = parse_legacy_files(_read_text(root, "info/files", label) or "",
                                   _read_text(root, "info/has_prefix", label), label)
    else:
        paths = ()
    meta = "info/recipe/meta.yaml.rendered" if root.is_file("info/recipe/meta.yaml.rendered") else "info/recipe/meta.yaml"
    meta_text = _read_text(root, meta, label)
    test_requires = parse_test_requires(meta_text, label, meta)
    test_imports = parse_recipe_tests(meta_text, _read_text(root, "info/tests/tests.yaml", label),
                                      _read_text(root, "info/test/run_test.py", label), label, meta)
    if unpacker.case_clashes and not identity.subdir.startswith("linux-"):
        first, second = unpacker.case_clashes[0]
        raise UnsafeArchiveError(
            f"archive members {first!r} and {second!r} differ only in case, which collide on the "
            f"case-insensitive file systems of {identity.subdir} targets", package=label)
    dirs = frozenset(unpacker.dirs)
    files = dict(unpacker.files)
    # Every link must stay inside the package; links to files count at
    # their target's size (a wheel stores them as copies).
    for link in sorted(unpacker.links):
        kind, resolved = _resolve(link, files, dirs, unpacker.links, label)
        if kind == "file":
            unpacker.count(files[resolved].size, link)
    _check_payload(paths, files, dirs, unpacker.links, label)
    licenses = tuple(sorted(p[len("info/licenses/"):] for p in files if p.startswith("info/licenses/")))
    activation = _activation(root, files, label)
    root.release()  # a closure holds dozens of artifacts: keep no directory open between uses
    return Artifact(
        source=source,
        sha256=sha256 or sha256_file(source),
        root=root,
        identity=identity,
        about=about,
        paths=paths,
        files=files,
        dirs=dirs,
        links=dict(unpacker.links),
        entry_points=entry_points,
        test_imports=test_imports,
        test_requires=test_requires,
        dist_infos=_dist_infos(root, files, paths, label),
        licenses=licenses,
        activation=activation,
    )


#: conda's activation scripts (sh for posix shells, bat for cmd.exe).
_ACTIVATE_SCRIPT = re.compile(r"^etc/conda/activate\.d/[^/]+\.(sh|bat)\Z")


def _activation(root: Root, files: Mapping[str, FileFacts], label: str) -> tuple[EnvSetting, ...]:
    """The variables ``etc/conda/activate.d`` scripts point into the prefix
    (first setting of a name wins, scripts in file-name order)."""
    found: dict[str, EnvSetting] = {}
    for rel in sorted(p for p in files if _ACTIVATE_SCRIPT.match(p)):
        if files[rel].size > limit("text_size"):
            raise exceeded("text_size", package=label, field=rel)
        for setting in parse_activation(_read_text(root, rel, label) or "", label, rel):
            found.setdefault(setting.name, setting)
    return tuple(found.values())


def _check_payload(paths: tuple[PathEntry, ...], files: Mapping[str, FileFacts], dirs: frozenset[str],
                   links: Mapping[str, str], label: str) -> None:
    """Compare the unpacked payload with ``paths.json``: every listed path
    exists, and regular files have the declared size and sha256 (conda
    checks the same when it verifies a package)."""
    for entry in paths:
        if entry.path_type == "directory":
            continue
        facts = files.get(entry.path)
        if facts is None and entry.path not in links:
            if entry.path in dirs:
                continue
            raise ArchiveError(f"info/paths.json lists {entry.path!r} but the payload lacks it", package=label)
        if entry.path_type != "hardlink" or facts is None:
            continue
        if entry.size is not None and facts.size != entry.size:
            raise invalid(label, f"info/paths.json: {entry.path}", f"{facts.size} bytes, declared {entry.size}")
        if entry.sha256 and facts.sha256 != entry.sha256:
            raise ArchiveError(f"info/paths.json: sha256 of {entry.path!r} does not match", package=label)
