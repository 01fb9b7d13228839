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
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.metadata import Metadata
from packaging.utils import canonicalize_name, parse_wheel_filename

from .artifact import sha256_file
from .files import atomic_write
from .sbom import CondaSource, read_sources

#: PEP 691 API version written in the JSON pages.
API_VERSION = "1.1"


def _core_metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return archive.read(name)


def _wheel_facts(wheel: Path) -> tuple[str, bytes, list[CondaSource]]:
    """A wheel's hex sha256, its core metadata and the conda artifacts its SBOM names."""
    return sha256_file(wheel), _core_metadata(wheel), read_sources(wheel)


def write_simple_index(wheel_dir: Path) -> dict[str, list[str]]:
    """(Re)write ``wheel_dir/simple`` for every ``*.whl`` in ``wheel_dir``.

    Returns ``{normalized project name: [wheel file names]}``. Projects whose
    wheels are gone lose their pages. Raises ``OSError`` on write errors.
    """
    wheel_dir = Path(wheel_dir)
    simple = wheel_dir / "simple"
    projects: dict[str, list[Path]] = {}
    for wheel in sorted(wheel_dir.glob("*.whl")):
        name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        projects.setdefault(name, []).append(wheel)
    everything = [w for ws in projects.values() for w in ws]
    # Hashing and reading each wheel is independent: threads overlap the I/O and hashing (which release the GIL).
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        facts = dict(zip(everything, pool.map(_wheel_facts, everything)))
    for project, wheels in sorted(projects.items()):
        files_json, links = [], []
        for wheel in wheels:
            digest, metadata, sources = facts[wheel]
            metadata_file = wheel.with_name(wheel.name + ".metadata")
            if not metadata_file.is_file() or metadata_file.read_bytes() != metadata:
                atomic_write(metadata_file, metadata)
            metadata_digest = hashlib.sha256(metadata).hexdigest()
            requires_python = Metadata.from_email(metadata, validate=False).requires_python
            rp = str(requires_python) if requires_python else None
            attrs = f' data-core-metadata="sha256={metadata_digest}" data-dist-info-metadata="sha256={metadata_digest}"'
            if rp:
                attrs += f' data-requires-python="{html.escape(rp)}"'
            links.append(f'    <a href="../../{html.escape(wheel.name)}#sha256={digest}"{attrs}>{html.escape(wheel.name)}</a><br/>')
            entry = {
                "filename": wheel.name,
                "url": f"../../{wheel.name}",
                "hashes": {"sha256": digest},
                "core-metadata": {"sha256": metadata_digest},
                "dist-info-metadata": {"sha256": metadata_digest},
                "size": wheel.stat().st_size,
            }
            if rp:
                entry["requires-python"] = rp
            if sources:
                entry["press"] = {"conda-sources": [dataclasses.asdict(s) for s in sources]}
            files_json.append(entry)
        page = (
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n"
            f"    <title>Links for {project}</title>\n  </head>\n  <body>\n    <h1>Links for {project}</h1>\n"
            + "\n".join(links) + "\n  </body>\n</html>\n"
        )
        atomic_write(simple / project / "index.html", page.encode())
        doc = {"meta": {"api-version": API_VERSION}, "name": project, "files": files_json,
               "versions": sorted({str(parse_wheel_filename(w.name)[1]) for w in wheels})}
        atomic_write(simple / project / "index.json", json.dumps(doc, indent=1, sort_keys=True).encode())
    if simple.is_dir():
        for stale in sorted(p for p in simple.iterdir() if p.is_dir() and p.name not in projects):
            for child in stale.iterdir():
                child.unlink()
            stale.rmdir()
    for metadata_file in wheel_dir.glob("*.whl.metadata"):
        if not metadata_file.with_suffix("").is_file():
            metadata_file.unlink()
    root_links = "\n".join(f'    <a href="{p}/">{p}</a><br/>' for p in sorted(projects))
    root = (
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n"
        "    <title>Simple index</title>\n  </head>\n  <body>\n" + root_links + "\n  </body>\n</html>\n"
    )
    atomic_write(simple / "index.html", root.encode())
    root_doc = {"meta": {"api-version": API_VERSION}, "projects": [{"name": p} for p in sorted(projects)]}
    atomic_write(simple / "index.json", json.dumps(root_doc, indent=1, sort_keys=True).encode())
    return {p: [w.name for w in ws] for p, ws in projects.items()}
