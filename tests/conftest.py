"""Shared fixtures: the real sample channels, fixture packages built from
recipes-fixtures/, a target interpreter, and helpers to run press and venvs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from press.validate import _uv, find_interpreter

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = (ROOT / ".." / "shared" / "channels").resolve()
CONDA_FORGE = CHANNELS / "conda-forge"
HOTFIX = ROOT / "tests" / "data" / "conda-forge-hotfix-libzlib.json"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("press-cache")


@pytest.fixture(scope="session")
def fixture_packages(tmp_path_factory) -> dict[str, Path]:
    """Build recipes-fixtures/ into a channel directory; key -> artifact path."""
    spec = importlib.util.spec_from_file_location("press_fixtures_build", ROOT / "recipes-fixtures" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("fixture-channel")
    built = module.build(out)
    built["PLACEHOLDER"] = module.PLACEHOLDER
    built["channel"] = out
    return built


@pytest.fixture(scope="session")
def py312() -> Path:
    exe = find_interpreter("3.12")
    if exe is None:
        pytest.skip("no CPython 3.12 on this machine")
    return exe


def run_press(*args: str, cache: Path, check: bool = False) -> subprocess.CompletedProcess:
    """Run the real command line (``python -m press``)."""
    result = subprocess.run(
        [sys.executable, "-m", "press", "--cache-dir", str(cache), *args],
        capture_output=True, text=True, cwd=ROOT,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"press failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def make_venv(python: Path, where: Path) -> Path:
    """A fresh venv made by uv; returns its python."""
    subprocess.run([_uv(), "venv", "-q", "-p", str(python), str(where)], check=True)
    return where / "bin" / "python"


def uv_install(venv_python: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    subprocess.run([_uv(), "pip", "install", "-q", "--python", str(venv_python), "--offline", "--no-index", *args],
                   check=True, env=env)


def run_in(venv_python: Path, code: str, cwd: Path) -> str:
    result = subprocess.run([str(venv_python), "-c", code], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout
