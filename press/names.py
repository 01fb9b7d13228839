"""Distribution names for conda packages: one rule in every mode.

A conda package becomes a wheel, and a conda dependency a ``Requires-Dist``,
under a core-metadata ``Name``. Thin, fat, single-artifact and batch
conversions all call :class:`Names`, so one artifact always gets one name,
and every requirement on it uses that name. The rule (``docs/metadata.md``):

1. The package's own ``*.dist-info``/``*.egg-info`` ``Name``, when press has
   the artifact (parselmouth derives the mapping below the same way).
2. Otherwise the conda-forge -> PyPI mapping (:class:`NameMapping`: the
   shipped parselmouth data, a refreshed copy in the cache, then the user's
   ``--name-mapping`` overrides). A package that provides several
   distributions is named by the one matching its conda name without a
   ``python``/``py`` affix (``msgpack-python`` -> ``msgpack``), else the one
   equal to its conda name, else the first.
3. A package with no Python distribution (``null`` in the mapping, or
   unmapped and without site-packages) is *native*: its name is
   ``<native prefix><conda name>``, the prefix derived from its channel
   (``conda-forge-libffi``, ``anaconda-openssl``; ``--native-prefix``
   overrides), in the spirit of NVIDIA's ``nvidia-*`` runtime wheels and the
   pynativelib proposal, so it can never take a bare name an unrelated PyPI
   project owns.
4. An *alias* (no dist-info of its own, and a dependency of the same name:
   the same normalised conda name, ``typing-extensions`` ->
   ``typing_extensions``, or the same mapped distribution, ``matplotlib`` ->
   ``matplotlib-base``) gets no wheel; a requirement on it becomes
   requirements on what it depends on, the one on the package it stands for
   with the requirement's own version range (the two share their version).
"""

from __future__ import annotations

import functools
import os
import gzip
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

from packaging.utils import canonicalize_name

from . import grammar
from .errors import ConflictError, PressError
from .matchspec import is_plumbing, spec_name
from .owners import reserved_distribution

#: Where upstream publishes the mapping (prefix-dev/parselmouth, BSD-3-Clause).
MAPPING_URL = ("https://raw.githubusercontent.com/prefix-dev/parselmouth/main/files/v0/conda-forge/"
               "compressed_mapping.json")
#: The shipped copy, inside the package.
SHIPPED = "conda-forge-pypi-mapping.json.gz"
#: The refreshed copy, under the cache directory.
REFRESHED = Path("name-mapping") / "conda-forge-pypi-mapping.json"

_PYTHON_AFFIX = re.compile(r"^(python-|py-)|(-python|-py)$")
#: Channel names whose packages Anaconda builds (``defaults`` and ``pkgs/*``).
_ANACONDA = {"defaults", "main", "free", "r", "msys2", "anaconda"}


@dataclass(frozen=True)
class NameMapping:
    """conda name -> the distribution names it provides (a tuple, possibly of
    several) or ``None`` (no Python distribution). ``sources`` says which
    files were merged, later ones overriding earlier ones."""

    entries: Mapping[str, tuple[str, ...] | None]
    sources: tuple[str, ...] = ()

    def knows(self, conda_name: str) -> bool:
        return conda_name in self.entries

    def get(self, conda_name: str) -> tuple[str, ...] | None:
        """The mapped names; ``None`` for a ``null`` entry or an unknown name
        (tell them apart with :meth:`knows`)."""
        return self.entries.get(conda_name)


def parse_mapping(data: bytes, source: str, *, strict: bool) -> dict[str, tuple[str, ...] | None]:
    """Parse a mapping document (JSON object: conda name -> list of
    distribution names, or ``null``; parselmouth's ``compressed_mapping.json``
    format). ``strict`` (a user's file): any bad entry is an error naming it;
    otherwise (the shipped or a downloaded copy) bad entries are skipped.
    Raises :class:`~press.errors.InvalidInputError`."""
    from .package import invalid, load_json

    document = load_json(data, source, "name mapping")
    result: dict[str, tuple[str, ...] | None] = {}
    conda_ok, name_ok = grammar.CONDA_NAME.match, grammar.DISTRIBUTION_NAME.match
    for key, value in document.items():
        if value is None and conda_ok(key):
            result[key] = None
            continue
        if (conda_ok(key) and isinstance(value, list) and value
                and all(isinstance(v, str) and name_ok(v) for v in value)):
            result[key] = tuple(value)
            continue
        if strict:  # the slow path only says what is wrong
            try:
                grammar.conda_name(key)
                for v in value if isinstance(value, list) and value else [value]:
                    grammar.distribution_name(v)
                raise ValueError(f"{value!r} is not null or a list of distribution names")
            except ValueError as exc:
                raise invalid(source, f"name mapping: {key}", str(exc)) from None
    return result


def _refuse_reserved(entries: Mapping[str, tuple[str, ...] | None], source: str) -> None:
    """Refuse a user's mapping entry that gives a conda package a name of
    the installer's own distributions (pip, setuptools, wheel ...) that it
    does not own (:func:`~press.owners.reserved_distribution`). Raises
    :class:`~press.errors.InvalidInputError` naming the file and entry. (The
    shipped and refreshed copies are upstream's data, which holds such
    entries, ``isce2 -> pip``: those are never honoured, see
    :meth:`Names.distribution` and :meth:`Names.allowed_dist_names`.)"""
    from .package import invalid

    for key, value in entries.items():
        reserved = [v for v in value or () if reserved_distribution(v, key)]
        if reserved:
            raise invalid(source, f"name mapping: {key}", f"maps {key} to {', '.join(reserved)}, the installer's own "
                          "distribution: a wheel of that name would replace the environment's tooling (press refuses "
                          "it)")


def _read_shipped() -> bytes:
    return gzip.decompress(resources.files("press").joinpath("data", SHIPPED).read_bytes())


def load_mapping(cache_dir: Path | None = None, overrides: tuple[Path, ...] = ()) -> NameMapping:
    """The mapping press uses: the shipped copy, replaced by a refreshed one
    in ``cache_dir`` when present (:func:`refresh_mapping`), then each file
    of ``overrides`` (JSON in the same format; its entries win). Cached per
    process while those files keep their size and modification time (a file
    edited in place is read again). Raises :class:`~press.errors.PressError`
    for an unreadable or invalid override file."""
    def stamp(path: Path) -> tuple[int, int] | None:
        try:
            found = os.stat(path)
        except OSError:
            return None
        return found.st_size, found.st_mtime_ns

    files = [Path(cache_dir) / REFRESHED] if cache_dir else []
    return _load_mapping(cache_dir, tuple(overrides), tuple(stamp(p) for p in [*files, *overrides]))


@functools.lru_cache(maxsize=8)
def _load_mapping(cache_dir: Path | None, overrides: tuple[Path, ...],
                  stamps: tuple[tuple[int, int] | None, ...]) -> NameMapping:
    """:func:`load_mapping` for files with these ``stamps``."""
    # The shipped copy is press's own data (tests/test_publishing.py checks it
    # against the reference file and the grammar), so it is not re-validated.
    entries = {k: (tuple(v) if v is not None else None) for k, v in json.loads(_read_shipped()).items()}
    sources = [f"press/data/{SHIPPED}"]
    refreshed = Path(cache_dir) / REFRESHED if cache_dir else None
    data = _read_refreshed(Path(cache_dir)) if cache_dir else None
    if refreshed is not None and data is not None:
        entries = parse_mapping(data, str(refreshed), strict=False)
        sources = [str(refreshed)]
    for path in overrides:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PressError(f"cannot read the name mapping: {exc.strerror}", package=str(path)) from None
        override = parse_mapping(data, str(path), strict=True)
        _refuse_reserved(override, str(path))
        entries.update(override)
        sources.append(str(path))
    return NameMapping(entries, tuple(sources))


def _read_refreshed(cache_dir: Path) -> bytes | None:
    """The refreshed mapping's bytes in ``cache_dir``, or None when there is
    none: ``name-mapping`` and the file are opened without following a link,
    a FIFO is not waited on, and at most the ``metadata_size`` limit is read
    (a link, a special file or a larger file counts as none)."""
    from .files import Directory
    from .limits import limit

    try:
        with Directory.open(cache_dir) as cache, cache.sub(REFRESHED.parent.name) as directory:
            return directory.read(REFRESHED.name, limit("metadata_size"))
    except (OSError, PressError):
        return None


def refresh_mapping(cache_dir: Path, url: str = MAPPING_URL) -> tuple[Path, int]:
    """Download the mapping from ``url`` (default :data:`MAPPING_URL`) into
    ``cache_dir`` (``name-mapping/conda-forge-pypi-mapping.json``), where
    :func:`load_mapping` prefers it to the shipped copy. The download is
    capped at the ``metadata_size`` limit, parsed and checked before it is
    renamed into place; one with fewer than half the shipped copy's entries
    is refused (a truncated or wrong file would turn Python packages
    native). Returns the path and the number of entries. Raises
    :class:`~press.errors.FetchError` or
    :class:`~press.errors.InvalidInputError`."""
    from .errors import FetchError
    from .fetch import _download
    from .files import open_subdirs
    from .limits import limit

    target = Path(cache_dir) / REFRESHED
    most = limit("metadata_size")
    # name-mapping/ is opened without following a link; the download goes to a new private
    # directory (random name, mode 0700) and the checked copy is published with Directory.write.
    with open_subdirs(Path(cache_dir), REFRESHED.parent.name) as directory:
        if url.startswith("file://"):
            from urllib.parse import unquote, urlparse

            try:
                with open(unquote(urlparse(url).path), "rb") as handle:  # the user's own file: at most the limit read
                    data = handle.read(most + 1)
            except OSError as exc:
                raise FetchError(f"cannot read the name mapping: {exc.strerror}", package=url) from None
            if len(data) > most:
                raise FetchError("the name mapping is larger than the metadata_size limit", package=url)
        else:
            tmpname, tmpdir = directory.temporary_dir(f".{REFRESHED.name}.")
            try:
                try:
                    ok = _download(url, tmpdir.readable_path(REFRESHED.name), most)
                except Exception as exc:
                    raise FetchError(f"cannot download the name mapping: {exc}", package=url) from None
                if not ok:
                    raise FetchError("the name mapping is larger than the metadata_size limit", package=url)
                try:
                    data = tmpdir.read(REFRESHED.name, most)
                except OSError as exc:
                    raise FetchError(f"cannot read the downloaded name mapping: {exc}", package=url) from None
            finally:
                tmpdir.close()
                directory.remove(tmpname)
        entries = parse_mapping(data, url, strict=False)
        shipped = len(json.loads(_read_shipped()))
        if len(entries) < shipped // 2:
            raise FetchError(f"the downloaded name mapping has {len(entries)} valid entries, the shipped one "
                             f"{shipped}: not a full mapping (put overrides in a --name-mapping file)", package=url)
        directory.write(REFRESHED.name, data)
    _load_mapping.cache_clear()
    return target, len(entries)


def native_prefix(channel: str | None) -> str:
    """The default native-name prefix for packages of ``channel`` (a name,
    URL or directory): the channel's name, lower-cased: a URL's last path
    component (before ``/label/...``; never its host or credentials unless
    it has no path), a directory's own name (resolved, so ``.`` is the
    current directory's), Anaconda's ``defaults``/``pkgs/*`` as
    ``anaconda``; ``conda`` when unknown.
    ``https://conda.anaconda.org/conda-forge`` -> ``conda-forge-``."""
    from urllib.parse import unquote, urlparse

    text = (channel or "").strip()
    parts: list[str] = []
    if "://" in text:
        parsed = urlparse(text)
        parts = [p for p in unquote(parsed.path).split("/") if p] or [parsed.hostname or ""]
    elif text:
        path = Path(text).expanduser()
        if path.exists() or text.startswith((".", "/", "~")):
            parts = list(path.resolve().parts[1:])
        else:
            parts = [p for p in re.split(r"[/\\]", text) if p]
    if "label" in parts[:-1]:
        parts = parts[:parts.index("label")]
    last = re.sub(r"[^a-z0-9]+", "-", (parts[-1] if parts else "").lower()).strip("-")[:48].strip("-")
    if last in _ANACONDA:
        last = "anaconda"
    return f"{last or 'conda'}-"


def _stem(conda_name: str) -> str:
    """A conda name without the characters a distribution name may not start
    or end with (``_libgcc_mutex`` -> ``libgcc_mutex``)."""
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", conda_name)


def _primary(conda_name: str, names: tuple[str, ...]) -> str:
    """The name a package providing several distributions is known by."""
    wanted = [canonicalize_name(_PYTHON_AFFIX.sub("", conda_name)), canonicalize_name(conda_name)]
    for target in wanted:
        for name in names:
            if canonicalize_name(name) == target:
                return name
    return names[0]


@dataclass(frozen=True)
class PackageFacts:
    """What naming needs to know of a conda package: its conda ``name``,
    ``channel`` (None: unknown), ``depends`` (MatchSpec strings), the
    ``dist_names`` its own Python metadata declares (empty when press has not
    unpacked it, or it has none) and ``python``: whether it is a Python
    package (``noarch: python``, site-packages content, or a dependency on
    ``python``/``python_abi``; None when nothing is known of it)."""

    name: str
    channel: str | None = None
    depends: tuple[str, ...] = ()
    dist_names: tuple[str, ...] = ()
    python: bool | None = None


def is_python_record(depends: Iterable[str], noarch: str | None) -> bool:
    """A Python package as far as its record shows: ``noarch: python`` or a
    dependency on ``python``/``python_abi``."""
    return noarch == "python" or any(_python_dep(d) for d in depends)


def record_facts(name: str, channel: str | None, depends: Iterable[str], noarch: str | None) -> PackageFacts:
    """:class:`PackageFacts` from a repodata record's fields."""
    depends = tuple(depends)
    return PackageFacts(name, channel, depends, (), is_python_record(depends, noarch))


@dataclass(frozen=True)
class Names:
    """The naming rule of this module, for one conversion or batch.

    ``mapping``: the :class:`NameMapping`; ``prefix``: the native-name
    prefix for every channel (None: each package's channel decides, see
    :func:`native_prefix`); ``known``: conda name -> :class:`PackageFacts`
    of the packages press knows more of than their name (the solved
    closure's artifacts, the batch's repodata records)."""

    mapping: NameMapping
    prefix: str | None = None
    known: Mapping[str, PackageFacts] = field(default_factory=dict)

    def with_known(self, facts: Iterable[PackageFacts]) -> "Names":
        """A copy that also knows ``facts`` (later entries win)."""
        known = dict(self.known)
        known.update({f.name: f for f in facts})
        return Names(self.mapping, self.prefix, known)

    def facts(self, conda_name: str, channel: str | None = None) -> PackageFacts:
        """What is known of ``conda_name`` (only its name and the assumed
        ``channel`` when nothing is)."""
        return self.known.get(conda_name) or PackageFacts(conda_name, channel)

    def native(self, conda_name: str, channel: str | None) -> str:
        """``<prefix><conda name>``, checked against the Name grammar.
        Raises :class:`~press.errors.PressError` when it does not fit."""
        name = f"{self.prefix if self.prefix is not None else native_prefix(channel)}{_stem(conda_name)}"
        try:
            return grammar.distribution_name(name)
        except ValueError as exc:
            raise PressError(f"native distribution name: {exc}", package=conda_name) from None

    def provides_python(self, facts: PackageFacts) -> bool:
        """False for a native package: no dist-info, and ``null`` in the
        mapping, or unmapped and not a Python package."""
        if facts.dist_names or self.mapping.get(facts.name):
            return True
        if self.mapping.knows(facts.name):
            return False
        return facts.python is not False

    def is_python(self, facts: PackageFacts) -> bool:
        """Whether a package is a Python package (its files go to
        site-packages, no native libraries for dependents to link): what
        press saw of it (artifact or record) when it saw anything, else the
        mapping's word."""
        if facts.python is not None:
            return facts.python
        return bool(facts.dist_names) or bool(self.mapping.get(facts.name))

    def alias_target(self, facts: PackageFacts) -> tuple[str, ...] | None:
        """The depends an alias stands for (all of its own), or None when
        ``facts`` is not an alias: a package without a dist-info of its own
        that depends on a package of the same name: the same normalised conda
        name, or, for a mapped package, the same distribution
        (``typing-extensions`` -> ``typing_extensions``; ``matplotlib`` ->
        ``matplotlib-base``, both ``matplotlib`` on PyPI)."""
        return facts.depends if self.alias_of(facts) is not None else None

    def alias_of(self, facts: PackageFacts) -> str | None:
        """The conda name of the package an alias stands for (the dependency
        that makes it an alias, see :meth:`alias_target`), or None when
        ``facts`` is not an alias."""
        if facts.dist_names:
            return None
        mapped = self.mapping.get(facts.name)
        own = canonicalize_name(_primary(facts.name, mapped) if mapped else facts.name)
        for spec in facts.depends:
            dep = spec_name(spec)
            if dep == facts.name or is_plumbing(dep):
                continue
            dep_facts = self.facts(dep)
            if mapped:
                names = [self.distribution(dep_facts, facts.channel)]
            else:
                names = [dep, *(self.mapping.get(dep) or ()), *dep_facts.dist_names]
            if any(canonicalize_name(n) == own for n in names):
                return dep
        return None

    def distribution(self, facts: PackageFacts, channel: str | None = None) -> str:
        """The distribution name of a package (rules 1 to 3 of the module;
        ``channel`` is assumed when ``facts`` has none). Raises
        :class:`~press.errors.PressError` when no valid name results,
        :class:`~press.errors.InvalidInputError` when a dist-info names a
        distribution the package may not be (:meth:`check_dist_names`), and
        :class:`~press.errors.ConflictError` when the name would be one of
        the installer's own distributions (pip, setuptools, wheel ...) that
        the package does not own (:func:`~press.owners.reserved_distribution`):
        installed, it would replace the environment's tooling."""
        name = self._distribution(facts, channel)
        if reserved_distribution(name, facts.name):
            how = (f"the name mapping ({', '.join(self.mapping.sources)}) gives it" if self.mapping.get(facts.name)
                   and not facts.dist_names else "it would take")
            raise ConflictError(f"{how} the name {name}, the installer's own distribution: a wheel of that name "
                                "would replace the environment's tooling (press refuses it; give the package its own "
                                "name with --name-mapping)", package=facts.name, field="name mapping")
        return name

    def _distribution(self, facts: PackageFacts, channel: str | None) -> str:
        channel = facts.channel if facts.channel is not None else channel
        if facts.dist_names:
            self.check_dist_names(facts)
            for name in facts.dist_names:
                if canonicalize_name(name) == canonicalize_name(facts.name):
                    return name
            return facts.dist_names[0]
        mapped = self.mapping.get(facts.name)
        if mapped:
            return _primary(facts.name, mapped)
        if not self.provides_python(facts):
            return self.native(facts.name, channel)
        try:
            return grammar.distribution_name(_stem(facts.name))
        except ValueError as exc:
            raise PressError(f"no distribution name: {exc}", package=facts.name) from None

    def allowed_dist_names(self, conda_name: str) -> set[str]:
        """The canonical distribution names a package's own dist-info may
        declare: its conda name (also without a ``python``/``py`` affix and
        the characters a distribution name cannot start or end with), and
        the names the mapping gives it, less those of the installer's own
        distributions it does not own."""
        candidates = [conda_name, _stem(conda_name), _stem(_PYTHON_AFFIX.sub("", conda_name)),
                      *(self.mapping.get(conda_name) or ())]
        return {canonicalize_name(n) for n in candidates if n and not reserved_distribution(n, conda_name)}

    def check_dist_names(self, facts: PackageFacts) -> None:
        """Refuse a package whose own dist-info declares a ``Name`` that is
        neither its conda name nor one the name mapping gives it
        (:meth:`allowed_dist_names`): a conda package ``evil`` whose dist-info
        says ``Name: requests`` never becomes ``requests``. Raises
        :class:`~press.errors.InvalidInputError` naming the package; a
        ``--name-mapping`` entry is the way to accept such a package."""
        allowed = self.allowed_dist_names(facts.name)
        for name in facts.dist_names:
            if canonicalize_name(name) not in allowed:
                from .package import invalid

                raise invalid(facts.name, "dist-info Name",
                              f"{name!r} is neither the conda name {facts.name!r} nor a name the name mapping gives "
                              f"it; a dist-info may not claim another project's name (when it is right, say so "
                              f'with --name-mapping: {{"{facts.name}": ["{name}"]}})')

    def expand_aliases(self, specs: Iterable[str], channel: str | None) -> list[str]:
        """``specs`` (MatchSpec strings) with every alias replaced by what it
        depends on, recursively (each alias once), order kept. The alias's
        dependency on the package it stands for (:meth:`alias_of`) takes the
        version range of the spec on the alias (the two share their version:
        ``typing-extensions >=4.6`` -> ``typing_extensions >=4.6``, an
        unversioned spec -> the bare name), not the alias record's own pin;
        its other dependencies are kept as they are. Raises
        :class:`~press.errors.SpecError` for a spec that does not parse."""
        result: list[str] = []
        seen: set[str] = set()
        stack = list(specs)
        while stack:
            spec = stack.pop(0)
            name = spec_name(spec)
            facts = self.facts(name, channel)
            target = self.alias_of(facts)
            if target is not None and name in seen and target not in seen:
                # A second spec on an alias already expanded: its range goes to the same target.
                version = _version_of(spec)
                stack.insert(0, f"{target} {version}" if version else target)
            elif target is None or name in seen:  # an alias cycle keeps the requirement itself
                if target is None or not any(spec_name(s) == name for s in result):
                    result.append(spec)
            else:
                seen.add(name)
                version = _version_of(spec)
                expanded = []
                for dep_spec in facts.depends:
                    dep = spec_name(dep_spec)
                    if dep == name:
                        continue
                    expanded.append(f"{dep} {version}" if dep == target and version else
                                    dep if dep == target else dep_spec)
                stack += expanded
        return result

    def dependency(self, conda_name: str, channel: str | None) -> str:
        """The distribution name a requirement on ``conda_name`` uses
        (``channel``: the dependent's, assumed for a package press knows
        nothing of)."""
        return self.distribution(self.facts(conda_name, channel), channel)


def _version_of(spec: str) -> str | None:
    """The version spec of a MatchSpec string (rattler's form: ``>=4.6,!=4.7.0``), None without one."""
    from rattler import MatchSpec

    version = MatchSpec(spec).version
    return str(version) if version is not None and str(version) not in ("", "*") else None


def _python_dep(spec: str) -> bool:
    head = re.split(r"[\s=<>!~\[]", spec.strip(), maxsplit=1)[0]
    return head in ("python", "python_abi")
