"""The unpacked-artifact cache is used only when it is exactly what press
wrote, and decompression is bounded (docs/safety.md, "Cache and channels"
and "Resource limits").

- A cache entry whose bytes do not hash to its manifest, that holds a
  symlink anywhere (the entry, ``root``, ``members.pack``, inside ``root``),
  an extra file, or an edited manifest is discarded with a note and
  unpacked again: the wheel is byte-identical to a fresh conversion's, and
  nothing a link points at is touched.
- Thousands of skippable zstd frames or empty bzip2 streams, a skippable
  frame that reads megabytes without output, a member (plain or GNU sparse)
  that declares gigabytes of zeros in a few hundred bytes, and tar headers
  beyond the expansion ratio are refused with the limit's error, before the
  cache holds anything big.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import press
from conftest import CONDA_FORGE, ROOT
from hostile import Spec, _zstd, build, info_files
from press.artifact import open_artifact
from press.errors import LimitError

ARTIFACT = CONDA_FORGE / "linux-64" / "libffi-3.4.2-h7f98852_5.tar.bz2"  # a library (root/) and headers (pack)
SHA256 = hashlib.sha256(ARTIFACT.read_bytes()).hexdigest()


def _convert(cache: Path, out: Path) -> tuple[bytes, list[str]]:
    """Convert ARTIFACT with the cache ``cache``: the wheel's bytes and the progress notes."""
    notes: list[str] = []
    report = press.convert([str(ARTIFACT)], press.ConvertOptions(
        subdir="linux-64", python="3.12", validate=False, check=False, wheel_dir=out, cache_dir=cache),
        progress=notes.append)
    (wheel,) = report.wheels
    return Path(wheel.path).read_bytes(), notes


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, bytes]:
    """A filled cache and the wheel a fresh conversion writes."""
    where = tmp_path_factory.mktemp("reference")
    wheel, notes = _convert(where / "cache", where / "out")
    assert not [n for n in notes if "discarded" in n]
    assert _convert(where / "cache", where / "again")[0] == wheel  # read from the cache: the same bytes
    return where / "cache", wheel


def _entry(cache: Path) -> Path:
    (entry,) = [p for p in (cache / "unpacked").iterdir() if p.name.startswith(SHA256)]
    return entry


def _flip_pack_byte(entry: Path, outside: Path) -> None:
    pack = entry / "members.pack"
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0x20
    pack.write_bytes(bytes(data))


def _root_symlink(entry: Path, outside: Path) -> None:
    # root points at a directory holding other bytes under the same names
    shutil.copytree(entry / "root", outside / "root")
    (library,) = [p for p in (outside / "root").rglob("*") if p.is_file()]
    library.write_bytes(library.read_bytes()[:-4] + b"EVIL")
    shutil.rmtree(entry / "root")
    (entry / "root").symlink_to(outside / "root")


def _root_symlink_same_bytes(entry: Path, outside: Path) -> None:
    # even an exact copy is refused: the kernel is never asked to follow it
    shutil.copytree(entry / "root", outside / "root")
    shutil.rmtree(entry / "root")
    (entry / "root").symlink_to(outside / "root")


def _pack_symlink(entry: Path, outside: Path) -> None:
    shutil.copy(entry / "members.pack", outside / "members.pack")
    (entry / "members.pack").unlink()
    (entry / "members.pack").symlink_to(outside / "members.pack")


def _symlink_inside_root(entry: Path, outside: Path) -> None:
    (library,) = [p for p in (entry / "root").rglob("*") if p.is_file()]
    shutil.copy(library, outside / "library")
    library.unlink()
    library.symlink_to(outside / "library")


def _entry_symlink(entry: Path, outside: Path) -> None:
    shutil.copytree(entry, outside / "entry")
    shutil.rmtree(entry)
    entry.symlink_to(outside / "entry")


def _extra_file(entry: Path, outside: Path) -> None:
    (entry / "root" / "lib" / "planted.pth").write_bytes(b"import os\n")


def _edit_manifest(entry: Path, outside: Path) -> None:
    # an edit that changes no byte of the pack or root: executable bits
    manifest = json.loads((entry / "manifest.json").read_text())
    for facts in manifest["files"].values():
        facts[2] = True
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _edit_manifest_and_digest(entry: Path, outside: Path) -> None:
    # the digest made to match, but a packed member's range moved onto other bytes
    data = (entry / "manifest.json").read_bytes()
    body = json.loads(data)
    body.pop("digest")
    name = next(p for p, r in body["packed"].items() if r[1] > 8)
    body["packed"][name][0] += 1
    raw = json.dumps(body, sort_keys=True).encode()
    (entry / "manifest.json").write_bytes(raw[:-1] + b',"digest":"' + hashlib.sha256(raw).hexdigest().encode() + b'"}')


def _truncate_pack(entry: Path, outside: Path) -> None:
    pack = entry / "members.pack"
    pack.write_bytes(pack.read_bytes()[:-100])


TAMPER = {
    "pack-byte-flipped": _flip_pack_byte,
    "root-symlink-other-bytes": _root_symlink,
    "root-symlink-same-bytes": _root_symlink_same_bytes,
    "pack-symlink": _pack_symlink,
    "symlink-inside-root": _symlink_inside_root,
    "entry-symlink": _entry_symlink,
    "extra-file-in-root": _extra_file,
    "manifest-edited": _edit_manifest,
    "manifest-and-digest-edited": _edit_manifest_and_digest,
    "pack-truncated": _truncate_pack,
}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"")
            for p in sorted(root.rglob("*")) if not p.is_symlink()}


#: The cases the issue names run by default; the other variants with -m slow.
DEFAULT_TAMPER = {"pack-byte-flipped", "root-symlink-other-bytes", "manifest-edited", "manifest-and-digest-edited"}


@pytest.mark.parametrize("case", [c if c in DEFAULT_TAMPER else pytest.param(c, marks=pytest.mark.slow)
                                  for c in sorted(TAMPER)])
def test_tampered_cache_entry_is_discarded(tmp_path, reference, case):
    cache_source, wheel = reference
    cache = tmp_path / "cache"
    shutil.copytree(cache_source, cache, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    TAMPER[case](_entry(cache), outside)
    before = _tree(outside)
    got, notes = _convert(cache, tmp_path / "out")
    assert got == wheel
    discarded = [n for n in notes if "discarded" in n]
    assert len(discarded) == 1 and SHA256 in discarded[0], notes
    assert _tree(outside) == before  # nothing a link pointed at was read into the wheel, changed or removed
    entry = _entry(cache)  # unpacked again, as press writes it
    assert not entry.is_symlink() and not [p for p in entry.rglob("*") if p.is_symlink()]
    assert not [p for p in (cache / "unpacked").iterdir() if p.name.startswith(".")]  # no leftovers
    if case == "pack-byte-flipped":  # the new entry verifies
        again, notes = _convert(cache, tmp_path / "again")
        assert again == wheel and not [n for n in notes if "discarded" in n]


def test_cache_directory_that_is_a_symlink_is_not_used(tmp_path, reference):
    _cache_source, wheel = reference
    cache, elsewhere = tmp_path / "cache", tmp_path / "elsewhere"
    cache.mkdir()
    elsewhere.mkdir()
    (cache / "unpacked").symlink_to(elsewhere)
    got, notes = _convert(cache, tmp_path / "out")
    assert got == wheel
    assert any("is not used" in n for n in notes), notes
    assert list(elsewhere.iterdir()) == []  # nothing written through the link


@pytest.mark.slow
def test_cli_says_an_entry_was_discarded(tmp_path, reference):
    cache_source, wheel = reference
    cache = tmp_path / "cache"
    shutil.copytree(cache_source, cache, symlinks=True)
    _flip_pack_byte(_entry(cache), tmp_path)
    result = subprocess.run([sys.executable, "-m", "press", "--cache-dir", str(cache), "-w", str(tmp_path / "out"),
                             "--subdir", "linux-64", "--python", "3.12", "--no-validate", "--no-wheelhouse-check",
                             str(ARTIFACT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "unpacked-artifact cache entry" in result.stderr and "discarded" in result.stderr
    (out,) = (tmp_path / "out").glob("*.whl")
    assert out.read_bytes() == wheel


# Decompression bounds

def _run(tmp_path: Path, artifact: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "press", "--cache-dir", str(tmp_path / "cache"), "-w",
                           str(tmp_path / "out"), "--no-validate", "--no-wheelhouse-check", "-q", str(artifact)],
                          capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, **(env or {})),
                          timeout=120)


def _refused(result: subprocess.CompletedProcess, needle: str) -> str:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("press: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr and "internal error" not in lines[0], result.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


def _cache_bytes(tmp_path: Path) -> int:
    return sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*") if p.is_file() and not p.is_symlink())


def _with_component(artifact: Path, prefix: str, edit) -> Path:
    with zipfile.ZipFile(artifact) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    with zipfile.ZipFile(artifact, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, edit(data) if name.startswith(prefix) else data)
    return artifact


def _skippable(count: int, payload: bytes = b"") -> bytes:
    """``count`` skippable zstd frames (RFC 8878 3.1.2) carrying ``payload``."""
    return (struct.pack("<II", 0x184D2A50, len(payload)) + payload) * count


def test_skippable_zstd_frames_refused(tmp_path):
    artifact = build(Spec(name="skip", files={"share/a.txt": b"a\n"}), tmp_path / "in", ".conda")
    _with_component(artifact, "pkg-", lambda data: _skippable(20_000) + data)  # 160 kB of frames, no output
    line = _refused(_run(tmp_path, artifact), "zstd frames (skippable ones included) or bzip2 streams")
    assert "pkg-skip-1.0-0.tar.zst" in line and "PRESS_MAX_FRAMES" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.whl"))


def test_empty_bzip2_streams_refused(tmp_path):
    artifact = build(Spec(name="empty", files={"share/a.txt": b"a\n"}), tmp_path / "in", ".tar.bz2")
    artifact.write_bytes(bz2.compress(b"") * 20_000 + artifact.read_bytes())  # 280 kB of empty streams
    _refused(_run(tmp_path, artifact), "zstd frames (skippable ones included) or bzip2 streams")


def test_skippable_frame_payload_without_output_refused(tmp_path, monkeypatch):
    # one skippable frame whose payload is read without a byte of output
    monkeypatch.setenv("PRESS_MAX_IDLE_INPUT", str(1 << 20))
    artifact = build(Spec(name="idle", files={"share/a.txt": b"a\n"}), tmp_path / "in", ".conda")
    _with_component(artifact, "pkg-", lambda data: _skippable(1, bytes(2 << 20)) + data)
    with pytest.raises(LimitError, match="compressed bytes read in a row without decompressed output"):
        open_artifact(artifact, tmp_path / "work")


def _zero_bomb(out: Path, declared: int, written: int) -> Path:
    """A .tar.bz2 whose one payload member declares ``declared`` bytes of
    zeros; ``written`` of them are really compressed in (then it ends)."""
    compressor = bz2.BZ2Compressor(9)
    head = io.BytesIO()
    with tarfile.open(fileobj=head, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in info_files(Spec(name="zero")).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        member = tarfile.TarInfo("share/zero.bin")
        member.size = declared
        chunks = [compressor.compress(head.getvalue() + member.tobuf(tarfile.PAX_FORMAT))]
        tar.fileobj = io.BytesIO()  # the end-of-archive blocks are not written
    block = bytes(1 << 20)
    chunks += [compressor.compress(block) for _ in range(written >> 20)]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "zero-1.0-0.tar.bz2"
    path.write_bytes(b"".join(chunks) + compressor.flush())
    return path


@pytest.mark.parametrize("fmt", ["plain", "sparse"])
def test_zero_member_beyond_the_expansion_ratio_refused(tmp_path, fmt):
    if fmt == "plain":
        artifact = _zero_bomb(tmp_path / "in", 8 << 30, 8 << 20)  # 8 GiB declared in a few hundred bytes
    else:  # a GNU sparse (PAX 1.0) member: 8 GiB of holes around 4 bytes of data
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in info_files(Spec(name="zero")).items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            payload = b"1\n0\n4\n".ljust(512, b"\0") + b"data"
            info = tarfile.TarInfo("GNUSparseFile.0/zero.bin")
            info.size = len(payload)
            info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                "GNU.sparse.name": "share/zero.bin", "GNU.sparse.realsize": str(8 << 30)}
            tar.addfile(info, io.BytesIO(payload))
        artifact = tmp_path / "in" / "zero-1.0-0.tar.bz2"
        artifact.parent.mkdir()
        artifact.write_bytes(bz2.compress(buffer.getvalue()))
    assert artifact.stat().st_size < 10_000
    line = _refused(_run(tmp_path, artifact), "bytes unpacked per byte of the compressed artifact")
    assert "share/zero.bin" in line and "PRESS_MAX_EXPANSION_RATIO" in line
    assert _cache_bytes(tmp_path) < 1 << 20  # refused before its bytes were written


def test_output_beyond_the_ratio_that_no_member_declares_refused(tmp_path, monkeypatch):
    # thousands of empty members: their tar headers are output no member size declares
    monkeypatch.setenv("PRESS_MAX_EXPANSION_RATIO", "1")
    artifact = build(Spec(name="headers", files={f"share/e/{i:05d}": b"" for i in range(6000)},
                          paths={"paths": [], "paths_version": 1}), tmp_path / "in", ".tar.bz2")
    with pytest.raises(LimitError, match="bytes unpacked per byte of the compressed artifact"):
        open_artifact(artifact, tmp_path / "work")


def test_real_artifacts_stay_within_the_bounds(tmp_path):
    # The sample's largest expansions, links counted at their targets' size:
    # 31:1 and 20:1, far below the default ratio (and one frame per component).
    for artifact in [CONDA_FORGE / "noarch" / "conda-forge-repodata-patches-20180828-0.tar.bz2",
                     CONDA_FORGE / "linux-64" / "ld_impl_linux-64-2.43-h712a8e2_2.conda"]:
        opened = open_artifact(artifact, tmp_path / artifact.name)
        unpacked = sum(f.size for f in opened.files.values())
        unpacked += sum(opened.files[r].size for k, r in map(opened.resolve, opened.links) if k == "file")
        assert unpacked > 15 * artifact.stat().st_size


def test_cache_within_the_same_bounds(tmp_path, monkeypatch):
    # The ratio is part of the cache key's rules: an entry made under a larger
    # one is never used under a smaller one, which refuses the artifact again.
    artifact = _zero_bomb(tmp_path / "in", 4 << 20, 4 << 20)
    monkeypatch.setenv("PRESS_MAX_EXPANSION_RATIO", str(1 << 20))
    open_artifact(artifact, tmp_path / "w1", cache=tmp_path / "cache")
    monkeypatch.setenv("PRESS_MAX_EXPANSION_RATIO", "1")
    with pytest.raises(LimitError, match="expansion ratio"):
        open_artifact(artifact, tmp_path / "w2", cache=tmp_path / "cache")


# Downloads into the cache (press/fetch.py, press/names.py)

def test_downloads_follow_no_link_in_the_cache(tmp_path):
    """Links planted in the download cache: at the old predictable temporary names
    (``.<file>.<pid>.part``), at the cached file (to a file outside, to a FIFO), and
    at ``pkgs/<key>`` and ``pkgs``. Nothing outside is written or read without end:
    the cached file is replaced, a link at a directory press keeps is an error
    naming it. The file lands where it always did (``pkgs/<key>/<file>``)."""
    from types import SimpleNamespace

    from conftest import serve
    from press.errors import PressError
    from press.fetch import fetch

    served = tmp_path / "served"
    served.mkdir()
    shutil.copyfile(ARTIFACT, served / ARTIFACT.name)
    server, url = serve(served)
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "file").write_bytes(b"the user's file\n")
    os.mkfifo(outside / "fifo")
    record = SimpleNamespace(url=f"{url}/{ARTIFACT.name}", file_name=ARTIFACT.name, sha256=SHA256,
                             size=ARTIFACT.stat().st_size, channel=url)
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    cache = tmp_path / "cache"
    pkgs = cache / "pkgs" / key
    try:
        pkgs.mkdir(parents=True)
        for pid in range(os.getpid() - 50, os.getpid() + 50):
            (pkgs / f".{ARTIFACT.name}.{pid}.part").symlink_to(outside / "file")
        (pkgs / ARTIFACT.name).symlink_to(outside / "fifo")
        path, digest = fetch(record, cache)
        assert (path, digest) == (pkgs / ARTIFACT.name, SHA256) and not path.is_symlink()
        assert path.read_bytes() == ARTIFACT.read_bytes()
        assert (outside / "file").read_bytes() == b"the user's file\n"
        assert sorted(p.name for p in pkgs.iterdir() if not p.name.endswith(".part")) == [ARTIFACT.name]
        assert fetch(record, cache) == (path, SHA256)  # reused
        shutil.rmtree(pkgs)
        pkgs.symlink_to(outside / "dir")
        with pytest.raises(PressError, match=f"{key}: is a symbolic link, not press's own"):
            fetch(record, cache)
        pkgs.unlink()
        shutil.rmtree(cache / "pkgs")
        (cache / "pkgs").symlink_to(outside / "dir")
        with pytest.raises(PressError, match="pkgs: is a symbolic link, not press's own"):
            fetch(record, cache)
        assert list((outside / "dir").iterdir()) == []
    finally:
        server.shutdown()


def test_name_mapping_refresh_follows_no_link(tmp_path):
    """The refreshed name mapping's directory as a link is an error naming it;
    a link at the refreshed copy is not read (the shipped mapping is used) and is
    replaced by the next refresh."""
    from press.errors import PressError
    from press.names import _load_mapping, load_mapping, refresh_mapping

    mapping = tmp_path / "mapping.json"
    with __import__("gzip").open(ROOT / "press" / "data" / "conda-forge-pypi-mapping.json.gz") as handle:
        mapping.write_bytes(handle.read())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_bytes(b"{}")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "name-mapping").symlink_to(outside)
    with pytest.raises(PressError, match="name-mapping: is a symbolic link, not press's own"):
        refresh_mapping(cache, mapping.as_uri())
    (cache / "name-mapping").unlink()
    (cache / "name-mapping").mkdir()
    (cache / "name-mapping" / "conda-forge-pypi-mapping.json").symlink_to(outside / "file")
    _load_mapping.cache_clear()
    assert load_mapping(cache).sources == ("press/data/conda-forge-pypi-mapping.json.gz",)
    target, _count = refresh_mapping(cache, mapping.as_uri())
    assert not target.is_symlink() and target.read_bytes() == mapping.read_bytes()
    assert (outside / "file").read_bytes() == b"{}" and sorted(os.listdir(outside)) == ["file"]
    _load_mapping.cache_clear()


def test_local_channel_index_state_is_not_trusted(tmp_path):
    """The local-channel index state in the cache as a FIFO (a hang before), a JSON
    list or entries of other types (an internal error before): the channel is
    indexed again; ``channels/`` as a link is an error naming it."""
    from press.channel import index_local_channel
    from press.errors import PressError

    channel = tmp_path / "channel" / "noarch"
    channel.mkdir(parents=True)
    shutil.copyfile(CONDA_FORGE / "noarch" / "colorama-0.4.6-pyhd8ed1ab_1.conda",
                    channel / "colorama-0.4.6-pyhd8ed1ab_1.conda")
    cache = tmp_path / "cache"
    root = index_local_channel(channel.parent, cache)
    state = root / "noarch" / "press-index-state.json"
    expected = json.loads((root / "noarch" / "repodata.json").read_text())
    for planted in ("[1, 2]", '{"colorama-0.4.6-pyhd8ed1ab_1.conda": [1], "x.conda": {"error": []}}', "fifo"):
        state.unlink()
        os.mkfifo(state) if planted == "fifo" else state.write_text(planted)
        assert index_local_channel(channel.parent, cache) == root
        assert json.loads((root / "noarch" / "repodata.json").read_text()) == expected
    shutil.rmtree(cache / "channels")
    (tmp_path / "elsewhere").mkdir()
    (cache / "channels").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PressError, match="channels: is a symbolic link, not press's own"):
        index_local_channel(channel.parent, cache)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_conda_outer_zip_entries_counted_before_parsing(tmp_path):
    """A ``.conda`` whose zip directory lists more entries than the members limit
    (1.5 million took 790 MB before) is refused from its end record."""
    artifact = build(Spec(name="outer", files={"share/a.txt": b"a\n"}), tmp_path / "in", ".conda")
    with zipfile.ZipFile(artifact, "a") as archive:
        for i in range(300):
            archive.writestr(f"extra-{i}", b"")
    line = _refused(_run(tmp_path, artifact, {"PRESS_MAX_MEMBERS": "200"}), "archive members in one artifact")
    assert "in the zip's central directory" in line and "PRESS_MAX_MEMBERS" in line
