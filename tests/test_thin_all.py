"""Done-when 3 and 4: thin mode over every real linux-64 and noarch artifact."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import pytest
from auditwheel.architecture import Architecture
from auditwheel.libc import Libc
from auditwheel.policy import WheelPolicies
from installer.sources import WheelFile
from packaging.metadata import Metadata
from packaging.utils import parse_wheel_filename

from conftest import CONDA_FORGE, make_venv, run_in, run_press, uv_install

ARTIFACTS = sorted(p for sub in ("linux-64", "noarch") for p in (CONDA_FORGE / sub).iterdir()
                   if p.name.endswith((".conda", ".tar.bz2")))


@pytest.fixture(scope="module")
def thin(thin_conversion) -> tuple[Path, dict]:
    return thin_conversion


def test_every_artifact_yields_one_valid_wheel(thin):
    out, report = thin
    assert len(report["wheels"]) == len(ARTIFACTS) == len(list(out.glob("*.whl")))
    for wheel in out.glob("*.whl"):
        with WheelFile.open(wheel) as source:
            source.validate_record()
        with zipfile.ZipFile(wheel) as archive:
            tops = {n.split("/")[0] for n in archive.namelist()}
            dist_infos = [t for t in tops if t.endswith(".dist-info")]
            assert len(dist_infos) == 1, wheel.name
            Metadata.from_email(archive.read(f"{dist_infos[0]}/METADATA"), validate=True)
            elves = [n for n in archive.namelist() if archive.read(n)[:4] == b"\x7fELF"]
        name, version, build, tags = parse_wheel_filename(wheel.name)
        tag = min(tags, key=str)
        if elves:
            # The PEP 600 tag with its policy's legacy aliases (auditwheel's data), as auditwheel repair writes.
            (pep600,) = [t.platform for t in tags if t.platform.startswith("manylinux_")]
            policy = WheelPolicies(libc=Libc.GLIBC, arch=Architecture.x86_64).get_policy_by_name(pep600)
            assert {t.platform for t in tags} == {pep600, *policy.aliases} and pep600.endswith("_x86_64"), wheel.name
            if any(re.search(r"\.cpython-312-x86_64-linux-gnu\.so$", n) for n in elves):
                assert {(t.interpreter, t.abi) for t in tags} == {("cp312", "cp312")}, wheel.name
        else:
            assert tags == {tag} and (tag.interpreter, tag.abi, tag.platform) == ("py3", "none", "any"), wheel.name


def test_plumbing_never_becomes_a_requirement(thin):
    _, report = thin
    for wheel in report["wheels"]:
        for requirement in wheel["requires_dist"]:
            assert not re.match(r"^(python|python_abi|_|pybind11-abi|ca-certificates)\b", requirement), requirement


def test_pure_python_wheels_install_and_import(thin, py312, tmp_path):
    out, report = thin
    pure = [w for w in report["wheels"] if w["tags"] == "py3-none-any" and w["test_imports"]
            and not w["conda_packages"][0].startswith(("pycparser-2.22-pyhd8ed1ab_0",))]
    assert len(pure) >= 20
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, "--no-deps", *[w["path"] for w in pure])
    imports = sorted({name for w in pure for name in w["test_imports"]})
    # conda/mamba need libmambapy's binaries at import; jinja2 needs markupsafe, absent from the sample.
    skip = {"conda", "conda.cli", "conda_libmamba_solver", "mamba", "jinja2"}
    code = "import importlib\n" + "".join(f"importlib.import_module({n!r})\n" for n in imports if n not in skip)
    run_in(python, code + "print('ok')", tmp_path)
    tqdm = [w for w in pure if w["name"] == "tqdm"][0]
    assert "tqdm" in tqdm["commands"]
    import subprocess
    version = subprocess.run([str(tmp_path / "venv" / "bin" / "tqdm"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == "4.67.1"


def test_names_come_from_python_metadata_and_versions_are_pep440(thin):
    _, report = thin
    by_conda = {w["conda_packages"][0]: w for w in report["wheels"]}
    assert by_conda["brotli-python-1.1.0-py312h2ec8cdc_2.conda"]["name"] == "Brotli"
    assert by_conda["tzdata-2025a-h78e105d_0.conda"]["version"] == "2025.post1"
    assert by_conda["_libgcc_mutex-0.1-conda_forge.tar.bz2"]["name"] == "conda-forge-libgcc_mutex"
    cffi = by_conda["cffi-1.17.1-py312h06ac9bb_0.conda"]
    assert "conda-forge-libffi>=3.4,<4.0a0" in cffi["requires_dist"] and "pycparser" in cffi["requires_dist"]


@pytest.mark.slow
def test_same_input_gives_byte_identical_wheels(thin, tmp_path, cache_dir):
    out, _ = thin
    subset = tmp_path / "again"
    run_press("--subdir", "linux-64", "--python", "3.12", "--no-validate", "-w", str(subset), "-q",
              *map(str, ARTIFACTS), cache=cache_dir, check=True)
    first = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.glob("*.whl")}
    second = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in subset.glob("*.whl")}
    assert first == second
