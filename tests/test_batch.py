"""press channel: a channel (over HTTP on 127.0.0.1 or a directory) into a
wheelhouse with a PEP 503/691 index; incremental, resumable after SIGKILL,
isolated failures, network faults retried or reported, Dask distributed."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CFFI_CLOSURE, CONDA_FORGE, HOTFIX, ROOT, ChannelHandler, copy_channel, make_venv, serve
from press.wheel import verify_wheel


def press_channel(channel: str, out: Path, cache: Path, *args: str, env: dict | None = None,
                  popen: bool = False):
    python = [] if "--python" in args else ["--python", "3.12"]
    command = [sys.executable, "-m", "press", "channel", channel, "--subdir", "linux-64", *python,
               "-w", str(out), "--cache-dir", str(cache), "--json", *args]
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    if popen:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                                start_new_session=True)
    return subprocess.run(command, capture_output=True, text=True, env=environment)


def tree(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` -> sha256 (the lock file and claims included; not the job
    states and index cache, which record the files' inode and times, a run's own)."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and (
                not str(p.relative_to(directory)).startswith(".press-state/") or
                str(p.relative_to(directory)).startswith((".press-state/owners/", ".press-state/lock",
                                                          ".press-state/writers.lock")))}


def served_conda_forge(root: Path) -> Path:
    """The whole linux-64 + noarch sample, indexed, with conda-forge's libzlib hotfix applied;
    without jinja2, whose markupsafe the sample has for osx-arm64 only (conda cannot install it
    from linux-64 + noarch, and the wheelhouse check fails it: test_wheelhouse_check)."""
    from press.channel import apply_patch_instructions, load_repodata_patch

    names = [p.name for sub in ("linux-64", "noarch") for p in (CONDA_FORGE / sub).iterdir()
             if not p.name.startswith("jinja2-")]
    copy_channel(root, names)
    patches = load_repodata_patch(HOTFIX)
    for subdir in ("linux-64", "noarch"):
        path = root / subdir / "repodata.json"
        repodata = json.loads(path.read_text())
        apply_patch_instructions(repodata, patches.get(subdir, {}))
        path.write_text(json.dumps(repodata))
    return root


@pytest.mark.slow
def test_http_channel_to_index_pip_and_uv_install(tmp_path, py312):
    served = served_conda_forge(tmp_path / "served")
    server, url = serve(served)
    out, cache = tmp_path / "wheelhouse", tmp_path / "cache"
    try:
        first = press_channel(url, out, cache, "--fatten", "-j", "2", "-n", "libmambapy", "-n", "cffi", "-n", "zstandard")
        assert first.returncode == 0, first.stderr
        report = json.loads(first.stdout)
        assert report["counts"]["converted"] == 3 and report["counts"]["failed"] == 0
        assert "[3/3]" in first.stderr and "ETA" not in first.stderr  # 3 jobs: too few for a meaningful ETA
        again = press_channel(url, out, cache, "--fatten", "-j", "2", "-n", "libmambapy", "-n", "cffi", "-n", "zstandard")
    finally:
        server.shutdown()
    second = json.loads(again.stdout)
    assert second["counts"] == {"converted": 0, "failed": 0, "skipped": 3}
    assert {r["reason"] for r in second["results"]} == {"up to date"}
    index = json.loads((out / "simple" / "libmambapy" / "index.json").read_text())
    assert index["meta"]["api-version"] == "1.1" and index["files"][0]["hashes"]["sha256"]
    conda = {s["name"]: s for s in index["files"][0]["press"]["conda-sources"]}  # PEP 691 extra keys
    assert len(conda) == 30 and conda["libmambapy"]["files"] > 0 and len(conda["libcurl"]["sha256"]) == 64
    page = (out / "simple" / "libmambapy" / "index.html").read_text()
    assert "data-requires-python=" in page and "&gt;=3.12" in page and "data-core-metadata=\"sha256=" in page
    # pip, isolated from this machine's configuration: no other index
    venv = tmp_path / "pip-venv"
    subprocess.run([str(py312), "-m", "venv", str(venv)], check=True)
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--isolated", "--index-url", (out / "simple").as_uri(),
                    "libmambapy", "cffi", "zstandard"], check=True, env=env)
    code = "import libmambapy, cffi, zstandard; libmambapy.Context(); print(cffi.__version__, zstandard.__version__)"
    run = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.split() == ["1.17.1", "0.23.0"], run.stderr
    from press.venvs import _uv_binary as _uv

    python = make_venv(py312, tmp_path / "uv-venv")
    uv_env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    subprocess.run([_uv(), "pip", "install", "-q", "--python", str(python), "--index-url", (out / "simple").as_uri(),
                    "libmambapy", "cffi", "zstandard"], check=True, env=uv_env)
    assert subprocess.run([str(python), "-c", code], cwd=tmp_path).returncode == 0


def small_channel(root: Path) -> Path:
    """cffi's closure plus a few more artifacts, as a plain directory (press indexes it)."""
    extra = ["zstandard-0.23.0-py312hef9b889_1.conda", "zstd-1.5.6-ha6fb4c9_0.conda", "libzlib-1.3.1-hb9d3cd8_2.conda",
             "libstdcxx-14.2.0-hc0a3c3a_1.conda", "libstdcxx-ng-14.2.0-h4852527_1.conda", "tqdm-4.67.1-pyhd8ed1ab_1.conda", "colorama-0.4.6-pyhd8ed1ab_1.conda"]
    for name in CFFI_CLOSURE + extra:
        sub = "linux-64" if (CONDA_FORGE / "linux-64" / name).exists() else "noarch"
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / name).write_bytes((CONDA_FORGE / sub / name).read_bytes())
    return root


@pytest.mark.slow
def test_sigkill_and_resume_gives_the_uninterrupted_wheelhouse(tmp_path):
    channel = small_channel(tmp_path / "channel")
    reference, cache = tmp_path / "reference", tmp_path / "cache"
    fix = ("--repodata-patch", str(HOTFIX))
    done = press_channel(str(channel), reference, cache, "-j", "2", *fix)
    assert done.returncode == 0, done.stderr
    expected = tree(reference)
    assert len([n for n in expected if n.endswith(".whl")]) == 13
    for kill_after in (0.0, 1, 4):  # seconds, or wheels present
        out = tmp_path / f"killed-{kill_after}"
        run = press_channel(str(channel), out, cache, "-j", "2", *fix, popen=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            wheels = list(out.glob("*.whl")) if out.exists() else []
            if (kill_after == 0.0 and out.exists()) or (kill_after and len(wheels) >= kill_after):
                break
            time.sleep(0.01)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        for wheel in out.glob("*.whl"):  # whatever is visible is complete
            verify_wheel(wheel)
        resumed = press_channel(str(channel), out, cache, "-j", "2", *fix)
        assert resumed.returncode == 0, resumed.stderr
        assert tree(out) == expected, kill_after


@pytest.mark.slow
def test_dask_cluster_makes_the_same_wheelhouse(tmp_path):
    distributed = pytest.importorskip("distributed")
    channel = small_channel(tmp_path / "channel")
    cache = tmp_path / "cache"
    fix = ("--repodata-patch", str(HOTFIX))
    local = press_channel(str(channel), tmp_path / "local", cache, "-j", "1", *fix)
    assert local.returncode == 0, local.stderr
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        dask = press_channel(str(channel), tmp_path / "dask", cache, "--scheduler", cluster.scheduler_address, *fix)
    assert dask.returncode == 0, dask.stderr
    assert tree(tmp_path / "dask") == tree(tmp_path / "local")


class FaultHandler(ChannelHandler):
    """Injects faults: ``faults`` maps a path suffix to the faults its next requests get."""

    faults: dict[str, list[str]] = {}

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self):  # noqa: N802
        type(self).requests.append(self.path)
        for suffix, plan in self.faults.items():
            if self.path.endswith(suffix) and plan:
                fault = plan.pop(0)
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if fault in ("500", "503"):
                    self.send_error(int(fault))
                    return
                if fault == "stall":
                    time.sleep(4)
                    return
                body = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
                if fault == "corrupt":
                    body = body[:-64] + bytes(64)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if fault == "truncate" else body)
                self.close_connection = True
                return
        super().do_GET()


@pytest.mark.slow
def test_network_faults_are_retried_or_reported(tmp_path):
    served = copy_channel(tmp_path / "served", CFFI_CLOSURE)
    cache_clean, cache_faulty = tmp_path / "cache-clean", tmp_path / "cache-faulty"
    FaultHandler.faults = {}
    FaultHandler.requests = []
    server, url = serve(served, FaultHandler)
    try:
        clean = press_channel(url, tmp_path / "clean", cache_clean, "-j", "1")
        assert clean.returncode == 0, clean.stderr
        FaultHandler.faults = {
            "linux-64/repodata.json": ["503"],
            "cffi-1.17.1-py312h06ac9bb_0.conda": ["reset"],
            "libffi-3.4.2-h7f98852_5.tar.bz2": ["truncate"],
            "pycparser-2.22-pyh29332c3_1.conda": ["corrupt", "corrupt"],
            "libgomp-14.2.0-h77fa898_1.conda": ["stall"],
            "libgcc-14.2.0-h77fa898_1.conda": ["500", "503"],
        }
        faulty = press_channel(url, tmp_path / "faulty", cache_faulty, "-j", "1", env={"PRESS_HTTP_TIMEOUT": "2"})
        assert faulty.returncode == 0, faulty.stderr
        assert all(not plan for plan in FaultHandler.faults.values()), FaultHandler.faults  # every fault was hit
        report = json.loads(faulty.stdout)
        notes = " ".join(n for r in report["results"] for n in r["notes"])
        assert "pycparser-2.22-pyh29332c3_1.conda: download attempt 2 failed (sha256 does not match" in notes
        assert tree(tmp_path / "faulty") == tree(tmp_path / "clean")
        # A fault that never heals: that artifact fails, the rest of the batch converts, exit 1.
        FaultHandler.faults = {"libffi-3.4.2-h7f98852_5.tar.bz2": ["500"] * 100}
        broken = press_channel(url, tmp_path / "broken", tmp_path / "cache-broken", "-j", "2")
    finally:
        server.shutdown()
    assert broken.returncode == 1
    results = {r["artifact"]: r for r in json.loads(broken.stdout)["results"]}
    assert results["libffi-3.4.2-h7f98852_5.tar.bz2"]["status"] == "failed"
    assert "after 4 attempts" in results["libffi-3.4.2-h7f98852_5.tar.bz2"]["reason"]
    # cffi's thin wheel is made with libffi's package (its library is what cffi loads): it fails too, naming it.
    cffi = results["cffi-1.17.1-py312h06ac9bb_0.conda"]
    assert cffi["status"] == "failed" and "libffi" in cffi["reason"], cffi
    assert not list((tmp_path / "broken").glob("libffi*.whl"))


@pytest.mark.slow
def test_unreadable_artifact_fails_alone(tmp_path, fixture_packages):
    channel = small_channel(tmp_path / "channel")
    good = channel / "noarch" / "colorama-0.4.6-pyhd8ed1ab_1.conda"
    broken = channel / "noarch" / "broken-1.0-0.conda"
    broken.write_bytes(good.read_bytes()[:5000])
    result = press_channel(str(channel), tmp_path / "out", tmp_path / "cache", "-j", "2", "--repodata-patch", str(HOTFIX))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    failed = [r for r in report["results"] if r["status"] == "failed"]
    assert [r["artifact"] for r in failed] == ["broken-1.0-0.conda"] and "cannot index" in failed[0]["reason"]
    assert report["counts"]["converted"] == 13
    table = press_channel(str(channel), tmp_path / "out", tmp_path / "cache", "-j", "2", "--repodata-patch",
                          str(HOTFIX)).stdout
    assert '"up to date"' in table


def test_selection_latest_names_and_python(tmp_path, fixture_packages):
    channel = str(fixture_packages["channel"])
    result = press_channel(channel, tmp_path / "out", tmp_path / "cache", "-n", "press-fx-shared", "--latest")
    assert result.returncode == 0, result.stderr
    results = {r["artifact"]: r for r in json.loads(result.stdout)["results"]}
    assert {a: r["status"] for a, r in results.items() if a.endswith(".conda")} == {
        "press-fx-shared-2.0-0.conda": "converted", "press-fx-shared-1.0-0.conda": "skipped"}
    assert results["press-fx-shared-1.0-0.conda"]["reason"] == "not the newest (--latest)"
    assert sorted(p.name for p in (tmp_path / "out").glob("*.whl")) == ["fixtures_press_fx_shared-2.0-0_0-py3-none-manylinux1_x86_64.manylinux_2_5_x86_64.whl"]
    other = press_channel(channel, tmp_path / "out311", tmp_path / "cache", "-n", "press-fx-coexist-*", "--python", "3.11")
    reasons = {r["artifact"]: r["reason"] for r in json.loads(other.stdout)["results"]}
    assert reasons["press-fx-coexist-a-1.0-0.conda"] == "built for Python 3.12, not requested"


def test_batch_validate_installs_the_wheelhouse_per_python(tmp_path, cache_dir):
    """--validate (off by default for a batch): after the jobs, the wheels are
    installed into one venv per Python from the wheelhouse; a wheel whose
    dependency the wheelhouse lacks fails its job, naming it."""
    out = tmp_path / "wheelhouse"
    quiet = press_channel(str(CONDA_FORGE), out, cache_dir, "-n", "pycparser", "-j", "1")
    assert all("validation" not in " ".join(r["notes"]) for r in json.loads(quiet.stdout)["results"])
    result = press_channel(str(CONDA_FORGE), tmp_path / "v", cache_dir, "-n", "pycparser", "-n", "cffi", "-j", "1",
                           "--validate", "--repodata-patch", str(HOTFIX))
    results = {r["artifact"]: r for r in json.loads(result.stdout)["results"]}
    assert result.returncode == 1
    assert results["pycparser-2.22-pyh29332c3_1.conda"]["notes"] == [
        "pycparser-2.22-1_pyh29332c3_1-py3-none-any.whl: validation passed"]
    cffi = results["cffi-1.17.1-py312h06ac9bb_0.conda"]
    assert cffi["status"] == "failed" and cffi["reason"].startswith("validation failed: install failed")
    assert "No solution found" in cffi["reason"] and cffi["reports"] == []
