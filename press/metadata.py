"""Wheel core metadata (METADATA 2.4) from conda's index and about data.

Names: the PyPI name comes from the package's own ``*.dist-info/METADATA`` or
``*.egg-info/PKG-INFO`` (as parselmouth does), else a short table of known
conda/PyPI mismatches (from grayskull's list), else the conda name.
Requirements: conda MatchSpecs become PEP 508 requirements, with conda-only
plumbing (``python``, ``python_abi``, ``_*``, ``__*``, ``pybind11-abi``,
``ca-certificates``) dropped.
"""

from __future__ import annotations

import re
from typing import Iterable

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from packaging.metadata import InvalidMetadata, Metadata, RawMetadata
from packaging.utils import canonicalize_name

from .artifact import Artifact
from .package import DistInfo
from .errors import MetadataError, SpecError
from .version import to_pep440, version_spec_to_pep440

#: conda name -> PyPI name where they differ (grayskull's and parselmouth's common cases).
KNOWN_PYPI_NAMES = {
    "matplotlib-base": "matplotlib",
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "dask-core": "dask",
    "msgpack-python": "msgpack",
    "pytables": "tables",
    "py-opencv": "opencv-python",
    "opencv": "opencv-python",
    "libopencv": "opencv-python",
    "typing_extensions": "typing-extensions",
    "ruamel.yaml": "ruamel.yaml",
    "pyqt": "PyQt5",
    "py-lief": "lief",
    "tensorflow-base": "tensorflow",
}

#: conda packages that exist only for conda's own bookkeeping.
PLUMBING = {"python", "python_abi", "pybind11-abi", "ca-certificates", "pip", "setuptools-scm", "ucrt", "vc"}

_NAME_OK = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.I)


def is_plumbing(conda_name: str) -> bool:
    """True for conda-only packages that never become ``Requires-Dist``:
    virtual (``__*``) and mutex (``_*``) packages, ``python``, ``python_abi``,
    ``pybind11-abi``, ``ca-certificates``, ``pip``, ``ucrt`` (the Universal
    CRT is part of Windows 10 and later) and ``vc`` (a compiler-version pin
    without files; the runtime itself is ``vc14_runtime``)."""
    return conda_name.startswith("_") or conda_name in PLUMBING


def wheel_name_for_conda(conda_name: str) -> str:
    """A valid core-metadata Name for a conda package with no Python metadata:
    the known PyPI name, else the conda name with leading/trailing characters
    that the Name grammar forbids stripped (``_libgcc_mutex`` -> ``libgcc_mutex``)."""
    name = KNOWN_PYPI_NAMES.get(conda_name, conda_name)
    name = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", name)
    if not _NAME_OK.match(name):
        raise MetadataError(f"conda name {conda_name!r} cannot be made a valid distribution name")
    return name


def pypi_name_from(dist_infos: Iterable[DistInfo], conda_name: str) -> str | None:
    """The Name recorded by the package's own Python metadata, or None.

    When several dist-infos are present, the one whose name matches the conda
    name (after normalisation) wins, else the first one.
    """
    names = [d.name for d in dist_infos if d.name]
    for name in names:
        if canonicalize_name(name) == canonicalize_name(conda_name):
            return name
    return names[0] if names else None


def requirement(spec: str, name_map: dict[str, str], package: str | None = None) -> str | None:
    """Translate one conda MatchSpec string into a PEP 508 requirement string.

    ``name_map`` maps conda names to PyPI names (missing names fall back to
    :func:`wheel_name_for_conda`). Returns ``None`` for plumbing. Raises
    :class:`SpecError` when the MatchSpec does not parse, :class:`VersionError`
    when a version in it has no PEP 440 form.
    """
    from rattler import MatchSpec

    try:
        match = MatchSpec(spec)
    except Exception as exc:
        raise SpecError(f"dependency {spec!r} is not a valid MatchSpec: {exc}", package=package) from exc
    conda_name = match.name.normalized
    if is_plumbing(conda_name):
        return None
    name = name_map.get(conda_name) or wheel_name_for_conda(conda_name)
    version = version_spec_to_pep440(str(match.version), package) if match.version else None
    return f"{name}{version or ''}"


def requires_python(depends: Iterable[str], package: str | None = None) -> str | None:
    """The PEP 440 specifier of the ``python`` dependency, or None."""
    from rattler import MatchSpec

    for spec in depends:
        match = MatchSpec(spec)
        if match.name.normalized == "python" and match.version:
            return version_spec_to_pep440(str(match.version), package)
    return None


def build_metadata(
    artifact: Artifact,
    name: str,
    requires_dist: list[str],
    license_files: list[str],
) -> bytes:
    """Serialise METADATA (core metadata 2.4) for ``artifact``.

    ``name`` is the distribution name; ``requires_dist`` PEP 508 strings;
    ``license_files`` paths relative to ``.dist-info/licenses/``. The conda
    license becomes ``License-Expression`` when it is a valid SPDX expression,
    ``License`` otherwise. Raises :class:`MetadataError` when ``packaging``
    rejects the result.
    """
    about = artifact.about
    raw: RawMetadata = {
        "metadata_version": "2.4",
        "name": name,
        "version": to_pep440(artifact.version, artifact.label),
    }
    summary = about.summary or about.description or ""
    if summary:
        raw["summary"] = " ".join(summary.split())[:512]
    if about.description and about.description.strip():
        raw["description"] = about.description
        raw["description_content_type"] = "text/plain"
    license_text = (artifact.identity.license or about.license or "").strip()
    if license_text:
        try:
            raw["license_expression"] = str(canonicalize_license_expression(license_text))
        except InvalidLicenseExpression:
            raw["license"] = license_text
    if license_files:
        raw["license_files"] = sorted(license_files)
    urls = {label: value for label, value in (("Homepage", about.home), ("Source", about.dev_url),
                                                ("Documentation", about.doc_url)) if value}
    if urls:
        raw["project_urls"] = urls
    python_spec = requires_python(artifact.depends, artifact.label)
    if python_spec:
        raw["requires_python"] = python_spec
    if requires_dist:
        raw["requires_dist"] = sorted(dict.fromkeys(requires_dist))
    try:
        metadata = Metadata.from_raw(raw)
    except (InvalidMetadata, ExceptionGroup) as exc:  # noqa: F821 - builtin on 3.11
        details = "; ".join(str(e) for e in getattr(exc, "exceptions", [exc]))
        raise MetadataError(f"invalid wheel metadata: {details}", package=artifact.label) from exc
    return bytes(metadata.as_rfc822())
