"""The plan of one wheel: what it is, decided before any file is touched.

Every mode (a spec's closure, artifact files, a batch job) converts an artifact
with the packages :func:`press.closure.thin_closure` (thin) or the solve (fat)
gives, and :func:`plan_wheel` decides, in one place, what the wheel is: its
distribution name (:mod:`press.names`), PEP 440 version and build tag, what
it vendors, its requirements (:mod:`press.metadata`), its platform family,
and which dependency wheel provides each library its binaries load
(:mod:`press.providers`). The executor (:func:`press.convert.build_wheel`)
lays the files out, relocates and writes what the plan says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from packaging.utils import canonicalize_name

from .artifact import Artifact
from .errors import PressError
from .matchspec import is_plumbing, spec_name
from .metadata import requirements
from .names import Names, PackageFacts, is_python_record
from .providers import LibraryProviders, libs_dir, library_providers
from .tags import SUBDIR_PLATFORMS
from .version import to_pep440


def is_python_package(artifact: Artifact) -> bool:
    """True for ``noarch: python`` packages and packages with site-packages content."""
    return artifact.noarch == "python" or artifact.has_site_packages


def facts_of(artifact: Artifact) -> PackageFacts:
    """What :mod:`press.names` needs of an unpacked artifact."""
    return PackageFacts(artifact.name, artifact.channel, artifact.depends,
                        tuple(d.name for d in artifact.dist_infos if d.name),
                        is_python_package(artifact) or is_python_record(artifact.depends, artifact.noarch))


@dataclass(frozen=True)
class WheelPlan:
    """One wheel, decided: ``main`` the conda artifact it is made of;
    ``distribution`` its name (:mod:`press.names`) and ``dist`` that name as
    file names spell it; ``version`` (PEP 440) and ``build_tag``
    (``<build number>_<build string>``); ``libs_dir`` (``<dist>.libs``);
    ``fat``; ``vendored``: the artifacts merged into it (fat); ``python_deps``:
    the Python dependencies that get wheels of their own (fat);
    ``requires``: its PEP 508 requirements, sorted; ``family``/``machine``:
    the platform family (``linux``, ``macosx``, ``win``, ``any``) and machine
    of its subdir; ``providers``: the dependency wheels serving the libraries
    its binaries load (thin); ``names``: the naming rule it was decided with."""

    main: Artifact
    distribution: str
    dist: str
    version: str
    build_tag: str
    libs_dir: str
    fat: bool
    vendored: tuple[Artifact, ...]
    python_deps: tuple[Artifact, ...]
    requires: tuple[str, ...]
    family: str
    machine: str
    providers: LibraryProviders
    names: Names


def plan_wheel(main: Artifact, closure: Mapping[str, Artifact], names: Names, *, fat: bool,
               bundle_python_deps: bool = False) -> WheelPlan:
    """The :class:`WheelPlan` of ``main``'s wheel, with ``closure`` (conda name
    -> the unpacked artifacts this conversion has) and ``names`` (the
    conversion's naming rule, extended here by what ``closure`` shows).
    Raises :class:`~press.errors.PressError` (a subclass) for a name, version
    or dependency without a valid translation and for an unknown subdir."""
    names = names.with_known(facts_of(a) for a in closure.values())
    name = names.distribution(facts_of(main))
    vendored: list[Artifact] = []
    python_deps: list[Artifact] = []
    requires_specs = list(main.depends)
    if fat:
        vendored, requires_specs, python_deps = _walk_closure(main, closure, bundle_python_deps, names)
    requires = requirements(requires_specs, names, main.channel, main.label)
    family, machine = SUBDIR_PLATFORMS.get(main.subdir, ("any", "any")) if main.subdir != "noarch" else ("any", "any")
    if family == "any" and main.subdir != "noarch":
        raise PressError(f"unknown subdir {main.subdir}", package=main.label)
    # Thin wheels find the libraries of their dependency closure in the sibling <dep>.libs.
    providers = library_providers(main, closure, names, family) if not fat else LibraryProviders()
    build = "".join(c if c.isascii() and c.isalnum() else "_" for c in main.build)
    return WheelPlan(
        main=main, distribution=name, dist=canonicalize_name(name).replace("-", "_"),
        version=to_pep440(main.version, main.label), build_tag=f"{main.build_number}_{build}",
        libs_dir=libs_dir(name), fat=fat, vendored=tuple(vendored), python_deps=tuple(python_deps),
        requires=tuple(requires), family=family, machine=machine, providers=providers, names=names,
    )


def _walk_closure(main: Artifact, closure: Mapping[str, Artifact], bundle_python: bool,
                  names: Names) -> tuple[list[Artifact], list[str], list[Artifact]]:
    """Vendored artifacts, Requires-Dist specs and Python dependency artifacts
    of ``main`` (aliases walked through, never vendored or required)."""
    vendored: list[Artifact] = []
    requires: list[str] = []
    python_deps: list[Artifact] = []
    seen = {main.name}
    stack = [main]
    while stack:
        current = stack.pop(0)
        for spec in names.expand_aliases(current.depends, current.channel):
            name = spec_name(spec)
            if is_plumbing(name):
                continue
            dep = closure.get(name)
            if dep is None:
                continue
            if is_python_package(dep) and not bundle_python:
                requires.append(spec)
                if dep not in python_deps:
                    python_deps.append(dep)
                continue
            if name in seen:
                continue
            seen.add(name)
            vendored.append(dep)
            stack.append(dep)
    return vendored, requires, python_deps
