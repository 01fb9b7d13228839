"""Two real press processes sharing one cache (downloads over HTTP, the
index of a local channel) never corrupt it or each other's outputs."""

from __future__ import annotations

import pytest

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from conftest import CFFI_CLOSURE, ROOT, ChannelHandler, copy_channel, serve


def _press(cache: Path, out: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "press", "--cache-dir", str(cache), "-w", str(out), "-q",
                             "--subdir", "linux-64", "--python", "3.12", "--fatten", "--no-validate", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


class SlowHandler(ChannelHandler):
    delay = 0.05  # make the two processes' downloads overlap


@pytest.mark.slow
def test_two_processes_share_one_cache(tmp_path):
    served = copy_channel(tmp_path / "served", CFFI_CLOSURE)
    local = copy_channel(tmp_path / "local", CFFI_CLOSURE)
    SlowHandler.requests = []
    server, url = serve(served, SlowHandler)
    try:
        cache = tmp_path / "shared-cache"
        for channel in (url, str(local)):
            # One baseline per channel: the SBOM names the channel a wheel came from.
            baseline = tmp_path / f"baseline-{len(channel)}"
            solo = _press(tmp_path / f"solo-cache-{len(channel)}", baseline, "-c", channel, "cffi")
            assert solo.wait() == 0, solo.stderr.read()
            outs = [tmp_path / f"out-{i}-{len(channel)}" for i in (1, 2)]
            shared_out = tmp_path / f"shared-out-{len(channel)}"
            runs = [_press(cache, out, "-c", channel, "cffi") for out in outs]
            runs += [_press(cache, shared_out, "-c", channel, "cffi") for _ in range(2)]
            for run in runs:
                _stdout, stderr = run.communicate(timeout=600)
                assert run.returncode == 0, stderr
            expected = _digests(baseline)
            assert sorted(expected) == ["cffi-1.17.1-0_py312h06ac9bb_0-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
                                        "pycparser-2.22-1_pyh29332c3_1-py3-none-any.whl"]
            for out in outs + [shared_out]:
                assert _digests(out) == expected  # byte for byte, no temporary leftovers
    finally:
        server.shutdown()
    cached = {p.name: p for p in (cache / "pkgs").rglob("*") if p.is_file()}  # one directory per channel URL
    for name, path in sorted(cached.items()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        source = served / ("linux-64" if (served / "linux-64" / name).exists() else "noarch") / name
        assert digest == hashlib.sha256(source.read_bytes()).hexdigest(), name
    assert not [p for p in cache.rglob("*") if p.name.endswith((".part", ".tmp"))]
    assert any(r.endswith(".conda") for r in SlowHandler.requests)


@pytest.mark.slow
def test_unpacked_artifact_cache_is_shared_keyed_and_self_healing(tmp_path):
    """Archives are unpacked once into the cache (content-addressed by sha256
    and the rules in force) and read from there by later conversions; an entry
    whose manifest does not read is unpacked again; other limits make other
    entries; the wheels are the same bytes either way."""
    import json as _json
    import os as _os
    import subprocess as _subprocess
    import sys as _sys

    from conftest import CONDA_FORGE, ROOT

    cache = tmp_path / "cache"

    def convert(out, env=None):
        result = _subprocess.run([_sys.executable, "-m", "press", "--cache-dir", str(cache), "-c", str(CONDA_FORGE),
                                  "--subdir", "linux-64", "--python", "3.12", "--fatten", "--no-validate", "-q",
                                  "-w", str(tmp_path / out), "--json", "cffi"], capture_output=True, text=True,
                                 cwd=ROOT, env=dict(_os.environ, **(env or {})))
        assert result.returncode == 0, result.stderr
        return {p.name: p.read_bytes() for p in (tmp_path / out).glob("*.whl")}

    first = convert("one")
    entries = sorted((cache / "unpacked").iterdir())
    assert len(entries) == 9 and all((e / "manifest.json").is_file() and (e / "members.pack").is_file()
                                     for e in entries)
    # Only binaries are files (LIEF reads them); metadata and other files are
    # ranges of the pack; recipe sources and compiled caches are not kept.
    on_disk = [p for e in entries for p in (e / "root").rglob("*") if p.is_file()]
    assert on_disk and all(p.read_bytes()[:4] == b"\x7fELF" for p in on_disk)
    manifests = [_json.loads((e / "manifest.json").read_text()) for e in entries]
    assert all("info/index.json" in m["packed"] and "info/index.json" in m["files"] for m in manifests)
    discarded = [p for m in manifests for p in m["files"] if p.startswith("info/recipe/") and p not in m["packed"]]
    assert discarded and not [p for e in entries for p in discarded if (e / "root" / p).exists()]
    stamps = {e: (e / "manifest.json").stat().st_mtime_ns for e in entries}
    assert convert("two") == first
    assert {e: (e / "manifest.json").stat().st_mtime_ns for e in entries} == stamps  # read, not unpacked again
    (entries[0] / "manifest.json").write_text("{not json")
    assert convert("three") == first
    assert _json.loads((entries[0] / "manifest.json").read_text())["format"] >= 1  # unpacked again
    # An entry that does not hold what its manifest says (a pack range of the wrong size) is unpacked again.
    manifest = _json.loads((entries[1] / "manifest.json").read_text())
    some = next(iter(manifest["packed"]))
    manifest["packed"][some][1] -= 1
    (entries[1] / "manifest.json").write_text(_json.dumps(manifest))
    assert convert("five") == first
    assert _json.loads((entries[1] / "manifest.json").read_text())["packed"][some][1] == manifest["files"][some][0]
    assert convert("four", {"PRESS_MAX_MEMBERS": "100000"}) == first
    assert len(list((cache / "unpacked").iterdir())) == 18  # other limits, other entries
    assert not [p for p in (cache / "unpacked").iterdir() if p.name.startswith(".")]  # no temporary leftovers
