"""The grammars that values from a channel, an archive or a binary must match.

Each checker takes the raw value, returns it (normalised where the grammar
says so) or raises ``ValueError`` with the reason; the validation boundary
(:mod:`press.package`, :mod:`press.artifact`, :mod:`press.fetch`) turns that
into an :class:`~press.errors.InvalidInputError` naming package and field.
Conda's own grammars come from py-rattler, PEP grammars from packaging.
"""

from __future__ import annotations

import functools
import re
import unicodedata

#: Longest path and path component press accepts (Linux PATH_MAX, NAME_MAX).
MAX_PATH = 4096
MAX_COMPONENT = 255

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Unicode bidirectional controls ("Trojan Source", CVE-2021-42574): a path holding one reads
#: otherwise than it is, and uv refuses a wheel member named so ("unacceptable filename").
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONDA_NAME = re.compile(r"^[a-z0-9_][a-z0-9_.\-]{0,199}\Z")
CONDA_NAME = _CONDA_NAME  # public: callers that check many names at once
#: The core metadata Name grammar, packaging's ``validate=True`` rule, for
#: callers that check many names at once (:func:`distribution_name` checks one).
DISTRIBUTION_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.I)
_CONDA_VERSION = re.compile(r"^[A-Za-z0-9_.+!*]{1,128}\Z")
_BUILD_STRING = re.compile(r"^[A-Za-z0-9_.+]{1,200}\Z")
_SUBDIR = re.compile(r"^(noarch|[a-z0-9]+-[a-z0-9]+)\Z")
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})*"
_MODULE = re.compile(rf"^{_DOTTED}\Z")
_EXTRAS = r"\[[ \t]*[A-Za-z0-9_.\-]+(?:[ \t]*,[ \t]*[A-Za-z0-9_.\-]+)*[ \t]*\]"
_OBJECT_REF = re.compile(rf"^{_DOTTED}[ \t]*(?::[ \t]*{_DOTTED})?[ \t]*(?:{_EXTRAS})?\Z")
_ENTRY_POINT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}\Z")
_GROUP = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}\Z")
_FILE_NAME = re.compile(r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?\Z")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}\Z")
_MD5 = re.compile(r"^[0-9a-fA-F]{32}\Z")
_ARCHIVE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+!\-]{0,250}\.(conda|tar\.bz2)\Z")


def relative_path(value: object) -> str:
    """A relative POSIX path inside a package or wheel: a non-empty string of
    at most 4096 characters, ``/``-separated components that are non-empty,
    not ``.`` or ``..``, at most 255 UTF-8 bytes, without NUL, control
    characters, Unicode bidirectional controls or backslashes, and not
    absolute (``/x``, ``C:x``). Returns it unchanged (press never rewrites a
    package's paths)."""
    if not isinstance(value, str) or not value:
        raise ValueError("not a non-empty string path")
    if len(value) > MAX_PATH:
        raise ValueError(f"path longer than {MAX_PATH} characters")
    if _CONTROL.search(value):
        raise ValueError(f"path {value!r} holds a NUL or control character")
    if _BIDI.search(value):
        raise ValueError(f"path {value!r} holds a Unicode bidirectional control (it would read otherwise)")
    if "\\" in value:
        raise ValueError(f"path {value!r} holds a backslash")
    if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"path {value!r} is absolute")
    for part in value.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"path {value!r} has an empty, '.' or '..' component")
        try:
            size = len(part.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ValueError(f"path {value!r} is not valid Unicode") from exc
        if size > MAX_COMPONENT:
            raise ValueError(f"path {value!r} has a component longer than {MAX_COMPONENT} bytes")
    return value


def nfc_key(path: str) -> str:
    """The key two paths collide under on a file system that normalises
    Unicode (macOS APFS/HFS+): the NFC form."""
    return unicodedata.normalize("NFC", path)


def conda_name(value: object) -> str:
    """A conda package name (conda-build's rule: lower-case ASCII letters,
    digits, ``_``, ``.``, ``-``; not starting with ``.`` or ``-``; at most
    200 characters)."""
    if not isinstance(value, str) or not _CONDA_NAME.match(value):
        raise ValueError(f"{value!r} is not a conda package name")
    return value


def conda_version(value: object) -> str:
    """A conda version string, as py-rattler's ``Version`` parses it, made of
    ASCII letters, digits and ``_ . + ! *`` (at most 128 characters)."""
    if not isinstance(value, str) or not _CONDA_VERSION.match(value):
        raise ValueError(f"{value!r} is not a conda version")
    from rattler import Version

    try:
        Version(value)
    except Exception as exc:  # rattler's InvalidVersionError has no common base
        raise ValueError(f"{value!r} is not a conda version: {exc}") from exc
    return value


def build_string(value: object) -> str:
    """A conda build string: ASCII letters, digits, ``_ . +`` (conda-build
    refuses the rest), at most 200 characters."""
    if not isinstance(value, str) or not _BUILD_STRING.match(value):
        raise ValueError(f"{value!r} is not a conda build string")
    return value


def subdir(value: object) -> str:
    """A conda subdir name: ``noarch`` or ``<platform>-<arch>``."""
    if not isinstance(value, str) or not _SUBDIR.match(value):
        raise ValueError(f"{value!r} is not a conda subdir")
    return value


def match_spec(value: object) -> str:
    """A conda MatchSpec string that py-rattler parses, without control
    characters, at most 1024 characters."""
    if not isinstance(value, str) or not value or len(value) > 1024 or _CONTROL.search(value):
        raise ValueError(f"{value!r} is not a MatchSpec string")
    error = _match_spec_error(value)
    if error is not None:
        raise ValueError(f"{value!r} is not a valid MatchSpec: {error}")
    return value


@functools.lru_cache(maxsize=8192)
def _match_spec_error(value: str) -> str | None:
    """rattler's parse error for ``value``, None when it parses (kept for
    the most recent 8192 strings: a channel repeats its dependency strings
    across hundreds of thousands of records)."""
    from rattler import MatchSpec

    try:
        MatchSpec(value)
    except Exception as exc:  # rattler's parse errors have no common base
        return str(exc)
    return None


def distribution_name(value: object) -> str:
    """A core-metadata ``Name`` (PEP 508 / the name grammar of the core
    metadata specification, checked by packaging). Returned as written."""
    from packaging.utils import InvalidName, canonicalize_name

    if not isinstance(value, str) or _CONTROL.search(value):  # packaging's own check lets a final newline by
        raise ValueError(f"{value!r} is not a distribution name")
    try:
        canonicalize_name(value, validate=True)
    except InvalidName as exc:
        raise ValueError(f"{value!r} is not a valid distribution name (PEP 508)") from exc
    return value


def module_name(value: object) -> str:
    """A dotted Python module path of ASCII identifiers (``a.b_c``), as an
    import test names it."""
    if not isinstance(value, str) or not _MODULE.match(value) or len(value) > 256:
        raise ValueError(f"{value!r} is not a dotted module name")
    return value


def entry_point_group(value: object) -> str:
    """An entry point group name (the entry points specification's
    recommended ``[\\w.-]+``, ASCII, at most 128 characters)."""
    if not isinstance(value, str) or not _GROUP.match(value):
        raise ValueError(f"{value!r} is not an entry point group name")
    return value


#: Entry point groups whose names installers turn into file names (the
#: entry points specification: "For console scripts, the name of the entry
#: point is the command that will be used to launch it").
SCRIPT_GROUPS = frozenset({"console_scripts", "gui_scripts"})


def entry_point_name(value: object, group: str = "console_scripts") -> str:
    """An entry point name of ``group``.

    In :data:`SCRIPT_GROUPS` the name becomes a file name, so only the
    specification's recommended ``[\\w.-]+`` (ASCII), not starting with
    ``.`` or ``-``, at most 128 characters, is accepted. In any other group
    the specification's own rule applies ("any characters except ``=``, but
    it cannot start or end with any whitespace character, or start with
    ``[``": ``html+mako``, ``c++``, ``Jinja Template``), with what keeps it
    one entry of one line: printable (no newline or control character),
    not starting with ``#`` or ``;`` (INI comments), 1 to 200 characters.
    Returns the value; raises ``ValueError`` otherwise."""
    if group in SCRIPT_GROUPS:
        if not isinstance(value, str) or not _ENTRY_POINT_NAME.match(value):
            raise ValueError(f"{value!r} is not a valid {group} name (letters, digits, '_', '.', '-': "
                             "it becomes a file name)")
        return value
    if (not isinstance(value, str) or not 0 < len(value) <= 200 or not value.isprintable() or "=" in value
            or value != value.strip() or value.startswith(("[", "#", ";"))):
        raise ValueError(f"{value!r} is not a valid entry point name (entry points specification)")
    return value


def object_reference(value: object) -> str:
    """An entry point object reference ``module.path:qualified.name``, with
    the optional (deprecated) ``[extra, ...]`` of the entry points
    specification; spaces and tabs only, on one line. Returned stripped."""
    if not isinstance(value, str) or len(value) > 512 or not _OBJECT_REF.match(value.strip(" \t")):
        raise ValueError(f"{value!r} is not an object reference (module.path:object.name)")
    return value.strip(" \t")


def file_name(value: object) -> str:
    """A file name read from a binary (SONAME, DLL name, install-name
    basename): printable ASCII, no ``/``, not ``.`` or ``..``, at most 255
    characters, no leading or trailing space."""
    if not isinstance(value, str) or not _FILE_NAME.match(value) or "/" in value or value in (".", ".."):
        raise ValueError(f"{value!r} is not a plain file name")
    return value


def search_path(value: object) -> str:
    """A RUNPATH/RPATH entry or Mach-O install name: printable ASCII, at most
    4096 characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_PATH or not value.isascii() or _CONTROL.search(value):
        raise ValueError(f"{value!r} is not a printable ASCII path")
    return value


def sha256_hex(value: object) -> str:
    """64 hex digits, returned in lower case."""
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ValueError(f"{value!r} is not a sha256 hex digest")
    return value.lower()


def md5_hex(value: object) -> str:
    """32 hex digits, returned in lower case."""
    if not isinstance(value, str) or not _MD5.match(value):
        raise ValueError(f"{value!r} is not an md5 hex digest")
    return value.lower()


def archive_file_name(value: object) -> str:
    """A conda artifact file name as repodata lists it (``fn``): one path
    component ending in ``.conda`` or ``.tar.bz2``, ASCII, not hidden."""
    if not isinstance(value, str) or not _ARCHIVE_NAME.match(value):
        raise ValueError(f"{value!r} is not a conda artifact file name")
    return value


def http_url(value: object) -> str:
    """An ``http(s)://`` URL without whitespace or control characters, at
    most 2048 characters (for Project-URL)."""
    if (not isinstance(value, str) or len(value) > 2048 or not value.startswith(("http://", "https://"))
            or re.search(r"[\s\x00-\x1f\x7f]", value)):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value
