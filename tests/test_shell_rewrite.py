"""Shell scripts and environment variables: what press rewrites or sets, read
from a real model (mvdan/sh's parser over the whole script, the shell's own
``-n``; the allow-list in press/data/environment.json), on hostile inputs."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import run_press
from hostile import Spec, build
from press.artifact import open_artifact
from press.environment import declared, resolve
from press.prefix import rewrite_text

PH = "/opt/conda-bld/x_1/_h_env_placehold_placehold"


def _install(tmp_path: Path, script: bytes, rel: str = "bin/tool") -> Path:
    """``script`` at ``rel`` under a fresh prefix in ``tmp_path``, executable."""
    path = tmp_path / "pfx" / rel
    path.parent.mkdir(parents=True)
    path.write_bytes(script)
    path.chmod(0o755)
    return path


def test_a_multiline_single_quoted_sh_c_text_sees_the_prefix_in_the_child(tmp_path):
    # The old line-by-line check saw line 3 as unquoted; the child shell got ${__press_prefix}
    # unexported, expanded it empty and wrote under /share.
    body = f"#!/bin/sh\nsh -c 'set -e\nmkdir -p {PH}/share/made\n'\n"
    new, how = rewrite_text(body.encode(), "bin/tool", PH)
    assert how == "rewritten: found from $0" and PH.encode() not in new
    tool = _install(tmp_path, new)
    run = subprocess.run(["/bin/sh", str(tool)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "pfx" / "share" / "made").is_dir()
    assert not Path("/share/made").exists()


def test_an_unset_prefix_stops_the_shell_instead_of_writing_under_root(tmp_path):
    new, _ = rewrite_text(f"#!/bin/sh\nmkdir -p {PH}/share/x\n".encode(), "bin/tool", PH)
    body = new.split(b"\n", 2)[2]  # without the line that finds and exports the prefix
    run = subprocess.run(["/bin/sh", "-c", body.decode()], capture_output=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode != 0 and not Path("/share/x").exists()


@pytest.mark.parametrize("body, reason", [
    (f"x='a\n{PH}/b'\necho \"$x\"\n", "single quotes"),  # a quoted string over lines, not a shell's text
    (f"echo '{PH}'\n", "single quotes"),
    (f"env sh -c 'echo {PH}'\n", "single quotes"),  # env in front: not provably sh's -c text
    (f"cat <<EOF\n{PH}/share\nEOF\n", "here-document"),
    (f"cat <<'EOF'\nx\nEOF\necho {PH}\n", "here-document"),
    (f'eval "x={PH}"\n', "eval"),
    (f'command eval "x={PH}"\n', "eval"),
    (f'trap "rm -rf {PH}/tmp" EXIT\n', "trap"),
    (f'P="$(cd {PH}/share && pwd)"\n', "CmdSubst"),
    (f"X=`cat {PH}/x`\n", "CmdSubst"),
    (f"sh -c 'x=$(cat {PH}/y)'\n", "CmdSubst"),  # the -c text is read by the same rules
    (f"echo '{PH}\n", "refuses"),  # unbalanced quote: the shell says so
    (f'echo "\\{PH}"\n', "follows"),
    (f"echo ${{x:-{PH}}}\n", "ParamExp"),
    (f"case $x in {PH}/*) :;; esac\n", "Patterns"),
    (f"[[ $x == {PH}/* ]]\n", "BinaryTest"),  # bash reads a pattern where /bin/sh may be bash
    (f'echo $"{PH}"\n', "translated"),
    (f"__press_prefix=/\necho {PH}\n", "__press_prefix"),
])
def test_what_the_parser_cannot_prove_is_left_alone_with_the_reason(body, reason):
    why: list[str] = []
    assert rewrite_text(f"#!/bin/sh\n{body}".encode(), "bin/tool", PH, why) is None
    assert len(why) == 1 and reason in why[0], why


def test_a_deeply_nested_script_is_refused_in_bounded_time():
    body = "(" * 3000 + f"echo {PH}" + ")" * 3000 + "\n"
    why: list[str] = []
    assert rewrite_text(f"#!/bin/sh\n{body}".encode(), "bin/tool", PH, why) is None and why


def test_where_the_shell_expands_the_placeholder_is_rewritten(tmp_path):
    body = (f'[ -d {PH}/share ] && echo "{PH}/share" > {PH}/log\n'
            f"for f in {PH}/a; do A={PH}/b sh -e -c 'echo \"$A\" {PH}/c' >> {PH}/log; done\n"
            f"# built in {PH}\n")
    new, _ = rewrite_text(f"#!/bin/sh\n{body}".encode(), "bin/tool", PH)
    assert new.count(PH.encode()) == 1  # the comment keeps it
    tool = _install(tmp_path, new)
    (tmp_path / "pfx" / "share").mkdir()
    subprocess.run([str(tool)], check=True, env={"PATH": "/usr/bin:/bin"})
    prefix = (tmp_path / "pfx").resolve()
    assert (prefix / "log").read_text().split() == [f"{prefix}/share", f"{prefix}/b", f"{prefix}/c"]


def _activation_package(tmp_path: Path, name: str, lines: list[str], files: dict[str, bytes] | None = None):
    script = "".join(f"{line}\n" for line in lines).encode()
    spec = Spec(name=name, subdir="linux-64",
                files={"etc/conda/activate.d/x.sh": script, **(files or {"share/evil/x": b"x"})})
    return open_artifact(build(spec, tmp_path / "in", ".conda"), tmp_path / "work")


NAMED = ["TCL_LIBRARY", "ZDOTDIR", "PSQLRC", "GDAL_DRIVER_PATH", "SUDO_ASKPASS", "LD_PRELOAD", "PATH",
         "SSL_CERT_FILE", "PYTHONPATH"]


def test_variables_outside_the_allow_list_are_dropped_with_a_note(tmp_path):
    artifact = _activation_package(tmp_path, "evil", [f'export {n}="${{CONDA_PREFIX}}/share/evil"' for n in NAMED])
    notes: list[str] = []
    assert declared(artifact, notes) == []
    assert resolve(artifact, "evil.libs", artifact.files, notes) == []
    assert notes and all(n in notes[0] for n in NAMED) and "allow-list" in notes[0]


def test_the_allow_list_binds_a_variable_to_its_package(tmp_path):
    # tk may set TCL_LIBRARY (its own Tcl library), not ZDOTDIR; every entry says where it comes from.
    artifact = _activation_package(tmp_path, "tk", ['export TCL_LIBRARY="${CONDA_PREFIX}/lib/tcl8.6"',
                                                    'export ZDOTDIR="${CONDA_PREFIX}/lib"'],
                                   {"lib/tcl8.6/init.tcl": b"", "lib/libtcl8.6.so": b"\x7fELF" + b"\0" * 60})
    notes: list[str] = []
    names = [s.name for s in resolve(artifact, "tk.libs", artifact.files, notes)]
    assert names == ["TCL_LIBRARY"] and "ZDOTDIR" in notes[0]
    policy = json.loads((Path(__file__).parents[1] / "press/data/environment.json").read_text())
    for entries in policy["packages"].values():
        assert all(e["source"] and e["set_by"] and e["harmless"] for e in entries)


def test_a_data_only_dependency_never_steers_the_dependent(tmp_path):
    # thin mode: a dependency's variables go into the dependent's module only when the
    # dependency ships a library of its own for them to steer.
    data_only = _activation_package(tmp_path / "a", "tk", ['export TCL_LIBRARY="${CONDA_PREFIX}/lib/tcl8.6"'],
                                    {"lib/tcl8.6/init.tcl": b"exec rm -rf ~\n"})
    notes: list[str] = []
    assert resolve(data_only, "conda_forge_tk.libs", data_only.files, notes, own=False) == []
    assert "data-only" in notes[0]
    assert [s.name for s in resolve(data_only, "tk.libs", data_only.files)] == ["TCL_LIBRARY"]  # its own


SAMPLE = Path(__file__).parents[1] / "../shared/channels/conda-forge/linux-64"


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE.is_dir(), reason="no conda-forge sample")
def test_sample_scripts_still_rewrite_and_export_the_prefix(tmp_path):
    # krb5's krb5-config and compile_et: read whole, rewritten as before, the prefix now exported.
    out = tmp_path / "w"
    run_press(str(SAMPLE / "krb5-1.21.3-h659f571_0.conda"), "-c", str(SAMPLE.parent), "--subdir", "linux-64",
              "--no-validate", "--no-wheelhouse-check", "-w", str(out), cache=tmp_path / "c", check=True)
    (wheel,) = out.glob("conda_forge_krb5-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in ("krb5-config", "compile_et"):
            text = archive.read(f"conda_forge_krb5.libs/bin/{name}").decode()
            assert "&& export __press_prefix" in text.splitlines()[1] and "${__press_prefix:?}" in text
