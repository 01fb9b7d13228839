"""The validation boundary: conda metadata parsed once into typed, frozen records.

Every document press reads from an artifact (``info/index.json``,
``paths.json`` or the legacy ``files``/``has_prefix``, ``link.json``,
``about.json``, the recipe's tests, the package's own ``*.dist-info``) is
parsed here, with its size, JSON types, ranges and grammars checked
(:mod:`press.grammar`). Code downstream takes these records and never sees
raw JSON or an unchecked path. Every refusal is an
:class:`~press.errors.InvalidInputError` reading ``<package>: <field>:
<reason>``.

Formats: conda's package format (conda docs, "Package specification"),
conda's activation scripts (``etc/conda/activate.d``, conda docs "Saving
environment variables"), CEP-4 for ``link.json``, the core metadata and entry points specifications
(packaging.python.org) for dist-info.
"""

from __future__ import annotations

import configparser
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, TypeVar, cast

from . import grammar
from .errors import InvalidInputError
from .limits import exceeded, limit

#: Placeholder used by legacy ``info/has_prefix`` lines that name only a path.
LEGACY_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
#: Where conda puts Python packages: posix ``lib/pythonX.Y[t]/site-packages``,
#: Windows ``Lib/site-packages``, noarch python ``site-packages``.
_SITE_PACKAGES = re.compile(r"^(?:lib/python\d+\.\d+t?/site-packages|Lib/site-packages|site-packages)/")
#: Latest timestamp accepted, in milliseconds (the year 9999).
MAX_TIMESTAMP_MS = 253402300799999

T = TypeVar("T")


@dataclass(frozen=True)
class Identity:
    """Who a package is (``info/index.json``, or a repodata record).

    ``noarch`` is ``None``, ``"python"`` or ``"generic"``; ``depends`` and
    ``constrains`` are MatchSpec strings py-rattler parses; ``timestamp`` is
    in milliseconds since the epoch (0 when absent)."""

    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    noarch: str | None
    depends: tuple[str, ...]
    constrains: tuple[str, ...]
    license: str | None
    timestamp: int

    @property
    def label(self) -> str:
        """``name-version-build``, the conda file stem, for messages."""
        return f"{self.name}-{self.version}-{self.build}"


@dataclass(frozen=True)
class PathEntry:
    """One file of the package as ``info/paths.json`` describes it.

    ``path`` is a checked relative POSIX path; ``path_type`` is ``hardlink``,
    ``softlink`` or ``directory``; ``prefix_placeholder``/``file_mode``
    (``text`` or ``binary``) are set when the file embeds the build prefix.
    """

    path: str
    path_type: str = "hardlink"
    sha256: str | None = None
    size: int | None = None
    prefix_placeholder: str | None = None
    file_mode: str | None = None


@dataclass(frozen=True)
class EnvSetting:
    """One environment variable a package needs pointing into its own files.

    ``name`` is the variable (``[A-Z][A-Z0-9_]*``; which ones press sets is
    its allow-list's choice, :mod:`press.environment`); ``path`` a
    checked relative POSIX path inside the prefix (``""`` for the prefix
    itself); ``how`` is ``default`` (set only when unset) or ``prepend``
    (put in front of a ``os.pathsep`` list); ``form`` is ``path`` or
    ``file-url`` (``file:///...``, libxml2's ``XML_CATALOG_FILES``)."""

    name: str
    path: str
    how: str = "default"
    form: str = "path"


#: ``export NAME="${CONDA_PREFIX}/path"`` (sh; quotes and braces optional).
_SH_EXPORT = re.compile(
    r'^[ \t]*export[ \t]+([A-Z][A-Z0-9_]{0,63})=(["\']?)\$(?:\{CONDA_PREFIX\}|CONDA_PREFIX\b)'
    r'((?:/[A-Za-z0-9_.+@-]+)*)/?\2[ \t]*(?:;[ \t]*)?\Z', re.ASCII)
#: ``set "NAME=%CONDA_PREFIX%\path"`` (cmd.exe; quotes optional; names case-insensitive, ASCII only).
_BAT_SET = re.compile(
    r'^[ \t]*@?set[ \t]+("?)([A-Za-z][A-Za-z0-9_]{0,63})=%CONDA_PREFIX%((?:\\[A-Za-z0-9_.+@-]+)*)\\?\1[ \t]*\Z',
    re.ASCII | re.IGNORECASE)


def parse_activation(text: str, package: str, field: str) -> tuple[EnvSetting, ...]:
    """The environment variables an activation script (``etc/conda/activate.d/*.sh``
    or ``*.bat``) points into the prefix, as :class:`EnvSetting` records
    (``how="default"``: press never overrides what the user set).

    Only single-line assignments of ``$CONDA_PREFIX`` plus a plain relative
    path are read (``export X="${CONDA_PREFIX}/share/x"``, ``set
    "X=%CONDA_PREFIX%\\share\\x"``); anything else in the script (logic,
    other variables, commands) is not run and not read. Raises
    :class:`~press.errors.InvalidInputError` when such a line names a path
    outside the prefix. Which of these press sets is decided by its
    allow-list (:func:`press.environment.declared`), not here."""
    found: dict[str, EnvSetting] = {}
    for line in text.splitlines():
        sh = _SH_EXPORT.match(line)
        bat = None if sh else _BAT_SET.match(line)
        if sh:
            name, rel = sh.group(1), sh.group(3).lstrip("/")
        elif bat:
            name, rel = bat.group(2).upper(), bat.group(3).replace("\\", "/").lstrip("/")
        else:
            continue
        if rel:
            checked(grammar.relative_path, rel, package, f"{field}: {name}")
        found.setdefault(name, EnvSetting(name, rel))
    return tuple(found.values())


@dataclass(frozen=True)
class EntryPoint:
    """One entry point: ``group`` (``console_scripts`` ...), ``name`` and an
    object reference ``value`` (``module:attr``), all grammar-checked."""

    group: str
    name: str
    value: str


@dataclass(frozen=True)
class About:
    """``info/about.json``: free text and URLs (http(s) only; others are dropped)."""

    summary: str | None = None
    description: str | None = None
    license: str | None = None
    home: str | None = None
    dev_url: str | None = None
    doc_url: str | None = None


@dataclass(frozen=True)
class UpstreamMetadata:
    """The fields press carries over from a package's own core metadata
    (``METADATA``/``PKG-INFO``), each checked with ``packaging``'s rules for
    core metadata 2.4; a field that fails is left out and named in
    ``dropped`` (``"<field>: <reason>"``) rather than failing the package.
    ``project_urls``: ``(label, http(s) URL)`` pairs in file order;
    ``requires_dist``: only the requirements conditional on an extra (the
    rest comes from conda's ``depends``), never a direct URL reference
    (dropped with a note); ``provides_extra``: those extras."""

    summary: str | None = None
    description: str | None = None
    description_content_type: str | None = None
    keywords: tuple[str, ...] = ()
    classifiers: tuple[str, ...] = ()
    project_urls: tuple[tuple[str, str], ...] = ()
    home_page: str | None = None
    author: str | None = None
    author_email: str | None = None
    maintainer: str | None = None
    maintainer_email: str | None = None
    license: str | None = None
    license_expression: str | None = None
    requires_python: str | None = None
    requires_dist: tuple[str, ...] = ()
    provides_extra: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class DistInfo:
    """A package's own Python metadata directory (``*.dist-info``/``*.egg-info``)
    in site-packages: its ``path`` in the package, the ``Name`` it declares
    (PEP 508 grammar; None when it declares none), its entry points and the
    rest of its core metadata (:class:`UpstreamMetadata`)."""

    path: str
    name: str | None
    entry_points: tuple[EntryPoint, ...] = ()
    metadata: UpstreamMetadata = UpstreamMetadata()


def site_packages_prefix(path: str) -> str | None:
    """The site-packages prefix of a package path (``lib/python3.12/site-packages/``), or None."""
    match = _SITE_PACKAGES.match(path)
    return match.group(0) if match else None


#: Longest reason an error line carries (hostile values are cut, not echoed whole).
_MAX_REASON = 400


def invalid(package: str, field: str, reason: str) -> InvalidInputError:
    """The boundary's error: ``<package>: <field>: <reason>``; a reason over
    400 characters (it may quote a hostile value) is cut with ``...``."""
    if len(reason) > _MAX_REASON:
        reason = reason[:_MAX_REASON - 3] + "..."
    return InvalidInputError(reason, package=package, field=field[:_MAX_REASON])


def checked(check: Callable[[Any], T], value: Any, package: str, field: str) -> T:
    """``check(value)``, with its ``ValueError`` turned into :func:`invalid`."""
    try:
        return check(value)
    except ValueError as exc:
        raise invalid(package, field, str(exc)) from None


def decode_text(data: bytes, package: str, field: str) -> str:
    """UTF-8 text of a metadata file (a BOM is dropped), or an error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid(package, field, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number press accepts")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 1), counted level by
    level without recursion, stopping once past the ``json_depth`` limit."""
    depth, level = 0, [value]
    while level:
        depth += 1
        if depth > limit("json_depth"):
            return depth
        level = [c for v in level if isinstance(v, (dict, list)) for c in (v.values() if isinstance(v, dict) else v)]
    return depth


def load_json(data: bytes, package: str, field: str) -> dict[str, Any]:
    """Parse a metadata JSON document that must be an object. Refuses
    non-UTF-8 bytes, syntax errors, ``NaN``/``Infinity``, numbers out of
    float range, integers beyond Python's digit limit and nesting deeper than
    :data:`~press.limits.LIMITS` ``json_depth``."""
    if len(data) > limit("metadata_size"):
        raise exceeded("metadata_size", package=package, field=field)
    text = decode_text(data, package, field)
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise invalid(package, field, "JSON nested too deeply") from None
    except ValueError as exc:
        raise invalid(package, field, f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise invalid(package, field, "not a JSON object")
    if json_depth(value) > limit("json_depth"):
        raise invalid(package, field, f"JSON nested deeper than {limit('json_depth')} levels")
    return value


def _int(value: Any, package: str, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(package, field, f"{value!r} is not an integer from {low} to {high}")
    return value


def _optional_text(value: Any, package: str, field: str, longest: int = 1 << 20) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(package, field, f"not a string but {type(value).__name__}")
    if len(value) > longest:
        raise invalid(package, field, f"longer than {longest} characters")
    return value


def _specs(value: Any, package: str, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(package, field, "not a list of strings")
    if len(value) > 10_000:
        raise invalid(package, field, "more than 10000 entries")
    return tuple(checked(grammar.match_spec, v, package, field) for v in value)


def parse_record_depends(depends: Any, package: str) -> tuple[str, ...]:
    """The ``depends`` of a repodata record (a channel's hotfixed truth),
    checked like ``index.json``'s."""
    return _specs(list(depends) if isinstance(depends, (list, tuple)) else depends, package, "repodata: depends")


def parse_index(doc: dict[str, Any], package: str, field: str = "info/index.json") -> Identity:
    """An :class:`Identity` from ``info/index.json`` (or a repodata record's
    JSON): ``name``, ``version`` (conda grammars), ``build`` (build-string
    grammar, default ``0``), ``build_number`` (0 to 2**31-1), ``subdir``
    (default ``noarch``), ``noarch`` (``python``/``generic``, or a boolean
    of old conda-build), ``depends``/``constrains`` (MatchSpecs),
    ``license`` and ``timestamp`` (milliseconds, 0 to the year 9999)."""
    name = checked(grammar.conda_name, doc.get("name"), package, f"{field}: name")
    label = name
    version = checked(grammar.conda_version, doc.get("version"), label, f"{field}: version")
    build = checked(grammar.build_string, doc.get("build", "0"), label, f"{field}: build")
    label = f"{name}-{version}-{build}"
    build_number = _int(doc.get("build_number", 0), label, f"{field}: build_number", 0, 2**31 - 1)
    subdir = checked(grammar.subdir, doc.get("subdir") or "noarch", label, f"{field}: subdir")
    noarch = doc.get("noarch")
    if noarch in (None, False, ""):
        noarch = None
    elif noarch is True:
        noarch = "generic"
    elif noarch not in ("python", "generic"):
        raise invalid(label, f"{field}: noarch", f"{noarch!r} is not 'python' or 'generic'")
    timestamp = doc.get("timestamp", 0)
    if isinstance(timestamp, float) and timestamp.is_integer():
        timestamp = int(timestamp)
    timestamp = _int(timestamp, label, f"{field}: timestamp", 0, MAX_TIMESTAMP_MS)
    return Identity(
        name=name, version=version, build=build, build_number=build_number, subdir=subdir, noarch=noarch,
        depends=_specs(doc.get("depends"), label, f"{field}: depends"),
        constrains=_specs(doc.get("constrains"), label, f"{field}: constrains"),
        license=_optional_text(doc.get("license"), label, f"{field}: license", 4096),
        timestamp=timestamp,
    )


def parse_about(doc: dict[str, Any], package: str, field: str = "info/about.json") -> About:
    """An :class:`About` from ``info/about.json``. Text fields must be
    strings; a URL field may be a string or a list whose first string is
    used; a URL that is not http(s) is left out."""

    def url(key: str) -> str | None:
        value = doc.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        value = _optional_text(value, package, f"{field}: {key}", 2048)
        try:
            return grammar.http_url(value) if value else None
        except ValueError:
            return None

    return About(
        summary=_optional_text(doc.get("summary"), package, f"{field}: summary"),
        description=_optional_text(doc.get("description"), package, f"{field}: description"),
        license=_optional_text(doc.get("license"), package, f"{field}: license", 4096),
        home=url("home"), dev_url=url("dev_url"), doc_url=url("doc_url"),
    )


def _path_entry(item: Any, package: str, field: str) -> PathEntry:
    if not isinstance(item, dict):
        raise invalid(package, field, "an entry is not a JSON object")
    path = checked(grammar.relative_path, item.get("_path"), package, f"{field}: _path")
    where = f"{field}: {path}"
    path_type = item.get("path_type", "hardlink")
    if path_type not in ("hardlink", "softlink", "directory"):
        raise invalid(package, where, f"path_type {path_type!r} is not hardlink, softlink or directory")
    sha = item.get("sha256")
    sha = checked(grammar.sha256_hex, sha, package, f"{where}: sha256") if sha is not None else None
    size = item.get("size_in_bytes")
    size = _int(size, package, f"{where}: size_in_bytes", 0, 2**53) if size is not None else None
    placeholder = _placeholder(item.get("prefix_placeholder"), package, f"{where}: prefix_placeholder")
    mode = item.get("file_mode")
    if mode is not None and mode not in ("text", "binary"):
        raise invalid(package, f"{where}: file_mode", f"{mode!r} is not text or binary")
    return PathEntry(path, path_type, sha, size, placeholder, mode)


def _placeholder(value: Any, package: str, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 1024 or re.search(r"[\x00-\x1f\x7f]", value):
        raise invalid(package, field, f"{value!r} is not a prefix placeholder")
    return value


def parse_paths(doc: dict[str, Any], package: str, field: str = "info/paths.json") -> tuple[PathEntry, ...]:
    """The entries of ``info/paths.json``, each path checked; at most
    :data:`~press.limits.LIMITS` ``paths`` entries."""
    items = doc.get("paths")
    if not isinstance(items, list):
        raise invalid(package, f"{field}: paths", "not a list of entries")
    if len(items) > limit("paths"):
        raise exceeded("paths", package=package, field=field)
    return tuple(_path_entry(item, package, field) for item in items)


def parse_legacy_files(files: str, has_prefix: str | None, package: str) -> tuple[PathEntry, ...]:
    """Entries from the legacy ``info/files`` (one path a line) and
    ``info/has_prefix`` (``placeholder mode path``, or a bare path meaning
    :data:`LEGACY_PLACEHOLDER` in text mode)."""
    prefixes: dict[str, tuple[str, str]] = {}
    for line in (has_prefix or "").splitlines():
        fields = line.strip().split()
        if not fields:
            continue
        if len(fields) == 1:
            prefixes[fields[0]] = (LEGACY_PLACEHOLDER, "text")
            continue
        if len(fields) < 3 or fields[1].strip('"') not in ("text", "binary"):
            raise invalid(package, "info/has_prefix", f"line {line.strip()[:100]!r} is not 'placeholder mode path'")
        placeholder = _placeholder(fields[0].strip('"'), package, "info/has_prefix")
        prefixes[" ".join(fields[2:]).strip('"')] = (placeholder or LEGACY_PLACEHOLDER, fields[1].strip('"'))
    lines = [line.strip() for line in files.splitlines() if line.strip()]
    if len(lines) > limit("paths"):
        raise exceeded("paths", package=package, field="info/files")
    entries = []
    for line in lines:
        path = checked(grammar.relative_path, line, package, "info/files")
        placeholder, mode = prefixes.get(path, (None, None))
        entries.append(PathEntry(path=path, prefix_placeholder=placeholder, file_mode=mode))
    return tuple(entries)


def _entry_point(group: str, spec_name: str, value: Any, package: str, field: str) -> EntryPoint:
    name = checked(lambda v: grammar.entry_point_name(v, group), spec_name.strip(), package, f"{field}: [{group}] name")
    reference = checked(grammar.object_reference, value, package, f"{field}: [{group}] {name}")
    return EntryPoint(group, name, reference)


def parse_link(doc: dict[str, Any], package: str, field: str = "info/link.json") -> tuple[EntryPoint, ...]:
    """The console scripts of ``info/link.json`` (CEP-4: ``noarch.entry_points``
    as ``"name = module:attr"`` strings)."""
    noarch = doc.get("noarch") or {}
    if not isinstance(noarch, dict):
        raise invalid(package, f"{field}: noarch", "not a JSON object")
    points = noarch.get("entry_points") or []
    if not isinstance(points, list) or not all(isinstance(p, str) for p in points):
        raise invalid(package, f"{field}: noarch.entry_points", "not a list of strings")
    result = []
    for spec in points:
        name, sep, value = spec.partition("=")
        if not sep:
            raise invalid(package, f"{field}: noarch.entry_points", f"{spec!r} is not 'name = module:attr'")
        result.append(_entry_point("console_scripts", name, value, package, f"{field}: noarch.entry_points"))
    return tuple(result)


def parse_entry_points_txt(text: str, package: str, field: str) -> tuple[EntryPoint, ...]:
    """The entry points of an ``entry_points.txt`` (INI form, entry points
    specification): group and name grammars (a name's rule depends on its
    group: :func:`press.grammar.entry_point_name`), object references; a
    value spanning lines is refused."""
    if len(text) > limit("text_size"):
        raise exceeded("text_size", package=package, field=field)
    if text.count("\n") > limit("entry_points"):
        raise exceeded("entry_points", package=package, field=field)
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise invalid(package, field, f"not an entry points file: {str(exc).splitlines()[0]}") from None
    result = []
    for section in parser.sections():
        group = checked(grammar.entry_point_group, section, package, f"{field}: [{section[:80]}]")
        for key, value in parser.items(section):
            result.append(_entry_point(group, key, value, package, field))
    return tuple(result)


def parse_core_metadata_name(data: bytes, package: str, field: str) -> str | None:
    """The ``Name`` header of a METADATA/PKG-INFO file (PEP 508 grammar), or
    None when it has none. Only the header block (up to the first empty
    line, at most the ``text_size`` limit) is read: a long description
    costs nothing."""
    head = re.split(rb"\r?\n\r?\n", data[: limit("text_size") + 1], maxsplit=1)
    if len(head) == 1 and len(data) > limit("text_size"):
        raise exceeded("text_size", package=package, field=field)
    headers = decode_text(head[0], package, field)
    found = re.search(r"(?im)^name:[ \t]*([^\r\n]*)\r?$", headers)
    if found is None:
        return None
    return checked(grammar.distribution_name, found.group(1).strip(), package, f"{field}: Name")


_UPSTREAM_TEXT = ("summary", "description_content_type", "home_page", "author", "author_email", "maintainer",
                  "maintainer_email", "license", "license_expression", "requires_python")


def _metadata_field_error(key: str, value: Any) -> str | None:
    """Why ``packaging`` refuses ``value`` for core-metadata field ``key``
    (checked alone, in a 2.4 document), or None."""
    from packaging.metadata import InvalidMetadata, Metadata

    try:
        Metadata.from_raw({"metadata_version": "2.4", "name": "x", "version": "0", key: value})  # type: ignore[misc]
    except (InvalidMetadata, ExceptionGroup) as exc:  # noqa: F821 - builtin on 3.11
        return "; ".join(str(e) for e in getattr(exc, "exceptions", [exc]))
    return None


def _needs_an_extra(markers: list[Any]) -> bool:
    """True when a parsed PEP 508 marker (``Marker._markers``) can only hold
    with an extra requested: every ``or`` branch has an ``extra == "..."``
    term in its ``and`` chain."""
    branches: list[list[Any]] = [[]]
    for item in markers:
        if item == "or":
            branches.append([])
        elif item != "and":
            branches[-1].append(item)

    def term(item: Any) -> bool:
        if isinstance(item, list):
            return _needs_an_extra(item)
        if isinstance(item, tuple) and len(item) == 3:
            left, op, right = item
            variables = [v for v in (left, right) if type(v).__name__ == "Variable"]
            return str(op) == "==" and len(variables) == 1 and variables[0].value == "extra"
        return False

    return all(any(term(item) for item in branch) for branch in branches)


def _unfold_description(text: str) -> str:
    """A description given as an old-style ``Description:`` header has its
    continuation lines indented by 8 spaces (or ``7 spaces + |``, as
    setuptools once wrote them); the body form has none. Remove that."""
    lines = text.split("\n")
    rest = [line for line in lines[1:] if line.strip()]
    for margin in ("       |", "        "):
        if rest and all(line.startswith(margin) for line in rest):
            return "\n".join([lines[0]] + [line[len(margin):] for line in lines[1:]])
    return text


#: Deepest parenthesis nesting of an upstream requirement's marker press parses
#: (real markers nest two or three deep; packaging's own limit and wording change
#: between its releases).
MAX_MARKER_DEPTH = 32


def _paren_depth(text: str) -> int:
    """The deepest parenthesis nesting in ``text``."""
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
    return deepest


def parse_core_metadata(data: bytes, package: str, field: str) -> tuple[str | None, UpstreamMetadata]:
    """A METADATA/PKG-INFO file: its ``Name`` (PEP 508 grammar, an error
    when invalid; None when absent) and the :class:`UpstreamMetadata` press
    carries into the wheel. Non-UTF-8 text is an error; a field that
    ``packaging`` refuses is dropped and named in ``dropped``."""
    from packaging.metadata import parse_email
    from packaging.requirements import InvalidRequirement, Requirement

    from .wheelread import check_header_fields

    name = parse_core_metadata_name(data, package, field)
    text = decode_text(data, package, field)
    check_header_fields(data, package, field)  # packaging's parser is quadratic in distinct field names
    raw, _unparsed = parse_email(text)
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key in _UPSTREAM_TEXT:
        value = raw.get(key)
        if isinstance(value, str) and value.strip():
            value = " ".join(value.split()) if key == "summary" else value.strip()
            reason = None if value.isprintable() else "holds control characters"
            reason = reason or _metadata_field_error(key, value)
            if key == "home_page" and not reason:
                try:
                    grammar.http_url(value)
                except ValueError as exc:
                    reason = str(exc)
            if reason:
                dropped.append(f"{key}: {reason}")
            else:
                kept[key] = value
    description = raw.get("description")
    if isinstance(description, str) and description.strip():
        kept["description"] = _unfold_description(description)
    for key in ("keywords", "classifiers"):
        values = [v.strip() for v in cast("list[object]", raw.get(key) or [])
                  if isinstance(v, str) and v.strip() and v.isprintable()]
        kept[key] = tuple(dict.fromkeys(values))
    urls = []
    for label, url in (raw.get("project_urls") or {}).items():
        try:
            if not 0 < len(label) <= 32 or not label.isprintable():
                raise ValueError(f"label {label!r} is not 1 to 32 printable characters")
            urls.append((label, grammar.http_url(url)))
        except ValueError as exc:
            dropped.append(f"project_urls: {exc}")
    kept["project_urls"] = tuple(urls)
    requires, extras = [], []
    for text_requirement in raw.get("requires_dist") or []:
        if _paren_depth(text_requirement) > MAX_MARKER_DEPTH:  # press's own bound, whatever packaging's is
            dropped.append("requires_dist: a marker nested too deeply")
            continue
        try:
            requirement = Requirement(text_requirement)
            needs_extra = requirement.marker is not None and _needs_an_extra(requirement.marker._markers)
        except InvalidRequirement as exc:
            dropped.append(f"requires_dist: {exc}")
            continue
        except RecursionError:  # a marker nested thousands deep
            dropped.append("requires_dist: a marker nested too deeply")
            continue
        if requirement.url:  # PEP 508 direct reference: never in a wheel an index serves (PEP 440, PyPI)
            dropped.append(f"requires_dist: {requirement.name} @ <URL> is a direct URL reference")
            continue
        if needs_extra:
            requires.append(str(requirement))
    for extra in raw.get("provides_extra") or []:
        try:
            from packaging.utils import canonicalize_name

            extras.append(canonicalize_name(grammar.distribution_name(extra), validate=True))
        except Exception:
            dropped.append(f"provides_extra: {extra!r} is not a valid extra name")
    kept["requires_dist"] = tuple(dict.fromkeys(requires))
    kept["provides_extra"] = tuple(dict.fromkeys(extras))
    return name, UpstreamMetadata(**kept, dropped=tuple(dropped))


def load_yaml(text: str, package: str, field: str) -> Any:
    """A YAML document (libyaml's safe loader when present) of at most the
    ``text_size`` limit and ``yaml_aliases`` aliases, counted on the parser's
    events before anything is built (alias expansion attacks); None when it
    does not parse (rendered recipes may still hold template syntax)."""
    import yaml

    if len(text) > limit("text_size"):
        raise exceeded("text_size", package=package, field=field)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=loader))
        if aliases > limit("yaml_aliases"):
            raise exceeded("yaml_aliases", package=package, field=field)
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except RecursionError:
        raise invalid(package, field, "YAML nested too deeply") from None
    except yaml.YAMLError:
        return None


def _empty(value: Any) -> bool:
    """True for a recipe list left empty: absent (None) or, as conda-build 2.x
    rendered it, the empty string (``requires: ''``); both mean no entries."""
    return value is None or value == ""


def _module_list(value: Any, package: str, field: str) -> list[str]:
    if _empty(value):
        return []
    if not isinstance(value, list):
        raise invalid(package, field, "not a list of module names")
    return [checked(grammar.module_name, v, package, field) for v in value]


def parse_recipe_tests(meta_yaml: str | None, tests_yaml: str | None, run_test: str | None, package: str,
                       meta_field: str = "info/recipe/meta.yaml") -> tuple[str, ...]:
    """Import names from the recipe's tests: meta.yaml ``test.imports``
    (conda-build), else ``info/tests/tests.yaml`` ``python.imports``
    (rattler-build), else the ``import X`` lines conda-build writes into
    ``info/test/run_test.py``. Each is a dotted module name (validation runs
    ``import <name>``); an empty value (absent, or conda-build 2.x's ``''``)
    is an empty list."""
    imports: list[str] = []
    if meta_yaml is not None:
        doc = load_yaml(meta_yaml, package, meta_field)
        test = doc.get("test") if isinstance(doc, dict) else None
        if test is not None and not isinstance(test, dict):
            raise invalid(package, f"{meta_field}: test", "not a mapping")
        if isinstance(test, dict):
            imports = _module_list(test.get("imports"), package, f"{meta_field}: test.imports")
    if not imports and tests_yaml is not None:
        doc = load_yaml(tests_yaml, package, "info/tests/tests.yaml")
        if doc is not None and not isinstance(doc, list):
            raise invalid(package, "info/tests/tests.yaml", "not a list of tests")
        for test in doc or []:
            python = test.get("python") if isinstance(test, dict) else None
            if python is not None and not isinstance(python, dict):
                raise invalid(package, "info/tests/tests.yaml: python", "not a mapping")
            if python:
                imports += _module_list(python.get("imports"), package, "info/tests/tests.yaml: python.imports")
    if not imports and run_test is not None:
        found = re.findall(r"^import ([A-Za-z0-9_.]+)\s*$", run_test, re.M)
        imports = [name for name in found if _is_module(name)]
    return tuple(dict.fromkeys(imports))


#: Test requirements validation never installs: the interpreter is the
#: target's, and ``pip`` only serves conda-build's ``pip check``.
_NOT_INSTALLED = {"python", "python_abi", "pip"}
#: Most test requirements of one recipe that validation considers.
MAX_TEST_REQUIRES = 64
#: A MatchSpec of a name and optional version and build, no channel, URL,
#: path or bracket options: ``matplotlib``, ``pytest >=7``, ``numpy 1.26.* py312*``.
_PLAIN_SPEC = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.\-]*)(?:[ \t]*[=<>!~][^\[\]:/\\]*|[ \t]+[^\[\]:/\\]+)?\Z", re.ASCII)


def parse_test_requires(meta_yaml: str | None, package: str, meta_field: str = "info/recipe/meta.yaml"
                        ) -> tuple[str, ...]:
    """The recipe's test requirements (meta.yaml ``test.requires``, MatchSpec
    strings), without ``python``, ``python_abi`` and ``pip``; each checked
    with the MatchSpec grammar. Only plain specs (name, version, build) are
    kept, at most :data:`MAX_TEST_REQUIRES`: one naming a channel, URL or
    path would make validation fetch from outside the conversion's channels,
    so it is left out. An empty value (absent, or conda-build 2.x's
    ``requires: ''``) is an empty list. Raises
    :class:`~press.errors.InvalidInputError` for any other value that is not
    a list of MatchSpecs."""
    if meta_yaml is None:
        return ()
    doc = load_yaml(meta_yaml, package, meta_field)
    test = doc.get("test") if isinstance(doc, dict) else None
    requires = test.get("requires") if isinstance(test, dict) else None
    if _empty(requires):
        return ()
    field = f"{meta_field}: test.requires"
    if not isinstance(requires, list):
        raise invalid(package, field, "not a list of MatchSpecs")
    specs = [checked(grammar.match_spec, value, package, field) for value in requires]
    plain = [found for found in map(_PLAIN_SPEC.match, specs) if found is not None]
    kept = [m.group(0) for m in plain if m.group(1).lower() not in _NOT_INSTALLED]
    return tuple(dict.fromkeys(kept))[:MAX_TEST_REQUIRES]


def _is_module(name: str) -> bool:
    try:
        grammar.module_name(name)
    except ValueError:
        return False
    return True
