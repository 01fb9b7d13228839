"""Fuzz the whole conversion of one artifact with atheris: archive reader,
metadata boundary, layout, relocation, metadata/tags and wheel writing.

An input is an *uncompressed* tar (so mutations reach member names, headers
and the JSON/YAML/ELF bytes inside instead of breaking a compressed stream).
The harness wraps it as a ``.tar.bz2`` (bzip2 level 1) and runs
``press.convert([artifact], thin, no validation)`` with ``TMPDIR`` and the
wheel directory inside a sandbox. A :class:`PressError` is the expected answer
to bad input; any other exception is a crash, and so is any file that
appears in the sandbox outside press's work and wheel directories, or
anything but finished ``.whl`` files in the wheel directory.

Seeds: every archive of ../shared/channels whose tar is under 256 kB
(``.conda`` info and pkg tars are joined into one), plus the hostile
packages of tests/hostile.py. The corpus lives outside the repository
(``$PRESS_FUZZ_CORPUS``, default ``$TMPDIR/press-fuzz-corpus``).

Usage (not part of the test suite: it runs for minutes)::

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python tests/fuzz/fuzz_convert.py -max_total_time=600 -print_final_stats=1

Extra arguments go to libFuzzer. A crash leaves ``crash-<sha1>`` in the
current directory; turn it into a regression test under ``tests/``.
"""

from __future__ import annotations

import bz2
import io
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import atheris

SANDBOX = Path(tempfile.mkdtemp(prefix="press-fuzz-"))
os.environ["TMPDIR"] = str(SANDBOX / "tmp")
os.environ.setdefault("PRESS_MAX_UNPACKED_SIZE", str(64 << 20))
(SANDBOX / "tmp").mkdir()
tempfile.tempdir = None

with atheris.instrument_imports():
    from press.convert import ConvertOptions, convert
    from press.errors import PressError

HERE = Path(__file__).resolve().parent
CHANNELS = HERE.parents[1] / ".." / "shared" / "channels"
ALLOWED = {"tmp", "out", "cache"}


def _fix_paths_json(data: bytes) -> bytes:
    """The tar with ``info/paths.json``'s sizes and sha256 made to match the
    members (so mutated payloads get past the payload check and reach the
    layout, relocation and wheel writing); the input as is when it does not
    parse."""
    import hashlib
    import json

    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()[:2000]]
        contents = {m.name: d for m, d in members if d is not None}
        doc = json.loads(contents["info/paths.json"])
        for entry in doc["paths"]:
            if entry.get("_path") in contents:
                entry["sha256"] = hashlib.sha256(contents[entry["_path"]]).hexdigest()
                entry["size_in_bytes"] = len(contents[entry["_path"]])
        fixed = json.dumps(doc).encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as out:
            for member, content in members:
                if member.name == "info/paths.json":
                    member.size, content = len(fixed), fixed
                out.addfile(member, io.BytesIO(content) if content is not None else None)
        return buffer.getvalue()
    except Exception:  # the fix-up is best effort: anything odd goes in unchanged
        return data


def one_input(data: bytes) -> None:
    source = SANDBOX / "fuzz-1.0-0.tar.bz2"
    if data[-1:] and data[-1] & 1:
        data = _fix_paths_json(data)
    source.write_bytes(bz2.compress(data, 1))
    out = SANDBOX / "out"
    options = ConvertOptions(channels=[], subdir="linux-64", python="3.12", wheel_dir=out, validate=False,
                             cache_dir=SANDBOX / "cache")
    try:
        convert([str(source)], options)
    except PressError:
        pass
    finally:
        source.unlink(missing_ok=True)
        leftovers = sorted(p.name for p in SANDBOX.iterdir() if p.name not in ALLOWED)
        stray_tmp = sorted(p.name for p in (SANDBOX / "tmp").iterdir())
        outputs = sorted(p.name for p in out.iterdir()) if out.exists() else []
        shutil.rmtree(out, ignore_errors=True)
        for path in (SANDBOX / "tmp").iterdir():
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
    if leftovers or stray_tmp:
        raise AssertionError(f"written outside the work directory: {leftovers + stray_tmp}")
    if [name for name in outputs if not name.endswith(".whl")]:
        raise AssertionError(f"the wheel directory holds more than wheels: {outputs}")


def _tar_of(path: Path) -> bytes:
    """The archive's members as one uncompressed tar."""
    from conda_package_streaming.package_streaming import stream_conda_component

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as out:
        components = ["info", "pkg"] if path.name.endswith(".conda") else ["pkg"]
        for component in components:
            for tar, member in stream_conda_component(str(path), component=component):
                out.addfile(member, tar.extractfile(member) if member.isfile() else None)
    return buffer.getvalue()


def seed_corpus(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path in sorted(CHANNELS.resolve().rglob("*")):
        if path.name.endswith((".conda", ".tar.bz2")) and path.stat().st_size < 200_000:
            data = _tar_of(path)
            if len(data) < 256_000:
                (directory / f"{path.name}.tar").write_bytes(data)
    sys.path.insert(0, str(HERE.parent))
    from hostile import Spec, build

    seeds = {"links": Spec(links={"share/a": ".", "lib/libx.so": "libx.so.1"}, files={"lib/libx.so.1": b"\x7fELF"}),
             "python": Spec(files={"site-packages/hx/__init__.py": b"", "site-packages/hx-1.0.dist-info/METADATA":
                                   b"Metadata-Version: 2.1\nName: hx\nVersion: 1.0\n",
                                   "site-packages/hx-1.0.dist-info/entry_points.txt": b"[console_scripts]\nhx = hx:main\n"},
                            link={"noarch": {"type": "python", "entry_points": ["hx = hx:main"]}})}
    for name, spec in seeds.items():
        built = build(spec, SANDBOX / "seeds", ".tar.bz2")
        (directory / f"hostile-{name}.tar").write_bytes(bz2.decompress(built.read_bytes()))
    shutil.rmtree(SANDBOX / "seeds", ignore_errors=True)


def main() -> None:
    corpus = Path(os.environ.get("PRESS_FUZZ_CORPUS", Path(tempfile.gettempdir()).parent / "press-fuzz-corpus"))
    if not corpus.exists():
        seed_corpus(corpus)
    args = sys.argv + ([str(corpus)] if not any(not a.startswith("-") for a in sys.argv[1:]) else [])
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
