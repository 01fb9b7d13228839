"""Wheel core metadata (METADATA 2.4) from the package's own Python metadata,
conda's index and about data.

Precedence (``docs/metadata.md``): the package's own ``*.dist-info/METADATA``
is the base (description and its content type, summary, keywords,
classifiers, Project-URLs, authors, extras); conda overrides what it knows
better (version, dependencies, licence, Requires-Python) and fills what the
package does not say (summary, description, URLs from ``about.json``).
Names come from :mod:`press.names`. Requirements: conda MatchSpecs become
PEP 508 requirements, with conda-only plumbing (``python``, ``python_abi``,
``_*``, ``__*``, ``pybind11-abi``, ``ca-certificates``) dropped.
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterable

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from packaging.metadata import InvalidMetadata, Metadata, RawMetadata
from packaging.utils import canonicalize_name

from .artifact import Artifact
from .errors import MetadataError, SpecError
from .matchspec import PLUMBING, is_plumbing, spec_name
from .names import Names
from .package import UpstreamMetadata
from .version import constraints, merge, to_pep440, version_spec_to_pep440

#: Core metadata field names as the core metadata specification spells them
#: (packaging's own serialiser writes them in lower case, which twine and
#: older tools do not read), in the specification's order.
FIELD_NAMES = {
    "metadata-version": "Metadata-Version", "name": "Name", "version": "Version", "dynamic": "Dynamic",
    "platform": "Platform", "supported-platform": "Supported-Platform", "summary": "Summary",
    "description-content-type": "Description-Content-Type", "keywords": "Keywords", "home-page": "Home-page",
    "download-url": "Download-URL", "author": "Author", "author-email": "Author-email",
    "maintainer": "Maintainer", "maintainer-email": "Maintainer-email", "license": "License",
    "license-expression": "License-Expression", "license-file": "License-File", "classifier": "Classifier",
    "requires-dist": "Requires-Dist", "requires-python": "Requires-Python",
    "requires-external": "Requires-External", "project-url": "Project-URL", "provides-extra": "Provides-Extra",
    "provides-dist": "Provides-Dist", "obsoletes-dist": "Obsoletes-Dist",
}


def requirement(spec: str, names: Names, channel: str | None, package: str | None = None) -> str | None:
    """Translate one conda MatchSpec string into a PEP 508 requirement string.

    ``names`` (:class:`~press.names.Names`) gives the distribution name;
    ``channel`` is the dependent's (assumed for dependencies press knows
    nothing of). The version spec is translated by
    :func:`~press.version.version_spec_to_pep440` (the PEP 440 set is
    conda's: docs/metadata.md "Requirements"); build strings, channels and
    other MatchSpec fields are dropped (no PEP 508 form), so a spec with no
    version (``foo * py_0``) is the bare name. Returns ``None`` for plumbing.
    Raises :class:`SpecError` when the MatchSpec does not parse,
    :class:`VersionError` when a version in it has no PEP 440 form.
    """
    translated = _translate(spec, names, channel, package)
    if translated is None:
        return None
    name, clauses = translated
    return f"{name}{','.join(merge(clauses))}"


def _translate(spec: str, names: Names, channel: str | None, package: str | None) -> tuple[str, list[str]] | None:
    """(distribution name, PEP 440 clauses) of a MatchSpec, None for plumbing."""
    from rattler import MatchSpec

    try:
        match = MatchSpec(spec)
    except Exception as exc:
        raise SpecError(f"dependency {spec!r} is not a valid MatchSpec: {exc}", package=package) from exc
    conda_name = match.name.normalized
    if is_plumbing(conda_name):
        return None
    name = names.dependency(conda_name, channel)
    clauses = constraints(str(match.version), package) if match.version else []
    return name, clauses or []


def requirements(specs: Iterable[str], names: Names, channel: str | None, package: str | None = None) -> list[str]:
    """PEP 508 requirements for ``specs``, plumbing dropped and every alias
    replaced by what it depends on (:meth:`~press.names.Names.expand_aliases`),
    one per distribution name: the constraints of every spec on one name are
    intersected (:func:`~press.version.merge`; a spec on the name that has
    no PEP 440 form, an OR, adds no constraint), so ``zstd >=1.5.6,<1.5.7.0a0``
    and ``zstd >=1.5.6,<1.6.0a0`` give ``...-zstd>=1.5.6,<1.5.7.0a0``.
    Sorted; the same specs in the same order give the same strings. Raises
    as :func:`requirement`."""
    merged: dict[str, tuple[str, list[str]]] = {}
    for spec in names.expand_aliases(specs, channel):
        translated = _translate(spec, names, channel, package)
        if translated is None:
            continue
        name, clauses = translated
        merged.setdefault(canonicalize_name(name), (name, []))[1].extend(clauses)
    return sorted(f"{name}{','.join(merge(clauses))}" for name, clauses in merged.values())


def requires_python(depends: Iterable[str], package: str | None = None) -> str | None:
    """The PEP 440 specifier of the ``python`` dependency, or None."""
    from rattler import MatchSpec

    for spec in depends:
        match = MatchSpec(spec)
        if match.name.normalized == "python" and match.version:
            return version_spec_to_pep440(str(match.version), package, ranges=False)
    return None


def is_direct_reference(text: str) -> bool:
    """True for a PEP 508 requirement that is a direct URL reference
    (``helper @ https://...``, ``helper @ file:///...``): pip would fetch
    whatever the URL serves, bypassing the index and its hashes, and PyPI
    refuses uploads that hold one, so Requires-Dist never carries one (the
    package reader drops them with a note; this is the writer's guard). A
    string that does not parse is not one."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(text).url is not None
    except InvalidRequirement:
        return False


def build_metadata(
    artifact: Artifact,
    name: str,
    requires_dist: list[str],
    license_files: list[str],
    upstream: UpstreamMetadata | None = None,
    provides: list[str] | None = None,
) -> bytes:
    """Serialise METADATA (core metadata 2.4) for ``artifact``.

    ``name`` is the distribution name; ``requires_dist`` PEP 508 strings
    (conda's dependencies, already translated); ``license_files`` paths
    relative to ``.dist-info/licenses/``; ``upstream`` the package's own
    core metadata, the base that conda's data overrides (see the module
    docstring; direct URL references are never written, see
    :func:`is_direct_reference`); ``provides``: the other distributions the package contains
    (its other dist-infos: conda's ``pyqt`` holds PyQt5 and PyQt5-sip),
    written as ``Provides-Dist``. The conda licence becomes ``License-Expression`` when it is a
    valid SPDX expression (``License ::`` classifiers are then left out, as
    PEP 639 asks), ``License`` otherwise. Field names are spelled as in the
    core metadata specification. Raises :class:`MetadataError` when
    ``packaging`` rejects the result.
    """
    about = artifact.about
    up = upstream or UpstreamMetadata()
    raw: RawMetadata = {
        "metadata_version": "2.4",
        "name": name,
        "version": to_pep440(artifact.version, artifact.label),
    }
    summary = _printable(up.summary or about.summary or about.description or "")
    if summary:
        raw["summary"] = " ".join(summary.split())[:512]
    if up.description and up.description.strip():
        raw["description"] = _printable(up.description, keep="\n\t\r")
        raw["description_content_type"] = _renderable(raw["description"], up.description_content_type)
    elif about.description and about.description.strip():
        raw["description"] = _printable(about.description, keep="\n\t")
        raw["description_content_type"] = "text/plain"
    else:  # twine and PyPI expect a long description; say what the wheel is
        raw["description"] = (f"{raw.get('summary') or name}\n\nThe conda package {artifact.label} "
                              f"({artifact.subdir}) as a wheel, made by press.\n")
        raw["description_content_type"] = "text/plain"
    if up.keywords:
        raw["keywords"] = list(up.keywords)
    for key in ("author", "author_email", "maintainer", "maintainer_email"):
        if getattr(up, key):
            raw[key] = getattr(up, key)
    license_text = _printable(artifact.identity.license or about.license or "").strip()
    expression = None
    if license_text:
        try:
            expression = str(canonicalize_license_expression(license_text))
        except InvalidLicenseExpression:
            raw["license"] = license_text
    elif up.license_expression:
        expression = up.license_expression
    elif up.license:
        raw["license"] = up.license
    if expression:
        raw["license_expression"] = expression
    classifiers = [c for c in up.classifiers if not (expression and c.startswith("License ::"))]
    if classifiers:
        raw["classifiers"] = classifiers
    if license_files:
        raw["license_files"] = sorted(license_files)
    # The package's own URLs when it has any (conda recipes get dev_url and
    # doc_url wrong often enough: tqdm's swaps them); conda's otherwise.
    urls = dict(up.project_urls)
    if urls:
        labels = {re.sub(r"[^a-z]", "", label.lower()) for label in urls}
        if up.home_page and not labels & {"homepage", "home"} and up.home_page not in urls.values():
            urls["Homepage"] = up.home_page
    else:
        for label, value in (("Homepage", up.home_page or about.home), ("Source", about.dev_url),
                             ("Documentation", about.doc_url)):
            if value and value not in urls.values():
                urls[label] = value
    if urls:
        raw["project_urls"] = urls
    python_spec = requires_python(artifact.depends, artifact.label) or up.requires_python
    if python_spec:
        raw["requires_python"] = python_spec
    extras = [r for r in up.requires_dist if not is_direct_reference(r)]
    requires_dist = [r for r in requires_dist if not is_direct_reference(r)]
    if requires_dist or extras:
        raw["requires_dist"] = sorted(dict.fromkeys(requires_dist)) + sorted(dict.fromkeys(extras))
    if up.provides_extra:
        raw["provides_extra"] = list(up.provides_extra)
    if provides:
        raw["provides_dist"] = sorted(dict.fromkeys(provides))
    try:
        metadata = Metadata.from_raw(raw)
    except (InvalidMetadata, ExceptionGroup) as exc:  # noqa: F821 - builtin on 3.11
        details = "; ".join(str(e) for e in getattr(exc, "exceptions", [exc]))
        raise MetadataError(f"invalid wheel metadata: {details}", package=artifact.label) from exc
    return serialise(metadata)


def _renderable(description: str, content_type: str | None) -> str:
    """The content type to declare: the package's own, unless it is
    reStructuredText (declared, or by default) that PyPI's renderer
    (readme_renderer, as ``twine check`` runs it) refuses; then ``text/plain``."""
    if content_type and not content_type.startswith("text/x-rst"):
        return content_type
    import io

    from readme_renderer.rst import render

    with contextlib.redirect_stderr(io.StringIO()):
        rendered = render(description, stream=io.StringIO())
    return (content_type or "text/x-rst") if rendered is not None else "text/plain"


def _printable(text: str, keep: str = "") -> str:
    """``text`` without control characters (terminal escapes in ``pip show``),
    except those in ``keep``."""
    return "".join(c for c in text if c.isprintable() or c in keep)


def serialise(metadata: Metadata) -> bytes:
    """``packaging``'s RFC 822 form of ``metadata`` (its folding and body
    unchanged) with the field names spelled as the core metadata
    specification does (:data:`FIELD_NAMES`). Raises :class:`MetadataError`
    for a field name it does not know."""
    data = bytes(metadata.as_rfc822())
    head, sep, body = data.partition(b"\n\n")
    lines = []
    for line in head.split(b"\n"):
        if line[:1] not in (b" ", b"\t") and b":" in line:
            key, rest = line.split(b":", 1)
            spelled = FIELD_NAMES.get(key.decode("ascii", "replace").lower())
            if spelled is None:
                raise MetadataError(f"packaging wrote an unknown METADATA field {key!r}")
            line = spelled.encode("ascii") + b":" + rest
        lines.append(line)
    return b"\n".join(lines) + sep + body
