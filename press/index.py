"""A static package index over a wheel directory: PEP 503 HTML and its PEP 691 JSON form.

Layout written under ``<wheel dir>/simple/``::

    index.html, index.json                 the project list
    <project>/index.html, index.json       the project's files

Links are relative (``../../<wheel>``) with a ``#sha256=`` fragment, so the
tree works as ``pip install --index-url file://<dir>/simple`` and behind any
static web server. Each file entry carries ``data-requires-python`` and,
as PEP 658/714 describe, ``data-core-metadata`` pointing at a
``<wheel>.metadata`` file written beside the wheel, so installers can resolve
without downloading wheels. Each JSON file entry also carries, under a
``press`` key (PEP 691 clients ignore keys they do not know), the conda
artifacts the wheel was made from, read from its SBOM (:mod:`press.sbom`).
Project names are normalized (PEP 503). Output
is deterministic; every file is written to a temporary name and renamed into
place.

The wheel directory may hold files press did not make. Each wheel is read
within press's limits (:class:`press.wheelread.WheelReader`, a symlink never
followed); one that cannot be read (not a zip, beyond a limit, METADATA
missing or invalid or naming another project) is left out of the index and
named with the reason. Inside ``simple/`` and for the ``.metadata`` files
nothing is followed through a symbolic link: directories are opened with
``O_NOFOLLOW``, files are written under random temporary names and renamed
over their target (a link there is replaced, never written through), and
only entries of ``simple/`` itself are deleted (a link there is removed,
never its target) (:class:`press.files.Directory`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from .errors import PressError
from .files import Directory, NotOwnedError
from .sbom import CondaSource
from .wheelread import WheelReader, printable

#: PEP 691 API version written in the JSON pages.
API_VERSION = "1.1"


@dataclass(frozen=True)
class _Facts:
    digest: str
    size: int
    metadata: bytes
    requires_python: str | None
    sources: list[CondaSource]


@dataclass
class SimpleIndex:
    """What :func:`write_index` wrote: ``projects`` (normalized project name
    -> its wheel file names) and ``left_out`` (wheel file name -> why it is
    not in the index), and :meth:`warnings`, one line per wheel left out."""

    projects: dict[str, list[str]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        """``left out of the index: <file>: <reason>``, one per wheel left out, printable."""
        return [printable(f"left out of the index: {name}: {reason}") for name, reason in sorted(self.left_out.items())]


def _wheel_facts(wheel: Path) -> _Facts:
    """A wheel's hex sha256 and size, its core metadata (checked: it must
    name the file name's project) and the conda artifacts its SBOM names,
    all read from one descriptor of the file (a symlink is refused).
    Raises :class:`~press.errors.PressError`."""
    project = canonicalize_name(parse_wheel_filename(wheel.name)[0])
    with WheelReader(wheel, follow_symlinks=False) as reader:
        metadata = reader.metadata(project)
        if canonicalize_name(metadata.name) != project:
            raise PressError(f"METADATA names {metadata.name!r}, the file name {project!r}", package=reader.label)
        sources = reader.sources()
        return _Facts(reader.sha256(), reader.size(), metadata.raw, metadata.requires_python, sources)


def _read(wheel: Path) -> _Facts | str:
    try:
        return _wheel_facts(wheel)
    except PressError as exc:
        return exc.reason if exc.field is None else f"{exc.field}: {exc.reason}"


def _sub(parent: Directory, name: str) -> Directory:
    """The directory ``name`` in ``parent``, made when missing; a symlink or
    file at that name is removed first (never followed)."""
    try:
        return parent.sub(name, create=True)
    except NotOwnedError:
        parent.remove(name)
        return parent.sub(name, create=True)


def _write_if_changed(directory: Directory, name: str, data: bytes) -> None:
    """Publish ``data`` as ``name`` unless that regular file already holds it."""
    try:
        if directory.read(name, len(data)) == data:
            return
    except (OSError, PressError):  # missing, a link, another size: written
        pass
    directory.write(name, data)


def write_index(wheel_dir: Path) -> SimpleIndex:
    """(Re)write ``wheel_dir/simple`` for every readable ``*.whl`` in
    ``wheel_dir`` (see the module docstring).

    Returns the :class:`SimpleIndex`: projects written, and the wheels left
    out with the reason. Projects whose wheels are gone lose their pages,
    and ``.metadata`` files of wheels gone or left out are removed. Raises
    ``OSError`` on write errors."""
    wheel_dir = Path(wheel_dir)
    result = SimpleIndex()
    candidates: dict[str, list[Path]] = {}
    for wheel in sorted(wheel_dir.glob("*.whl")):
        try:
            name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        except ValueError as exc:  # packaging's InvalidWheelFilename
            result.left_out[wheel.name] = f"not a wheel file name: {exc}"
            continue
        candidates.setdefault(name, []).append(wheel)
    everything = [w for ws in candidates.values() for w in ws]
    # Hashing and reading each wheel is independent: threads overlap the I/O and hashing (which release the GIL).
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        read = dict(zip(everything, pool.map(_read, everything)))
    facts: dict[Path, _Facts] = {}
    for wheel, found in read.items():
        if isinstance(found, str):
            result.left_out[wheel.name] = found
        else:
            facts[wheel] = found
    projects = {p: [w for w in ws if w in facts] for p, ws in candidates.items()}
    projects = {p: ws for p, ws in projects.items() if ws}
    with Directory.open(wheel_dir) as directory, _sub(directory, "simple") as simple:
        for project, wheels in sorted(projects.items()):
            files_json, links = [], []
            for wheel in wheels:
                fact = facts[wheel]
                _write_if_changed(directory, wheel.name + ".metadata", fact.metadata)
                metadata_digest = hashlib.sha256(fact.metadata).hexdigest()
                rp = fact.requires_python
                attrs = (f' data-core-metadata="sha256={metadata_digest}"'
                         f' data-dist-info-metadata="sha256={metadata_digest}"')
                if rp:
                    attrs += f' data-requires-python="{html.escape(rp)}"'
                links.append(f'    <a href="../../{html.escape(wheel.name)}#sha256={fact.digest}"{attrs}>'
                             f'{html.escape(wheel.name)}</a><br/>')
                entry: dict[str, object] = {
                    "filename": wheel.name,
                    "url": f"../../{wheel.name}",
                    "hashes": {"sha256": fact.digest},
                    "core-metadata": {"sha256": metadata_digest},
                    "dist-info-metadata": {"sha256": metadata_digest},
                    "size": fact.size,
                }
                if rp:
                    entry["requires-python"] = rp
                if fact.sources:
                    entry["press"] = {"conda-sources": [dataclasses.asdict(s) for s in fact.sources]}
                files_json.append(entry)
            page = (
                "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n"
                f"    <title>Links for {project}</title>\n  </head>\n  <body>\n    <h1>Links for {project}</h1>\n"
                + "\n".join(links) + "\n  </body>\n</html>\n"
            )
            doc = {"meta": {"api-version": API_VERSION}, "name": project, "files": files_json,
                   "versions": sorted({str(parse_wheel_filename(w.name)[1]) for w in wheels})}
            with _sub(simple, project) as pages:
                pages.write("index.html", page.encode())
                pages.write("index.json", json.dumps(doc, indent=1, sort_keys=True).encode())
        for stale in sorted(simple.names()):
            entry_stat = simple.lstat(stale)
            if stale in projects or entry_stat is None:
                continue
            if stat.S_ISDIR(entry_stat.st_mode) or stat.S_ISLNK(entry_stat.st_mode):  # a link: removed, not followed
                simple.remove(stale)
        indexed = {w.name for ws in projects.values() for w in ws}
        for file_name in directory.names():
            if file_name.endswith(".whl.metadata") and file_name[: -len(".metadata")] not in indexed:
                metadata_stat = directory.lstat(file_name)
                if metadata_stat is not None and not stat.S_ISDIR(metadata_stat.st_mode):
                    directory.unlink(file_name)
        root_links = "\n".join(f'    <a href="{p}/">{p}</a><br/>' for p in sorted(projects))
        root = (
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n"
            "    <title>Simple index</title>\n  </head>\n  <body>\n" + root_links + "\n  </body>\n</html>\n"
        )
        simple.write("index.html", root.encode())
        root_doc = {"meta": {"api-version": API_VERSION}, "projects": [{"name": p} for p in sorted(projects)]}
        simple.write("index.json", json.dumps(root_doc, indent=1, sort_keys=True).encode())
    result.projects = {p: [w.name for w in ws] for p, ws in projects.items()}
    return result


def write_simple_index(wheel_dir: Path) -> dict[str, list[str]]:
    """(Re)write ``wheel_dir/simple`` for every readable ``*.whl`` in
    ``wheel_dir`` (:func:`write_index`, whose :class:`SimpleIndex` also names
    the wheels left out). Returns ``{normalized project name: [wheel file
    names]}``. Raises ``OSError`` on write errors."""
    return write_index(wheel_dir).projects
