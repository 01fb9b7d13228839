"""Read a conda artifact (``.conda`` or ``.tar.bz2``) safely into a directory.

:func:`open_artifact` streams every member of the archive (with
conda-package-streaming), refuses members that would escape the extraction
directory or that are not regular files, directories or in-package links, and
parses the ``info/`` metadata conda's package format defines (``index.json``,
``about.json``, ``paths.json`` or the legacy ``files``/``has_prefix``,
``link.json``, and the recipe's test imports).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conda_package_streaming.package_streaming import stream_conda_component

from .errors import ArchiveError, UnsafeArchiveError

#: Placeholder used by legacy ``info/has_prefix`` lines that name only a path.
LEGACY_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"

ARCHIVE_SUFFIXES = (".conda", ".tar.bz2")


@dataclass(frozen=True)
class PathEntry:
    """One file of the package as ``info/paths.json`` describes it.

    ``path`` is relative to the environment prefix (posix separators);
    ``path_type`` is ``hardlink``, ``softlink`` or ``directory``;
    ``prefix_placeholder``/``file_mode`` (``text`` or ``binary``) are set when
    the file embeds the build prefix.
    """

    path: str
    path_type: str = "hardlink"
    sha256: str | None = None
    size: int | None = None
    prefix_placeholder: str | None = None
    file_mode: str | None = None


@dataclass
class Artifact:
    """An unpacked conda artifact.

    ``root`` is the directory holding the unpacked prefix tree and ``info/``;
    ``index``/``about``/``link`` are the parsed JSON documents (``{}`` when
    absent); ``paths`` lists the payload files; ``sha256`` is the archive's
    hex digest.
    """

    source: Path
    root: Path
    sha256: str
    index: dict[str, Any]
    about: dict[str, Any] = field(default_factory=dict)
    link: dict[str, Any] = field(default_factory=dict)
    paths: list[PathEntry] = field(default_factory=list)
    test_imports: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.index["name"])

    @property
    def version(self) -> str:
        return str(self.index["version"])

    @property
    def build(self) -> str:
        return str(self.index.get("build", "0"))

    @property
    def build_number(self) -> int:
        return int(self.index.get("build_number", 0))

    @property
    def subdir(self) -> str:
        return str(self.index.get("subdir", "noarch"))

    @property
    def noarch(self) -> str | None:
        value = self.index.get("noarch")
        return str(value) if value else None

    @property
    def depends(self) -> list[str]:
        return list(self.index.get("depends", []))

    @property
    def label(self) -> str:
        """``name-version-build``, the conda file stem, for messages."""
        return f"{self.name}-{self.version}-{self.build}"


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
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_member(member: tarfile.TarInfo, label: str) -> str:
    """Return the member's normalised relative path, or raise UnsafeArchiveError."""
    name = member.name
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path", package=label)
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise UnsafeArchiveError(f"archive member {name!r} has a '..' component", package=label)
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchiveError(
            f"archive member {name!r} is a device, FIFO or other special file", package=label
        )
    normal = posixpath.normpath(name.replace("\\", "/"))
    if member.issym() or member.islnk():
        target = member.linkname.replace("\\", "/")
        if member.issym():
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(normal), target))
        else:
            resolved = posixpath.normpath(target)
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            kind = "symlink" if member.issym() else "hardlink"
            raise UnsafeArchiveError(
                f"archive member {name!r} is a {kind} to {member.linkname!r}, outside the package",
                package=label,
            )
    return normal


#: Default cap on the bytes one artifact may unpack to (decompression bombs);
#: ``PRESS_MAX_UNPACKED_SIZE`` (bytes) overrides it.
MAX_UNPACKED_SIZE = 16 << 30


def max_unpacked_size() -> int:
    """The unpacked-size cap in bytes: ``$PRESS_MAX_UNPACKED_SIZE`` or :data:`MAX_UNPACKED_SIZE`."""
    value = os.environ.get("PRESS_MAX_UNPACKED_SIZE", "")
    return int(value) if value.isdigit() else MAX_UNPACKED_SIZE


def _declared_sizes(dest: Path) -> dict[str, int]:
    try:
        doc = json.loads((dest / "info" / "paths.json").read_text(encoding="utf-8"))
        return {
            posixpath.normpath(e["_path"]): int(e["size_in_bytes"])
            for e in doc.get("paths", [])
            if e.get("path_type", "hardlink") == "hardlink" and isinstance(e.get("size_in_bytes"), int)
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}  # missing or malformed: checked after extraction


def _extract(source: Path, dest: Path, label: str) -> list[tuple[str, str]]:
    """Stream every member of ``source`` into ``dest`` after checking it.

    Returns the pairs of member paths that differ only in case (the caller
    decides, knowing the target platform, whether that is acceptable).
    """
    components = ["info", "pkg"] if source.name.endswith(".conda") else [None]
    seen: set[str] = set()
    folded: dict[str, str] = {}
    case_clashes: list[tuple[str, str]] = []
    declared: dict[str, int] | None = None
    total, cap = 0, max_unpacked_size()
    try:
        zf = zipfile.ZipFile(source) if source.name.endswith(".conda") else None
        for component in components:
            if component is None:
                stream = stream_conda_component(str(source))
            else:
                stream = stream_conda_component(str(source), component=component, zf=zf)
            for tar, member in stream:
                normal = _check_member(member, label)
                if normal in seen and not member.isdir():
                    raise UnsafeArchiveError(
                        f"archive member {member.name!r} appears twice", package=label
                    )
                seen.add(normal)
                if not member.isdir():
                    other = folded.setdefault(normal.lower(), normal)
                    if other != normal:
                        case_clashes.append((other, normal))
                total += member.size if member.isfile() else 0
                if total > cap:
                    raise UnsafeArchiveError(
                        f"unpacks to more than {cap} bytes (press's limit against decompression bombs; "
                        "set PRESS_MAX_UNPACKED_SIZE to raise it)", package=label)
                if declared is None and not normal.startswith("info/") and (dest / "info" / "paths.json").is_file():
                    declared = _declared_sizes(dest)
                if member.isfile() and declared and normal in declared and member.size != declared[normal]:
                    raise UnsafeArchiveError(
                        f"archive member {member.name!r} is {member.size} bytes, "
                        f"info/paths.json declares {declared[normal]}", package=label)
                tar.extract(member, dest, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, LookupError, ValueError) as exc:
        if isinstance(exc, UnsafeArchiveError):
            raise
        if isinstance(exc, tarfile.FilterError):
            raise UnsafeArchiveError(f"unsafe archive member: {exc}", package=label) from exc
        raise ArchiveError(f"corrupt or truncated archive ({type(exc).__name__}: {exc})", package=label) from exc
    except Exception as exc:  # zstd and bz2 decoder errors have no common base class
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"corrupt or truncated archive ({type(exc).__name__}: {exc})", package=label) from exc
    return case_clashes


def _read_json(path: Path, label: str, required: bool = False) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise ArchiveError(f"missing {path.parent.name}/{path.name}", package=label)
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"{path.parent.name}/{path.name} is not valid JSON: {exc}", package=label) from exc
    if not isinstance(value, dict):
        raise ArchiveError(f"{path.parent.name}/{path.name} is not a JSON object", package=label)
    return value


def _read_paths(info: Path, label: str) -> list[PathEntry]:
    doc = _read_json(info / "paths.json", label)
    if doc:
        entries = []
        items = doc.get("paths", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("_path"), str) for i in items):
            raise ArchiveError("info/paths.json: 'paths' is not a list of entries with a '_path'", package=label)
        for item in items:
            size = item.get("size_in_bytes")
            sha = item.get("sha256")
            if (size is not None and not isinstance(size, int)) or (sha is not None and not isinstance(sha, str)):
                raise ArchiveError(f"info/paths.json: bad size_in_bytes or sha256 for {item['_path']!r}", package=label)
            entries.append(
                PathEntry(
                    path=item["_path"],
                    path_type=item.get("path_type", "hardlink"),
                    sha256=item.get("sha256"),
                    size=item.get("size_in_bytes"),
                    prefix_placeholder=item.get("prefix_placeholder"),
                    file_mode=item.get("file_mode"),
                )
            )
        return entries
    # Legacy metadata: info/files lists paths, info/has_prefix the placeholders.
    files = info / "files"
    if not files.is_file():
        return []
    prefixes: dict[str, tuple[str, str]] = {}
    has_prefix = info / "has_prefix"
    if has_prefix.is_file():
        for line in has_prefix.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) == 1:
                prefixes[fields[0]] = (LEGACY_PLACEHOLDER, "text")
            else:
                placeholder, mode, path = fields[0], fields[1], " ".join(fields[2:])
                prefixes[path.strip('"')] = (placeholder.strip('"'), mode)
    entries = []
    for line in files.read_text(encoding="utf-8").splitlines():
        if line.strip():
            placeholder, mode = prefixes.get(line.strip(), (None, None))
            entries.append(PathEntry(path=line.strip(), prefix_placeholder=placeholder, file_mode=mode))
    return entries


def _read_test_imports(info: Path) -> list[str]:
    """Import names from the recipe's tests: meta.yaml ``test.imports`` (conda-build),
    ``info/tests/tests.yaml`` ``python.imports`` (rattler-build), else the
    ``import X`` lines conda-build writes into ``info/test/run_test.py``."""
    import yaml

    imports: list[str] = []
    for name in ("meta.yaml.rendered", "meta.yaml"):
        meta = info / "recipe" / name
        if meta.is_file():
            try:
                doc = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError:
                continue
            test = doc.get("test") if isinstance(doc, dict) else None
            if isinstance(test, dict) and isinstance(test.get("imports"), list):
                imports = [str(x) for x in test["imports"]]
            break
    tests_yaml = info / "tests" / "tests.yaml"
    if not imports and tests_yaml.is_file():
        try:
            doc = yaml.safe_load(tests_yaml.read_text(encoding="utf-8")) or []
        except yaml.YAMLError:
            doc = []
        for test in doc if isinstance(doc, list) else []:
            python = test.get("python") if isinstance(test, dict) else None
            if isinstance(python, dict):
                imports.extend(str(x) for x in python.get("imports", []))
    run_test = info / "test" / "run_test.py"
    if not imports and run_test.is_file():
        imports = re.findall(r"^import ([\w.]+)\s*$", run_test.read_text(encoding="utf-8", errors="replace"), re.M)
    return list(dict.fromkeys(imports))


def _check_index(index: dict[str, Any], label: str) -> None:
    """Refuse an ``info/index.json`` whose fields do not have conda's types."""
    for key in ("name", "version"):
        if not isinstance(index.get(key), str) or not index[key]:
            raise ArchiveError(f"info/index.json has no valid {key!r}", package=label)
    for key in ("build", "subdir", "noarch"):
        if key in index and index[key] is not None and not isinstance(index[key], (str, bool)):
            raise ArchiveError(f"info/index.json: {key!r} is not a string", package=label)
    if "build_number" in index and (isinstance(index["build_number"], bool) or not isinstance(index["build_number"], int)):
        raise ArchiveError("info/index.json: 'build_number' is not an integer", package=label)
    depends = index.get("depends", [])
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        raise ArchiveError("info/index.json: 'depends' is not a list of strings", package=label)
    if "timestamp" in index and not isinstance(index["timestamp"], (int, float)):
        raise ArchiveError("info/index.json: 'timestamp' is not a number", package=label)


def open_artifact(source: Path, workdir: Path, sha256: str | None = None) -> Artifact:
    """Unpack the conda artifact ``source`` into a new directory under ``workdir``.

    Returns the :class:`Artifact`. Raises :class:`UnsafeArchiveError` for a
    member with an absolute path, a ``..`` component, a link leaving the
    package, a device/FIFO, a duplicate path, paths differing only in case
    (for targets other than Linux, whose file systems tell them apart), a
    size other than ``paths.json`` declares, or more than
    :func:`max_unpacked_size` bytes in all; :class:`ArchiveError` for a
    corrupt or truncated archive, a missing or invalid ``info/index.json``,
    an ``about.json``/``link.json``/``paths.json`` that is not valid JSON,
    or a payload that disagrees with ``paths.json`` (missing file, size,
    sha256).
    Nothing is written outside ``workdir``. ``sha256`` (hex), when the caller
    has already checked it, saves hashing the archive again.
    """
    source = Path(source)
    label = source.name
    stem = artifact_stem(source)
    if not source.is_file():
        raise ArchiveError("no such file", package=label)
    dest = Path(workdir) / stem
    dest.mkdir(parents=True, exist_ok=False)
    case_clashes = _extract(source, dest, label)
    info = dest / "info"
    index = _read_json(info / "index.json", label, required=True)
    _check_index(index, label)
    label = f"{index['name']}-{index['version']}-{index.get('build', '')}"
    about = _read_json(info / "about.json", label)
    artifact = Artifact(
        source=source,
        root=dest,
        sha256=sha256 or sha256_file(source),
        index=index,
        about=about,
        link=_read_json(info / "link.json", label),
        paths=_read_paths(info, label),
        test_imports=_read_test_imports(info),
    )
    subdir = str(index.get("subdir", ""))
    if case_clashes and not subdir.startswith("linux-"):
        first, second = case_clashes[0]
        raise UnsafeArchiveError(
            f"archive members {first!r} and {second!r} differ only in case, which collide on the "
            f"case-insensitive file systems of {subdir or 'noarch'} targets", package=label)
    _check_payload(artifact, label)
    return artifact


def _check_payload(artifact: Artifact, label: str) -> None:
    """Compare the unpacked payload with ``info/paths.json``: every listed
    file exists, and regular files have the declared size and sha256 (conda
    checks the same when it verifies a package)."""
    for entry in artifact.paths:
        target = artifact.root / entry.path
        if entry.path_type != "directory" and not os.path.lexists(target):
            raise ArchiveError(f"info/paths.json lists {entry.path!r} but the payload lacks it", package=label)
        if entry.path_type != "hardlink" or os.path.islink(target) or not target.is_file():
            continue
        if entry.size is not None and target.stat().st_size != entry.size:
            raise ArchiveError(
                f"info/paths.json: {entry.path!r} is {target.stat().st_size} bytes, declared {entry.size}",
                package=label)
        if entry.sha256 and sha256_file(target) != entry.sha256.lower():
            raise ArchiveError(f"info/paths.json: sha256 of {entry.path!r} does not match", package=label)
