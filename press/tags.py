"""Wheel tags (PEP 425 / PEP 600): python and ABI from conda's python and
python_abi dependencies, the manylinux platform tag from auditwheel's policy
data and the binaries' needs."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from .errors import MetadataError

#: conda subdir -> (wheel platform family, machine).
SUBDIR_PLATFORMS = {
    "linux-64": ("linux", "x86_64"),
    "linux-aarch64": ("linux", "aarch64"),
    "linux-ppc64le": ("linux", "ppc64le"),
    "linux-s390x": ("linux", "s390x"),
    "linux-32": ("linux", "i686"),
    "osx-64": ("macosx", "x86_64"),
    "osx-arm64": ("macosx", "arm64"),
    "win-64": ("win", "amd64"),
    "win-32": ("win", "win32"),
    "win-arm64": ("win", "arm64"),
}


@dataclass(frozen=True)
class PythonTags:
    """``python`` (e.g. ``cp312``/``py3``) and ``abi`` (``cp312``, ``cp37m``,
    ``cp313t``, ``abi3`` or ``none``) tags."""

    python: str
    abi: str


def python_version_of(depends: Iterable[str]) -> tuple[int, int] | None:
    """The ``(major, minor)`` a package is built for, from ``python_abi X.Y``
    or the lower bound of a ``python >=X.Y,<X.Y+1`` pin; None for a package
    that does not pin one minor (noarch or non-Python)."""
    from rattler import MatchSpec

    lower = None
    for spec in depends:
        match = MatchSpec(spec)
        version = str(match.version) if match.version else ""
        if match.name.normalized == "python_abi":
            found = re.match(r"^=*(\d+)\.(\d+)", version)
            if found:
                return int(found.group(1)), int(found.group(2))
        if match.name.normalized == "python":
            found = re.search(r">=?(\d+)\.(\d+)", version)
            upper = re.search(r"<(\d+)\.(\d+)", version)
            exact = re.match(r"^=*(\d+)\.(\d+)(\.\*)?$", version)
            if exact:
                lower = (int(exact.group(1)), int(exact.group(2)))
            elif found and upper and (int(upper.group(1)), int(upper.group(2))) == (int(found.group(1)), int(found.group(2)) + 1):
                lower = (int(found.group(1)), int(found.group(2)))
    return lower


def _abi_build(depends: Iterable[str]) -> str | None:
    from rattler import MatchSpec

    for spec in depends:
        match = MatchSpec(spec)
        if match.name.normalized == "python_abi" and match.build:
            return str(match.build)
    return None


def python_tags(depends: Sequence[str], extension_suffixes: Iterable[str]) -> PythonTags:
    """Python and ABI tags for a package.

    ``extension_suffixes`` are the file names of the package's Python
    extension modules. Without extensions the wheel is ``py3-none``. With
    them: ``cpXY`` from the python pin, ABI ``cpXY`` plus ``m`` before 3.8
    (PEP 3149), ``t`` for free-threaded builds (``*_cp313t`` python_abi),
    ``abi3`` when every extension is a stable-ABI module (``.abi3.so``/
    ``.pyd`` with abi3 in the python_abi build). Raises :class:`MetadataError`
    for extensions with no Python pin.
    """
    extensions = list(extension_suffixes)
    if not extensions:
        return PythonTags("py3", "none")
    version = python_version_of(depends)
    if version is None:
        raise MetadataError("has Python extension modules but no python/python_abi pin to tag them with")
    major, minor = version
    py = f"cp{major}{minor}"
    build = _abi_build(depends) or ""
    if build.endswith("t") or any(re.search(rf"cpython-{major}{minor}t-", e) for e in extensions):
        return PythonTags(py, f"{py}t")
    if all(".abi3." in e for e in extensions):
        return PythonTags(py, "abi3")
    return PythonTags(py, f"{py}m" if (major, minor) < (3, 8) else py)


def allowed_libraries(machine: str) -> set[str]:
    """Every SONAME some manylinux policy of auditwheel's policy data allows
    a wheel for ``machine`` (``x86_64``, ``aarch64`` ...) to load from the system."""
    from auditwheel.architecture import Architecture
    from auditwheel.libc import Libc
    from auditwheel.policy import WheelPolicies

    allowed: set[str] = set()
    for policy in WheelPolicies(libc=Libc.GLIBC, arch=Architecture(machine)):
        allowed |= set(policy.whitelist)
    return allowed


def manylinux_tag(
    machine: str,
    external_needs: dict[str, set[str]],
) -> tuple[str, list[str]]:
    """The highest-priority manylinux platform tag that ``external_needs`` allow.

    ``external_needs`` maps every library a wheel's ELF files need from
    outside the wheel (SONAME) to the symbol versions required from it
    (``GLIBC_2.17``...). Uses auditwheel's policy data: every library must
    be on the policy's allow-list and every symbol version within its limits.
    Returns ``(tag, reasons)``; ``tag`` is ``linux_<machine>`` with the reasons
    when no manylinux policy fits (PyPI refuses such wheels).
    """
    from auditwheel.architecture import Architecture
    from auditwheel.libc import Libc
    from auditwheel.policy import WheelPolicies

    policies = WheelPolicies(libc=Libc.GLIBC, arch=Architecture(machine))
    reasons: list[str] = []
    ignored = re.compile(r"^ld-linux.*|^ld64\.so\.\d$")
    needs = {k: v for k, v in external_needs.items() if not ignored.match(k)}
    symbol_policy = policies.versioned_symbols_policy({k: set(v) for k, v in needs.items()})
    for policy in sorted(policies, key=lambda p: p.priority, reverse=True):
        if policy.name.startswith("linux"):
            continue
        if policy.priority > symbol_policy.priority:
            continue
        outside = sorted(lib for lib in needs if lib not in policy.whitelist)
        if outside:
            reasons = [f"{lib} is not on the manylinux allow-list" for lib in outside]
            continue
        name = policy.name
        return name, []
    if not reasons:
        reasons = ["needs symbol versions newer than any manylinux policy allows"]
    return f"linux_{machine}", reasons


@functools.lru_cache(maxsize=None)
def _glibc_policies(platform: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``(name, aliases)`` of auditwheel's glibc policies for the architecture
    a ``manylinux*`` platform tag ends with (auditwheel's own test,
    ``get_wheel_architecture``: the tag ends with ``_<arch>``); empty for any
    other tag."""
    from auditwheel.architecture import Architecture
    from auditwheel.libc import Libc
    from auditwheel.policy import WheelPolicies

    arches = [a for a in Architecture if platform.endswith(f"_{a.value}")]
    if not platform.startswith("manylinux") or not arches:
        return ()
    arch = max(arches, key=lambda a: len(a.value))  # x86_64_v2 before x86_64
    try:
        policies = WheelPolicies(libc=Libc.GLIBC, arch=arch)
    except (ValueError, KeyError, LookupError):
        return ()
    return tuple((p.name, tuple(p.aliases)) for p in policies if not p.name.startswith("linux"))


def policy_platform(platform: str) -> str:
    """The PEP 600 name of a platform tag: a legacy manylinux alias
    (``manylinux1_x86_64``, ``manylinux2010_x86_64``, ``manylinux2014_aarch64``:
    PEP 513/571/599) gives the name of its policy in auditwheel's policy data
    (``manylinux_2_5_x86_64`` ...); every other tag is returned unchanged."""
    return next((name for name, aliases in _glibc_policies(platform) if platform in aliases), platform)


def platform_tags(platform: str) -> list[str]:
    """The platform tags a wheel for ``platform`` is written with, as
    auditwheel ``repair`` writes the WHEEL ``Tag:`` lines: a manylinux policy's
    name followed by its legacy aliases from auditwheel's policy data
    (``manylinux_2_17_x86_64`` -> ``[manylinux_2_17_x86_64, manylinux2014_x86_64]``;
    ``2_12`` adds ``manylinux2010``, ``2_5`` ``manylinux1``), so that pip
    before 20.3, which knows no PEP 600 tag, still installs the wheel. Any
    other tag (a newer manylinux policy, ``linux_*``, macOS, Windows, ``any``)
    is alone: ``[platform]``."""
    policy = next(((name, aliases) for name, aliases in _glibc_policies(platform) if platform == name), None)
    return [policy[0], *policy[1]] if policy else [platform]


def compressed_platform(platform: str) -> str:
    """The platform part of a wheel file name for ``platform``: the
    compressed tag set (PEP 425) of :func:`platform_tags`, sorted and joined
    with ``.`` as auditwheel's ``add_platforms`` names the repaired wheel
    (``manylinux2014_x86_64.manylinux_2_17_x86_64``)."""
    return ".".join(sorted(platform_tags(platform)))


def platform_of(tags: str) -> str:
    """The one platform a press wheel is for, from its tag set
    ``python-abi-platform`` as in its file name, where ``platform`` may be a
    compressed set (``cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64``):
    the tags are expanded with ``packaging.tags.parse_tag`` and legacy
    manylinux aliases folded into their PEP 600 name (:func:`policy_platform`),
    giving ``manylinux_2_17_x86_64``. Raises ``ValueError`` for a set that
    names more than one platform (press writes no such wheel)."""
    from packaging.tags import parse_tag

    platforms = sorted({policy_platform(t.platform) for t in parse_tag(tags)})
    if len(platforms) != 1:
        raise ValueError(f"{tags!r} names {len(platforms)} platforms, not one")
    return platforms[0]


def policy_ceiling(plat: str, machine: str, needs: dict[str, dict[str, set[str]]]) -> list[str]:
    """What keeps a wheel from ``plat`` (a manylinux tag or alias, auditwheel's
    ``--plat``): for each ELF file (archive name) -> library -> symbol
    versions it needs from the system, each library off the policy's
    allow-list and each symbol version beyond the policy's limits, as
    ``"<file>: <library> <version>"`` lines. Raises ``ValueError`` for a tag
    that names no policy of auditwheel's data for ``machine``."""
    from auditwheel.architecture import Architecture
    from auditwheel.libc import Libc
    from auditwheel.policy import WheelPolicies

    policies = WheelPolicies(libc=Libc.GLIBC, arch=Architecture(machine))
    policy = next((p for p in policies if plat == p.name or plat in p.aliases), None)
    if policy is None or policy.name.startswith("linux"):
        names = ", ".join(sorted(p.name for p in policies if not p.name.startswith("linux")))
        raise ValueError(f"{plat!r} is not a manylinux policy for {machine} (one of: {names})")
    problems = []
    for arc, libraries in sorted(needs.items()):
        for library, versions in sorted(libraries.items()):
            if re.match(r"^ld-linux.*|^ld64\.so\.\d$", library):
                continue
            if library not in policy.whitelist:
                problems.append(f"{arc}: {library} (not on {policy.name}'s allow-list)")
                continue
            for version in sorted(versions):
                prefix, _, number = version.partition("_")
                allowed = policy.symbol_versions.get(prefix)
                if allowed is not None and number not in allowed:
                    problems.append(f"{arc}: {library} {version}")
    return problems


def macos_tag(min_os: tuple[int, int], arch: str) -> str:
    """The ``macosx_X_Y_<arch>`` platform tag for a minimum macOS version.

    From macOS 11 on, pip and packaging only generate ``macosx_X_0`` tags, so
    a minimum of 11.3 is tagged ``macosx_12_0``, the lowest tag an installer
    accepts that is not older than the binary (delocate's rule).
    """
    major, minor = min_os
    if major >= 11:
        major, minor = (major + 1, 0) if minor else (major, 0)
    return f"macosx_{major}_{minor}_{arch}"


#: wheel platform tag per conda subdir for Windows (PEP 425).
WINDOWS_TAGS = {"amd64": "win_amd64", "win32": "win32", "arm64": "win_arm64"}

_MSVC_RUNTIME = re.compile(
    r"^(vcruntime\d.*|vccorlib\d.*|msvcp[\d_].*|msvcr(t|\d.*)|concrt\d.*|vcamp\d.*|vcomp(\d.*)?)\.dll$", re.I
)


def is_msvc_runtime(name: str) -> bool:
    """True for a DLL of the Microsoft Visual C++ runtime (``vcruntime140.dll``,
    ``msvcp140.dll`` ...). Pattern from delvewheel's ``vc_redist`` list."""
    return bool(_MSVC_RUNTIME.match(name))


#: DLLs every CPython for Windows ships next to python.exe (python.org installer, conda's python).
CPYTHON_SHIPPED_DLLS = frozenset({"vcruntime140.dll", "vcruntime140_1.dll"})


def windows_system_dll(name: str, platform_tag: str) -> bool:
    """True for a DLL that Windows or the interpreter provides: delvewheel's
    list of system DLLs for the architecture and its patterns (``api-ms-win-*``
    API sets, ``pythonXY.dll``, ``python3.dll``), plus the Universal CRT
    (``ucrtbase.dll``, part of Windows 10 and later)."""
    from delvewheel import _dll_list

    lower = name.lower()
    if lower.startswith(("api-ms-win-", "ext-ms-")) or lower in ("ucrtbase.dll",):
        return True
    names = {
        "win_amd64": _dll_list.ignore_names_x64,
        "win32": _dll_list.ignore_names_x86,
        "win_arm64": _dll_list.ignore_names_arm64,
    }.get(platform_tag, _dll_list.ignore_names_x64)
    return lower in names or any(r.fullmatch(lower) for r in _dll_list.ignore_regexes)
