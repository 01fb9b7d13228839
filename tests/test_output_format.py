"""press.jobstate.OUTPUT_FORMAT is bumped exactly when output changes (issue 24).

A batch keys each job on OUTPUT_FORMAT, not on press's version, so a mirror
keeps its wheels across a release that makes the same bytes. That promise
holds only if every change of output bumps it: this test converts reference
inputs (thin: a noarch package, an extension, native libraries; fat: cffi)
and compares the wheels with tests/data/output-digests.json, recorded with
the OUTPUT_FORMAT they were made under. Digests cover every member's name,
zip metadata and content except press's own version stamps (``Generator`` in
WHEEL, the SBOM's tool version) and RECORD (which hashes those). When it
fails: if the change of output is intended, bump OUTPUT_FORMAT and record
again with ``PRESS_RECORD_OUTPUT=1 pytest tests/test_output_format.py -m slow``;
``bench/compare_output.py`` shows what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, HOTFIX, ROOT, run_press

from press import __version__
from press.jobstate import OUTPUT_FORMAT

DIGESTS = ROOT / "tests" / "data" / "output-digests.json"
THIN = ["linux-64/cffi-1.17.1-py312h06ac9bb_0.conda", "linux-64/libffi-3.4.2-h7f98852_5.tar.bz2",
        "linux-64/zstd-1.5.6-ha6fb4c9_0.conda", "linux-64/openssl-3.4.0-h7b32b05_1.conda",
        "noarch/pycparser-2.22-pyh29332c3_1.conda", "noarch/tqdm-4.67.1-pyhd8ed1ab_1.conda"]


def output_digest(wheel: Path) -> str:
    """sha256 over the wheel's members (name, date, mode, compression, content), version stamps masked."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".dist-info/RECORD"):
                continue
            data = archive.read(info)
            if info.filename.endswith(".dist-info/WHEEL") or "/sboms/" in info.filename:
                data = data.replace(f"press {__version__}".encode(), b"press VERSION")
                data = data.replace(f'"{__version__}"'.encode(), b'"VERSION"')
            digest.update(json.dumps([info.filename, info.date_time, info.external_attr, info.compress_type,
                                      hashlib.sha256(data).hexdigest()]).encode())
    return digest.hexdigest()


@pytest.mark.slow
def test_output_bytes_change_only_with_the_output_format(tmp_path, cache_dir):
    common = ("--subdir", "linux-64", "--python", "3.12", "--no-validate", "-q", "--repodata-patch", str(HOTFIX))
    run_press(*common, "-w", str(tmp_path / "thin"), *(str(CONDA_FORGE / p) for p in THIN), cache=cache_dir,
              check=True)
    run_press(*common, "-c", str(CONDA_FORGE), "--fatten", "-w", str(tmp_path / "fat"), "cffi", cache=cache_dir,
              check=True)
    found = {f"{p.parent.name}/{p.name}": output_digest(p) for p in sorted(tmp_path.glob("*/*.whl"))}
    assert len(found) >= len(THIN) + 1
    if os.environ.get("PRESS_RECORD_OUTPUT"):
        DIGESTS.write_text(json.dumps({"output_format": OUTPUT_FORMAT, "wheels": found}, indent=1, sort_keys=True)
                           + "\n")
    recorded = json.loads(DIGESTS.read_text())
    changed = sorted(n for n in set(found) | set(recorded["wheels"]) if found.get(n) != recorded["wheels"].get(n))
    if recorded["output_format"] == OUTPUT_FORMAT:
        assert not changed, (f"output changed ({', '.join(changed)}) but press.jobstate.OUTPUT_FORMAT is still "
                             f"{OUTPUT_FORMAT}: bump it (mirrors would keep stale wheels), then record again "
                             "(see this module's docstring)")
    else:
        pytest.fail(f"OUTPUT_FORMAT is {OUTPUT_FORMAT} but the digests were recorded under "
                    f"{recorded['output_format']}: record them again (see this module's docstring)")
