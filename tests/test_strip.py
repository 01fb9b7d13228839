"""``--strip`` (issue 25, part 3): the symbol table and debug sections of the
ELF files a wheel ships are removed after relocation, as auditwheel's
``strip -s`` does; the library still loads, the bytes saved are reported,
the output is reproducible, and a wheel without ``--strip`` is unchanged.
Libraries with debug information are compiled here with ``gcc -g`` (the
aarch64 one with Debian's cross gcc, skipped without it)."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, HOTFIX, run_press
from hostile import Spec, build

from press import ConvertOptions, convert

SOURCE = b"static int helper(int x) { return 3 * x; }\nint hx_triple(int x) { return helper(x); }\n"
LIBRARY = "lib/libhxstrip.so.1"


def _compile(compiler: str, out: Path) -> bytes:
    source = out.with_suffix(".c")
    source.write_bytes(SOURCE)
    subprocess.run([compiler, "-g", "-O1", "-shared", "-fPIC", "-Wl,-soname,libhxstrip.so.1", "-o", str(out),
                    str(source)], check=True)
    return out.read_bytes()


def _package(directory: Path, subdir: str, library: bytes) -> Path:
    """A native conda package shipping one shared library with debug information."""
    spec = Spec(name="press-hx-strip", subdir=subdir, files={LIBRARY: library}, executables={LIBRARY})
    return build(spec, directory, ".conda")


@pytest.fixture(scope="module")
def native(tmp_path_factory) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    where = tmp_path_factory.mktemp("strip-in")
    return _package(where / "linux-64", "linux-64", _compile("gcc", where / "libhxstrip.so"))


def _convert(artifact: Path, out: Path, *, strip: bool, subdir: str = "linux-64"):
    report = convert([str(artifact)], ConvertOptions(channels=[str(artifact.parent.parent)], subdir=subdir,
                                                     python="3.12", wheel_dir=out, cache_dir=out.parent / "cache",
                                                     validate=False, check=False, strip=strip))
    (wheel,) = report.wheels
    return report, wheel


def _extract(wheel_path: str, into: Path) -> Path:
    with zipfile.ZipFile(wheel_path) as archive:
        archive.extractall(into)
    (library,) = into.glob("*.libs/lib/libhxstrip*.so.1")
    return library


def _sections(path: Path, readelf: str = "readelf") -> set[str]:
    out = subprocess.run([readelf, "-SW", str(path)], capture_output=True, text=True, check=True).stdout
    return {word for line in out.splitlines() for word in line.replace("]", "] ").split() if word.startswith(".")}


def test_strip_removes_symbols_keeps_the_library_loadable(native, tmp_path):
    report, plain = _convert(native, tmp_path / "plain", strip=False)
    _, stripped = _convert(native, tmp_path / "stripped", strip=True)
    _, again = _convert(native, tmp_path / "again", strip=True)
    before = _extract(plain.path, tmp_path / "u-plain")
    after = _extract(stripped.path, tmp_path / "u-stripped")
    assert {".symtab", ".strtab", ".debug_info"} <= _sections(before)  # gcc -g left them, press kept them
    assert not {s for s in _sections(after) if s in (".symtab", ".strtab") or s.startswith(".debug")}
    assert ".dynsym" in _sections(after)
    dynamic = subprocess.run(["readelf", "--dyn-syms", "-W", str(after)], capture_output=True, text=True).stdout
    assert "hx_triple" in dynamic
    assert ctypes.CDLL(str(after)).hx_triple(7) == 21  # it still loads and runs
    # the bytes saved are reported, per file, and summed in the summary line
    arc = after.relative_to(tmp_path / "u-stripped").as_posix()
    assert stripped.stripped == {arc: before.stat().st_size - after.stat().st_size}
    assert stripped.stripped[arc] > 1000
    assert "kB stripped from 1 ELF file," in stripped.summary() + ","
    assert stripped.size < plain.size
    # without --strip: nothing said, nothing stripped
    assert plain.stripped is None and "stripped" not in plain.summary()
    assert json.loads(report.to_json())["wheels"][0]["stripped"] is None
    # the same input makes the same bytes
    assert Path(again.path).read_bytes() == Path(stripped.path).read_bytes()


def test_strip_aarch64(tmp_path):
    if not shutil.which("aarch64-linux-gnu-gcc"):
        pytest.skip("no aarch64 cross compiler (Debian gcc-aarch64-linux-gnu)")
    artifact = _package(tmp_path / "in" / "linux-aarch64", "linux-aarch64",
                        _compile("aarch64-linux-gnu-gcc", tmp_path / "libhxstrip.so"))
    _, wheel = _convert(artifact, tmp_path / "out", strip=True, subdir="linux-aarch64")
    assert wheel.tags.endswith("manylinux_2_17_aarch64")
    library = _extract(wheel.path, tmp_path / "u")
    assert not {s for s in _sections(library) if s == ".symtab" or s.startswith(".debug")}
    header = subprocess.run(["readelf", "-hW", str(library)], capture_output=True, text=True, check=True).stdout
    assert "AArch64" in header
    dynamic = subprocess.run(["readelf", "--dyn-syms", "-W", str(library)], capture_output=True, text=True).stdout
    assert "hx_triple" in dynamic
    assert list(wheel.stripped.values())[0] > 1000


def test_strip_without_a_strip_program_is_one_error(native, tmp_path, cache_dir):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = run_press("--strip", "--no-validate", "--no-wheelhouse-check", "--subdir", "linux-64", "-w",
                       str(tmp_path / "out"), str(native), cache=cache_dir, env={"PATH": str(empty)})
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("press: error: press-hx-strip-1.0-0")
    assert "lib/libhxstrip.so.1" in line and "no strip program for X86_64" in line and "binutils" in line
    assert not list((tmp_path / "out").glob("*.whl"))


def test_strip_leaves_pe_files_with_a_note(tmp_path):
    (artifact,) = (CONDA_FORGE / "win-64").glob("vc14_runtime-*.conda")
    report = convert([str(artifact)], ConvertOptions(channels=[str(CONDA_FORGE)], subdir="win-64", python="3.12",
                                                     wheel_dir=tmp_path / "out", cache_dir=tmp_path / "cache",
                                                     validate=False, check=False, strip=True))
    (wheel,) = report.wheels
    assert wheel.stripped == {}
    assert any(n.startswith("--strip: ") and "PE binaries left unstripped" in n for n in wheel.notes), wheel.notes


@pytest.mark.slow
def test_strip_shrinks_fat_libmambapy_and_it_validates(tmp_path, cache_dir):
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--repodata-patch",
                       str(HOTFIX), "--fatten", "--strip", "--json", "-q", "-w", str(tmp_path), "libmambapy",
                       cache=cache_dir, check=True)
    (wheel,) = json.loads(result.stdout)["wheels"]
    assert wheel["validation"]["status"] == "passed" and "libmambapy" in wheel["validation"]["imports"]
    assert sum(wheel["stripped"].values()) > 10_000_000  # libstdc++ alone carries 12 MB of DWARF
    stdcxx = next(a for a in wheel["stripped"] if "libstdc++" in a)
    with zipfile.ZipFile(wheel["path"]) as archive:
        (tmp_path / "libstdc++.so").write_bytes(archive.read(stdcxx))
    assert ".symtab" not in _sections(tmp_path / "libstdc++.so")
    assert os.path.getsize(wheel["path"]) < 12_000_000  # 15.6 MB without --strip


def test_press_channel_strip(native, tmp_path, cache_dir):
    out = tmp_path / "house"
    command = [sys.executable, "-m", "press", "channel", str(native.parent.parent), "--subdir", "linux-64",
               "--python", "3.12", "--strip", "--no-wheelhouse-check", "-j", "1", "-q", "--json", "-w", str(out),
               "--cache-dir", str(cache_dir)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("*.whl")
    library = _extract(str(wheel), tmp_path / "u")
    assert not {s for s in _sections(library) if s == ".symtab" or s.startswith(".debug")}
    assert ctypes.CDLL(str(library)).hx_triple(2) == 6


def test_strip_writes_no_name_of_the_package(tmp_path):
    """strip's output goes to a private directory: a package file named like a temporary beside
    the target (``bin/.tool.press-strip``) is neither overwritten nor moved (it was deleted, then
    the conversion crashed)."""
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    library = _compile("gcc", tmp_path / "libhxstrip.so")
    files = {LIBRARY: library, "bin/tool": library, "bin/.tool.press-strip": b"#!/bin/sh\necho mine\n",
             # the old fixed temporary of the ELF relocation (it renames the library and sets its SONAME)
             "lib/.libhxstrip.so.1.press-tmp": b"mine too\n"}
    spec = Spec(name="press-hx-stripclash", subdir="linux-64", files=files, executables=set(files))
    artifact = build(spec, tmp_path / "channel" / "linux-64", ".conda")
    report, wheel = _convert(artifact, tmp_path / "out", strip=True)
    with zipfile.ZipFile(wheel.path) as archive:
        names = {n.split("/", 1)[1]: n for n in archive.namelist() if "/" in n}
        assert archive.read(names["bin/.tool.press-strip"]) == b"#!/bin/sh\necho mine\n"
        assert archive.read(names["lib/.libhxstrip.so.1.press-tmp"]) == b"mine too\n"
        assert len(archive.read(names["bin/tool"])) < len(library)  # stripped all the same
