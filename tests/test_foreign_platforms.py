"""macOS and Windows wheels from real conda-forge and Anaconda packages,
checked structurally (macholib, pefile, uv --python-platform): every
package of the sample with an extension module converts with --fatten."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from conda_package_streaming.package_streaming import stream_conda_component

from conftest import CHANNELS, run_press
from press import structure

#: (channel, subdir, python, expected platform tag)
TARGETS = [
    ("conda-forge", "osx-arm64", "3.10", "macosx_11_0_arm64"),
    ("conda-forge", "osx-arm64", "3.12", "macosx_11_0_arm64"),
    ("conda-forge", "win-64", "3.10", "win_amd64"),
    ("defaults", "osx-64", "3.12", None),  # 10.9 or 10.15, from the binaries
    ("defaults", "win-64", "3.11", "win_amd64"),
]


def _extension_packages(channel: str, subdir: str, python: str) -> list[str]:
    """``name==version`` of every artifact in the directory with a Python
    extension module built for ``python``."""
    specs = []
    for path in sorted((CHANNELS / channel / subdir).iterdir()):
        if not path.name.endswith((".conda", ".tar.bz2")):
            continue
        index, extension = None, False
        with open(path, "rb") as handle:
            for tar, member in stream_conda_component(str(path), handle, "info"):
                if member.name == "info/index.json":
                    index = json.load(tar.extractfile(member))
        with open(path, "rb") as handle:
            for _tar, member in stream_conda_component(str(path), handle, "pkg"):
                extension |= bool(re.search(r"site-packages/.*\.(so|pyd)$", member.name))
        tag = "py" + python.replace(".", "")
        if extension and tag in index["build"]:
            specs.append(f"{index['name']}=={index['version']}")
    return specs


@pytest.mark.parametrize("channel,subdir,python,platform", [
    pytest.param(*t, id=f"{t[0]}-{t[1]}-py{t[2]}", marks=[pytest.mark.slow] if t[1:3] in (("osx-arm64", "3.10"), ("osx-64", "3.12")) else [])
    for t in TARGETS])  # osx-arm64 for 3.10 and defaults' osx-64 with the slow cases (arm64 3.12 by default)
def test_every_extension_package_converts(channel, subdir, python, platform, tmp_path, cache_dir):
    specs = _extension_packages(channel, subdir, python)
    assert specs, "the sample should hold extension packages here"
    result = run_press("-c", str(CHANNELS / channel), "--subdir", subdir, "--python", python, "--fatten",
                       "-w", str(tmp_path), "--json", "-q", *specs, cache=cache_dir, check=True)
    wheels = {w["name"].lower().replace("_", "-"): w for w in json.loads(result.stdout)["wheels"]}
    cp = "cp" + python.replace(".", "")
    for spec in specs:
        name = spec.split("==")[0]
        wheel = next(w for n, w in wheels.items() if n == name or n == name.replace("-python", ""))
        py, abi, plat = wheel["tags"].split("-")
        assert (py, abi) == (cp, cp), wheel["tags"]
        if platform:
            assert plat == platform
        else:
            assert re.fullmatch(r"macosx_10_(9|15)_x86_64", plat)
        assert wheel["validation"]["status"] == "passed", (spec, wheel["validation"])
        assert wheel["validation"]["kind"] == "structural"  # the summary says "structural validation passed"
        assert any("uv installs it" in c for c in wheel["validation"]["checks"])
        assert wheel["dependencies"], spec
        resolved = [where for deps in wheel["dependencies"].values() for where in deps.values()]
        assert "unresolved" not in resolved and "" not in resolved, wheel["dependencies"]
        for library in wheel["vendored_libraries"]:
            assert re.search(r"-[0-9a-f]{8}\.|^.*/(vcruntime|msvcp)[0-9_]*\.dll$", library), library
    for wheel in wheels.values():
        assert wheel["validation"]["status"] == "passed", wheel


def _convert(channel, subdir, python, spec, out, cache):
    result = run_press("-c", str(CHANNELS / channel), "--subdir", subdir, "--python", python, "--fatten",
                       "-w", str(out), "--json", "-q", "--no-validate", spec, cache=cache, check=True)
    return json.loads(result.stdout)["wheels"][0]


def test_macos_edits_are_signed_and_resolve(tmp_path, cache_dir):
    wheel = _convert("conda-forge", "osx-arm64", "3.10", "cffi", tmp_path / "out", cache_dir)
    assert wheel["tags"] == "cp310-cp310-macosx_11_0_arm64"
    again = _convert("conda-forge", "osx-arm64", "3.10", "cffi", tmp_path / "again", cache_dir)
    assert Path(again["path"]).read_bytes() == Path(wheel["path"]).read_bytes()  # signing (and the SBOM) reproducible
    sources = {s["name"]: s for s in wheel["conda_sources"]}
    assert sources["cffi"]["subdir"] == "osx-arm64" and sources["cffi"]["channel"] == "conda-forge"
    assert sources["libffi"]["files"] >= 1 and sources["libffi"]["purl"].startswith("pkg:conda/libffi@3.4.2?")
    (library,) = wheel["vendored_libraries"]
    assert re.fullmatch(r"cffi\.libs/lib/libffi-[0-9a-f]{8}\.8\.dylib", library)
    root = tmp_path / "tree"
    with zipfile.ZipFile(wheel["path"]) as archive:
        archive.extractall(root)
    from macholib.MachO import MachO

    extension = root / "_cffi_backend.cpython-310-darwin.so"
    names = [name for _i, _kind, name in MachO(str(extension)).headers[0].walkRelocatables()]
    assert f"@rpath/{library.rsplit('/', 1)[1]}" in names
    from macholib.mach_o import LC_ID_DYLIB

    ids = [data.rstrip(b"\0").decode() for load, _cmd, data in MachO(str(root / library)).headers[0].commands
           if load.cmd == LC_ID_DYLIB]
    assert ids == [f"@rpath/{library.rsplit('/', 1)[1]}"]
    problems, resolution, min_os = structure.check_macho_tree(root, "macosx_11_0_arm64")
    assert problems == [] and min_os == (11, 0)
    assert resolution["_cffi_backend.cpython-310-darwin.so"][f"@rpath/{library.rsplit('/', 1)[1]}"] == library
    # A flipped byte breaks the page hash; a missing library breaks resolution.
    data = bytearray(extension.read_bytes())
    data[5000] ^= 0xFF
    extension.write_bytes(bytes(data))
    assert any("hash of page 1" in p for p in structure.verify_code_signature(extension))
    (root / library).unlink()
    problems, _resolution, _min_os = structure.check_macho_tree(root, "macosx_11_0_arm64")
    assert any("resolves neither inside the wheel" in p for p in problems)
    problems, _resolution, _min_os = structure.check_macho_tree(root, "macosx_10_9_arm64")
    assert any("the tag macosx_10_9_arm64 says otherwise" in p for p in problems)


def test_windows_dlls_hashed_and_loader_hooked(tmp_path, cache_dir):
    wheel = _convert("defaults", "win-64", "3.11", "zstandard", tmp_path / "out", cache_dir)
    assert wheel["tags"] == "cp311-cp311-win_amd64"
    with zipfile.ZipFile(wheel["path"]) as archive:
        assert not [n for n in archive.namelist() if n.endswith(".lib")]  # import/static libraries are dev files
    hashed = [v for v in wheel["vendored_libraries"] if "zstd-" in v]
    assert len(hashed) == 1 and re.search(r"zstd-[0-9a-f]{8}\.dll$", hashed[0])
    assert not any("api-ms-win" in v or "ucrtbase" in v for v in wheel["vendored_libraries"])
    root = tmp_path / "tree"
    with zipfile.ZipFile(wheel["path"]) as archive:
        archive.extractall(root)
    import pefile

    pe = pefile.PE(str(root / "zstandard" / "backend_c.cp311-win_amd64.pyd"))
    imports = [e.dll.decode() for e in pe.DIRECTORY_ENTRY_IMPORT]
    pe.close()
    assert hashed[0].rsplit("/", 1)[1] in imports and "zstd.dll" not in imports
    init = (root / "zstandard" / "__init__.py").read_text()
    assert "import _press_dlls_zstandard" in init
    loaders, _started = structure.dll_directories(root)
    assert loaders == {"_press_dlls_zstandard": ["zstandard.libs/Library/bin"]}
    assert structure.check_pe_tree(root, "win_amd64")[0] == []
    # Without the hook in __init__.py the extension's DLL is not found.
    (root / "zstandard" / "__init__.py").write_text(init.replace("import _press_dlls_zstandard", "pass"))
    problems = structure.check_pe_tree(root, "win_amd64")[0]
    assert any("zstd-" in p and "resolves neither" in p for p in problems)
    assert structure.check_pe_tree(root, "win32")[0]  # wrong machine for the tag


@pytest.mark.slow
def test_thin_windows_wheels_chain_their_dll_loaders(tmp_path, cache_dir):
    # Thin: zstandard's extension needs zstd.dll from the zstd wheel, whose
    # zstd.exe needs zlib.dll and liblz4.dll from two more wheels.
    result = run_press("-c", str(CHANNELS / "defaults"), "--subdir", "win-64", "--python", "3.11",
                       "-w", str(tmp_path), "--json", "-q", "zstandard", cache=cache_dir, check=True)
    wheels = {w["name"]: w for w in json.loads(result.stdout)["wheels"]}
    # defaults' native packages are named anaconda-<name> (docs/metadata.md)
    assert {"zstandard", "anaconda-zstd", "anaconda-zlib", "anaconda-lz4-c", "anaconda-xz"} <= {
        n.replace("_", "-") for n in wheels}
    for wheel in wheels.values():
        assert wheel["validation"]["status"] == "passed", (wheel["name"], wheel["validation"])
    with zipfile.ZipFile(wheels["zstandard"]["path"]) as archive:
        loader = archive.read("_press_dlls_zstandard.py").decode()
    assert "_press_dlls_anaconda_zstd" in loader
    zstd = wheels["anaconda-zstd"]
    with zipfile.ZipFile(zstd["path"]) as archive:
        loader = archive.read("_press_dlls_anaconda_zstd.py").decode()
        launcher = archive.read("_press_commands_anaconda_zstd.py").decode()
    assert "DLL_DIRECTORIES = ['anaconda_zstd.libs/Library/bin']" in loader and "_press_dlls_anaconda_zlib" in loader
    assert "_DLL_LOADER = '_press_dlls_anaconda_zstd'" in launcher  # zstd.exe gets the chain's directories on PATH


def test_pure_wheels_install_with_their_newer_macos_dependencies(tmp_path, cache_dir):
    """Defaults' osx-64 Flask is pure, and the MarkupSafe its Jinja2 needs is
    built for macOS 10.15: the pure wheels are checked for a Mac that can
    install what their directory holds, not for 10.9."""
    result = run_press("-c", str(CHANNELS / "defaults"), "--subdir", "osx-64", "--python", "3.12", "--json", "-q",
                       "-w", str(tmp_path), "flask", cache=cache_dir)
    wheels = {w["name"].lower(): w for w in json.loads(result.stdout)["wheels"]}
    assert wheels["markupsafe"]["tags"].endswith("macosx_10_15_x86_64")
    assert {n: w["validation"]["status"] for n, w in wheels.items()} == {n: "passed" for n in wheels}, \
        {n: w["validation"]["reason"] for n, w in wheels.items()}
    assert result.returncode == 0
