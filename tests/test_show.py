"""press show: a wheel's tags and why they hold, its libraries, METADATA and
conda sources; what press would write for a spec or an artifact file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from conftest import CHANNELS, CONDA_FORGE, run_press

CF = ["-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12"]


def _show(*args, cache, check=True, cwd=None):
    return run_press("show", *args, cache=cache, check=check, cwd=cwd)


def test_show_spec_writes_nothing_and_gives_tag_reasons(tmp_path, cache_dir):
    result = _show(*CF, "--fatten", "--json", "cffi", cache=cache_dir, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written
    views = {v["name"]: v for v in json.loads(result.stdout)["wheels"]}
    cffi = views["cffi"]
    assert cffi["tags"] == ["cp312-cp312-manylinux2014_x86_64", "cp312-cp312-manylinux_2_17_x86_64"]
    assert cffi["made_by_press"]
    assert cffi["platform_tag"]["ok"] and any(r.startswith("set by _cffi_backend") and "GLIBC_2." in r
                                              for r in cffi["platform_tag"]["reasons"])
    assert cffi["python_tag"]["reasons"] == ["_cffi_backend.cpython-312-x86_64-linux-gnu.so is built for cp312"]
    (libffi,) = [lib for lib in cffi["vendored_libraries"] if "libffi" in lib]
    assert cffi["vendored_from"][libffi] == "libffi 3.4.2"
    assert cffi["dependencies"]["_cffi_backend.cpython-312-x86_64-linux-gnu.so"]["libc.so.6"] == "system"
    assert cffi["requires_dist"] == ["pycparser"] and "pycparser" in views


def test_show_artifact_file_and_wheel_human(tmp_path, cache_dir):
    (artifact,) = (CONDA_FORGE / "linux-64").glob("zstd-*.conda")
    human = _show("--subdir", "linux-64", "--python", "3.12", str(artifact), cache=cache_dir).stdout
    assert "conda-forge-zstd" in human and "the binaries allow manylinux_2_12_x86_64" in human
    assert "set by conda_forge_zstd.libs/" in human and "conda artifacts (SBOM):" in human
    out = tmp_path / "out"
    made = run_press(*CF, "--fatten", "--no-validate", "-w", str(out), "-q", "--json", "cffi", cache=cache_dir,
                     check=True)
    wheel = Path(json.loads(made.stdout)["wheels"][0]["path"])
    human = _show(str(wheel), cache=cache_dir).stdout
    assert "cffi.libs/lib/libffi-" in human and "<- libffi 3.4.2" in human and "made by press" in human
    assert "libffi 3.4.2 h7f98852_5 [conda-forge/linux-64]" in human
    # A wheel whose name claims an older glibc than its binaries need is contradicted, by either tag
    # of its compressed set (the legacy alias through auditwheel's policy data).
    liar = tmp_path / wheel.name.replace("manylinux2014_x86_64.manylinux_2_17", "manylinux1_x86_64.manylinux_2_5")
    assert liar.name.endswith("-cp312-cp312-manylinux1_x86_64.manylinux_2_5_x86_64.whl")
    shutil.copy(wheel, liar)
    view = json.loads(_show("--json", str(liar), cache=cache_dir).stdout)["wheels"][0]
    assert not view["platform_tag"]["ok"]
    for claim in ("manylinux1_x86_64", "manylinux_2_5_x86_64"):
        assert any(f"{claim} claims glibc 2.5, the binaries need 2.17" in r for r in view["platform_tag"]["reasons"])


def test_show_foreign_wheel_and_refusals(tmp_path, cache_dir, fixture_packages):
    view = json.loads(_show("-c", str(CHANNELS / "conda-forge"), "--subdir", "osx-arm64", "--python", "3.10",
                            "--fatten", "--json", "cffi", cache=cache_dir).stdout)["wheels"][0]
    assert view["tags"] == ["cp310-cp310-macosx_11_0_arm64"] and view["platform_tag"]["ok"]
    assert view["platform_tag"]["reasons"][0].startswith("highest minimum macOS version among the binaries: 11.")
    from hostile import Spec, build

    escaping = build(Spec(name="escaping", links={"site-packages/escaping.py": "../../../etc/passwd"}),
                     tmp_path / "in", ".conda")
    refused = _show("--json", str(escaping), cache=cache_dir, check=False)
    assert refused.returncode == 1 and json.loads(refused.stdout)["ok"] is False
    assert "outside" in json.loads(refused.stdout)["error"]["message"]
    missing = _show(str(tmp_path / "nope-1.0-py3-none-any.whl"), cache=cache_dir, check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("press: error:") and "no such wheel file" in missing.stderr
    helped = run_press("--help", cache=cache_dir, check=True).stdout
    assert "press show" in helped and "press channel" in helped
    assert not os.path.exists(tmp_path / "wheelhouse")


def test_show_builds_no_path_from_unsafe_member_names_and_bounds_extraction(tmp_path, cache_dir):
    """A hostile wheel: a member named ../outside.so never makes press read a
    file beside the scratch directory, and a wheel beyond the unpacked-size
    limit is refused before anything is extracted."""
    import zipfile

    wheel = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("../outside.so", b"\x7fELF" + b"\0" * 60)
        archive.writestr("evil-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
        archive.writestr("evil-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    view = json.loads(_show("--json", str(wheel), cache=cache_dir).stdout)["wheels"][0]
    assert view["dependencies"] == {} and any("../outside.so" in p for p in view["problems"])
    big = run_press("show", str(wheel), cache=cache_dir, env={"PRESS_MAX_UNPACKED_SIZE": "10"})
    assert big.returncode == 1 and "PRESS_MAX_UNPACKED_SIZE" in big.stderr


def _rewrite(wheel: Path, target: Path, change: dict[str, bytes]) -> Path:
    """A copy of ``wheel`` with the members of ``change`` replaced (RECORD left as it was)."""
    import zipfile

    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(target, "w") as sink:
        for info in source.infolist():
            sink.writestr(info, change.get(info.filename, source.read(info.filename)))
    return target


def test_show_pypi_wheel_with_directory_entries(tmp_path, cache_dir):
    """PyPI's own cffi wheel (zip directory entries, License-File in Metadata-Version 2.1): no
    problem, auditwheel agrees; a member changed after RECORD was written is still caught."""
    import subprocess
    import sys

    import pytest

    got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                          "cffi==1.17.1", "--platform", "manylinux2014_x86_64", "--python-version", "3.12",
                          "-d", str(tmp_path)], capture_output=True, text=True, timeout=120)
    if got.returncode != 0:
        pytest.skip(f"PyPI unreachable: {got.stderr[-200:]}")
    (wheel,) = tmp_path.glob("cffi-*.whl")
    view = json.loads(_show("--json", str(wheel), cache=cache_dir).stdout)["wheels"][0]
    assert view["problems"] == [] and view["platform_tag"]["ok"]
    assert view["auditwheel"] == {"tag": "manylinux_2_17_x86_64", "agrees": True, "safe": True, "reasons": []}
    assert view["rules"]["_cffi_backend.cpython-312-x86_64-linux-gnu.so"]["libc.so.6"].startswith("from the system")
    (tampered_dir := tmp_path / "t").mkdir()
    tampered = _rewrite(wheel, tampered_dir / wheel.name, {"cffi/__init__.py": b"print('changed')\n"})
    problems = json.loads(_show("--json", str(tampered), cache=cache_dir).stdout)["wheels"][0]["problems"]
    assert len(problems) == 1 and "RECORD does not verify" in problems[0] and "cffi/__init__.py" in problems[0]


def test_show_setuptools_wheel_with_data_directory(tmp_path, cache_dir):
    """A wheel setuptools builds with a C extension, scripts, headers and data files (a
    ``.data/`` directory): no problem; the RECORD check still runs; a .data scheme no
    installer knows is named."""
    import subprocess
    import sys
    import zipfile

    project = tmp_path / "proj"
    (project / "dat").mkdir(parents=True)
    (project / "dat" / "__init__.py").write_text("")
    (project / "dat" / "_c.c").write_text(
        '#include <Python.h>\nstatic struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "_c"};\n'
        "PyMODINIT_FUNC PyInit__c(void) { return PyModule_Create(&m); }\n")
    (project / "tool").write_text("#!/bin/sh\necho tool\n")
    (project / "dat.h").write_text("int dat;\n")
    (project / "share.txt").write_text("data\n")
    (project / "setup.py").write_text(
        "from setuptools import setup, Extension\n"
        "setup(name='dat', version='1.0', packages=['dat'], ext_modules=[Extension('dat._c', ['dat/_c.c'])],\n"
        "      scripts=['tool'], headers=['dat.h'], data_files=[('share/dat', ['share.txt'])])\n")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(project)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("dat-1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert {"dat-1.0.data/scripts/tool", "dat-1.0.data/data/share/dat/share.txt"} <= set(names)
    view = json.loads(_show("--json", str(wheel), cache=cache_dir).stdout)["wheels"][0]
    assert view["problems"] == [], view["problems"]
    (ext,) = [n for n in view["dependencies"] if n.startswith("dat/_c.")]
    assert set(view["dependencies"][ext].values()) <= {"system"} and view["platform_tag"]["ok"]
    odd = _rewrite(wheel, tmp_path / wheel.name, {"dat-1.0.data/scripts/tool": b"#!/bin/sh\necho changed\n"})
    with zipfile.ZipFile(odd, "a") as archive:
        archive.writestr("dat-1.0.data/elsewhere/x", b"")
    problems = json.loads(_show("--json", str(odd), cache=cache_dir).stdout)["wheels"][0]["problems"]
    assert any("'elsewhere', not one of the .data directories installers know" in p for p in problems), problems
    assert any("RECORD does not verify" in p for p in problems), problems
