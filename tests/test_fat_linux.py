"""Done-when 1 and 2 of the linux slice: fat wheels of real conda-forge packages
install offline into a fresh CPython 3.12 venv and work with their vendored
libraries."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, HOTFIX, make_venv, run_in, run_press, uv_install

MAPS = "sorted({l.split()[-1] for l in open('/proc/self/maps') if '%s' in l})"


@pytest.fixture(scope="module")
def cffi_out(tmp_path_factory, cache_dir) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("cffi-out")
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--fatten",
                       "-w", str(out), "--json", "-q", "cffi", cache=cache_dir, check=True)
    return out, json.loads(result.stdout)


def test_cffi_fat_wheel_and_pycparser_written_and_validated(cffi_out):
    out, report = cffi_out
    names = sorted(p.name for p in out.glob("*.whl"))
    assert [n.split("-")[0] for n in names] == ["cffi", "pycparser"]
    cffi = next(w for w in report["wheels"] if w["name"] == "cffi")
    assert cffi["tags"] == "cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64"
    assert cffi["requires_dist"] == ["pycparser"]
    assert any("libffi-" in lib for lib in cffi["vendored_libraries"])
    assert all(w["validation"]["status"] == "passed" for w in report["wheels"])
    assert cffi["validation"]["imports"] == ["_cffi_backend", "cffi"]


def test_cffi_calls_c_through_vendored_libffi_with_pip(cffi_out, py312, tmp_path):
    out, _ = cffi_out
    venv = tmp_path / "venv"
    subprocess.run([str(py312), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
                    "--find-links", str(out), "cffi"], check=True)
    code = (
        "import ctypes\n"  # loads the system libffi first: the wheel must still use its own
        "from cffi import FFI\n"
        "ffi = FFI(); ffi.cdef('int abs(int);')\n"
        "cb = ffi.callback('int(int)', lambda x: x * 3)\n"
        "print(ffi.dlopen(None).abs(-7), cb(14))\n"
        f"print({MAPS % 'libffi'})\n"
    )
    stdout = run_in(venv / "bin" / "python", code, tmp_path).splitlines()
    assert stdout[0] == "7 42"
    site = str((venv / "lib").resolve())
    libffi = [p for p in eval(stdout[1]) if "cffi.libs" in p]
    assert libffi and all(p.startswith(site) for p in libffi)


@pytest.mark.slow
def test_libmambapy_and_zstandard_fat(tmp_path, cache_dir, py312):
    out = tmp_path / "out"
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--fatten",
                       "--repodata-patch", str(HOTFIX), "-w", str(out), "--json", "-q",
                       "libmambapy", "zstandard", cache=cache_dir, check=True)
    report = {w["name"]: w for w in json.loads(result.stdout)["wheels"]}
    assert report["libmambapy"]["tags"] == "cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64"
    vendored = " ".join(report["libmambapy"]["vendored_libraries"])
    for lib in ("libmamba-", "libsolv-", "libcurl-", "libssl-", "libcrypto-", "libkrb5-", "libstdc++-"):
        assert lib in vendored
    assert all(w["validation"]["status"] == "passed" for w in report.values())
    # PEP 770 SBOM: all 30 conda artifacts of the closure, sha256 as the channel has them; those
    # none of whose files ship (pruned ncurses, metapackage aliases) are listed with scope "excluded".
    sources = report["libmambapy"]["conda_sources"]
    assert len(sources) == len(report["libmambapy"]["conda_packages"]) == 30
    for source in sources:
        (archive,) = CONDA_FORGE.glob(f"*/{source['name']}-{source['version']}-{source['build']}.*")
        assert source["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert {s["name"] for s in sources if s["files"] == 0} >= {"ncurses", "libstdcxx-ng"}
    with zipfile.ZipFile(report["libmambapy"]["path"]) as wheel:
        document = wheel.read("libmambapy-1.5.12.dist-info/sboms/press.cdx.json").decode()
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None
    doc = json.loads(document)
    scopes = {c["name"]: c["scope"] for c in doc["components"]}
    assert scopes["ncurses"] == "excluded" and scopes["libcurl"] == "required"
    curl = next(c for c in doc["components"] if c["name"] == "libcurl")
    assert any(o["location"].startswith("libmambapy.libs/lib/libcurl-") for o in curl["evidence"]["occurrences"])
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, "--find-links", str(out), "libmambapy", "zstandard")
    version = run_in(python, "import libmambapy, libmambapy._version as v; libmambapy.Context(); print(v.__version__)", tmp_path)
    assert version.strip() == "1.5.12"
    code = (
        "import zstandard\n"
        "data = b'press' * 10000\n"
        "frame = zstandard.ZstdCompressor(level=3).compress(data)\n"
        "assert zstandard.ZstdDecompressor().decompress(frame) == data and len(frame) < 100\n"
        f"print({MAPS % 'libzstd'})\n"
    )
    loaded = eval(run_in(python, code, tmp_path))
    assert loaded and all("zstandard.libs/lib/libzstd-" in p for p in loaded)


def test_bundle_python_deps_makes_one_wheel_with_one_dist_info(tmp_path, cache_dir, py312):
    import zipfile

    out = tmp_path / "out"
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--fatten",
                       "--bundle-python-deps", "-w", str(out), "--json", "-q", "cffi", cache=cache_dir, check=True)
    (wheel,) = json.loads(result.stdout)["wheels"]
    assert wheel["requires_dist"] == [] and wheel["validation"]["status"] == "passed"
    assert set(wheel["validation"]["imports"]) >= {"cffi", "pycparser"}
    with zipfile.ZipFile(wheel["path"]) as archive:
        tops = {n.split("/")[0] for n in archive.namelist()}
    assert [t for t in tops if t.endswith(".dist-info")] == ["cffi-1.17.1.dist-info"]
    assert {"cffi", "pycparser", "cffi.libs"} <= tops
