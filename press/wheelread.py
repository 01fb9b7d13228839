"""Reading a wheel press did not make (or may not have made), with bounds.

``press show``, the index writer (:mod:`press.index`), the wheelhouse check
(:mod:`press.installable`) and validation read wheels that anyone may have
put in a directory. :class:`WheelReader` opens one so that no such wheel can
make press crash, hang or fill memory or disk:

- the archive is a regular file (a FIFO is never waited on; with
  ``follow_symlinks=False`` a symlink is never followed);
- the member count is read from the end-of-central-directory record before
  :mod:`zipfile` builds an entry per member, and bounded (``members``);
- each member's inflated size (``wheel_member_size``), the total
  (``unpacked_size``) and each large member's compression ratio
  (``compression_ratio``) are bounded from the central directory, and every
  read counts the bytes as they inflate rather than trusting the header;
- METADATA, RECORD and the SBOM are read whole only within ``metadata_size``
  and ``sbom_size``; METADATA's header block within ``text_size``; JSON
  within ``json_depth`` levels and ``json_containers`` objects and arrays;
- core metadata is parsed eagerly: every field press uses is checked here
  (name, version, Requires-Python, Requires-Dist), so nothing raises later;
- nothing is extracted blindly: :meth:`WheelReader.extract` writes only the
  members a caller asks for, through :class:`press.contained.Root`
  (``O_NOFOLLOW``, ``O_EXCL``, names checked by :func:`press.grammar.relative_path`);
- every malformed-input error of the readers (zipfile, zlib, bz2, lzma, the
  email parser, packaging, json) becomes a :class:`~press.errors.PressError`
  naming the wheel and the member or field.

:func:`printable` strips terminal control characters (C0, C1, ESC
sequences, bidi overrides) from text read from a wheel before it is printed.
"""

from __future__ import annotations

import errno
import hashlib
import json
import lzma
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable

from .errors import InvalidInputError, PressError
from .files import open_regular
from .limits import exceeded, limit
from .package import json_depth

if TYPE_CHECKING:
    from .sbom import CondaSource

#: What the readers raise on malformed input (zipfile's BadZipFile, zlib.error
#: and EOFError on a cut deflate stream, lzma's and bz2's errors (bz2 raises
#: OSError), NotImplementedError for an unknown compression method,
#: RuntimeError for an encrypted member and RecursionError (a RuntimeError)
#: from a JSON parser, ValueError and its UnicodeDecodeError, JSONDecodeError
#: and packaging's Invalid* errors, struct.error from a cut header).
MALFORMED: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, lzma.LZMAError, OSError, NotImplementedError,
    RuntimeError, ValueError, struct.error, KeyError, IndexError, UnicodeError)

#: Members bigger than this are held to the ``compression_ratio`` limit
#: (a small file of zeros compresses a thousandfold and costs nothing).
RATIO_FLOOR = 1 << 20

_CHUNK = 1 << 20
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|[@-Z\\-_]?)|"
                      r"\x9b[0-?]*[ -/]*[@-~]?|\x9d[^\x07\x1b\x9c]*(?:\x07|\x9c)?")
#: C0 and C1 controls, DEL, and the invisible format characters that reorder
#: or hide text (bidi embeddings, overrides and isolates, marks, zero-width).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def printable(text: str, keep_newlines: bool = False) -> str:
    """``text`` without terminal escape sequences (CSI, OSC and other ESC
    sequences) and without C0/C1 control characters, DEL or bidi/zero-width
    format characters (Trojan Source, CVE-2021-42574), so that text read from
    a wheel cannot move the cursor, recolour, retitle or reorder a terminal.
    Tabs and (unless ``keep_newlines``) newlines become spaces."""
    text = _ESCAPES.sub("", text)
    if keep_newlines:
        return "\n".join(_CONTROLS.sub("", line.replace("\t", " ")) for line in text.split("\n"))
    return _CONTROLS.sub("", text.replace("\t", " ").replace("\n", " "))


@dataclass(frozen=True)
class CoreMetadata:
    """The core-metadata fields press uses, each checked when read:
    ``name`` (PEP 508 name, as written), ``version`` (PEP 440), ``requires_python``
    (a PEP 440 specifier set) and ``requires_dist`` (PEP 508 requirements), each
    in packaging's normal form, ``summary`` and ``license``
    (``License-Expression``, else ``License``) as text; ``raw``: the file's bytes."""

    name: str
    version: str
    summary: str | None
    requires_python: str | None
    requires_dist: tuple[str, ...]
    license: str | None
    raw: bytes


def declared_entries(handle: BinaryIO, most: int) -> int | None:
    """How many members the central directory holds, counted up to ``most + 1``
    before zipfile builds an object per member: the end-of-central-directory
    record (APPNOTE 4.3.16; its ZIP64 form when a field is saturated) gives the
    directory's size, and the entries are walked as zipfile walks them (so a
    record whose entry count lies does not matter). None when no record is
    found (zipfile then refuses the file)."""
    size = handle.seek(0, os.SEEK_END)
    tail_size = min(size, 22 + 0xFFFF)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    entries, cd_size = struct.unpack("<HL", tail[at + 10: at + 16])
    end = size - tail_size + at
    if (entries == 0xFFFF or cd_size == 0xFFFFFFFF) and at >= 20 and tail[at - 20: at - 16] == b"PK\x06\x07":
        (offset,) = struct.unpack("<Q", tail[at - 12: at - 4])
        if offset + 56 <= size:
            handle.seek(offset)
            record = handle.read(56)
            if record[:4] == b"PK\x06\x06":
                entries, cd_size = struct.unpack("<QQ", record[32:48])
                end = offset
    if entries > most:
        return int(entries)
    if not 0 <= end - cd_size <= size:
        return None
    handle.seek(end - cd_size)
    directory = handle.read(min(cd_size, size))
    count = position = 0
    while count <= most and directory[position: position + 4] == b"PK\x01\x02" and position + 46 <= len(directory):
        name, extra, comment = struct.unpack("<HHH", directory[position + 28: position + 34])
        position += 46 + name + extra + comment
        count += 1
    return count


class WheelReader:
    """A wheel opened for reading within press's limits (see the module
    docstring). Use as a context manager::

        with WheelReader(path) as wheel:
            metadata = wheel.metadata()

    ``follow_symlinks=False`` refuses a symlink at ``path`` (a wheel directory
    press does not fully own); ``label`` names the wheel in errors (default:
    its file name, made :func:`printable`). Raises
    :class:`~press.errors.PressError` (:class:`~press.errors.LimitError` for a
    limit) for a file that is not a regular file, not a zip archive, or
    beyond a limit."""

    def __init__(self, path: Path, *, follow_symlinks: bool = True, label: str | None = None) -> None:
        self.path = Path(path)
        self.label = label if label is not None else printable(self.path.name)
        try:
            self._handle = open_regular(self.path, follow_symlinks)
        except OSError as exc:
            reason = "a symlink (not followed)" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
            raise PressError(f"cannot open the wheel: {reason}", package=self.label) from None
        try:
            entries = declared_entries(self._handle, limit("members"))
            if entries is not None and entries > limit("members"):
                raise exceeded("members", package=self.label, found=f"at least {entries} in the central directory")
            self._handle.seek(0)
            self.archive = zipfile.ZipFile(self._handle)
            self.infos = self.archive.infolist()
            self._check_sizes()
        except PressError:
            self._handle.close()
            raise
        except MALFORMED as exc:
            self._handle.close()
            raise InvalidInputError(f"not a readable zip archive: {_reason(exc)}", package=self.label) from None

    def __enter__(self) -> WheelReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive and the file."""
        self.archive.close()
        self._handle.close()

    def _check_sizes(self) -> None:
        if len(self.infos) > limit("members"):
            raise exceeded("members", package=self.label)
        total = 0
        for info in self.infos:
            field = printable(info.filename[:200])
            if info.file_size > limit("wheel_member_size"):
                raise exceeded("wheel_member_size", package=self.label, field=field,
                               found=f"{info.file_size} bytes declared")
            if info.file_size > RATIO_FLOOR and info.file_size > limit("compression_ratio") * max(1, info.compress_size):
                raise exceeded("compression_ratio", package=self.label, field=field,
                               found=f"{info.file_size} bytes from {info.compress_size}")
            if info.flag_bits & 0x1:
                raise InvalidInputError("member is encrypted", package=self.label, field=field)
            total += info.file_size
        if total > limit("unpacked_size"):
            raise exceeded("unpacked_size", package=self.label, found=f"{total} bytes declared")

    @property
    def names(self) -> list[str]:
        """Every member name, in archive order (directories included)."""
        return [info.filename for info in self.infos]

    def size(self) -> int:
        """The archive's size in bytes."""
        return os.fstat(self._handle.fileno()).st_size

    def sha256(self) -> str:
        """The hex sha256 of the archive file as opened (the same file, not the path again)."""
        digest = hashlib.sha256()
        self._handle.seek(0)
        while chunk := self._handle.read(_CHUNK):
            digest.update(chunk)
        return digest.hexdigest()

    def stream(self, name: str, sink: Callable[[bytes], object], most: int, limit_name: str) -> int:
        """Inflate member ``name`` into ``sink`` chunk by chunk, counting the
        bytes: more than ``most`` (and than the member's declared size) is
        refused with limit ``limit_name``'s error. Returns the byte count.
        Raises :class:`~press.errors.PressError` for a missing or corrupt member."""
        field = printable(name[:200])
        try:
            info = self.archive.getinfo(name)
            declared = info.file_size
            count = 0
            with self.archive.open(info) as source:
                while chunk := source.read(_CHUNK):
                    count += len(chunk)
                    if count > most:
                        raise exceeded(limit_name, package=self.label, field=field)
                    if count > declared:
                        raise InvalidInputError(f"inflates beyond its declared {declared} bytes",
                                                package=self.label, field=field)
                    sink(chunk)
        except PressError:
            raise
        except MALFORMED as exc:
            raise InvalidInputError(f"unreadable member: {_reason(exc)}", package=self.label, field=field) from None
        return count

    def read(self, name: str, limit_name: str = "metadata_size") -> bytes:
        """The bytes of member ``name``, at most limit ``limit_name``'s value
        (checked on the declared size first, then while inflating)."""
        most = limit(limit_name)
        info = self.archive.NameToInfo.get(name)
        if info is None:
            raise InvalidInputError("no such member", package=self.label, field=printable(name[:200]))
        if info.file_size > most:
            raise exceeded(limit_name, package=self.label, field=printable(name[:200]),
                           found=f"{info.file_size} bytes")
        parts: list[bytes] = []
        self.stream(name, parts.append, most, limit_name)
        return b"".join(parts)

    def head(self, name: str, count: int = 4) -> bytes:
        """The first ``count`` bytes of member ``name`` (a magic number).
        Raises :class:`~press.errors.PressError` for a member that cannot be read."""
        try:
            with self.archive.open(name) as source:
                return source.read(count)
        except MALFORMED as exc:
            raise InvalidInputError(f"unreadable member: {_reason(exc)}", package=self.label,
                                    field=printable(name[:200])) from None

    def dist_info(self, project: str | None = None) -> str | None:
        """The top-level ``*.dist-info`` directory that holds a METADATA:
        the one named for ``project`` (a canonical name) when there is one,
        else the first in archive order; None when there is none."""
        from packaging.utils import canonicalize_name

        found = [n.split("/")[0] for n in self.names if n.count("/") == 1 and n.endswith("/METADATA")
                 and n.split("/")[0].endswith(".dist-info")]
        if project is not None:
            for top in found:
                if canonicalize_name(top[: -len(".dist-info")].split("-", 1)[0]) == project:
                    return top
        return found[0] if found else None

    def metadata(self, project: str | None = None) -> CoreMetadata:
        """The wheel's core metadata (``<dist-info>/METADATA``, see
        :meth:`dist_info`), parsed eagerly (the core metadata
        specification; packaging's parser and grammars): the header block
        within ``text_size``, the file within ``metadata_size``; Name, Version,
        Requires-Python and each Requires-Dist must parse, and the fields press
        reads may appear once. Raises :class:`~press.errors.PressError` naming
        the wheel, the file and the field."""
        top = self.dist_info(project)
        if top is None:
            raise InvalidInputError("the wheel has no .dist-info/METADATA", package=self.label)
        field = printable(f"{top}/METADATA")
        raw = self.read(f"{top}/METADATA")
        head = re.split(rb"\r?\n\r?\n", raw[: limit("text_size") + 1], maxsplit=1)
        if len(head) == 1 and len(raw) > limit("text_size"):
            raise exceeded("text_size", package=self.label, field=field)
        return parse_metadata(raw, self.label, field)

    def sbom(self) -> object | None:
        """The parsed press SBOM (``<dist-info>/sboms/press.cdx.json``,
        :data:`press.sbom.SBOM_NAME`), or None when the wheel has none; within
        ``sbom_size``, ``json_containers`` and ``json_depth``. Raises
        :class:`~press.errors.PressError` for one that cannot be read."""
        member = self.sbom_name()
        if member is None:
            return None
        return load_json(self.read(member, "sbom_size"), self.label, printable(member))

    def sbom_name(self) -> str | None:
        """The member name of the press SBOM (:meth:`sbom`), or None."""
        from .sbom import SBOM_NAME

        return next((n for n in self.names if n.count("/") == 2 and n.split("/", 1)[0].endswith(".dist-info")
                     and n.split("/", 1)[1] == SBOM_NAME), None)

    def sources(self) -> list[CondaSource]:
        """The conda artifacts the press SBOM names (:class:`press.sbom.CondaSource`),
        empty without one. Raises :class:`~press.errors.PressError` as :meth:`sbom` does."""
        doc = self.sbom()
        return sources_of(doc, self.label, printable(self.sbom_name() or "")) if doc is not None else []

    def extract(self, members: Iterable[tuple[str, str]], root: Path) -> tuple[list[str], list[str]]:
        """Write each ``(member, relative path)`` of ``members`` under the
        directory ``root`` (made if missing) at that path, through
        :class:`press.contained.Root` (the path checked, no symlink followed,
        no existing file overwritten), inflating with the bytes counted
        (``wheel_member_size``). Returns (the paths written, problems: a path
        that cannot be created, such as a file where another member needs a
        directory). Raises :class:`~press.errors.PressError` for a corrupt
        member or a limit."""
        from .contained import Root

        tree = Root(root, create=True)
        written: list[str] = []
        problems: list[str] = []
        try:
            for member, rel in members:
                try:
                    sink = tree.create(rel)
                except OSError as exc:
                    problems.append(f"member {printable(member)!r} cannot be placed at {printable(rel)!r}: "
                                    f"{printable(exc.strerror or str(exc))}")
                    continue
                with sink:
                    self.stream(member, sink.write, limit("wheel_member_size"), "wheel_member_size")
                written.append(rel)
        finally:
            tree.release()
        return written, problems


def sources_of(doc: object, package: str, field: str) -> list[CondaSource]:
    """The conda artifacts a parsed SBOM ``doc`` names (:func:`press.sbom.sources_in`).
    Raises :class:`~press.errors.PressError` for a document whose values have
    other types than CycloneDX gives them."""
    from .sbom import sources_in

    try:
        return sources_in(doc)
    except MALFORMED + (TypeError, AttributeError) as exc:  # a document of another shape
        raise InvalidInputError(f"not a press SBOM: {_reason(exc)}", package=package, field=field) from None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, RecursionError):
        text = "nested too deeply"
    return printable(text[:300])


_HEADER_FIELD = re.compile(rb"^([^\s:][^:\r\n]*):", re.M)


def check_header_fields(raw: bytes, package: str | None, field: str | None) -> None:
    """Refuse core metadata (``raw``, METADATA or PKG-INFO bytes) whose
    header block holds more than the ``metadata_fields`` limit of fields or
    the ``metadata_field_names`` limit of distinct names, before
    packaging's ``parse_email`` reads it: that parser looks every distinct
    name up among all fields, so its time grows with their product (30,000
    distinct names: 72 s). The header block ends at the first empty line
    (RFC 822, the core metadata specification); continuation lines are not
    fields. Raises :class:`~press.errors.LimitError`."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    most_fields, most_names = limit("metadata_fields"), limit("metadata_field_names")
    fields = 0
    names: set[bytes] = set()
    for found in _HEADER_FIELD.finditer(head):
        fields += 1
        names.add(found.group(1).strip().lower())
        if fields > most_fields:
            raise exceeded("metadata_fields", package=package, field=field)
        if len(names) > most_names:
            raise exceeded("metadata_field_names", package=package, field=field)


def parse_metadata(raw: bytes, package: str, field: str) -> CoreMetadata:
    """Core metadata from ``raw`` (METADATA bytes), every field press uses
    checked now (see :meth:`WheelReader.metadata`); ``package``/``field`` name
    it in errors. Raises :class:`~press.errors.InvalidInputError`."""
    from packaging.metadata import parse_email
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from .grammar import distribution_name

    check_header_fields(raw, package, field)
    try:
        parsed, unparsed = parse_email(raw)
    except MALFORMED as exc:
        raise InvalidInputError(f"not core metadata: {_reason(exc)}", package=package, field=field) from None
    for header in ("name", "version", "requires-python", "requires-dist"):
        if header in unparsed:
            raise InvalidInputError("given more than once, or not valid UTF-8",
                                    package=package, field=f"{field}: {header.title()}")

    def check(header: str, value: str, parse: Callable[[str], object]) -> None:
        try:
            parse(value)
        except MALFORMED as exc:
            raise InvalidInputError(f"{printable(value[:200])!r} does not parse: {_reason(exc)}",
                                    package=package, field=f"{field}: {header}") from None

    name, version = parsed.get("name"), parsed.get("version")
    if not name or not version:
        raise InvalidInputError("no Name or no Version", package=package, field=field)
    check("Name", name, distribution_name)
    check("Version", version, Version)
    requires_python = parsed.get("requires_python") or None
    if requires_python is not None:
        check("Requires-Python", requires_python, SpecifierSet)
    requires = tuple(parsed.get("requires_dist") or ())
    for line in requires:
        check("Requires-Dist", line, Requirement)
    return CoreMetadata(name=name, version=str(Version(version)), summary=parsed.get("summary") or None,
                        requires_python=str(SpecifierSet(requires_python)) if requires_python is not None else None,
                        requires_dist=tuple(str(Requirement(line)) for line in requires),
                        license=parsed.get("license_expression") or parsed.get("license") or None, raw=raw)


def load_json(data: bytes, package: str, field: str) -> object:
    """Parse JSON read from a wheel: at most ``json_containers`` objects and
    arrays (counted, as an upper bound, by their opening brackets before
    parsing) and ``json_depth`` levels. Raises :class:`~press.errors.PressError`."""
    if data.count(b"{") + data.count(b"[") > limit("json_containers"):
        raise exceeded("json_containers", package=package, field=field)
    try:
        doc = json.loads(data)
    except MALFORMED as exc:
        raise InvalidInputError(f"not valid JSON: {_reason(exc)}", package=package, field=field) from None
    if json_depth(doc) > limit("json_depth"):
        raise InvalidInputError(f"JSON nested deeper than {limit('json_depth')} levels", package=package, field=field)
    return doc


#: Top-level module names that every interpreter start imports when present (the ``site`` module).
STARTUP_MODULES = ("sitecustomize", "usercustomize")


def startup_hook(installed: str) -> bool:
    """Whether a file installed at ``installed`` (relative to site-packages)
    runs at every interpreter start: a top-level ``*.pth`` file (its
    ``import`` lines run, the ``site`` module), or a top-level
    ``sitecustomize``/``usercustomize`` module or package."""
    top, _, rest = installed.partition("/")
    if not rest:
        return top.lower().endswith(".pth") or top.split(".", 1)[0] in STARTUP_MODULES
    return top in STARTUP_MODULES
