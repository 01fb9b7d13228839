"""Native-library wheels usable by builds (issue 25, item 2; docs/layout.md,
"Native-library wheels"): a ``pkg_config`` entry point (the ``pkgconf`` wheel,
meson-python), a ``cmake.prefix`` entry point (scikit-build-core), linker
names for ``-l<name>`` and CMake targets, and ``load_library()``, so that a
dependent's binary finds the libraries without a RUNPATH into the wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from press.wheel import wheel_problems

from conftest import CONDA_FORGE, HOTFIX, ROOT, make_venv, run_press
from press.venvs import _uv_binary as _uv

PROBE_C = r"""
#include <ffi.h>
static int add(int a, int b) { return a + b; }
int probe(int a, int b) {
    ffi_cif cif;
    ffi_type *types[2] = {&ffi_type_sint, &ffi_type_sint};
    void *values[2] = {&a, &b};
    ffi_arg result;
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint, types) != FFI_OK) return -1;
    ffi_call(&cif, FFI_FN(add), &result, values);
    return (int)result;
}
"""


def _wheel(directory: Path, dist: str) -> Path:
    found = sorted(directory.glob(f"{dist}-*.whl"))
    assert len(found) == 1, found
    return found[0]


def _entry_points(archive: zipfile.ZipFile) -> str:
    names = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    return archive.read(names[0]).decode() if names else ""


def _needed_and_runpath(path: Path) -> tuple[list[str], list[str]]:
    with path.open("rb") as handle:
        needed: list[str] = []
        runpath: list[str] = []
        for section in ELFFile(handle).iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        needed.append(tag.needed)
                    elif tag.entry.d_tag in ("DT_RUNPATH", "DT_RPATH"):
                        runpath += (tag.runpath if tag.entry.d_tag == "DT_RUNPATH" else tag.rpath).split(":")
        return needed, runpath


def test_thin_native_wheel_registers_its_build_files(thin_conversion) -> None:
    out, _ = thin_conversion
    path = _wheel(out, "conda_forge_zstd")
    assert wheel_problems(path, None) == []  # every generated member is in RECORD with its hash
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        points = _entry_points(archive)
        assert "[pkg_config]\nconda_forge_zstd = _press_native_conda_forge_zstd\n" in points
        assert "[cmake.prefix]\nconda_forge_zstd = _press_native_conda_forge_zstd\n" in points
        package = "_press_native_conda_forge_zstd/"
        pc = archive.read(package + "libzstd.pc").decode()
        assert "prefix=${pcfiledir}/../conda_forge_zstd.libs\n" in pc
        forwarder = archive.read(package + "lib/cmake/zstd/zstdConfig.cmake").decode()
        assert 'include("${CMAKE_CURRENT_LIST_DIR}/../../../../conda_forge_zstd.libs/lib/cmake/zstd/zstdConfig.cmake")' \
            in forwarder
        assert package + "lib/cmake/zstd/zstdConfigVersion.cmake" in names
        library = next(n for n in names if n.startswith("conda_forge_zstd.libs/lib/libzstd-"))
        stored = library.rsplit("/", 1)[1]
        # -lzstd and the CMake target's file name stand for the stored library; its SONAME gets no script.
        for link in ("libzstd.so", "libzstd.so.1.5.6"):
            assert f"INPUT({stored})\n" in archive.read(f"conda_forge_zstd.libs/lib/{link}").decode()
        assert "conda_forge_zstd.libs/lib/libzstd.so.1" not in names
        loader = archive.read(package + "__init__.py").decode()
        assert f"LIBRARIES = ({library!r},)" in loader


def test_python_and_empty_wheels_get_nothing(thin_conversion) -> None:
    out, _ = thin_conversion
    for dist in ("cffi", "conda_forge_libgcc_ng"):  # a Python package; a native metapackage with no files
        with zipfile.ZipFile(_wheel(out, dist)) as archive:
            assert not [n for n in archive.namelist() if "_press_native_" in n or n.endswith("/libffi.so")]
            assert "pkg_config" not in _entry_points(archive)


@pytest.mark.slow  # 2 s: one more conversion
def test_same_bytes_from_the_artifact_alone(thin_conversion, cache_dir, tmp_path) -> None:
    out, _ = thin_conversion
    run_press("--subdir", "linux-64", "--python", "3.12", "--no-validate", "-q", "-w", str(tmp_path),
              str(CONDA_FORGE / "linux-64" / "libffi-3.4.2-h7f98852_5.tar.bz2"), cache=cache_dir, check=True)
    assert _wheel(tmp_path, "conda_forge_libffi").read_bytes() == _wheel(out, "conda_forge_libffi").read_bytes()


def test_a_binary_linked_through_pkg_config_loads_through_load_library(thin_conversion, tmp_path) -> None:
    pkg_config, cc = shutil.which("pkg-config") or shutil.which("pkgconf"), shutil.which("cc")
    if pkg_config is None or cc is None:
        pytest.skip("needs pkg-config and a C compiler")
    site = tmp_path / "site"
    with zipfile.ZipFile(_wheel(thin_conversion[0], "conda_forge_libffi")) as archive:
        archive.extractall(site)
    env = dict(os.environ, PKG_CONFIG_PATH=str(site / "_press_native_conda_forge_libffi"), PKG_CONFIG_LIBDIR="")
    flags = subprocess.run([pkg_config, "--cflags", "--libs", "libffi"], capture_output=True, text=True, env=env,
                           check=True).stdout.split()
    assert f"-L{site}/_press_native_conda_forge_libffi/../conda_forge_libffi.libs/lib" in flags
    (tmp_path / "probe.c").write_text(PROBE_C)
    probe = tmp_path / "libprobe.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(probe), str(tmp_path / "probe.c"), *flags], check=True)
    needed, runpath = _needed_and_runpath(probe)
    stored = next(n for n in needed if n.startswith("libffi"))
    assert stored.startswith("libffi-") and not any("conda_forge" in p for p in runpath)
    code = ("import ctypes, sys; sys.path.insert(0, sys.argv[1]); {}"
            "print(ctypes.CDLL(sys.argv[2]).probe(40, 2))")
    run = [sys.executable, "-c"]
    loaded = subprocess.run(run + [code.format("import _press_native_conda_forge_libffi as m; m.load_library(); "),
                                   str(site), str(probe)], capture_output=True, text=True)
    assert loaded.stdout == "42\n", loaded.stderr
    bare = subprocess.run(run + [code.format(""), str(site), str(probe)], capture_output=True, text=True)
    assert bare.returncode != 0 and stored in bare.stderr  # nothing else points the loader at it


def _doc_blocks() -> dict[str, str]:
    """The python blocks of layout.md's section Native-library wheels: pkg-config, CMake and load_library()
    (tests/test_docs.py leaves them to this test), by the file name their first line names
    (``# setup.py``): the docs show what this test builds."""
    text = (ROOT / "docs" / "layout.md").read_text()
    section = text.split("## Native-library wheels: pkg-config, CMake and `load_library()`", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return {block.splitlines()[0].removeprefix("# "): block for block in blocks}


SETUP_PY = _doc_blocks()["setup.py"]
INIT_PY = _doc_blocks()["ffiprobe/__init__.py"]

EXTENSION_C = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <zstd.h>
""" + PROBE_C + r"""
static PyObject *ffi_add(PyObject *self, PyObject *args) {
    int a, b;
    if (!PyArg_ParseTuple(args, "ii", &a, &b)) return NULL;
    return PyLong_FromLong(probe(a, b));
}
static PyObject *zstd_version(PyObject *self, PyObject *noargs) {
    return PyUnicode_FromString(ZSTD_versionString());
}
static PyMethodDef methods[] = {
    {"ffi_add", ffi_add, METH_VARARGS, NULL}, {"zstd_version", zstd_version, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL},
};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_probe", NULL, -1, methods};
PyMODINIT_FUNC PyInit__probe(void) { return PyModule_Create(&module); }
"""

CMAKE_LISTS = """
cmake_minimum_required(VERSION 3.15)
project(zprobe C)
find_package(zstd CONFIG REQUIRED)
add_library(zprobe SHARED zprobe.c)
target_link_libraries(zprobe PRIVATE zstd::libzstd_shared)
"""


def _offline_install(python: Path, *args: str) -> subprocess.CompletedProcess:
    """uv, offline: local wheel directories (``--find-links``) and uv's cache only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    links = [f"--find-links={d}" for d in os.environ.get("PIP_FIND_LINKS", "").split() if Path(d).is_dir()]
    return subprocess.run([_uv(), "pip", "install", "-q", "--offline", "--python", str(python), *links, *args],
                          capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_c_extension_builds_against_thin_wheels_with_pkgconf_offline(py312, cache_dir, tmp_path) -> None:
    """The stranger's path: press makes (and validates) the thin libffi and
    zstd wheels; a fresh venv gets them and the ``pkgconf`` wheel offline;
    setuptools builds an extension with the flags ``pkgconf`` finds through the
    entry points; it runs, its libraries loaded by load_library()."""
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler")
    wheels = tmp_path / "wheels"
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--repodata-patch",
                       str(HOTFIX), "-w", str(wheels), "libffi", "zstd", cache=cache_dir, check=True)
    assert result.stdout.count("validation passed") == len(list(wheels.glob("*.whl")))
    python = make_venv(py312, tmp_path / "venv")
    tools = _offline_install(python, "pkgconf", "setuptools")
    if tools.returncode != 0:
        pytest.skip("the pkgconf and setuptools wheels are not available offline (PIP_FIND_LINKS or uv's cache): "
                    + tools.stderr.strip().splitlines()[-1])
    installed = _offline_install(python, "--no-index", "--find-links", str(wheels), "conda-forge-libffi",
                                 "conda-forge-zstd")
    assert installed.returncode == 0, installed.stderr
    project = tmp_path / "project"
    (project / "ffiprobe").mkdir(parents=True)
    (project / "setup.py").write_text(SETUP_PY)
    (project / "ffiprobe" / "__init__.py").write_text(INIT_PY)
    (project / "ffiprobe" / "_probe.c").write_text(EXTENSION_C)
    built = _offline_install(python, "--no-index", "--no-build-isolation", str(project))
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(python), "-c", "import ffiprobe; print(ffiprobe.ffi_add(40, 2), ffiprobe.zstd_version())"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert ran.stdout == "42 1.5.6\n", ran.stderr
    extension = next((tmp_path / "venv" / "lib").glob("python3.12/site-packages/ffiprobe/_probe*.so"))
    needed, runpath = _needed_and_runpath(extension)
    assert any(n.startswith("libffi-") for n in needed) and any(n.startswith("libzstd") for n in needed)
    assert not any("site-packages" in p for p in runpath)
    # CMake: find_package through the cmake.prefix entry point (scikit-build-core's lookup), linked, loaded.
    cmake = shutil.which("cmake")
    if cmake is None:
        return
    prefixes = subprocess.run([str(python), "-c", "from importlib import metadata, resources; print(';'.join("
                               "str(resources.files(ep.load())) for ep in metadata.entry_points(group='cmake.prefix')))"],
                              capture_output=True, text=True, check=True).stdout.strip()
    source = tmp_path / "cmake"
    source.mkdir()
    (source / "CMakeLists.txt").write_text(CMAKE_LISTS)
    (source / "zprobe.c").write_text("#include <zstd.h>\nunsigned zprobe(void) { return ZSTD_versionNumber(); }\n")
    subprocess.run([cmake, "-S", str(source), "-B", str(source / "b"), f"-DCMAKE_PREFIX_PATH={prefixes}"],
                   check=True, capture_output=True)
    subprocess.run([cmake, "--build", str(source / "b")], check=True, capture_output=True)
    library = next((source / "b").glob("libzprobe.so"))
    ran = subprocess.run([str(python), "-c", "import ctypes, sys, _press_native_conda_forge_zstd as z; z.load_library();"
                          " print(ctypes.CDLL(sys.argv[1]).zprobe())", str(library)], capture_output=True, text=True)
    assert ran.stdout == "10506\n", ran.stderr


def test_hostile_names_get_no_linker_script_or_cmake_shim_and_pkg_config_order_holds(tmp_path) -> None:
    """Names from the package that ld's script grammar or CMake's quoted argument would not keep
    literal are left out with a note; two CMake configs for one shim (lib/ and Library/lib/ on
    Linux) do not crash; of same-named .pc files the lib/pkgconfig one wins, as pkg-config's
    search order has it; Library/ counts only for Windows."""
    from hostile import Spec, build

    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    source = tmp_path / "s.c"
    source.write_text("int hx_f(int x) { return x + 1; }\n")
    library = tmp_path / "lib.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libhx) INPUT(libm.so.6 .so.1", "-o", str(library),
                    str(source)], check=True)
    pc = "prefix=/opt/placeholder\nName: {}\nVersion: 1\nDescription: x\n"
    files = {"lib/libhx.so.1.0": library.read_bytes(),
             "lib/cmake/Foo/FooConfig.cmake": b"set(FOO 1)\n", "Library/lib/cmake/Foo/FooConfig.cmake": b"set(FOO 2)\n",
             'lib/cmake/a"b/a"bConfig.cmake': b"set(X 1)\n", "lib/cmake/${CMAKE_COMMAND}/xConfig.cmake": b"set(Y 1)\n",
             "lib/pkgconfig/x.pc": pc.format("lib").encode(), "Library/lib/pkgconfig/x.pc": pc.format("Library").encode(),
             "share/pkgconfig/x.pc": pc.format("share").encode()}
    spec = Spec(name="press-hx-names", subdir="linux-64", files=files, executables={"lib/libhx.so.1.0"},
                links={"lib/libhx.so": "libhx.so.1.0"})
    artifact = build(spec, tmp_path / "channel" / "linux-64", ".conda")
    out = tmp_path / "out"
    result = run_press(str(artifact), "--subdir", "linux-64", "--python", "3.12", "--no-validate", "-v", "-w", str(out),
                       cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    scripts = [data for data in members.values() if data.startswith(b"/* GNU ld script")]
    assert not scripts  # the stored name would have been read as several inputs
    shims = {n: d for n, d in members.items() if n.startswith("_press_native_") and n.endswith("Config.cmake")}
    assert list(shims) == [next(n for n in shims if n.endswith("lib/cmake/Foo/FooConfig.cmake"))]
    assert b"Library/" not in next(iter(shims.values()))  # on Linux the package's own lib/ is the prefix
    (copy,) = [d for n, d in members.items() if n.startswith("_press_native_") and n.endswith("/x.pc")]
    assert b"Name: lib\n" in copy
    assert "left without a linker name or CMake shim" in result.stdout
