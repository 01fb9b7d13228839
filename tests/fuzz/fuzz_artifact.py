"""Fuzz the conda archive reader (press.artifact.open_artifact) with atheris.

Seeds are the real archives of ../shared/channels (those under 400 kB, so a
mutation round stays fast). Every input is written as ``.conda`` (zip magic)
or ``.tar.bz2`` and opened into a fresh work directory. A :class:`PressError`
is the expected answer to a broken archive; any other exception is a crash.
After each input the sandbox directory must hold nothing but the work
directory: nothing may be written outside it.

Usage (not part of the test suite: it runs for minutes)::

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python tests/fuzz/fuzz_artifact.py -max_total_time=600 -print_final_stats=1

Extra arguments go to libFuzzer. A crash leaves ``crash-<sha1>`` in the
current directory; turn it into a regression test under ``tests/``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import conda_package_streaming.package_streaming  # noqa: F401
    from press.artifact import open_artifact
    from press.errors import PressError

CHANNELS = Path(__file__).resolve().parents[2] / ".." / "shared" / "channels"
SANDBOX = Path(tempfile.mkdtemp(prefix="press-fuzz-"))


def one_input(data: bytes) -> None:
    suffix = ".conda" if data[:2] == b"PK" else ".tar.bz2"
    source = SANDBOX / f"input-1.0-0{suffix}"
    source.write_bytes(data)
    work = SANDBOX / "work"
    try:
        open_artifact(source, work)
    except PressError:
        pass
    finally:
        leftovers = sorted(p.name for p in SANDBOX.iterdir()) if SANDBOX.exists() else []
        shutil.rmtree(work, ignore_errors=True)
        source.unlink(missing_ok=True)
    unexpected = [name for name in leftovers if name not in ("work", source.name)]
    if unexpected:
        raise AssertionError(f"written outside the work directory: {unexpected}")


def seed_corpus(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path in sorted(CHANNELS.resolve().rglob("*")):
        if path.name.endswith((".conda", ".tar.bz2")) and path.stat().st_size < 400_000:
            shutil.copyfile(path, directory / path.name)


def main() -> None:
    corpus = Path(os.environ.get("PRESS_FUZZ_CORPUS", SANDBOX.parent / "press-fuzz-corpus"))
    if not corpus.exists():
        seed_corpus(corpus)
    args = sys.argv + ([str(corpus)] if not any(not a.startswith("-") for a in sys.argv[1:]) else [])
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
