"""Benchmark: artifacts per minute of ``press channel`` with -j 1, -j 2 and a
Dask local cluster, on the same batch in one run.

Run: python bench/bench_batch.py [--channel ../shared/channels/conda-forge] [--fatten] [--rounds 3]

Each run is the ``press channel`` command in a fresh process, as users run
it (start-up and imports included in every figure).

The batch is every linux-64 + noarch artifact of the channel for Python 3.12
(thin by default; ``--fatten`` for fat wheels, much slower). A first run
warms the channel index, the unpacked-artifact cache and the OS page cache
(its time is printed too, as the cold figure); then each configuration
converts into a fresh wheel directory with the same warm cache, in
``--rounds`` interleaved rounds (best of them kept: this VM's timings vary by
a quarter between runs), and a last run repeats -j 2 with nothing changed
(the incremental path). Prints
artifacts/min per configuration and two speed-ups: against -j 1 on one CPU
(the process pinned with ``sched_setaffinity``: how the batch scales from
one core to two) and against plain -j 1, which itself deflates and verifies
wheel members on every CPU, so it leaves little for a second job to take.

The Dask cluster runs the batch twice: first with fresh workers (each
imports press and LIEF on its first job, as on a cluster just started),
then again with the same, warm workers (as on a long-lived cluster).

The ceiling: the same CPU-bound work (``zlib.compress``) in one process and
in two at once, best of 3. Virtual CPUs of a VM can share a physical core or
be throttled, so two processes may do less than twice the work of one; no
batch scales past that figure on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(channel: str, out: Path, cache: Path, fatten: bool, *extra: str, one_cpu: bool = False) -> tuple[float, int]:
    """``press channel`` as a user runs it (a fresh process that pays its own
    start-up and imports); ``one_cpu`` pins it, and its workers, to one CPU."""
    command = [sys.executable, "-m", "press", "channel", channel, "--subdir", "linux-64", "--python", "3.12",
               "-w", str(out), "--cache-dir", str(cache), "--json", "-q",
               "--repodata-patch", str(ROOT / "tests" / "data" / "conda-forge-hotfix-libzlib.json"),
               "--fatten" if fatten else "--thin", *extra]
    cpu = min(os.sched_getaffinity(0))
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if one_cpu else None)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"press channel failed: {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    counts = {"converted": 0, "failed": 0}
    for job in report["results"]:
        counts[job["status"]] = counts.get(job["status"], 0) + 1
    return seconds, counts["converted"] + counts["failed"]


def _compress_work(_: int = 0) -> float:
    import zlib

    data = bytes(range(256)) * 4096 + os.urandom(1 << 20)
    start = time.perf_counter()
    for _ in range(25):
        zlib.compress(data, 6)
    return time.perf_counter() - start


def cpu_ceiling() -> float:
    """Throughput of two processes over one on this machine (see the module docstring)."""
    import multiprocessing

    ones, twos = [], []
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_compress_work, [0, 0])  # workers started and warm
        for _ in range(3):
            ones.append(pool.apply(_compress_work))
            start = time.perf_counter()
            pool.map(_compress_work, [0, 1], chunksize=1)
            twos.append(time.perf_counter() - start)
    return 2 * min(ones) / min(twos)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channel", default=str((ROOT / ".." / "shared" / "channels" / "conda-forge").resolve()))
    parser.add_argument("--fatten", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each configuration (best kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cache = tmp_path / "cache"
        cold_s, _ = run(args.channel, tmp_path / "warmup", cache, args.fatten, "-j", "2")
        figures: dict[str, tuple[float, int]] = {}

        def keep(label: str, figure: tuple[float, int]) -> None:
            if label not in figures or figure[0] < figures[label][0]:
                figures[label] = figure

        from distributed import LocalCluster

        for round_ in range(args.rounds):  # configurations interleaved, best of the rounds each
            out = tmp_path / f"round{round_}"
            keep("-j 1, one CPU", run(args.channel, out / "j1-one-cpu", cache, args.fatten, "-j", "1", one_cpu=True))
            for label, extra in (("-j 1", ["-j", "1"]), ("-j 2", ["-j", "2"])):
                keep(label, run(args.channel, out / label.replace(" ", ""), cache, args.fatten, *extra))
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None) as cluster:
                keep("dask, 2 fresh workers", run(args.channel, out / "dask", cache, args.fatten,
                                                  "--scheduler", cluster.scheduler_address))
                keep("dask, the same workers again", run(args.channel, out / "dask-warm", cache, args.fatten,
                                                         "--scheduler", cluster.scheduler_address))
        rerun_s, _ = run(args.channel, tmp_path / "round0" / "-j2", cache, args.fatten, "-j", "2")
        cpus = os.sched_getaffinity(0)
        ceiling = cpu_ceiling()
    mode = "fat" if args.fatten else "thin"
    one_s, count = figures["-j 1, one CPU"]
    base_s = figures["-j 1"][0]
    print(f"press channel, {mode}, {count} artifacts (linux-64 + noarch, Python 3.12), {len(cpus)} CPUs")
    for label, (seconds, converted) in figures.items():
        print(f"  {label:<32}: {seconds:6.1f} s, {converted / seconds * 60:6.1f} artifacts/min, "
              f"speed-up {one_s / seconds:.2f}x against -j 1 on one CPU, {base_s / seconds:.2f}x against -j 1")
    print(f"  ceiling of this machine         : {ceiling:.2f}x (zlib.compress in two processes against one)")
    print(f"  re-run -j 2, nothing changed    : {rerun_s:6.1f} s ({rerun_s / figures['-j 2'][0]:.1%} of the first -j 2 run)")
    print(f"  first -j 2 run, caches empty    : {cold_s:6.1f} s (downloads indexed, archives unpacked; "
          "the runs above reuse the unpacked-artifact cache)")


if __name__ == "__main__":
    main()
