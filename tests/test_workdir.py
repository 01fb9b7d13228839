"""Work directories of concurrent runs: a run's sweep for killed runs' leftovers
never removes the work directory of a run that is alive (press.workdir)."""

from __future__ import annotations

import multiprocessing

from press.workdir import LOCK_NAME, WorkDir


def _create_and_use(parent: str) -> int:
    """Make and use 150 work directories while other processes do the same
    (each creation sweeps ``parent``); the number that vanished in use."""
    from pathlib import Path

    lost = 0
    for _ in range(150):
        held = WorkDir("resolve-", Path(parent))
        try:
            (held.path / "requirements.txt").write_text("x\n")
            lost += (held.path / "requirements.txt").read_text() != "x\n"
        except OSError:
            lost += 1
        finally:
            held.close()
    return lost


def test_a_sweep_never_removes_a_live_runs_work_directory(tmp_path):
    """Between creating its lock file and locking it, a run's directory once
    looked like a killed run's to another run's sweep, which removed it
    (``No such file or directory: .../press-resolve-*/requirements.txt`` in a
    wheelhouse check while other runs started)."""
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_create_and_use, [str(tmp_path)] * 4) == [0, 0, 0, 0]
    assert list(tmp_path.iterdir()) == []


def test_a_killed_runs_work_directory_is_swept(tmp_path):
    """A directory whose lock file no process holds is a killed run's: the next
    run's work directory removes it; a live one is left alone."""
    dead = tmp_path / "press-deadbeef"
    dead.mkdir()
    (dead / LOCK_NAME).write_text("")
    (dead / "wheel.whl").write_bytes(b"partial")
    live = WorkDir("", tmp_path)
    try:
        fresh = WorkDir("", tmp_path)
        assert not dead.exists() and live.path.is_dir() and (live.path / LOCK_NAME).is_file()
        fresh.close()
    finally:
        live.close()
    assert list(tmp_path.iterdir()) == []
