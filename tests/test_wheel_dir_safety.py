"""The wheel directory is not press's alone: links planted at `.press-state`,
its lock, claim and state files, the old predictable temporary names and the
final wheel name are never written through (by `press` or `press channel`),
the cleanup of a killed run's leftovers follows no link, and a batch removes
only leftovers: never the temporaries of a plain `press` writing into the same
directory (docs/safety.md, "Directories press does not fully own")."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, ROOT, run_press
from press.convert import ConvertOptions, convert
from press.errors import PressError
from press.files import Directory
from press.wheel import verify_wheel
from press.wheelhouse import WriteLock, _claim_name

PLAIN = "hyperframe-6.0.1-pyhd8ed1ab_1.conda"
PLAIN_WHEEL = "hyperframe-6.0.1-1_pyhd8ed1ab_1-py3-none-any.whl"
BATCH = "colorama-0.4.6-pyhd8ed1ab_1.conda"
BATCH_WHEEL = "colorama-0.4.6-1_pyhd8ed1ab_1-py3-none-any.whl"


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (links not followed) -> its content's sha256, link target or 'dir'."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(root))] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[str(path.relative_to(root))] = "dir"
        else:
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture()
def outside(tmp_path) -> Path:
    """Files of the user's, outside the wheel directory, that press must never touch."""
    root = tmp_path / "outside"
    (root / "dir" / ".press-x").mkdir(parents=True)
    (root / "file").write_bytes(b"the user's file\n")
    (root / "dir" / ".old.1.tmp").write_bytes(b"not press's\n")
    (root / "dir" / ".press-x" / "kept").write_bytes(b"kept\n")
    return root


@pytest.fixture()
def artifact(tmp_path) -> Path:
    """A small noarch artifact outside any channel layout (converted without a solve)."""
    target = tmp_path / "in" / PLAIN
    target.parent.mkdir()
    shutil.copyfile(CONDA_FORGE / "noarch" / PLAIN, target)
    return target


@pytest.fixture()
def channel(tmp_path) -> Path:
    """A channel directory holding one small noarch artifact (press indexes it)."""
    root = tmp_path / "channel"
    (root / "noarch").mkdir(parents=True)
    shutil.copyfile(CONDA_FORGE / "noarch" / BATCH, root / "noarch" / BATCH)
    return root


def press_file(artifact: Path, out: Path, cache: Path) -> subprocess.CompletedProcess:
    return run_press("--subdir", "linux-64", "--python", "3.12", "--no-validate", "-w", str(out), str(artifact),
                     cache=cache)


def press_channel(channel: Path, out: Path, cache: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "press", "channel", str(channel), "--subdir", "linux-64",
                           "--python", "3.12", "-j", "1", "--no-wheelhouse-check", "-w", str(out),
                           "--cache-dir", str(cache)], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def one_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("press: error: ")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(word in lines[0] for word in words), lines[0]


def plant(out: Path, name: str, target: Path) -> None:
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    (out / name).symlink_to(target)


SLOW = pytest.mark.slow  # the same defence as a faster case, another variant


@pytest.mark.parametrize("command, name, target", [
    ("press", ".press-state", "dir"),                  # a directory of the user's
    ("channel", ".press-state", "dir"),
    pytest.param("press", ".press-state", "new", marks=SLOW),  # a dangling link: press would create it
    pytest.param("channel", ".press-state", "new", marks=SLOW),
    pytest.param("press", ".press-state/writers.lock", "new", marks=SLOW),
    ("channel", ".press-state/writers.lock", "new"),
    pytest.param("press", ".press-state/writers.lock", "file", marks=SLOW),
    pytest.param("channel", ".press-state/writers.lock", "file", marks=SLOW),
    ("channel", ".press-state/lock", "new"),           # the batch lock
    pytest.param("press", ".press-state/lock", "new", marks=SLOW),  # not a plain press's: left alone
])
def test_links_where_press_keeps_its_state_are_errors(tmp_path, outside, artifact, channel, cache_dir, command, name,
                                                      target):
    out = tmp_path / "out"
    plant(out, name, outside / target)
    before = snapshot(outside)
    if command == "press":
        result = press_file(artifact, out, cache_dir)
    else:
        result = press_channel(channel, out, cache_dir)
    if command == "press" and name == ".press-state/lock":  # a plain press never takes the batch lock
        assert result.returncode == 0, result.stderr
    else:
        one_error(result, str(out / name), "symbolic link")
    assert snapshot(outside) == before and not (outside / "new").exists()


def test_links_at_claims_are_errors_naming_them(tmp_path, outside, artifact, cache_dir):
    out = tmp_path / "out"
    plant(out, f".press-state/owners/{_claim_name('dist', 'hyperframe')}", outside / "file")
    before = snapshot(outside)
    one_error(press_file(artifact, out, cache_dir), "symbolic link", _claim_name("dist", "hyperframe"))
    assert snapshot(outside) == before
    # owners/ itself
    out = tmp_path / "out2"
    plant(out, ".press-state/owners", outside / "dir")
    one_error(press_file(artifact, out, cache_dir), "owners", "symbolic link")
    assert snapshot(outside) == before


def test_a_link_at_the_wheel_name_is_refused_or_replaced_never_written_through(tmp_path, outside, artifact, cache_dir):
    out = tmp_path / "out"
    plant(out, PLAIN_WHEEL, outside / "file")
    before = snapshot(outside)
    one_error(press_file(artifact, out, cache_dir), PLAIN_WHEEL, "no record")  # not press's: refused
    assert snapshot(outside) == before
    (out / PLAIN_WHEEL).unlink()
    assert press_file(artifact, out, cache_dir).returncode == 0
    (out / PLAIN_WHEEL).unlink()  # press made it (its claim is there); now a link takes its place
    plant(out, PLAIN_WHEEL, outside / "file")
    result = press_file(artifact, out, cache_dir)
    assert result.returncode == 0, result.stderr
    assert not (out / PLAIN_WHEEL).is_symlink() and snapshot(outside) == before  # the link was replaced
    verify_wheel(out / PLAIN_WHEEL)


def test_links_at_the_old_predictable_temporary_names_are_not_followed(tmp_path, outside, artifact, cache_dir):
    """``.<claim>.<pid>.tmp`` was written through. Run in this process (its pid known), while
    another writer holds the wheel directory, so no cleanup removes the planted links first."""
    out = tmp_path / "out"
    pid = os.getpid()
    other = WriteLock(out)  # a plain press running meanwhile
    claims = [_claim_name("dist", "hyperframe"), _claim_name("wheel", PLAIN_WHEEL)]
    for index, claim in enumerate(claims):
        plant(out, f".press-state/owners/.{claim}.{pid}.tmp", outside / f"new{index}")  # dangling: would be made
    plant(out, f".press-state/owners/.{claims[0]}.{pid + 1}.tmp", outside / "file")
    before = snapshot(outside)
    try:
        report = convert([str(artifact)], ConvertOptions(subdir="linux-64", python="3.12", wheel_dir=out,
                                                         cache_dir=cache_dir, validate=False))
    finally:
        other.close()
    assert [Path(w.path).name for w in report.wheels] == [PLAIN_WHEEL]
    assert snapshot(outside) == before and not list(outside.glob("new*"))
    assert all((out / ".press-state" / "owners" / c).is_file() and not (out / ".press-state" / "owners" / c).is_symlink()
               for c in claims)


def _state_file(out: Path) -> Path:
    [state] = [p for p in (out / ".press-state").glob("*.json") if len(p.stem) == 32]  # a job's, not checked.json
    return state


def test_batch_state_files_and_their_temporaries_are_not_written_through(tmp_path, outside, channel, cache_dir):
    from press.batch import BatchOptions, convert_channel

    out = tmp_path / "out"

    def run():
        return convert_channel(BatchOptions(channel=str(channel), subdir="linux-64", pythons=["3.12"], wheel_dir=out,
                                            cache_dir=cache_dir, jobs=1, check=False))

    assert run().ok
    state = _state_file(out)
    state.unlink()
    state.symlink_to(outside / "file")  # the job runs again, and must not write its state through the link
    other = WriteLock(out)  # keeps the batch from removing the planted temporary link first
    plant(out, f".press-state/.{state.name}.{os.getpid()}.tmp", outside / "new")
    before = snapshot(outside)
    try:
        report = run()
    finally:
        other.close()
    assert report.ok and [r.status for r in report.results] == ["converted"]
    assert snapshot(outside) == before and not (outside / "new").exists()
    assert not state.is_symlink() and {w["name"]: w["sha256"] for w in json.loads(state.read_text())["wheels"]} == {
        BATCH_WHEEL: hashlib.sha256((out / BATCH_WHEEL).read_bytes()).hexdigest()}


def test_a_fifo_as_state_file_does_not_hang_the_batch(tmp_path, channel, cache_dir):
    out = tmp_path / "out"
    assert press_channel(channel, out, cache_dir).returncode == 0
    state = _state_file(out)
    state.unlink()
    os.mkfifo(state)
    result = press_channel(channel, out, cache_dir, timeout=60)
    assert result.returncode == 0, result.stderr
    assert state.is_file()


def test_state_files_of_too_many_containers_are_not_parsed(tmp_path, monkeypatch):
    """A state or claim file of ``{},`` within the size limit would be millions of
    dicts (32 MiB: 800 MB): more objects and arrays than ``json_containers`` is
    refused before parsing, as an unreadable state file (the job runs again)."""
    from press.wheelhouse import read_json

    (tmp_path / "state.json").write_text('{"wheels": [' + ",".join(["{}"] * 2000) + "]}")
    monkeypatch.setenv("PRESS_MAX_JSON_CONTAINERS", "1000")
    with Directory.open(tmp_path) as directory:
        with pytest.raises(ValueError, match="more than 1000 JSON objects and arrays"):
            read_json(directory, "state.json")
        monkeypatch.setenv("PRESS_MAX_JSON_CONTAINERS", "3000")
        assert len(read_json(directory, "state.json")["wheels"]) == 2000


def test_a_directory_at_the_wheel_name_fails_the_job_naming_it(tmp_path, channel, cache_dir):
    """A directory planted where a batch publishes a wheel it owns: the job fails
    naming the directory (not an IsADirectoryError), the directory is left alone."""
    out = tmp_path / "out"
    assert press_channel(channel, out, cache_dir).returncode == 0
    (out / BATCH_WHEEL).unlink()
    (out / BATCH_WHEEL / "kept").mkdir(parents=True)
    result = press_channel(channel, out, cache_dir)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{out / BATCH_WHEEL}: is a directory, not press's own" in result.stdout
    assert "IsADirectoryError" not in result.stdout and (out / BATCH_WHEEL / "kept").is_dir()


def test_cleanup_of_leftovers_follows_no_link(tmp_path, outside):
    out = tmp_path / "out"
    (out / ".press-state" / "owners").mkdir(parents=True)
    (out / "simple" / "proj").mkdir(parents=True)
    leftovers = [".press-1a2b", ".x.whl.metadata.3c4d.tmp", ".press-state/.k.json.5.tmp",
                 ".press-state/owners/.dist-x.json.6.tmp", "simple/.index.html.7.tmp", "simple/proj/.index.json.8.tmp"]
    for name in leftovers:
        (out / name).write_bytes(b"partial")
    (out / ".press-2b3c").mkdir()
    (out / ".press-2b3c" / "w.whl").write_bytes(b"partial")
    for name, target in [("sub", "dir"), (".press-link", "dir"), (".y.tmp", "file"), ("simple/other", "dir"),
                         (".press-state/owners/.z.tmp", "file")]:
        plant(out, name, outside / target)
    kept = ["sub", "simple/other", ".press-state", "simple", "simple/proj"]
    before = snapshot(outside)
    lock = WriteLock(out)
    lock.close()
    assert lock.cleaned and snapshot(outside) == before
    left = snapshot(out)
    assert not [name for name in leftovers + [".press-2b3c", ".press-link", ".y.tmp", ".press-state/owners/.z.tmp"]
                if name in left]
    assert all(name in left for name in kept)


def test_a_batch_removes_only_leftovers_never_a_running_press_temporaries(tmp_path, channel, cache_dir):
    """A plain press holds the wheel directory (shared) while it runs; a batch started meanwhile
    converts, but removes nothing, until no other press writes there."""
    out = tmp_path / "out"
    running = WriteLock(out)  # what a plain press takes first, then its temporaries:
    with Directory.open(out) as directory, directory.sub(".press-state") as state:
        name, private = directory.temporary_dir(".press-")
        with private:
            private.write(PLAIN_WHEEL, b"half a wheel")
        with state.sub("owners", create=True) as owners:
            claim_tmp, fd = owners.temporary(_claim_name("dist", "hyperframe"))
            os.close(fd)
    theirs = [name, f"{name}/{PLAIN_WHEEL}", f".press-state/owners/{claim_tmp}"]
    try:
        result = press_channel(channel, out, cache_dir)
        assert result.returncode == 0, result.stderr
        assert all((out / path).exists() for path in theirs)
        assert (out / BATCH_WHEEL).is_file()
    finally:
        running.close()  # the plain press was killed: what it left is a leftover now
    assert press_channel(channel, out, cache_dir).returncode == 0
    assert not [path for path in theirs if (out / path).exists()]


def test_a_plain_press_and_a_batch_run_at_once_on_one_wheel_dir(tmp_path, artifact, channel, cache_dir):
    """A real plain conversion, held mid-run (its progress callback starts the batch and waits for
    it): both finish, and each one's wheel is whole."""
    out = tmp_path / "out"
    batches: list[subprocess.CompletedProcess] = []

    def progress(message: str) -> None:
        if not batches:
            batches.append(press_channel(channel, out, cache_dir))

    report = convert([str(artifact)], ConvertOptions(subdir="linux-64", python="3.12", wheel_dir=out,
                                                     cache_dir=cache_dir, validate=False), progress)
    assert batches[0].returncode == 0, batches[0].stderr
    assert [Path(w.path).name for w in report.wheels] == [PLAIN_WHEEL]
    for wheel in (PLAIN_WHEEL, BATCH_WHEEL):
        verify_wheel(out / wheel)
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".press-state"]


def test_a_plain_press_errors_name_the_state_file_not_a_traceback(tmp_path, outside, artifact, cache_dir):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".press-state").write_bytes(b"a file where press keeps a directory")
    one_error(press_file(artifact, out, cache_dir), ".press-state", "not a directory")
    with pytest.raises(PressError, match="symbolic link"):
        plant(tmp_path / "out2", ".press-state", outside / "dir")
        WriteLock(tmp_path / "out2")


def test_the_state_directory_goes_with_the_last_run_that_left_nothing_there(tmp_path):
    out = tmp_path / "out"
    first, second = WriteLock(out), WriteLock(out)
    assert first.cleaned and not second.cleaned  # the second run saw the first one writing
    first.close()
    assert (out / ".press-state" / "writers.lock").is_file()  # still held by the second
    second.close()
    assert list(out.iterdir()) == []  # a run that wrote nothing leaves the directory as it found it
    with pytest.raises(PressError, match="another press batch"):
        batch = WriteLock(out, batch=True)
        try:
            WriteLock(out, batch=True)
        finally:
            batch.close()
