"""What the platform relocators share: the result type and content-hashed names."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from ..contained import Root
from ..layout import Layout, StagedFile
from ..limits import exceeded, limit


@dataclass
class Relocation:
    """The outcome of relocating one wheel's binaries.

    ``platform``: the wheel's platform tag; ``vendored``: archive names of the
    vendored shared libraries; ``external``: libraries loaded from the system
    -> the symbol versions needed from them (ELF; empty sets elsewhere);
    ``dependencies``: per binary archive name, each dependency -> the archive
    name it resolves to, ``"system"``, or ``"unresolved"``; ``changed``:
    archive names of the binaries that were edited; ``notes``: what the
    report should say.
    """

    platform: str
    vendored: list[str] = field(default_factory=list)
    external: dict[str, set[str]] = field(default_factory=dict)
    dependencies: dict[str, dict[str, str]] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def content_hash(staged: StagedFile) -> str:
    """First 8 hex digits of the sha256 of a staged file (auditwheel's and delvewheel's length)."""
    return staged.digest()[:8]


def hashed_name(name: str, digest: str) -> str:
    """A library file name with a content hash inserted, the way auditwheel,
    delocate and delvewheel spell it: ``libffi.so.8`` -> ``libffi-<h>.so.8``,
    ``libffi.8.dylib`` -> ``libffi-<h>.8.dylib``, ``zstd.dll`` -> ``zstd-<h>.dll``."""
    if name.lower().endswith(".dll"):
        return f"{name[:-4]}-{digest}{name[-4:]}"
    if ".so" in name and not name.endswith(".dylib"):
        base, dot, rest = name.partition(".so")
        return f"{base}-{digest}.so{rest}"
    base, dot, rest = name.partition(".")
    return f"{base}-{digest}{dot}{rest}"


#: glibc's own libraries: never renamed, always the system's (the manylinux allow-list's core).
_GLIBC = re.compile(r"^(libc|libm|libpthread|libdl|librt|libutil|libresolv|libnsl|libcrypt|libmvec|libanl|"
                    r"libBrokenLocale|libnss_\w+|libthread_db|libmemusage|libpcprofile)\.so\.\d+$|^ld-linux.*|^ld64\.so\.\d$")


#: SONAME stems of libraries a Python process may already hold when a thin wheel's binary is
#: loaded: what CPython's own extension modules link (_ssl and _hashlib, _ctypes, _sqlite3, _lzma,
#: _bz2, zlib, pyexpat, _curses, readline, _uuid, _dbm and _gdbm, _decimal, _zstd) and the GCC
#: runtime; with the manylinux allow-list's libraries (auditwheel's policy data) they are the
#: libraries a thin wheel renames (:func:`thin_own_name`).
PROCESS_LIBRARIES = frozenset({
    "libssl", "libcrypto", "libffi", "libsqlite3", "liblzma", "libbz2", "libz", "libexpat", "libncurses",
    "libncursesw", "libtinfo", "libtinfow", "libpanel", "libpanelw", "libform", "libformw", "libmenu", "libmenuw",
    "libreadline", "libhistory", "libedit", "libuuid", "libgdbm", "libgdbm_compat", "libmpdec", "libzstd",
    "libb2", "libstdc++", "libgcc_s", "libgomp", "libquadmath", "libatomic", "libgfortran",
})
_VERSIONED_SONAME = re.compile(r"^(?P<stem>.+?)\.so(\.\d+)+$")


def thin_own_name(soname: str, libs_dir: str, allowed: frozenset[str] | set[str]) -> str | None:
    """The name a thin wheel's copy of library ``soname`` goes by, or None
    when it keeps its own.

    glibc's loader reuses a library already loaded under the same SONAME for
    every later request of that name: the interpreter's ``libssl.so.3`` or
    ``libffi.so.8``, the system's ``libstdc++.so.6`` loaded by another
    extension, would stand in for a thin wheel's newer copy and lack its symbol
    versions (conda-forge's libcurl needs ``OPENSSL_3.2.0``). So a library
    such a process may hold, one of ``allowed`` (the manylinux allow-list) or
    of :data:`PROCESS_LIBRARIES`, with a versioned SONAME (``.so.N``), gets a
    name of its own in the thin wheel that ships it: the SONAME with the first
    8 hex digits of the sha256 of its ``<dist>.libs`` directory name inserted
    (``libssl-1a2b3c4d.so.3``, :func:`hashed_name`'s spelling, as auditwheel
    renames what it vendors), and every dependent loads that name. The name
    depends on the distribution alone, not on its version or bytes, so a
    dependent converted without the provider's files names it alike, and any
    version pip installs serves it. glibc's own libraries (``libc.so.6`` ...)
    are always the system's; other libraries keep their names, so a library
    that opens its siblings by name (MKL, TBB) still finds them.
    """
    import hashlib

    shape = _VERSIONED_SONAME.match(soname)
    if _GLIBC.match(soname) or shape is None:
        return None
    if soname not in allowed and shape.group("stem") not in PROCESS_LIBRARIES:
        return None
    return hashed_name(soname, hashlib.sha256(libs_dir.encode()).hexdigest()[:8])


def rename_arc(layout: Layout, arc: str, new_basename: str) -> str:
    """Move a file of the layout to a new basename in the same directory."""
    new_arc = f"{arc.rsplit('/', 1)[0]}/{new_basename}" if "/" in arc else new_basename
    layout.files[new_arc] = layout.files.pop(arc)
    return new_arc


def staged_copy(staged: StagedFile, stage: Root, arc: str) -> Path:
    """Copy a staged file into the stage root (once) so it can be edited;
    the staged file points at the copy afterwards (its digest forgotten).
    Returns the copy's host path, for LIEF."""
    if staged.root is not stage or staged.rel != arc:
        stage.copy_from(staged.root, staged.rel, arc, staged.mode)
        staged.root, staged.rel, staged.sha256 = stage, arc, None
    staged.sha256 = None
    return stage.host_path(arc)


#: Line ends as Python's tokenizer counts them (not form feeds and the other
#: separators ``str.splitlines`` also splits at).
_LINE_END = re.compile(r"(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)")


def _insert_import(source: bytes, statement: str) -> bytes | None:
    """``source`` with ``statement`` inserted after the docstring and
    ``from __future__`` imports (which must stay first), in the file's own
    encoding (PEP 263 cookie). None when the file does not decode or parse:
    it could not be imported either, and is left as it is."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        text = source.decode(encoding)
        tree = ast.parse(text)
    except (SyntaxError, ValueError, LookupError, RecursionError, MemoryError):
        return None
    lines = [line for line in _LINE_END.split(text) if line]
    after = 0
    for index, node in enumerate(tree.body):
        is_doc = index == 0 and isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant)
        if is_doc or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            after = node.end_lineno or after
        else:
            break
    if after == 0:  # keep a shebang and encoding cookie on the first two lines
        while after < min(2, len(lines)) and lines[after].lstrip().startswith("#"):
            after += 1
    head = "".join(lines[:after])
    if head and not head.endswith(("\n", "\r")):
        head += "\n"
    new = head + statement + "\n" + "".join(lines[after:])
    try:
        return new.encode(encoding)
    except UnicodeEncodeError:
        return None


def import_in_packages(layout: Layout, stage: Root, statement: str, users: list[str]) -> list[str]:
    """Insert ``statement`` (an import line) into the ``__init__.py`` of each
    top-level package holding one of ``users`` (archive names), so it runs
    before their extension modules load. Edited copies go to ``stage``.
    Returns the archive names of the ``__init__.py`` files edited (users at
    the top level, or in a namespace package, have none). Raises
    :class:`~press.errors.LimitError` for an ``__init__.py`` beyond the
    ``metadata_size`` limit."""
    edited = []
    for top in sorted({u.split("/", 1)[0] for u in users if "/" in u}):
        init = f"{top}/__init__.py"
        if init not in layout.files:
            continue
        staged = layout.files[init]
        staged_copy(staged, stage, init)
        source = stage.read_bytes(init, limit("metadata_size") + 1)
        if len(source) > limit("metadata_size"):
            raise exceeded("metadata_size", package=staged.owner, field=init)
        if statement.encode() not in source:
            inserted = _insert_import(source, statement)
            if inserted is None:
                continue  # undecodable or unparsable: Python cannot import it either
            stage.write_bytes(init, inserted, replace=True)
        edited.append(init)
    return edited
