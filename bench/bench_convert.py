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
   wheel's payload, on one core.
Prints the times and the ratios to the floor.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
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


if __name__ == "__main__":
    main()
