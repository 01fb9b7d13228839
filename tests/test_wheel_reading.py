"""Wheels press did not make, read back safely (press/wheelread.py): `press show`
and the index writer on hostile wheels end in one error line or a reported
problem, within bounded time and memory; nothing is extracted blindly, nothing
printed drives the terminal, and the index writer never follows a link in
`simple/` nor stops on a bad wheel (docs/safety.md, "Wheels read back")."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from press.errors import LimitError, PressError
from press.index import write_index
from press.installable import targets_for
from press.show import show_wheel
from press.validate import check_elf_resolution
from press.wheelread import WheelReader, printable

META = "Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
WHEEL = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n"


def make_wheel(directory: Path, name: str = "evil", tag: str = "py3-none-any", metadata: str | bytes | None = None,
               members: dict[str, bytes] | None = None, lie: dict[str, int] | None = None) -> Path:
    """A wheel ``<name>-1.0-<tag>.whl`` with METADATA, WHEEL and ``members``
    (deflated); ``lie``: member -> the inflated size its central directory
    entry declares instead of the true one (a lying header)."""
    path = directory / f"{name}-1.0-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}-1.0.dist-info/METADATA", metadata if metadata is not None else META.format(name=name))
        archive.writestr(f"{name}-1.0.dist-info/WHEEL", WHEEL.format(tag=tag))
        for member, data in (members or {}).items():
            archive.writestr(member, data)
        for member, size in (lie or {}).items():
            archive.getinfo(member).file_size = size  # the central directory is written from these at close
    return path


def show(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str, int]:
    """``press show ARGS`` in a fresh interpreter: (exit status, stdout, stderr, peak RSS in kB).
    The peak is the interpreter's own (``VmHWM``): ``ru_maxrss`` would also
    count what this test process held when it forked the child."""
    wrapper = ("import re, sys\nfrom press.cli import entry\ntry:\n    entry(['show', *sys.argv[1:]])\n"
               "finally:\n    peak = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
               "    sys.stderr.write(f'\\nMAXRSS={peak}\\n')\n")
    result = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, timeout=timeout,
                            cwd=ROOT, env=dict(os.environ, **(env or {})))
    stderr, _, rss = result.stderr.rpartition("\nMAXRSS=")
    return result.returncode, result.stdout, stderr.strip(), int(rss)


def baseline_rss(tmp_path: Path) -> int:
    """Peak RSS (kB) of ``press show`` on a small ordinary wheel in this
    environment: bounds are asserted on what a hostile wheel adds to it."""
    directory = tmp_path / "baseline"
    directory.mkdir(exist_ok=True)
    status, _out, err, rss = show(str(make_wheel(directory, "plain", members={"plain/__init__.py": b""})))
    assert status == 0, err
    return rss


@pytest.fixture()
def cli(monkeypatch, capsys):
    """``press show ARGS`` in this process (the real command line): (exit status, stdout, stderr)."""
    from press.cli import entry

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        with monkeypatch.context() as patch:
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            try:
                entry(["show", *args])
                status = 0
            except SystemExit as exc:
                status = int(exc.code or 0)
        out, err = capsys.readouterr()
        return status, out, err.strip()

    return run


def one_error(status: int, stderr: str) -> str:
    lines = stderr.splitlines()
    assert status == 1 and len(lines) == 1 and lines[0].startswith("press: error: "), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    return lines[0]


def test_inflation_bombs_are_refused_from_the_central_directory_in_bounded_time_and_memory(tmp_path, cli):
    """A 15 GiB member (a lying central directory: a few bytes stored), a METADATA
    that inflates far beyond its limit, and a member that inflates past what its header
    declares: one error line each, naming the wheel and the limit, in seconds and
    adding under 150 MB to what showing an ordinary wheel takes (the subprocess's
    timeout bounds the time)."""
    huge = make_wheel(tmp_path, "huge", members={"huge/big.so": b"\x7fELF" + bytes(4096)},
                      lie={"huge/big.so": 15 << 30})
    base = baseline_rss(tmp_path)
    status, _out, err, rss = show(str(huge))
    line = one_error(status, err)
    assert "huge-1.0-py3-none-any.whl: huge/big.so" in line and "PRESS_MAX_WHEEL_MEMBER_SIZE" in line
    assert rss - base < 150_000, (rss, base)
    # Past the member limit, the ratio (15 GiB from a few bytes) still refuses it.
    status, _out, err = cli(str(huge), env={"PRESS_MAX_WHEEL_MEMBER_SIZE": str(1 << 40)})
    assert "PRESS_MAX_COMPRESSION_RATIO" in one_error(status, err)

    meta = make_wheel(tmp_path, "meta", metadata=META.format(name="meta") + "\n" + "a" * (40 << 20))
    status, _out, err = cli(str(meta))
    assert "meta-1.0.dist-info/METADATA" in one_error(status, err) and "PRESS_MAX_COMPRESSION_RATIO" in err
    status, _out, err, rss = show(str(meta), env={"PRESS_MAX_COMPRESSION_RATIO": "100000"})
    assert "meta-1.0.dist-info/METADATA" in one_error(status, err) and "PRESS_MAX_METADATA_SIZE" in err
    assert rss - base < 150_000, (rss, base)

    # The header says 100 bytes; the stream holds 1 MiB: never more than declared is taken, and the
    # mismatch is an error, not a silently cut binary.
    short = make_wheel(tmp_path, "short", members={"short/lib.so": b"\x7fELF" + bytes(1 << 20)},
                       lie={"short/lib.so": 100})
    status, _out, err = cli(str(short))
    assert "short/lib.so: unreadable member: Bad CRC-32" in one_error(status, err)


def test_sbom_bombs_are_a_reported_problem(tmp_path, cli):
    """An SBOM nested 100,000 deep, one of 63 MiB of ``{},``, one of 2 million empty
    objects and one whose values have the wrong types: the wheel is shown, each
    SBOM reported as not read (with the limit), never a crash."""
    sbom = "x-1.0.dist-info/sboms/press.cdx.json"
    cases = {
        "deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply", {}),
        "flat": (b"[" + b"{}," * (21 << 20) + b"{}]", "PRESS_MAX_SBOM_SIZE", {"PRESS_MAX_COMPRESSION_RATIO": "10000"}),
        "many": (b"[" + b"{}," * 2_000_000 + b"{}]", "PRESS_MAX_JSON_CONTAINERS", {"PRESS_MAX_COMPRESSION_RATIO": "10000"}),
        "typed": (json.dumps({"components": [{"purl": "pkg:conda/a@1", "hashes": 5}]}).encode(), "not a press SBOM", {}),
    }
    for case, (data, reason, env) in cases.items():
        directory = tmp_path / case
        directory.mkdir()
        wheel = make_wheel(directory, "x", members={sbom: data})
        if case == "flat":  # memory measured in a fresh interpreter
            base = baseline_rss(tmp_path)
            status, out, err, rss = show("--json", str(wheel), env=env)
            assert rss - base < 150_000, (rss, base)
        else:
            status, out, err = cli("--json", str(wheel), env=env)
        assert status == 0, err
        problems = json.loads(out)["wheels"][0]["problems"]
        assert any(p.startswith("SBOM not read: x-1.0-py3-none-any.whl: x-1.0.dist-info/sboms") and reason in p
                   for p in problems), (case, problems)


def test_metadata_is_checked_eagerly(tmp_path, cli):
    """Fields that packaging's Metadata would only refuse when read (a Requires-Dist,
    Requires-Python or Version that does not parse, a Name given twice, METADATA
    that is not UTF-8): one error line naming the wheel, the file and the field."""
    cases = {
        "Requires-Dist": META + "Requires-Dist: foo >=< 1\n",
        "Requires-Python": META + "Requires-Python: >=3.x\n",
        "Version": "Metadata-Version: 2.1\nName: {name}\nVersion: one\n",
        "Name": META + "Name: other\n",
    }
    for field, text in cases.items():
        directory = tmp_path / field
        directory.mkdir()
        wheel = make_wheel(directory, metadata=text.format(name="evil"))
        with pytest.raises(PressError) as caught:
            show_wheel(wheel)
        assert str(caught.value).startswith(f"evil-1.0-py3-none-any.whl: evil-1.0.dist-info/METADATA: {field}"), \
            caught.value
    wheel = make_wheel(tmp_path, metadata=b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\nSummary: \xff\xfe\n")
    assert show_wheel(wheel).name == "evil"  # an undecodable Summary: left out, no crash
    status, _out, err = cli(str(make_wheel(tmp_path / "Requires-Dist", "bad", metadata=cases["Requires-Dist"]
                                           .format(name="bad"))))
    assert "bad-1.0.dist-info/METADATA: Requires-Dist: 'foo >=< 1' does not parse" in one_error(status, err)


def test_not_a_wheel_and_hostile_names_are_one_line(tmp_path, cli):
    """Not a zip, a cut zip, an encrypted member, a member count past the limit, and a
    file name full of escapes: one error line each, printable."""
    garbage = tmp_path / "garbage-1.0-py3-none-any.whl"
    garbage.write_bytes(b"PK\x03\x04 not really a zip" * 10)
    assert "garbage-1.0-py3-none-any.whl: not a readable zip archive" in one_error(*cli(str(garbage))[::2])
    good = make_wheel(tmp_path, "cut", members={"cut/a.py": b"x = 1\n" * 1000})
    cut = tmp_path / "cut" / good.name
    cut.parent.mkdir()
    cut.write_bytes(good.read_bytes()[:-30])
    assert "not a readable zip archive" in one_error(*cli(str(cut))[::2])
    locked = make_wheel(tmp_path, "locked", members={"locked/a.py": b"x"})
    data = bytearray(locked.read_bytes())
    central = data.rfind(b"PK\x01\x02")  # the last central directory entry: set its "encrypted" flag
    data[central + 8] |= 1
    locked.write_bytes(bytes(data))
    assert "locked/a.py: member is encrypted" in one_error(*cli(str(locked))[::2])
    many = make_wheel(tmp_path, "many", members={f"many/m{i}.py": b"" for i in range(50)})
    status, _out, err = cli(str(many), env={"PRESS_MAX_MEMBERS": "20"})
    assert "more than 20 archive members" in one_error(status, err) and "at least 52 in the central directory" in err
    # A record that says 1 entry does not hide the 52 its directory holds.
    data = bytearray(many.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8: end + 12] = b"\x01\x00\x01\x00"
    many.write_bytes(bytes(data))
    status, _out, err = cli(str(many), env={"PRESS_MAX_MEMBERS": "20"})
    assert "more than 20 archive members" in one_error(status, err) and "at least 21 in the central" in err
    escaped = tmp_path / "\x1b[2J\x1b]0;owned\x07evil-1.0-py3-none-any.whl"
    escaped.write_bytes(b"x")
    line = one_error(*cli(str(escaped))[::2])
    assert "\x1b" not in line and "\x07" not in line


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_member_names_that_clash_on_extraction(tmp_path, cli):
    """Members that would clash when extracted (``a`` and ``a/b``, two members
    installing to one path, the same name twice, names equal under case or NFC),
    absolute and ``..`` names: the wheel is shown, each clash a problem, nothing is
    written outside the scratch directory and only binaries are written at all."""
    elf = b"\x7fELF" + bytes(60)
    members = {"pkg/mod.so": elf, "pkg/mod.so/inner.py": b"", "evil-1.0.data/purelib/pkg/x.so": elf, "pkg/x.so": elf,
               "Pkg/X.py": b"", "pkg/x.py": b"", "pkg/caf\u00e9.py": b"", "pkg/cafe\u0301.py": b"",
               "../escape.so": elf, "/abs.so": elf, "C:/drive.so": elf}
    wheel = make_wheel(tmp_path, tag="py3-none-win_amd64", members=members)
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.writestr("pkg/dup.py", b"one")
        archive.writestr("pkg/dup.py", b"two")
    before = set(tmp_path.parent.iterdir())
    status, out, err = cli("--json", str(wheel))
    assert status == 0, err
    problems = json.loads(out)["wheels"][0]["problems"]
    joined = "\n".join(problems)
    assert "where other members need a directory" in joined and "both install to 'pkg/x.so'" in joined
    assert "collide on the file systems" in joined or "two members have one name" in joined
    assert not (tmp_path.parent / "escape.so").exists() and set(tmp_path.parent.iterdir()) == before
    assert not Path("/abs.so").exists()


def test_long_needed_and_runpath_names_are_problems(tmp_path, cli):
    """An ELF whose DT_NEEDED is 300 bytes long or holds a '/', and a RUNPATH entry
    with a 300-byte component: press show and validation's resolution check report
    them, and never look such a name up on the file system."""
    lief = pytest.importorskip("lief")
    source = Path("/usr/lib/x86_64-linux-gnu/libdl.so.2")
    if not source.is_file():
        pytest.skip("no small system ELF library")
    binary = lief.parse(str(source))
    binary.add_library("l" * 300 + ".so")
    binary.add_library("../../../../etc/passwd")
    binary.add(lief.ELF.DynamicEntryRunPath("$ORIGIN/" + "d" * 300))
    elf = tmp_path / "libevil.so"
    binary.write(str(elf))
    wheel = make_wheel(tmp_path, tag="py3-none-manylinux_2_17_x86_64", members={"evil/libevil.so": elf.read_bytes()})
    status, out, err = cli("--json", str(wheel))
    assert status == 0, err
    problems = json.loads(out)["wheels"][0]["problems"]
    assert any("DT_NEEDED 'lll" in p and "is not a plain file name" in p for p in problems), problems
    assert any("DT_NEEDED '../../../../etc/passwd' is not a plain file name" in p for p in problems), problems
    site = tmp_path / "site"
    site.mkdir()
    (site / "libevil.so").write_bytes(elf.read_bytes())
    found = check_elf_resolution(site, [site / "libevil.so"], set())
    assert any("is not a plain file name" in p for p in found), found


def test_printed_text_cannot_drive_the_terminal(tmp_path, cli):
    """Escape sequences, BEL, C1 controls and bidi overrides in Summary, License,
    Requires-Dist markers and member names are stripped from the human output;
    JSON escapes them."""
    nasty = "\x1b[31mred\x1b[0m \x1b]0;title\x07 \x9b2J \u202eevil\u202c \x08\x07"
    metadata = (META.format(name="evil") + f"Summary: {nasty}\nLicense: {nasty}\n").encode()
    wheel = make_wheel(tmp_path, metadata=metadata, members={f"evil/{nasty[:9]}.py": b""})
    status, out, err = cli(str(wheel))
    assert status == 0, err
    assert "  summary: red" in out and "evil" in out
    for bad in ("\x1b", "\x07", "\x9b", "\u202e", "\u202c", "\x08"):
        assert bad not in out and bad not in err
    status, out, _err = cli("--json", str(wheel))
    assert json.loads(out)["wheels"][0]["summary"] == nasty and "\x1b" not in out and "\u202e" not in out
    assert printable("a\x1b[1;31mb\x1b]8;;http://x\x1b\\c\u2066d\x00e\tf") == "abcde f"


def test_show_lists_install_time_hooks(tmp_path):
    """Top-level .pth files and sitecustomize/usercustomize, also through .data/purelib,
    are listed; a nested .pth or a module merely named like them is not."""
    wheel = make_wheel(tmp_path, members={"evil.pth": b"import os\n", "sitecustomize.py": b"",
                                          "evil-1.0.data/purelib/usercustomize/__init__.py": b"",
                                          "evil/inner.pth": b"", "evil/sitecustomize.py": b"",
                                          "sitecustomize_not.py": b""})
    view = show_wheel(wheel)
    assert view.hooks == ["evil.pth", "sitecustomize.py", "usercustomize/__init__.py"]
    assert any(line.startswith("  install-time hooks (run at every interpreter start): evil.pth")
               for line in view.lines())


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): ("-> " + os.readlink(p) if p.is_symlink() else
                                       "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*"))}


def test_index_follows_no_link_and_leaves_bad_wheels_out(tmp_path):
    """Links planted in and at ``simple/`` (a stale project, a project, the root
    pages, a ``.metadata`` file) are replaced or removed, never written through or
    emptied; foreign wheels that are not zips, beyond a limit, with bad metadata,
    naming another project, or symlinks are left out with a reason; the good wheel
    is indexed."""
    outside = tmp_path / "outside"
    (outside / "victim").mkdir(parents=True)
    (outside / "victim" / "precious").write_bytes(b"keep me\n")
    (outside / "page").write_bytes(b"not an index\n")
    before = _tree(outside)
    house = tmp_path / "house"
    (house / "simple").mkdir(parents=True)
    (house / "simple" / "gone").symlink_to(outside / "victim")            # a stale "project": emptied before
    (house / "simple" / "good").symlink_to(outside / "victim")            # the project written now
    (house / "simple" / "index.html").symlink_to(outside / "page")
    good = make_wheel(house, "good", members={"good/__init__.py": b""})
    (house / (good.name + ".metadata")).symlink_to(outside / "page")
    (house / "vanished-1.0-py3-none-any.whl.metadata").symlink_to(outside / "page")
    (house / "notzip-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    make_wheel(house, "badmeta", metadata=META.format(name="badmeta") + "Requires-Python: >=3.x\n")
    make_wheel(house, "liar", metadata=META.format(name="requests"))
    make_wheel(house, "bomb", members={"bomb/big.so": b"x"}, lie={"bomb/big.so": 15 << 30})
    (house / "link-1.0-py3-none-any.whl").symlink_to(good)
    (house / "bad_name.whl").write_bytes(b"")
    os.mkfifo(house / "fifo-1.0-py3-none-any.whl")

    index = write_index(house)
    assert _tree(outside) == before
    assert index.projects == {"good": [good.name]}
    assert set(index.left_out) == {"notzip-1.0-py3-none-any.whl", "badmeta-1.0-py3-none-any.whl",
                                   "liar-1.0-py3-none-any.whl", "bomb-1.0-py3-none-any.whl",
                                   "link-1.0-py3-none-any.whl", "bad_name.whl", "fifo-1.0-py3-none-any.whl"}
    assert "Requires-Python" in index.left_out["badmeta-1.0-py3-none-any.whl"]
    assert "METADATA names 'requests'" in index.left_out["liar-1.0-py3-none-any.whl"]
    assert "PRESS_MAX_WHEEL_MEMBER_SIZE" in index.left_out["bomb-1.0-py3-none-any.whl"]
    assert "symlink" in index.left_out["link-1.0-py3-none-any.whl"]
    assert any(w.startswith("left out of the index: notzip-1.0-py3-none-any.whl: ") for w in index.warnings())
    simple = house / "simple"
    assert not any(p.is_symlink() for p in simple.rglob("*")) and not (simple / "gone").exists()
    page = json.loads((simple / "good" / "index.json").read_text())
    assert [f["filename"] for f in page["files"]] == [good.name]
    assert page["files"][0]["hashes"]["sha256"] == hashlib.sha256(good.read_bytes()).hexdigest()
    assert not (house / (good.name + ".metadata")).is_symlink()
    assert (house / (good.name + ".metadata")).read_text() == META.format(name="good")
    assert not os.path.lexists(house / "vanished-1.0-py3-none-any.whl.metadata")
    # simple/ itself a link: replaced by a directory, the target untouched.
    (simple_moved := tmp_path / "old-simple").mkdir()
    os.rename(simple, simple_moved / "x")
    simple.symlink_to(outside / "victim")
    write_index(house)
    assert _tree(outside) == before and simple.is_dir() and not simple.is_symlink()


def test_wheelhouse_check_and_reader_refuse_what_show_refuses(tmp_path):
    """The wheelhouse check's reader leaves hostile wheels out (no crash); the
    reader's limits are LimitErrors."""
    bomb = make_wheel(tmp_path, "bomb", members={"bomb/big.so": b"x"}, lie={"bomb/big.so": 15 << 30})
    deep = make_wheel(tmp_path, "deep", members={"deep-1.0.dist-info/sboms/press.cdx.json": b"[" * 100_000})
    good = make_wheel(tmp_path, "good")
    found = targets_for([bomb, deep, good], ["3.12"], "linux-64")
    assert set(found) == {deep.name, good.name}
    with pytest.raises(LimitError):
        WheelReader(bomb)


def test_batch_reports_a_bad_wheel_left_out_of_the_index(tmp_path, cache_dir):
    """A foreign wheel that is not a zip, in a batch's wheel directory: the batch
    writes the index without it and says so in its report."""
    import shutil

    from conftest import CONDA_FORGE

    channel = tmp_path / "channel" / "noarch"
    channel.mkdir(parents=True)
    shutil.copyfile(CONDA_FORGE / "noarch" / "colorama-0.4.6-pyhd8ed1ab_1.conda",
                    channel / "colorama-0.4.6-pyhd8ed1ab_1.conda")
    house = tmp_path / "house"
    house.mkdir()
    (house / "junk-1.0-py3-none-any.whl").write_bytes(b"junk")
    result = subprocess.run([sys.executable, "-m", "press", "channel", str(channel.parent), "--subdir", "linux-64",
                             "--python", "3.12", "-j", "1", "--no-wheelhouse-check", "-w", str(house),
                             "--cache-dir", str(cache_dir)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "warning: left out of the index: junk-1.0-py3-none-any.whl: not a readable zip archive" in result.stdout
    assert (house / "simple" / "colorama" / "index.json").is_file() and not (house / "simple" / "junk").exists()


def test_metadata_field_counts_are_bounded_before_parsing(tmp_path, cli):
    """packaging's parser looks every distinct header name up among all fields
    (30,000 distinct names took 72 s in the index writer): more distinct names
    or fields than the limits is one error line for `press show`, and the index
    and the wheelhouse check leave such a wheel out; a wheel within them is shown."""
    names = make_wheel(tmp_path, "names", metadata=META.format(name="names")
                       + "".join(f"X-Field-{i}: v\n" for i in range(150)))
    status, _out, err = cli(str(names))
    assert "names-1.0.dist-info/METADATA" in one_error(status, err) and "PRESS_MAX_METADATA_FIELD_NAMES" in err
    fields = make_wheel(tmp_path, "fields", metadata=META.format(name="fields") + "Classifier: x\n" * 600)
    status, _out, err = cli(str(fields), env={"PRESS_MAX_METADATA_FIELDS": "500"})
    assert "PRESS_MAX_METADATA_FIELDS" in one_error(status, err)
    status, out, _err = cli(str(fields))  # 603 fields under 4 names: within the defaults
    assert status == 0 and "distribution: fields 1.0" in out
    index = write_index(tmp_path)
    assert set(index.projects) == {"fields"} and "PRESS_MAX_METADATA_FIELD_NAMES" in index.left_out[names.name]
    assert set(targets_for([names, fields], ["3.12"], "linux-64")) == {fields.name}


def test_record_is_read_within_limits(tmp_path, cli):
    """A RECORD beyond the metadata_size limit, or with more lines than the wheel
    has members (a million rows took 600 MB to verify), is reported as not verified
    rather than parsed; a path that the file system refuses is one error line."""
    big = make_wheel(tmp_path, "big", members={"big-1.0.dist-info/RECORD": os.urandom(150_000).hex().encode()})
    status, out, err = cli(str(big), env={"PRESS_MAX_METADATA_SIZE": "200000"})
    assert status == 0 and "RECORD declares 300000 bytes, more than the metadata_size limit" in out, err
    rows = make_wheel(tmp_path, "rows", members={"rows-1.0.dist-info/RECORD": b"rows/x.py,,\n" * 5000})
    problems = show_wheel(rows).problems
    assert any("RECORD has 5000 lines for 3 members: not verified" in p for p in problems), problems
    status, _out, err = cli(str(tmp_path / ("x" * 5000 + ".whl")))
    assert "cannot open the wheel: File name too long" in one_error(status, err)
