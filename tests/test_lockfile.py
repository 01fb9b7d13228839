"""``press --file``: lock files (@EXPLICIT, conda-lock.yml, pixi.lock) as input.

The lock files under tests/data/locks/ hold exactly the records the spec route
solves for ``cffi`` from the sample (linux-64, Python 3.12; make_locks.py
writes them), their URLs on the placeholder host ``lock-host.invalid``, which
the tests rewrite to a server on 127.0.0.1 that serves the artifacts alone (no
repodata: there is nothing to solve with). The ``cffi-python`` locks add the
interpreter and what only it needs, which press leaves out, never fetching
them (the sample has no python artifact).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CFFI_CLOSURE, CONDA_FORGE, ChannelHandler, copy_channel, make_venv, run_in, run_press, serve
from press.errors import LimitError
from press.lockfile import LockFileError, interpreter_only, read_lock

LOCKS = Path(__file__).resolve().parent / "data" / "locks"
PLACEHOLDER = "https://lock-host.invalid"
FORMATS = {"cffi.explicit-md5.txt": "explicit", "cffi.explicit-sha256.txt": "explicit",
           "cffi.conda-lock.yml": "conda-lock", "cffi.pixi.lock": "pixi",
           "cffi-python.conda-lock.yml": "conda-lock", "cffi-python.pixi.lock": "pixi"}
INTERPRETER = {"python", "openssl", "tk", "ncurses", "readline", "libsqlite", "liblzma", "bzip2", "tzdata",
               "libzlib", "libuuid", "libxcrypt", "libnsl", "libexpat", "ld_impl_linux-64", "ca-certificates",
               "pip", "setuptools", "wheel"}


def _sub(name: str) -> str:
    return "linux-64" if (CONDA_FORGE / "linux-64" / name).exists() else "noarch"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    """A channel directory named conda-forge holding the cffi closure's artifacts and no repodata."""
    root = tmp_path_factory.mktemp("mirror") / "conda-forge"
    for name in CFFI_CLOSURE:
        (root / _sub(name)).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CONDA_FORGE / _sub(name) / name, root / _sub(name) / name)
    return root


def _lock(tmp_path: Path, name: str, host: str = PLACEHOLDER, edit=lambda text: text) -> Path:
    path = tmp_path / name
    path.write_text(edit((LOCKS / name).read_text().replace(PLACEHOLDER, host)))
    return path


def _wheels(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.glob("*.whl"))}


# -- reading: typed records, the interpreter's left out -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_reads_the_solved_records(name):
    locked = read_lock(LOCKS / name, "linux-64")
    assert locked.format == FORMATS[name] and locked.python_version() == "3.12"
    by_name = {p.name: p for p in locked.packages}
    needed, left_out = interpreter_only(locked.packages, lambda p: p.dependency_names or ())
    if name.startswith("cffi-python"):
        assert left_out == INTERPRETER
        assert by_name["python"].file_name == "python-3.12.8-h9e4cc4f_1_cpython.conda"
    else:
        assert set(by_name) == {n.rsplit("-", 2)[0] for n in CFFI_CLOSURE} and not left_out
    if locked.format == "explicit":  # names no dependencies: press reads them from the archives
        assert all(p.dependency_names is None and p.depends is None for p in locked.packages)
    else:
        assert {by_name[n].file_name for n in needed} == set(CFFI_CLOSURE)
    cffi = by_name["cffi"]
    assert (cffi.version, cffi.build, cffi.subdir, cffi.channel) == ("1.17.1", "py312h06ac9bb_0", "linux-64",
                                                                     f"{PLACEHOLDER}/conda-forge")
    assert (cffi.md5 or cffi.sha256) and all(len(h) in (32, 64) for h in (cffi.md5, cffi.sha256) if h)


def test_conda_lock_pip_entries_and_other_platforms(tmp_path):
    lock = _lock(tmp_path, "cffi.conda-lock.yml", edit=lambda t: t.replace(
        "package:\n", "package:\n- name: requests\n  version: 2.32.3\n  manager: pip\n  platform: linux-64\n"
                      "  dependencies: {}\n  url: https://files.example/requests-2.32.3-py3-none-any.whl\n"
                      "  hash:\n    sha256: " + "a" * 64 + "\n  category: main\n  optional: false\n", 1))
    locked = read_lock(lock, "linux-64")
    assert len(locked.packages) == 9 and locked.skipped[0][0] == "requests 2.32.3" and "pip" in locked.skipped[0][1]
    with pytest.raises(LockFileError, match="no package for osx-arm64; the lock file has linux-64"):
        read_lock(lock, "osx-arm64")


def test_pixi_environment_must_exist():
    with pytest.raises(LockFileError, match="no environment 'test'; it has default"):
        read_lock(LOCKS / "cffi.pixi.lock", "linux-64", "test")


HOSTILE = {
    "file URL": (lambda t: t.replace(f"{PLACEHOLDER}/conda-forge/linux-64/cffi", "file:///etc/conda-forge/linux-64/cffi"),
                 "a file:// URL: press fetches locked artifacts over http(s) only"),
    "ftp URL": (lambda t: t.replace(f"{PLACEHOLDER}/conda-forge/linux-64/cffi", "ftp://h/conda-forge/linux-64/cffi"),
                "a ftp:// URL"),
    "dot-dot": (lambda t: t.replace("/conda-forge/linux-64/cffi", "/conda-forge/noarch/../linux-64/cffi"),
                "a '.' or '..' path segment"),
    "encoded dot-dot": (lambda t: t.replace("/conda-forge/linux-64/cffi", "/conda-forge/%2e%2e/linux-64/cffi"),
                        "a '.' or '..' path segment"),
    "not an artifact": (lambda t: t.replace("cffi-1.17.1-py312h06ac9bb_0.conda", "cffi.conda"),
                        "not a conda artifact file name"),
    "short md5": (lambda t: t.replace("#a861504bbea4161a9170b85d4d2be840", "#a861504bbea4161a"),
                  "is not an md5 or sha256 hash"),
    "other platform": (lambda t: t.replace("/conda-forge/linux-64/cffi", "/conda-forge/osx-64/cffi"),
                       "is a osx-64 artifact, not linux-64 or noarch"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_explicit_lines_are_refused_naming_the_line(tmp_path, case):
    edit, reason = HOSTILE[case]
    lock = _lock(tmp_path, "cffi.explicit-md5.txt", edit=edit)
    with pytest.raises(LockFileError) as caught:
        read_lock(lock, "linux-64")
    assert caught.value.package == str(lock) and caught.value.field == "line 7" and reason in caught.value.reason


@pytest.mark.parametrize("name", ["cffi.conda-lock.yml", "cffi.pixi.lock"])
def test_hostile_yaml_urls_are_refused_naming_the_entry(tmp_path, name):
    lock = _lock(tmp_path, name, edit=lambda t: t.replace("/conda-forge/linux-64/cffi", "/x/../conda-forge/linux-64/cffi"))
    with pytest.raises(LockFileError, match=r"package 3.*'\.' or '\.\.' path segment"):
        read_lock(lock, "linux-64")


def test_limits_and_non_lock_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PRESS_MAX_LOCK_ENTRIES", "5")
    with pytest.raises(LimitError, match="PRESS_MAX_LOCK_ENTRIES"):
        read_lock(LOCKS / "cffi.explicit-md5.txt", "linux-64")
    monkeypatch.setenv("PRESS_MAX_LOCK_SIZE", "100")
    with pytest.raises(LimitError, match="PRESS_MAX_LOCK_SIZE"):
        read_lock(LOCKS / "cffi.conda-lock.yml", "linux-64")
    monkeypatch.delenv("PRESS_MAX_LOCK_SIZE")
    (tmp_path / "environment.yml").write_text("name: x\ndependencies: [cffi]\n")
    with pytest.raises(LockFileError, match="not a lock file press reads"):
        read_lock(tmp_path / "environment.yml", "linux-64")


# -- the command: hash mismatch and hostile URLs are one error line -------------------------------------------


def test_hash_mismatch_is_one_error_naming_the_file(tmp_path, mirror):
    lock = _lock(tmp_path, "cffi.explicit-md5.txt", edit=lambda t: t.replace("a861504bbea4161a9170b85d4d2be840", "0" * 32))
    out = tmp_path / "out"
    result = run_press("--file", str(lock), "-c", str(mirror), "--subdir", "linux-64", "--no-validate", "-w", str(out),
                       "-q", cache=tmp_path / "cache")
    errors = [line for line in result.stderr.splitlines() if line.startswith("press: error:")]
    assert result.returncode == 1 and len(errors) == 1 and "Traceback" not in result.stderr
    assert errors[0].startswith("press: error: cffi-1.17.1-py312h06ac9bb_0.conda: md5: ")
    assert "the lock file says 00000000000000000000000000000000 (line 7)" in errors[0]
    assert not list(out.glob("*.whl"))


def test_file_url_is_one_error_naming_the_lock_and_line(tmp_path, mirror):
    lock = _lock(tmp_path, "cffi.explicit-sha256.txt", edit=HOSTILE["file URL"][0])
    result = run_press("--file", str(lock), "-c", str(mirror), "--subdir", "linux-64", "-w", str(tmp_path / "out"),
                       "--json", cache=tmp_path / "cache")
    error = json.loads(result.stdout)["error"]
    assert result.returncode == 1 and (error["package"], error["field"]) == (str(lock), "line 7")
    assert result.stderr.count("press: error:") == 1 and "file:// URL" in result.stderr


def test_usage_errors(tmp_path, capsys):
    from press.cli import entry

    lock = str(LOCKS / "cffi.pixi.lock")
    for args, said in [(("--file", lock, "cffi"), "give no SPEC_OR_ARTIFACT"),
                       (("--file", lock, "--python", "3.11", "--python", "3.12"), "one --python at most"),
                       (("--environment", "test", "cffi"), "--environment chooses"),
                       ((), "missing SPEC_OR_ARTIFACT")]:
        with pytest.raises(SystemExit) as exited:
            entry(list(args))
        assert exited.value.code == 2 and said in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        entry(["--file", lock, "--python", "3.11", "--subdir", "linux-64", "-w", str(tmp_path / "o"), "-q"])
    assert exited.value.code == 1 and "the lock file is for Python 3.12, not 3.11" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# -- the same wheels as the spec route, with no solve -----------------------------------------------------------


@pytest.fixture(scope="module")
def spec_wheels(tmp_path_factory) -> dict[str, dict[str, str]]:
    """The spec route's wheels of cffi from the sample, thin and fat: file name -> sha256."""
    root = tmp_path_factory.mktemp("spec")
    found = {}
    for mode in ("--thin", "--fatten"):
        run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", mode, "--no-validate",
                  "--no-wheelhouse-check", "-w", str(root / mode), "-q", "cffi", cache=root / "cache", check=True)
        found[mode] = _wheels(root / mode)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--thin", "--fatten"])
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_local_mirror_makes_the_spec_routes_wheels(tmp_path, mirror, spec_wheels, name, mode):
    out = tmp_path / "out"
    result = run_press("--file", str(LOCKS / name), "-c", str(mirror), "--subdir", "linux-64", mode, "--no-validate",
                       "--no-wheelhouse-check", "-w", str(out), "--json", cache=tmp_path / "cache", check=True)
    assert _wheels(out) == spec_wheels[mode]
    assert not list(mirror.rglob("repodata.json")) and "solving" not in result.stderr
    skipped = {s[0]: s[1] for s in json.loads(result.stdout)["skipped"]}
    if name.startswith("cffi-python"):
        assert {f.rsplit("-", 2)[0] for f in skipped} == INTERPRETER
        assert "left out as in spec mode" in skipped["python-3.12.8-h9e4cc4f_1_cpython.conda"]
        assert skipped["openssl-3.4.0-h7b32b05_1.conda"] == "needed only by the interpreter (left out with it)"
    else:
        assert not skipped


@pytest.mark.slow
def test_http_without_repodata_makes_the_spec_routes_wheels(tmp_path, mirror):
    """The artifacts alone on one server (no repodata: nothing to solve with) for
    the lock files; the spec route from an indexed copy on another."""
    indexed = copy_channel(tmp_path / "indexed" / "conda-forge", CFFI_CLOSURE)
    spec_server, spec_url = serve(indexed.parent)
    ChannelHandler.requests = []
    lock_server, lock_url = serve(mirror.parent)
    try:
        reference = {}
        for mode in ("--thin", "--fatten"):
            run_press("-c", f"{spec_url}/conda-forge", "--subdir", "linux-64", "--python", "3.12", mode,
                      "--no-validate", "--no-wheelhouse-check", "-w", str(tmp_path / f"spec{mode}"), "-q", "cffi",
                      cache=tmp_path / "spec-cache", check=True)
            reference[mode] = _wheels(tmp_path / f"spec{mode}")
        ChannelHandler.requests.clear()
        for index, name in enumerate(["cffi.explicit-md5.txt", "cffi-python.conda-lock.yml", "cffi-python.pixi.lock"]):
            lock = _lock(tmp_path, name, host=lock_url)
            mode = "--fatten" if index % 2 else "--thin"
            run_press("--file", str(lock), "--subdir", "linux-64", mode, "--no-validate", "--no-wheelhouse-check",
                      "-w", str(tmp_path / f"out-{index}"), "-q", cache=tmp_path / f"cache-{index}", check=True)
            assert _wheels(tmp_path / f"out-{index}") == reference[mode], name
        fetched = {r for r in ChannelHandler.requests if "repodata" not in r}
        assert {r.rsplit("/", 1)[1] for r in fetched} == set(CFFI_CLOSURE)
        assert not [r for r in ChannelHandler.requests if "repodata" in r or "python-3.12.8" in r]
    finally:
        spec_server.shutdown()
        lock_server.shutdown()


@pytest.mark.slow
def test_http_download_that_does_not_match_is_one_error(tmp_path, mirror):
    server, url = serve(mirror.parent)
    try:
        lock = _lock(tmp_path, "cffi.pixi.lock", host=url, edit=lambda t: t.replace(
            "sha256: cba6ea83c4b0b4f5", "sha256: 0ba6ea83c4b0b4f5"))
        result = run_press("--file", str(lock), "--subdir", "linux-64", "--no-validate", "-w", str(tmp_path / "out"),
                           "-q", cache=tmp_path / "cache")
    finally:
        server.shutdown()
    assert result.returncode == 1 and result.stderr.count("press: error:") == 1
    assert "press: error: cffi-1.17.1-py312h06ac9bb_0.conda: sha256: the download from" in result.stderr
    assert not list((tmp_path / "cache").rglob("cffi-1.17.1-py312h06ac9bb_0.conda"))



def test_channel_file_makes_a_wheelhouse_with_its_index(tmp_path, mirror, py312):
    """``press channel --file``: the locked environment's wheels and their PEP 503/691 index, from which
    uv installs cffi offline; options that select from a channel are refused beside it."""
    out = tmp_path / "out"
    result = run_press("channel", "--file", str(LOCKS / "cffi-python.pixi.lock"), str(mirror), "--subdir", "linux-64",
                       "-w", str(out), "--json", "-q", cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["projects"] == len(doc["wheels"]) == len(list(out.glob("*.whl")))
    assert {p.name for p in (out / "simple").iterdir() if p.is_dir()} >= {"cffi", "pycparser"}
    from press.venvs import _uv_binary as _uv

    python = make_venv(py312, tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    subprocess.run([_uv(), "pip", "install", "-q", "--offline", "--python", str(python), "--index-url",
                    (out / "simple").as_uri(), "cffi"], check=True, env=env)
    assert run_in(python, "import cffi; print(cffi.FFI().sizeof('int'))", tmp_path).strip() == "4"
    refused = run_press("channel", "--file", str(LOCKS / "cffi.pixi.lock"), str(mirror), "-n", "cffi", "-w", str(out),
                        cache=tmp_path / "cache")
    assert refused.returncode == 2 and "--file makes the wheelhouse of exactly the locked environment" in refused.stderr


@pytest.mark.parametrize("name, text, expected", [
    ("bomb.yml", "version: 1\nmetadata: {}\na0: &a0 [x, x, x]\na1: &a1 [*a0, *a0, *a0]\npackage:\n"
                 "- name: *a1\n  platform: linux-64\n  manager: conda\n", "an alias of a mapping or sequence"),
    ("digits.yml", "version: 1\nmetadata: {}\npackage:\n- name: x\n  platform: linux-64\n  manager: conda\n"
                   "  hash: {md5: " + "9" * 5000 + "}\n", "not YAML press reads"),
    ("date.yml", "version: 1\nmetadata: {}\npackage:\n- name: x\n  platform: 2001-13-45\n  manager: conda\n",
     "not YAML press reads"),
    ("intmd5.yml", "version: 1\nmetadata: {}\npackage:\n- name: cffi\n  version: 1.17.1\n  platform: linux-64\n"
                   "  manager: conda\n  url: https://h/conda-forge/linux-64/cffi-1.17.1-py312h06ac9bb_0.conda\n"
                   "  hash: {md5: 00000000000000000000000000000000, sha256: " + "a" * 64 + "}\n", "md5"),
])
def test_hostile_yaml_values_are_one_error(tmp_path, name, text, expected):
    """Values PyYAML makes into shared structure, huge ints or bad dates, or a hash of the wrong type, are one
    error line each (an alias bomb took 3 GB before; an integer md5 was taken as no md5)."""
    lock = tmp_path / name
    lock.write_text(text)
    result = run_press("--file", str(lock), "--subdir", "linux-64", "--no-validate", "-w", str(tmp_path / "out"),
                       cache=tmp_path / "cache")
    assert result.returncode == 1 and result.stderr.count("press: error:") == 1 and expected in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_many_entries_read_in_linear_time_and_mirror_links_are_not_followed(tmp_path):
    """20,000 @EXPLICIT lines read at once (a duplicate check compared every pair: 11 s); a -c
    directory's link at the artifact's name is not followed (it read /etc/passwd) and the URL is
    used instead."""
    import time

    from press.lockfile import mirror_copy, read_lock

    lines = ["@EXPLICIT"] + [f"https://h/conda-forge/linux-64/p{i}-1-0.conda#sha256={'a' * 64}" for i in range(20_000)]
    lock = tmp_path / "big.txt"
    lock.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    assert len(read_lock(lock, "linux-64").packages) == 20_000
    assert time.monotonic() - started < 8  # generous: a bound on growth, not a benchmark
    mirror = tmp_path / "mirror"
    (mirror / "linux-64").mkdir(parents=True)
    (mirror / "linux-64" / "p1-1-0.conda").symlink_to("/etc/passwd")
    (package,) = [p for p in read_lock(lock, "linux-64").packages if p.name == "p1"]
    assert mirror_copy(package, [str(mirror)]) is None


def test_skipped_entries_print_escaped_and_credentials_are_refused_unshown(tmp_path, mirror):
    lock = tmp_path / "pip.yml"
    hostile = "- name: \"\\e]0;pwn\\a\"\n  version: '1'\n  platform: linux-64\n  manager: pip\n"
    lock.write_text((LOCKS / "cffi.conda-lock.yml").read_text().replace("package:\n", "package:\n" + hostile, 1))
    result = run_press("--file", str(lock), "-c", str(mirror), "--subdir", "linux-64", "--no-validate",
                       "--no-wheelhouse-check", "-w", str(tmp_path / "out"), cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert "?]0;pwn? 1: a pip package of the lock" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    only_pip = tmp_path / "only-pip.yml"
    only_pip.write_text("version: 1\nmetadata: {}\npackage:\n" + hostile)
    nothing = run_press("--file", str(only_pip), "--subdir", "linux-64", "--no-validate", "-w", str(tmp_path / "o3"),
                        cache=tmp_path / "cache")
    assert nothing.returncode == 1 and "no conda package for linux-64 (1 entries" in nothing.stderr
    explicit = tmp_path / "creds.txt"
    explicit.write_text("@EXPLICIT\nhttps://me:s3cret@h/conda-forge/linux-64/cffi-1.17.1-py312h06ac9bb_0.conda"
                        f"#sha256={'a' * 64}\n")
    refused = run_press("--file", str(explicit), "--subdir", "linux-64", "--no-validate", "-w", str(tmp_path / "o2"),
                        cache=tmp_path / "cache")
    assert refused.returncode == 1 and "credentials" in refused.stderr and "s3cret" not in refused.stderr
