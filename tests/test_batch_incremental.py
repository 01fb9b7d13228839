"""press channel at scale (issue 24): plan from what is asked, decide what is up
to date before dispatching anything, redo exactly what changed.

The channels here are tiny real noarch Python artifacts (tests/hostile.py
builds them in milliseconds) and, for planning, a repodata.json whose
artifacts do not exist (planning never reads them).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from hostile import Spec, build

from press import jobstate
from press.batch import BatchOptions, convert_channel
from press.dispatch import _waves
from press.selection import plan


def tiny(channel: Path, name: str, version: str = "1.0", build_string: str = "pyh0_0", depends=(),
         module: bytes | None = None) -> None:
    """A noarch Python artifact of one module with its dist-info, into ``channel/noarch``; with
    ``module``, that is its ``__init__.py`` and the recipe's import test imports it."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": module or f"VALUE = {version!r}\n".encode(),
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()}
    rows = [f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}"
            for p, d in sorted(files.items())] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = ("\n".join(rows) + "\n").encode()
    index = {"name": name, "version": version, "build": build_string, "build_number": int(build_string[-1]),
             "subdir": "noarch", "noarch": "python", "depends": list(depends), "license": "MIT",
             "timestamp": 1700000000000}
    recipe = {"info/recipe/meta.yaml": f"package:\n  name: {name}\n  version: '{version}'\ntest:\n  imports:\n"
                                       f"    - {name}\n".encode()} if module else {}
    build(Spec(name=name, version=version, build=build_string, index=index, info=recipe,
               files={f"site-packages/{p}": d for p, d in files.items()}), channel / "noarch", ".conda")


def run(channel: Path, out: Path, cache: Path, jobs: int = 1, **extra):
    """``convert_channel`` as ``press channel`` runs it; returns (report, progress calls, index pages' mtimes)."""
    seen = []
    report = convert_channel(BatchOptions(channel=str(channel), subdir="linux-64", pythons=["3.12"], wheel_dir=out,
                                          cache_dir=cache, jobs=jobs, **{"check": False, **extra}),
                             progress=seen.append)
    pages = {p.parent.name: p.stat().st_mtime_ns for p in (out / "simple").glob("*/index.json")}
    return report, seen, pages


def statuses(report) -> dict[str, str]:
    return {r.artifact.split("-")[0]: r.reason if r.status == "skipped" else r.status for r in report.results}


def test_rerun_dispatches_nothing_and_one_new_artifact_is_all_that_is_redone(tmp_path):
    channel, out, cache = tmp_path / "channel", tmp_path / "out", tmp_path / "cache"
    for name in ("alpha", "beta", "gamma"):
        tiny(channel, name)
    first, seen, pages = run(channel, out, cache, jobs=2)
    assert first.ok and set(statuses(first).values()) == {"converted"} and len(seen) == 3
    again, seen, same = run(channel, out, cache, jobs=2)
    assert statuses(again) == {"alpha": "up to date", "beta": "up to date", "gamma": "up to date"}
    assert seen == [] and same == pages  # no job dispatched, no index page rewritten
    tiny(channel, "delta")
    added, seen, after = run(channel, out, cache, jobs=2)
    assert statuses(added)["delta"] == "converted" and [p.last.artifact for p in seen] == [
        "delta-1.0-pyh0_0.conda"]
    assert {n for n in after if after[n] != pages.get(n)} == {"delta"}  # only its project's pages written


def test_a_new_build_of_a_dependency_redoes_its_dependents_only(tmp_path):
    channel, out, cache = tmp_path / "channel", tmp_path / "out", tmp_path / "cache"
    tiny(channel, "base")
    tiny(channel, "user", depends=["base >=1"])
    tiny(channel, "loner")
    assert run(channel, out, cache)[0].ok
    tiny(channel, "base", "1.1")  # what a solve of `user` reads changed; `loner` has nothing to do with it
    report, seen, _ = run(channel, out, cache)
    assert {r.artifact: r.reason or r.status for r in report.results} == {
        "base-1.0-pyh0_0.conda": "up to date", "base-1.1-pyh0_0.conda": "converted",
        "user-1.0-pyh0_0.conda": "converted", "loner-1.0-pyh0_0.conda": "up to date"}
    assert {p.last.artifact for p in seen} == {"base-1.1-pyh0_0.conda", "user-1.0-pyh0_0.conda"}


def test_tampered_state_or_wheel_is_redone_and_a_copied_wheelhouse_is_not(tmp_path):
    channel, out, cache = tmp_path / "channel", tmp_path / "out", tmp_path / "cache"
    tiny(channel, "alpha")
    tiny(channel, "beta")
    assert run(channel, out, cache)[0].ok
    [state] = [p for p in (out / ".press-state").glob("*.json") if json.loads(p.read_text()).get("artifact", "")
               .startswith("alpha")]
    doc = json.loads(state.read_text())
    doc["wheels"][0]["sha256"], doc["wheels"][0]["size"] = "0" * 64, 1  # a forged record: identity and digest
    state.write_text(json.dumps(doc))
    wheel = next(out.glob("beta-*.whl"))
    wheel.write_bytes(wheel.read_bytes())  # rewritten in place: same bytes, new ctime: hashed again, kept
    report = run(channel, out, cache)[0]
    assert statuses(report) == {"alpha": "converted", "beta": "up to date"}
    wheel.write_bytes(wheel.read_bytes()[:-10])  # damaged
    state.write_text("{" * 100)  # not JSON: ignored
    assert statuses(run(channel, out, cache)[0]) == {"alpha": "converted", "beta": "converted"}


def test_the_output_format_not_the_version_keys_a_job(tmp_path, monkeypatch):
    channel, out, cache = tmp_path / "channel", tmp_path / "out", tmp_path / "cache"
    tiny(channel, "alpha")
    assert run(channel, out, cache)[0].ok
    monkeypatch.setattr("press.__version__", "99.0")  # a release that makes the same bytes
    assert statuses(run(channel, out, cache)[0]) == {"alpha": "up to date"}
    monkeypatch.setattr(jobstate, "OUTPUT_FORMAT", jobstate.OUTPUT_FORMAT + 1)  # one that does not
    assert statuses(run(channel, out, cache)[0]) == {"alpha": "converted"}


def repodata_channel(root: Path, names: dict[str, list[str]]) -> Path:
    """A channel of repodata alone: one noarch Python record per name, with ``depends``."""
    packages = {f"{n}-1.0-pyh0_0.conda": {"name": n, "version": "1.0", "build": "pyh0_0", "build_number": 0,
                                            "depends": d, "subdir": "noarch", "noarch": "python",
                                            "sha256": hashlib.sha256(n.encode()).hexdigest(), "size": 10}
                for n, d in names.items()}
    for subdir, records in (("noarch", packages), ("linux-64", {})):
        (root / subdir).mkdir(parents=True, exist_ok=True)
        (root / subdir / "repodata.json").write_text(json.dumps(
            {"info": {"subdir": subdir}, "packages": {}, "packages.conda": records}))
    return root


def test_a_name_filter_reads_only_the_matching_names_and_their_dependencies(tmp_path):
    names = {"scipy": ["numpy >=1.2", "python >=3.9"], "scipy-stubs": [], "numpy": ["python >=3.9"],
             "python": [], **{f"unrelated{i}": ["numpy"] for i in range(50)}}
    channel = repodata_channel(tmp_path / "channel", names)
    found = plan(BatchOptions(channel=str(channel), subdir="linux-64", wheel_dir=tmp_path / "out",
                              cache_dir=tmp_path / "cache", names=["scipy*"], pythons=["3.12"]))
    assert sorted(j.name for j in found.jobs) == ["scipy", "scipy-stubs"]
    assert set(found.view.digests) == {"scipy", "scipy-stubs", "numpy", "python"}  # never an unrelated record
    everything = plan(BatchOptions(channel=str(channel), subdir="linux-64", wheel_dir=tmp_path / "out",
                                   cache_dir=tmp_path / "cache", pythons=["3.12"]))
    assert len(everything.jobs) == 53 and len(everything.view.digests) == len(names)


@pytest.mark.parametrize("limit", [1, 3])
def test_jobs_are_submitted_in_bounded_waves(limit):
    jobs = list(range(10))
    track: dict[object, object] = {}
    in_flight = []

    def submit(job):
        in_flight.append(len(track) + 1)
        return f"future-{job}"

    def completed():
        yield sorted(track, key=lambda f: int(f.split("-")[1]))[0]

    done = list(_waves(jobs, limit, submit, completed, track))  # type: ignore[arg-type]
    assert done == [f"future-{j}" for j in jobs] and max(in_flight) == limit


def test_a_name_mapping_file_edited_in_place_redoes_the_jobs(tmp_path):
    channel, out, cache = tmp_path / "channel", tmp_path / "out", tmp_path / "cache"
    tiny(channel, "alpha")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"somethingelse": ["somethingelse"]}))
    assert run(channel, out, cache, name_mapping=[mapping])[0].ok
    assert statuses(run(channel, out, cache, name_mapping=[mapping])[0]) == {"alpha": "up to date"}
    mapping.write_text(json.dumps({"somethingelse": ["renamed"]}))  # same path, other names
    assert statuses(run(channel, out, cache, name_mapping=[mapping])[0]) == {"alpha": "converted"}


def test_forged_state_and_memo_are_ignored_never_a_crash(tmp_path):
    channel, out, cache = tmp_path / "channel", tmp_path / "out", tmp_path / "cache"
    tiny(channel, "alpha")
    assert run(channel, out, cache)[0].ok
    [state] = [p for p in (out / ".press-state").glob("*.json") if len(p.stem) == 32]
    doc = json.loads(state.read_text())
    doc["wheels"][0]["name"] = "\udcffx.whl"  # not a wheel file name: os.lstat would raise ValueError
    state.write_text(json.dumps(doc))
    (out / ".press-state" / "checked.json").unlink(missing_ok=True)
    (out / ".press-state" / "checked.json").mkdir()  # the memo is only an optimisation
    report = run(channel, out, cache)[0]
    assert report.ok and statuses(report) == {"alpha": "converted"}


def test_the_checks_memo_covers_the_whole_directory_and_prints_only_text(tmp_path):
    channel, out, cache = tmp_path / "channel", tmp_path / "out", tmp_path / "cache"
    tiny(channel, "base")
    tiny(channel, "user", depends=["base >=1"])
    assert run(channel, out, cache, check=True)[0].ok
    again = run(channel, out, cache, check=True, names=["user"])[0]
    assert again.ok and again.wheelhouse
    memo = out / ".press-state" / "checked.json"
    doc = json.loads(memo.read_text())
    doc["wheelhouse"] = ["\x1b]0;pwned\x07\rall fine"]  # forged: not printed, the check runs
    memo.write_text(json.dumps(doc))
    shown = run(channel, out, cache, check=True, names=["user"])[0]
    assert shown.ok and not any("\x1b" in line for line in shown.wheelhouse)
    next(out.glob("base-*.whl")).unlink()  # outside this batch (-n user), but what it resolves against
    broken = run(channel, out, cache, check=True, names=["user"])[0]
    assert not broken.ok and "base" in {r.artifact: r.reason for r in broken.results}["user-1.0-pyh0_0.conda"]
    assert statuses(run(channel, out, cache, check=True, names=["user"])[0]) == {"user": "failed"}


def test_a_moved_channel_renames_natives_and_a_new_python_record_redoes_nothing(tmp_path):
    first, out, cache = tmp_path / "chana", tmp_path / "out", tmp_path / "cache"
    tiny(first, "alpha", depends=["python >=3.8"])
    build(Spec(name="python", version="3.12.0", build="h0_0", subdir="linux-64",
               index={"name": "python", "version": "3.12.0", "build": "h0_0", "build_number": 0,
                      "subdir": "linux-64", "depends": [], "license": "PSF", "timestamp": 1700000000000}),
          first / "linux-64", ".conda")
    assert run(first, out, cache)[0].ok
    build(Spec(name="python", version="3.12.1", build="h0_0", subdir="linux-64",
               index={"name": "python", "version": "3.12.1", "build": "h0_0", "build_number": 0,
                      "subdir": "linux-64", "depends": [], "license": "PSF", "timestamp": 1700000000000}),
          first / "linux-64", ".conda")
    assert statuses(run(first, out, cache)[0])["alpha"] == "up to date"  # the solve's python is virtual
    moved = tmp_path / "chanb"
    first.rename(moved)  # the default native prefix is the channel's name: names may change
    assert statuses(run(moved, out, cache)[0])["alpha"] == "converted"


def test_a_job_that_failed_validation_is_not_up_to_date(tmp_path):
    channel, out, cache = tmp_path / "channel", tmp_path / "out", tmp_path / "cache"
    tiny(channel, "broken", module=b"raise ImportError('boom at import')\n")
    tiny(channel, "fine", module=b"VALUE = 1\n")
    first = run(channel, out, cache, validate=True)[0]
    assert statuses(first) == {"broken": "failed", "fine": "converted"}
    again = run(channel, out, cache, validate=True)[0]
    assert statuses(again) == {"broken": "failed", "fine": "up to date"} and not again.ok
    tiny(channel, "other")
    unvalidated = run(channel, out, cache)[0]  # converted without --validate: redone when it is asked for
    assert statuses(unvalidated)["other"] == "converted"
    assert statuses(run(channel, out, cache, validate=True)[0])["other"] == "converted"
