"""Done-when 5: each bad input gives one clear message naming the package,
a non-zero exit, and no wheel (nor temporary file) in the wheel directory."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, run_press

CFFI = CONDA_FORGE / "linux-64" / "cffi-1.17.1-py312h06ac9bb_0.conda"
LIBFFI = CONDA_FORGE / "linux-64" / "libffi-3.4.2-h7f98852_5.tar.bz2"


def _assert_refused(result, out: Path, *needles: str) -> None:
    assert result.returncode != 0
    assert "press: error:" in result.stderr, result.stderr
    message = result.stderr[result.stderr.index("press: error:"):]
    assert message.count("press: error:") == 1
    for needle in needles:
        assert needle in message, message
    assert "Traceback" not in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_unknown_spec(tmp_path, cache_dir):
    out = tmp_path / "out"
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "-w", str(out),
                       "no-such-package-anywhere", cache=cache_dir)
    _assert_refused(result, out, "no-such-package-anywhere", "no package matching")


def test_spec_that_does_not_parse(tmp_path, cache_dir):
    out = tmp_path / "out"
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "-w", str(out), "cffi >=>1", cache=cache_dir)
    _assert_refused(result, out, "cffi >=>1", "MatchSpec")


def test_unsolvable_closure(tmp_path, cache_dir):
    # cffi in the sample is built for 3.12 only: a 3.11 target cannot be satisfied, and the
    # error says which Pythons the channel has.
    out = tmp_path / "out"
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.11", "-w", str(out),
                       "cffi", cache=cache_dir)
    _assert_refused(result, out, "cffi", "no build of cffi for Python 3.11", "builds for Python 3.12")


@pytest.mark.parametrize("cut", [0.5, 0.97])
def test_truncated_archive(tmp_path, cache_dir, cut):
    for source in (CFFI, LIBFFI):
        broken = tmp_path / source.name
        data = source.read_bytes()
        broken.write_bytes(data[: int(len(data) * cut)])
        out = tmp_path / f"out-{source.name}"
        result = run_press("--subdir", "linux-64", "-w", str(out), "--no-validate", str(broken), cache=cache_dir)
        _assert_refused(result, out, source.name, "corrupt or truncated")


def test_not_an_archive(tmp_path, cache_dir):
    fake = tmp_path / "fake-1.0-0.conda"
    fake.write_bytes(b"this is not a zip file at all")
    out = tmp_path / "out"
    result = run_press("-w", str(out), "--no-validate", str(fake), cache=cache_dir)
    _assert_refused(result, out, "fake-1.0-0.conda", "corrupt or truncated")


@pytest.mark.parametrize("fmt", [".conda", ".tar.bz2"])
@pytest.mark.parametrize("key,reason", [("abspath", "is absolute"), ("dotdot", "'..' component")])
def test_hostile_members_refused(tmp_path, cache_dir, fixture_packages, fmt, key, reason):
    escaped = Path("/tmp/press-fx-escaped")
    escaped.unlink(missing_ok=True)
    out = tmp_path / "out"
    artifact = fixture_packages[key + fmt]
    result = run_press("-w", str(out), "--no-validate", str(artifact), cache=cache_dir)
    _assert_refused(result, out, artifact.name, reason)
    assert not escaped.exists()
    assert not (tmp_path.parent / "press-fx-escaped").exists()


@pytest.mark.parametrize("fmt", [".conda", ".tar.bz2"])
def test_version_without_pep440_form(tmp_path, cache_dir, fixture_packages, fmt):
    out = tmp_path / "out"
    result = run_press("-w", str(out), "--no-validate", str(fixture_packages["badversion" + fmt]), cache=cache_dir)
    _assert_refused(result, out, "press-fx-badversion", "1.0.0_weird.x", "PEP 440")


@pytest.mark.parametrize("fmt", [".conda", ".tar.bz2"])
def test_activation_script_may_not_set_loader_variables(tmp_path, cache_dir, fixture_packages, fmt):
    """An activate.d script exporting LD_PRELOAD into the prefix: the variable
    is not on press's allow-list (press/data/environment.json), so no module
    of the wheel sets it, and the report says so."""
    out = tmp_path / "out"
    result = run_press("-w", str(out), "--no-validate", "--json", str(fixture_packages["badenv" + fmt]),
                       cache=cache_dir)
    assert result.returncode == 0, result.stderr
    (wheel,) = json.loads(result.stdout)["wheels"]
    assert any("LD_PRELOAD" in note and "allow-list" in note for note in wheel["notes"]), wheel["notes"]
    with zipfile.ZipFile(wheel["path"]) as archive:
        assert not any(b"LD_PRELOAD" in archive.read(n) for n in archive.namelist() if n.endswith(".py"))


def test_missing_artifact_file(tmp_path, cache_dir):
    out = tmp_path / "out"
    result = run_press("-w", str(out), str(tmp_path / "nothing-1.0-0.conda"), cache=cache_dir)
    _assert_refused(result, out, "nothing-1.0-0.conda")
