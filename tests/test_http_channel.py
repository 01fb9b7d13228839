"""A channel served over real HTTP on 127.0.0.1: solve, download into the
cache, reuse, and refuse an artifact whose sha256 differs from its record."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, run_press


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802
        type(self).requests.append(self.path)
        super().do_GET()


@pytest.fixture()
def http_channel(tmp_path):
    """cffi's closure (linux-64 + noarch) indexed with rattler and served on 127.0.0.1."""
    from rattler.index import index_fs

    root = tmp_path / "served"
    names = ["cffi-1.17.1-py312h06ac9bb_0.conda", "libffi-3.4.2-h7f98852_5.tar.bz2", "libgcc-14.2.0-h77fa898_1.conda",
             "libgcc-ng-14.2.0-h69a702a_1.conda", "libgomp-14.2.0-h77fa898_1.conda", "_openmp_mutex-4.5-2_gnu.tar.bz2",
             "_libgcc_mutex-0.1-conda_forge.tar.bz2", "pycparser-2.22-pyh29332c3_1.conda", "python_abi-3.12-8_cp312.conda"]
    for name in names:
        sub = "linux-64" if (CONDA_FORGE / "linux-64" / name).exists() else "noarch"
        (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CONDA_FORGE / sub / name, root / sub / name)
    asyncio.run(index_fs(root, write_zst=False, write_shards=False, force=True))
    _Handler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}", _Handler.requests
    server.shutdown()


def test_http_channel_download_cache_and_reuse(http_channel, tmp_path):
    root, url, requests = http_channel
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    result = run_press("-c", url, "--subdir", "linux-64", "--python", "3.12", "--fatten", "-w", str(out),
                       "--json", "-q", "cffi", cache=cache, check=True)
    report = json.loads(result.stdout)
    assert {w["name"] for w in report["wheels"]} == {"cffi", "pycparser"}
    assert all(w["validation"]["status"] == "passed" for w in report["wheels"])
    downloaded = sorted(p.name for p in (cache / "pkgs").iterdir())
    assert "cffi-1.17.1-py312h06ac9bb_0.conda" in downloaded and "libffi-3.4.2-h7f98852_5.tar.bz2" in downloaded
    fetched = [r for r in requests if r.endswith((".conda", ".tar.bz2"))]
    requests.clear()
    run_press("-c", url, "--subdir", "linux-64", "--python", "3.12", "--fatten", "--no-validate",
              "-w", str(tmp_path / "again"), "-q", "cffi", cache=cache, check=True)
    assert fetched and not [r for r in requests if r.endswith((".conda", ".tar.bz2"))]


def test_http_sha256_mismatch_is_refused(http_channel, tmp_path):
    root, url, _ = http_channel
    target = root / "linux-64" / "libffi-3.4.2-h7f98852_5.tar.bz2"
    tampered = bytearray(target.read_bytes())
    tampered[-100] ^= 0xFF
    target.write_bytes(bytes(tampered))
    out = tmp_path / "out"
    result = run_press("-c", url, "--subdir", "linux-64", "--python", "3.12", "--fatten", "-w", str(out),
                       "cffi", cache=tmp_path / "cache")
    assert result.returncode == 1
    assert "libffi-3.4.2-h7f98852_5.tar.bz2" in result.stderr and "sha256" in result.stderr
    assert not out.exists() or not list(out.glob("*.whl"))
    assert not (tmp_path / "cache" / "pkgs" / "libffi-3.4.2-h7f98852_5.tar.bz2").exists()
