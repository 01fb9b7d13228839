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

The installed-tree checks (ELF resolution, library loading, extension file
names) cover every distribution installed, and each problem is blamed on the
distribution whose ``RECORD`` lists the file: that wheel fails, its
dependents fail as ``dependency <name> failed``. A validation that cannot run
(no interpreter, no installer for that Python) fails with the remedy: a
requested check that did not run is not a pass.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import sandbox, venvs
from .report import ValidationResult, WheelReport
from .tags import allowed_libraries, platform_of, policy_platform
from .workdir import work_dir

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
    from elftools.elf.elffile import ELFFile

    problems = []
    root = site_packages.resolve()
    for path in files:
        rel = _relative(path, site_packages)
        try:
            with open(path, "rb") as handle:
                if handle.read(4) != b"\x7fELF":
                    continue
                handle.seek(0)
                elf = ELFFile(handle)
                if arch and elf["e_machine"] != ELF_MACHINES.get(arch, elf["e_machine"]):
                    problems.append(f"{rel}: {elf['e_machine']}, the tag says {arch}")
                needed, paths, _versions = elf_dynamic(elf)
        except Exception as exc:  # noqa: BLE001 - ELFError, OSError, or pyelftools on bytes a package rewrote
            problems.append(f"{rel}: unreadable ELF ({type(exc).__name__}: {exc})"[:500])
            continue
        dirs = []
        for entry, resolved in zip(paths, runpath_dirs(paths, path.parent)):
            if not str(resolved).startswith(str(root)):
                problems.append(f"{rel}: RUNPATH {entry} leaves the installed wheel")
            dirs.append(resolved)
        for name in needed:
            if name in allowed or name.startswith("ld-linux") or name.startswith("ld64.so"):
                continue
            if not _plain_name(name):
                problems.append(f"{rel}: DT_NEEDED {name[:300]!r} is not a plain file name")
            elif not any(_is_file(d / name) for d in dirs):
                problems.append(f"{rel}: {name} resolves neither inside the wheel nor on the allow-list")
    return problems


def _plain_name(name: object) -> bool:
    """Whether a ``DT_NEEDED`` value is a plain file name (:func:`press.grammar.file_name`:
    printable ASCII, no ``/``, at most 255 bytes), which the loader looks up in directories."""
    from .grammar import file_name

    try:
        file_name(name)
    except ValueError:
        return False
    return True


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for a path the file system refuses (too long, NUL)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _relative(path: Path, site: Path) -> str:
    """``path`` relative to ``site`` (POSIX), or its name when it lies elsewhere."""
    for base in (site, site.resolve()):
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.name


def validate_wheel(wheel: WheelReport, options: ConvertOptions, provide: Provider | None = None) -> ValidationResult:
    """Install ``wheel`` into a fresh venv and run its import tests.

    ``options`` is the :class:`~press.convert.ConvertOptions` of the
    conversion (``python``, ``python_exe``, ``wheel_dir``, ``subdir``).
    Wheels for another platform (and pure wheels converted for another
    subdir) get :func:`validate_foreign` instead. Returns ``failed`` with
    the reason when installation, an import, or a check of the installed
    tree fails (see :func:`_check_installed`), and also, with the remedy in
    the reason, when the validation cannot run at all: no interpreter of
    the target Python, or no installer that can serve it
    (:func:`press.venvs.cannot_run`, :class:`press.venvs.NoInstaller`). A
    requested check that did not run is not a pass.
    """
    import platform as _platform

    if not _is_native(wheel, options):
        return validate_foreign(wheel, options)
    version = _target_python(wheel, options.python)
    exe = Path(options.python_exe) if options.python_exe else (find_interpreter(version) if version else None)
    if exe is None:
        return ValidationResult("failed", no_interpreter(version), list(wheel.test_imports))
    actual = interpreter_version(exe)
    if version and actual != version and wheel.tags.startswith("cp"):
        return ValidationResult("failed", f"{exe} is not Python {version}")
    unable = _installer_unable(actual)
    if unable:
        return ValidationResult("failed", unable, list(wheel.test_imports))
    with work_dir("validate-") as tmp:
        python, jail, site, failure = _venv_with(exe, [wheel.path], Path(tmp))
        if failure or jail is None:
            return ValidationResult("failed", failure or "no sandbox", list(wheel.test_imports),
                                    sandbox=jail.kind if jail else "")
        tree = installed_tree_problems(site, python, jail.environment(), Path(tmp), _platform.machine(), actual,
                                       jail=jail)
        return _check_installed(wheel, python, site, jail, Path(tmp), tree, actual, provide)


def no_interpreter(version: str | None) -> str:
    """The failure reason of a validation with no interpreter for ``version`` (``X.Y``), with the remedies."""
    return (f"no CPython {version or '(unknown version)'} found to validate with: install it "
            f"(e.g. pyenv install {version or 'X.Y'}) or pass --python-exe, or --no-validate")


def _installer_unable(python_version: str | None) -> str | None:
    """Why no installer can make and fill a venv of CPython
    ``python_version`` here (:mod:`press.venvs`), or None. The reason names
    the remedy (install uv, ``--no-validate``); validation that cannot run
    fails."""
    try:
        reason = venvs.cannot_run(venvs.find_installer(), python_version)
    except venvs.NoInstaller as exc:
        reason = str(exc)
    return f"{reason}, or --no-validate" if reason else None


def _missing_hint(stderr: str) -> str:
    """When an install failed because requirements are not in the wheel
    directory (uv: ``X was not found in the provided package locations``;
    pip: ``No matching distribution found for X``), what to do about it: a
    wheel installs from its wheel directory alone, so its dependencies'
    wheels must be there (a spec converts its closure; an artifact file is
    converted alone)."""
    missing = sorted(set(re.findall(r"Because ([A-Za-z0-9._-]+) was not found in the provided package locations", stderr)
                         + re.findall(r"No matching distribution found for ([A-Za-z0-9._-]+)", stderr)))
    if not missing:
        return ""
    return (f" -- {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in the wheel directory: validation "
            f"installs from it alone, so convert the dependencies too (a spec converts its whole closure; artifact "
            f"files are converted as given: pass theirs as well), or --no-validate")


def _venv_with(exe: Path, wheel_paths: list[str], tmp: Path) -> tuple[Path, sandbox.Jail | None, Path, str | None]:
    """A fresh venv of ``exe`` under ``tmp`` (made by uv or ``python -m venv``,
    :mod:`press.venvs`, from the trusted base interpreter: no package code
    runs) with ``wheel_paths`` installed offline, their directories as the
    only source of dependencies. The install and the sysconfig probe start
    the venv's interpreter, which runs the installed ``.pth`` files, so they
    run in the validation's sandbox (:func:`press.sandbox.jail`, whose
    scratch directory is ``tmp``), as every later step that runs package
    code does. Returns its python, the sandbox, its platlib directory
    (resolved; checked to lie inside the venv, since a ``.pth`` file may
    print anything) and None, or a failure reason last (no installer, no
    sandbox: :class:`press.sandbox.NoSandbox` with the remedy)."""
    env = venvs.clean_environment()
    python = tmp / "venv" / "bin" / "python"
    try:
        tool = venvs.find_installer()
        jail = sandbox.jail(tmp, [exe])
    except (venvs.NoInstaller, sandbox.NoSandbox) as exc:
        return python, None, tmp, str(exc)
    failure = venvs.make_venv(tool, exe, tmp / "venv", env)
    if failure:
        return python, jail, tmp, failure
    install = venvs.install(tool, python, wheel_paths, env, jail=jail)
    if install.returncode != 0:
        return python, jail, tmp, (f"install failed ({tool.kind}): {install.stderr.strip()[-2000:]}"
                                   f"{_missing_hint(install.stderr)}")
    probe = jail.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"])
    site = _inside(probe.stdout.strip().splitlines()[-1] if probe.stdout.strip() else "", tmp / "venv")
    if probe.returncode != 0 or site is None:
        return python, jail, tmp, (f"the venv's interpreter does not name a site-packages inside the venv: "
                                   f"{(probe.stdout.strip() + ' ' + probe.stderr.strip()).strip()[-2000:]}")
    return python, jail, site, None


def _inside(reported: str, venv: Path) -> Path | None:
    """The directory ``reported`` (an absolute path the venv's interpreter
    printed), resolved, when it lies inside ``venv``; else None."""
    if not reported.startswith("/"):
        return None
    try:
        site = Path(reported).resolve(strict=True)
        site.relative_to(venv.resolve())
    except (OSError, ValueError, RuntimeError):
        return None
    return site if site.is_dir() else None


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


def load_shared_objects(python: Path, site: Path, installed: list[Path], env: dict[str, str], cwd: Path,
                        jail: sandbox.Jail | None = None) -> list[str]:
    """``dlopen`` (RTLD_LAZY, through ctypes in the validation venv's
    interpreter) every shared library the wheel installs under a
    ``<name>.libs/`` directory, plugins loaded by path included, and return
    one problem line per library that does not load. DT_NEEDED resolution
    alone misses a plugin renamed away from the name its host opens, or one
    whose own dependencies are missing. Loading runs the libraries' ELF
    constructors: with ``jail`` it runs in that sandbox (``env`` unused),
    else with ``env``. The loader's answer is its last output line, and an
    answer that is not the JSON it prints is a problem, not an error."""
    import json

    libraries = [p for p in installed if any(part.endswith(".libs") for part in p.relative_to(site).parts[:1])
                 and re.search(r"\.so(\.\d+)*$", p.name) and _is_shared_object(p)]
    if not libraries:
        return []
    argv = [str(python), "-c", _DLOPEN, json.dumps([str(p) for p in libraries])]
    if jail is not None:
        run = jail.run(argv, cwd=cwd)
    else:
        run = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
                             stdin=subprocess.DEVNULL, errors="replace")
    if run.returncode != 0:
        return [f"loading the vendored libraries crashed the interpreter: {run.stderr.strip()[-500:]}"]
    lines = run.stdout.strip().splitlines()
    try:
        failed = json.loads(lines[-1] if lines else "{}")
        if not isinstance(failed, dict):
            raise ValueError(type(failed).__name__)
    except ValueError:
        return [f"loading the vendored libraries printed no answer: {run.stdout.strip()[-500:]}"]
    return [f"{_relative(Path(str(path)), site)} does not load: {str(reason)[:500]}"
            for path, reason in sorted(failed.items())]


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

    platform_tag = platform_of(wheel.tags)
    native = platform_tag.startswith(("manylinux", "linux")) and platform_tag.endswith(_platform.machine())
    return native or (platform_tag == "any" and options.subdir in ("noarch", native_subdir()))


def validate_wheels(wheels: list[WheelReport], options: ConvertOptions, provide: Provider | None = None,
                    progress: Callable[[str], None] | None = None) -> None:
    """Validate a set of wheels of one conversion, setting each one's
    ``validation``: wheels this machine can run share one fresh venv per
    target interpreter (all installed together, offline, from their wheel
    directory, as ``pip install`` of the set would), then each wheel's import
    tests, ELF resolution, extension suffixes and library loading run
    against it (:func:`installed_tree_problems`: a bad file fails the wheel
    that installed it, and the wheels depending on that one as "dependency
    X failed"). When the joint install fails, each wheel is validated alone
    (:func:`validate_wheel`) so the failure names its wheel. Other platforms
    get :func:`validate_foreign`. ``progress`` receives status messages:
    the venv being made, then ``validating [i/n] <wheel file>`` as each
    wheel's checks start."""
    import platform as _platform

    say = progress or (lambda message: None)
    position = 0

    def starting(wheel: WheelReport, how: str = "") -> None:
        nonlocal position
        position += 1
        say(f"validating [{position}/{len(wheels)}] {Path(wheel.path).name}{how}")

    groups: dict[str | None, list[WheelReport]] = {}
    for wheel in wheels:
        if not _is_native(wheel, options):
            starting(wheel, " (structural)")
            wheel.validation = validate_foreign(wheel, options)
        else:
            groups.setdefault(_target_python(wheel, options.python), []).append(wheel)
    for version, group in groups.items():
        exe = Path(options.python_exe) if options.python_exe else (find_interpreter(version) if version else None)
        actual = interpreter_version(exe) if exe is not None else None
        if exe is None or len(group) == 1 or (version and actual != version) or _installer_unable(actual):
            for wheel in group:
                starting(wheel)
                wheel.validation = validate_wheel(wheel, options, provide)
            continue
        with work_dir("validate-") as tmp:
            say(f"installing {len(group)} wheels into a fresh Python {actual} venv to validate them")
            python, jail, site, failure = _venv_with(exe, [w.path for w in group], Path(tmp))
            if failure or jail is None:
                for wheel in group:
                    starting(wheel, " (alone)")
                    wheel.validation = validate_wheel(wheel, options, provide)
                continue
            say(f"checking the files {len(group)} wheels installed")
            tree = installed_tree_problems(site, python, jail.environment(), Path(tmp), _platform.machine(), actual,
                                           jail=jail)
            for wheel in group:
                starting(wheel)
                wheel.validation = _check_installed(wheel, python, site, jail, Path(tmp), tree, actual, provide)


#: Where test requirements come from: conda MatchSpecs -> (wheel paths made
#: from what the channels have, conda names they do not have, and for each of
#: those the names its module may go by: the conda name and its PyPI name).
Provider = Callable[[list[str]], tuple[list[str], list[str], list[str]]]


def _import(python: Path, name: str, cwd: Path, jail: sandbox.Jail) -> str | None:
    """None when ``import name`` works in the venv (run in ``jail``), else its
    error output (bounded, control characters escaped)."""
    run = jail.run([str(python), "-c", f"import {name}"], cwd=cwd)
    return None if run.returncode == 0 else (run.stderr.strip() or f"exit status {run.returncode}")


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


def _test_imports(wheel: WheelReport, python: Path, cwd: Path, jail: sandbox.Jail, provide: Provider | None
                  ) -> tuple[dict[str, str], list[str]]:
    """Run the import tests (in ``jail``); when some fail and the recipe has
    test requirements, install what the channels provide of them (in
    ``jail`` too) and run those again. Returns the failures (module ->
    error) and the imports skipped because a test requirement no channel
    has is missing."""
    failures = {}
    for name in wheel.test_imports:
        error = _import(python, name, cwd, jail)
        if error is not None:
            failures[name] = error
    skipped: list[str] = []
    if not failures or not wheel.test_requires or provide is None:
        return failures, skipped
    paths, missing, aliases = provide(list(wheel.test_requires))
    if paths:
        venvs.install(venvs.find_installer(), python, paths, jail.environment(), links_from=paths + [wheel.path],
                      jail=jail)
    from .wheelread import WheelReader

    with WheelReader(Path(wheel.path)) as archive:  # within press's limits
        own = {n.split("/")[0].split(".")[0] for n in archive.names}
    for name in list(failures):
        error = _import(python, name, cwd, jail)
        if error is None:
            del failures[name]
        elif missing and _missing_module(error, own, missing + aliases):
            skipped.append(f"{name} (needs {', '.join(missing)})")
            del failures[name]
        else:
            failures[name] = error
    return failures, skipped


def _check_installed(wheel: WheelReport, python: Path, site: Path, jail: sandbox.Jail, cwd: Path,
                     tree: dict[str, list[str]], python_version: str | None,
                     provide: Provider | None = None) -> ValidationResult:
    """Import tests (with test requirements, see :func:`_test_imports`; in
    ``jail``) of an installed wheel, then the verdict of the installed-tree
    checks ``tree`` (:func:`installed_tree_problems`, made before the tests
    installed anything) on it and on its dependencies (:func:`blame`). The
    result's ``sandbox`` says where the package's code ran; without a
    sandbox (``PRESS_SANDBOX=off``) a pass says so in its reason."""
    imports = list(wheel.test_imports)
    failures, skipped = _test_imports(wheel, python, cwd, jail, provide)
    for name, error in failures.items():
        return ValidationResult("failed", f"import {name} failed: {error[-2000:]}", imports, skipped_imports=skipped,
                                sandbox=jail.kind)
    reason = blame(wheel, tree, _dependencies(site, _own_name(wheel), python_version))
    if reason:
        return ValidationResult("failed", reason, imports, skipped_imports=skipped, sandbox=jail.kind)
    return ValidationResult("passed", sandbox.UNSANDBOXED if jail.kind == "off" else "", imports,
                            skipped_imports=skipped, sandbox=jail.kind)


def _read_installed(path: Path) -> bytes | None:
    """The bytes of ``path``, a file of a venv that package code may have
    changed, or None: when a symlink lies anywhere on its way, it is not a
    regular file (a FIFO would block), or it is larger than the
    ``metadata_size`` limit. Read once the sandboxed step ended, so nothing
    changes it meanwhile."""
    from .files import open_regular
    from .limits import limit

    if os.path.realpath(path) != os.path.abspath(path):
        return None
    try:
        with open_regular(path) as handle:
            data = handle.read(limit("metadata_size") + 1)
    except OSError:
        return None
    return data if len(data) <= limit("metadata_size") else None


def installed_files(site: Path) -> dict[str, str]:
    """Every file the distributions installed under ``site`` own: path
    relative to ``site`` (POSIX) -> canonical distribution name, read from
    each ``*.dist-info/RECORD`` (the installed-files record of the binary
    distribution format spec, PyPA "Recording installed projects"). Entries
    that leave ``site`` (scripts in ``bin/``) or are not files are left out;
    the distribution's name is that of its ``.dist-info`` directory
    (``{name}-{version}.dist-info``)."""
    import csv

    from packaging.utils import canonicalize_name

    root = site.resolve()
    owners: dict[str, str] = {}
    for record in sorted(root.glob("*.dist-info/RECORD")):
        name = str(canonicalize_name(record.parent.name[: -len(".dist-info")].rsplit("-", 1)[0]))
        data = _read_installed(record)
        if data is None:
            continue
        try:
            rows = list(csv.reader(data.decode("utf-8", errors="replace").splitlines()))
        except csv.Error:
            continue
        for row in rows:
            if not row or not row[0]:
                continue
            try:
                path = (site / row[0]).resolve()
                rel = path.relative_to(root).as_posix()
            except (ValueError, OSError):  # outside site, a NUL, a name too long
                continue
            if _is_file(path):
                owners.setdefault(rel, name)
    return owners


def installed_tree_problems(site: Path, python: Path | None, env: dict[str, str], cwd: Path, machine: str,
                            python_version: str | None, arch: str | None = None,
                            jail: sandbox.Jail | None = None) -> dict[str, list[str]]:
    """The checks of an installed tree, per distribution that owns the
    offending file (:func:`installed_files`; ``""`` for files no RECORD
    lists): every ELF file's ``DT_NEEDED`` resolves
    (:func:`check_elf_resolution`, against the allow-list of ``machine``;
    with ``arch`` its machine must match), every extension module is built
    for CPython ``python_version`` (``X.Y``; its file name's ``cpython-XY`` /
    ``.cpXY`` part), and, with ``python`` (the interpreter of a venv of this
    machine), every shared library under a ``<name>.libs/`` directory loads
    (:func:`load_shared_objects`, in ``jail`` when given). Returns ``{distribution: [problem, ...]}``
    (each problem starts with the file's path relative to ``site``), only
    distributions with problems."""
    owners = installed_files(site)
    files = [site / rel for rel in sorted(owners)]
    problems = check_elf_resolution(site, files, allowed_libraries(machine), arch)
    if python is not None:
        problems += load_shared_objects(python, site, files, env, cwd, jail)
    if python_version:
        problems += _extension_python_problems(sorted(owners), "cp" + python_version.replace(".", ""))
    found: dict[str, list[str]] = {}
    for problem in problems:
        found.setdefault(_owner_of(problem, owners), []).append(problem)
    return found


def _owner_of(problem: str, owners: dict[str, str]) -> str:
    """The distribution owning the file a problem line starts with (``<path>:`` or ``<path> ``), or ``""``."""
    for index, char in enumerate(problem):
        if char in ": " and problem[:index] in owners:
            return owners[problem[:index]]
    return ""


def _own_name(wheel: WheelReport) -> str:
    from packaging.utils import canonicalize_name, parse_wheel_filename

    try:
        return str(parse_wheel_filename(Path(wheel.path).name)[0])
    except ValueError:
        return str(canonicalize_name(wheel.name))


def _dependencies(site: Path, own: str, python_version: str | None) -> set[str]:
    """The installed distributions ``own`` requires, directly or not
    (``Requires-Dist`` of each ``*.dist-info/METADATA`` under ``site``, read
    with packaging; markers evaluated for this machine running CPython
    ``python_version``, extras not followed). ``own`` itself is left out."""
    from packaging.metadata import parse_email
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment = {"extra": ""}
    if python_version:
        environment.update(python_version=python_version, python_full_version=f"{python_version}.0")
    requires: dict[str, set[str]] = {}
    for metadata in sorted(site.resolve().glob("*.dist-info/METADATA")):
        name = str(canonicalize_name(metadata.parent.name[: -len(".dist-info")].rsplit("-", 1)[0]))
        data = _read_installed(metadata)
        if data is None:
            continue
        raw, _unparsed = parse_email(data)
        wanted = requires.setdefault(name, set())
        for line in raw.get("requires_dist") or []:
            try:
                requirement = Requirement(line)
                if requirement.marker is None or requirement.marker.evaluate(environment):
                    wanted.add(str(canonicalize_name(requirement.name)))
            except Exception:  # noqa: BLE001 - an invalid line, or an undefined marker: not for this machine
                continue
    seen: set[str] = set()
    stack = [own]
    while stack:
        for name in requires.get(stack.pop(), ()):
            if name not in seen and name != own:
                seen.add(name)
                stack.append(name)
    return seen


def blame(wheel: WheelReport, tree: dict[str, list[str]], dependencies: set[str] | None) -> str | None:
    """The failure reason of ``wheel`` from the installed-tree problems
    ``tree`` (:func:`installed_tree_problems`), or None: its own files'
    problems (those of files no RECORD lists count as its own), else
    ``dependency <name> failed: <problem>`` for each distribution among
    ``dependencies`` (None: every other one installed) with problems. A bad
    file is blamed on the wheel that installed it, never on a dependent."""
    own = _own_name(wheel)
    mine = tree.get(own, []) + tree.get("", [])
    if mine:
        return "; ".join(mine[:10])
    bad = sorted(name for name in tree if name not in ("", own) and (dependencies is None or name in dependencies))
    if bad:
        return "; ".join(f"dependency {name} failed: {tree[name][0]}" + (f" (and {len(tree[name]) - 1} more)"
                                                                         if len(tree[name]) > 1 else "")
                         for name in bad[:10])
    return None


_SUBDIR_UV = {
    "osx-arm64": "aarch64-apple-darwin", "osx-64": "x86_64-apple-darwin", "win-64": "x86_64-pc-windows-msvc",
    "win-arm64": "aarch64-pc-windows-msvc", "win-32": "i686-pc-windows-msvc", "linux-aarch64": "aarch64-manylinux_2_17",
    "linux-64": "x86_64-manylinux_2_17",
}


def uv_platform(platform_tag: str, subdir: str | None = None) -> str | None:
    """uv's ``--python-platform`` value for a wheel platform tag (for a pure
    ``any`` wheel: for the conda ``subdir`` it was converted for), or None.
    A legacy manylinux alias counts as its PEP 600 name (``manylinux2014_x86_64``
    as ``manylinux_2_17_x86_64``)."""
    platform_tag = policy_platform(platform_tag)
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
    """Extension modules among ``names`` (``.so``/``.pyd`` paths) whose file
    name says another CPython than ``python_tag`` (``cp312``): the
    interpreter would not import them (PEP 3149 ``cpython-XY`` suffixes,
    Windows ``.cpXY-`` ones)."""
    problems = []
    for name in names:
        base = name.rsplit("/", 1)[-1]
        found = re.search(r"(?:\.cpython-|\.cp)(\d)(\d+)[^./]*\.(?:so|pyd)$", base)
        if found and python_tag.startswith("cp") and f"cp{found.group(1)}{found.group(2)}" != python_tag:
            problems.append(f"{name} is built for cp{found.group(1)}{found.group(2)}, the target is {python_tag}")
    return problems


def validate_foreign(wheel: WheelReport, options: ConvertOptions) -> ValidationResult:
    """Structural validation of a wheel for another platform (see the module docstring)."""
    from . import structure

    platform_tag = platform_of(wheel.tags)
    target = uv_platform(platform_tag, options.subdir)
    if target is None:
        return ValidationResult("skipped", f"no structural check for {platform_tag}", kind="structural")
    version = _target_python(wheel, options.python) or options.python or "3.12"
    checks: list[str] = []
    with work_dir("validate-") as tmp:
        site = Path(tmp) / "site"
        env = venvs.clean_environment()
        if "apple" in target:
            env["MACOSX_DEPLOYMENT_TARGET"] = _macos_machine(Path(wheel.path).parent, platform_tag,
                                                             target.startswith("aarch64"))
        try:
            tool = venvs.find_installer()
        except venvs.NoInstaller as exc:
            return ValidationResult("failed", f"{exc}, or --no-validate", kind="structural")
        install = venvs.install_for_platform(tool, site, wheel.path, target, version, env)
        if install.returncode != 0:
            return ValidationResult("failed", f"{tool.kind} refuses the install for {target}: "
                                    f"{install.stderr.strip()[-2000:]}", kind="structural")
        checks.append(f"{tool.kind} installs it for {target}, Python {version}")
        owners = installed_files(site)
        problems = _extension_python_problems(sorted(owners), "cp" + version.replace(".", ""))
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
        tree: dict[str, list[str]] = {}
        for problem in problems:  # blamed on the distribution whose RECORD lists the file
            tree.setdefault(_owner_of(problem, owners), []).append(problem)
        reason = blame(wheel, tree, None)  # the target directory holds the wheel and its dependencies only
        if reason:
            return ValidationResult("failed", reason, checks=checks, kind="structural")
    return ValidationResult("passed", "structural checks only: no such platform here", checks=checks,
                            kind="structural")
