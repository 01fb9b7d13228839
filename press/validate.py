"""Validate a wheel by installing it into a fresh venv of the interpreter it targets.

Wheels for another platform (macOS, Windows, another Linux architecture) are
checked structurally instead: uv (or pip) installs them into a target
directory for that platform (uv's ``--python-platform``, pip's
``--platform``, so the installer's tag checks accept or refuse the wheel),
then :mod:`press.structure` (macholib, pefile) or pyelftools read every
binary and check that each dependency resolves inside the installed tree or
to a system library, that edited Mach-O files carry valid code signatures
and that the tags match the binaries.

Steps: find the target interpreter (``--python-exe`` or by version among
installed ones), make a venv (:mod:`press.venvs`: uv, or ``python -m venv``
and pip), install offline from the wheel directory (``--no-index
--find-links``), run the package's own test imports (``info/recipe`` /
``info/test``) in that venv, and check that every ELF file of the installed
wheel resolves each ``DT_NEEDED`` inside the installed files (through its
RUNPATH) or on the manylinux allow-list. The ELF check reads the files with
pyelftools, independently of the LIEF code that wrote them.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import venvs
from .report import ValidationResult, WheelReport
from .tags import allowed_libraries

if TYPE_CHECKING:
    from .convert import ConvertOptions


def interpreter_version(exe: Path) -> str | None:
    """``X.Y`` of a Python executable, or None when it does not run."""
    try:
        out = subprocess.run(
            [str(exe), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_interpreter(version: str) -> Path | None:
    """An installed CPython ``X.Y``: ``pythonX.Y`` on PATH, then pyenv's and
    the usual prefixes (``~/.pyenv/versions/X.Y.*``, ``/usr/local/bin``,
    ``/usr/bin``). None when there is none."""
    candidates = []
    found = shutil.which(f"python{version}")
    if found:
        candidates.append(found)
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", "python")), reverse=True)
    candidates += [f"/usr/local/bin/python{version}", f"/usr/bin/python{version}"]
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        candidates.append(sys.executable)
    for candidate in candidates:
        if Path(candidate).is_file() and interpreter_version(Path(candidate)) == version:
            return Path(candidate)
    return None


def _target_python(wheel: WheelReport, default: str | None) -> str | None:
    python_tag = wheel.tags.split("-")[0]
    if python_tag.startswith("cp") and len(python_tag) > 3:
        return f"{python_tag[2]}.{python_tag[3:]}"
    return default


#: ELF ``e_machine`` per wheel platform-tag architecture.
ELF_MACHINES = {"x86_64": "EM_X86_64", "aarch64": "EM_AARCH64", "ppc64le": "EM_PPC64", "s390x": "EM_S390", "i686": "EM_386"}


def elf_dynamic(elf: Any) -> tuple[list[str], list[str], dict[str, set[str]]]:
    """What an ELF file (a pyelftools ``ELFFile``) loads: its ``DT_NEEDED``
    names, its ``DT_RUNPATH``/``DT_RPATH`` entries in order, and per needed
    library the symbol versions it requires (``.gnu.version_r``)."""
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.gnuversions import GNUVerNeedSection

    needed: list[str] = []
    runpath: list[str] = []
    versions: dict[str, set[str]] = {}
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                if tag.entry.d_tag == "DT_NEEDED":
                    needed.append(getattr(tag, "needed"))  # DynamicTag sets it with setattr
                elif tag.entry.d_tag in ("DT_RUNPATH", "DT_RPATH"):
                    value = getattr(tag, "runpath" if tag.entry.d_tag == "DT_RUNPATH" else "rpath")
                    runpath += [p for p in value.split(":") if p]
        elif isinstance(section, GNUVerNeedSection):
            for verneed, auxiliaries in section.iter_versions():
                versions.setdefault(str(verneed.name), set()).update(str(a.name) for a in auxiliaries)
    return needed, runpath, versions


def runpath_dirs(runpath: list[str], origin: Path) -> list[Path]:
    """RUNPATH entries with ``$ORIGIN`` expanded to ``origin``, resolved."""
    return [Path(p.replace("$ORIGIN", str(origin)).replace("${ORIGIN}", str(origin))).resolve() for p in runpath]


def check_elf_resolution(site_packages: Path, files: list[Path], allowed: set[str], arch: str | None = None) -> list[str]:
    """Problems with the ELF files among ``files``: each DT_NEEDED must be found
    through the file's RUNPATH/RPATH (``$ORIGIN`` expanded) inside
    ``site_packages`` or be in ``allowed``; with ``arch`` (``aarch64`` ...)
    each file's ``e_machine`` must match it. Returns human-readable problems."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    problems = []
    root = site_packages.resolve()
    for path in files:
        try:
            with open(path, "rb") as handle:
                if handle.read(4) != b"\x7fELF":
                    continue
                handle.seek(0)
                elf = ELFFile(handle)
                if arch and elf["e_machine"] != ELF_MACHINES.get(arch, elf["e_machine"]):
                    problems.append(f"{path.name}: {elf['e_machine']}, the tag says {arch}")
                needed, paths, _versions = elf_dynamic(elf)
        except (ELFError, OSError) as exc:
            problems.append(f"{path.name}: unreadable ELF ({exc})")
            continue
        dirs = []
        for entry, resolved in zip(paths, runpath_dirs(paths, path.parent)):
            if not str(resolved).startswith(str(root)):
                problems.append(f"{path.relative_to(root)}: RUNPATH {entry} leaves the installed wheel")
            dirs.append(resolved)
        for name in needed:
            if name in allowed or name.startswith("ld-linux") or name.startswith("ld64.so"):
                continue
            if not any((d / name).is_file() for d in dirs):
                problems.append(f"{path.relative_to(root)}: {name} resolves neither inside the wheel nor on the allow-list")
    return problems


def validate_wheel(wheel: WheelReport, options: ConvertOptions, provide: Provider | None = None) -> ValidationResult:
    """Install ``wheel`` into a fresh venv and run its import tests.

    ``options`` is the :class:`~press.convert.ConvertOptions` of the
    conversion (``python``, ``python_exe``, ``wheel_dir``, ``subdir``).
    Wheels for another platform (and pure wheels converted for another
    subdir) get :func:`validate_foreign` instead. Returns ``skipped`` when no
    matching interpreter is installed or no installer can serve it
    (:func:`press.venvs.cannot_run`), ``failed`` with the reason when
    installation, an import, or library resolution fails.
    """
    import platform as _platform

    if not _is_native(wheel, options):
        return validate_foreign(wheel, options)
    version = _target_python(wheel, options.python)
    exe = Path(options.python_exe) if options.python_exe else (find_interpreter(version) if version else None)
    if exe is None:
        return ValidationResult("skipped", f"no Python {version} interpreter found (use --python-exe)")
    actual = interpreter_version(exe)
    if version and actual != version and wheel.tags.startswith("cp"):
        return ValidationResult("failed", f"{exe} is not Python {version}")
    unable = _installer_unable(actual)
    if unable:
        return ValidationResult("skipped", unable, list(wheel.test_imports))
    with tempfile.TemporaryDirectory(prefix="press-validate-") as tmp:
        python, env, site, failure = _venv_with(exe, [wheel.path], Path(tmp))
        if failure:
            return ValidationResult("failed", failure, list(wheel.test_imports))
        return _check_installed(wheel, python, site, env, Path(tmp), _platform.machine(), provide)


def _installer_unable(python_version: str | None) -> str | None:
    """Why no installer can make and fill a venv of CPython
    ``python_version`` here (:mod:`press.venvs`), or None. A missing tool is
    a skipped validation, like a missing interpreter, not a failed wheel."""
    try:
        return venvs.cannot_run(venvs.find_installer(), python_version)
    except venvs.NoInstaller as exc:
        return str(exc)


def _venv_with(exe: Path, wheel_paths: list[str], tmp: Path) -> tuple[Path, dict[str, str], Path, str | None]:
    """A fresh venv of ``exe`` under ``tmp`` (made by uv or ``python -m venv``,
    :mod:`press.venvs`) with ``wheel_paths`` installed offline, their
    directories as the only source of dependencies. Returns its python, the
    environment to run it in, its platlib directory and None, or a failure
    reason last."""
    env = venvs.clean_environment()
    python = tmp / "venv" / "bin" / "python"
    try:
        tool = venvs.find_installer()
    except venvs.NoInstaller as exc:
        return python, env, tmp, str(exc)
    failure = venvs.make_venv(tool, exe, tmp / "venv", env)
    if failure:
        return python, env, tmp, failure
    install = venvs.install(tool, python, wheel_paths, env)
    if install.returncode != 0:
        return python, env, tmp, f"install failed ({tool.kind}): {install.stderr.strip()[-2000:]}"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
                               capture_output=True, text=True, env=env).stdout.strip())
    return python, env, site, None


#: A loader run in the validation venv: dlopen each path (RTLD_LAZY) and
#: print the ones that fail as JSON.
_DLOPEN = """
import ctypes, json, os, sys
failed = {}
for path in json.loads(sys.argv[1]):
    try:
        ctypes.CDLL(path, mode=os.RTLD_LAZY)
    except OSError as exc:
        failed[path] = str(exc)
print(json.dumps(failed))
"""


def load_shared_objects(python: Path, site: Path, installed: list[Path], env: dict[str, str], cwd: Path) -> list[str]:
    """``dlopen`` (RTLD_LAZY, through ctypes in the validation venv's
    interpreter) every shared library the wheel installs under a
    ``<name>.libs/`` directory, plugins loaded by path included, and return
    one problem line per library that does not load. DT_NEEDED resolution
    alone misses a plugin renamed away from the name its host opens, or one
    whose own dependencies are missing."""
    import json

    libraries = [p for p in installed if any(part.endswith(".libs") for part in p.relative_to(site).parts[:1])
                 and re.search(r"\.so(\.\d+)*$", p.name) and _is_shared_object(p)]
    if not libraries:
        return []
    run = subprocess.run([str(python), "-c", _DLOPEN, json.dumps([str(p) for p in libraries])],
                         capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    if run.returncode != 0:
        return [f"loading the vendored libraries crashed the interpreter: {run.stderr.strip()[-500:]}"]
    failed = json.loads(run.stdout or "{}")
    return [f"{Path(path).relative_to(site)} does not load: {reason}" for path, reason in sorted(failed.items())]


def _is_shared_object(path: Path) -> bool:
    """An ELF ET_DYN file without a program interpreter (a library, not a PIE executable)."""
    from elftools.elf.elffile import ELFFile

    try:
        with open(path, "rb") as handle:
            if handle.read(4) != b"\x7fELF":
                return False
            handle.seek(0)
            elf = ELFFile(handle)
            return elf["e_type"] == "ET_DYN" and not any(s["p_type"] == "PT_INTERP" for s in elf.iter_segments())
    except Exception:  # noqa: BLE001 - not an ELF file we can read: check_elf_resolution reports it
        return False


def _is_native(wheel: WheelReport, options: ConvertOptions) -> bool:
    """Whether ``wheel`` can be installed and run on this machine."""
    import platform as _platform

    from .channel import native_subdir

    platform_tag = wheel.tags.split("-")[-1]
    native = platform_tag.startswith(("manylinux", "linux")) and platform_tag.endswith(_platform.machine())
    return native or (platform_tag == "any" and options.subdir in ("noarch", native_subdir()))


def validate_wheels(wheels: list[WheelReport], options: ConvertOptions, provide: Provider | None = None) -> None:
    """Validate a set of wheels of one conversion, setting each one's
    ``validation``: wheels this machine can run share one fresh venv per
    target interpreter (all installed together, offline, from their wheel
    directory, as ``pip install`` of the set would), then each wheel's import
    tests, ELF resolution and library loading run against it. When the
    joint install fails, each wheel is validated alone
    (:func:`validate_wheel`) so the failure names its wheel. Other platforms
    get :func:`validate_foreign`."""
    import platform as _platform

    groups: dict[str | None, list[WheelReport]] = {}
    for wheel in wheels:
        if not _is_native(wheel, options):
            wheel.validation = validate_foreign(wheel, options)
        else:
            groups.setdefault(_target_python(wheel, options.python), []).append(wheel)
    for version, group in groups.items():
        exe = Path(options.python_exe) if options.python_exe else (find_interpreter(version) if version else None)
        actual = interpreter_version(exe) if exe is not None else None
        if exe is None or len(group) == 1 or (version and actual != version) or _installer_unable(actual):
            for wheel in group:
                wheel.validation = validate_wheel(wheel, options, provide)
            continue
        with tempfile.TemporaryDirectory(prefix="press-validate-") as tmp:
            python, env, site, failure = _venv_with(exe, [w.path for w in group], Path(tmp))
            if failure:
                for wheel in group:
                    wheel.validation = validate_wheel(wheel, options, provide)
                continue
            for wheel in group:
                wheel.validation = _check_installed(wheel, python, site, env, Path(tmp), _platform.machine(),
                                                    provide)


#: Where test requirements come from: conda MatchSpecs -> (wheel paths made
#: from what the channels have, conda names they do not have, and for each of
#: those the names its module may go by: the conda name and its PyPI name).
Provider = Callable[[list[str]], tuple[list[str], list[str], list[str]]]


def _import(python: Path, name: str, cwd: Path, env: dict[str, str]) -> str | None:
    """None when ``import name`` works in the venv, else its error output."""
    run = subprocess.run([str(python), "-c", f"import {name}"], capture_output=True, text=True, cwd=cwd, env=env)
    return None if run.returncode == 0 else run.stderr.strip()


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _missing_module(error: str, own: set[str], missing: list[str]) -> bool:
    """Whether an import failed for want of a module that is not the wheel's
    own (``own``: its top-level names) and that one of the ``missing`` test
    requirements (conda or PyPI names) would provide: the module's name is
    the requirement's, up to case and ``-_.``, or the requirement's without a
    ``-base``/``python-``/``py`` affix (``matplotlib-base`` provides
    ``matplotlib``)."""
    found = re.findall(r"(?:ModuleNotFoundError|ImportError): No module named '([A-Za-z0-9_.]+)'", error)
    if not found or found[-1].split(".")[0] in own:
        return False
    module = _key(found[-1].split(".")[0])
    for name in map(_key, missing):
        if module in (name, name.removesuffix("_base"), name.removeprefix("python_"), name.removesuffix("_python"),
                      name.removeprefix("py")):
            return True
    return False


def _test_imports(wheel: WheelReport, python: Path, cwd: Path, env: dict[str, str], provide: Provider | None
                  ) -> tuple[dict[str, str], list[str]]:
    """Run the import tests; when some fail and the recipe has test
    requirements, install what the channels provide of them and run those
    again. Returns the failures (module -> error) and the imports skipped
    because a test requirement no channel has is missing."""
    failures = {}
    for name in wheel.test_imports:
        error = _import(python, name, cwd, env)
        if error is not None:
            failures[name] = error
    skipped: list[str] = []
    if not failures or not wheel.test_requires or provide is None:
        return failures, skipped
    paths, missing, aliases = provide(list(wheel.test_requires))
    if paths:
        venvs.install(venvs.find_installer(), python, paths, env, links_from=paths + [wheel.path])
    with zipfile.ZipFile(wheel.path) as archive:
        own = {n.split("/")[0].split(".")[0] for n in archive.namelist()}
    for name in list(failures):
        error = _import(python, name, cwd, env)
        if error is None:
            del failures[name]
        elif missing and _missing_module(error, own, missing + aliases):
            skipped.append(f"{name} (needs {', '.join(missing)})")
            del failures[name]
        else:
            failures[name] = error
    return failures, skipped


def _check_installed(wheel: WheelReport, python: Path, site: Path, env: dict[str, str], cwd: Path, machine: str,
                     provide: Provider | None = None) -> ValidationResult:
    """Import tests (with test requirements, see :func:`_test_imports`), ELF
    resolution and library loading of an installed wheel."""
    imports = list(wheel.test_imports)
    failures, skipped = _test_imports(wheel, python, cwd, env, provide)
    for name, error in failures.items():
        return ValidationResult("failed", f"import {name} failed: {error[-2000:]}", imports, skipped_imports=skipped)
    if wheel.tags.split("-")[-1] != "any":
        installed = _installed_files(site, wheel.path)
        problems = check_elf_resolution(site, installed, allowed_libraries(machine))
        problems += load_shared_objects(python, site, installed, env, cwd)
        if problems:
            return ValidationResult("failed", "; ".join(problems[:10]), imports, skipped_imports=skipped)
    return ValidationResult("passed", "", imports, skipped_imports=skipped)


def _installed_files(site: Path, wheel_path: str) -> list[Path]:
    with zipfile.ZipFile(wheel_path) as archive:
        names = [n for n in archive.namelist() if ".data/" not in n.split("/", 1)[0] + "/"]
    return [site / n for n in names if (site / n).is_file()]


_SUBDIR_UV = {
    "osx-arm64": "aarch64-apple-darwin", "osx-64": "x86_64-apple-darwin", "win-64": "x86_64-pc-windows-msvc",
    "win-arm64": "aarch64-pc-windows-msvc", "win-32": "i686-pc-windows-msvc", "linux-aarch64": "aarch64-manylinux_2_17",
    "linux-64": "x86_64-manylinux_2_17",
}


def uv_platform(platform_tag: str, subdir: str | None = None) -> str | None:
    """uv's ``--python-platform`` value for a wheel platform tag (for a pure
    ``any`` wheel: for the conda ``subdir`` it was converted for), or None."""
    if platform_tag == "any":
        return _SUBDIR_UV.get(subdir or "")
    if platform_tag.startswith("macosx_"):
        return "aarch64-apple-darwin" if platform_tag.endswith("arm64") else "x86_64-apple-darwin"
    windows = {"win_amd64": "x86_64-pc-windows-msvc", "win_arm64": "aarch64-pc-windows-msvc", "win32": "i686-pc-windows-msvc"}
    if platform_tag in windows:
        return windows[platform_tag]
    found = re.match(r"^manylinux_(\d+)_(\d+)_(x86_64|aarch64)$", platform_tag)
    if found:
        major, minor, arch = found.groups()
        return f"{arch}-manylinux_{major}_{minor}" if (int(major), int(minor)) >= (2, 28) else f"{arch}-manylinux_2_17"
    return None


_MACOS_ARCHES = {True: {"arm64", "universal2"}, False: {"x86_64", "universal2", "intel", "universal", "fat64", "fat3"}}


def _macos_machine(directory: Path, platform_tag: str, arm: bool) -> str:
    """The macOS version (``X.Y``) of the machine a foreign wheel is installed
    for: new enough for the wheel's own tag (for a pure wheel: 11.0 on arm64,
    10.9 on x86_64) and for every macOS wheel of that architecture in its
    directory, where its dependencies come from (a pure Flask needs the
    MarkupSafe built for 10.15 beside it)."""
    newest = (11, 0) if arm else (10, 9)
    platforms = {platform_tag} | _platform_tags(str(directory), directory.stat().st_mtime_ns)
    for platform in platforms:
        found = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", platform)
        if found and found.group(3) in _MACOS_ARCHES[arm]:
            newest = max(newest, (int(found.group(1)), int(found.group(2))))
    return f"{newest[0]}.{newest[1]}"


@functools.lru_cache(maxsize=16)
def _platform_tags(directory: str, _stamp: int) -> frozenset[str]:
    """The platform tags of the wheels in ``directory`` (read once per
    directory state, ``_stamp`` its mtime: a batch validates every wheel of
    one directory)."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    platforms: set[str] = set()
    for path in Path(directory).glob("*.whl"):
        try:
            platforms.update(tag.platform for tag in parse_wheel_filename(path.name)[3])
        except InvalidWheelFilename:
            continue
    return frozenset(platforms)


def _extension_python_problems(names: list[str], python_tag: str) -> list[str]:
    problems = []
    for name in names:
        found = re.search(r"(?:cpython-|\.cp)(\d)(\d+)", name)
        if found and python_tag.startswith("cp") and f"cp{found.group(1)}{found.group(2)}" != python_tag:
            problems.append(f"{name} is built for cp{found.group(1)}{found.group(2)}, the tag says {python_tag}")
    return problems


def validate_foreign(wheel: WheelReport, options: ConvertOptions) -> ValidationResult:
    """Structural validation of a wheel for another platform (see the module docstring)."""
    from . import structure

    python_tag, _abi, platform_tag = wheel.tags.split("-")
    target = uv_platform(platform_tag, options.subdir)
    if target is None:
        return ValidationResult("skipped", f"no structural check for {platform_tag}", kind="structural")
    version = _target_python(wheel, options.python) or options.python or "3.12"
    checks: list[str] = []
    with tempfile.TemporaryDirectory(prefix="press-validate-") as tmp:
        site = Path(tmp) / "site"
        env = venvs.clean_environment()
        if "apple" in target:
            env["MACOSX_DEPLOYMENT_TARGET"] = _macos_machine(Path(wheel.path).parent, platform_tag,
                                                             target.startswith("aarch64"))
        try:
            tool = venvs.find_installer()
        except venvs.NoInstaller as exc:
            return ValidationResult("skipped", str(exc), kind="structural")
        install = venvs.install_for_platform(tool, site, wheel.path, target, version, env)
        if install.returncode != 0:
            return ValidationResult("failed", f"{tool.kind} refuses the install for {target}: "
                                    f"{install.stderr.strip()[-2000:]}", kind="structural")
        checks.append(f"{tool.kind} installs it for {target}, Python {version}")
        names = [p.name for p in site.rglob("*") if p.is_file()]
        problems = _extension_python_problems(names, python_tag)
        if platform_tag == "any":
            checks.append("pure Python: nothing to relocate")
        elif platform_tag.startswith("macosx_"):
            found, _resolution, _min_os = structure.check_macho_tree(site, platform_tag, set(wheel.relocated))
            problems += found
            checks.append("Mach-O dependencies resolve, signatures match, tag matches (macholib)")
        elif platform_tag.startswith("win"):
            found, _resolution = structure.check_pe_tree(site, platform_tag)
            problems += found
            checks.append("PE imports resolve, machine matches the tag (pefile)")
        else:
            arch = platform_tag.split("_", 3)[-1]
            installed = [p for p in site.rglob("*") if p.is_file()]
            problems += check_elf_resolution(site, installed, allowed_libraries(arch), arch)
            checks.append("ELF dependencies resolve, machine matches the tag (pyelftools)")
        if problems:
            return ValidationResult("failed", "; ".join(problems[:10]), checks=checks, kind="structural")
    return ValidationResult("passed", "structural checks only: no such platform here", checks=checks,
                            kind="structural")
