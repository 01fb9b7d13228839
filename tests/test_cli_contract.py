"""The first hour with the command line: each mistake a new user makes gets a
message naming the fix, and the contract scripts rely on holds (exit status
0/1/2/130 as docs/cli.md says, exactly one JSON document on stdout with
``--json`` whatever the failure)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CHANNELS, CONDA_FORGE, run_press

#: (arguments, exit status, words the message must hold). Each row is a mistake seen on
#: a fresh clone with the README in hand (issue 23), and the fix the message must name.
MISTAKES = [
    (["--subdir", "linux64", "cffi"], 2, ["'linux64' is not a conda subdir", "did you mean linux-64?"]),
    (["--subdir", "linux_64", "cffi"], 2, ["did you mean linux-64?"]),
    (["--subdir", "osx-arm", "cffi"], 2, ["did you mean osx-arm64?"]),
    (["--subdir", "macosx_11_0_arm64", "cffi"], 2, ["did you mean osx-arm64?"]),
    (["-c", str(CONDA_FORGE / "linux-64"), "--subdir", "linux-64", "cffi"], 1,
     ["is the linux-64 subdir folder of a channel", f"use its parent, -c {CONDA_FORGE}"]),
    (["-c", str(CHANNELS), "--subdir", "linux-64", "cffi"], 1, ["holds channels", "conda-forge", "name one"]),
    (["-c", str(CONDA_FORGE), "--subdir", "linux-64", "--no-validate", "brotli"], 1,
     ["no package matching 'brotli'", "brotli is the PyPI name of conda's brotli-python"]),
    (["--platform", "linux-64", "cffi"], 2, ["no such option --platform", "--subdir", "--plat"]),
    (["-q", "show", "no-such.whl"], 1, ["no-such.whl: no such wheel file"]),
    (["channel", "-w", "x"], 2, ["which channel? give it as CHANNEL or -c CHANNEL"]),
    (["channel", "a", "-c", "b", "-w", "x"], 2, ["two channels given"]),
    (["--bogus", "cffi"], 2, ["No such option '--bogus'"]),
]


@pytest.mark.parametrize("args,status,words", MISTAKES, ids=[" ".join(m[0])[:40] for m in MISTAKES])
def test_a_mistake_gets_a_message_that_names_the_fix(args, status, words, cache_dir, tmp_path):
    result = run_press(*args, cache=cache_dir, cwd=tmp_path) if args[0] not in ("-q", "channel", "--bogus") else \
        subprocess.run([sys.executable, "-m", "press", *args], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == status, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("press: error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("args,status,kind", [
    (["--bogus", "cffi"], 2, "UsageError"),
    (["--subdir", "linux64", "cffi"], 2, "UsageError"),
    (["show", "no-such.whl"], 1, "PressError"),
    (["-c", str(CONDA_FORGE), "--subdir", "linux-64", "--no-validate", "no-such-package"], 1, "SpecError"),
])
def test_json_is_one_document_for_every_failure_class(args, status, kind, cache_dir, tmp_path):
    result = subprocess.run([sys.executable, "-m", "press", "--json", *args, "--cache-dir", str(cache_dir)]
                            if args[0] != "show" else
                            [sys.executable, "-m", "press", "show", "--json", *args[1:]],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == status
    document = json.loads(result.stdout)  # exactly one document: json.loads refuses trailing data
    assert document["ok"] is False and document["exit_status"] == status
    assert document["error"]["type"] == kind and document["error"]["message"]


def test_subcommand_after_global_options_and_channel_takes_c(cache_dir, tmp_path):
    out = tmp_path / "wheels"
    result = subprocess.run([sys.executable, "-m", "press", "-q", "channel", "-c", str(CONDA_FORGE), "--subdir",
                             "linux-64", "-n", "pycparser", "-w", str(out), "--cache-dir", str(cache_dir),
                             "--no-wheelhouse-check", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True
    assert [p.name for p in out.glob("*.whl")] == ["pycparser-2.22-1_pyh29332c3_1-py3-none-any.whl"]


def test_ctrl_c_is_exit_130_with_one_json_document(cache_dir, tmp_path):
    """SIGINT once the run is under way (its first progress line is on stderr):
    exit 130, "interrupted", the JSON error document, and no click "Aborted!"."""
    process = subprocess.Popen([sys.executable, "-m", "press", "--json", "-c", str(CONDA_FORGE), "--subdir", "linux-64",
                                "--python", "3.12", "--cache-dir", str(cache_dir), "-w", str(tmp_path / "w"), "cffi"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert process.stderr is not None
    first = process.stderr.readline()
    assert first.startswith("press: "), first
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert json.loads(out)["error"]["type"] == "Interrupted"
    assert "press: error: interrupted" in err and "Aborted" not in err and "Traceback" not in err


def _until(process: subprocess.Popen, text: str) -> None:
    """Read the run's stderr until a line holding ``text``."""
    assert process.stderr is not None
    for line in process.stderr:
        if text in line:
            return
    raise AssertionError(f"the run ended before {text!r}")


def test_a_run_stopped_during_validation_leaves_no_unvalidated_wheel(cache_dir, tmp_path):
    """Ctrl-C while the wheels are validated: exit 130 and none of them stays
    in the wheel directory. SIGKILL at the same point: the wheel and the work
    directory stay, and the next run (of anything, into the same wheel
    directory) removes both."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    out = tmp_path / "w"
    argv = [sys.executable, "-m", "press", "-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12",
            "--cache-dir", str(cache_dir), "-w", str(out), "cffi"]
    for signum in (signal.SIGINT, signal.SIGKILL):
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        _until(process, "press: validating")
        process.send_signal(signum)
        process.communicate(timeout=120)
        wheels = sorted(p.name for p in out.glob("*.whl"))
        if signum == signal.SIGINT:
            assert process.returncode == 130 and wheels == []
            assert [p.name for p in tmpdir.iterdir()] == []
        else:
            assert process.returncode == -signal.SIGKILL and "cffi" in " ".join(wheels)
            assert [p.name for p in tmpdir.iterdir() if p.name.startswith("press-")]
    later = subprocess.run([sys.executable, "-m", "press", "-q", "--no-validate", "-c", str(CONDA_FORGE), "--subdir",
                            "linux-64", "--cache-dir", str(cache_dir), "-w", str(out), "pycparser"],
                           capture_output=True, text=True, env=env)
    assert later.returncode == 0, later.stderr
    assert sorted(p.name for p in out.glob("*.whl")) == ["pycparser-2.22-1_pyh29332c3_1-py3-none-any.whl"]
    assert [p.name for p in tmpdir.iterdir()] == []


@pytest.mark.parametrize("option", ["--wheel-dir", "--cache-dir"])
def test_a_directory_press_cannot_write_is_named_before_any_work(option, cache_dir, tmp_path):
    """A wheel or cache directory that cannot be made or written (here a file
    is in the way; a read-only file system reads the same) is one error
    naming the option, before anything is solved or unpacked."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = ["-w", str(tmp_path / "w"), "--cache-dir", str(cache_dir)]
    args[args.index(option if option == "--cache-dir" else "-w") + 1] = str(blocker / "sub")
    result = subprocess.run([sys.executable, "-m", "press", "-c", str(CONDA_FORGE), "--subdir", "linux-64", *args,
                             "pycparser"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"press: error: {option}: cannot write into {blocker / 'sub'}")
    assert "solving" not in result.stderr and "Traceback" not in result.stderr


def test_asking_for_conda_plumbing_says_why_no_wheel_comes_of_it(cache_dir, tmp_path):
    """``press pip`` (or python, a mutex...) never makes that wheel: the report
    says so for the spec asked for, instead of leaving it out in silence."""
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--no-validate", "--no-wheelhouse-check",
                       "--fatten", "--json", "-q", "-w", str(tmp_path / "w"), "pip", cache=cache_dir)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["wheels"] == []
    assert [spec for spec, reason in report["skipped"] if "conda plumbing" in reason] == ["pip"]
