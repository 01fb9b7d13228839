"""Hostile channels, over real HTTP on 127.0.0.1 and as local directories:
repodata that points at the converting machine's files, file names that
climb out of the cache, a cache shared by two channels, a FIFO among a
local channel's archives."""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT, serve
from hostile import Spec, build


def _record(artifact: Path, **extra) -> dict:
    record = {"name": "press-hx", "version": "1.0", "build": "0", "build_number": 0, "depends": [],
              "subdir": "noarch", "size": artifact.stat().st_size}
    record.update(extra)
    return record


def _channel(root: Path, packages: dict[str, dict], base_url: str | None = None) -> Path:
    for subdir in ("linux-64", "noarch"):
        (root / subdir).mkdir(parents=True, exist_ok=True)
        info = {"subdir": subdir}
        if base_url and subdir == "noarch":
            info["base_url"] = base_url
        doc = {"info": info, "packages": {}, "packages.conda": packages if subdir == "noarch" else {},
               "repodata_version": 2 if base_url else 1}
        (root / subdir / "repodata.json").write_text(json.dumps(doc))
    return root


def _press(cache: Path, out: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "press", "--cache-dir", str(cache), "-w", str(out), "--no-validate",
                           "--subdir", "linux-64", "--python", "3.12", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def _error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("press: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_remote_repodata_cannot_point_at_local_files(tmp_path):
    secret = tmp_path / "secret"
    artifact = build(Spec(), secret, ".conda")
    served = _channel(tmp_path / "served", {artifact.name: _record(artifact)}, base_url=secret.as_uri() + "/")
    server, url = serve(served)
    try:
        out = tmp_path / "out"
        line = _error(_press(tmp_path / "cache", out, "-c", url, "press-hx"))
    finally:
        server.shutdown()
    assert "press-hx-1.0-0.conda: repodata: url: a record of the remote channel" in line and "on this machine" in line
    assert not out.exists() or not list(out.iterdir())


def test_repodata_file_name_cannot_climb(tmp_path):
    artifact = build(Spec(), tmp_path / "in", ".conda")
    hostile = "press-hx-1.0-0/../../../../escaped.conda"
    served = _channel(tmp_path / "served", {hostile: _record(artifact)})
    (tmp_path / "served" / "escaped.conda").write_bytes(artifact.read_bytes())
    server, url = serve(tmp_path / "served")
    try:
        line = _error(_press(tmp_path / "cache", tmp_path / "out", "-c", url, "press-hx"))
    finally:
        server.shutdown()
    assert "repodata: fn" in line and "is not a conda artifact file name" in line
    assert not [p for p in (tmp_path / "cache").rglob("*") if "escaped" in p.name]
    assert served.is_dir()


def test_cache_is_not_shared_between_channels_without_sha256(tmp_path):
    # Two channels serve different bytes under one file name, with no sha256
    # or md5 in their records: the second conversion must use its own bytes.
    cache = tmp_path / "cache"
    contents = []
    for index, text in enumerate((b"one\n", b"two\n")):
        artifact = build(Spec(files={"share/hx/which.txt": text}), tmp_path / f"in{index}", ".conda")
        served = _channel(tmp_path / f"served{index}", {artifact.name: _record(artifact)})
        (served / "noarch" / artifact.name).write_bytes(artifact.read_bytes())
        server, url = serve(served)
        try:
            out = tmp_path / f"out{index}"
            result = _press(cache, out, "-c", url, "press-hx")
            assert result.returncode == 0, result.stderr
        finally:
            server.shutdown()
        (wheel,) = out.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            (member,) = [n for n in archive.namelist() if n.endswith(".libs/share/hx/which.txt")]
            contents.append(archive.read(member))
    assert contents == [b"one\n", b"two\n"]


class EndlessHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the directory, except that artifacts never end."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        if not self.path.endswith(".conda"):
            return super().do_GET()
        self.send_response(200)
        self.end_headers()
        try:
            for _ in range(1 << 14):  # at most 16 GiB, stopped by the client long before
                self.wfile.write(bytes(1 << 20))
        except OSError:
            pass


def test_download_is_cut_off_at_the_declared_size(tmp_path):
    artifact = build(Spec(), tmp_path / "in", ".conda")
    served = _channel(tmp_path / "served", {artifact.name: _record(artifact)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(EndlessHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        line = _error(_press(tmp_path / "cache", tmp_path / "out", "-c", f"http://127.0.0.1:{server.server_address[1]}",
                             "press-hx", timeout=60))
    finally:
        server.shutdown()
    assert f"download: the server sent more than the {artifact.stat().st_size} bytes the record declares" in line
    assert sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*") if p.is_file()) < 64 << 20


def test_fifo_in_a_local_channel_is_skipped_with_a_note(tmp_path):
    channel = tmp_path / "channel"
    build(Spec(), channel / "noarch", ".conda")
    os.mkfifo(channel / "noarch" / "evil-1.0-0.conda")
    os.symlink("nowhere", channel / "noarch" / "dangling-1.0-0.conda")
    (channel / "linux-64").mkdir()
    result = _press(tmp_path / "cache", tmp_path / "out", "-c", str(channel), "press-hx", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "evil-1.0-0.conda is not a regular file; skipped" in result.stderr
    assert "dangling-1.0-0.conda: No such file or directory; skipped" in result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name != ".press-state"] == ["channel_press_hx-1.0-0_0-py3-none-any.whl"]  # native: <channel dir>-<name>
