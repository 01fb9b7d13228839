"""Validate a wheel by installing it into a fresh venv of the interpreter it targets.

Steps: find the target interpreter (``--python-exe`` or by version among
installed ones), make a venv with uv, install offline from the wheel
directory (``--no-index --find-links``), run the package's own test imports
(``info/recipe`` / ``info/test``) in that venv, and check that every ELF file
of the installed wheel resolves each ``DT_NEEDED`` inside the installed files
(through its RUNPATH) or on the manylinux allow-list. The ELF check reads the
files with pyelftools, independently of the LIEF code that wrote them.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .report import ValidationResult, WheelReport
from .tags import allowed_libraries


def _uv() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except Exception:
        found = shutil.which("uv")
        if not found:
            raise
        return found


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


def check_elf_resolution(site_packages: Path, files: list[Path], allowed: set[str]) -> list[str]:
    """Problems with the ELF files among ``files``: each DT_NEEDED must be found
    through the file's RUNPATH/RPATH (``$ORIGIN`` expanded) inside
    ``site_packages`` or be in ``allowed``. Returns human-readable problems."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
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
                needed, paths = [], []
                for section in elf.iter_sections():
                    if isinstance(section, DynamicSection):
                        for tag in section.iter_tags():
                            if tag.entry.d_tag == "DT_NEEDED":
                                needed.append(tag.needed)
                            elif tag.entry.d_tag in ("DT_RUNPATH", "DT_RPATH"):
                                value = tag.runpath if tag.entry.d_tag == "DT_RUNPATH" else tag.rpath
                                paths += [p for p in value.split(":") if p]
        except (ELFError, OSError) as exc:
            problems.append(f"{path.name}: unreadable ELF ({exc})")
            continue
        dirs = []
        for entry in paths:
            resolved = Path(entry.replace("$ORIGIN", str(path.parent)).replace("${ORIGIN}", str(path.parent))).resolve()
            if not str(resolved).startswith(str(root)):
                problems.append(f"{path.relative_to(root)}: RUNPATH {entry} leaves the installed wheel")
            dirs.append(resolved)
        for name in needed:
            if name in allowed or name.startswith("ld-linux") or name.startswith("ld64.so"):
                continue
            if not any((d / name).is_file() for d in dirs):
                problems.append(f"{path.relative_to(root)}: {name} resolves neither inside the wheel nor on the allow-list")
    return problems


def validate_wheel(wheel: WheelReport, options) -> ValidationResult:
    """Install ``wheel`` into a fresh venv and run its import tests.

    ``options`` is the :class:`~press.convert.ConvertOptions` of the
    conversion (``python``, ``python_exe``, ``wheel_dir``, ``subdir``).
    Returns ``skipped`` when the wheel targets another platform or no matching
    interpreter is installed, ``failed`` with the reason when installation,
    an import, or library resolution fails.
    """
    import platform as _platform

    tags = wheel.tags
    machine = _platform.machine()
    platform_tag = tags.split("-")[-1]
    if platform_tag != "any" and not (platform_tag.startswith(("manylinux", "linux")) and platform_tag.endswith(machine)):
        return ValidationResult("skipped", f"wheel targets {platform_tag}, this machine is linux {machine}")
    version = _target_python(wheel, options.python)
    exe = Path(options.python_exe) if options.python_exe else (find_interpreter(version) if version else None)
    if exe is None:
        return ValidationResult("skipped", f"no Python {version} interpreter found (use --python-exe)")
    if version and interpreter_version(exe) != version and wheel.tags.startswith("cp"):
        return ValidationResult("failed", f"{exe} is not Python {version}")
    imports = list(wheel.test_imports)
    with tempfile.TemporaryDirectory(prefix="press-validate-") as tmp:
        venv = Path(tmp) / "venv"
        uv = _uv()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "UV_"))}
        made = subprocess.run([uv, "venv", "-q", "-p", str(exe), str(venv)], capture_output=True, text=True, env=env)
        if made.returncode != 0:
            return ValidationResult("failed", f"cannot create a venv with {exe}: {made.stderr.strip()}")
        python = venv / "bin" / "python"
        install = subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), "--offline", "--no-index",
             "--find-links", str(Path(wheel.path).parent), wheel.path],
            capture_output=True, text=True, env=env,
        )
        if install.returncode != 0:
            return ValidationResult("failed", f"install failed: {install.stderr.strip()[-2000:]}", imports)
        for name in imports:
            run = subprocess.run([str(python), "-c", f"import {name}"], capture_output=True, text=True, cwd=tmp, env=env)
            if run.returncode != 0:
                return ValidationResult("failed", f"import {name} failed: {run.stderr.strip()[-2000:]}", imports)
        if platform_tag != "any":
            site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
                                       capture_output=True, text=True).stdout.strip())
            installed = _installed_files(site, wheel.path)
            problems = check_elf_resolution(site, installed, allowed_libraries(machine))
            if problems:
                return ValidationResult("failed", "; ".join(problems[:10]), imports)
    return ValidationResult("passed", "", imports)


def _installed_files(site: Path, wheel_path: str) -> list[Path]:
    with zipfile.ZipFile(wheel_path) as archive:
        names = [n for n in archive.namelist() if ".data/" not in n.split("/", 1)[0] + "/"]
    return [site / n for n in names if (site / n).is_file()]
