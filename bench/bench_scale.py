"""Benchmark: how ``press channel`` grows with the channel (issue 24).

Run: python bench/bench_scale.py [--sizes 10k,50k] [--artifacts 100,400] [--glob 'scipy*'] [--dask]

Sizes are repodata records (linux-64 + noarch together; conda-forge's
linux-64 alone holds about 465k records under 31k names, its noarch 190k):
``--sizes 10k,50k,200k,465k`` for the whole ladder (with ``--artifacts
100,400,1600 --dask`` it took 18 minutes here, planning 465k records 2.5
GB); the default, 10k,50k and 100,400 artifacts, runs in about 2 minutes.

1. **Synthetic repodata of conda-forge's shape**, made at bench time into a
   local channel directory (``linux-64/repodata.json`` and
   ``noarch/repodata.json``; the artifacts themselves do not exist, planning
   never reads them). Names are real conda-forge names (a seeded sample of
   the conda-forge -> PyPI mapping press ships, so the mapping knows them
   as it knows the real channel's; ``null`` entries become native packages),
   about 15 records a name (log-normal: most names have a few, some
   hundreds). Each record copies the ``depends``/``constrains`` of a real
   record of the same kind (noarch Python, Python extension, native), drawn
   from ``../shared/channels`` (the repodata of conda-forge-subchannel-demo
   and pytorch, the ``info/index.json`` of the conda-forge sample's
   artifacts): the 40 names real records depend on most (``libgcc-ng``,
   ``openssl``, ``numpy``...) kept and always in the channel, the others renamed to names of the synthetic channel of the same
   kind, popular ones more often; extensions get the ``python``/
   ``python_abi`` pins of their build's Python (3.8 to 3.13, newer versions
   for newer Pythons), older versions are ``.tar.bz2``.
2. **Planning** (:func:`press.batch.plan`, what ``press channel`` runs
   before any job, for Python 3.12): with no filter, with ``-n GLOB``
   (``scipy*``: the same 10 names at every size) and with ``--latest``.
   Each in a fresh process: wall time of ``plan`` and the process's peak
   RSS (``VmHWM``: rattler's memory is not Python's, tracemalloc would not
   see it), with the peak after imports for reference.
3. **What a job ships**: the bytes the process pool pickles for one job
   (``run_job`` with the job and the batch options, as
   ``concurrent.futures`` pickles its call item), with the options set as
   :func:`press.batch.convert_channel` sets them (``batch_names``,
   ``known_packages``).
4. **Dispatch**: a spawn ``ProcessPoolExecutor`` of 2 workers (as
   ``_execute`` makes it, workers started and warm) running a no-op with
   the same arguments for ``--dispatched`` jobs, all submitted at once:
   wall time per job. What is left is pickling, the pipe and unpickling.
5. **Artifacts** (``--artifacts N,...``, 0 to skip): N tiny real noarch
   Python ``.conda`` artifacts (built like ``tests/hostile.py`` does, one
   project each) converted by ``press channel -j 2`` in a fresh process
   (cold: artifacts/s), then the same command again with nothing changed,
   ``-j 1`` and ``-j 2`` (the no-op re-run), then
   :func:`press.index.write_index` of that wheelhouse alone (the full
   rewrite every run does), against N projects; then one artifact is
   added and ``-j 2`` run again (what a daily mirror run does).
6. With ``--dask``, the dispatch of 4. on a Dask LocalCluster of 2 workers
   too, and the scheduler's RSS growth with those jobs queued.

Every figure is printed with its ratio to the first size of its ladder,
measured in the same run, next to the ratio of the sizes ("5.3x for 5x
records"): linear growth prints two equal numbers. This VM's timings vary by
a quarter between runs and other work shares its 2 CPUs; the ratios are the
figures to compare.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import io
import json
import math
import os
import random
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = (ROOT / ".." / "shared" / "channels").resolve()
PYTHONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]
TARGET = "3.12"
SEED = 24


# --- real records: the shapes synthetic ones copy ---------------------------------------------

def _index_json(path: Path) -> dict[str, Any] | None:
    """``info/index.json`` of a real artifact (.conda or .tar.bz2)."""
    try:
        if path.name.endswith(".conda"):
            try:
                from compression import zstd  # type: ignore[import-not-found,unused-ignore]
            except ImportError:
                from backports import zstd  # type: ignore[no-redef,unused-ignore]
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if n.startswith("info-"))
                data = zstd.decompress(archive.read(member))
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                handle = tar.extractfile("info/index.json")
                return json.load(handle) if handle else None
        with tarfile.open(path, "r:bz2") as tar:
            handle = tar.extractfile("info/index.json")
            return json.load(handle) if handle else None
    except (OSError, KeyError, StopIteration, ValueError, tarfile.TarError):
        return None


def real_records() -> list[dict[str, Any]]:
    """linux-64 and noarch records of the real channels under ../shared/channels."""
    found: list[dict[str, Any]] = []
    for repodata in sorted([*SHARED.glob("*/linux-64/repodata.json"), *SHARED.glob("*/noarch/repodata.json")]):
        doc = json.loads(repodata.read_text())
        for key in ("packages", "packages.conda"):
            found += list(doc.get(key, {}).values())
    for artifact in sorted([*(SHARED / "conda-forge").glob("linux-64/*"), *(SHARED / "conda-forge").glob("noarch/*")]):
        if artifact.name.endswith((".conda", ".tar.bz2")):
            index = _index_json(artifact)
            if index:
                found.append(index)
    return found


def kind_of(record: dict[str, Any]) -> str:
    if record.get("noarch") == "python":
        return "noarch-python"
    names = {str(d).split()[0] for d in record.get("depends", []) if str(d).strip()}
    if "python" in names and record.get("subdir") != "noarch":
        return "extension"
    return "native"


# --- the synthetic channel -------------------------------------------------------------------

class Channel:
    """A synthetic channel of ``size`` records (see the module docstring)."""

    def __init__(self, size: int, glob_names: list[str], templates: list[dict[str, Any]],
                 mapping: dict[str, Any]) -> None:
        self.rng = random.Random(SEED + size)
        rng = self.rng
        # per kind, the real records grouped by name: a template is drawn name first, so the few
        # names with hundreds of builds (pytorch's) do not stand for every package
        by_name: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
        counts: collections.Counter[str] = collections.Counter()
        for record in templates:
            by_name[(kind_of(record), str(record.get("name")))].append(record)
            counts.update({str(d).split()[0] for d in record.get("depends", []) if str(d).strip()})
        self.templates: dict[str, list[list[dict[str, Any]]]] = collections.defaultdict(list)
        for (kind, _), group in sorted(by_name.items(), key=lambda kv: kv[0]):
            self.templates[kind].append(group)
        # the dependency names most real records share: always in the channel, never renamed
        self.common = {n for n, _ in counts.most_common(40) if n in mapping} | {"python", "python_abi"}
        n_names = max(len(glob_names) + len(self.common) + 10, round(size / 15))
        pool = sorted(n for n in mapping if n not in self.common and n not in glob_names)
        names = sorted(self.common) + sorted(glob_names)
        names += rng.sample(pool, min(len(pool), n_names - len(names)))
        self.python_names = [n for n in names if mapping.get(n)]
        self.native_names = [n for n in names if not mapping.get(n)]
        rng.shuffle(self.python_names)  # popularity order: the first are depended on most
        rng.shuffle(self.native_names)
        weights = [rng.lognormvariate(0, 1.1) for _ in names]
        scale = size / sum(weights)
        quota = {n: max(1, round(w * scale)) for n, w in zip(names, weights)}
        for name in ("python", "python_abi"):
            quota[name] = max(quota[name], 12)
        for name in glob_names:  # the -n selection: the same records at every size
            quota[name] = 15
        drift = size - sum(quota.values())
        order = sorted((n for n in names if n not in glob_names), key=lambda n: -quota[n])
        i = 0
        while drift:
            name = order[i % len(order)]
            step = 1 if drift > 0 else -1
            if quota[name] + step >= 1:
                quota[name] += step
                drift -= step
            i += 1
        self.quota = quota
        self.mapping = mapping
        self.names = names

    def _popular(self, names: list[str]) -> str:
        # Zipf-like: index ~ exponential, most depends name the first few
        return names[min(len(names) - 1, int(self.rng.expovariate(1 / max(1.0, len(names) / 12))))]

    def _rename(self, spec: str) -> str | None:
        parts = spec.split(" ", 1)
        name = parts[0]
        if name in ("python", "python_abi"):
            return None  # each build gets the pins of its own Python
        if not name or name.startswith("__") or name in self.common:
            return spec
        pool = self.python_names if self.mapping.get(name) else self.native_names
        return " ".join([self._popular(pool), *parts[1:]])

    def _kind(self, name: str, rng: random.Random) -> str:
        if name in ("python", "python_abi") or not self.mapping.get(name):
            return "native" if rng.random() < 0.93 or name in self.common else "noarch-generic"
        return "noarch-python" if rng.random() < 0.45 else "extension"

    def records(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """``quota[name]`` records of ``name``: (file name, repodata record), oldest first."""
        rng = random.Random(f"{SEED}-{name}")  # a name's versions and builds are the same at every size
        kind = self._kind(name, rng)
        quota = self.quota[name]
        per_version = {"extension": 4, "noarch-python": 1.15, "native": 1.6, "noarch-generic": 1.1}[kind]
        versions = max(1, math.ceil(quota / per_version))
        major, minor, patch = rng.randint(0, 4), rng.randint(0, 20), 0
        stamp = 1_500_000_000_000 + rng.randint(0, 10**11)
        template_kind = "native" if kind == "noarch-generic" else kind
        out: list[tuple[str, dict[str, Any]]] = []
        v = -1
        while True:
            v += 1
            if rng.random() < 0.2:
                major, minor, patch = major, minor + 1, 0
            elif rng.random() < 0.05:
                major, minor, patch = major + 1, 0, 0
            else:
                patch += 1
            version = f"{major}.{minor}.{patch}"
            stamp += rng.randint(10**8, 10**10)
            template = rng.choice(rng.choice(self.templates[template_kind] or self.templates["native"]))
            depends = [d for d in (self._rename(str(s)) for s in template.get("depends", [])) if d]
            constrains = [d for d in (self._rename(str(s)) for s in template.get("constrains", [])) if d]
            if kind == "extension":
                newest = len(PYTHONS) - 1 - max(0, versions - 1 - v) // 3
                pythons = PYTHONS[max(0, newest - 3):max(1, newest + 1)]
                builds: list[tuple[str | None, int]] = [(p, 0) for p in pythons]
            else:
                builds = [(None, b) for b in range(1 if rng.random() > per_version - 1 else 2)]
            for python, build_number in builds:
                digest = hashlib.sha256(f"{name}{version}{python}{build_number}{v}".encode()).hexdigest()
                if python is not None:  # an extension: one build per Python
                    tag = python.replace(".", "")
                    build = f"py{tag}h{digest[:7]}_{build_number}"
                    deps = [*depends, f"python >={python},<{python[:2]}{int(python[2:]) + 1}.0a0",
                            f"python_abi {python}.* *_cp{tag}"]
                elif kind == "noarch-python":
                    build = f"pyhd8ed1ab_{build_number}"
                    deps = [*depends, "python >=3.9"]
                else:
                    build = f"h{digest[:7]}_{build_number}"
                    deps = depends
                fmt = ".tar.bz2" if v < versions // 3 else ".conda"  # older builds predate .conda
                record = {
                    "build": build, "build_number": build_number, "depends": sorted(set(deps)),
                    "license": str(template.get("license") or "MIT"), "md5": digest[:32], "name": name,
                    "sha256": hashlib.sha256(digest.encode()).hexdigest(),
                    "size": rng.randint(4_000, 40_000_000), "subdir": "noarch" if kind.startswith("noarch") else
                    "linux-64", "timestamp": stamp, "version": version,
                }
                if constrains:
                    record["constrains"] = sorted(set(constrains))
                if kind == "noarch-python":
                    record["noarch"] = "python"
                elif kind == "noarch-generic":
                    record["noarch"] = "generic"
                out.append((f"{name}-{version}-{build}{fmt}", record))
                if len(out) >= quota:
                    return out

    def write(self, directory: Path) -> dict[str, int]:
        """``directory/{linux-64,noarch}/repodata.json``; returns records per subdir."""
        docs: dict[str, dict[str, Any]] = {sd: {"info": {"subdir": sd}, "packages": {}, "packages.conda": {}, "removed": [],
                     "repodata_version": 1} for sd in ("linux-64", "noarch")}
        for name in self.names:
            for file_name, record in self.records(name):
                key = "packages.conda" if file_name.endswith(".conda") else "packages"
                docs[record["subdir"]][key][file_name] = record
        counts = {}
        for subdir, doc in docs.items():
            (directory / subdir).mkdir(parents=True, exist_ok=True)
            with open(directory / subdir / "repodata.json", "w") as handle:
                json.dump(doc, handle, separators=(",", ":"), sort_keys=True)
            counts[subdir] = len(doc["packages"]) + len(doc["packages.conda"])
        return counts


# --- the measuring child ----------------------------------------------------------------------

def _noop(job: Any, options: Any) -> Any:
    from press.batch import JobResult

    return JobResult(str(job.file_name), "skipped", "no-op")


def _warm() -> None:
    import press.batch  # noqa: F401  (what unpickling a job needs)
    import press.names  # noqa: F401


def _rss_mib() -> float:
    """This process's peak RSS: ``VmHWM`` (``ru_maxrss`` keeps the parent's peak across fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: dict[str, Any]) -> dict[str, Any]:
    """One planning (and, with ``dispatched``, the dispatch measure) in this fresh process."""
    import pickle
    from multiprocessing.reduction import ForkingPickler

    import press.batch as batch
    import press.dispatch as dispatch
    import rattler  # noqa: F401

    imported = _rss_mib()
    options = batch.BatchOptions(channel=args["channel"], subdir="linux-64", wheel_dir=Path(args["wheel_dir"]),
                                 cache_dir=Path(args["cache"]), names=args["names"], latest=args["latest"],
                                 pythons=[TARGET], check=False)
    start = time.perf_counter()
    jobs, skipped = batch.plan(options)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {"seconds": seconds, "rss": _rss_mib(), "rss_imported": imported, "jobs": len(jobs),
                           "skipped": len(skipped), "known": len(options.known_packages)}
    options.batch_names = frozenset(j.name for j in jobs)  # as convert_channel sets it
    sample = jobs[:: max(1, len(jobs) // 50)] or []
    if sample:
        # what concurrent.futures sends per job (its _CallItem holds fn, args, kwargs); the options
        # go to each worker once, through the pool's initializer (press.dispatch)
        sizes = [len(ForkingPickler.dumps((dispatch._run_shared, (job,), {}))) for job in sample]
        out["pickled"] = sum(sizes) / len(sizes)
        out["pickled_options"] = len(pickle.dumps(options))
    if args.get("dispatched") and jobs:
        count = min(args["dispatched"], len(jobs))
        options.jobs = 2
        _warm()
        # each execute() starts its own pool: the cost of a job is the difference between a run of
        # `count` jobs and one of 4 (pool start and shutdown in both)
        begin = time.perf_counter()
        list(dispatch.execute(jobs[:4], options, _noop))
        few = time.perf_counter() - begin
        begin = time.perf_counter()
        done = sum(1 for _ in dispatch.execute(jobs[:count], options, _noop))
        out["dispatch_ms"] = max(0.0, time.perf_counter() - begin - few) / max(1, done - 4) * 1000
        out["dispatched"] = done
        if args.get("dask"):
            out.update(_dask_dispatch(jobs[:count], options))
    return out


def _scheduler_rss() -> int:
    import psutil  # type: ignore[import-untyped,unused-ignore]

    return int(psutil.Process().memory_info().rss)


def _dask_dispatch(jobs: list[Any], options: Any) -> dict[str, float]:
    """The no-op jobs on a Dask LocalCluster of 2 workers, through press.dispatch (options scattered
    once, tasks in bounded waves): ms per job, and the scheduler's RSS growth over the run."""
    import dataclasses

    import press.dispatch as dispatch
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(_warm)
        on_dask = dataclasses.replace(options, scheduler=cluster.scheduler_address)
        begin = time.perf_counter()
        list(dispatch.execute(jobs[:4], on_dask, _noop))
        few = time.perf_counter() - begin
        before = client.run_on_scheduler(_scheduler_rss)
        peak = before
        begin = time.perf_counter()
        done = 0
        for _ in dispatch.execute(jobs, on_dask, _noop):
            done += 1
            if done % 50 == 0:
                peak = max(peak, client.run_on_scheduler(_scheduler_rss))
        seconds = time.perf_counter() - begin - few
        peak = max(peak, client.run_on_scheduler(_scheduler_rss))
    return {"dask_ms": max(0.0, seconds) / max(1, done - 4) * 1000, "dask_scheduler_mib": (peak - before) / 2**20}


def run_child(args: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run([sys.executable, __file__, "--child", json.dumps(args)], capture_output=True, text=True,
                            cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"measuring child failed:\n{result.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


# --- the same channel sharded (CEP-16), served on 127.0.0.1 -----------------------------------

def sharded_copy(channel: Path, out: Path, url: str) -> int:
    """A CEP-16 copy of ``channel``'s repodata under ``out`` (``<subdir>/repodata_shards.msgpack.zst``
    and one zstd msgpack shard per name under ``<subdir>/shards/``), as the real conda-forge
    serves it; returns the shard count."""
    import msgpack  # type: ignore[import-untyped,unused-ignore]  (Dask's dependency)

    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from backports import zstd  # type: ignore[no-redef,unused-ignore]
    count = 0
    for subdir in ("linux-64", "noarch"):
        doc = json.loads((channel / subdir / "repodata.json").read_text())
        by_name: dict[str, dict[str, Any]] = {}
        for key in ("packages", "packages.conda"):
            for file_name, record in doc.get(key, {}).items():
                record = dict(record)
                for digest in ("sha256", "md5"):
                    if isinstance(record.get(digest), str):
                        record[digest] = bytes.fromhex(record[digest])
                shard = by_name.setdefault(record["name"], {"packages": {}, "packages.conda": {}, "removed": []})
                shard[key][file_name] = record
        (out / subdir / "shards").mkdir(parents=True, exist_ok=True)
        index = {}
        for name, shard in sorted(by_name.items()):
            data = zstd.compress(msgpack.packb(shard, use_bin_type=True))
            digest = hashlib.sha256(data).digest()
            (out / subdir / "shards" / f"{digest.hex()}.msgpack.zst").write_bytes(data)
            index[name] = digest
        info = {"base_url": f"{url}/{subdir}/", "shards_base_url": "./shards/", "subdir": subdir}
        (out / subdir / "repodata_shards.msgpack.zst").write_bytes(
            zstd.compress(msgpack.packb({"version": 1, "info": info, "shards": index}, use_bin_type=True)))
        count += len(index)
    return count


def serve(root: Path) -> tuple[Any, str]:
    """A threaded HTTP/1.1 server of ``root`` on 127.0.0.1 (conditional requests answered in full:
    rattler 0.28 fails on a 304 for a shard index) and its URL; it logs the paths asked for."""
    import functools
    import http.server
    import threading

    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def send_head(self):  # type: ignore[no-untyped-def]
            del self.headers["If-Modified-Since"]
            asked.append(self.path)
            return super().send_head()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    server.asked = asked  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# --- tiny real artifacts ----------------------------------------------------------------------

def tiny_channel(directory: Path, count: int, start: int = 0) -> None:
    """Artifacts ``start`` to ``count`` - 1 of a channel of tiny noarch Python .conda artifacts,
    one project each, with their dist-info."""
    sys.path.insert(0, str(ROOT / "tests"))
    from hostile import Spec, build  # type: ignore[import-not-found,unused-ignore]

    for i in range(start, count):
        name = f"scalepkg{i:05d}"
        dist = f"{name}-1.0.dist-info"
        files = {f"{name}/__init__.py": f"VALUE = {i}\n".encode(),
                 f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()}
        rows = [f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}"
                for p, d in sorted(files.items())] + [f"{dist}/RECORD,,"]
        files[f"{dist}/RECORD"] = ("\n".join(rows) + "\n").encode()
        index = {"name": name, "version": "1.0", "build": "pyh0_0", "build_number": 0, "subdir": "noarch",
                 "noarch": "python", "depends": [], "license": "MIT", "timestamp": 1700000000000}
        build(Spec(name=name, build="pyh0_0", index=index, files={f"site-packages/{p}": d for p, d in files.items()}),
              directory / "noarch", ".conda")


def press_channel(channel: Path, out: Path, cache: Path, *extra: str) -> tuple[float, collections.Counter[str]]:
    """``press channel`` as a user runs it (a fresh process)."""
    command = [sys.executable, "-m", "press", "channel", str(channel), "--subdir", "linux-64", "--python", TARGET,
               "-w", str(out), "--cache-dir", str(cache), "--json", "-q", "--thin", *extra]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"press channel failed: {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    return seconds, collections.Counter(r["status"] for r in report["results"])


# --- output -----------------------------------------------------------------------------------

def _label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def _parse_size(text: str) -> int:
    text = text.strip().lower()
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)


def ladder(title: str, sizes: list[int], values: list[float], unit: str, what: str, fmt: str = "{:.2f}") -> str:
    """``title: 10k 5.8 s, 50k 31 s (5.3x for 5x records)``."""
    parts = []
    for i, (size, value) in enumerate(zip(sizes, values)):
        text = f"{_label(size)} {fmt.format(value)} {unit}".rstrip()
        if i and values[0]:
            text += f" ({value / values[0]:.1f}x for {size / sizes[0]:.3g}x {what})"
        parts.append(text)
    return f"  {title:<34}: " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,50k", help="records per channel, e.g. 10k,50k,200k,465k")
    parser.add_argument("--glob", default="scipy*", help="the -n glob of the filtered plan (default: 10 names)")
    parser.add_argument("--dispatched", type=int, default=200, help="no-op jobs sent through the pool per size")
    parser.add_argument("--artifacts", default="100,400", help="tiny real artifacts per re-run/index size; 0: skip")
    parser.add_argument("--dask", action="store_true", help="also dispatch the no-op jobs on a Dask LocalCluster")
    parser.add_argument("--keep", type=Path, help="make the channels and wheelhouses here and keep them")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    sizes = [_parse_size(s) for s in args.sizes.split(",") if s.strip()]
    artifact_sizes = [int(s) for s in args.artifacts.split(",") if s.strip() and int(s) > 0]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        sys.path.insert(0, str(ROOT))
        import fnmatch

        from press.names import load_mapping

        mapping = dict(load_mapping().entries)
        templates = real_records()
        glob_names = sorted(n for n in mapping if fnmatch.fnmatchcase(n, args.glob))
        kinds = collections.Counter(kind_of(r) for r in templates)
        print(f"templates: {len(templates)} real records ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}); "
              f"-n {args.glob!r}: {len(glob_names)} names; {len(os.sched_getaffinity(0))} CPUs, "
              f"load {os.getloadavg()[0]:.1f}", flush=True)
        rows: dict[str, list[float]] = collections.defaultdict(list)
        for size in sizes:
            channel_dir = work / f"channel-{_label(size)}"
            begin = time.perf_counter()
            counts = Channel(size, glob_names, templates, mapping).write(channel_dir)
            megabytes = sum((channel_dir / sd / "repodata.json").stat().st_size for sd in counts) / 1e6
            made = time.perf_counter() - begin
            print(f"{_label(size)}: {counts['linux-64']} linux-64 + {counts['noarch']} noarch records, "
                  f"{round(size / 15)} names, {megabytes:.0f} MB of repodata.json (made in {made:.0f} s)", flush=True)
            cache = work / f"cache-{_label(size)}"
            base = {"channel": str(channel_dir), "cache": str(cache), "wheel_dir": str(work / "unused")}
            for label, extra in (("plain", {"names": [], "latest": False, "dispatched": args.dispatched,
                                            "dask": args.dask}),
                                 ("glob", {"names": [args.glob], "latest": False}),
                                 ("latest", {"names": [], "latest": True})):
                found = run_child({**base, **extra})
                print(f"  plan {label:<7}: {found['seconds']:7.2f} s, peak RSS {found['rss']:6.0f} MiB "
                      f"({found['rss_imported']:.0f} after imports), {found['jobs']} jobs, {found['skipped']} skipped"
                      + (f"; {found['known']} known packages, {found['pickled']:.0f} B pickled per job, "
                         f"{found['pickled_options'] / 1e3:.0f} kB of options once per worker" if label == "plain"
                         else "")
                      + (f"; dispatch {found['dispatch_ms']:.2f} ms/job over {found['dispatched']} no-op jobs"
                         if "dispatch_ms" in found else "")
                      + (f"; on Dask {found['dask_ms']:.2f} ms/job, scheduler +{found['dask_scheduler_mib']:.0f} MiB "
                         "with them queued" if "dask_ms" in found else ""), flush=True)
                rows[f"{label} s"].append(found["seconds"])
                if label == "glob":  # the same -n against the channel sharded, over HTTP, as conda-forge serves it
                    server, url = serve(work)
                    try:
                        shards = sharded_copy(channel_dir, work / f"sharded-{_label(size)}", f"{url}/sharded-{_label(size)}")
                        server.asked.clear()  # type: ignore[attr-defined]
                        sharded = run_child({**base, **extra, "channel": f"{url}/sharded-{_label(size)}",
                                             "cache": str(work / f"cache-sharded-{_label(size)}")})
                        fetched = sum(1 for p in server.asked if "/shards/" in p)  # type: ignore[attr-defined]
                    finally:
                        server.shutdown()
                    print(f"  plan {label:<7}: {sharded['seconds']:7.2f} s, peak RSS {sharded['rss']:6.0f} MiB against "
                          f"the sharded copy over HTTP ({fetched} of {shards} shards fetched), {sharded['jobs']} jobs",
                          flush=True)
                    rows["sharded s"].append(sharded["seconds"])
                    rows["sharded rss"].append(sharded["rss"])
                rows[f"{label} rss"].append(found["rss"])
                if label == "plain":
                    rows["pickled"].append(found.get("pickled", 0))
                    rows["dispatch"].append(found.get("dispatch_ms", 0))
                    rows["known"].append(found["known"])
                    if "dask_ms" in found:
                        rows["dask"].append(found["dask_ms"])
                        rows["dask mib"].append(found["dask_scheduler_mib"])
        artifact_rows: dict[str, list[float]] = collections.defaultdict(list)
        for count in artifact_sizes:
            channel_dir = work / f"artifacts-{count}"
            tiny_channel(channel_dir, count)
            cache, out = work / f"artifacts-cache-{count}", work / f"wheels-{count}"
            cold, statuses = press_channel(channel_dir, out, cache, "-j", "2")
            noop1, again1 = press_channel(channel_dir, out, cache, "-j", "1")
            noop2, again2 = press_channel(channel_dir, out, cache, "-j", "2")
            from press.index import write_index

            begin = time.perf_counter()
            index = write_index(out)
            index_s = time.perf_counter() - begin  # what every run pays when nothing changed
            import shutil

            shutil.rmtree(out / "simple")
            shutil.rmtree(out / ".press-state" / "index", ignore_errors=True)
            begin = time.perf_counter()
            write_index(out)
            full_s = time.perf_counter() - begin  # a first run, or a lost index
            pages = {p: p.stat().st_mtime_ns for p in (out / "simple").glob("*/index.json")}
            tiny_channel(channel_dir, count + 1, start=count)  # one new artifact, the rest unchanged
            added, after = press_channel(channel_dir, out, cache, "-j", "2")
            rewritten = sorted(p.parent.name for p in (out / "simple").glob("*/index.json")
                               if pages.get(p) != p.stat().st_mtime_ns)
            print(f"{count} artifacts: cold -j 2 {cold:.1f} s ({dict(statuses)}, "
                  f"{statuses['converted'] / cold:.1f} artifacts/s); no-op re-run -j 1 {noop1:.1f} s "
                  f"({dict(again1)}), -j 2 {noop2:.1f} s; index with nothing changed {index_s:.2f} s, "
                  f"rebuilt from nothing {full_s:.2f} s ({len(index.projects)} projects); one artifact added, "
                  f"-j 2 {added:.1f} s ({dict(after)}; project pages rewritten: {', '.join(rewritten) or 'none'})",
                  flush=True)
            for key, value in (("cold", cold), ("noop1", noop1), ("noop2", noop2), ("index", index_s),
                               ("full", full_s), ("added", added)):
                artifact_rows[key].append(value)
    print(f"\ngrowth against {_label(sizes[0])} records (same run):")
    for key, title in (("plain s", "plan, no filter"), ("glob s", f"plan, -n {args.glob}"),
                       ("latest s", "plan, --latest")):
        print(ladder(title, sizes, rows[key], "s", "records"))
    print(ladder(f"plan, -n {args.glob}, sharded HTTP", sizes, rows["sharded s"], "s", "records"))
    for key, title in (("plain rss", "peak RSS, no filter"), ("glob rss", f"peak RSS, -n {args.glob}"),
                       ("sharded rss", f"peak RSS, -n {args.glob}, sharded"), ("latest rss", "peak RSS, --latest")):
        print(ladder(title, sizes, rows[key], "MiB", "records", "{:.0f}"))
    print(ladder("known packages in the options", sizes, rows["known"], "", "records", "{:.0f}"))
    print(ladder("pickled per job", sizes, rows["pickled"], "B", "records", "{:.0f}"))
    print(ladder("dispatch per job (2 workers)", sizes, rows["dispatch"], "ms", "records"))
    if rows["dask"]:
        print(ladder("dispatch per job, Dask", sizes, rows["dask"], "ms", "records"))
        print(ladder("Dask scheduler growth, queued", sizes, rows["dask mib"], "MiB", "records", "{:.0f}"))
    if artifact_sizes:
        print(f"growth against {artifact_sizes[0]} artifacts (one project each):")
        for key, title in (("cold", "cold press channel -j 2"), ("noop1", "no-op re-run -j 1"),
                           ("noop2", "no-op re-run -j 2"), ("index", "index, nothing changed"),
                           ("full", "index rebuilt from nothing"), ("added", "one artifact added, -j 2")):
            print(ladder(title, artifact_sizes, artifact_rows[key], "s", "artifacts",
                         "{:.2f}" if key in ("index", "full", "noop1", "noop2") else "{:.1f}"))


if __name__ == "__main__":
    main()
