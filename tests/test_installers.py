"""Validation with either installer (press.venvs): uv when it is installed,
else ``python -m venv`` and pip. Both must accept and refuse the same
wheels: pip's ``--platform`` list has to say what uv's
``--python-platform`` says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CHANNELS, CONDA_FORGE, run_press
from press import venvs

#: Cases with pip (a few seconds each) run with the slow ones, except one end to end.
INSTALLERS_MATRIX = ["uv", pytest.param("pip", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory, cache_dir) -> dict[str, Path]:
    """Real wheels: cffi (thin, manylinux_2_17 x86_64) and its pure
    dependency, a macOS arm64 one, and cffi retagged manylinux_2_34 with
    wheel's own ``wheel tags``."""
    out = tmp_path_factory.mktemp("installer-wheels")
    run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--no-validate", "-q",
              "-w", str(out / "linux"), "cffi", cache=cache_dir, check=True)
    run_press("-c", str(CHANNELS / "conda-forge"), "--subdir", "osx-arm64", "--python", "3.10", "--fatten",
              "--no-validate", "-q", "-w", str(out / "osx"), "cffi", cache=cache_dir, check=True)
    found = {"linux": next((out / "linux").glob("cffi-*.whl")), "pure": next((out / "linux").glob("pycparser-*.whl")),
             "osx": next((out / "osx").glob("cffi-*macosx_11_0_arm64.whl"))}
    newer = out / "newer"
    newer.mkdir()
    subprocess.run([sys.executable, "-m", "wheel", "tags", "--platform-tag",
                    "manylinux_2_34_x86_64", str(found["linux"])], check=True, capture_output=True)
    found["newer"] = next((out / "linux").glob("cffi-*manylinux_2_34_x86_64.whl"))
    found["newer"] = found["newer"].rename(newer / found["newer"].name)
    for dependency in (out / "linux").glob("*.whl"):  # the thin closure, beside the retagged wheel
        if not dependency.name.startswith("cffi-"):
            (newer / dependency.name).write_bytes(dependency.read_bytes())
    return found


def _tool(kind: str, monkeypatch) -> venvs.Installer:
    monkeypatch.setenv(venvs.INSTALLER_VARIABLE, kind)
    tool = venvs.find_installer()
    assert tool.kind == kind
    return tool


@pytest.mark.parametrize("kind", INSTALLERS_MATRIX)
@pytest.mark.parametrize("wheel,target,accepted", [
    ("linux", "x86_64-manylinux_2_17", True),
    ("linux", "aarch64-manylinux_2_17", False),
    ("newer", "x86_64-manylinux_2_28", False),
    ("newer", "x86_64-manylinux_2_35", True),
    ("osx", "aarch64-apple-darwin", True),
    ("osx", "x86_64-apple-darwin", False),
    ("linux", "x86_64-pc-windows-msvc", False),
    ("osx", "x86_64-manylinux_2_35", False),
    ("pure", "x86_64-manylinux_2_17", True),
])
def test_installers_agree_on_platform_tags(kind, wheel, target, accepted, wheels, tmp_path, monkeypatch):
    tool = _tool(kind, monkeypatch)
    env = venvs.clean_environment()
    if "apple" in target:
        env["MACOSX_DEPLOYMENT_TARGET"] = "11.0" if target.startswith("aarch64") else "10.9"
    version = "3.10" if wheel == "osx" else "3.12"  # the sample's osx-arm64 cffi is built for 3.10
    done = venvs.install_for_platform(tool, tmp_path / "site", str(wheels[wheel]), target, version, env)
    assert (done.returncode == 0) is accepted, done.stderr
    assert (tmp_path / "site" / ("pycparser" if wheel == "pure" else "cffi")).is_dir() is accepted


@pytest.mark.parametrize("kind", INSTALLERS_MATRIX)
def test_installers_check_requires_python(kind, wheels, tmp_path, monkeypatch):
    """pycparser says Requires-Python >=3.9: a pure wheel has no other Python check."""
    tool = _tool(kind, monkeypatch)
    done = venvs.install_for_platform(tool, tmp_path / "site", str(wheels["pure"]), "x86_64-manylinux_2_17", "3.7",
                                      venvs.clean_environment())
    assert done.returncode != 0
    assert "3.7" in done.stderr and ">=3.9" in done.stderr


@pytest.mark.parametrize("kind", INSTALLERS_MATRIX)
def test_installers_make_venvs_and_install_offline(kind, wheels, py312, tmp_path, monkeypatch):
    tool = _tool(kind, monkeypatch)
    env = venvs.clean_environment()
    assert venvs.make_venv(tool, py312, tmp_path / "venv", env) is None
    python = tmp_path / "venv" / "bin" / "python"
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / wheels["linux"].name).write_bytes(wheels["linux"].read_bytes())
    refused = venvs.install(tool, python, [str(alone / wheels["linux"].name)], env)
    assert refused.returncode != 0 and "libffi" in refused.stderr  # offline: its dependencies are nowhere
    done = venvs.install(tool, python, [str(wheels["linux"])], env)
    assert done.returncode == 0, done.stderr
    imported = subprocess.run([str(python), "-c", "import cffi, pycparser; print(cffi.__version__)"],
                              capture_output=True, text=True)
    assert imported.stdout.strip() == "1.17.1", imported.stderr


def test_press_validates_with_pip_when_chosen(tmp_path, cache_dir):
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--fatten", "--json", "-q",
                       "-w", str(tmp_path), "cffi", cache=cache_dir, check=True, env={venvs.INSTALLER_VARIABLE: "pip"})
    wheels = json.loads(result.stdout)["wheels"]
    assert {w["validation"]["status"] for w in wheels} == {"passed"}
    assert "cffi" in next(w for w in wheels if w["name"].startswith("cffi"))["validation"]["imports"]


@pytest.mark.slow
def test_press_checks_foreign_wheels_with_pip_and_fails_without_an_installer(tmp_path, cache_dir):
    foreign = run_press("-c", str(CHANNELS / "conda-forge"), "--subdir", "osx-arm64", "--python", "3.10", "--fatten",
                        "--json", "-q", "-w", str(tmp_path / "osx"), "cffi", cache=cache_dir, check=True,
                        env={venvs.INSTALLER_VARIABLE: "pip"})
    checks = [c for w in json.loads(foreign.stdout)["wheels"] for c in w["validation"]["checks"]]
    assert "pip installs it for aarch64-apple-darwin, Python 3.10" in checks
    wrong = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--json", "-q", "-w",
                      str(tmp_path / "x"), "cffi", cache=cache_dir, env={venvs.INSTALLER_VARIABLE: "conda"})
    outcomes = {(w["validation"]["status"], w["validation"]["reason"]) for w in json.loads(wrong.stdout)["wheels"]}
    # like a missing interpreter: a validation that cannot run is a failure with the remedy
    assert outcomes == {("failed", "PRESS_INSTALLER='conda': expected uv or pip, or --no-validate")}
    assert wrong.returncode == 1


@pytest.mark.slow
def test_pip_that_cannot_run_the_target_python_fails_validation_with_the_remedy(tmp_path, cache_dir):
    """pip installs by running itself under the target interpreter: one its
    Requires-Python excludes (3.6 for any pip since 22) cannot validate, and a
    requested validation that cannot run fails, naming uv as the remedy."""
    from press.validate import find_interpreter

    if find_interpreter("3.6") is None:
        pytest.skip("no CPython 3.6 on this machine")
    result = run_press("-c", str(CHANNELS / "defaults"), "--subdir", "linux-64", "--python", "3.6", "--json", "-q",
                       "-w", str(tmp_path), "six", cache=cache_dir, env={venvs.INSTALLER_VARIABLE: "pip"})
    assert result.returncode == 1, result.stderr
    validation = json.loads(result.stdout)["wheels"][0]["validation"]
    assert validation["status"] == "failed"
    assert "cannot run Python 3.6" in validation["reason"] and "press[uv]" in validation["reason"]
    assert "--no-validate" in validation["reason"]


@pytest.mark.slow
def test_pip_internal_variable_cannot_redirect_the_install(wheels, py312, tmp_path, monkeypatch):
    """pip sets _PIP_RUNNING_IN_SUBPROCESS for its own re-execution; inherited,
    it makes pip ignore --python and install into press's environment (here a
    throwaway one with its own pip)."""
    runner = tmp_path / "runner"
    subprocess.run([str(py312), "-m", "venv", str(runner)], check=True)
    tool = venvs.Installer("pip", (str(runner / "bin" / "python"), "-m", "pip"))
    monkeypatch.setenv("_PIP_RUNNING_IN_SUBPROCESS", "1")
    env = venvs.clean_environment()
    assert venvs.make_venv(tool, py312, tmp_path / "venv", env) is None
    done = venvs.install(tool, tmp_path / "venv" / "bin" / "python", [str(wheels["linux"])], env)
    assert done.returncode == 0, done.stderr
    for python, has_cffi in ((tmp_path / "venv" / "bin" / "python", True), (runner / "bin" / "python", False)):
        probe = "import importlib.util; print(bool(importlib.util.find_spec('cffi')))"
        found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
        assert found.stdout.strip() == str(has_cffi), python


@pytest.mark.parametrize("kind", INSTALLERS_MATRIX)
def test_user_configuration_cannot_supply_missing_dependencies(kind, wheels, py312, tmp_path, monkeypatch):
    """A find-links in the user's pip.conf or uv.toml would let validation
    pass with dependencies the wheel directory lacks."""
    tool = _tool(kind, monkeypatch)
    elsewhere = wheels["linux"].parent  # the whole thin closure
    config = tmp_path / "config"
    (config / "pip").mkdir(parents=True)
    (config / "pip" / "pip.conf").write_text(f"[global]\nfind-links = {elsewhere}\n")
    (config / "uv").mkdir()
    (config / "uv" / "uv.toml").write_text(f'find-links = ["{elsewhere}"]\n[pip]\nfind-links = ["{elsewhere}"]\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    env = venvs.clean_environment()
    assert venvs.make_venv(tool, py312, tmp_path / "venv", env) is None
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / wheels["linux"].name).write_bytes(wheels["linux"].read_bytes())
    refused = venvs.install(tool, tmp_path / "venv" / "bin" / "python", [str(alone / wheels["linux"].name)], env)
    assert refused.returncode != 0, "the user's configuration supplied the dependencies"


@pytest.mark.slow
def test_warnings_as_errors_change_nothing(tmp_path, cache_dir):
    """PYTHONWARNINGS=error (a CI habit) reaches press and the validation
    venvs: a library's deprecation warning must not become an internal error."""
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--fatten", "--json", "-q",
                       "-w", str(tmp_path), "cffi", cache=cache_dir, env={"PYTHONWARNINGS": "error"})
    assert result.returncode == 0, result.stderr
    assert {w["validation"]["status"] for w in json.loads(result.stdout)["wheels"]} == {"passed"}
