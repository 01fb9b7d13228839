"""A channel served over real HTTP on 127.0.0.1: solve, download into the
cache, reuse, and refuse an artifact whose sha256 differs from its record."""

from __future__ import annotations

import json

import pytest

from conftest import run_press


def test_http_channel_download_cache_and_reuse(http_channel, tmp_path):
    root, url, requests = http_channel
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    result = run_press("-c", url, "--subdir", "linux-64", "--python", "3.12", "--fatten", "-w", str(out),
                       "--json", "-q", "cffi", cache=cache, check=True)
    report = json.loads(result.stdout)
    assert {w["name"] for w in report["wheels"]} == {"cffi", "pycparser"}
    assert all(w["validation"]["status"] == "passed" for w in report["wheels"])
    downloaded = sorted(p.name for p in (cache / "pkgs").rglob("*") if p.is_file())
    assert "cffi-1.17.1-py312h06ac9bb_0.conda" in downloaded and "libffi-3.4.2-h7f98852_5.tar.bz2" in downloaded
    fetched = [r for r in requests if r.endswith((".conda", ".tar.bz2"))]
    requests.clear()
    run_press("-c", url, "--subdir", "linux-64", "--python", "3.12", "--fatten", "--no-validate",
              "-w", str(tmp_path / "again"), "-q", "cffi", cache=cache, check=True)
    assert fetched and not [r for r in requests if r.endswith((".conda", ".tar.bz2"))]


@pytest.mark.slow
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
    assert not list((tmp_path / "cache").rglob("libffi-3.4.2-h7f98852_5.tar.bz2"))
