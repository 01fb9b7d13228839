"""Thin wheels find the libraries of their whole dependency closure
(press/providers.py): a library reached through a dependency of a dependency
(conda-forge's zlib -> libzlib), and a symlink into another package
(libblas.so.3 -> libopenblas.so.0), on Linux (loaded in a venv) and macOS
(LC_RPATHs read with macholib)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, make_venv, run_press, uv_install


def test_linux_library_of_a_dependency_of_a_dependency_loads(fixture_packages, tmp_path, cache_dir, py312):
    # press-fx-chain-app NEEDs libfxchain.so.1, shipped by press-fx-chain-lib, which it reaches only
    # through press-fx-chain-mid (no files), and libfxalias.so.1, which press-fx-chain-alias ships as a
    # link to press-fx-chain-lib's libfxchain.so.1.
    out = tmp_path / "wheels"
    result = run_press("-c", str(fixture_packages["channel"]), "--subdir", "linux-64", "--python", "3.12", "-w",
                       str(out), "--json", "-q", "press-fx-chain-app", cache=cache_dir, check=True)
    # native names carry the channel's: fixtures-press-fx-chain-app (docs/metadata.md)
    wheels = {w["name"].split("press-fx-")[1]: w for w in json.loads(result.stdout)["wheels"]}
    assert {n: w["validation"]["status"] for n, w in wheels.items()} == dict.fromkeys(
        ["chain-alias", "chain-app", "chain-lib", "chain-mid"],
        "passed")  # validation dlopens libfxchainapp.so.1 in a venv with the thin wheels installed
    app = wheels["chain-app"]
    prefix = app["name"].split("press-fx-")[0].replace("-", "_")
    library = f"{prefix}press_fx_chain_app.libs/lib/libfxchainapp.so.1"
    assert app["dependencies"][library] == {"libfxchain.so.1": "dependency wheel",
                                            "libfxalias.so.1": "dependency wheel"}
    # Only the wheel that ships the libraries is searched, and the link's name became its target's.
    _unzip(app["path"], tmp_path / "app")
    readelf = subprocess.run(["readelf", "-d", str(tmp_path / "app" / library)], capture_output=True, text=True)
    assert readelf.returncode == 0, readelf.stderr
    assert f"[$ORIGIN/../../{prefix}press_fx_chain_lib.libs/lib]" in readelf.stdout
    assert "libfxalias.so.1" not in readelf.stdout
    # The package holding the link says where the library comes from.
    assert any("lib/libfxalias.so.1 -> libfxchain.so.1 is not in this wheel (press-fx-chain-lib ships it" in n
               for n in wheels["chain-alias"]["notes"])
    # A user's venv: pip's view of the same wheels, and the program runs.
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, "--find-links", str(out), app["name"])
    ran = subprocess.run([str(python.parent / "press-fx-chain")], capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout == "press-fx-chain 4207\n", ran


def _unzip(wheel: str, where: Path) -> None:
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(where)


@pytest.mark.slow  # 8 to 11 s (README: such cases run with the slow ones)
def test_macos_rpath_reaches_a_library_of_a_dependency_of_a_dependency(tmp_path, cache_dir):
    # Real osx-arm64 packages with a repodata patch that puts zstd between cffi and libffi (as zlib sits
    # between libpng and libzlib): _cffi_backend needs @rpath/libffi.8.dylib, which only libffi ships.
    from macholib.mach_o import LC_RPATH
    from macholib.MachO import MachO

    channel = tmp_path / "conda-forge"  # native names: conda-forge-<name>
    files = {"osx-arm64": ["cffi-1.16.0-py310hdcd7c05_0.conda", "libffi-3.4.2-h3422bc3_5.tar.bz2",
                           "zstd-1.5.5-h4f39d0f_0.conda", "libzlib-1.2.13-h53f4e23_5.conda",
                           "python_abi-3.10-4_cp310.conda"],
             "noarch": ["pycparser-2.22-pyhd8ed1ab_0.conda"]}
    for subdir, names in files.items():
        (channel / subdir).mkdir(parents=True)
        for name in names:
            os.symlink(CONDA_FORGE / subdir / name, channel / subdir / name)
    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps({"osx-arm64": {"patch_instructions_version": 1, "packages": {}, "packages.conda": {
        "cffi-1.16.0-py310hdcd7c05_0.conda": {"depends": [
            "zstd >=1.5", "pycparser", "python >=3.10,<3.11.0a0", "python >=3.10,<3.11.0a0 *_cpython",
            "python_abi 3.10.* *_cp310"]},
        "zstd-1.5.5-h4f39d0f_0.conda": {"depends": ["libzlib >=1.2.13,<1.3.0a0", "libffi >=3.4,<4.0a0"]},
    }}}))
    out = tmp_path / "wheels"
    result = run_press("-c", str(channel), "--subdir", "osx-arm64", "--python", "3.10", "--repodata-patch", str(patch),
                       "-w", str(out), "--json", "-q", "cffi", cache=cache_dir, check=True)
    wheels = {w["name"]: w for w in json.loads(result.stdout)["wheels"]}
    cffi = wheels["cffi"]
    assert cffi["requires_dist"] == ["conda-forge-zstd>=1.5", "pycparser"]  # libffi comes through zstd
    assert cffi["validation"]["status"] == "passed", cffi["validation"]  # structural: macholib on the installed tree
    assert cffi["dependencies"]["_cffi_backend.cpython-310-darwin.so"]["@rpath/libffi.8.dylib"] == "dependency wheel"
    _unzip(cffi["path"], tmp_path / "cffi")
    macho = MachO(str(tmp_path / "cffi" / "_cffi_backend.cpython-310-darwin.so"))
    rpaths = [payload.rstrip(b"\0").decode() for header in macho.headers
              for load, _cmd, payload in header.commands if load.cmd == LC_RPATH]
    assert rpaths == ["@loader_path/conda_forge_libffi.libs/lib"]
