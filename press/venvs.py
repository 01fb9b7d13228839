"""Fresh venvs and offline installs for validation, with uv or with pip.

uv is the fast path (a venv in 0.1 s) and an optional extra
(``pip install 'press[uv]'``), found as its Python package or on ``PATH``;
without it, ``python -m venv`` and the pip of press's own environment
(``pip --python``, pip 22.3 and later) do the same work. ``PRESS_INSTALLER``
(``uv`` or ``pip``) picks one instead of the first found.

Every install is offline: ``--no-index`` with the wheels' directories as
``--find-links``, no cache. Installs for another platform use uv's
``--python-platform`` or pip's ``--platform`` with ``--only-binary :all:``,
so the tool's own tag checks accept or refuse the wheel.

pip is the weaker of the two, as pip itself documents: it runs under the
target interpreter (``pip --python``), so a pip whose ``Requires-Python``
excludes that interpreter cannot validate for it (:func:`cannot_run`: the
validation fails, naming uv as the remedy); and for another platform it evaluates
dependencies' environment markers for the machine running press and does
not backtrack to an older dependency whose ``Requires-Python`` fits (press
checks ``Requires-Python`` after the install). uv has neither limit.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import sandbox
from .sandbox import Jail

#: The environment variable that picks the tool: ``uv`` or ``pip``.
INSTALLER_VARIABLE = "PRESS_INSTALLER"


class NoInstaller(Exception):
    """Neither uv nor pip can be run (or the one ``PRESS_INSTALLER`` names cannot)."""


@dataclass(frozen=True)
class Installer:
    """A venv and install tool: ``kind`` is ``"uv"`` or ``"pip"``; ``command``
    the argv that runs it (``[uv]`` or ``[python, -m, pip]``)."""

    kind: str
    command: tuple[str, ...]


def _uv_binary() -> str | None:
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]

        return str(find_uv_bin())
    except Exception:
        return shutil.which("uv")


def _runs(argv: list[str]) -> bool:
    """True when ``argv`` (a ``--version`` call) exits 0 in the environment
    installs run in (a ``uv`` on PATH may be a shim that cannot run; pip found
    only through ``PYTHONPATH`` is not there once it is cleaned)."""
    try:
        return subprocess.run(argv, capture_output=True, env=clean_environment(), timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


#: Oldest pip with ``--python`` (pip 22.3).
PIP_MINIMUM = (22, 3)


@functools.lru_cache(maxsize=None)
def _find(wanted: str) -> Installer:
    if wanted not in ("", "uv", "pip"):
        raise NoInstaller(f"{INSTALLER_VARIABLE}={wanted!r}: expected uv or pip")
    if wanted in ("", "uv"):
        uv = _uv_binary()
        if uv and _runs([uv, "--version"]):
            return Installer("uv", (uv,))
        if wanted == "uv":
            raise NoInstaller(f"{INSTALLER_VARIABLE}=uv but uv is not installed or does not run: {_INSTALL_UV}")
    pip = (sys.executable, "-m", "pip")
    if importlib.util.find_spec("pip") is not None and _runs([*pip, "--version"]):
        version = _pip_version()
        if version < PIP_MINIMUM:
            raise NoInstaller(f"pip {'.'.join(map(str, version))} is older than 22.3 (it has no --python): "
                              f"{_INSTALL_UV}, or upgrade pip")
        return Installer("pip", pip)
    raise NoInstaller(f"validation needs uv or pip, and neither runs here: {_INSTALL_UV}")


_INSTALL_UV = "pip install 'press[uv]' (or uv pip install 'press[uv]')"


def _pip_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(part) for part in re.findall(r"\d+", version("pip"))[:2])


def find_installer() -> Installer:
    """uv when it is installed and runs, else pip (see the module docstring),
    decided once per process and ``PRESS_INSTALLER`` value. Raises
    :class:`NoInstaller` with what to install."""
    return _find(os.environ.get(INSTALLER_VARIABLE, "").strip().lower())


def cannot_run(tool: Installer, python_version: str | None) -> str | None:
    """Why ``tool`` cannot install into a venv of CPython ``python_version``
    (``X.Y``), or None. pip runs itself under the target interpreter
    (``pip --python``), so that interpreter must be one its ``Requires-Python``
    allows (pip 23.2 runs 3.7 and later; each newer pip drops old Pythons)."""
    if tool.kind != "pip" or not python_version:
        return None
    from importlib.metadata import metadata

    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    pip_metadata = metadata("pip")
    requires = pip_metadata["Requires-Python"] if "Requires-Python" in pip_metadata else None
    try:
        if not requires or SpecifierSet(str(requires)).contains(python_version, prereleases=True):
            return None
    except InvalidSpecifier:
        return None
    version = ".".join(map(str, _pip_version()))
    return f"pip {version} cannot run Python {python_version} (it requires {requires}): {_INSTALL_UV}"


def clean_environment() -> dict[str, str]:
    """``os.environ`` without what would point an install elsewhere: an active
    venv, ``PYTHONPATH``, uv's and pip's own settings, and pip's internal
    ``_PIP_RUNNING_IN_SUBPROCESS`` (which makes it ignore ``--python`` and
    install into its own environment). pip's configuration files are off
    (``PIP_CONFIG_FILE`` set to ``os.devnull``, as pip's documentation says;
    uv gets ``--no-config``): a ``find-links`` in a user's ``pip.conf`` or
    ``uv.toml`` must not supply what the wheel directory lacks."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "UV_", "PIP_", "_PIP_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def make_venv(tool: Installer, exe: Path, where: Path, env: dict[str, str]) -> str | None:
    """Create a venv of interpreter ``exe`` at ``where`` (without pip: installs
    go through ``tool``). Returns None, or why it could not."""
    if tool.kind == "uv":
        argv = [*tool.command, "venv", "-q", "--no-config", "-p", str(exe), str(where)]
    else:
        argv = [str(exe), "-m", "venv", "--without-pip", str(where)]
    made = subprocess.run(argv, capture_output=True, text=True, env=env)
    if made.returncode != 0:
        return f"cannot create a venv with {exe}: {made.stderr.strip()[-2000:]}"
    return None


def _links(paths: list[str]) -> list[str]:
    return [arg for folder in sorted({str(Path(p).parent) for p in paths}) for arg in ("--find-links", folder)]


def install(tool: Installer, python: Path, wheel_paths: list[str], env: dict[str, str],
            links_from: list[str] | None = None, *, jail: Jail | None = None) -> subprocess.CompletedProcess[str]:
    """Install ``wheel_paths`` into the venv of ``python``, offline, their
    dependencies found only in the directories of ``links_from`` (default:
    of the wheels themselves). With ``jail`` (:mod:`press.sandbox`) the
    installer runs in the validation's sandbox, in its environment instead of
    ``env``: it starts the venv's interpreter (uv's interpreter query, pip's
    ``--python``), which runs the ``.pth`` files already installed there. The
    installer and the ``*.whl`` files of the link directories are readable
    in it, nothing else of those directories (:func:`press.sandbox.wheel_view`)."""
    # Absolute: the installer may run elsewhere than press's working directory (the sandbox's scratch).
    wheel_paths = [os.path.abspath(p) for p in wheel_paths]
    links = _links([os.path.abspath(p) for p in links_from] if links_from is not None else wheel_paths)
    if tool.kind == "uv":
        argv = [*tool.command, "pip", "install", "-q", "--no-config", "--python", str(python), "--offline",
                "--no-cache", "--no-index"]
    else:
        argv = [*tool.command, "--python", str(python), "install", "-q", "--no-cache-dir", "--no-index",
                "--disable-pip-version-check", "--no-warn-script-location"]
    if jail is not None:
        directories = [links[i + 1] for i in range(0, len(links), 2)]
        try:
            wheels, hidden = sandbox.wheel_view(directories)
        except sandbox.NoSandbox as exc:
            return subprocess.CompletedProcess(argv, 1, "", str(exc))
        return jail.run([*argv, *links, *wheel_paths], readable=[*installer_paths(tool), *wheels], hidden=hidden)
    return subprocess.run([*argv, *links, *wheel_paths], capture_output=True, text=True, env=env)


def installer_paths(tool: Installer) -> list[str]:
    """The host paths ``tool`` needs to run in a sandbox (read-only): uv's
    executable; for pip, press's own interpreter (:func:`press.sandbox.interpreter_paths`)
    and the directory pip is imported from."""
    if tool.kind == "uv":
        return [os.path.realpath(tool.command[0])]
    paths = list(sandbox.interpreter_paths(tool.command[0]))
    spec = importlib.util.find_spec("pip")
    if spec is not None and spec.origin:
        paths.append(str(Path(spec.origin).resolve().parent.parent))
    return paths


def _pip_platforms(uv_target: str) -> list[str]:
    """pip ``--platform`` values for uv's ``--python-platform`` target: every
    platform tag a machine of that target accepts that pip does not derive by
    itself (pip expands a macOS version to the older ones, not manylinux
    glibc versions: PEP 600 ``manylinux_2_M`` for each M down to 5, and the
    PEP 513/571/599 aliases)."""
    found = re.match(r"^(x86_64|aarch64)-manylinux_2_(\d+)$", uv_target)
    if found:
        arch, newest = found.group(1), int(found.group(2))
        from .tags import platform_tags

        tags = [f"manylinux_2_{minor}_{arch}" for minor in range(newest, 4, -1)]
        tags += [alias for tag in tags for alias in platform_tags(tag)[1:]]  # auditwheel's policy data
        return tags
    return {
        "aarch64-apple-darwin": ["macosx_11_0_arm64"], "x86_64-apple-darwin": ["macosx_10_9_x86_64"],
        "x86_64-pc-windows-msvc": ["win_amd64"], "aarch64-pc-windows-msvc": ["win_arm64"],
        "i686-pc-windows-msvc": ["win32"],
    }[uv_target]


def install_for_platform(tool: Installer, target: Path, wheel: str, uv_target: str, python_version: str,
                         env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Install ``wheel`` into the directory ``target`` as for a machine of
    uv's ``--python-platform`` value ``uv_target`` running CPython
    ``python_version`` (``X.Y``), offline; the tool refuses a wheel whose tags
    that machine does not accept."""
    if tool.kind == "uv":
        argv = [*tool.command, "pip", "install", "-q", "--no-config", "--target", str(target), "--python-platform",
                uv_target, "--python-version", python_version, "--offline", "--no-cache", "--no-index"]
    else:
        platforms = [arg for tag in _pip_platforms(uv_target) for arg in ("--platform", tag)]
        if "apple" in uv_target and env.get("MACOSX_DEPLOYMENT_TARGET"):
            major, minor = (env["MACOSX_DEPLOYMENT_TARGET"].split(".") + ["0"])[:2]
            arch = "arm64" if uv_target.startswith("aarch64") else "x86_64"
            platforms = ["--platform", f"macosx_{major}_{minor}_{arch}"]
        # pip checks Requires-Python against the interpreter running it, not
        # --python-version (pypa/pip#11664): checked after the install instead.
        argv = [*tool.command, "install", "-q", "--target", str(target), *platforms, "--python-version",
                python_version, "--implementation", "cp", "--only-binary", ":all:", "--no-cache-dir", "--no-index",
                "--disable-pip-version-check", "--no-compile", "--ignore-requires-python"]
    done = subprocess.run([*argv, *_links([wheel]), wheel], capture_output=True, text=True, env=env)
    if tool.kind == "pip" and done.returncode == 0:
        refused = _requires_python_refusals(target, python_version)
        if refused:
            return subprocess.CompletedProcess(done.args, 1, done.stdout, "; ".join(refused))
    return done


def _requires_python_refusals(target: Path, python_version: str) -> list[str]:
    """What pip would have said of each distribution installed in ``target``
    whose ``Requires-Python`` (core metadata, read with packaging) excludes
    ``python_version``."""
    from packaging.metadata import parse_email
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    refused = []
    for metadata in sorted(target.glob("*.dist-info/METADATA")):
        raw, _unparsed = parse_email(metadata.read_bytes())
        name, requires = raw.get("name", metadata.parent.name), raw.get("requires_python")
        if not requires:
            continue
        try:
            allowed = SpecifierSet(requires).contains(python_version, prereleases=True)
        except InvalidSpecifier:
            allowed = False
        if not allowed:
            refused.append(f"ERROR: Package {name!r} requires a different Python: {python_version} not in {requires!r}")
    return refused
