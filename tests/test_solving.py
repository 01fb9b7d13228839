"""Solving like conda across channel conventions (issue 11, items 1, 2 and 6):
both python build-string conventions, conda's channel priorities, and local
archives that cannot be read named in the error of every mode."""

from __future__ import annotations

import json
import subprocess
import sys
import shutil
from pathlib import Path

import pytest

from conftest import CFFI_CLOSURE, CHANNELS, CONDA_FORGE, run_press
from hostile import Spec, build
from press.channel import solve, virtual_python_builds


def _index(name: str, version: str, build_string: str, depends=(), constrains=()) -> dict:
    return {"name": name, "version": version, "build": build_string, "build_number": 0, "subdir": "linux-64",
            "depends": list(depends), "constrains": list(constrains), "license": "MIT", "timestamp": 1700000000000}


def test_virtual_python_meets_both_build_string_conventions(tmp_path, cache_dir):
    """Anaconda's python_abi 3.13 pins ``python 3.13.* *_cp313``; conda-forge's
    pins ``*_cpython``: the target's virtual python satisfies either."""
    assert virtual_python_builds("3.13") == ["0_cpython", "0_cp313"]
    assert virtual_python_builds("3.13", freethreading=True)[1] == "0_cp313t"
    channel = tmp_path / "defaults-style"
    for name, version, build_string, depends, constrains in (
        ("python_abi", "3.13", "0_cp313", (), ("python 3.13.* *_cp313",)),
        ("pkgd", "1.0", "py313_0", ("python >=3.13,<3.14.0a0", "python_abi 3.13.* *_cp313"), ()),
    ):
        spec = Spec(name=name, version=version, build=build_string, subdir="linux-64",
                    index=_index(name, version, build_string, depends, constrains))
        build(spec, channel / "linux-64", ".conda")
    (channel / "noarch").mkdir()
    records = solve(["pkgd"], [str(channel)], "linux-64", "3.13", cache_dir)
    assert sorted(f"{r.name.normalized} {r.build}" for r in records) == ["pkgd py313_0", "python_abi 0_cp313"]
    # conda-forge's convention, from the real sample
    records = solve(["cffi"], [str(CONDA_FORGE)], "linux-64", "3.12", cache_dir)
    abi = next(r for r in records if r.name.normalized == "python_abi")
    assert str(abi.build).endswith("_cp312") and any("*_cpython" in c for c in abi.constrains)


@pytest.mark.slow
def test_channel_priority_strict_flexible_disabled(tmp_path, cache_dir):
    """defaults' linux-64 sample lacks libgcc-ng; conda-forge has it, but under
    strict priority defaults' _libgcc_mutex blocks conda-forge's libgcc."""
    args = ["-c", str(CHANNELS / "defaults"), "-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.8",
            "--no-validate", "--json", "-q"]
    strict = run_press(*args, "-w", str(tmp_path / "strict"), "cffi", cache=cache_dir)
    assert strict.returncode == 1 and "cannot solve" in strict.stderr and strict.stderr.count("\n") == 1
    for priority in ("flexible", "disabled"):
        result = run_press(*args, "--channel-priority", priority, "-w", str(tmp_path / priority), "cffi",
                           cache=cache_dir)
        assert result.returncode == 0, result.stderr
        wheels = {w["name"]: w for w in json.loads(result.stdout)["wheels"]}
        assert wheels["cffi"]["version"] == "1.16.0"  # only defaults builds cffi for 3.8
        # flexible keeps defaults' pycparser; disabled takes the newest of either channel
        assert wheels["pycparser"]["version"] == ("2.21" if priority == "flexible" else "2.22")
        assert "conda-forge-libgcc" in wheels  # the runtime from the lower channel, named for it
    assert run_press(*args, "--channel-priority", "sometimes", "cffi", cache=cache_dir).returncode == 2


def test_unreadable_archive_is_named_in_single_and_fat_mode(tmp_path, cache_dir):
    channel = tmp_path / "channel"
    for name in CFFI_CLOSURE:
        sub = "linux-64" if (CONDA_FORGE / "linux-64" / name).exists() else "noarch"
        (channel / sub).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CONDA_FORGE / sub / name, channel / sub / name)
    broken = channel / "noarch" / "pycparser-2.22-pyh29332c3_1.conda"
    broken.write_bytes(broken.read_bytes()[:4096])  # cut short, as a failed mirror sync leaves it
    for mode in ("--thin", "--fatten"):
        result = run_press("-c", str(channel), "--subdir", "linux-64", "--python", "3.12", "--no-validate", "-q", mode,
                           "-w", str(tmp_path / "out"), "cffi", cache=cache_dir)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert "pycparser-2.22-pyh29332c3_1.conda" in result.stderr and "left out of the index" in result.stderr
    assert not Path(tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.whl"))


def test_python_all_converts_each_spec_for_the_pythons_it_has_builds_for(tmp_path, cache_dir):
    """--python all (cibuildwheel builds every CPython): osx-arm64 has cffi for
    3.10 and pyyaml for 3.12 only; each gets wheels for its own."""
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "osx-arm64", "--python", "all", "--fatten",
                       "--no-validate", "-w", str(tmp_path / "out"), "--json", "cffi", "pyyaml", cache=cache_dir,
                       check=True)
    tags = {w["name"].lower(): w["tags"] for w in json.loads(result.stdout)["wheels"]}
    assert tags["cffi"] == "cp310-cp310-macosx_11_0_arm64" and tags["pyyaml"] == "cp312-cp312-macosx_11_0_arm64"
    assert "Python versions with builds of cffi pyyaml: 3.12, 3.10" in result.stderr


def test_no_build_for_the_python_names_the_ones_the_channel_has(tmp_path, cache_dir):
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "osx-arm64", "--python", "3.12", "-w", str(tmp_path / "o"),
                       "cffi", cache=cache_dir)
    assert result.returncode == 1 and result.stderr.count("press: error:") == 1
    assert "no build of cffi for Python 3.12" in result.stderr
    assert "the channel has builds for Python 3.10: use --python 3.10 (repeatable) or --python all" in result.stderr
    for command in ([], ["channel", str(CONDA_FORGE)]):
        bad = run_press(*command, "--python", "banana", "-w", str(tmp_path / "o"), "cffi", cache=cache_dir) \
            if not command else subprocess.run([sys.executable, "-m", "press", *command, "--python", "banana",
                                                "-w", str(tmp_path / "o")], capture_output=True, text=True)
        assert bad.returncode == 2 and "'banana' is not a Python version X.Y" in bad.stderr
    offline = run_press("-c", "http://127.0.0.1:9/nowhere", "--subdir", "linux-64", "--python", "3.12", "-w",
                        str(tmp_path / "o"), "iminuit=1.3.7", cache=cache_dir)
    assert offline.returncode == 1 and "point press at a mirror: -c DIR" in offline.stderr
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("*.whl"))


def test_channel_python_all_writes_each_pythons_wheels(tmp_path, cache_dir):
    out = tmp_path / "wheelhouse"
    result = subprocess.run([sys.executable, "-m", "press", "channel", str(CONDA_FORGE), "--subdir", "osx-arm64",
                             "--python", "all", "-w", str(out), "--cache-dir", str(cache_dir), "--json", "-q",
                             "-n", "cffi", "-n", "pyyaml", "-n", "markupsafe", "-j", "2",
                             "-n", "libffi", "-n", "yaml", "-n", "pycparser"],  # the set installs (wheelhouse check)
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    wheels = sorted(p.name for p in out.glob("*.whl"))
    assert any(w.startswith("cffi-") and "-cp310-cp310-" in w for w in wheels)
    assert any(w.startswith("pyyaml-") and "-cp312-cp312-" in w for w in wheels)
    assert any(w.startswith("markupsafe-") and "-cp312-cp312-" in w for w in wheels)
