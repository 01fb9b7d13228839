"""Hostile and malformed archives (recipes-fixtures/ and repacked real
packages): each is refused with one message naming the package and the
reason, exit 1, no wheel, and nothing written outside a temporary directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

FORMATS = [".conda", ".tar.bz2"]
HOSTILE = [
    ("symlinkout", "leads outside the package (through symlink 'lib/libescape.so' -> '../../../../etc/passwd')"),
    ("hardlinkout", "is a hardlink to '../etc/passwd', outside the package"),
    ("device", "device, FIFO or other special file"),
    ("fifo", "device, FIFO or other special file"),
    ("duplicate", "appears twice"),
    ("casefold", "differ only in case"),
    ("oversize", "is 1000 bytes, info/paths.json declares 10"),
    ("bomb", "more than 16777216 bytes unpacked"),
]


def press_isolated(tmp_path: Path, cache: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the CLI with its own TMPDIR and working directory, so any write
    outside them is visible; returns (result, wheel dir)."""
    scratch, cwd, out = tmp_path / "tmpdir", tmp_path / "cwd", tmp_path / "cwd" / "out"
    scratch.mkdir()
    cwd.mkdir()
    environment = dict(os.environ, TMPDIR=str(scratch), PYTHONPATH=str(ROOT), **(env or {}))
    result = subprocess.run([sys.executable, "-m", "press", "--cache-dir", str(cache), "-w", str(out),
                             "--no-validate", *args], capture_output=True, text=True, cwd=cwd, env=environment)
    return result, out


def assert_refused(result, out: Path, tmp_path: Path, *needles: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("press: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not out.exists() or list(out.iterdir()) == []
    assert list((tmp_path / "tmpdir").iterdir()) == []  # the work directory is gone
    assert sorted(p.name for p in (tmp_path / "cwd").iterdir()) in ([], ["out"])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("key,reason", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_archive_refused(tmp_path, cache_dir, fixture_packages, key, reason, fmt):
    artifact = fixture_packages[key + fmt]
    result, out = press_isolated(tmp_path, cache_dir, str(artifact), env={"PRESS_MAX_UNPACKED_SIZE": str(16 << 20)})
    assert_refused(result, out, tmp_path, f"press-fx-{key}", reason)
    assert not (tmp_path / "etc").exists() and not Path("/tmp/press-fx-escaped").exists()


def test_bomb_within_a_raised_cap_converts(tmp_path, cache_dir, fixture_packages):
    # The caps are what refuse the bomb: with room for it, the same archive converts.
    result, out = press_isolated(tmp_path, cache_dir, str(fixture_packages["bomb.conda"]),
                                 env={"PRESS_MAX_UNPACKED_SIZE": str(64 << 20), "PRESS_MAX_EXPANSION_RATIO": "100000"})
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.iterdir() if p.name != ".press-state"] == ["fixtures_press_fx_bomb-1.0.0-0_0-py3-none-any.whl"]


def test_case_only_names_are_fine_on_linux(tmp_path, cache_dir):
    # ncurses really ships terminfo entries differing only in case (hp2621A, hp2621a).
    ncurses = ROOT.parent / "shared" / "channels" / "conda-forge" / "linux-64" / "ncurses-6.5-h2d0b736_2.conda"
    result, out = press_isolated(tmp_path, cache_dir, str(ncurses))
    assert result.returncode == 0, result.stderr
    assert len([p for p in out.iterdir() if p.name != ".press-state"]) == 1


def _repack(tmp_path: Path, source: Path, mutate) -> Path:
    """Unpack a real artifact with conda-package-handling, let ``mutate`` edit
    the tree, and pack it again with conda-package-handling."""
    from conda_package_handling.api import create, extract

    tree = tmp_path / "tree"
    extract(str(source), dest_dir=str(tree))
    mutate(tree)
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if not p.is_dir())
    out = tmp_path / "repacked"
    out.mkdir()
    name = source.name
    create(str(tree), files, str(out / name), **({"compression_level": 1} if name.endswith(".conda") else {}))
    return out / name


def _edit_json(relpath: str, edit):
    def mutate(tree: Path) -> None:
        path = tree / relpath
        doc = json.loads(path.read_text())
        edit(doc)
        path.write_text(json.dumps(doc))
    return mutate


def _paths_first(edit):
    def inner(doc):
        edit(doc["paths"][0])
    return inner


PUREPY = "purepy"
MALFORMED = [
    ("index-missing", lambda t: (t / "info" / "index.json").unlink(), "missing info/index.json"),
    ("index-not-json", lambda t: (t / "info" / "index.json").write_text("{name: cffi"), "info/index.json: not valid JSON"),
    ("index-depends", _edit_json("info/index.json", lambda d: d.update(depends="python")), "info/index.json: depends: not a list"),
    ("index-build-number", _edit_json("info/index.json", lambda d: d.update(build_number="7")), "info/index.json: build_number: '7' is not an integer"),
    ("about-undecodable", lambda t: (t / "info" / "about.json").write_bytes(b"\xff\xfe{}"), "info/about.json: not valid UTF-8"),
    ("paths-missing-file", _edit_json("info/paths.json", lambda d: d["paths"].append(
        {"_path": "site-packages/nowhere.py", "path_type": "hardlink", "sha256": "0" * 64, "size_in_bytes": 1})),
     "lists 'site-packages/nowhere.py' but the payload lacks it"),
    ("paths-sha256", _edit_json("info/paths.json", _paths_first(lambda e: e.update(sha256="0" * 64))), "sha256 of"),
    ("paths-not-list", _edit_json("info/paths.json", lambda d: d.update(paths={"a": 1})), "info/paths.json: paths: not a list"),
    ("depends-bad-matchspec", _edit_json("info/index.json", lambda d: d["depends"].append("python >=>3")),
     "'python >=>3' is not a valid MatchSpec"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case,mutate,reason", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_metadata_refused(tmp_path, cache_dir, fixture_packages, case, mutate, reason, fmt):
    artifact = _repack(tmp_path, fixture_packages[PUREPY + fmt], mutate)
    result, out = press_isolated(tmp_path, cache_dir, str(artifact))
    name = "press-fx-purepy" if case not in ("index-missing", "index-not-json") else artifact.name
    assert_refused(result, out, tmp_path, name, reason)


def test_fattening_conflict_names_both_owners(tmp_path, cache_dir, fixture_packages):
    channel = str(fixture_packages["channel"])
    result, out = press_isolated(tmp_path, cache_dir, "-c", channel, "--subdir", "linux-64", "--fatten", "press-fx-clash-a")
    assert_refused(result, out, tmp_path, "share/press-fx-clash/config.txt", "press-fx-clash-a-1.0.0-0",
                   "press-fx-clash-b-1.0.0-0", "--prefer")
    for preferred in ("press-fx-clash-a", "press-fx-clash-b"):
        run_dir = tmp_path / preferred
        run_dir.mkdir()
        result, out = press_isolated(run_dir, cache_dir, "-c", channel, "--subdir", "linux-64", "--fatten",
                                     "--prefer", preferred, "--json", "press-fx-clash-a")
        assert result.returncode == 0, result.stderr
        (wheel,) = json.loads(result.stdout)["wheels"]
        import zipfile

        with zipfile.ZipFile(wheel["path"]) as archive:
            assert archive.read("fixtures_press_fx_clash_a.libs/share/press-fx-clash/config.txt") == f"setting = from {preferred}\n".encode()
        assert any("kept " + preferred in note for note in wheel["notes"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_hardlinks_to_members_unpacking_does_not_keep(tmp_path, cache_dir, fmt):
    """Documentation bytes are not kept while unpacking, but a kept name that
    is a hardlink to one (directly or through another hardlink) still gets
    the bytes (a second pass over the archive), and a tampered size is still
    refused for a member whose bytes are dropped."""
    import zipfile

    from hostile import Spec, build

    readme = b"shared text\n" * 100
    elf_like = Path("/bin/true").read_bytes()  # a binary (stored as files, not packed), under share/doc
    links = {"share/hx/data.txt": "share/doc/hx/README", "share/hx/again.txt": "share/hx/data.txt",
             # through a link whose own name is not kept, to a kept file and to a dropped one
             "share/doc/hx/alias": "share/hx/other.txt", "share/hx/via-alias.txt": "share/doc/hx/alias",
             "share/doc/hx/alias2": "share/doc/hx/README", "share/hx/via-alias2.txt": "share/doc/hx/alias2"}
    links.update({f"share/hx/elf{i}": "share/doc/hx/elf" for i in range(40)})
    spec = Spec(name="press-hx-links", files={"share/doc/hx/README": readme, "share/doc/hx/elf": elf_like,
                                               "share/hx/other.txt": b"x", "share/hx/big.txt": bytes(20000)},
                hardlinks=links)
    artifact = build(spec, tmp_path / "in", fmt)
    result, out = press_isolated(tmp_path, cache_dir, str(artifact))
    assert result.returncode == 0, result.stderr
    (wheel,) = [p for p in out.iterdir() if p.suffix == ".whl"]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        libs = next(n for n in names if n.endswith(".libs/share/hx/other.txt"))[:-len("other.txt")]
        assert archive.read(libs + "data.txt") == readme and archive.read(libs + "again.txt") == readme
        assert archive.read(libs + "via-alias.txt") == b"x" and archive.read(libs + "via-alias2.txt") == readme
        assert all(archive.read(f"{libs}elf{i}") == elf_like for i in range(40))
    assert not [n for n in names if "/doc/" in n]

    paths = {"paths_version": 1, "paths": [
        {"_path": "share/doc/hx/README", "path_type": "hardlink", "size_in_bytes": 5, "sha256": "0" * 64}]}
    bad = build(Spec(name="press-hx-docsize", files={"share/doc/hx/README": readme}, paths=paths), tmp_path / "bad", fmt)
    shutil_tmp = tmp_path / "second"
    shutil_tmp.mkdir()
    result, out = press_isolated(shutil_tmp, cache_dir, str(bad))
    assert_refused(result, out, shutil_tmp, "press-hx-docsize", "is 1200 bytes, info/paths.json declares 5")
