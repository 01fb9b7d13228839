"""Valid input stays valid (issue 21, item 8): each refusal rule of the
validation boundary this touches is checked against a real package it must
accept, beside the hostile values it must still refuse.

- Entry point names follow the entry points specification per group: any
  name without ``=`` for plugins (Mako's ``[pygments.lexers] html+mako``),
  file-name-safe names only for ``console_scripts``/``gui_scripts``.
- conda-build 2.x's ``test: requires: ''`` is an empty list.
- ``python_abi`` and ``pip`` are virtual in the solve when the channels lack them.
- A package held both as ``.conda`` and ``.tar.bz2`` in a local channel is
  reported: conda uses the ``.conda`` file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CFFI_CLOSURE, CONDA_FORGE, ROOT, copy_channel, make_venv, run_in, run_press, uv_install
from hostile import Spec, build
from press.channel import local_index_duplicates, solve, virtual_python_abi_builds
from press.errors import InvalidInputError
from press.grammar import entry_point_name
from press.package import parse_entry_points_txt, parse_recipe_tests, parse_test_requires

FORMATS = [".conda", ".tar.bz2"]


# Entry point names ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["html+mako", "css+mako", "Jinja Template", "c++", "fx:1", "\u03bb", "a" * 200])
def test_plugin_entry_point_names_follow_the_specification(name):
    assert entry_point_name(name, "pygments.lexers") == name
    with pytest.raises(ValueError, match="console_scripts name"):  # a command needs a file-name-safe name
        entry_point_name(name)


@pytest.mark.parametrize("name", ["", "a=b", " x", "x ", "[x", "#x", ";x", "a\nb", "a\rb", "a\x00b", "a\u2028b",
                                  "a" * 201, 5, None])
def test_plugin_entry_point_names_still_refused(name):
    """``=``, leading/trailing whitespace and a leading ``[`` (the
    specification), and anything that is not one printable line."""
    with pytest.raises(ValueError):
        entry_point_name(name, "pygments.lexers")


@pytest.mark.parametrize("group", ["console_scripts", "gui_scripts"])
@pytest.mark.parametrize("name", ["../../bin/pip", "bin/pip", "a/b", "..", ".", ".hidden", "-x", "a\nb", "a b",
                                  "a\\b", "html+mako", "C:x"])
def test_script_names_stay_file_name_safe(group, name):
    with pytest.raises(ValueError, match=f"not a valid {group} name"):
        entry_point_name(name, group)


def test_entry_points_txt_of_mako_parses():
    """Mako 1.3's own entry_points.txt, as its wheel and conda package ship it."""
    text = ("[babel.extractors]\nmako = mako.ext.babelplugin:extract [babel]\n\n"
            "[console_scripts]\nmako-render = mako.cmd:cmdline\n\n"
            "[lingua.extractors]\nmako = mako.ext.linguaplugin:LinguaMakoExtractor [lingua]\n\n"
            "[pygments.lexers]\ncss+mako = mako.ext.pygmentplugin:MakoCssLexer\n"
            "html+mako = mako.ext.pygmentplugin:MakoHtmlLexer\njs+mako = mako.ext.pygmentplugin:MakoJavascriptLexer\n"
            "mako = mako.ext.pygmentplugin:MakoLexer\nxml+mako = mako.ext.pygmentplugin:MakoXmlLexer\n\n"
            "[python.templating.engines]\nmako = mako.ext.turbogears:TGPlugin\n")
    points = parse_entry_points_txt(text, "mako-1.3.8-pyhd8ed1ab_0", "entry_points.txt")
    assert ("pygments.lexers", "html+mako", "mako.ext.pygmentplugin:MakoHtmlLexer") in [
        (p.group, p.name, p.value) for p in points]
    assert len(points) == 9
    for hostile in ("[console_scripts]\nbin/pip = x:y\n", "[gui_scripts]\n.. = x:y\n", "[pygments.lexers]\n[x = x:y\n"):
        with pytest.raises(InvalidInputError, match="name"):
            parse_entry_points_txt(hostile, "p", "entry_points.txt")


@pytest.mark.parametrize("fmt", FORMATS)
def test_plugin_entry_points_reach_the_installed_wheel(fixture_packages, tmp_path, cache_dir, py312, fmt):
    """press-fx-lexer (Mako's shape: ``html+fx``, ``css+fx`` lexers, a babel
    extractor with an extra, a console script) converts, installs, and its
    plugins load through importlib.metadata; the command runs."""
    out = tmp_path / "out"
    result = run_press("--no-validate", "-w", str(out), "--json", "-q", str(fixture_packages[f"lexer{fmt}"]),
                       cache=cache_dir)
    assert result.returncode == 0, result.stderr
    (wheel,) = json.loads(result.stdout)["wheels"]
    assert wheel["commands"] == ["press-fx-lexer"]
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, wheel["path"])
    found = run_in(python, (
        "from importlib.metadata import entry_points\n"
        "for p in sorted(entry_points(group='pygments.lexers'), key=lambda p: p.name):\n"
        "    print(p.name, p.load().name)\n"
        "print(*[p.name for p in entry_points(group='babel.extractors')])\n"), tmp_path)
    assert found.splitlines() == ["css+fx CSS+fx", "html+fx HTML+fx", "fx"]
    command = subprocess.run([str(python.parent / "press-fx-lexer")], capture_output=True, text=True)
    assert command.returncode == 0 and command.stdout == "press-fx-lexer ok\n", command.stderr


# Recipe test lists ------------------------------------------------------------------------------------------------

def test_empty_recipe_lists_are_empty():
    """conda-build 2.x rendered an emptied list as ``''`` (old yaml, pyyaml);
    any other value that is not a list is still refused."""
    meta = "test:\n  imports: ''\n  requires: ''\n"
    assert parse_test_requires(meta, "yaml-0.1.6-0") == ()
    assert parse_recipe_tests(meta, None, None, "yaml-0.1.6-0") == ()
    assert parse_test_requires("test:\n  requires:\n", "p") == ()
    for value in ("pytest", "' '", "0", "false", "{}", "{a: b}"):
        with pytest.raises(InvalidInputError, match="test.requires: not a list of MatchSpecs"):
            parse_test_requires(f"test:\n  requires: {value}\n", "p")
        with pytest.raises(InvalidInputError, match="test.imports: not a list of module names"):
            parse_recipe_tests(f"test:\n  imports: {value}\n", None, None, "p")


def test_conda_build_2_recipe_converts_and_runs_its_import_test(fixture_packages, tmp_path, cache_dir):
    """press-fx-oldrecipe's info/recipe/meta.yaml says ``requires: ''``: it
    converts, validation installs it and runs its import test."""
    artifact = fixture_packages["oldrecipe.tar.bz2"]
    import tarfile

    with tarfile.open(artifact) as archive:
        assert b"  requires: ''\n" in archive.extractfile("info/recipe/meta.yaml").read()
    result = run_press("--python", "3.12", "-w", str(tmp_path / "out"), "--json", "-q", str(artifact), cache=cache_dir)
    assert result.returncode == 0, result.stderr
    (wheel,) = json.loads(result.stdout)["wheels"]
    assert wheel["test_requires"] == [] and wheel["validation"]["status"] == "passed", wheel["validation"]
    assert wheel["validation"]["imports"] == ["press_fx_oldrecipe"], wheel["validation"]


# python_abi and pip -----------------------------------------------------------------------------------------------

def _index(name: str, version: str, build_string: str, depends=(), subdir: str = "linux-64") -> dict:
    return {"name": name, "version": version, "build": build_string, "build_number": 0, "subdir": subdir,
            "depends": list(depends), "license": "MIT", "timestamp": 1700000000000}


def test_python_abi_is_virtual_when_the_channel_lacks_it(tmp_path, cache_dir):
    """cffi's real closure without python_abi-3.12-8_cp312 still solves for
    3.12; with it, the channel's own record is used."""
    without = copy_channel(tmp_path / "without", [n for n in CFFI_CLOSURE if not n.startswith("python_abi")])
    records = solve(["cffi"], [str(without)], "linux-64", "3.12", cache_dir)
    assert sorted(r.name.normalized for r in records) == sorted(
        n.rsplit("-", 2)[0] for n in CFFI_CLOSURE if not n.startswith("python_abi"))
    with_abi = copy_channel(tmp_path / "with", CFFI_CLOSURE)
    records = solve(["cffi"], [str(with_abi)], "linux-64", "3.12", cache_dir)
    assert [str(r.file_name) for r in records if r.name.normalized == "python_abi"] == ["python_abi-3.12-8_cp312.conda"]
    # The fat wheel is still tagged for CPython 3.12 (from cffi's python_abi pin)
    result = run_press("-c", str(without), "--subdir", "linux-64", "--python", "3.12", "--fatten", "--no-validate",
                       "-w", str(tmp_path / "out"), "--json", "-q", "cffi", cache=cache_dir)
    assert result.returncode == 0, result.stderr
    (cffi,) = [w for w in json.loads(result.stdout)["wheels"] if w["name"] == "cffi"]
    assert cffi["tags"].startswith("cp312-cp312-")


def test_pip_and_older_python_abi_conventions_are_virtual_when_absent(tmp_path, cache_dir):
    assert virtual_python_abi_builds("3.12") == ["0_cp312"]
    assert virtual_python_abi_builds("3.7") == ["0_cp37", "0_cp37m"]
    assert virtual_python_abi_builds("2.7") == ["0_cp27", "0_cp27m", "0_cp27mu"]
    channel = tmp_path / "channel"
    (channel / "noarch").mkdir(parents=True)
    for name, python, abi in (("needs-pip", "3.12", "3.12.* *_cp312"), ("old-abi", "3.7", "3.7.* *_cp37m")):
        depends = [f"python >={python},<{python[:2]}{int(python[2:]) + 1}.0a0", f"python_abi {abi}", "pip >=20"]
        build(Spec(name=name, version="1.0", build="py_0", subdir="linux-64",
                   index=_index(name, "1.0", "py_0", depends)), channel / "linux-64", ".conda")
    assert solve(["needs-pip"], [str(channel)], "linux-64", "3.12", cache_dir)[0].name.normalized == "needs-pip"
    assert [r.name.normalized for r in solve(["old-abi"], [str(channel)], "linux-64", "3.7", cache_dir)] == ["old-abi"]
    # A channel's own pip is never shadowed by the virtual one.
    for name in ("pip-24.3.1-pyh8b19718_2.conda", "setuptools-75.8.0-pyhff2d567_0.conda", "wheel-0.45.1-pyhd8ed1ab_1.conda"):
        shutil.copyfile(CONDA_FORGE / "noarch" / name, channel / "noarch" / name)
    names = {str(r.file_name) for r in solve(["needs-pip"], [str(channel)], "linux-64", "3.12", cache_dir)}
    assert "pip-24.3.1-pyh8b19718_2.conda" in names


# .conda and .tar.bz2 of one package -------------------------------------------------------------------------------

def test_both_formats_of_one_package_are_reported(fixture_packages, tmp_path, cache_dir):
    """conda-forge's mock-2.0.0-py37_1000 exists as both files: a batch lists
    the .tar.bz2 as skipped (conda reads the .conda), a solve says so once."""
    channel = tmp_path / "channel"
    (channel / "osx-64").mkdir(parents=True)
    (channel / "noarch").mkdir()
    for suffix in FORMATS:
        shutil.copyfile(CONDA_FORGE / "osx-64" / f"mock-2.0.0-py37_1000{suffix}",
                        channel / "osx-64" / f"mock-2.0.0-py37_1000{suffix}")
    result = subprocess.run([sys.executable, "-m", "press", "channel", str(channel), "--subdir", "osx-64", "--python",
                             "3.7", "-w", str(tmp_path / "out"), "--cache-dir", str(cache_dir), "--json", "-j", "1"],
                            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    results = {r["artifact"]: r for r in json.loads(result.stdout)["results"]}
    assert set(results) == {"mock-2.0.0-py37_1000.conda", "mock-2.0.0-py37_1000.tar.bz2"}, results
    assert results["mock-2.0.0-py37_1000.tar.bz2"]["status"] == "skipped"
    assert "as .conda" in results["mock-2.0.0-py37_1000.tar.bz2"]["reason"]
    assert results["mock-2.0.0-py37_1000.conda"]["wheels"] == ["mock-2.0.0-1000_py37_1000-py3-none-any.whl"]
    # Spec mode: one line for the channel, in the progress (the fixture channel has every package twice)
    fixtures = str(fixture_packages["channel"])
    spec_run = run_press("-c", fixtures, "--subdir", "linux-64", "--python", "3.12", "--no-validate", "-w",
                         str(tmp_path / "spec"), "press-fx-purepy", cache=cache_dir)
    assert spec_run.returncode == 0, spec_run.stderr
    (line,) = [line for line in spec_run.stderr.splitlines() if "both as .conda and .tar.bz2" in line]
    pairs = sum(1 for p in (Path(fixtures) / "linux-64").glob("*.conda")) + sum(
        1 for p in (Path(fixtures) / "noarch").glob("*.conda"))
    assert f"{pairs} packages are there" in line and "press uses the .conda file" in line
    # Other subdirs' pairs are not this solve's business
    index_root = next(p for p in (cache_dir / "channels").iterdir()
                      if (p / "osx-64" / "repodata.json").is_file() and "mock" in (p / "osx-64" / "repodata.json").read_text())
    assert local_index_duplicates(index_root, ["linux-64", "noarch"]) == {}
    assert local_index_duplicates(index_root) == {"mock-2.0.0-py37_1000.tar.bz2": "mock-2.0.0-py37_1000.conda"}
