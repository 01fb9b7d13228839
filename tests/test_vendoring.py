"""What a fat wheel vendors (issue 11, item 7): --exclude, --include-dev and
the vendored bytes per conda package, on the real zstandard closure."""

from __future__ import annotations

import json
import zipfile

from conftest import CONDA_FORGE, HOTFIX, run_press


def _fat_zstandard(tmp_path, cache_dir, name, *args):
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--repodata-patch",
                       str(HOTFIX), "--no-validate", "--fatten", "-w", str(tmp_path / name), "--json", "-q", *args,
                       "zstandard", cache=cache_dir, check=True)
    wheel = next(w for w in json.loads(result.stdout)["wheels"] if w["name"] == "zstandard")
    with zipfile.ZipFile(wheel["path"]) as archive:
        return wheel, archive.namelist()


def test_exclude_and_include_dev(tmp_path, cache_dir):
    plain, names = _fat_zstandard(tmp_path, cache_dir, "plain")
    assert any(n.startswith("zstandard.libs/lib/libzstd-") for n in names)
    assert not any("/include/" in n for n in names)  # vendored headers are left out by default
    assert set(plain["vendored_bytes"]) == {"zstd-1.5.6-ha6fb4c9_0"} and plain["vendored_bytes"]["zstd-1.5.6-ha6fb4c9_0"] > 0
    excluded, names = _fat_zstandard(tmp_path, cache_dir, "excluded", "--exclude", "libzstd.so.*", "--include-dev")
    assert not any(".so" in n and "libzstd" in n for n in names)  # the library itself is not vendored
    links = {lib: where for deps in excluded["dependencies"].values() for lib, where in deps.items()}
    assert links["libzstd.so.1"] == "excluded"  # expected on the target system, as auditwheel's --exclude
    assert excluded["tags"].endswith("manylinux_2_17_x86_64")  # not linux_x86_64: it does not count for the tag
    assert any(n.startswith("zstandard.libs/include/zstd") for n in names)  # --include-dev keeps headers
