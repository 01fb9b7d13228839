"""Lock files as input (``press --file``): read a locked environment into
typed, validated records; which of them press converts.

Three formats:

- ``@EXPLICIT`` files (``conda list --explicit --md5`` or ``--sha256``, CEP 23):
  ``@EXPLICIT``, then one artifact URL per line with its hash as the fragment
  (``#<md5>``, ``#<sha256>``, ``#md5=``/``#sha256=`` or ``#md5:``/``#sha256:``);
  ``#`` comments (``# platform: linux-64``) and ``@PLATFORM <subdir>``. They
  name no dependencies: press reads them from the artifacts. Read here, not by
  py-rattler's ``ExplicitEnvironmentSpec``, because that one resolves ``..``
  segments away (``https://h/a/../b/x.conda`` reads as ``https://h/b/x.conda``)
  and keeps no line numbers, so a hostile line could not be refused as such.
- conda-lock's unified ``conda-lock.yml`` (``version: 1``): a ``package:`` list
  of ``{name, version, manager, platform, url, hash: {md5, sha256},
  dependencies, category, optional}``; ``manager: pip`` entries and optional
  (``dev``) ones are left out with a note; ``dependencies`` (names and version
  ranges, no build strings) decide only which records are the interpreter's
  (:func:`interpreter_only`), the wheels' requirements come from the artifacts.
  No maintained parser of it exists outside conda-lock itself (which pulls in
  pydantic, GitPython and a solver): read with PyYAML's safe loader, then
  checked field by field.
- ``pixi.lock``: read with py-rattler's ``LockFile`` (every pixi format
  version); its records are repodata records, whose ``depends`` replace the
  archives' as in spec mode. Its raw URLs are checked first, as above.

Every value is checked at this boundary (names, versions and build strings of
conda's grammar, the URL's file name agreeing with them, hashes hex of the
right length, http(s) URLs without ``..``) and a problem is one
:class:`LockFileError` naming the lock file and the line or entry. Sizes are
bounded by the ``lock_size`` and ``lock_entries`` limits (:mod:`press.limits`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import unquote, urlsplit

from . import grammar
from .errors import PressError
from .files import open_regular
from .limits import exceeded, limit
from .matchspec import is_plumbing, spec_name

#: The interpreter's record name: a wheel's environment provides it.
INTERPRETER = "python"

_FRAGMENT = re.compile(r"^(?:(?P<kind>md5|sha256)[=:])?(?P<hex>[0-9a-fA-F]+)\Z")


class LockFileError(PressError):
    """A lock file is unreadable, malformed, or names something press refuses
    (a ``file://`` or non-http URL, a ``..`` segment, a file name that is not
    a conda artifact's, a hash of the wrong length); ``package`` is the lock
    file, ``field`` the line or entry."""


@dataclass(frozen=True)
class LockedPackage:
    """One locked conda artifact: ``name``, ``version``, ``build`` and
    ``file_name`` (``<name>-<version>-<build>.conda|.tar.bz2``, agreeing with
    the URL's last segment); ``url`` (http(s)); ``channel``: the URL up to
    ``/<subdir>/<file name>``; ``subdir``: the URL's segment before the file
    name; ``md5``/``sha256``: lower-case hex or None (at least one is set);
    ``depends``: MatchSpecs that replace the archive's own (pixi's repodata
    records), None to use the archive's; ``dependency_names``: the conda names
    it depends on per the lock (None: the lock does not say, read the
    archive); ``where``: the line or entry, for messages; ``size``: bytes,
    when the lock says."""

    name: str
    version: str
    build: str
    file_name: str
    url: str
    channel: str
    subdir: str
    md5: str | None
    sha256: str | None
    depends: tuple[str, ...] | None
    dependency_names: tuple[str, ...] | None
    where: str
    #: bytes, when the lock says (pixi): a download is cut there
    size: int | None = None


@dataclass(frozen=True)
class LockedEnvironment:
    """A lock file read for one platform: ``source`` (the path as given, for
    messages), ``format`` (``explicit``, ``conda-lock`` or ``pixi``),
    ``subdir``, ``packages`` (file order, one per name) and ``skipped``:
    ``(entry, reason)`` of what the lock holds that press does not convert
    (pip packages, optional categories)."""

    source: str
    format: str
    subdir: str
    packages: tuple[LockedPackage, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def python_version(self) -> str | None:
        """``X.Y`` of the locked interpreter (``python``), else of
        ``python_abi``; None when the lock holds neither."""
        for wanted in (INTERPRETER, "python_abi"):
            for package in self.packages:
                if package.name == wanted:
                    match = re.match(r"(\d+)\.(\d+)", package.version)
                    if match:
                        return f"{match.group(1)}.{match.group(2)}"
        return None


def read_lock(path: Path, subdir: str, environment: str = "default") -> LockedEnvironment:
    """Read the lock file ``path`` for conda subdir ``subdir`` (and, in a
    pixi lock, ``environment``), recognised by its content: ``@EXPLICIT``,
    YAML with ``version: 1`` and a ``package:`` list (conda-lock), or YAML
    with ``environments:`` (pixi). Raises :class:`LockFileError` for a file
    that is none of them, a platform or environment it does not hold, no
    conda package for ``subdir``, or any entry that fails its check; :class:`~press.errors.LimitError` beyond the
    ``lock_size`` or ``lock_entries`` limit."""
    source = str(path)
    try:
        with open_regular(Path(path), follow_symlinks=True) as handle:
            data = handle.read(limit("lock_size") + 1)
    except OSError as exc:
        raise LockFileError(f"cannot read it: {exc.strerror or exc}", package=source) from None
    if len(data) > limit("lock_size"):
        raise exceeded("lock_size", package=source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LockFileError(f"not UTF-8 text (byte {exc.start})", package=source) from None
    meaningful = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if meaningful and meaningful[0] == "@EXPLICIT":
        found = _read_explicit(text, source, subdir)
    else:
        doc = _load_yaml(text, source)
        if isinstance(doc, dict) and doc.get("version") == 1 and isinstance(doc.get("package"), list):
            found = _read_conda_lock(doc, source, subdir)
        elif isinstance(doc, dict) and isinstance(doc.get("environments"), dict):
            found = _read_pixi(doc, Path(path), source, subdir, environment)
        else:
            raise LockFileError("not a lock file press reads: an @EXPLICIT file (conda list --explicit), "
                                "conda-lock.yml (version 1) or pixi.lock", package=source)
    if not found.packages:  # a run that writes nothing must not look like success
        skipped = f" ({len(found.skipped)} entries it holds are not conda packages press converts)" \
            if found.skipped else ""
        raise LockFileError(f"no conda package for {subdir}{skipped}", package=source)
    return found


def check_url(url: object, source: str, where: str) -> tuple[str, str, str, str, str, str]:
    """Check a locked artifact URL: an ``http(s)://`` URL with a host, at most
    2048 characters, no whitespace, control characters or backslashes, no
    ``.`` or ``..`` path segment (also percent-encoded), ending in
    ``<channel>/<subdir>/<name>-<version>-<build>.conda|.tar.bz2`` (conda's
    grammars, :mod:`press.grammar`). Returns ``(url, channel, subdir, name,
    version, build)``; raises :class:`LockFileError` naming ``source`` and
    ``where``."""
    def refuse(reason: str) -> LockFileError:
        shown = re.sub(r"//[^/@]*@", "//***@", url[:200]) if isinstance(url, str) else repr(url)[:200]
        return LockFileError(f"{shown!r}: {reason}", package=source, field=where)

    if not isinstance(url, str) or not url:
        raise refuse("not a URL")
    if len(url) > 2048 or re.search(r"[\s\x00-\x1f\x7f\\]", url):
        raise refuse("not a URL press accepts (over 2048 characters, or whitespace, control characters or "
                     "backslashes)")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises for a port that is not a number below 65536
    except ValueError as exc:
        raise refuse(f"not a URL ({exc})") from None
    if parts.username is not None or parts.password is not None:
        raise refuse("credentials in the URL (give them to the channel's server another way)")
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"a {parts.scheme}:// URL" if parts.scheme else "not an absolute URL"
        raise refuse(f"{scheme}: press fetches locked artifacts over http(s) only (a local copy is found by file "
                     f"name in a -c channel directory)")
    if not host:
        raise refuse("no host")
    segments = unquote(parts.path).split("/")
    if any(s in (".", "..") for s in segments) or any(s in (".", "..") for s in parts.path.split("/")):
        raise refuse("a '.' or '..' path segment")
    if parts.query:
        raise refuse("a query string")
    if len(segments) < 3 or not segments[-1]:
        raise refuse("not <channel>/<subdir>/<artifact file name>")
    if "%" in parts.path.rsplit("/", 1)[-1]:
        raise refuse("a percent-encoded file name (conda artifact names need none)")
    file_name, sub = segments[-1], segments[-2]
    try:
        grammar.archive_file_name(file_name)
        grammar.subdir(sub)
        stem = file_name[:-len(".conda")] if file_name.endswith(".conda") else file_name[:-len(".tar.bz2")]
        if stem.count("-") < 2:
            raise ValueError(f"{file_name!r} has no <version>-<build>")
        name, version, build = stem.rsplit("-", 2)
        grammar.conda_name(name)
        grammar.conda_version(version)
        grammar.build_string(build)
    except ValueError as exc:
        raise refuse(f"the last segment is not a conda artifact file name <name>-<version>-<build>.conda|.tar.bz2 "
                     f"({exc})") from None
    channel = url.split("#", 1)[0].rsplit("/", 2)[0]
    return url.split("#", 1)[0], channel, sub, name, version, build


def _hex(value: object, kind: str, source: str, where: str) -> str:
    check = grammar.md5_hex if kind == "md5" else grammar.sha256_hex
    try:
        return check(value)
    except ValueError as exc:
        raise LockFileError(str(exc), package=source, field=f"{where}: {kind}") from None


def _read_explicit(text: str, source: str, subdir: str) -> LockedEnvironment:
    """An ``@EXPLICIT`` file (see the module's description)."""
    packages: dict[str, LockedPackage] = {}
    seen_explicit = False
    for number, raw in enumerate(text.splitlines(), 1):
        line, where = raw.strip(), f"line {number}"
        if not line:
            continue
        if line.startswith("#"):
            declared = re.match(r"#\s*platform:\s*(\S+)\s*\Z", line)
            if declared:
                _check_platform(declared.group(1), subdir, source, where)
            continue
        if line == "@EXPLICIT":
            seen_explicit = True
            continue
        if line.startswith("@PLATFORM"):
            _check_platform(line[len("@PLATFORM"):].strip(), subdir, source, where)
            continue
        if line.startswith("@") or not seen_explicit:
            raise LockFileError(f"{line[:100]!r} is not an artifact URL or comment", package=source, field=where)
        url, _, fragment = line.partition("#")
        md5 = sha256 = None
        if fragment:
            match = _FRAGMENT.match(fragment)
            digits = match.group("hex") if match else ""
            kind = (match.group("kind") if match else None) or {32: "md5", 64: "sha256"}.get(len(digits))
            if kind is None:
                raise LockFileError(f"{fragment[:100]!r} is not an md5 or sha256 hash (#<md5>, #sha256=<hex>)",
                                    package=source, field=where)
            if kind == "md5":
                md5 = _hex(digits, "md5", source, where)
            else:
                sha256 = _hex(digits, "sha256", source, where)
        _add(packages, _package(url, md5, sha256, None, None, source, where, subdir), source)
    if not seen_explicit:
        raise LockFileError("no @EXPLICIT line", package=source)
    return LockedEnvironment(source, "explicit", subdir, tuple(packages.values()))


def _read_conda_lock(doc: dict[str, Any], source: str, subdir: str) -> LockedEnvironment:
    """conda-lock's unified format, version 1 (see the module's description)."""
    entries = doc["package"]
    if len(entries) > limit("lock_entries"):
        raise exceeded("lock_entries", package=source, found=f"{len(entries)} entries")
    platforms = sorted({_short(e.get("platform")) for e in entries if isinstance(e, dict)})
    packages: dict[str, LockedPackage] = {}
    skipped: list[tuple[str, str]] = []
    for index, entry in enumerate(entries, 1):
        where = f"package {index}"
        if not isinstance(entry, dict):
            raise LockFileError("not a mapping", package=source, field=where)
        name, version = _short(entry.get("name")), _short(entry.get("version"))
        where = f"package {index} ({name})"
        if entry.get("platform") != subdir:
            continue
        manager = entry.get("manager")
        if manager == "pip":
            skipped.append((f"{name} {version}",
                            "a pip package of the lock (manager: pip): press converts conda packages only"))
            continue
        if manager != "conda":
            raise LockFileError(f"manager {_short(manager)!r} is neither conda nor pip", package=source, field=where)
        if entry.get("optional") is True:
            skipped.append((f"{name} {version}", f"in the optional category {_short(entry.get('category'))!r} "
                            "(conda-lock install leaves it out by default)"))
            continue
        hashes = entry.get("hash")
        if not isinstance(hashes, dict) or all(hashes.get(k) is None for k in ("md5", "sha256")):
            raise LockFileError("no hash: {md5, sha256}", package=source, field=where)
        md5 = _hex(hashes["md5"], "md5", source, where) if hashes.get("md5") is not None else None
        sha256 = _hex(hashes["sha256"], "sha256", source, where) if hashes.get("sha256") is not None else None
        dependencies = entry.get("dependencies") or {}
        if not isinstance(dependencies, dict) or not all(isinstance(v, str) and len(v) <= 1024 or v is None
                                                         for v in dependencies.values()):
            raise LockFileError("dependencies is not a mapping of name to version", package=source, field=where)
        names = tuple(_conda_name(d, source, f"{where}: dependencies") for d in dependencies)
        package = _package(entry.get("url"), md5, sha256, None, names, source, where, subdir)
        for key, value in (("name", package.name), ("version", package.version)):
            if entry.get(key) != value:
                raise LockFileError(f"{key} {_short(entry.get(key))!r} is not the URL's ({value!r})",
                                    package=source, field=where)
        _add(packages, package, source)
    if not packages and not skipped:
        raise LockFileError(f"no package for {subdir}; the lock file has {', '.join(platforms) or 'none'} "
                            f"(choose with --subdir)", package=source)
    return LockedEnvironment(source, "conda-lock", subdir, tuple(packages.values()), tuple(skipped))


def _read_pixi(doc: dict[str, Any], path: Path, source: str, subdir: str, environment: str) -> LockedEnvironment:
    """A pixi lock file: its raw URLs checked, then read with py-rattler."""
    from rattler import LockFile, LockPlatform, PypiLockedPackage

    raw = doc.get("packages")
    if not isinstance(raw, list):
        raise LockFileError("no packages list", package=source)
    if len(raw) > limit("lock_entries"):
        raise exceeded("lock_entries", package=source, found=f"{len(raw)} entries")
    for index, entry in enumerate(raw, 1):  # before rattler, which resolves '..' segments away
        if isinstance(entry, dict):
            url = entry.get("conda") if "conda" in entry else entry.get("url") if entry.get("kind") == "conda" else None
            if url is not None:
                check_url(url, source, f"package {index}")
    try:
        lock = LockFile.from_path(path)
    except Exception as exc:  # rattler's parse errors share no base class
        raise LockFileError(f"not a pixi lock file py-rattler reads: {' '.join(str(exc).split())[:300]}",
                            package=source) from None
    env = lock.environment(environment)
    if env is None:
        held = ", ".join(sorted(n for n, _ in lock.environments()))
        raise LockFileError(f"no environment {environment!r}; it has {held or 'none'} (choose with --environment)",
                            package=source)
    platforms = {p.name: p for p in env.platforms()}
    if subdir not in platforms:
        raise LockFileError(f"environment {environment!r} has no {subdir} packages; it has "
                            f"{', '.join(sorted(platforms)) or 'none'} (choose with --subdir)", package=source)
    platform: LockPlatform = platforms[subdir]
    try:
        records = env.conda_repodata_records_for_platform(platform) or []
    except Exception as exc:
        raise LockFileError(f"its records do not read: {' '.join(str(exc).split())[:300]}", package=source) from None
    skipped = [(f"{p.name} {p.version}", "a PyPI package of the lock: press converts conda packages only")
               for p in env.packages(platform) or [] if isinstance(p, PypiLockedPackage)]
    packages: dict[str, LockedPackage] = {}
    for index, record in enumerate(records, 1):
        where = f"{environment} {subdir} package {index} ({record.name.normalized})"
        md5 = _hex(_hexed(record.md5), "md5", source, where) if record.md5 else None
        sha256 = _hex(_hexed(record.sha256), "sha256", source, where) if record.sha256 else None
        depends = tuple(str(d) for d in record.depends)
        for spec in depends:
            try:
                grammar.match_spec(spec)
            except ValueError as exc:
                raise LockFileError(str(exc), package=source, field=f"{where}: depends") from None
        names = tuple(spec_name(spec) for spec in depends)
        package = _package(str(record.url), md5, sha256, depends, names, source, where, subdir,
                           record.size if isinstance(record.size, int) and record.size >= 0 else None)
        if (record.name.normalized, str(record.version), str(record.build)) != (package.name, package.version,
                                                                           package.build):
            raise LockFileError(f"its record ({record.name.normalized} {record.version} {record.build}) is not the "
                                f"URL's", package=source, field=where)
        _add(packages, package, source)
    return LockedEnvironment(source, "pixi", subdir, tuple(packages.values()), tuple(skipped))


def _short(value: object) -> str:
    """A lock file's value for a message: printable text of at most 100
    characters (a non-string is named by its type, never converted: str() of
    shared YAML structure expands without bound)."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return f"<{type(value).__name__}>"
    text = str(value) if not isinstance(value, int) or abs(value) < 10**100 else "<int>"
    text = "".join(c if c.isprintable() else "?" for c in text[:100])
    return text + ("..." if len(str(value)) > 100 else "") if isinstance(value, str) else text


def _hexed(value: object) -> str:
    return value.hex() if isinstance(value, (bytes, bytearray)) else str(value)


def _conda_name(value: object, source: str, where: str) -> str:
    try:
        return grammar.conda_name(value)
    except ValueError as exc:
        raise LockFileError(str(exc), package=source, field=where) from None


def _check_platform(declared: str, subdir: str, source: str, where: str) -> None:
    if declared != subdir:
        raise LockFileError(f"the lock file is for {declared[:50]}, not {subdir}: use --subdir {declared[:50]}",
                            package=source, field=where)


def _package(url: object, md5: str | None, sha256: str | None, depends: tuple[str, ...] | None,
             names: tuple[str, ...] | None, source: str, where: str, subdir: str,
             size: int | None = None) -> LockedPackage:
    clean, channel, sub, name, version, build = check_url(url, source, where)
    if sub not in (subdir, "noarch"):
        raise LockFileError(f"{clean[:200]!r} is a {sub} artifact, not {subdir} or noarch", package=source, field=where)
    if md5 is None and sha256 is None:
        raise LockFileError("no md5 or sha256 hash: press converts only artifacts it can check", package=source,
                            field=where)
    return LockedPackage(name, version, build, clean.rsplit("/", 1)[1], clean, channel, sub, md5, sha256, depends,
                         names, where, size)


def _add(packages: dict[str, LockedPackage], package: LockedPackage, source: str) -> None:
    """Add ``package`` (by name, in file order): within the ``lock_entries``
    limit, one record per name."""
    if len(packages) >= limit("lock_entries"):
        raise exceeded("lock_entries", package=source, field=package.where)
    other = packages.get(package.name)
    if other is not None:
        raise LockFileError(f"{package.name} is locked twice (also at {other.where})", package=source,
                            field=package.where)
    packages[package.name] = package


def _load_yaml(text: str, source: str) -> Any:
    """A YAML document with PyYAML's safe loader (libyaml's when present),
    with at most the ``yaml_aliases`` limit of aliases, counted on the
    parser's events before anything is built."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        aliases = 0
        collections: set[str] = set()  # anchors of mappings and sequences
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)) and event.anchor:
                collections.add(event.anchor)
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if event.anchor in collections:  # shared structure: str() of it expands without bound
                    raise LockFileError("an alias of a mapping or sequence (a lock file needs none)", package=source)
        if aliases > limit("yaml_aliases"):
            raise exceeded("yaml_aliases", package=source)
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except RecursionError:
        raise LockFileError("YAML nested too deeply", package=source) from None
    except (ValueError, OverflowError) as exc:  # a scalar the loader cannot convert (a date, a 5000-digit int)
        raise LockFileError(f"not YAML press reads: {' '.join(str(exc).split())[:200]}", package=source) from None
    except yaml.YAMLError as exc:
        raise LockFileError(f"not an @EXPLICIT file and not YAML: {' '.join(str(exc).split())[:200]}",
                            package=source) from None


def interpreter_only(packages: Iterable[LockedPackage],
                     depends_of: Callable[[LockedPackage], Iterable[str]]) -> tuple[set[str], set[str]]:
    """Which locked records press converts, and which are the interpreter's.

    A wheel is installed into an environment that has its interpreter, so, as
    in spec mode (where ``python`` is a virtual package and its own
    dependencies never enter the solve), ``python`` and what only it needs
    (openssl, sqlite, tk, ncurses, readline, xz, bzip2, tzdata... when nothing
    else in the lock needs them) are left out. ``depends_of`` gives a
    record's dependency names. Returns ``(needed, left_out)``: the names of
    the records reached from every record that is neither the interpreter's
    nor conda plumbing (:func:`press.matchspec.is_plumbing`), never through
    ``python`` (plumbing such as ``python_abi`` included, as a solve has it);
    and the names of the interpreter's records left out."""
    by_name: Mapping[str, LockedPackage] = {p.name: p for p in packages}

    def reach(start: Iterable[str]) -> set[str]:
        found: set[str] = set()
        todo = [n for n in start if n in by_name]
        while todo:
            name = todo.pop()
            if name in found or name == INTERPRETER:
                continue
            found.add(name)
            todo += [d for d in depends_of(by_name[name]) if d in by_name and d not in found]
        return found

    interpreter: set[str] = set()
    if INTERPRETER in by_name:
        interpreter = {INTERPRETER} | reach(depends_of(by_name[INTERPRETER]))
    roots = [n for n in by_name if n not in interpreter and not is_plumbing(n)]
    needed = reach(roots)
    left_out = {n for n in interpreter if n not in needed}
    return needed, left_out


def roots(needed: Iterable[str], packages: Iterable[LockedPackage],
          depends_of: Callable[[LockedPackage], Iterable[str]]) -> set[str]:
    """The names among ``needed`` that no other needed record depends on
    (what the environment was asked for), plumbing left out."""
    needed = set(needed)
    wanted = {d for p in packages if p.name in needed for d in depends_of(p) if d != p.name}
    return {n for n in needed if n not in wanted and not is_plumbing(n)}


@dataclass(frozen=True)
class _Download:
    """What :func:`press.fetch.fetch` reads of a record, for a locked URL."""

    url: str
    file_name: str
    sha256: str | None
    md5: str | None
    size: int | None = None
    channel: str = ""


def mirror_copy(package: LockedPackage, channels: Iterable[str]) -> tuple[Path, str] | None:
    """The first local directory channel of ``channels`` (a path or
    ``file://`` URL, as ``-c`` gives them) holding ``<subdir>/<file name>``
    of ``package`` as a regular file (neither it nor the subdir folder a
    symbolic link: a link there could name any file of the machine) of at
    most the locked size, else the ``download_size`` limit: ``(path, channel
    as given)``; None when none does (channel names and remote URLs are not
    searched)."""
    import stat
    from urllib.request import url2pathname

    from .files import Directory

    bound = package.size if package.size is not None else limit("download_size")
    for channel in channels:
        if channel.startswith("file://"):
            root = Path(url2pathname(urlsplit(channel).path))
        elif "://" in channel:
            continue
        else:
            root = Path(channel).expanduser()
        try:
            with Directory.open(root) as directory, directory.sub(package.subdir) as subdir:
                found = subdir.lstat(package.file_name)
        except (OSError, PressError):
            continue
        if found is not None and stat.S_ISREG(found.st_mode) and found.st_size <= bound:
            return root / package.subdir / package.file_name, channel
    return None


def fetch_locked(package: LockedPackage, channels: Iterable[str], cache_dir: Path,
                 progress: Callable[[str], None]) -> tuple[Path, str, str]:
    """A local file holding the artifact of ``package``: found by file name
    in a local ``-c`` channel directory (:func:`mirror_copy`), else
    downloaded from its locked URL into the cache (:func:`press.fetch.fetch`,
    which reuses a cached copy only when its hash matches). Either way the
    file is checked against every hash the lock gives. Returns ``(path, its
    sha256, the channel it counts as from)``: the ``-c`` channel as given,
    else the URL's channel. Raises :class:`~press.errors.FetchError` with
    ``package`` the file name and ``field`` ``md5`` or ``sha256`` on a
    mismatch, or when the download fails."""
    import hashlib

    from .errors import FetchError
    from .fetch import fetch

    found = mirror_copy(package, channels)
    if found is not None:
        path, channel = found
    else:
        notes: list[str] = []
        try:
            path, _ = fetch(_Download(package.url, package.file_name, package.sha256, package.md5, package.size),
                            cache_dir, notes)
        except FetchError as exc:
            kind = "sha256" if "sha256 does not match" in exc.reason else "md5" if "md5 does not match" in exc.reason \
                else None
            if kind is None:
                raise
            raise FetchError(f"the download from {package.url} does not match the locked {kind} ({package.where})",
                             package=package.file_name, field=kind) from None
        for note in notes:
            progress(note)
        channel = package.channel
    digests = {"md5": hashlib.md5(usedforsecurity=False), "sha256": hashlib.sha256()}
    with open_regular(path) as handle:  # a link put there since mirror_copy looked is not followed
        for block in iter(lambda: handle.read(1 << 20), b""):
            for digest in digests.values():
                digest.update(block)
    for kind, expected in (("sha256", package.sha256), ("md5", package.md5)):
        actual = digests[kind].hexdigest()
        if expected is not None and actual != expected:
            raise FetchError(f"{path} has {actual}, the lock file says {expected} ({package.where})",
                             package=package.file_name, field=kind)
    return path, digests["sha256"].hexdigest(), channel

