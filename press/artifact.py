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
(links counted at their targets' size) and metadata sizes. Then the
``info/`` documents are parsed at the validation boundary
(:mod:`press.package`) and the payload is compared with ``paths.json`` as
conda verifies a package.
"""

from __future__ import annotations

import bz2
import dataclasses
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterator, Mapping

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


def _components(source: Path, label: str) -> Iterator[tuple[_HeaderGuard, tarfile.TarFile]]:
    """The tar streams of an artifact: ``info`` then ``pkg`` of a ``.conda``
    (zstd-compressed members of a zip), or the one tar of a ``.tar.bz2``."""
    if source.name.endswith(".conda"):
        from conda_package_streaming.package_streaming import zstd

        with zipfile.ZipFile(source) as archive:
            for component in ("info", "pkg"):
                found = [i for i in archive.infolist()
                         if i.filename.startswith(f"{component}-") and i.filename.endswith(".tar.zst")]
                if len(found) != 1:
                    raise ArchiveError(f"has {len(found)} {component}-*.tar.zst components, not one", package=label)
                with archive.open(found[0]) as raw, zstd.open(raw) as plain:
                    guard = _HeaderGuard(plain, label)
                    guard.arm()
                    with tarfile.open(fileobj=guard, mode="r|", encoding="utf-8", bufsize=guard.BUFSIZE) as tar:  # type: ignore[call-overload]
                        yield guard, tar
    else:
        with bz2.open(source, "rb") as plain:
            guard = _HeaderGuard(plain, label)  # type: ignore[arg-type]
            guard.arm()
            with tarfile.open(fileobj=guard, mode="r|", encoding="utf-8", bufsize=guard.BUFSIZE) as tar:  # type: ignore[call-overload]
                yield guard, tar


class _Unpacker:
    """State of one artifact's extraction (see the module docstring):
    binaries go to files of ``root``, other kept files to its pack file."""

    def __init__(self, root: PackedRoot, label: str) -> None:
        self.root = root
        self.label = label
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
        self.total += size
        if self.total > limit("unpacked_size"):
            raise exceeded("unpacked_size", package=self.label, field=name)

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
                self.pack = open(self.root.pack, "xb")  # noqa: SIM115 (closed by finish())
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
_CACHE_FORMAT = 3


def _cache_entry(cache: Path, sha256: str) -> Path:
    """The cache directory of an artifact: its sha256 plus a digest of what
    decides how it was unpacked (press's version, the cache format and every
    limit in force), so no entry made under other rules is ever used."""
    from . import __version__
    from .limits import LIMITS

    rules = json.dumps([__version__, _CACHE_FORMAT, sorted((n, limit(n)) for n in LIMITS)]).encode()
    return cache / f"{sha256}-{hashlib.sha256(rules).hexdigest()[:12]}"


def _load_entry(entry: Path, label: str) -> _Unpacker | None:
    """The extraction state of a complete cache entry (None when it is
    absent, its manifest does not read as one press wrote, or the entry
    does not hold what the manifest says: every pack range inside the pack
    file and of its file's size, every other kept file on disk at its size).
    A None entry is unpacked anew."""
    try:
        manifest = json.loads((entry / "manifest.json").read_text("utf-8"))
        if manifest.get("format") != _CACHE_FORMAT:
            return None
        packed = {str(p): (int(r[0]), int(r[1])) for p, r in manifest["packed"].items()}
        unpacker = _Unpacker(PackedRoot(entry / "root", entry / "members.pack", packed), label)
        unpacker.files = {str(p): FileFacts(int(f[0]), str(f[1]), bool(f[2]), bytes.fromhex(f[3]))
                          for p, f in manifest["files"].items()}
        unpacker.dirs = {str(d) for d in manifest["dirs"]}
        unpacker.links = {str(k): str(v) for k, v in manifest["links"].items()}
        unpacker.case_clashes = [(str(a), str(b)) for a, b in manifest["case_clashes"]]
        unpacker.members, unpacker.total = int(manifest["members"]), int(manifest["total"])
        pack = (entry / "members.pack").lstat() if packed else None
        if pack is not None and not stat.S_ISREG(pack.st_mode):
            return None
        for path, (offset, size) in packed.items():
            if offset < 0 or pack is None or offset + size > pack.st_size or unpacker.files[path].size != size:
                return None
        for path, facts in unpacker.files.items():
            if path not in packed and not is_discarded(path) and unpacker.root.size(path) != facts.size:
                return None
        return unpacker
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, ContainmentError):
        return None


def _unpack_cached(source: Path, cache: Path, sha256: str, label: str) -> _Unpacker:
    """Unpack ``source`` into the unpacked-artifact cache (content-addressed
    by sha256, see :func:`_cache_entry`) unless it is there, and return its
    extraction state. A new entry is unpacked into a temporary directory,
    its manifest written last, then renamed into place: processes sharing the
    cache never see half an entry, and the first rename wins."""
    entry = _cache_entry(cache, sha256)
    found = _load_entry(entry, label) if entry.is_dir() else None
    if found is not None:
        return found
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha256[:16]}-", dir=cache))
    try:
        unpacker = _Unpacker(PackedRoot(tmp / "root", tmp / "members.pack", {}, create=True), label)
        _extract(source, unpacker)
        manifest = {"format": _CACHE_FORMAT, "files": {p: [f.size, f.sha256, f.executable, f.magic.hex()] for p, f in
                                                       sorted(unpacker.files.items())},
                    "packed": {p: list(r) for p, r in sorted(unpacker.packed.items())},
                    "dirs": sorted(unpacker.dirs), "links": dict(sorted(unpacker.links.items())),
                    "case_clashes": unpacker.case_clashes, "members": unpacker.members, "total": unpacker.total}
        (tmp / "manifest.json").write_text(json.dumps(manifest), "utf-8")
        unpacker.root.release()
        if entry.is_dir():
            finished = _load_entry(entry, label)
            if finished is not None:  # another process finished first (and may be reading it): use theirs
                shutil.rmtree(tmp, ignore_errors=True)
                return finished
            shutil.rmtree(entry, ignore_errors=True)  # an entry whose manifest does not read: replaced
        try:
            os.rename(tmp, entry)
        except OSError:
            if not entry.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process unpacked it first: use theirs
            found = _load_entry(entry, label)
            if found is None:
                raise ArchiveError("the unpacked-artifact cache entry another process wrote does not read",
                                   package=label) from None
            return found
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    loaded = _load_entry(entry, label)
    assert loaded is not None
    loaded.paths = unpacker.paths
    return loaded


def open_artifact(source: Path, workdir: Path, sha256: str | None = None, cache: Path | None = None) -> Artifact:
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
    """
    source = Path(source)
    label = source.name
    artifact_stem(source)
    if not source.is_file():
        raise ArchiveError("no such file", package=label)
    if cache is not None:
        sha256 = sha256 or sha256_file(source)
        unpacker = _unpack_cached(source, Path(cache), sha256, label)
        root = unpacker.root
    else:
        workdir = Path(workdir)
        root = PackedRoot(workdir / "root", workdir / "members.pack", {}, create=True)
        unpacker = _Unpacker(root, label)
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
