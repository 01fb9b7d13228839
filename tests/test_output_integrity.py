"""Every wheel press writes is re-read before it is renamed into place:
RECORD hashes, one dist-info, valid METADATA (press.wheel.verify_wheel)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from conftest import CONDA_FORGE
from press.errors import ValidationError
from press.wheel import Member, verify_wheel, write_wheel


def _write(path: Path, members: list[Member]) -> None:
    write_wheel(path, members, timestamp=1700000000)


def _metadata(name: str = "demo") -> bytes:
    return f"Metadata-Version: 2.4\nName: {name}\nVersion: 1.0\n".encode()


def _rewrite(source: Path, target: Path, edit) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = edit(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info, data)


def test_good_wheel_verifies(tmp_path):
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    _write(wheel, [Member("demo.py", data=b"x = 1\n"), Member("demo-1.0.dist-info/METADATA", data=_metadata()),
                   Member("demo-1.0.dist-info/WHEEL", data=b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")])
    verify_wheel(wheel)
    assert [p.name for p in tmp_path.iterdir() if p.name != ".press-state"] == [wheel.name]  # no temporary left behind


@pytest.mark.parametrize("case,edit,reason", [
    ("tampered payload", lambda n, d: b"x = 2\n" if n == "demo.py" else d, "RECORD does not verify"),
    ("second dist-info", None, "2 .dist-info directories"),
    ("bad METADATA", lambda n, d: b"Metadata-Version: 2.4\nName: -bad-\nVersion: one\n" if n.endswith("METADATA") else d,
     "METADATA is invalid"),
])
def test_broken_wheels_are_refused(tmp_path, case, edit, reason):
    good = tmp_path / "good" / "demo-1.0-py3-none-any.whl"
    good.parent.mkdir()
    members = [Member("demo.py", data=b"x = 1\n"), Member("demo-1.0.dist-info/METADATA", data=_metadata()),
               Member("demo-1.0.dist-info/WHEEL", data=b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")]
    if edit is None:
        # write_wheel itself must refuse to publish a wheel with two dist-infos
        members.append(Member("other-1.0.dist-info/METADATA", data=_metadata("other")))
        with pytest.raises(ValidationError, match=reason):
            _write(good, members)
        assert not good.parent.exists() or list(good.parent.iterdir()) == []
        return
    _write(good, members)
    broken = tmp_path / "demo-1.0-py3-none-any.whl"
    _rewrite(good, broken, edit)
    with pytest.raises(ValidationError, match=reason):
        verify_wheel(broken)


def _members(extra: list[Member], name: str = "demo", tag: str = "py3-none-any") -> list[Member]:
    return [Member(f"{name}-1.0.dist-info/METADATA", data=_metadata(name)),
            Member(f"{name}-1.0.dist-info/WHEEL", data=f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()),
            *extra]


@pytest.mark.parametrize("case,file_name,extra,data_members,reason", [
    ("climbing member", "demo-1.0-py3-none-any.whl", [Member("../evil.py", data=b"")], (), "'..' component"),
    ("absolute member", "demo-1.0-py3-none-any.whl", [Member("/etc/evil", data=b"")], (), "is absolute"),
    ("case clash on any platform", "demo-1.0-py3-none-any.whl",
     [Member("demo/A.py", data=b""), Member("demo/a.py", data=b"")], (), "collide"),
    ("NFC clash", "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
     [Member("demo/caf\u00e9.py", data=b""), Member("demo/cafe\u0301.py", data=b"")], (), "collide"),
    ("foreign .data", "demo-1.0-py3-none-any.whl", [Member("demo-1.0.data/scripts/pip", data=b"")], (),
     "in a .data directory press did not make"),
    ("other .data", "demo-1.0-py3-none-any.whl", [Member("x.data/scripts/pip", data=b"")],
     ("demo-1.0.data/scripts/demo",), "in a .data directory press did not make"),
    ("non-ASCII file name", "d\u00e9mo-1.0-py3-none-any.whl", [], (), "not a valid wheel file name"),
    ("name mismatch", "other-1.0-py3-none-any.whl", [], (), "2 .dist-info directories"),
    ("duplicate member", "demo-1.0-py3-none-any.whl", [Member("demo.py", data=b""), Member("demo.py", data=b"1")], (),
     "two wheel members named"),
])
def test_dishonest_wheels_are_refused(tmp_path, case, file_name, extra, data_members, reason):
    with pytest.raises(ValidationError, match=reason):
        write_wheel(tmp_path / file_name, _members(extra), timestamp=1700000000, data_members=data_members)
    assert list(tmp_path.iterdir()) == []


def test_case_only_names_are_fine_in_linux_wheels_and_press_data_passes(tmp_path):
    wheel = tmp_path / "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    write_wheel(wheel, _members([Member("demo/A.py", data=b""), Member("demo/a.py", data=b""),
                                 Member("demo-1.0.data/scripts/demo", data=b"#!python\n")]),
                timestamp=1700000000, data_members=["demo-1.0.data/scripts/demo"])
    assert wheel.is_file()


def test_compression_level_changes_size_not_content(tmp_path, cache_dir):
    """--compression-level (auditwheel's users asked for it): 0 is largest, 9
    smallest, and every level holds the same files (RECORD verifies)."""
    from conftest import CONDA_FORGE, run_press

    (artifact,) = (CONDA_FORGE / "linux-64").glob("libffi-*.tar.bz2")
    sizes, contents = {}, {}
    for level in ("0", "9"):
        out = tmp_path / level
        run_press("--subdir", "linux-64", "--python", "3.12", "--no-validate", "-q", "-w", str(out),
                  "--compression-level", level, str(artifact), cache=cache_dir, check=True)
        (wheel,) = out.glob("*.whl")
        verify_wheel(wheel)
        sizes[level] = wheel.stat().st_size
        with zipfile.ZipFile(wheel) as archive:
            contents[level] = {n: archive.read(n) for n in archive.namelist()}
    assert sizes["0"] > sizes["9"] * 1.5 and contents["0"] == contents["9"]
    bad = run_press("--compression-level", "10", "-w", str(tmp_path / "x"), str(artifact), cache=cache_dir)
    assert bad.returncode == 2 and "--compression-level" in bad.stderr


@pytest.mark.slow
def test_member_beyond_4_gib_is_valid_zip64_that_pip_and_uv_install(tmp_path, py312):
    """A wheel member over 4 GiB (a sparse file: no disk for the input) is
    written as ZIP64, verifies (RECORD hash over all of it), and both uv and
    pip install it whole."""
    import subprocess

    from conftest import make_venv, uv_install
    from press.contained import Root

    root = Root(tmp_path / "src", create=True)
    size = (4 << 30) + (64 << 20)
    with root.create("big.bin") as handle:
        handle.truncate(size)
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    write_wheel(wheel, [
        Member("demo/__init__.py", data=b""),
        Member("demo/big.bin", root=root, rel="big.bin"),
        Member("demo-1.0.dist-info/METADATA", data=b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"),
        Member("demo-1.0.dist-info/WHEEL",
               data=b"Wheel-Version: 1.0\nGenerator: press\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ], compresslevel=1)
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("demo/big.bin")
        assert info.file_size == size and info.compress_size < 64 << 20
    python = make_venv(py312, tmp_path / "uv-venv")
    uv_install(python, str(wheel))
    assert (next((tmp_path / "uv-venv").glob("lib/python*/site-packages/demo/big.bin"))).stat().st_size == size
    subprocess.run([str(py312), "-m", "venv", str(tmp_path / "pip-venv")], check=True)
    subprocess.run([str(tmp_path / "pip-venv" / "bin" / "pip"), "install", "-q", "--no-index", str(wheel)], check=True)
    assert (next((tmp_path / "pip-venv").glob("lib/python*/site-packages/demo/big.bin"))).stat().st_size == size


def test_members_deflated_early_are_used_only_while_unchanged(tmp_path):
    """Relocation hands finished files to a Deflater before the wheel is
    written. A file edited afterwards (replaced, or rewritten in place) is
    deflated again, so the wheel holds its final bytes; an unchanged one is
    taken as deflated; either way the wheel equals one written without early
    deflation, and a packed file (a range of an artifact's pack) reads the same."""
    import os

    from press.contained import PackedRoot, Root
    from press.wheel import LARGE_MEMBER, Deflater

    root = Root(tmp_path / "stage", create=True)
    first, second = os.urandom(LARGE_MEMBER + 5), os.urandom(LARGE_MEMBER + 7)
    for name in ("kept.so", "replaced.so", "rewritten.so"):
        root.write_bytes(name, first)
    pack = tmp_path / "members.pack"
    pack.write_bytes(b"head" + second + b"tail")
    packed = PackedRoot(tmp_path / "packed", pack, {"data/blob": (4, len(second))}, create=True)

    def members() -> list[Member]:
        return [Member(f"demo/{n}", root=root, rel=n) for n in ("kept.so", "replaced.so", "rewritten.so")] + [
            Member("demo/blob", root=packed, rel="data/blob"),
            Member("demo-1.0.dist-info/METADATA", data=_metadata()),
            Member("demo-1.0.dist-info/WHEEL",
                   data=b"Wheel-Version: 1.0\nGenerator: press\nRoot-Is-Purelib: true\nTag: py3-none-any\n")]

    with Deflater(6, workers=2) as deflater:
        for member in members():
            if member.root is not None:
                deflater.submit(member)
        for member in deflater._early.values():
            member[1].result()  # deflated before the edits below
        root.write_bytes("replaced.so", second, replace=True)
        with open(root.host_path("rewritten.so"), "r+b") as handle:
            handle.write(second[:16])
        (tmp_path / "early").mkdir()
        early = write_wheel(tmp_path / "early" / "demo-1.0-py3-none-any.whl", members(), timestamp=1700000000,
                            deflater=deflater)
    (tmp_path / "plain").mkdir()
    plain = write_wheel(tmp_path / "plain" / "demo-1.0-py3-none-any.whl", members(), timestamp=1700000000, workers=1)
    assert early.read_bytes() == plain.read_bytes()
    with zipfile.ZipFile(early) as archive:
        assert archive.read("demo/kept.so") == first and archive.read("demo/replaced.so") == second
        assert archive.read("demo/rewritten.so") == second[:16] + first[16:]
        assert archive.read("demo/blob") == second


def test_elf_edits_with_spare_room_write_the_same_bytes(tmp_path):
    """patch_elf reads a large file with zero bytes appended (so LIEF's builder
    does not double its buffer); what it writes must not change: real
    conda-forge libraries, one with an overlay of its own, and a refused file
    left as it was."""
    from conda_package_handling import api

    from press.errors import RelocationError
    from press.relocate.elf import SPARE_ROOM, SPARE_ROOM_FROM, patch_elf

    channel = CONDA_FORGE / "linux-64"
    sources = {"libstdcxx-14.2.0-hc0a3c3a_1.conda": "lib/libstdc++.so.6.0.33",
               "libzlib-1.3.1-hb9d3cd8_2.conda": "lib/libz.so.1.3.1",
               "cffi-1.17.1-py312h06ac9bb_0.conda": "lib/python3.12/site-packages/_cffi_backend.cpython-312-x86_64-linux-gnu.so"}
    files = []
    for archive, member in sources.items():
        api.extract(str(channel / archive), str(tmp_path / archive))
        files.append(tmp_path / archive / member)
    assert files[0].stat().st_size >= SPARE_ROOM_FROM  # libstdc++ takes the default spare room
    with_overlay = tmp_path / "overlay.so"
    with_overlay.write_bytes(files[1].read_bytes() + b"appended data, not described by any header" * 100)
    files.append(with_overlay)
    for index, source in enumerate(files):
        plain, roomy = tmp_path / f"{index}-plain", tmp_path / f"{index}-roomy"
        for target in (plain, roomy):
            target.write_bytes(source.read_bytes())
        edit = {"rename_needed": {"libc.so.6": "libc-0123abcd.so.6"}, "soname": "libpressed.so",
                "runpath": ["$ORIGIN/../lib", "$ORIGIN"]}
        patch_elf(plain, spare_room=0, **edit)
        patch_elf(roomy, spare_room=None if index == 0 else SPARE_ROOM, **edit)
        assert plain.read_bytes() != source.read_bytes()
        assert roomy.read_bytes() == plain.read_bytes(), source.name
    assert (tmp_path / "3-roomy").read_bytes().endswith(b"not described by any header")

    garbage = tmp_path / "garbage.so"
    garbage.write_bytes(b"\x7fELF" + b"\xff" * 4096)
    with pytest.raises(RelocationError):
        patch_elf(garbage, runpath=["$ORIGIN"], spare_room=SPARE_ROOM)
    assert garbage.read_bytes() == b"\x7fELF" + b"\xff" * 4096
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
