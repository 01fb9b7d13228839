"""The live progress display (rich) on a terminal, plain lines elsewhere."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

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
    assert "━" in err and "ETA" in err and "\x1b[" in err  # a bar, drawn with terminal control sequences
    plain = subprocess.run([sys.executable, "-m", "press", "channel", *args, "-w", str(tmp_path / "b")],
                           capture_output=True, text=True, cwd=ROOT)
    assert plain.returncode == 0 and "\x1b[" not in plain.stderr and "press: [2/2]" in plain.stderr
    code, out, err = _on_a_terminal(["channel", *args, "-w", str(tmp_path / "c"), "-q"])
    assert code == 0 and err == ""
    code, out, err = _on_a_terminal(["-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12",
                                     "--cache-dir", str(cache_dir), "--no-validate", "-w", str(tmp_path / "d"),
                                     "pycparser"])
    assert code == 0 and "pycparser-2.22" in out and "press: wrote pycparser-2.22" in err and "\x1b[" in err
