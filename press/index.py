"""A static package index over a wheel directory: PEP 503 HTML and its PEP 691 JSON form.

Layout written under ``<wheel dir>/simple/``::

    index.html, index.json                 the project list
    <project>/index.html, index.json       the project's files

Links are relative (``../../<wheel>``) with a ``#sha256=`` fragment, so the
tree works as ``pip install --index-url file://<dir>/simple`` and behind any
static web server. Project names are normalized (PEP 503). Output is
deterministic (the same wheels give the same bytes); every file is written
to a temporary name and renamed into place.

What each file entry carries:

- ``data-requires-python`` (HTML, escaped) and ``requires-python`` (JSON):
  the wheel's ``Requires-Python`` (PEP 503, PEP 691);
- the PEP 658 core metadata, as PEP 714 names it: a ``<wheel>.metadata``
  file written beside the wheel, announced as ``data-core-metadata`` in HTML
  (plus ``data-dist-info-metadata`` with the same value: PEP 714 lets HTML
  keep the old name for older clients) and ``core-metadata`` in JSON, and
  there only (PEP 714: servers "should not emit the old keys in JSON", which
  pip 22.3 to 23.1 fail on);
- PEP 700 (API version 1.1): ``versions`` per project, ``size`` per file and
  ``upload-time``. PEP 700 makes ``upload-time`` optional and asks for "the
  time the file was uploaded to the index" as ``yyyy-mm-ddThh:mm:ss.ffffffZ``
  in UTC. A directory of files records no upload, so press uses a date the
  file itself carries: its newest zip member date, taken as UTC. press writes
  every member of its wheels with the conda artifact's build ``timestamp``
  (:func:`press.wheel.write_wheel`), so for them this is when the package was
  published to its channel, which is what uv's ``--exclude-newer`` filters
  on. A copy of the wheel gets the same value, and a re-run the same bytes.
  The file's mtime changes with every copy, and ``SOURCE_DATE_EPOCH`` is a
  fact of one run, not of the file. The zip format stores no date before
  1980-01-01, so a wheel made without dates gets that one. A wheel with no
  valid member date has no ``upload-time``;
- under a ``press`` key (PEP 691 clients ignore keys they do not know), the
  conda artifacts the wheel was made from, read from its SBOM
  (:mod:`press.sbom`).

The index is incremental (issue 24). What the pages need from each wheel
(sha256, size, the core metadata's sha256, Requires-Python, the upload time,
the SBOM's sources) is cached in ``.press-state/index/``, one JSON file per
project, with the wheel's identity: its file name, ``st_size``, ``st_ino``,
``st_dev``, ``st_mtime_ns`` and ``st_ctime_ns``. A wheel whose identity
matches its cached one is not read again. The kernel sets ``st_ctime`` on
every change and no user can set it back, so a rewritten wheel is noticed.
A wheel changed less than 0.1 s before it was read is not cached (2 s on
file systems that record whole seconds), since a second change within one
clock tick would leave its identity as it was. The cache also records the
identity and sha256 of every page and ``.metadata`` file written. A project
whose wheels and pages are all as recorded is not looked at again. Otherwise
its pages are built from the facts, and a page is written only when its
bytes differ. The root pages are rewritten, in one streaming pass, only when
the project list changed. Adding one wheel rewrites its project's pages (and
the root pages for a new project), nothing else.

The wheel directory may hold files press did not make. Each wheel is read
within press's limits (:class:`press.wheelread.WheelReader`, a symlink never
followed). A wheel that cannot be read is left out of the index and named
with the reason: not a zip, beyond a limit, METADATA missing or invalid or
naming another project. Inside ``simple/``, ``.press-state/index/`` and for
the ``.metadata`` files nothing is followed through a symbolic link.
Directories are opened with ``O_NOFOLLOW``. Files are written under random
temporary names and renamed over their target, so a link there is replaced,
never written through. Only entries of ``simple/`` itself are deleted, and a
link there is removed, never its target (:class:`press.files.Directory`). A
cache file is input like any other: read only when regular and within
``PRESS_MAX_METADATA_SIZE`` and ``PRESS_MAX_JSON_CONTAINERS``. Every
value is checked for type, shape and bounds, and the size must match the
identity. A bad entry is discarded and its wheel read again. A cache written
under other limits, or by another format, is discarded whole.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import html
import json
import os
import re
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename

from . import __version__
from .errors import PressError
from .files import Directory, NotOwnedError
from .limits import LIMITS, limit
from .sbom import CondaSource
from .wheelhouse import STATE_DIR, parse_json
from .wheelread import WheelReader, printable

#: PEP 691 API version written in the JSON pages (1.1: PEP 700's ``versions``, ``size``, ``upload-time``).
API_VERSION = "1.1"
#: The index cache, inside the wheel directory's state directory.
CACHE_DIR = "index"
#: Version of the cached wheel facts: bump it when what is read from a wheel changes.
FACTS_FORMAT = 1
#: The root pages' cache file in :data:`CACHE_DIR` (project cache files end in ``-<hash>.json``).
ROOT_CACHE = "root.json"
#: A wheel changed less than this long (ns) before it was read is not cached: the kernel's clock ticks
#: (1-10 ms) are the granularity of ``st_ctime`` on file systems that record fractions of a second...
SETTLE_NS = 100_000_000
#: ...and on those that record whole seconds (or FAT's two) it is this.
SETTLE_COARSE_NS = 2_000_000_000
#: The project pages, in the order they are written.
PAGES = ("index.html", "index.json")

#: ``(st_size, st_ino, st_dev, st_mtime_ns, st_ctime_ns)`` of a file (its name is the key it is stored under).
Identity = tuple[int, int, int, int, int]

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_UPLOAD_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
_SOURCE_FIELDS = {f.name: f.type for f in fields(CondaSource)}
_ENTRY_KEYS = {"identity", "metadata", "sha256", "size", "core-metadata", "requires-python", "upload-time",
               "sources"}
_HTML_HEAD = ("<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n"
              "    <title>{title}</title>\n  </head>\n  <body>\n")


@dataclass(frozen=True)
class _Facts:
    """What the pages say about one wheel."""

    digest: str
    size: int
    metadata_digest: str
    requires_python: str | None
    upload_time: str | None
    sources: tuple[CondaSource, ...]


@dataclass(frozen=True)
class _Read:
    """A wheel read this run: its facts, its METADATA bytes, and its identity
    when it may be cached (None: it changed while read, or too recently)."""

    facts: _Facts
    metadata: bytes
    identity: Identity | None


@dataclass(frozen=True)
class _Entry:
    """A cached wheel: its identity, its ``.metadata`` file's, its facts."""

    identity: Identity
    metadata: Identity
    facts: _Facts


@dataclass(frozen=True)
class _Page:
    """A file press wrote: its identity after the rename, its sha256."""

    identity: Identity
    digest: str


@dataclass
class _Cache:
    """One project's cache file as read, under ``fingerprint`` (:func:`reader_fingerprint`);
    ``raw``: its bytes (to write only what changed)."""

    fingerprint: str
    wheels: dict[str, _Entry] = field(default_factory=dict)
    pages: dict[str, _Page] = field(default_factory=dict)
    raw: bytes = b""


@dataclass
class SimpleIndex:
    """What :func:`write_index` wrote: ``projects`` (normalized project name
    -> its wheel file names), ``left_out`` (wheel file name -> why it is not
    in the index), ``rewritten`` (the projects whose HTML or JSON page was
    written this run, sorted), ``read`` (the wheel files read this run rather
    than taken from the cache, sorted), and :meth:`warnings`, one line per
    wheel left out."""

    projects: dict[str, list[str]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    rewritten: tuple[str, ...] = ()
    read: tuple[str, ...] = ()

    def warnings(self) -> list[str]:
        """``left out of the index: <file>: <reason>``, one per wheel left out, printable."""
        return [printable(f"left out of the index: {name}: {reason}") for name, reason in sorted(self.left_out.items())]


def identity(found: os.stat_result) -> Identity:
    """The :data:`Identity` of a ``stat`` result."""
    return (found.st_size, found.st_ino, found.st_dev, found.st_mtime_ns, found.st_ctime_ns)


def _same(found: os.stat_result | None, recorded: Identity) -> bool:
    """Whether ``found`` (an ``lstat``) is a regular file with the ``recorded`` identity."""
    return found is not None and stat.S_ISREG(found.st_mode) and identity(found) == recorded


def upload_time(reader: WheelReader) -> str | None:
    """The PEP 700 ``upload-time`` of a wheel (see the module docstring): its
    newest valid zip member date as ``yyyy-mm-ddThh:mm:ss.000000Z`` (zip
    dates have no zone: taken as UTC, as press writes them), None when no
    member has a valid date (a DOS date field can say month 15)."""
    newest: datetime.datetime | None = None
    for info in reader.infos:
        try:
            when = datetime.datetime(*info.date_time)
        except (ValueError, TypeError):
            continue
        newest = when if newest is None or when > newest else newest
    return None if newest is None else newest.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _wheel_facts(wheel: Path) -> tuple[_Facts, bytes]:
    """A wheel's :class:`_Facts` and core-metadata bytes (checked: the
    metadata must name the file name's project), all read from one
    descriptor of the file (a symlink is refused). Raises
    :class:`~press.errors.PressError`."""
    project = canonicalize_name(parse_wheel_filename(wheel.name)[0])
    with WheelReader(wheel, follow_symlinks=False) as reader:
        metadata = reader.metadata(project)
        if canonicalize_name(metadata.name) != project:
            raise PressError(f"METADATA names {metadata.name!r}, the file name {project!r}", package=reader.label)
        sources = tuple(reader.sources())
        facts = _Facts(reader.sha256(), reader.size(), hashlib.sha256(metadata.raw).hexdigest(),
                       metadata.requires_python, upload_time(reader), sources)
        return facts, metadata.raw


def _settled(found: os.stat_result, began: int) -> bool:
    """Whether a file last changed at ``found.st_ctime_ns`` can be cached
    when read from ``began`` (ns, the same clock): a change within the same
    clock tick after the read would keep its identity (:data:`SETTLE_NS`)."""
    settle = SETTLE_NS if found.st_ctime_ns % 1_000_000_000 else SETTLE_COARSE_NS
    return began - found.st_ctime_ns >= settle


def _read(directory: Directory, name: str) -> _Read | str:
    """Read wheel ``name`` of ``directory``: a :class:`_Read`, or why it
    cannot be indexed. Its identity is kept when it was the same before and
    after the read and had settled (:func:`_settled`)."""
    began = time.time_ns()
    before = directory.lstat(name)
    try:
        facts, metadata = _wheel_facts(directory.readable_path(name))
    except PressError as exc:
        return exc.reason if exc.field is None else f"{exc.field}: {exc.reason}"
    after = directory.lstat(name)
    keep = (before is not None and after is not None and stat.S_ISREG(before.st_mode)
            and identity(before) == identity(after) and before.st_size == facts.size and _settled(before, began))
    return _Read(facts, metadata, identity(before) if keep and before is not None else None)


def _sub(parent: Directory, name: str) -> Directory:
    """The directory ``name`` in ``parent``, made when missing; a symlink or
    file at that name is removed first (never followed)."""
    try:
        return parent.sub(name, create=True)
    except NotOwnedError:
        parent.remove(name)
        return parent.sub(name, create=True)


class _Publisher:
    """A file written in chunks under a temporary name of ``directory``
    (:meth:`press.files.Directory.temporary`), hashed as it is written and
    renamed over ``name`` by :meth:`close`; removed unpublished on error."""

    def __init__(self, directory: Directory, name: str) -> None:
        self.directory, self.name = directory, name
        self.temporary, fd = directory.temporary(name)
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        self.hash = hashlib.sha256()
        self.page: _Page | None = None

    def add(self, data: bytes) -> None:
        """Append ``data``."""
        self.hash.update(data)
        self.handle.write(data)

    def close(self) -> _Page:
        """Rename the file into place; its identity (taken from the
        descriptor after the rename, which sets ``st_ctime``) and sha256."""
        self.handle.flush()
        self.directory.replace(self.temporary, self.name)
        self.page = _Page(identity(os.fstat(self.handle.fileno())), self.hash.hexdigest())
        self.handle.close()
        return self.page

    def __enter__(self) -> _Publisher:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None and self.page is None:
            self.close()
        elif self.page is None:
            self.handle.close()
            self.directory.unlink(self.temporary)


def _publish(directory: Directory, name: str, data: bytes) -> _Page:
    """Publish ``data`` as ``name`` (:class:`_Publisher`). Raises ``OSError``."""
    with _Publisher(directory, name) as out:
        out.add(data)
        return out.close()


def _holds(directory: Directory, name: str, data: bytes) -> _Page | None:
    """The :class:`_Page` of ``name`` when it is a regular file holding
    exactly ``data`` (read back without following a link or waiting on a
    FIFO), else None."""
    try:
        fd = directory.open_file(name, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, PressError):
        return None
    with os.fdopen(fd, "rb") as handle:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or found.st_size != len(data) or handle.read(len(data) + 1) != data:
            return None
        return _Page(identity(found), hashlib.sha256(data).hexdigest())


def _put(directory: Directory, name: str, data: bytes, recorded: _Page | None = None) -> tuple[_Page, bool]:
    """Make ``name`` hold ``data``, writing only when it does not already:
    a ``recorded`` page of the same bytes whose identity the file still has
    is not even read back. Returns (the page, whether it was written)."""
    digest = hashlib.sha256(data).hexdigest()
    if recorded is not None and recorded.digest == digest and _same(directory.lstat(name), recorded.identity):
        return recorded, False
    found = _holds(directory, name, data)
    return (found, False) if found is not None else (_publish(directory, name, data), True)


# --- the cache ---------------------------------------------------------------------------------


def reader_fingerprint() -> str:
    """What cached facts depend on besides the wheel: :data:`FACTS_FORMAT`
    and the limits in force (a wheel read under higher limits is read again
    under lower ones). 16 hex digits."""
    limits = tuple((name, limit(name)) for name in sorted(LIMITS))
    return hashlib.sha256(repr((FACTS_FORMAT, limits)).encode()).hexdigest()[:16]


def cache_name(project: str) -> str:
    """The cache file of a normalized ``project`` in :data:`CACHE_DIR`: a
    readable head of the name and a hash of it (one bounded path component)."""
    head = re.sub(r"[^a-z0-9._-]", "_", project[:80])
    return f"{head}-{hashlib.sha256(project.encode()).hexdigest()[:16]}.json"


def _int(value: object, low: int = 0, high: int = 1 << 64) -> bool:
    return type(value) is int and low <= value < high


def _identity_of(value: object) -> Identity | None:
    """A stored :data:`Identity` (five integers), or None."""
    if isinstance(value, list) and len(value) == 5 and all(_int(v, -(1 << 63)) for v in value):
        size, inode, device, mtime, ctime = value
        return (size, inode, device, mtime, ctime)
    return None


def _hex(value: object) -> bool:
    return isinstance(value, str) and _HEX64.match(value) is not None


@functools.lru_cache(maxsize=4096)
def _specifier(value: str) -> bool:
    """Whether ``value`` is a PEP 440 specifier set in packaging's normal form."""
    try:
        return str(SpecifierSet(value)) == value
    except InvalidSpecifier:
        return False


def _source_of(value: object) -> CondaSource | None:
    if not isinstance(value, dict) or set(value) != set(_SOURCE_FIELDS):
        return None
    for key, kind in _SOURCE_FIELDS.items():
        item = value[key]
        ok = (_int(item, 0, 1 << 32) if kind == "int" else isinstance(item, str) if kind == "str"
              else item is None or isinstance(item, str))
        if not ok:
            return None
    return CondaSource(**value)


def _entry_of(value: object) -> _Entry | None:
    """A cached wheel entry, checked (shape, types, bounds, the size against
    the identity), or None."""
    if not isinstance(value, dict) or set(value) != _ENTRY_KEYS:
        return None
    wheel, metadata = _identity_of(value["identity"]), _identity_of(value["metadata"])
    rp, when, sources = value["requires-python"], value["upload-time"], value["sources"]
    if (wheel is None or metadata is None or not _hex(value["sha256"]) or not _hex(value["core-metadata"])
            or not _int(value["size"]) or value["size"] != wheel[0]
            or not (rp is None or (isinstance(rp, str) and _specifier(rp)))
            or not (when is None or (isinstance(when, str) and _UPLOAD_TIME.match(when)))
            or not isinstance(sources, list)):
        return None
    found = [_source_of(s) for s in sources]
    if any(s is None for s in found):
        return None
    return _Entry(wheel, metadata, _Facts(value["sha256"], value["size"], value["core-metadata"], rp, when,
                                          tuple(s for s in found if s is not None)))


def _pages_of(value: object) -> dict[str, _Page]:
    """Cached page records ``{name: {"identity": [...], "sha256": hex}}``; what does not check is dropped."""
    pages: dict[str, _Page] = {}
    for name, record in (value.items() if isinstance(value, dict) else ()):
        if isinstance(record, dict) and set(record) == {"identity", "sha256"} and _hex(record["sha256"]):
            found = _identity_of(record["identity"])
            if found is not None:
                pages[name] = _Page(found, record["sha256"])
    return pages


def _load(cache: Directory | None, name: str, subject: str, fingerprint: str) -> tuple[dict[str, object], bytes]:
    """The cache file ``name`` as a JSON object (empty when absent, not press's
    own, of another format or other limits (``fingerprint``, :func:`reader_fingerprint`),
    or about another ``subject``), and its bytes."""
    if cache is None:
        return {}, b""
    try:
        raw = cache.read(name, limit("metadata_size"))
        doc = parse_json(raw)
    except (OSError, ValueError, PressError):
        return {}, b""
    if (not isinstance(doc, dict) or doc.get("format") != FACTS_FORMAT or doc.get("limits") != fingerprint
            or doc.get("subject") != subject):
        return {}, raw
    if doc.get("pages-by") != __version__:  # pages of another press: compared by content once
        doc.pop("pages", None)
    return doc, raw


def _load_project(cache: Directory | None, project: str, fingerprint: str) -> _Cache:
    doc, raw = _load(cache, cache_name(project), project, fingerprint)
    wheels = doc.get("wheels")
    entries = {n: e for n, e in ((n, _entry_of(v)) for n, v in (wheels.items() if isinstance(wheels, dict) else ()))
               if e is not None}
    return _Cache(fingerprint, entries, _pages_of(doc.get("pages")), raw)


def _doc(subject: str, fingerprint: str, **content: object) -> bytes:
    return json.dumps({"format": FACTS_FORMAT, "limits": fingerprint, "pages-by": __version__,
                       "subject": subject, **content}, sort_keys=True, separators=(",", ":")).encode()


def _page_doc(page: _Page) -> dict[str, object]:
    return {"identity": list(page.identity), "sha256": page.digest}


def _entry_doc(entry: _Entry) -> dict[str, object]:
    facts = entry.facts
    return {"identity": list(entry.identity), "metadata": list(entry.metadata), "sha256": facts.digest,
            "size": facts.size, "core-metadata": facts.metadata_digest, "requires-python": facts.requires_python,
            "upload-time": facts.upload_time, "sources": [asdict(s) for s in facts.sources]}


def _save(cache: Directory | None, name: str, data: bytes, old: bytes) -> None:
    """Write cache file ``name`` when its bytes changed; a failure only costs the next run a re-read."""
    if cache is not None and data != old:
        try:
            cache.write(name, data)
        except (OSError, PressError):
            pass


def _open_cache(directory: Directory) -> Directory | None:
    """``.press-state/index`` of the wheel directory, made when missing; None
    (no cache this run) when it cannot be: a link or a file at either name is
    not press's own, and is neither followed nor removed here."""
    try:
        with directory.sub(STATE_DIR, create=True) as state:
            return state.sub(CACHE_DIR, create=True)
    except (OSError, PressError):
        return None


# --- the pages ---------------------------------------------------------------------------------


def project_pages(project: str, wheels: list[tuple[str, _Facts]]) -> tuple[bytes, bytes]:
    """The HTML and JSON pages of ``project`` for ``wheels`` (file name, facts), in that order."""
    files_json, links = [], []
    for name, fact in wheels:
        rp = fact.requires_python
        attrs = (f' data-core-metadata="sha256={fact.metadata_digest}"'
                 f' data-dist-info-metadata="sha256={fact.metadata_digest}"')
        if rp:
            attrs += f' data-requires-python="{html.escape(rp)}"'
        links.append(f'    <a href="../../{html.escape(name)}#sha256={fact.digest}"{attrs}>'
                     f'{html.escape(name)}</a><br/>')
        entry: dict[str, object] = {
            "filename": name,
            "url": f"../../{name}",
            "hashes": {"sha256": fact.digest},
            "core-metadata": {"sha256": fact.metadata_digest},
            "size": fact.size,
        }
        if rp:
            entry["requires-python"] = rp
        if fact.upload_time:
            entry["upload-time"] = fact.upload_time
        if fact.sources:
            entry["press"] = {"conda-sources": [asdict(s) for s in fact.sources]}
        files_json.append(entry)
    page = _HTML_HEAD.format(title=f"Links for {project}") + f"    <h1>Links for {project}</h1>\n" \
        + "\n".join(links) + "\n  </body>\n</html>\n"
    doc = {"meta": {"api-version": API_VERSION}, "name": project, "files": files_json,
           "versions": sorted({str(parse_wheel_filename(name)[1]) for name, _ in wheels})}
    return page.encode(), json.dumps(doc, indent=1, sort_keys=True).encode()


def _write_root(simple: Directory, projects: list[str]) -> dict[str, _Page]:
    """Write ``simple/index.html`` and ``index.json`` for ``projects``
    (sorted) in one pass, a line at a time: the same bytes as
    ``json.dumps(doc, indent=1, sort_keys=True)`` of the JSON document."""
    with _Publisher(simple, PAGES[0]) as page, _Publisher(simple, PAGES[1]) as doc:
        page.add(_HTML_HEAD.format(title="Simple index").encode())
        doc.add(f'{{\n "meta": {{\n  "api-version": {json.dumps(API_VERSION)}\n }},\n "projects": ['.encode())
        for i, project in enumerate(projects):
            page.add(f'{chr(10) if i else ""}    <a href="{project}/">{project}</a><br/>'.encode())
            doc.add(f'{"," if i else ""}\n  {{\n   "name": {json.dumps(project)}\n  }}'.encode())
        page.add(b"\n  </body>\n</html>\n")
        doc.add(b"\n ]\n}" if projects else b"]\n}")
        return {PAGES[0]: page.close(), PAGES[1]: doc.close()}


def _write_project(directory: Directory, simple: Directory, cache: Directory | None, project: str,
                   names: list[str], hits: dict[str, _Entry], reads: dict[str, _Read], old: _Cache) -> bool:
    """Bring ``project``'s pages, its ``.metadata`` files and its cache file
    up to date for its indexed wheels ``names``; True when a page was written."""
    unchanged = all(n in hits for n in names) and set(names) == set(old.wheels)
    with _sub(simple, project) as pages:
        if unchanged and all(p in old.pages and _same(pages.lstat(p), old.pages[p].identity) for p in PAGES):
            return False
        entries: dict[str, _Entry] = {}
        facts: list[tuple[str, _Facts]] = []
        for name in names:
            if name in hits:
                entries[name] = hits[name]
                facts.append((name, hits[name].facts))
                continue
            read = reads[name]
            metadata, _ = _put(directory, name + ".metadata", read.metadata)
            if read.identity is not None:
                entries[name] = _Entry(read.identity, metadata.identity, read.facts)
            facts.append((name, read.facts))
        written = False
        recorded: dict[str, _Page] = {}
        for page_name, data in zip(PAGES, project_pages(project, facts)):
            recorded[page_name], changed = _put(pages, page_name, data, old.pages.get(page_name))
            written = written or changed
    _save(cache, cache_name(project), _doc(project, old.fingerprint, wheels={n: _entry_doc(e) for n, e in entries.items()},
                                           pages={n: _page_doc(p) for n, p in recorded.items()}), old.raw)
    return written


def write_index(wheel_dir: Path) -> SimpleIndex:
    """(Re)write ``wheel_dir/simple`` for every readable ``*.whl`` in
    ``wheel_dir``, reading only the wheels that changed since the last run
    and writing only the pages whose bytes change (see the module docstring).

    Returns the :class:`SimpleIndex`: projects written, the wheels left out
    with the reason, the projects whose pages were rewritten and the wheels
    read. Projects whose wheels are gone lose their pages and cache files,
    and ``.metadata`` files of wheels gone or left out are removed. Raises
    ``OSError`` on write errors."""
    result = SimpleIndex()
    with Directory.open(Path(wheel_dir)) as directory:
        listing = sorted(directory.names())
        candidates: dict[str, list[str]] = {}
        for name in listing:
            if not name.endswith(".whl"):
                continue
            try:
                project = canonicalize_name(parse_wheel_filename(name)[0])
            except ValueError as exc:  # packaging's InvalidWheelFilename
                result.left_out[name] = f"not a wheel file name: {exc}"
                continue
            candidates.setdefault(project, []).append(name)
        cache = _open_cache(directory)
        try:
            _index(directory, cache, candidates, listing, result)
        finally:
            if cache is not None:
                cache.close()
    return result


def _index(directory: Directory, cache: Directory | None, candidates: dict[str, list[str]], listing: list[str],
           result: SimpleIndex) -> None:
    fingerprint = reader_fingerprint()
    olds = {project: _load_project(cache, project, fingerprint) for project in candidates}
    hits: dict[str, _Entry] = {}
    misses: list[str] = []
    for project, names in candidates.items():
        for name in names:
            entry = olds[project].wheels.get(name)
            if (entry is not None and _same(directory.lstat(name), entry.identity)
                    and _same(directory.lstat(name + ".metadata"), entry.metadata)):
                hits[name] = entry
            else:
                misses.append(name)
    # Hashing and reading each wheel is independent: threads overlap the I/O and hashing (which release the GIL).
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        found = dict(zip(misses, pool.map(functools.partial(_read, directory), misses)))
    reads: dict[str, _Read] = {}
    for name, outcome in found.items():
        if isinstance(outcome, str):
            result.left_out[name] = outcome
        else:
            reads[name] = outcome
    projects = {p: [n for n in names if n in hits or n in reads] for p, names in candidates.items()}
    projects = {p: names for p, names in sorted(projects.items()) if names}
    rewritten: list[str] = []
    with _sub(directory, "simple") as simple:
        for project, names in projects.items():
            if _write_project(directory, simple, cache, project, names, hits, reads, olds[project]):
                rewritten.append(project)
        for stale in sorted(simple.names()):
            entry_stat = simple.lstat(stale)
            if stale in projects or entry_stat is None:
                continue
            if stat.S_ISDIR(entry_stat.st_mode) or stat.S_ISLNK(entry_stat.st_mode):  # a link: removed, not followed
                simple.remove(stale)
        indexed = {name for names in projects.values() for name in names}
        for file_name in listing:
            if file_name.endswith(".whl.metadata") and file_name[: -len(".metadata")] not in indexed:
                metadata_stat = directory.lstat(file_name)
                if metadata_stat is not None and not stat.S_ISDIR(metadata_stat.st_mode):
                    directory.unlink(file_name)
        names_digest = hashlib.sha256("\n".join(projects).encode()).hexdigest()
        doc, raw = _load(cache, ROOT_CACHE, "root", fingerprint)
        recorded = _pages_of(doc.get("pages"))
        if not (doc.get("projects") == names_digest
                and all(p in recorded and _same(simple.lstat(p), recorded[p].identity) for p in PAGES)):
            recorded = _write_root(simple, list(projects))
        _save(cache, ROOT_CACHE, _doc("root", fingerprint, projects=names_digest,
                                      pages={n: _page_doc(p) for n, p in recorded.items()}), raw)
    if cache is not None:
        keep = {cache_name(p) for p in projects} | {ROOT_CACHE}
        for name in cache.names():
            if name not in keep and not (name.startswith(".") and name.endswith(".tmp")):
                cache.remove(name)
    result.projects = projects
    result.rewritten = tuple(rewritten)
    result.read = tuple(sorted(found))


def write_simple_index(wheel_dir: Path) -> dict[str, list[str]]:
    """(Re)write ``wheel_dir/simple`` for every readable ``*.whl`` in
    ``wheel_dir`` (:func:`write_index`, whose :class:`SimpleIndex` also names
    the wheels left out). Returns ``{normalized project name: [wheel file
    names]}``. Raises ``OSError`` on write errors."""
    return write_index(wheel_dir).projects
