"""Legacy manylinux aliases (issue 21, item 5): a manylinux_2_5/2_12/2_17 wheel
carries the PEP 513/571/599 alias beside its PEP 600 tag, named and tagged as
auditwheel repair does, so that pip before 20.3 (the pip of Python 3.6/3.7
venvs) installs it. Real conversions of the sample channel, real old pips."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from auditwheel.architecture import Architecture
from auditwheel.libc import Libc
from auditwheel.policy import WheelPolicies
from packaging.utils import parse_wheel_filename

from conftest import CONDA_FORGE, make_venv, run_in, run_press, uv_install
from press.venvs import clean_environment

PY36 = Path(os.path.expanduser("~/.pyenv/versions/3.6.15/bin/python"))
#: pip 19.2.3, the last pip before manylinux2014 (PEP 599) support: ships with CPython 2.7.18's ensurepip.
PIP_19_2 = Path(os.path.expanduser("~/.pyenv/versions/2.7.18/lib/python2.7/ensurepip/_bundled/"
                                    "pip-19.2.3-py2.py3-none-any.whl"))
POLICIES = WheelPolicies(libc=Libc.GLIBC, arch=Architecture.x86_64)


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory, cache_dir) -> tuple[Path, dict[str, dict]]:
    """cffi, bzip2 and libuuid of the sample, thin, with their closures,
    validated by press: (wheel dir, report per distribution)."""
    out = tmp_path_factory.mktemp("legacy-tags")
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "-w", str(out), "--json",
                       "-q", "cffi", "bzip2", "libuuid", cache=cache_dir, check=True)
    return out, {w["name"]: w for w in json.loads(result.stdout)["wheels"]}


def _wheel(out: Path, dist: str) -> Path:
    (found,) = [p for p in out.glob("*.whl") if parse_wheel_filename(p.name)[0] == dist]
    return found


def _wheel_tags(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/WHEEL")]
        return re.findall(r"^Tag: (\S+)$", archive.read(name).decode(), re.M)


def _pep600_only(wheel: Path, where: Path) -> Path:
    """A copy of ``wheel`` named with its PEP 600 tag alone (press's output before the aliases)."""
    pep600 = next(t.platform for t in parse_wheel_filename(wheel.name)[3] if t.platform.startswith("manylinux_"))
    where.mkdir(exist_ok=True)
    copy = where / f"{wheel.name.rsplit('-', 1)[0]}-{pep600}.whl"
    shutil.copy(wheel, copy)
    return copy


def _auditwheel_tagged(wheel: Path, pep600: str, work: Path) -> tuple[str, list[str]]:
    """File name and WHEEL ``Tag:`` lines auditwheel repair gives ``wheel``
    re-tagged ``linux_x86_64`` for policy ``pep600`` (its ``add_platforms``
    with the policy's name and aliases, as ``main_repair`` passes them)."""
    from auditwheel.wheeltools import InWheelCtx, add_platforms

    python_abi = "-".join(wheel.name.rsplit("-", 3)[1:3])
    linux = work / "in" / f"{wheel.name.rsplit('-', 1)[0]}-linux_x86_64.whl"
    linux.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(linux, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith(".dist-info/WHEEL"):
                data = re.sub(rb"(?m)^Tag: .*\n", b"", data) + f"Tag: {python_abi}-linux_x86_64\n".encode()
            target.writestr(info, data)
    policy = POLICIES.get_policy_by_name(pep600)
    (work / "out").mkdir()
    cwd = os.getcwd()
    try:
        with InWheelCtx(linux, work / "out" / linux.name) as ctx:
            repaired = add_platforms(ctx, [policy.name, *policy.aliases], ["linux_x86_64"])
    finally:
        os.chdir(cwd)
    return repaired.name, _wheel_tags(repaired)


def test_names_and_wheel_tags_carry_the_legacy_alias_as_auditwheel_writes_them(wheelhouse, tmp_path):
    out, report = wheelhouse
    expected = {
        "cffi": "cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64",
        "conda-forge-bzip2": "py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64",
        "conda-forge-libffi": "py3-none-manylinux2010_x86_64.manylinux_2_12_x86_64",
        "conda-forge-libuuid": "py3-none-manylinux1_x86_64.manylinux_2_5_x86_64",
        "pycparser": "py3-none-any",
    }
    for dist, tags in expected.items():
        wheel = _wheel(out, dist)
        assert wheel.name.endswith(f"-{tags}.whl") and report[dist]["tags"] == tags, wheel.name
        assert report[dist]["validation"]["status"] == "passed", report[dist]["validation"]
    assert _wheel_tags(_wheel(out, "pycparser")) == ["py3-none-any"]
    for dist in ("cffi", "conda-forge-libffi", "conda-forge-libuuid"):
        wheel = _wheel(out, dist)
        pep600 = next(t.platform for t in parse_wheel_filename(wheel.name)[3] if t.platform.startswith("manylinux_"))
        name, tags = _auditwheel_tagged(wheel, pep600, tmp_path / dist)
        assert (wheel.name, _wheel_tags(wheel)) == (name, tags)
    assert _wheel_tags(_wheel(out, "cffi")) == ["cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-manylinux2014_x86_64"]


def test_show_reads_the_compressed_tag_set(wheelhouse, cache_dir):
    out, _ = wheelhouse
    shown = run_press("show", "--json", str(_wheel(out, "conda-forge-libuuid")), cache=cache_dir, check=True)
    (view,) = json.loads(shown.stdout)["wheels"]
    assert view["tags"] == ["py3-none-manylinux1_x86_64", "py3-none-manylinux_2_5_x86_64"]
    assert view["platform_tag"]["tag"] == "manylinux1_x86_64.manylinux_2_5_x86_64" and view["platform_tag"]["ok"]
    assert "the binaries allow manylinux_2_5_x86_64" in view["platform_tag"]["reasons"]


def test_uv_and_a_modern_pip_install_the_compressed_tag_set(wheelhouse, py312, tmp_path):
    out, _ = wheelhouse
    python = make_venv(py312, tmp_path / "uv")
    uv_install(python, "--find-links", str(out), "cffi", "conda-forge-bzip2", "conda-forge-libuuid")
    assert run_in(python, "from cffi import FFI; print(FFI().dlopen(None).__class__.__name__)", tmp_path).strip()
    python = make_venv(py312, tmp_path / "pip")  # pip of press's own venv (PEP 600 aware), installing into it
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
                                "--find-links", str(out), "cffi", "conda-forge-bzip2", "conda-forge-libuuid"],
                               capture_output=True, text=True, env=clean_environment())
    assert installed.returncode == 0, installed.stderr
    assert run_in(python, "import cffi; print(cffi.__version__)", tmp_path).strip() == "1.17.1"


def _old_pip_venv(where: Path, pip_wheel: Path | None = None) -> Path:
    """A fresh CPython 3.6 venv with the pip it ships (18.1), or ``pip_wheel`` installed offline over it."""
    if not PY36.is_file():
        pytest.skip("no CPython 3.6.15 under ~/.pyenv")
    subprocess.run([str(PY36), "-m", "venv", str(where)], check=True, env=clean_environment())
    python = where / "bin" / "python"
    if pip_wheel is not None:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", str(pip_wheel)], check=True,
                       env=clean_environment())
    return python


def _pip(python: Path, links: Path, *args: str) -> subprocess.CompletedProcess:
    """``pip install`` offline from ``links`` alone (no pip configuration, not from the repository's directory)."""
    return subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--find-links", str(links), *args],
                          capture_output=True, text=True, env=clean_environment(), cwd=links)


def test_pip_18_installs_the_manylinux1_alias_and_refuses_the_pep600_tag_alone(wheelhouse, tmp_path):
    """pip 18.1 (CPython 3.6's) knows manylinux1 only (PEP 513): the alias is
    what it installs; the same wheel named ``manylinux_2_5`` alone is not a
    candidate for it, so this test fails when the alias goes."""
    out, _ = wheelhouse
    python = _old_pip_venv(tmp_path / "venv")
    version = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True).stdout
    assert version.startswith("pip 18.1 ")
    wheel = _wheel(out, "conda-forge-libuuid")
    refused = _pip(python, _pep600_only(wheel, tmp_path / "pep600").parent, "--no-deps", "conda-forge-libuuid")
    assert refused.returncode != 0 and "No matching distribution found for conda-forge-libuuid" in refused.stderr
    installed = _pip(python, out, "--no-deps", "conda-forge-libuuid")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    site = next((tmp_path / "venv" / "lib").glob("python3.6/site-packages"))
    (library,) = site.glob("conda_forge_libuuid.libs/lib/libuuid-*.so.1")  # the thin wheel's own name
    code = (f"import ctypes; b = ctypes.create_string_buffer(16); ctypes.CDLL({str(library)!r}).uuid_generate(b); "
            "print(b.raw.hex())")
    assert len(run_in(python, code, tmp_path).strip()) == 32


@pytest.mark.slow  # about 8 s (README: such cases run with the slow ones)
def test_pip_19_2_installs_a_closure_of_manylinux1_and_manylinux2010_wheels(wheelhouse, tmp_path):
    """pip 19.2.3 knows manylinux1 and manylinux2010 (PEP 571), not PEP 600:
    libuuid (2_5) and its libgcc/libgomp dependencies (2_12) install with
    their dependencies from the wheelhouse; libgcc named by its PEP 600 tag
    alone leaves the closure unresolvable."""
    if not PIP_19_2.is_file():
        pytest.skip("no pip 19.2.3 wheel (CPython 2.7.18's ensurepip) under ~/.pyenv")
    out, _ = wheelhouse
    python = _old_pip_venv(tmp_path / "venv", PIP_19_2)
    installed = _pip(python, out, "conda-forge-libuuid")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, cwd=tmp_path,
                            env=clean_environment()).stdout
    assert set(freeze.split()) == {"conda-forge-libuuid==2.38.1", "conda-forge-libgcc==14.2.0",
                                   "conda-forge-libgcc-ng==14.2.0"}, freeze
    links = tmp_path / "pep600"
    links.mkdir()
    for wheel in out.glob("*.whl"):
        if parse_wheel_filename(wheel.name)[0] == "conda-forge-libgcc":
            _pep600_only(wheel, links)
        else:
            shutil.copy(wheel, links)
    python = _old_pip_venv(tmp_path / "again", PIP_19_2)
    refused = _pip(python, links, "conda-forge-libuuid")
    assert refused.returncode != 0 and "No matching distribution found for conda-forge-libgcc" in refused.stderr


@pytest.mark.slow
def test_pip_20_2_installs_the_manylinux2014_alias(wheelhouse, tmp_path):
    """pip 20.2.4, the last pip without PEP 600 (downloaded from PyPI), installs
    bzip2 (manylinux_2_17 + manylinux2014, PEP 599) with its closure and loads
    the library; bzip2 named by its PEP 600 tag alone is refused."""
    out, _ = wheelhouse
    python = _old_pip_venv(tmp_path / "venv")
    got = subprocess.run([str(python), "-m", "pip", "install", "-q", "--index-url", "https://pypi.org/simple",
                          "pip==20.2.4"], capture_output=True, text=True, env=clean_environment(), cwd=tmp_path)
    if got.returncode != 0:
        pytest.skip(f"pip 20.2.4 not downloadable from PyPI: {got.stderr.strip()[-300:]}")
    refused = _pip(python, _pep600_only(_wheel(out, "conda-forge-bzip2"), tmp_path / "pep600").parent, "--no-deps",
                   "conda-forge-bzip2")
    assert refused.returncode != 0 and "No matching distribution found for conda-forge-bzip2" in refused.stderr
    installed = _pip(python, out, "conda-forge-bzip2")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    site = next((tmp_path / "venv" / "lib").glob("python3.6/site-packages"))
    (library,) = site.glob("conda_forge_bzip2.libs/lib/libbz2-*.so.1.0")  # the thin wheel's own name
    code = (f"import ctypes; lib = ctypes.CDLL({str(library)!r}); lib.BZ2_bzlibVersion.restype = ctypes.c_char_p; "
            "print(lib.BZ2_bzlibVersion().decode())")
    assert run_in(python, code, tmp_path).startswith("1.0.8")
