"""One record, one wheel: the same artifact converted from a spec, from its
artifact file and in a batch gives the same bytes (its name, Requires-Dist,
RUNPATHs and library names are decided by one plan: press/plan.py,
press/closure.py), on a Linux closure with native libraries and on a Windows
package whose dependency is an alias."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CFFI_CLOSURE, CHANNELS, ROOT, copy_channel


def _press(*args: str, cache: Path) -> dict:
    result = subprocess.run([sys.executable, "-m", "press", *args, "--cache-dir", str(cache), "--json", "-q"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("channel_name, subdir, python, package, artifact", [
    ("conda-forge", "linux-64", "3.12", "cffi", "linux-64/cffi-1.17.1-py312h06ac9bb_0.conda"),
    pytest.param("defaults", "win-64", "3.11", "pydantic-core", "win-64/pydantic-core-2.27.1-py311h636fa0f_0.conda",
                 marks=pytest.mark.slow),  # the alias case; cffi's covers the modes in the default run
])
def test_spec_artifact_file_and_batch_write_the_same_wheel(tmp_path, cache_dir, channel_name, subdir, python, package,
                                                           artifact):
    if channel_name == "conda-forge":
        channel = copy_channel(tmp_path / "conda-forge", CFFI_CLOSURE)
    else:
        channel = CHANNELS / channel_name
    common = ["--subdir", subdir, "--python", python, "--no-validate"]
    spec = _press("-c", str(channel), *common, "-w", str(tmp_path / "spec"), package, cache=cache_dir)
    file = _press("-c", str(channel), *common, "-w", str(tmp_path / "file"), str(channel / artifact), cache=cache_dir)
    batch = _press("channel", str(channel), "--subdir", subdir, "--python", python, "-w", str(tmp_path / "batch"),
                   "-n", package, "--no-wheelhouse-check", "-j", "1", cache=cache_dir)
    (from_spec,) = [w for w in spec["wheels"] if w["conda_packages"][0] == Path(artifact).name]
    (from_file,) = file["wheels"]
    (result,) = [r for r in batch["results"] if r["artifact"] == Path(artifact).name]
    assert result["status"] == "converted" and len(result["wheels"]) == 1, result
    name = Path(from_spec["path"]).name
    assert Path(from_file["path"]).name == name == result["wheels"][0]
    assert from_spec["requires_dist"] == from_file["requires_dist"]
    if package == "pydantic-core":  # the alias typing-extensions becomes the package it stands for, in every mode
        assert "typing_extensions!=4.7.0,>=4.6.0" in {r.replace(">=4.6.0,!=4.7.0", "!=4.7.0,>=4.6.0")
                                                       for r in from_spec["requires_dist"]}, from_spec["requires_dist"]
    wheels = [tmp_path / "spec" / name, tmp_path / "file" / name, tmp_path / "batch" / name]
    assert len({w.read_bytes() for w in wheels}) == 1, "the three modes wrote different bytes"
