"""Cases the real sample lacks, on packages built from recipes-fixtures/:
prefix placeholders and activation variables, plugins opened by path, test
requirements, symlinked libraries, executables as commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import make_venv, run_press, uv_install


def _convert(artifact, out, cache):
    result = run_press("--subdir", "linux-64", "--python", "3.12", "--no-validate", "-w", str(out), "--json", "-q",
                       str(artifact), cache=cache, check=True)
    return json.loads(result.stdout)["wheels"][0]


def test_symlinked_library_stored_once_and_executable_runs(fixture_packages, tmp_path, cache_dir, py312):
    wheel = _convert(fixture_packages["symlinks.conda"], tmp_path / "out", cache_dir)
    with zipfile.ZipFile(wheel["path"]) as archive:
        names = archive.namelist()
        libs = [n for n in names if "libpressln" in n and archive.read(n)[:4] == b"\x7fELF"]
        assert libs == ["fixtures_press_fx_symlinks.libs/lib/libpressln.so.1"]
        payload = archive.read(libs[0])
        # the package's other names for it are linker scripts (docs/layout.md, native-library wheels)
        assert all(archive.read(n).endswith(b"INPUT(libpressln.so.1)\n") for n in names
                   if "libpressln" in n and n not in libs)
    assert payload[:4] == b"\x7fELF"
    assert wheel["tags"].startswith("py3-none-manylinux_")
    assert "press-fx-ln" in wheel["commands"]
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, wheel["path"])
    run = subprocess.run([str(tmp_path / "venv" / "bin" / "press-fx-ln")], capture_output=True, text=True)
    assert run.returncode == 0 and "123" in run.stdout


def test_placeholders_handled_and_reported(fixture_packages, tmp_path, cache_dir, py312):
    """Text placeholders are rewritten where the format finds its own place
    (pkg-config's ${pcfiledir}, a shell script's $0), a binary whose data
    path an activate.d variable covers gets that variable from the launcher,
    and what cannot be fixed is reported as unresolved."""
    wheel = _convert(fixture_packages["placeholder.tar.bz2"], tmp_path / "out", cache_dir)
    libs = "fixtures_press_fx_placeholder.libs"
    reported = {path: (mode, how) for path, mode, how in wheel["placeholders"]}
    assert reported == {
        f"{libs}/bin/press-fx-hello": ("text", "rewritten: found from $0"),
        f"{libs}/bin/press-fx-quoted": ("text", "unresolved"),  # in single quotes: no shell expands it
        f"{libs}/lib/pkgconfig/press-fx.pc": ("text", "rewritten: ${pcfiledir}"),
        f"{libs}/bin/press-fx-data": ("binary", "environment: PRESS_FX_DATA"),
        f"{libs}/lib/libpressfx.so.1": ("binary", "unresolved"),  # names <prefix>/etc: no variable covers it
    }
    with zipfile.ZipFile(wheel["path"]) as archive:
        names = archive.namelist()
        script = [n for n in names if n.endswith(".data/scripts/press-fx-py")]
        assert script and archive.read(script[0]).startswith(b"#!python\n")
        assert fixture_packages["PLACEHOLDER"].encode() not in archive.read(script[0]).split(b"\n")[0]
        assert not any("activate.d" in n for n in names)  # conda's hooks are not shipped
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, wheel["path"])
    bin_dir = tmp_path / "venv" / "bin"
    first = (bin_dir / "press-fx-py").read_text().splitlines()[0]
    assert first == f"#!{python}"
    site = next((tmp_path / "venv" / "lib").glob("python3.12/site-packages"))
    hello = subprocess.run([str(bin_dir / "press-fx-hello")], capture_output=True, text=True)
    assert hello.returncode == 0, hello.stderr
    assert hello.stdout.splitlines() == [f"prefix={site.resolve() / libs}", "hello from press-fx-placeholder"]
    env = {k: v for k, v in os.environ.items() if k != "PRESS_FX_DATA"}
    data = subprocess.run([str(bin_dir / "press-fx-data")], capture_output=True, text=True, env=env)
    assert (data.returncode, data.stdout) == (0, "hello from press-fx-placeholder\n"), data.stderr
    mine = subprocess.run([str(bin_dir / "press-fx-data")], capture_output=True, text=True,
                          env=dict(env, PRESS_FX_DATA=str(tmp_path)))
    assert mine.returncode == 1 and str(tmp_path) in mine.stderr  # the user's value is never overridden
    quoted = subprocess.run([str(bin_dir / "press-fx-quoted")], capture_output=True, text=True)
    assert quoted.returncode != 0 and fixture_packages["PLACEHOLDER"] in quoted.stderr
    pkg_config = shutil.which("pkg-config") or shutil.which("pkgconf")
    if pkg_config:
        libs_flags = subprocess.run([pkg_config, "--libs", "press-fx"], capture_output=True, text=True, check=True,
                                    env=dict(env, PKG_CONFIG_PATH=str(site / libs / "lib" / "pkgconfig")))
        lib_dir = libs_flags.stdout.split()[0][2:]
        assert Path(lib_dir).resolve() == (site / libs / "lib").resolve()


def test_noarch_entry_point_becomes_console_script(fixture_packages, tmp_path, cache_dir, py312):
    wheel = _convert(fixture_packages["purepy.conda"], tmp_path / "out", cache_dir)
    assert wheel["tags"] == "py3-none-any" and wheel["name"] == "press-fx-purepy"
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, wheel["path"])
    run = subprocess.run([str(tmp_path / "venv" / "bin" / "press-fx-purepy")], capture_output=True, text=True)
    assert run.stdout.strip() == "press-fx-purepy ok"


def test_human_summary_says_how_many_files_hold_the_prefix(fixture_packages, tmp_path, cache_dir):
    result = run_press("--subdir", "linux-64", "--python", "3.12", "--no-validate", "-w", str(tmp_path / "out"), "-q",
                       str(fixture_packages["placeholder.conda"]), cache=cache_dir, check=True)
    assert "2 files still hold the conda build prefix" in result.stdout
    assert "still pointing at the build prefix: fixtures_press_fx_placeholder.libs/bin/press-fx-quoted, " in result.stdout
    assert "1 rewritten (${pcfiledir})" in result.stdout and "(PRESS_FX_DATA)" in result.stdout


def test_test_requirements_installed_or_import_skipped(fixture_packages, tmp_path, cache_dir):
    """A recipe test importing test-only requirements (ipykernel's
    matplotlib-inline shape): what the channel has is converted and installed
    in the validation venv, what no channel has turns the import that needs it
    into "skipped (needs X)", never a failure; the wheel directory gets only
    the requested wheel."""
    channel = fixture_packages["testreq.conda"].parent.parent
    out = tmp_path / "out"
    result = run_press("-c", str(channel), "--subdir", "linux-64", "--python", "3.12", "--fatten", "-w", str(out),
                       "--json", "-q", "press-fx-testreq", cache=cache_dir)
    report = json.loads(result.stdout)
    (wheel,) = report["wheels"]
    assert result.returncode == 0 and report["ok"], wheel["validation"]
    assert wheel["test_requires"] == ["press-fx-testdep", "press-fx-absent"]  # python and pip are not installed
    validation = wheel["validation"]
    assert validation["status"] == "passed"
    assert validation["skipped_imports"] == ["press_fx_testreq.extra (needs press-fx-absent)"]
    assert "press_fx_testreq.backend" in validation["imports"]  # ran, with press-fx-testdep installed
    assert sorted(p.name for p in out.glob("*.whl")) == [Path(wheel["path"]).name]
    human = run_press("-c", str(channel), "--subdir", "linux-64", "--python", "3.12", "-w", str(tmp_path / "again"),
                      "-q", "press-fx-testreq", cache=cache_dir, check=True)
    assert "validation passed (1 import skipped: press_fx_testreq.extra (needs press-fx-absent))" in human.stdout


@pytest.mark.parametrize("mode", ["thin", "fat"])
def test_plugin_opened_by_path_keeps_its_name_and_loads(fixture_packages, tmp_path, cache_dir, py312, mode):
    """A plugin nothing NEEDs keeps its file name and directory (its host
    opens it by path); the library it NEEDs is relocated (renamed in fat
    wheels) and still found; validation dlopens it; the host runs."""
    fat = ["--fatten"] if mode == "fat" else []
    result = run_press("--subdir", "linux-64", "--python", "3.12", *fat, "-w", str(tmp_path / "out"), "--json", "-q",
                       str(fixture_packages["plugin.conda"]), cache=cache_dir, check=True)
    (wheel,) = json.loads(result.stdout)["wheels"]
    assert wheel["validation"]["status"] == "passed", wheel["validation"]
    libs = "fixtures_press_fx_plugin.libs"
    plugin = f"{libs}/lib/press-fx/plugins/fxplug.so"
    resolved = wheel["dependencies"][plugin]["libfxplugdep.so.1"]
    assert resolved.startswith(f"{libs}/lib/libfxplugdep")
    assert (resolved != f"{libs}/lib/libfxplugdep.so.1") == (mode == "fat")  # content-hashed when vendored fat
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, wheel["path"])
    run = subprocess.run([str(tmp_path / "venv" / "bin" / "press-fx-plughost")], capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (0, "plugin answered 42\n"), run.stderr
