"""Cases the real sample lacks, on packages built from recipes-fixtures/:
prefix placeholders, symlinked libraries, executables as commands."""

from __future__ import annotations

import json
import subprocess
import zipfile

from conftest import make_venv, run_press, uv_install


def _convert(artifact, out, cache):
    result = run_press("--subdir", "linux-64", "--python", "3.12", "--no-validate", "-w", str(out), "--json", "-q",
                       str(artifact), cache=cache, check=True)
    return json.loads(result.stdout)["wheels"][0]


def test_symlinked_library_stored_once_and_executable_runs(fixture_packages, tmp_path, cache_dir, py312):
    wheel = _convert(fixture_packages["symlinks.conda"], tmp_path / "out", cache_dir)
    with zipfile.ZipFile(wheel["path"]) as archive:
        names = archive.namelist()
        libs = [n for n in names if "libpressln" in n]
        assert libs == ["fixtures_press_fx_symlinks.libs/lib/libpressln.so.1"]
        payload = archive.read(libs[0])
    assert payload[:4] == b"\x7fELF"
    assert wheel["tags"].startswith("py3-none-manylinux_")
    assert "press-fx-ln" in wheel["commands"]
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, wheel["path"])
    run = subprocess.run([str(tmp_path / "venv" / "bin" / "press-fx-ln")], capture_output=True, text=True)
    assert run.returncode == 0 and "123" in run.stdout


def test_placeholders_handled_and_reported(fixture_packages, tmp_path, cache_dir, py312):
    wheel = _convert(fixture_packages["placeholder.tar.bz2"], tmp_path / "out", cache_dir)
    reported = {path: mode for path, mode in wheel["placeholders"]}
    assert reported == {
        "fixtures_press_fx_placeholder.libs/bin/press-fx-hello": "text",
        "fixtures_press_fx_placeholder.libs/lib/libpressfx.so.1": "binary",
    }
    with zipfile.ZipFile(wheel["path"]) as archive:
        script = [n for n in archive.namelist() if n.endswith(".data/scripts/press-fx-py")]
        assert script and archive.read(script[0]).startswith(b"#!python\n")
        assert fixture_packages["PLACEHOLDER"].encode() not in archive.read(script[0]).split(b"\n")[0]
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, wheel["path"])
    first = (tmp_path / "venv" / "bin" / "press-fx-py").read_text().splitlines()[0]
    assert first == f"#!{python}"


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
