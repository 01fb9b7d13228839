"""Validation is the same everywhere and blames correctly (issue 21, item 7):
``press`` (one spec) and ``press channel --validate`` (a batch) give one record
the same verdict, test requirements included; a bad installed file fails the
wheel whose RECORD lists it, its dependents fail as "dependency X failed";
validation that cannot run is a failure with the remedy, never a skip."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import run_press
from test_batch import press_channel


def _single(channel: Path, spec: str, out: Path, cache: Path, *args: str, env: dict | None = None) -> dict:
    result = run_press("-c", str(channel), "--subdir", "linux-64", "--python", "3.12", "-w", str(out), "--json",
                       "-q", *args, spec, cache=cache, env=env)
    report = json.loads(result.stdout)
    report["returncode"] = result.returncode
    return report


def _batch(channel: Path, name: str, out: Path, cache: Path, *args: str, env: dict | None = None) -> dict:
    result = press_channel(str(channel), out, cache, "-n", name, "-j", "1", "--validate", *args, env=env)
    report = json.loads(result.stdout)
    report["returncode"] = result.returncode
    return report


def _conda_results(report: dict) -> dict[str, dict]:
    return {r["artifact"]: r for r in report["results"] if r["artifact"].endswith(".conda")}


def test_test_requirements_same_verdict_in_spec_and_batch_mode(fixture_packages, tmp_path, cache_dir):
    """press-fx-testreq's import tests need press-fx-testdep (in the channel)
    and press-fx-absent (nowhere): both modes install the first and skip the
    import needing the second. The batch used to fail the wheel
    ("No module named 'press_fx_testdep'") where spec mode passed it."""
    channel = fixture_packages["channel"]
    single = _single(channel, "press-fx-testreq", tmp_path / "single", cache_dir)
    (wheel,) = single["wheels"]
    assert single["returncode"] == 0 and wheel["validation"]["status"] == "passed", wheel["validation"]
    skipped = wheel["validation"]["skipped_imports"]
    assert skipped == ["press_fx_testreq.extra (needs press-fx-absent)"]

    batch = _batch(channel, "press-fx-testreq", tmp_path / "batch", cache_dir)
    (result,) = _conda_results(batch).values()
    assert batch["returncode"] == 0 and result["status"] == "converted", result
    assert result["notes"] == [f"{Path(wheel['path']).name}: validation passed "
                               f"(import skipped: {skipped[0]})"]
    # the scratch wheels of the test requirements stay out of the wheelhouse
    assert sorted(p.name for p in (tmp_path / "batch").glob("*.whl")) == [Path(wheel["path"]).name]


@pytest.mark.slow
def test_bad_file_blamed_on_the_wheel_that_holds_it(fixture_packages, tmp_path, cache_dir):
    """press-fx-blamed ships a test-fixture extension built for CPython 3.4
    (jedi's module.cpython-34m.so); press-fx-blame-app only depends on it.
    In both modes the wheel holding the file fails naming the file, the
    dependent fails as "dependency press-fx-blamed failed"."""
    channel = fixture_packages["channel"]
    bad = "press_fx_blamed/tests/module.cpython-34m.so is built for cp34, the target is cp312"
    single = _single(channel, "press-fx-blame-app", tmp_path / "single", cache_dir)
    verdicts = {w["name"]: w["validation"] for w in single["wheels"]}
    assert single["returncode"] == 1
    assert verdicts["press-fx-blamed"] == {**verdicts["press-fx-blamed"], "status": "failed", "reason": bad}
    assert verdicts["press-fx-blame-app"]["status"] == "failed"
    assert verdicts["press-fx-blame-app"]["reason"] == f"dependency press-fx-blamed failed: {bad}"

    batch = _batch(channel, "press-fx-blame*", tmp_path / "batch", cache_dir)
    results = _conda_results(batch)
    assert batch["returncode"] == 1
    assert results["press-fx-blamed-1.0-0.conda"]["reason"] == f"validation failed: {bad}"
    assert (results["press-fx-blame-app-1.0-0.conda"]["reason"]
            == f"validation failed: dependency press-fx-blamed failed: {bad}")


def test_validation_that_cannot_run_fails_with_the_remedy(fixture_packages, tmp_path, cache_dir):
    """No installer (PRESS_INSTALLER names none) and no interpreter for the
    requested Python: a failed validation (exit 1) whose reason says what to
    do, in spec and batch mode; so is the wheelhouse check without an installer."""
    channel = fixture_packages["channel"]
    none = {"PRESS_INSTALLER": "conda"}
    single = _single(channel, "press-fx-testdep", tmp_path / "single", cache_dir, env=none)
    (wheel,) = single["wheels"]
    assert single["returncode"] == 1 and not single["ok"]
    assert wheel["validation"]["status"] == "failed"
    assert wheel["validation"]["reason"] == "PRESS_INSTALLER='conda': expected uv or pip, or --no-validate"
    assert single["unresolvable"] == ["the wheelhouse check cannot run: PRESS_INSTALLER='conda': expected uv or "
                                      "pip, or --no-wheelhouse-check"]
    batch = _batch(channel, "press-fx-testdep", tmp_path / "batch", cache_dir, env=none)
    (result,) = _conda_results(batch).values()
    assert batch["returncode"] == 1 and result["status"] == "failed"
    assert result["reason"] == "validation failed: PRESS_INSTALLER='conda': expected uv or pip, or --no-validate"
    unchecked = press_channel(str(channel), tmp_path / "unchecked", cache_dir, "-n", "press-fx-testdep", env=none)
    (result,) = _conda_results(json.loads(unchecked.stdout)).values()
    assert unchecked.returncode == 1 and result["status"] == "failed"
    assert "wheelhouse check cannot run" in result["reason"] and "--no-wheelhouse-check" in result["reason"]

    # no CPython 2.5 anywhere: a pure wheel converted for it cannot be validated
    artifact = fixture_packages["testdep.conda"]
    missing = run_press("--subdir", "linux-64", "--python", "2.5", "--no-wheelhouse-check", "-w",
                        str(tmp_path / "py25"), "--json", "-q", str(artifact), cache=cache_dir)
    (wheel,) = json.loads(missing.stdout)["wheels"]
    assert missing.returncode == 1, missing.stderr
    assert wheel["validation"]["status"] == "failed"
    assert wheel["validation"]["reason"].startswith("no CPython 2.5 found to validate with: install it")
    assert "--python-exe" in wheel["validation"]["reason"] and "--no-validate" in wheel["validation"]["reason"]
    assert sys.version_info[:2] != (2, 5)
