"""What a fat wheel vendors (issue 11, item 7): --exclude, --include-dev and
the vendored bytes per conda package, on the real zstandard closure."""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, HOTFIX, make_venv, run_in, run_press, uv_install


def _fat_zstandard(tmp_path, cache_dir, name, *args):
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--repodata-patch",
                       str(HOTFIX), "--no-validate", "--fatten", "-w", str(tmp_path / name), "--json", "-q", *args,
                       "zstandard", cache=cache_dir, check=True)
    wheel = next(w for w in json.loads(result.stdout)["wheels"] if w["name"] == "zstandard")
    with zipfile.ZipFile(wheel["path"]) as archive:
        return wheel, archive.namelist()


@pytest.mark.slow
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


@pytest.mark.slow
def test_krb5_plugins_keep_their_names_and_load(tmp_path, cache_dir, py312):
    """krb5 opens its preauth modules by file name from its plugin directory:
    a fat wheel keeps them as they are (only DT_NEEDED libraries are renamed),
    validation dlopens every vendored library, and kinit loads pkinit."""
    out = tmp_path / "out"
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--repodata-patch",
                       str(HOTFIX), "--fatten", "-w", str(out), "--json", "-q", "krb5", cache=cache_dir, check=True)
    (wheel,) = json.loads(result.stdout)["wheels"]
    assert wheel["validation"]["status"] == "passed", wheel["validation"]
    with zipfile.ZipFile(wheel["path"]) as archive:
        names = archive.namelist()
    plugins = sorted(n.rsplit("/plugins/", 1)[1] for n in names if "/lib/krb5/plugins/" in n)
    assert {"preauth/pkinit.so", "preauth/otp.so", "preauth/spake.so", "tls/k5tls.so", "kdb/db2.so"} <= set(plugins)
    assert any(re.search(r"lib/libkrb5-[0-9a-f]{8}\.so\.3$", n) for n in names)  # NEEDed: renamed
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, "--find-links", str(out), "conda-forge-krb5")
    site = run_in(python, "import sysconfig; print(sysconfig.get_path('platlib'))", tmp_path).strip()
    conf = tmp_path / "krb5.conf"
    conf.write_text("[libdefaults]\n    default_realm = EXAMPLE.COM\n"
                    f"    plugin_base_dir = {site}/conda_forge_krb5.libs/lib/krb5/plugins\n"
                    "[realms]\n    EXAMPLE.COM = {\n        kdc = 127.0.0.1:9\n    }\n")
    env = dict(os.environ, KRB5_CONFIG=str(conf), KRB5_TRACE="/dev/stderr")
    kinit = subprocess.run([str(python.parent / "kinit"), "user@EXAMPLE.COM"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, env=env, timeout=60)
    assert "Getting initial credentials for user@EXAMPLE.COM" in kinit.stderr, kinit.stderr
    assert "Error loading plugin module" not in kinit.stderr, kinit.stderr
    assert "Cannot contact any KDC" in kinit.stderr  # it got as far as the (absent) KDC
    # Prefix placeholders: ncurses finds its terminfo through TERMINFO_DIRS (set by the
    # launcher), krb5-config finds its prefix from its own place.
    covered = {arc.split(".libs/", 1)[1]: how for arc, mode, how in wheel["placeholders"]}
    assert [how for arc, how in covered.items() if "/libtinfo-" in arc] == ["environment: TERMINFO_DIRS"]
    assert covered["bin/krb5-config"] == "rewritten: found from $0"
    assert covered["lib/pkgconfig/krb5.pc"] == "rewritten: ${pcfiledir}"
    ktutil = subprocess.run([str(python.parent / "ktutil")], input="list\nquit\n", capture_output=True, text=True,
                            env=dict(os.environ, TERM="xterm"), timeout=60)
    assert ktutil.returncode == 0 and "slot KVNO Principal" in ktutil.stdout
    assert "termcap" not in ktutil.stderr and "terminfo" not in ktutil.stderr, ktutil.stderr
    klist = subprocess.run([str(python.parent / "klist")], capture_output=True, text=True, env=env, timeout=60)
    assert "placehold" not in klist.stderr and "No credentials cache found" in klist.stderr, klist.stderr
    config = subprocess.run([str(python.parent / "krb5-config"), "--prefix"], capture_output=True, text=True, check=True)
    assert Path(config.stdout.strip()) == (Path(site) / "conda_forge_krb5.libs").resolve()


def test_validation_reports_a_vendored_library_that_does_not_load(tmp_path):
    """A library whose own dependency is gone (a plugin renamed away, a
    library excluded) loads neither by DT_NEEDED nor by dlopen: validation's
    loader names it."""
    import sys

    from press.validate import load_shared_objects

    libs = tmp_path / "site" / "demo.libs"
    libs.mkdir(parents=True)
    (tmp_path / "gone.c").write_text("int gone(void) { return 1; }\n")
    (tmp_path / "need.c").write_text("int gone(void);\nint need(void) { return gone(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libgone.so"), str(tmp_path / "gone.c")], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(libs / "libneed.so"), str(tmp_path / "need.c"),
                    f"-L{tmp_path}", "-lgone"], check=True)
    (tmp_path / "libgone.so").unlink()
    problems = load_shared_objects(Path(sys.executable), tmp_path / "site", [libs / "libneed.so"], dict(os.environ),
                                   tmp_path)
    assert len(problems) == 1 and problems[0].startswith("demo.libs/libneed.so does not load: libgone.so")
