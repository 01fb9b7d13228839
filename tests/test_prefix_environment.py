"""Prefix placeholders, activation variables and test requirements: the
grammar and rewriting rules on hostile inputs (review findings kept fixed).
End-to-end cases on built packages are in test_fixture_packages.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from press.contained import Root
from press.environment import WheelSetting, allowed, module_source
from press.errors import ConflictError, InvalidInputError
from press.layout import Layout, StagedFile, reserve_module
from press.package import parse_activation, parse_test_requires
from press.prefix import binary_paths, covered, rewrite_text
from press.relocate.common import _insert_import
from press.validate import _missing_module

PH = "/opt/conda-bld/x_1/_h_env_placehold_placehold"


@pytest.mark.parametrize("line, name", [
    ('export LD_PRELOAD="${CONDA_PREFIX}/lib/evil.so"', "LD_PRELOAD"),
    ("export  PATH=$CONDA_PREFIX/bin", "PATH"),
    ('export SSL_CERT_FILE="$CONDA_PREFIX/ssl/mine.pem"', "SSL_CERT_FILE"),
    ("export GCONV_PATH=${CONDA_PREFIX}/lib/gconv", "GCONV_PATH"),
    ("export REQUESTS_CA_BUNDLE=$CONDA_PREFIX/x.pem", "REQUESTS_CA_BUNDLE"),
    ("export NODE_OPTIONS=$CONDA_PREFIX/x", "NODE_OPTIONS"),
    ('@set "pythonpath=%CONDA_PREFIX%\\lib"', "PYTHONPATH"),
])
def test_activation_variables_are_read_and_left_to_the_allow_list(line, name):
    # Read here; press.environment sets only what its allow-list has for the package
    # (tests/test_shell_rewrite.py), so none of these is ever set.
    (setting,) = parse_activation(line + "\n", "pkg-1-0", "etc/conda/activate.d/x.sh")
    assert setting.name == name and name not in allowed("pkg")


def test_activation_reads_plain_assignments_only():
    text = "\n".join([
        'export GDAL_DATA="${CONDA_PREFIX}/share/gdal"',
        '@set "\u212aX=%CONDA_PREFIX%\\share\\k"',  # Kelvin sign: not an ASCII name, not read
        "export OTHER=$CONDA_PREFIX/share/$(id)",  # not a plain path: not read
        'if [ -n "$X" ]; then export Y=$CONDA_PREFIX/y; fi',  # logic: not read
    ])
    assert [(s.name, s.path) for s in parse_activation(text, "p", "f")] == [("GDAL_DATA", "share/gdal")]
    with pytest.raises(InvalidInputError, match=r"\.\."):
        parse_activation("export A=$CONDA_PREFIX/../etc\n", "p", "f")


def test_test_requires_are_plain_specs_from_the_channels_only():
    meta = ("test:\n  requires: [pytest >=7, 'numpy 1.26.* py312*', PIP, python 3.9.*, conda-forge::evil,\n"
            "    'http://127.0.0.1:1/evil/noarch/x-1-0.conda', 'x[version=1]']\n")
    assert parse_test_requires(meta, "p") == ("pytest >=7", "numpy 1.26.* py312*")
    with pytest.raises(InvalidInputError, match="not a list"):
        parse_test_requires("test:\n  requires: pytest\n", "p")
    long = "test:\n  requires: ['" + "a" * 5000 + " >=>1']\n"
    with pytest.raises(InvalidInputError) as refused:
        parse_test_requires(long, "p")
    assert len(str(refused.value)) < 600  # a hostile value is cut, not echoed whole


@pytest.mark.parametrize("body", [
    f"P=\"$(cd '{PH}/share' && pwd)\"\n",  # single quotes inside $( ) inside double quotes
    f'X="`cat {PH}/x`"\n',
    f"cat <<E'OF'\n{PH}/share\nEOF\n",
    f'echo "\\{PH}"\n',
    f"x='{PH}'\n",
])
def test_shell_rewrite_only_where_the_shell_surely_expands(body):
    assert rewrite_text(f"#!/bin/sh\n{body}".encode(), "bin/tool", PH) is None


def test_shell_rewrite_finds_the_prefix_from_its_place_without_cdpath(tmp_path):
    new, how = rewrite_text(f'#!/bin/sh\nprefix={PH}\necho "$prefix"\n'.encode(), "bin/tool", PH)
    script = tmp_path / "pfx" / "bin" / "tool"
    script.parent.mkdir(parents=True)
    script.write_bytes(new)
    script.chmod(0o755)
    (tmp_path / "bin").mkdir()  # a CDPATH hit must not be echoed into the value
    run = subprocess.run([str(script)], capture_output=True, text=True, env={"CDPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.stdout == f"{(tmp_path / 'pfx').resolve()}\n" and how == "rewritten: found from $0"
    pc, how = rewrite_text(f"prefix={PH}\n".encode(), "share/x/y.pc", PH)
    assert pc == b"prefix=${pcfiledir}/../..\n" and how == "rewritten: ${pcfiledir}"


def test_binary_paths_count_whole_strings_only():
    data = b"\0" + PH.encode() + b"/share/terminfo\0-isystem " + PH.encode() + b"/include\0"
    assert binary_paths(data, PH) == {"share/terminfo"}
    assert covered({"share/terminfo/x"}, {"share/terminfo"}) and not covered({"etc"}, {"share/terminfo"})
    assert not covered(set(), {"share"})


@pytest.mark.parametrize("source", [
    b'"""doc\x0cstring"""\nfrom __future__ import annotations\nx = 1\n',  # form feed: not a line end for Python
    b'# -*- coding: latin-1 -*-\n"""caf\xe9"""\nx = 1\n',
    b'"""doc"""',
    b'"""a"""\r\nx = 1\r\n',
])
def test_inserted_import_keeps_the_module_importable(source):
    new = _insert_import(source, "import os  # added")
    assert new is not None and b"import os  # added" in new
    compile(new, "init", "exec")


def test_unparsable_init_is_left_alone():
    assert _insert_import(b"def (:\n", "import os") is None


def test_a_shipped_module_never_stands_in_for_one_press_writes(tmp_path):
    root = Root(tmp_path, create=True)
    for shipped in ("_press_env_x/__init__.py", "_press_env_x.cpython-312-x86_64-linux-gnu.so",
                    "__pycache__/_press_env_x.cpython-312.pyc"):
        layout = Layout(libs_dir="x.libs", files={shipped: StagedFile(root, "f", 0o644, "x-1-0")})
        with pytest.raises(ConflictError, match="would stand in for the module _press_env_x") as refused:
            reserve_module(layout, "_press_env_x")
        assert refused.value.field == shipped
    reserve_module(Layout(libs_dir="x.libs", files={"_press_env_xy.py": StagedFile(root, "f", 0o644, "x")}),
                   "_press_env_x")


def test_environment_module_never_overrides_what_the_user_set(tmp_path):
    (tmp_path / "x.libs" / "share" / "terminfo").mkdir(parents=True)
    (tmp_path / "x.libs" / "etc").mkdir(parents=True)
    source = module_source([WheelSetting("TERMINFO_DIRS", "x.libs/share/terminfo", "prepend", "path", "ncurses"),
                            WheelSetting("A_DATA", "x.libs/etc", "default", "path", "a"),
                            WheelSetting("B_DATA", "x.libs/etc", "default", "path", "b"),
                            WheelSetting("GONE", "x.libs/gone", "default", "path", "c")])
    (tmp_path / "_press_env_x.py").write_text(source)
    code = "import os, _press_env_x; print(repr((os.environ['TERMINFO_DIRS'], os.environ['A_DATA'], os.environ.get('B_DATA'), os.environ.get('GONE'))))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True,
                         env={"A_DATA": "", "TERMINFO_DIRS": "/usr/share/terminfo", "PATH": "/usr/bin:/bin"})
    terminfo, a_data, b_data, gone = eval(run.stdout)
    assert terminfo == f"{tmp_path / 'x.libs/share/terminfo'}:/usr/share/terminfo"
    assert a_data == "" and b_data == str(tmp_path / "x.libs" / "etc") and gone is None


def test_an_import_is_skipped_only_for_a_missing_module_a_missing_requirement_provides():
    error = "Traceback ...\nModuleNotFoundError: No module named 'matplotlib.pyplot'"
    assert _missing_module(error, {"matplotlib_inline"}, ["matplotlib-base"])
    assert not _missing_module(error, {"matplotlib_inline"}, ["nope-0", "pytest"])  # nothing missing provides it
    assert not _missing_module(error, {"matplotlib"}, ["matplotlib-base"])  # the wheel's own module: a failure
