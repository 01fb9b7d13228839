"""Hostile packages built at test time (tests/hostile.py), in both formats:
each class of the trust-boundary issue is refused with one
``press: error: <package>: <field>: <reason>`` line and exit 1, nothing
outside the work and output directories changes (a sentinel tree and a
file the attack aims at are compared before and after), and the work is
bounded in time (a timeout) and memory (the child's peak RSS)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Callable

import pytest

from conftest import CHANNELS, ROOT
from hostile import Spec, build, tree_state

FORMATS = [".conda", ".tar.bz2"]
HAVE_GCC = shutil.which("gcc") is not None


def _escape(sentinel: Path) -> str:
    """A relative path that climbs to / from any depth, then into the sentinel."""
    return "../" * 40 + str(sentinel / "victim").lstrip("/")


def _chain() -> dict[str, str]:
    """Symlinks that each look harmless lexically but walk out of the package:
    ``a -> .`` keeps the real depth while adding lexical depth."""
    return {"share/a": ".", "share/d": "a/" * 12 + "../" * 11 + ".."}


def _gcc_library(tmp: Path, *linker_flags: str | bytes) -> bytes:
    tmp = tmp / "in"
    tmp.mkdir(exist_ok=True)
    source = tmp / "lib.c"
    source.write_text("int press_hx(void) { return 1; }\n")
    out = tmp / "lib.so"
    subprocess.run([b"gcc", b"-shared", b"-fPIC", b"-o", bytes(out), bytes(source),
                    *[f.encode() if isinstance(f, str) else f for f in linker_flags]], check=True)
    return out.read_bytes()


def _dist_info(name_header: str, entry_points: bytes | None = None) -> dict[str, bytes]:
    files = {"site-packages/hx/__init__.py": b"",
             "site-packages/hx-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name_header}\nVersion: 1.0\n".encode()}
    if entry_points is not None:
        files["site-packages/hx-1.0.dist-info/entry_points.txt"] = entry_points
    return files


def _index(**changes) -> dict:
    index = {"name": "press-hx", "version": "1.0", "build": "0", "build_number": 0, "subdir": "noarch",
             "depends": [], "timestamp": 1700000000000}
    index.update(changes)
    return index


def _pax_member(size: int) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo("share/hx/pax.txt")
    info.size, info.mtime = 1, 1700000000
    info.pax_headers = {"comment": "x" * size}
    return info, b"1"


def _fifo_member() -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo("share/hx/fifo")
    info.type = tarfile.FIFOTYPE
    return info, None


#: id -> (spec factory taking (sentinel, tmp), needle of the error line, extra environment)
CASES = {
    # Reads of host files into the wheel
    "paths-absolute": (lambda s, t: Spec(paths={"paths": [{"_path": "/etc/hostname", "path_type": "hardlink"}]}),
                       "info/paths.json: _path: path '/etc/hostname' is absolute", {}),
    "paths-dotdot-site-packages": (lambda s, t: Spec(paths={"paths": [
        {"_path": "site-packages/../../../../../../etc/hostname", "path_type": "hardlink"}]}), "'..' component", {}),
    "files-dotdot-legacy": (lambda s, t: Spec(paths=b"", info={"info/files": b"lib/../../../../etc/hostname\n"}),
                            "info/paths.json: not valid JSON", {}),
    "symlink-chain": (lambda s, t: Spec(links={**_chain(), "share/x": "d/etc/hostname"}),
                      "leads outside the package", {}),
    "licenses-through-symlink": (lambda s, t: Spec(links={**_chain(), "info/licenses/LICENSE": "../../share/d/etc/hostname"}),
                                 "leads outside the package", {}),
    # Writes anywhere on the converting machine
    "build-string-escape": (lambda s, t: Spec(index=_index(build=_escape(s))), "info/index.json: build", {}),
    "version-escape": (lambda s, t: Spec(index=_index(version=_escape(s))), "info/index.json: version", {}),
    "dist-info-name-escape": (lambda s, t: Spec(files=_dist_info(_escape(s))), "METADATA: Name", {}),
    # Wheels that mislead the installer
    "entry-point-name-dotdot": (lambda s, t: Spec(link={"noarch": {"type": "python", "entry_points": [
        "../../bin/pip = hx:main"]}}), "noarch.entry_points: [console_scripts] name", {}),
    # Plugin names may hold any character but '=' (html+mako); command names stay file-name safe
    "entry-point-name-newline": (lambda s, t: Spec(link={"noarch": {"type": "python", "entry_points": [
        "hx\n[console_scripts]\npip = hx:main"]}}), "noarch.entry_points: [console_scripts] name", {}),
    "console-script-name-slash": (lambda s, t: Spec(files=_dist_info("hx", b"[console_scripts]\nbin/pip = hx:main\n")),
                                  "[console_scripts] name: 'bin/pip'", {}),
    "gui-script-name-dotdot": (lambda s, t: Spec(files=_dist_info("hx", b"[gui_scripts]\n.. = hx:main\n")),
                               "[gui_scripts] name: '..'", {}),
    "plugin-name-bracket": (lambda s, t: Spec(files=_dist_info("hx", b"[pygments.lexers]\n[x = hx:main\n")),
                            "[pygments.lexers] name: '[x'", {}),
    "entry-point-value-newline": (lambda s, t: Spec(link={"noarch": {"type": "python", "entry_points": [
        "hx = hx:main\n[console_scripts]\npip = os:system"]}}), "not an object reference", {}),
    "entry-points-txt-newline": (lambda s, t: Spec(files=_dist_info("hx", b"[console_scripts]\nhx = hx:main\n  [gui_scripts]\n")),
                                 "entry_points.txt", {}),
    "data-scripts-smuggled": (lambda s, t: Spec(files={"site-packages/hx-1.0.data/scripts/pip": b"#!/bin/sh\necho pwned\n"}),
                              "would be installed by pip outside site-packages", {}),
    "requirement-url-name": (lambda s, t: Spec(files=_dist_info("hx @ https://example.invalid/hx.whl")),
                             "not a valid distribution name", {}),
    "requirement-marker-name": (lambda s, t: Spec(files=_dist_info("hx ; python_version < '0'")),
                                "not a valid distribution name", {}),
    "garbage-elf": (lambda s, t: Spec(subdir="linux-64", files={"lib/libjunk.so.1": b"\x7fELF" + bytes(range(256)) * 8}),
                    "lib/libjunk.so.1", {}),
    "non-ascii-build": (lambda s, t: Spec(index=_index(build="0\u00e9")), "info/index.json: build", {}),
    "unicode-clash": (lambda s, t: Spec(files={"site-packages/caf\u00e9.py": b"a = 1\n", "site-packages/cafe\u0301.py": b"a = 2\n"}),
                      "Unicode normalisation", {}),
    # Crashes instead of errors
    "link-json-types": (lambda s, t: Spec(link={"noarch": {"type": "python", "entry_points": 5}}),
                        "info/link.json: noarch.entry_points: not a list of strings", {}),
    "negative-build-number": (lambda s, t: Spec(index=_index(build_number=-1)), "build_number: -1 is not an integer", {}),
    "nan-timestamp": (lambda s, t: Spec(index=b'{"name": "press-hx", "version": "1.0", "build": "0", "timestamp": NaN}'),
                      "NaN is not a JSON number", {}),
    "huge-timestamp": (lambda s, t: Spec(index=_index(timestamp=10**20)), "timestamp", {}),
    "huge-integer": (lambda s, t: Spec(index=b'{"name": "press-hx", "version": "1.0", "build": "0", "build_number": '
                                       + b"9" * 5000 + b"}"), "info/index.json: not valid JSON", {}),
    "deep-json": (lambda s, t: Spec(about=b'{"a": ' + b"[" * 100000 + b"]" * 100000 + b"}"), "info/about.json", {}),
    "non-utf8-metadata": (lambda s, t: Spec(files=_dist_info("hx", b"[console_scripts]\nhx = hx:main\xff\n")),
                          "not valid UTF-8", {}),
    "yaml-test-types": (lambda s, t: Spec(info={"info/recipe/meta.yaml": b"test:\n  imports:\n    a: b\n"}),
                        "test.imports: not a list of module names", {}),
    "yaml-import-injection": (lambda s, t: Spec(info={"info/recipe/meta.yaml": b"test:\n  imports:\n    - os; os.system('x')\n"}),
                              "is not a dotted module name", {}),
    # Unbounded work
    "yaml-alias-bomb": (lambda s, t: Spec(info={"info/recipe/meta.yaml": _yaml_bomb()}), "YAML aliases", {}),
    "pax-header": (lambda s, t: Spec(members=[_pax_member(4 << 20)]), "tar headers", {}),
    "many-members": (lambda s, t: Spec(files={f"share/hx/{i}": b"" for i in range(1500)}), "archive members",
                     {"PRESS_MAX_MEMBERS": "1000"}),
    "symlink-fan-out": (lambda s, t: Spec(files={"share/hx/big": bytes(64 << 20)},
                                          links={f"share/hx/l{i}": "big" for i in range(300)}),
                        "bytes unpacked from one artifact", {"PRESS_MAX_EXPANSION_RATIO": str(1 << 30)}),
    "hardlink-fan-out": (lambda s, t: Spec(files={"share/hx/big": bytes(8 << 20)},
                                           hardlinks={f"share/hx/h{i}": "share/hx/big" for i in range(40)}),
                         "bytes unpacked from one artifact", {"PRESS_MAX_UNPACKED_SIZE": str(128 << 20),
                                                              "PRESS_MAX_EXPANSION_RATIO": str(1 << 30)}),
    "paths-json-entries": (lambda s, t: Spec(paths={"paths": [{"_path": f"a/{i}"} for i in range(300_000)]}),
                           "entries in info/paths.json", {}),
    "fifo-member": (lambda s, t: Spec(members=[_fifo_member()]), "device, FIFO or other special file", {}),
    "yaml-too-big": (lambda s, t: Spec(info={"info/recipe/meta.yaml": b"x: [" + b"1," * (1 << 20) + b"1]\n"}),
                     "bytes of a recipe YAML", {"PRESS_MAX_EXPANSION_RATIO": str(1 << 30)}),
    "entry-points-sections": (lambda s, t: Spec(files=_dist_info("hx", b"".join(b"[g%d]\n" % i for i in range(30000)))),
                              "lines in one entry_points.txt", {}),
    "many-dist-infos": (lambda s, t: Spec(files={f"site-packages/p{i}-1.0.dist-info/METADATA": b"Name: p\n"
                                                 for i in range(20)}), "dist-info", {"PRESS_MAX_DIST_INFOS": "10"}),
}


def _yaml_bomb() -> bytes:
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, 13):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 12) + "]")
    lines.append("test:\n  imports: *a12")
    return "\n".join(lines).encode()


def _gcc_cases(sentinel: Path, tmp: Path) -> dict[str, Callable[[], Spec]]:
    return {
        "soname-escape": lambda: Spec(subdir="linux-64", files={
            "lib/libhx.so": _gcc_library(tmp, f"-Wl,-soname,{_escape(sentinel)}")}),
        "runpath-undecodable": lambda: Spec(subdir="linux-64", files={
            "lib/libhx.so": _gcc_library(tmp, b"-Wl,-rpath,/opt/\xff\xfe")}),
        # A real library padded past the binary-size limit (lowered to 8 MiB
        # here): LIEF would hold it in memory twice over.
        "huge-binary": lambda: Spec(subdir="linux-64", files={"lib/libhx.so": _gcc_library(tmp) + bytes(16 << 20)}),
    }


GCC_CASES = {"soname-escape": ("DT_SONAME", {}), "runpath-undecodable": ("lib/libhx.so", {}),
             "huge-binary": ("more than 8388608 bytes in one ELF, Mach-O or PE file", {"PRESS_MAX_BINARY_SIZE": str(8 << 20),
                                                                                      "PRESS_MAX_EXPANSION_RATIO": str(1 << 30)})}


def _truncated_macho(sentinel: Path, tmp: Path) -> Spec:
    from conda_package_streaming.package_streaming import stream_conda_component

    source = CHANNELS / "conda-forge" / "osx-arm64" / "libffi-3.4.2-h3422bc3_5.tar.bz2"
    for tar, member in stream_conda_component(str(source)):
        if member.name == "lib/libffi.8.dylib":
            data = tar.extractfile(member).read()
            return Spec(subdir="osx-arm64", files={"lib/libffi.8.dylib": data[:3000]})
    raise AssertionError("no dylib")


def run_isolated(tmp_path: Path, *args: str, env: dict | None = None, timeout: int = 120):
    """Run the CLI with its own TMPDIR and working directory under a child
    that reports the peak RSS (kB) of press on its last stdout line."""
    scratch, cwd, out = tmp_path / "tmpdir", tmp_path / "cwd", tmp_path / "cwd" / "out"
    scratch.mkdir(exist_ok=True)
    cwd.mkdir(exist_ok=True)
    environment = dict(os.environ, TMPDIR=str(scratch), PYTHONPATH=str(ROOT), **(env or {}))
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    result = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "press", "--cache-dir",
                             str(tmp_path / "cache"), "-w", str(out), "--no-validate", *args],
                            capture_output=True, text=True, cwd=cwd, env=environment, timeout=timeout)
    peak_kb = int(result.stdout.strip().splitlines()[-1])
    return result, out, peak_kb


def assert_refused_cleanly(result, out: Path, tmp_path: Path, needle: str, peak_kb: int) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("press: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert needle in lines[0], lines[0]
    assert "internal error" not in lines[0], lines[0]
    assert not out.exists() or list(out.iterdir()) == []
    assert list((tmp_path / "tmpdir").iterdir()) == []  # the work directory is gone
    assert peak_kb < 1_000_000, f"peak RSS {peak_kb} kB"


def _sentinel(tmp_path: Path) -> Path:
    sentinel = tmp_path / "sentinel"
    (sentinel / "sub").mkdir(parents=True)
    (sentinel / "victim").write_bytes(b"original\n")
    (sentinel / "sub" / "keep.txt").write_bytes(b"keep\n")
    return sentinel


def _check(tmp_path: Path, spec: Spec, fmt: str, needle: str, env: dict) -> None:
    sentinel = _sentinel(tmp_path)
    before = tree_state(sentinel)
    artifact = build(spec, tmp_path / "in", fmt)
    result, out, peak = run_isolated(tmp_path, str(artifact), env=env)
    assert_refused_cleanly(result, out, tmp_path, needle, peak)
    assert tree_state(sentinel) == before
    assert (sentinel / "victim").read_bytes() == b"original\n"
    assert {p.name for p in tmp_path.iterdir()} <= {"cache", "cwd", "in", "sentinel", "tmpdir"}


#: Cases that move tens of megabytes: run with -m slow (CI runs them).
SLOW_CASES = {"symlink-fan-out", "hardlink-fan-out", "paths-json-entries"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CASES else c for c in sorted(CASES)])
def test_hostile_package_refused(tmp_path, case, fmt):
    factory, needle, env = CASES[case]
    _check(tmp_path, factory(tmp_path / "sentinel", tmp_path), fmt, needle, env)


@pytest.mark.skipif(not HAVE_GCC, reason="needs gcc")
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", sorted(GCC_CASES))
def test_hostile_binary_refused(tmp_path, case, fmt):
    spec = _gcc_cases(tmp_path / "sentinel", tmp_path)[case]()
    _check(tmp_path, spec, fmt, *GCC_CASES[case])


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_macho_refused(tmp_path, fmt):
    _check(tmp_path, _truncated_macho(tmp_path / "sentinel", tmp_path), fmt, "lib/libffi.8.dylib", {})


@pytest.mark.slow
def test_big_member_is_streamed(tmp_path):
    # A 384 MiB member goes into the wheel without being held in memory.
    spec = Spec(subdir="noarch", files={"share/hx/big.bin": bytes(384 << 20)})
    artifact = build(spec, tmp_path / "in", ".conda")
    # zeros: beyond the expansion ratio, which is raised here
    result, out, peak_kb = run_isolated(tmp_path, str(artifact), env={"PRESS_MAX_EXPANSION_RATIO": str(1 << 30)})
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [i for i in archive.infolist() if i.filename.endswith(".libs/share/hx/big.bin")]
        assert member.file_size == 384 << 20
    assert peak_kb < 300_000, f"peak RSS {peak_kb} kB for a 384 MiB member"


def _convert(tmp_path: Path, spec: Spec) -> tuple[str, list[str], dict[str, bytes]]:
    artifact = build(spec, tmp_path / "in", ".tar.bz2")
    result, out, _peak = run_isolated(tmp_path, "--json", str(artifact))
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return result.stdout, archive.namelist(), {n: archive.read(n) for n in archive.namelist()}


def test_commands_never_take_the_virtual_environments_names(tmp_path):
    spec = Spec(link={"noarch": {"type": "python", "entry_points": [
                    "activate = hx:main", "pip = hx:main", "Activate.ps1 = hx:main", "hx = hx:main"]}},
                files={"site-packages/hx/__init__.py": b"def main():\n    pass\n",
                       "bin/deactivate": b"#!/bin/sh\necho hi\n", "bin/python3.12": b"#!/bin/sh\necho hi\n"},
                executables={"bin/deactivate", "bin/python3.12"})
    stdout, names, contents = _convert(tmp_path, spec)
    entry_points = next(v for n, v in contents.items() if n.endswith(".dist-info/entry_points.txt")).decode()
    assert "hx = hx:main" in entry_points
    for reserved in ("activate", "pip", "Activate.ps1", "deactivate", "python3.12"):
        assert f"\n{reserved} =" not in entry_points, entry_points
        assert f"'{reserved}' belongs to the virtual environment" in stdout
    assert not [n for n in names if ".data/" in n]


def test_package_metadata_cannot_be_planted_in_site_packages(tmp_path):
    # (Their Name is the package's own: one claiming another project's is refused, see test_install_hooks.py.)
    spec = Spec(files={"site-packages/hx/__init__.py": b"", "site-packages/hx/meta.txt": b"Name: press-hx\nVersion: 99\n",
                       "site-packages/Requests-99.DIST-INFO/METADATA": b"Name: press_hx\nVersion: 99\n",
                       "site-packages/urllib3.EGG-INFO": b"Name: Press.Hx\nVersion: 99\n"},
                links={"site-packages/requests.egg-info": "hx/meta.txt"})
    _stdout, names, _contents = _convert(tmp_path, spec)
    tops = {n.split("/", 1)[0].lower() for n in names}
    # Only the wheel's own dist-info (named from the package's metadata), none planted.
    metadata_dirs = [t for t in tops if t.endswith((".dist-info", ".egg-info"))]
    assert len(metadata_dirs) == 1 and metadata_dirs[0].endswith("-1.0.dist-info"), tops
    assert not [n for n in names if "99" in n or "egg-info" in n.lower()], names
