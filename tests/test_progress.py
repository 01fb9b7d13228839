"""The live progress display (rich) on a terminal, plain lines elsewhere."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, ROOT


def _on_a_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run press with stderr on a pseudo-terminal; (exit code, stdout, stderr)."""
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "press", *args], stdout=subprocess.PIPE, stderr=slave,
                               cwd=ROOT, env=dict(os.environ, TERM="xterm", COLUMNS="120"))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    out = process.stdout.read().decode()
    process.wait()
    os.close(master)
    return process.returncode, out, b"".join(chunks).decode(errors="replace")


def test_live_display_on_a_terminal_plain_lines_otherwise(tmp_path, cache_dir):
    args = [str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--cache-dir", str(cache_dir), "-j", "1",
            "-n", "pycparser", "-n", "idna"]
    code, out, err = _on_a_terminal(["channel", *args, "-w", str(tmp_path / "a")])
    # pycparser's two builds of 2.22: one is kept (press channel: one build per version)
    assert code == 0 and "2 converted, 1 skipped" in out  # the summary stays on stdout
    assert "━" in err and "\x1b[" in err  # a bar, drawn with terminal control sequences
    assert "wheelhouse check" in err and "writing the index of 2 wheels" in err  # the phases after the jobs
    assert "ETA" not in err and "0/?" not in err  # two jobs: no estimate means anything, and no unknown count
    plain = subprocess.run([sys.executable, "-m", "press", "channel", *args, "-w", str(tmp_path / "b")],
                           capture_output=True, text=True, cwd=ROOT)
    assert plain.returncode == 0 and "\x1b[" not in plain.stderr and "press: [2/2]" in plain.stderr
    assert "ETA" not in plain.stderr and "press: writing the index of 2 wheels" in plain.stderr
    assert "status     artifact                  " in plain.stdout  # not a terminal: the table as it always was
    code, out, err = _on_a_terminal(["channel", *args, "-w", str(tmp_path / "c"), "-q"])
    assert code == 0 and err == ""
    code, out, err = _on_a_terminal(["-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12",
                                     "--cache-dir", str(cache_dir), "--no-validate", "-w", str(tmp_path / "d"),
                                     "pycparser"])
    assert code == 0 and "pycparser-2.22" in out and "press: wrote pycparser-2.22" in err and "\x1b[" in err


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", *args], capture_output=True, text=True,
                          check=True).stdout


ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78M]|\x1b\][^\x07]*\x07")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt-get install tmux)")
def test_every_phase_in_a_real_80_column_terminal(tmp_path, cache_dir):
    """A fat cffi conversion typed into an 80-column tmux pane: the live
    display names each phase as it runs (relocating and compressing the
    wheel, validating with a count), never shows an unknown count ("0/?") or
    ETA ("-:--:--"), and the summary press prints fits in 80 columns, broken
    at spaces (the terminal never wraps a line inside a word)."""
    socket, press = f"press-test-{os.getpid()}", Path(sys.executable).with_name("press")
    stream = tmp_path / "pane.log"
    _tmux(socket, "new-session", "-d", "-s", "t", "-x", "80", "-y", "50", "-c", str(ROOT),
          "env -u TMUX PS1='$ ' bash --norc --noprofile")
    try:
        _tmux(socket, "pipe-pane", "-t", "t", f"cat >> {stream}")  # every byte drawn, however short-lived
        _tmux(socket, "send-keys", "-t", "t",
              f"clear; {press} -c ../shared/channels/conda-forge --subdir linux-64 --python 3.12 --fatten cffi "
              f"-w {tmp_path / 'w'} --cache-dir {cache_dir}; echo PRESS-EXIT-$?", "Enter")
        screens: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            screens.append(_tmux(socket, "capture-pane", "-p", "-J", "-t", "t"))  # -J: wrapped lines joined
            if re.search(r"^PRESS-EXIT-\d+", screens[-1], re.M):
                break
            time.sleep(0.05)
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    final = screens[-1]
    assert "PRESS-EXIT-0" in final, final
    drawn = "\n".join(screens) + "\n" + ANSI.sub("", stream.read_text(errors="replace")).replace("\r", "\n")
    assert re.search(r"building cffi 1\.17\.1 \(relocating \d+ binar", drawn), drawn[-3000:]
    assert re.search(r"building cffi 1\.17\.1 \(compressing \d+\.\d MB\)", drawn)
    assert re.search(r"validating cffi-\S+ .*\b[0-2]/2\b", drawn)  # a count beside the wheel being validated
    assert re.search(r"fetching \S+ \(\d+\.\d MB, \d+\.\d of \d+\.\d MB\).* \d/9\b", drawn)
    assert "0/?" not in drawn and "-:--:--" not in drawn
    summary = final[final.index("press: validating 2 wheels"):final.index("PRESS-EXIT-")].splitlines()[1:]
    assert summary and all(len(line) <= 80 for line in summary), summary
    assert summary[0].startswith("cffi-1.17.1-0_py312h06ac9bb_0-cp312-cp312-manylinux2014_x86_64")
    text = " ".join(" ".join(summary).split())
    assert "validation passed" in text and "1 vendored library" in text
    written = sorted(p.name for p in (tmp_path / "w").glob("*.whl"))
    assert written[0].startswith("cffi-1.17.1") and len(written) == 2


def test_an_eta_only_once_it_means_something():
    from press.batch import remaining_seconds

    # the first of 80 jobs took 37 s: 79 times that would say 49 minutes for a run of a few
    assert remaining_seconds(37.0, 1, 80, finished=1) is None
    assert remaining_seconds(3.0, 3, 80, finished=3) is None  # too early to say
    assert remaining_seconds(40.0, 80, 80, finished=80) is None  # nothing left
    assert remaining_seconds(20.0, 25.0, 100.0, finished=4) == 60.0  # by the rate so far (units: bytes or jobs)


def test_summary_lines_fit_a_narrow_terminal_and_stay_whole_elsewhere():
    from press.batch import BatchReport, JobResult
    from press.report import ValidationResult, WheelReport, fit

    name = "cffi-1.17.1-0_py312h06ac9bb_0-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    wheel = WheelReport(path=f"/w/{name}", name="cffi", version="1.17.1",
                        tags="cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64", size=200_000,
                        conda_packages=[], vendored_libraries=["libffi.so.8"],
                        validation=ValidationResult("passed", skipped_imports=["cffi.backend (needs gcc_linux-64)"]))
    assert wheel.summary_lines() == [wheel.summary()]  # a file or pipe: the one line scripts parse
    lines = wheel.summary_lines(80)
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines)
    assert lines[0] == "cffi-1.17.1-0_py312h06ac9bb_0-cp312-cp312-manylinux2014_x86_64...whl"
    words = " ".join(lines).split()
    assert [w for w in wheel.summary().split() if w != name] == [w for w in words if not w.endswith("...whl")]
    assert fit("  still pointing at the build prefix: " + "lib/ (2), " * 12, 40)[1].startswith("    lib/")

    long_reason = "validation failed: " + "conda-forge-libgcc is not in the wheel directory; " * 4
    report = BatchReport(results=[JobResult("brotli-python-1.1.0-py312h2ec8cdc_2.conda", "converted",
                                            wheels=["brotli-1.1.0-2_py312h2ec8cdc_2-cp312-cp312-manylinux2014_x86_64"
                                                    ".manylinux_2_17_x86_64.whl"]),
                                  JobResult("urllib3-2.3.0-pyhd8ed1ab_0.conda", "failed", long_reason),
                                  JobResult("pycparser-2.22-pyhd8ed1ab_0.conda", "skipped", "another build is kept")],
                         projects=1, seconds=2.0, wheelhouse=["Python 3.12 on x86_64-manylinux_2_17: 1 of 1 wheels install"])
    assert report.table(width=None) == report.table() and max(map(len, report.table().splitlines())) > 80
    narrow = report.table(width=80).splitlines()
    assert all(len(line) <= 80 for line in narrow), narrow
    assert "failed     urllib3-2.3.0-pyhd8ed1ab_0.conda" in narrow and narrow[-1] == report.table().splitlines()[-1]
    assert " ".join(narrow).split().count("conda-forge-libgcc") == 4  # the reason whole, broken at spaces
    assert any(line.startswith("skipped    1 artifacts: another build is kept") for line in narrow)
