"""Shared fixtures: the real sample channels, fixture packages built from
recipes-fixtures/, a target interpreter, and helpers to run press and venvs."""

from __future__ import annotations

import asyncio
import functools
import http.server
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from press.validate import find_interpreter
from press.venvs import _uv_binary as _uv

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = (ROOT / ".." / "shared" / "channels").resolve()
CONDA_FORGE = CHANNELS / "conda-forge"
HOTFIX = ROOT / "tests" / "data" / "conda-forge-hotfix-libzlib.json"


def pytest_configure(config) -> None:
    """Byte-compile press once before the run (in the controller, not in each
    xdist worker): most tests start ``python -m press`` in a subprocess, and
    with ``PYTHONDONTWRITEBYTECODE`` set (as on CI machines) each of them
    would otherwise compile every module of press again (0.3-0.5 s each)."""
    import compileall

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        compileall.compile_dir(str(ROOT / "press"), quiet=1)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("press-cache")


@pytest.fixture(scope="session")
def fixture_packages(tmp_path_factory) -> dict[str, Path]:
    """Build recipes-fixtures/ into a channel directory; key -> artifact path."""
    spec = importlib.util.spec_from_file_location("press_fixtures_build", ROOT / "recipes-fixtures" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("fx") / "fixtures"  # native packages: fixtures-<name> (docs/metadata.md)
    out.mkdir()
    built = module.build(out)
    built["PLACEHOLDER"] = module.PLACEHOLDER
    built["channel"] = out
    return built


@pytest.fixture(scope="session")
def thin_conversion(tmp_path_factory, cache_dir) -> tuple[Path, dict]:
    """Every real linux-64 and noarch artifact of the sample converted thin for
    CPython 3.12 (no validation): (wheel dir, the --json report)."""
    import fcntl
    import json

    # Made once per run, not once per xdist worker: the first worker to get here converts into
    # the directory all workers share, under a lock; the others wait for it and read the result.
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "thin-conversion"  # this run's
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out, report = shared / "wheels", shared / "report.json"
        if not report.exists():
            artifacts = sorted(p for sub in ("linux-64", "noarch") for p in (CONDA_FORGE / sub).iterdir()
                               if p.name.endswith((".conda", ".tar.bz2")))
            result = run_press("--subdir", "linux-64", "--python", "3.12", "--no-validate", "-w", str(out), "--json",
                               "-q", *map(str, artifacts), cache=cache_dir, check=True)
            report.write_text(result.stdout)
    return out, json.loads(report.read_text())


@pytest.fixture(scope="session")
def py312() -> Path:
    exe = find_interpreter("3.12")
    if exe is None:
        pytest.skip("no CPython 3.12 on this machine")
    return exe


def run_press(*args: str, cache: Path, check: bool = False, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real command line (``python -m press``); a first argument
    ``show`` or ``name-mapping`` runs that command."""
    command = list(args[:1]) if args[:1] in (("show",), ("name-mapping",)) else []
    rest = list(args[len(command):])
    result = subprocess.run(
        [sys.executable, "-m", "press", *command, "--cache-dir", str(cache), *rest],
        capture_output=True, text=True, cwd=cwd or ROOT, env=dict(os.environ, **(env or {})),
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
    subprocess.run([_uv(), "pip", "install", "-q", "--python", str(venv_python), "--offline", "--no-cache", "--no-index", *args],
                   check=True, env=env)


def run_in(venv_python: Path, code: str, cwd: Path) -> str:
    result = subprocess.run([str(venv_python), "-c", code], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


CFFI_CLOSURE = [
    "cffi-1.17.1-py312h06ac9bb_0.conda", "libffi-3.4.2-h7f98852_5.tar.bz2", "libgcc-14.2.0-h77fa898_1.conda",
    "libgcc-ng-14.2.0-h69a702a_1.conda", "libgomp-14.2.0-h77fa898_1.conda", "_openmp_mutex-4.5-2_gnu.tar.bz2",
    "_libgcc_mutex-0.1-conda_forge.tar.bz2", "pycparser-2.22-pyh29332c3_1.conda", "python_abi-3.12-8_cp312.conda",
]


class ChannelHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; records request paths; ``delay`` seconds per request."""

    requests: list[str] = []
    delay = 0.0

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802
        type(self).requests.append(self.path)
        if self.delay:
            time.sleep(self.delay)
        super().do_GET()


def serve(root: Path, handler=ChannelHandler):
    """Start a threading HTTP server on 127.0.0.1 for ``root``; returns (server, url)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def copy_channel(root: Path, names: list[str], source: Path = CONDA_FORGE) -> Path:
    """Copy sample artifacts into a channel directory and index it with rattler."""
    from rattler.index import index_fs

    for name in names:
        sub = "linux-64" if (source / "linux-64" / name).exists() else "noarch"
        (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / sub / name, root / sub / name)
    (root / "noarch").mkdir(parents=True, exist_ok=True)
    asyncio.run(index_fs(root, write_zst=False, write_shards=False, force=True))
    return root


@pytest.fixture()
def http_channel(tmp_path):
    """cffi's closure (linux-64 + noarch) indexed with rattler and served on 127.0.0.1."""
    root = copy_channel(tmp_path / "served", CFFI_CLOSURE)
    ChannelHandler.requests = []
    server, url = serve(root)
    yield root, url, ChannelHandler.requests
    server.shutdown()
