"""The wheelhouse check (press.installable): a batch or a conversion succeeds
only when what it wrote installs as a set from the wheel directory alone, and
a wheelhouse holds one build per version for the Pythons it targets."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, HOTFIX, ROOT, copy_channel, make_venv
from press.installable import check_wheelhouse

#: zstd and what it needs from the sample, but no more (the batch stays small).
ZSTD_CLOSURE = ["zstd-1.5.6-ha6fb4c9_0.conda", "libzlib-1.3.1-hb9d3cd8_2.conda", "libgcc-14.2.0-h77fa898_1.conda",
                "libgcc-ng-14.2.0-h69a702a_1.conda", "libstdcxx-14.2.0-hc0a3c3a_1.conda",
                "libstdcxx-ng-14.2.0-h4852527_1.conda", "libgomp-14.2.0-h77fa898_1.conda",
                "_openmp_mutex-4.5-2_gnu.tar.bz2", "_libgcc_mutex-0.1-conda_forge.tar.bz2"]


def press_channel(channel: Path, out: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "press", "channel", str(channel), "--subdir", "linux-64",
                           "-w", str(out), "--cache-dir", str(cache), "--json", "-j", "1", *args],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))


@pytest.fixture(scope="module")
def zstd_channel(tmp_path_factory) -> Path:
    missing = [n for n in ZSTD_CLOSURE if not any((CONDA_FORGE / s / n).exists() for s in ("linux-64", "noarch"))]
    assert not missing, missing
    return copy_channel(tmp_path_factory.mktemp("zstd") / "conda-forge", ZSTD_CLOSURE)  # names: conda-forge-*


@pytest.mark.slow
def test_batch_fails_when_a_bound_excludes_the_channels_library_and_passes_with_the_hotfix(
        zstd_channel, tmp_path, cache_dir, py312):
    """Without conda-forge's hotfix, zstd 1.5.6 needs libzlib <1.3.0a0 and the
    sample has 1.3.1: every wheel is valid, the set is not. press channel must
    say so (exit 1, naming libzlib and --repodata-patch); with the hotfix the
    same wheelhouse installs with pip from its index."""
    house = tmp_path / "house"
    result = press_channel(zstd_channel, house, cache_dir, "--python", "3.12")
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    failed = {r["artifact"]: r["reason"] for r in report["results"] if r["status"] == "failed"}
    assert list(failed) == ["zstd-1.5.6-ha6fb4c9_0.conda"], failed
    reason = failed["zstd-1.5.6-ha6fb4c9_0.conda"]
    assert "conda-forge-libzlib<1.3.0a0" in reason and "conda package libzlib" in reason, reason
    assert "--repodata-patch" in reason and "1.3.1" in reason, reason
    assert any("of" in line and "wheels install" in line for line in report["wheelhouse"]), report["wheelhouse"]

    fixed = press_channel(zstd_channel, house, cache_dir, "--python", "3.12", "--repodata-patch", str(HOTFIX))
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-2000:]
    venv = tmp_path / "venv"
    subprocess.run([str(py312), "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                          "--isolated", "--index-url", (house / "simple").as_uri(), "conda-forge-zstd"],
                         capture_output=True, text=True, env=dict(os.environ, PIP_CONFIG_FILE=os.devnull))
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert list((venv / "lib").glob("python3.12/site-packages/conda_forge_libzlib-1.3.1*.dist-info"))


def test_one_build_per_version_serves_every_python_asked_for(tmp_path, cache_dir):
    """conda-forge's pycparser 2.22 has builds for Python >=3.9 (build 1) and
    >=3.8 (build 0). Both in one wheelhouse break pip and uv on 3.8 (they take
    the highest build tag); asked for 3.8 and 3.12, the batch keeps the build
    that serves both, says which it left out, and the check passes for each."""
    channel = copy_channel(tmp_path / "channel", ["pycparser-2.22-pyh29332c3_1.conda", "pycparser-2.22-pyhd8ed1ab_0.conda"])
    house = tmp_path / "house"
    result = press_channel(channel, house, cache_dir, "--python", "3.8", "--python", "3.12")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout)
    statuses = {r["artifact"]: (r["status"], r["reason"]) for r in report["results"]}
    assert statuses["pycparser-2.22-pyhd8ed1ab_0.conda"][0] == "converted"
    status, reason = statuses["pycparser-2.22-pyh29332c3_1.conda"]
    assert status == "skipped" and "pyhd8ed1ab_0" in reason, statuses
    assert [p.name for p in house.glob("*.whl")] == ["pycparser-2.22-0_pyhd8ed1ab_0-py3-none-any.whl"]
    assert sorted(line.split(" on ")[0] for line in report["wheelhouse"]) == ["Python 3.12", "Python 3.8"]


def _wheel(directory: Path, name: str, version: str, requires: list[str], requires_python: str | None = None,
           tag: str = "py3-none-any") -> Path:
    """A minimal valid wheel (core metadata, WHEEL, RECORD) written with zipfile."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": b"",
             f"{dist}/METADATA": ("Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n"
                                  + (f"Requires-Python: {requires_python}\n" if requires_python else "")
                                  + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode(),
             f"{dist}/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()}
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for path, data in files.items()) + f"{dist}/RECORD,,\n"
    path = directory / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in [*files.items(), (f"{dist}/RECORD", record.encode())]:
            archive.writestr(member, data)
    return path


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_check_names_the_chain_and_what_the_directory_has(tmp_path, installer, monkeypatch):
    """Both resolvers agree on a set with a too-new dependency, a missing one,
    a Requires-Python mismatch and a sound part; the report gives the chain
    down to the requirement no wheel satisfies and the versions there are."""
    from press import venvs

    monkeypatch.setenv("PRESS_INSTALLER", installer)
    venvs._find.cache_clear()
    house = tmp_path / "house"
    house.mkdir()
    _wheel(house, "top", "1.0", ["middle>=1"])
    _wheel(house, "middle", "1.0", ["leaf<2"])
    _wheel(house, "leaf", "2.0", [])
    _wheel(house, "lonely", "1.0", ["nowhere"])
    _wheel(house, "modern", "1.0", ["leaf"], requires_python=">=3.13")
    _wheel(house, "sound", "1.0", ["leaf>=2"])
    names = sorted(p.name for p in house.glob("*.whl"))
    found = check_wheelhouse(house, names, ["3.12"], "linux-64")
    problems = found.problems
    venvs._find.cache_clear()
    by_item = {p.item: p for p in problems if p.item.endswith(".whl")}
    assert sorted(by_item) == ["lonely-1.0-py3-none-any.whl", "middle-1.0-py3-none-any.whl",
                               "top-1.0-py3-none-any.whl"], [p.message() for p in problems]
    top = by_item["top-1.0-py3-none-any.whl"]
    assert top.chain == ("top 1.0", "middle 1.0", "leaf<2") and top.available == ("2.0",), top
    assert "the directory has leaf 2.0 only" in top.message() and "--repodata-patch" in top.message()
    assert "no wheel of nowhere" in by_item["lonely-1.0-py3-none-any.whl"].message()
    # modern is not meant for 3.12 (its own Requires-Python): not checked there, not a problem.
    assert not any("modern" in p.item for p in problems)
    assert {p.item for p in problems if not p.item.endswith(".whl")} == {"lonely", "middle", "top"}
    assert found.summary()[0] == "Python 3.12 on x86_64-manylinux_2_17: 2 of 5 wheels install"
    assert found.unchecked == ("modern-1.0-py3-none-any.whl",)  # meant for no target asked for: said so


def test_hostile_files_in_the_wheel_directory_are_left_out_not_followed(tmp_path):
    """A FIFO, a symlink, a file that is no zip and a wheel with one bad
    requirement line beside a sound one: the check neither hangs, follows the
    link nor crashes; the wheel with the bad line is read (the line dropped
    alone) and refused as the resolver refuses it, and the wheels written
    that are not readable are reported unchecked."""
    house = tmp_path / "house"
    house.mkdir()
    _wheel(house, "leaf", "1.0", [])
    _wheel(house, "odd", "1.0", ["leaf", "not a requirement ;;"])
    os.mkfifo(house / "fifo-1.0-py3-none-any.whl")
    (house / "link-1.0-py3-none-any.whl").symlink_to(house / "leaf-1.0-py3-none-any.whl")
    (house / "junk-1.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 not a zip")
    names = sorted(p.name for p in house.iterdir())
    found = check_wheelhouse(house, names, ["3.12"], "linux-64")
    assert {p.wheel for p in found.problems} == {"odd-1.0-py3-none-any.whl"}
    assert found.summary()[0] == "Python 3.12 on x86_64-manylinux_2_17: 1 of 2 wheels install"
    assert found.unchecked == ("fifo-1.0-py3-none-any.whl", "junk-1.0-py3-none-any.whl", "link-1.0-py3-none-any.whl")
