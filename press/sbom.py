"""The wheel's software bill of materials: which conda artifacts it was made from.

Every wheel carries a CycloneDX 1.6 document at
``<dist>.dist-info/sboms/press.cdx.json`` (PEP 770: SBOM files in a
``sboms/`` directory of the dist-info, listed in RECORD). The wheel's own
distribution is the main component (``pkg:pypi/<name>@<version>``); each conda
artifact that went into it is a component with the purl of the purl
specification's ``conda`` type
(``pkg:conda/<name>@<version>?build=...&channel=...&subdir=...&type=conda``),
the artifact's sha256, its licence (an SPDX expression when conda's licence
string is one, else a named licence) and, as evidence occurrences, the wheel
paths of its files. An artifact of the solved closure none of whose files
ships (a vendored package nothing links, a metapackage) is listed with scope
``excluded``, as CycloneDX defines it: used to make the wheel, not in it.

The document is built with cyclonedx-python-lib and packageurl-python, and is
reproducible: its serial number is derived from the wheel's name and the
artifacts' hashes, its timestamp is the main artifact's build time.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

from packageurl import PackageURL
from packaging.utils import canonicalize_name

from .artifact import Artifact

#: Where the document goes inside the dist-info directory (PEP 770).
SBOM_NAME = "sboms/press.cdx.json"


def channel_label(channel: str | None) -> str | None:
    """How the purl names a channel: a URL without credentials or
    ``/t/<token>`` segments, a channel name as is, a local directory by its
    last component (a builder's file system path is not provenance)."""
    if not channel:
        return None
    if re.match(r"^[a-z][a-z0-9+.-]*://", channel, re.I):
        parts = urlsplit(channel)
        if parts.scheme == "file":
            return Path(parts.path).name or None
        path = re.sub(r"/t/[^/]+", "", parts.path).rstrip("/")
        return urlunsplit((parts.scheme, parts.hostname or "", path, "", "")) or None
    if "/" in channel or "\\" in channel:
        return Path(channel).name or None
    return channel


def conda_purl(artifact: Artifact) -> PackageURL:
    """The purl of a conda artifact (purl-spec ``conda`` type)."""
    qualifiers = {"build": artifact.build, "subdir": artifact.subdir,
                  "type": "conda" if artifact.source.name.endswith(".conda") else "tar.bz2"}
    channel = channel_label(artifact.channel)
    if channel:
        qualifiers["channel"] = channel
    return PackageURL(type="conda", name=artifact.name, version=artifact.version, qualifiers=qualifiers)


def build_sbom(name: str, version: str, artifacts: list[Artifact], files: dict[str, list[str]]) -> bytes:
    """The CycloneDX JSON document (UTF-8 bytes) of a wheel of distribution
    ``name`` ``version`` made from ``artifacts`` (the main one first);
    ``files`` maps an artifact's label to the wheel paths of its files
    (empty or absent: scope ``excluded``)."""
    try:
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # cyclonedx-python-lib before 11.6
        from cyclonedx.factory.license import LicenseFactory
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
    from cyclonedx.model.tool import Tool
    from cyclonedx.output.json import JsonV1Dot6

    from . import __version__

    main_purl = PackageURL(type="pypi", name=canonicalize_name(name), version=version)
    main = Component(name=name, version=version, type=ComponentType.LIBRARY, purl=main_purl,
                     bom_ref=main_purl.to_string())
    licenses = LicenseFactory()
    components = []
    for artifact in artifacts:
        purl = conda_purl(artifact)
        shipped = sorted(files.get(artifact.label, ()))
        license_text = artifact.identity.license
        component = Component(
            name=artifact.name, version=artifact.version, purl=purl, bom_ref=purl.to_string(),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=artifact.sha256)],
            licenses=[licenses.make_from_string(license_text)] if license_text else None,
            scope=ComponentScope.REQUIRED if shipped else ComponentScope.EXCLUDED,
            # Occurrences get fixed bom-refs: without one the library sorts them by a random reference.
            evidence=ComponentEvidence(occurrences=[Occurrence(bom_ref=f"file:{p}", location=p) for p in shipped])
            if shipped else None,
            properties=[Property(name="press:conda-file", value=artifact.source.name)],
        )
        components.append(component)
    digest = uuid.uuid5(uuid.NAMESPACE_URL, "press:" + "|".join([name, version] + [a.sha256 for a in artifacts]))
    timestamp = datetime.datetime.fromtimestamp(artifacts[0].identity.timestamp / 1000, datetime.timezone.utc)
    with warnings.catch_warnings():
        # Tool in metadata.tools: the 1.4 form, still valid; the library warns
        # when it is made and written (an error under -W error, PYTHONWARNINGS).
        warnings.simplefilter("ignore", DeprecationWarning)
        metadata = BomMetaData(component=main, timestamp=timestamp,
                               tools=[Tool(vendor="press", name="press", version=__version__)])
        bom = Bom(serial_number=digest, metadata=metadata, components=components)
        bom.register_dependency(main, components)
        text = JsonV1Dot6(bom).output_as_string(indent=1)
    return (text + "\n").encode("utf-8")


@dataclass(frozen=True)
class CondaSource:
    """One conda artifact an SBOM names: purl fields, sha256, and how many of
    the wheel's files came from it (0: ``excluded``)."""

    name: str
    version: str
    build: str | None
    subdir: str | None
    channel: str | None
    sha256: str | None
    files: int
    purl: str


def read_sources(wheel: Path) -> list[CondaSource]:
    """The conda artifacts named by a wheel's press SBOM (empty when it has
    none or it cannot be read: a wheel of another tool). Reads at most 64 MiB
    of the document; never raises for a malformed one."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            member = next((i for i in archive.infolist() if i.filename.count("/") == 2
                           and i.filename.split("/", 1)[0].endswith(".dist-info")
                           and i.filename.split("/", 1)[1] == SBOM_NAME), None)
            if member is None or member.file_size > 64 << 20:
                return []
            doc = json.loads(archive.read(member))
    except (OSError, ValueError, RecursionError, zipfile.BadZipFile):
        return []
    return list(_sources(doc))


def sources_in(doc: object) -> list[CondaSource]:
    """The conda artifacts a parsed SBOM document names (as :func:`read_sources`;
    :mod:`press.wheelread` reads the document within limits)."""
    return list(_sources(doc))


def _sources(doc: object) -> Iterable[CondaSource]:
    components = doc.get("components") if isinstance(doc, dict) else None
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict) or not isinstance(component.get("purl"), str):
            continue
        try:
            purl = PackageURL.from_string(component["purl"])
        except ValueError:
            continue
        if purl.type != "conda":
            continue
        qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
        hashes = [h.get("content") for h in component.get("hashes") or [] if isinstance(h, dict)
                  and h.get("alg") == "SHA-256"]
        evidence = component["evidence"] if isinstance(component.get("evidence"), dict) else {}
        occurrences = evidence["occurrences"] if isinstance(evidence.get("occurrences"), list) else []
        yield CondaSource(purl.name, purl.version or "", qualifiers.get("build"), qualifiers.get("subdir"),
                          qualifiers.get("channel"), hashes[0] if hashes else None, len(occurrences),
                          purl.to_string())
