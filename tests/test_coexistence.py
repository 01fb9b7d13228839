"""Two fat wheels vendoring different builds of one library (same SONAME,
different bytes) work side by side in one venv and one process, and a
linux-aarch64 package converts with an aarch64 tag and correct ELF edits."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile

import pytest
from elftools.elf.elffile import ELFFile

from conftest import make_venv, run_in, run_press, uv_install


def _soname(data: bytes) -> str:
    import io

    elf = ELFFile(io.BytesIO(data))
    dynamic = elf.get_section_by_name(".dynamic")
    return next(t.soname for t in dynamic.iter_tags() if t.entry.d_tag == "DT_SONAME")


def _library_in(artifact) -> bytes:
    from conda_package_streaming.package_streaming import stream_conda_component

    with open(artifact, "rb") as handle:
        for tar, member in stream_conda_component(str(artifact), handle, "pkg"):
            if member.name == "lib/libfxshared.so.1":
                return tar.extractfile(member).read()
    raise AssertionError(f"no libfxshared in {artifact}")


def test_two_wheels_with_one_soname_coexist(fixture_packages, tmp_path, cache_dir, py312):
    # The premise: both conda builds answer to the same SONAME with different code.
    one, two = _library_in(fixture_packages["shared1.conda"]), _library_in(fixture_packages["shared2.conda"])
    assert _soname(one) == _soname(two) == "libfxshared.so.1" and one != two
    out = tmp_path / "wheels"
    channel = str(fixture_packages["channel"])
    reports = []
    for spec in ("press-fx-coexist-a", "press-fx-coexist-b"):
        result = run_press("-c", channel, "--subdir", "linux-64", "--python", "3.12", "--fatten", "-w", str(out),
                           "--json", "-q", spec, cache=cache_dir, check=True)
        reports += json.loads(result.stdout)["wheels"]
    assert [r["validation"]["status"] for r in reports] == ["passed", "passed"]
    vendored = [r["vendored_libraries"] for r in reports]
    assert all(len(v) == 1 and "libfxshared-" in v[0] for v in vendored)
    assert vendored[0][0].rsplit("/", 1)[1] != vendored[1][0].rsplit("/", 1)[1]
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, *[r["path"] for r in reports])
    out = run_in(python, (
        "import fxa, fxb\n"
        "print(fxa.shared_version(), fxb.shared_version())\n"
        "print(sorted({l.split()[-1].rsplit('/', 1)[1] for l in open('/proc/self/maps') if 'libfxshared' in l}))\n"
    ), tmp_path)
    versions, loaded = out.splitlines()
    assert versions == "1.0 2.0"
    assert loaded == str(sorted(v[0].rsplit("/", 1)[1] for v in vendored))


def test_linux_aarch64_package(fixture_packages, tmp_path, cache_dir):
    if "arm.conda" not in fixture_packages:
        pytest.skip("no aarch64 cross compiler (Debian gcc-aarch64-linux-gnu) to build the fixture")
    readelf = shutil.which("readelf") or shutil.which("aarch64-linux-gnu-readelf")
    assert readelf, "binutils readelf is needed"
    result = run_press("-c", str(fixture_packages["channel"]), "--subdir", "linux-aarch64", "--python", "3.12",
                       "--fatten", "-w", str(tmp_path / "out"), "--json", "-q", "press-fx-arm", cache=cache_dir, check=True)
    (wheel,) = json.loads(result.stdout)["wheels"]
    assert wheel["tags"] == "cp312-cp312-manylinux2014_aarch64.manylinux_2_17_aarch64"  # PEP 599 alias too
    assert wheel["validation"]["status"] == "passed", wheel["validation"]
    assert any("aarch64" in c for c in wheel["validation"]["checks"])
    (library,) = wheel["vendored_libraries"]
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel["path"]) as archive:
        archive.extractall(unpacked)

    def readelf_out(*args: str) -> str:
        return subprocess.run([readelf, *args], capture_output=True, text=True, check=True, cwd=unpacked).stdout

    extension = "fxarm.cpython-312-aarch64-linux-gnu.so"
    assert "AArch64" in readelf_out("-h", extension)
    dynamic = readelf_out("-d", extension)
    hashed = library.rsplit("/", 1)[1]
    assert f"Shared library: [{hashed}]" in dynamic
    assert "Library runpath: [$ORIGIN/press_fx_arm.libs/lib]" in dynamic
    assert "RPATH" not in dynamic.replace("RUNPATH", "")
    assert f"Library soname: [{hashed}]" in readelf_out("-d", library)
    assert "AArch64" in readelf_out("-h", library)
