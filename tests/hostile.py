"""Build hostile conda packages at test time, in both formats.

conda-package-handling refuses to create most of these (it archives a
staged directory), so members are written with tarfile/zipfile/zstd in the
layout cph uses: a ``.tar.bz2`` is one bzip2 tar with ``info/`` first; a
``.conda`` is a zip of ``metadata.json``, ``info-<stem>.tar.zst`` and
``pkg-<stem>.tar.zst``.

A package is described by :class:`Spec`: the ``index``/``about``/``link``
documents (dicts, or raw bytes to write verbatim), payload ``files``,
``links`` (symlinks), ``hardlinks``, extra raw ``members`` (``TarInfo``
objects with optional data, for FIFOs, PAX headers and the like) and
``paths`` (the ``info/paths.json`` document, generated from the payload
when None, or raw bytes).
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MTIME = 1700000000


@dataclass
class Spec:
    name: str = "press-hx"
    version: str = "1.0"
    build: str = "0"
    subdir: str = "noarch"
    index: dict | bytes | None = None
    about: dict | bytes | None = None
    link: dict | bytes | None = None
    paths: dict | bytes | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    executables: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)
    hardlinks: dict[str, str] = field(default_factory=dict)
    info: dict[str, bytes] = field(default_factory=dict)
    members: list[tuple[tarfile.TarInfo, bytes | None]] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"


def _doc(value: dict | bytes) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value, indent=2, sort_keys=True).encode()


def _paths(spec: Spec) -> bytes:
    if spec.paths is not None:
        return _doc(spec.paths)
    entries = [{"_path": p, "path_type": "hardlink", "sha256": hashlib.sha256(d).hexdigest(), "size_in_bytes": len(d)}
               for p, d in sorted(spec.files.items())]
    entries += [{"_path": p, "path_type": "softlink"} for p in sorted(spec.links)]
    entries += [{"_path": p, "path_type": "hardlink"} for p in sorted(spec.hardlinks)]
    return _doc({"paths": sorted(entries, key=lambda e: e["_path"]), "paths_version": 1})


def info_files(spec: Spec) -> dict[str, bytes]:
    index = spec.index if spec.index is not None else {
        "name": spec.name, "version": spec.version, "build": spec.build, "build_number": 0,
        "subdir": spec.subdir, "depends": [], "license": "MIT", "timestamp": MTIME * 1000,
    }
    result = {"info/index.json": _doc(index), "info/paths.json": _paths(spec)}
    result["info/about.json"] = _doc(spec.about if spec.about is not None else {"summary": "hostile fixture"})
    if spec.link is not None:
        result["info/link.json"] = _doc(spec.link)
    result.update(spec.info)
    return result


def _tar(files: dict[str, bytes], spec: Spec | None, executables: set[str] = frozenset()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), MTIME, 0o755 if name in executables else 0o644
            tar.addfile(info, io.BytesIO(data))
        if spec is not None:
            for name, target in spec.links.items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, MTIME
                tar.addfile(info)
            for name, target in spec.hardlinks.items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname, info.mtime = tarfile.LNKTYPE, target, MTIME
                tar.addfile(info)
            for info, data in spec.members:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _zstd():
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        from backports import zstd  # type: ignore[no-redef]
    return zstd


def build(spec: Spec, out_dir: Path, fmt: str) -> Path:
    """Write ``spec`` as ``out_dir/<stem><fmt>`` (``.conda`` or ``.tar.bz2``); returns the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{spec.stem}{fmt}"
    info = info_files(spec)
    if fmt == ".tar.bz2":
        out.write_bytes(bz2.compress(_tar({**info, **spec.files}, spec, spec.executables), 1))
        return out
    zstd = _zstd()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        archive.writestr(f"info-{spec.stem}.tar.zst", zstd.compress(_tar(info, None), 1))
        archive.writestr(f"pkg-{spec.stem}.tar.zst", zstd.compress(_tar(spec.files, spec, spec.executables), 1))
    return out


def tree_state(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its type, size, mtime and content hash
    (for a before/after comparison of a sentinel directory)."""
    state = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
        state[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return state
