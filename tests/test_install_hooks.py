"""Install-time behaviour is declared, never smuggled (issue 22, part 1):
startup hooks (``*.pth``, ``sitecustomize``/``usercustomize``) ship only when
the package's own RECORD (or press's policy data) declares them and are
always reported; the environment's own top-level names and distribution
names are never taken; no two distributions of one conversion or batch ship
the same file; a dist-info ``Name`` must be the conda name through the
mapping; direct URL requirements are dropped; binaries whose magic lies are
refused. Hostile packages are built with tests/hostile.py."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, ROOT
from hostile import Spec, build

from press import ConvertOptions, PressError, convert
from press.errors import ConflictError, InvalidInputError, RelocationError

HOOK = b"import os; os.system('touch /tmp/press-hx-pwned')\n"


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def _package(name: str = "press-hx", files: dict[str, bytes] | None = None, record: dict[str, bytes] | None = None,
             dist_name: str | None = None, requires: tuple[str, ...] = (), **spec) -> Spec:
    """A noarch Python package ``name`` with a dist-info declaring
    ``dist_name`` (default: ``name``), ``files`` in site-packages, and a
    RECORD listing ``record`` (path -> the bytes its hash is of)."""
    dist = dist_name or name
    meta = f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    payload = {f"site-packages/{dist.replace('-', '_')}_mod/__init__.py": b"",
               f"site-packages/{dist}-1.0.dist-info/METADATA": meta.encode()}
    payload.update({f"site-packages/{p}": d for p, d in (files or {}).items()})
    if record is not None:
        payload[f"site-packages/{dist}-1.0.dist-info/RECORD"] = "".join(
            _record_line(p, d) for p, d in record.items()).encode()
    index = {"name": name, "version": "1.0", "build": "0", "build_number": 0, "subdir": spec.pop("subdir", "noarch"),
             "depends": [], "timestamp": 1700000000000, "noarch": "python"}
    return Spec(name=name, index=index, files=payload, **spec)


def _convert(tmp_path: Path, *specs: Spec, **options) -> tuple[object, dict[str, list[str]]]:
    """Convert the artifacts of ``specs`` in one library call; (report, wheel file name -> members)."""
    paths = [str(build(spec, tmp_path / "in", ".conda")) for spec in specs]
    out = tmp_path / "out"
    report = convert(paths, ConvertOptions(channels=[str(tmp_path / "in")], subdir=options.pop("subdir", "linux-64"),
                                           python="3.12", wheel_dir=out, cache_dir=tmp_path / "cache", validate=False,
                                           check=False, **options))
    members = {}
    for wheel in report.wheels:
        with zipfile.ZipFile(wheel.path) as archive:
            members[Path(wheel.path).name] = archive.namelist()
    return report, members


def _press(tmp_path: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    """The real command line, with its own TMPDIR and working directory."""
    scratch, cwd = tmp_path / "tmpdir", tmp_path / "cwd"
    scratch.mkdir(exist_ok=True)
    cwd.mkdir(exist_ok=True)
    environment = dict(os.environ, TMPDIR=str(scratch), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "press", "--cache-dir", str(cache or tmp_path / "cache"), *args],
                          capture_output=True, text=True, cwd=cwd, env=environment, timeout=300)


def _one_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("press: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# -- startup hooks -------------------------------------------------------------------------------

UNDECLARED = {
    "pth": "evil.pth",
    "pth-upper-case": "EVIL.PTH",
    "pth-hidden": ".evil.pth",
    "sitecustomize": "sitecustomize.py",
    "sitecustomize-package": "sitecustomize/__init__.py",
    "sitecustomize-windows-source": "sitecustomize.pyw",
    "usercustomize-extension": "usercustomize.cpython-312-x86_64-linux-gnu.so",
    "sitecustomize-case": "SiteCustomize.py",
}


@pytest.mark.parametrize("case", sorted(UNDECLARED))
def test_undeclared_startup_hook_is_left_out_with_a_note(tmp_path, case):
    hook = UNDECLARED[case]
    # A RECORD that lists the package's other files, not the hook.
    spec = _package(files={hook: HOOK}, record={"press_hx_mod/__init__.py": b""})
    report, members = _convert(tmp_path, spec)
    (names,) = members.values()
    assert hook not in names, names
    (wheel,) = report.wheels
    assert wheel.install_hooks == []
    assert any(hook in n and "left out" in n and "interpreter start" in n for n in wheel.notes), wheel.notes


def test_undeclared_startup_hook_through_a_symlink_is_left_out(tmp_path):
    spec = _package(files={"press_hx_mod/hook.txt": HOOK}, links={"site-packages/evil.pth": "press_hx_mod/hook.txt"})
    report, members = _convert(tmp_path, spec)
    (names,) = members.values()
    assert "evil.pth" not in names
    assert report.wheels[0].install_hooks == []


def test_startup_hook_listed_in_the_packages_own_record_ships_and_is_reported(tmp_path):
    spec = _package(files={"press-hx.pth": b"import press_hx_mod\n", "sitecustomize.py": b"x = 1\n"},
                    record={"press-hx.pth": b"import press_hx_mod\n", "sitecustomize.py": b"x = 1\n"})
    report, members = _convert(tmp_path, spec)
    (names,) = members.values()
    assert "press-hx.pth" in names and "sitecustomize.py" in names
    (wheel,) = report.wheels
    assert wheel.install_hooks == ["press-hx.pth", "sitecustomize.py"]
    assert "runs at interpreter start: press-hx.pth, sitecustomize.py" in wheel.summary()
    assert json.loads(report.to_json())["wheels"][0]["install_hooks"] == ["press-hx.pth", "sitecustomize.py"]


def test_startup_hook_whose_bytes_differ_from_its_record_is_left_out(tmp_path):
    spec = _package(files={"press-hx.pth": HOOK}, record={"press-hx.pth": b"import press_hx_mod\n"})
    report, members = _convert(tmp_path, spec)
    assert "press-hx.pth" not in next(iter(members.values()))
    assert any("sha256 is not the one" in n for n in report.wheels[0].notes), report.wheels[0].notes


@pytest.mark.parametrize("row", ["evil.pth,,", "evil.pth,sha256=AAAA{digest},9", "evil.pth,sha1=2jmj7l5rSw0yVb_vlWAYkK_YBwk,9",
                                 "evil.pth,md5=,9"], ids=["no-hash", "not-32-bytes", "other-algorithm", "empty-md5"])
def test_a_record_row_without_a_valid_sha256_declares_no_hook(tmp_path, row):
    """A RECORD row whose hash is missing or unreadable does not vouch for
    the file's bytes: the hook is left out as if unlisted (the row used to be
    taken as a declaration)."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(HOOK).digest()).rstrip(b"=").decode()
    spec = _package(files={"evil.pth": HOOK}, record={"press_hx_mod/__init__.py": b""})
    record = "site-packages/press-hx-1.0.dist-info/RECORD"
    spec.files[record] += (row.format(digest=digest) + "\n").encode()
    report, members = _convert(tmp_path, spec)
    assert "evil.pth" not in next(iter(members.values()))
    assert report.wheels[0].install_hooks == []
    assert any("evil.pth" in n and "no valid sha256" in n for n in report.wheels[0].notes), report.wheels[0].notes


def test_startup_hooks_are_in_the_json_and_the_summary_of_the_command_line(tmp_path):
    spec = _package(files={"press-hx.pth": b"import press_hx_mod\n", "evil.pth": HOOK},
                    record={"press-hx.pth": b"import press_hx_mod\n"})
    artifact = build(spec, tmp_path / "in", ".tar.bz2")
    result = _press(tmp_path, "-w", str(tmp_path / "out"), "--no-validate", "--json", str(artifact))
    assert result.returncode == 0, result.stderr
    (wheel,) = json.loads(result.stdout)["wheels"]
    assert wheel["install_hooks"] == ["press-hx.pth"]
    assert any("evil.pth" in n and "left out" in n for n in wheel["notes"])
    human = _press(tmp_path, "-w", str(tmp_path / "out2"), "--no-validate", str(artifact))
    assert "runs at interpreter start: press-hx.pth" in human.stdout + human.stderr


def test_setuptools_keeps_its_declared_pth(tmp_path, cache_dir):
    # conda-forge's setuptools holds an egg-info (no RECORD); its upstream wheel's RECORD lists
    # distutils-precedence.pth, and press's policy data says so.
    artifact = CONDA_FORGE / "noarch" / "setuptools-75.8.0-pyhff2d567_0.conda"
    report = convert([str(artifact)], ConvertOptions(channels=[str(CONDA_FORGE)], subdir="linux-64", python="3.12",
                                                     wheel_dir=tmp_path / "out", cache_dir=cache_dir, validate=False,
                                                     check=False))
    (wheel,) = report.wheels
    assert wheel.install_hooks == ["distutils-precedence.pth"]
    with zipfile.ZipFile(wheel.path) as archive:
        assert "distutils-precedence.pth" in archive.namelist()


# -- names the environment owns ----------------------------------------------------------------

RESERVED = {
    "pip-package": ("pip/__init__.py", "pip"),
    "pip-module": ("pip.py", "pip"),
    "pip-case": ("PIP/__init__.py", "pip"),
    "distutils-hack": ("_distutils_hack/__init__.py", "setuptools"),
    "pkg-resources": ("pkg_resources/__init__.py", "setuptools"),
    "distutils-precedence": ("distutils-precedence.pth", "setuptools"),
    "wheel": ("wheel/__init__.py", "wheel"),
    "virtualenv-hook": ("_virtualenv.pth", "the environment itself"),
    "virtualenv-module": ("_virtualenv.py", "the environment itself"),
    "distutils": ("distutils/__init__.py", "the environment itself"),
}


@pytest.mark.parametrize("case", sorted(RESERVED))
def test_the_environments_own_names_are_refused(tmp_path, case):
    path, owner = RESERVED[case]
    # Even listed in the package's own RECORD: the name is not the package's to ship.
    spec = _package(files={path: b"x = 1\n"}, record={path: b"x = 1\n"})
    with pytest.raises(ConflictError) as caught:
        _convert(tmp_path, spec)
    assert caught.value.package == "press-hx-1.0-0" and caught.value.field == f"site-packages/{path}"
    assert owner in str(caught.value)
    assert not list((tmp_path / "out").glob("*.whl"))


def test_the_owner_ships_its_own_names(tmp_path):
    spec = _package(name="pip", files={"pip/__init__.py": b"x = 1\n"})
    report, members = _convert(tmp_path, spec)
    assert "pip/__init__.py" in next(iter(members.values()))
    assert report.wheels[0].name == "pip"


def test_reserved_name_is_one_error_line_on_the_command_line(tmp_path):
    artifact = build(_package(files={"pip/__init__.py": b"x = 1\n"}), tmp_path / "in", ".conda")
    result = _press(tmp_path, "-w", str(tmp_path / "out"), "--no-validate", str(artifact))
    _one_error(result, "press-hx-1.0-0", "site-packages/pip/__init__.py", "installer's own distribution pip")
    assert not list((tmp_path / "out").glob("*.whl"))


# -- one owner per top-level name --------------------------------------------------------------

def test_two_distributions_of_one_conversion_never_ship_the_same_file(tmp_path):
    victim = _package(name="victim", files={"shared/__init__.py": b"good = 1\n"})
    thief = _package(name="thief", files={"shared/__init__.py": b"evil = 1\n"})
    with pytest.raises(ConflictError) as caught:
        _convert(tmp_path, thief, victim)
    message = str(caught.value)
    assert "shared/__init__.py" in message and "thief" in message and "victim" in message


def test_two_distributions_never_ship_the_same_import_name(tmp_path):
    victim = _package(name="victim", files={"shared/__init__.py": b"good = 1\n"})
    thief = _package(name="thief", files={"shared.py": b"evil = 1\n"})
    with pytest.raises(ConflictError, match="shared"):
        _convert(tmp_path, victim, thief)


def test_namespace_packages_may_share_a_directory(tmp_path):
    one = _package(name="ns-one", files={"nsx/one/__init__.py": b""})
    two = _package(name="ns-two", files={"nsx/two/__init__.py": b""})
    report, members = _convert(tmp_path, one, two)
    assert len(report.wheels) == 2


def _channel(tmp_path: Path, *specs: Spec) -> Path:
    channel = tmp_path / "channel"
    for spec in specs:
        build(spec, channel / "noarch", ".conda")
    return channel


def test_a_batch_fails_both_distributions_that_ship_the_same_file(tmp_path):
    from press import BatchOptions, convert_channel

    victim = _package(name="victim", files={"shared/__init__.py": b"good = 1\n"})
    thief = _package(name="thief", files={"shared/__init__.py": b"evil = 1\n"})
    calm = _package(name="calm")
    report = convert_channel(BatchOptions(channel=str(_channel(tmp_path, victim, thief, calm)), subdir="linux-64",
                                          wheel_dir=tmp_path / "wh", cache_dir=tmp_path / "cache", jobs=1,
                                          pythons=["3.12"], check=False))
    status = {r.artifact.split("-1.0")[0]: r for r in report.results}
    assert status["calm"].status == "converted"
    for name, other in (("victim", "thief"), ("thief", "victim")):
        assert status[name].status == "failed", status[name]
        assert "shared/__init__.py" in status[name].reason and other in status[name].reason


# -- a dist-info Name is the conda name through the mapping ------------------------------------

def test_a_dist_info_may_not_claim_another_projects_name(tmp_path):
    with pytest.raises(InvalidInputError) as caught:
        _convert(tmp_path, _package(name="evil", dist_name="requests"))
    assert caught.value.package == "evil" and caught.value.field == "dist-info Name"
    assert "'requests'" in str(caught.value)


def test_a_second_dist_info_may_not_claim_another_projects_name(tmp_path):
    spec = _package(name="evil", files={"requests-2.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: requests\n"
                                                                             b"Version: 2.0\n"})
    with pytest.raises(InvalidInputError, match="requests"):
        _convert(tmp_path, spec)


def test_an_affixed_conda_name_may_not_become_pip(tmp_path):
    with pytest.raises((InvalidInputError, ConflictError), match="pip"):
        _convert(tmp_path, _package(name="python-pip", dist_name="pip"))


def test_the_mapping_may_say_a_dist_info_name_is_right(tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"evil": ["requests"]}))
    report, _members = _convert(tmp_path, _package(name="evil", dist_name="requests"), name_mapping=[mapping])
    assert report.wheels[0].name == "requests"


def test_a_batch_keeps_the_real_name_whatever_the_file_order(tmp_path):
    from press import BatchOptions, convert_channel

    # aaa-evil sorts before requests, zzz-evil after: neither takes the name.
    specs = [_package(name="aaa-evil", dist_name="requests"), _package(name="requests"),
             _package(name="zzz-evil", dist_name="requests")]
    report = convert_channel(BatchOptions(channel=str(_channel(tmp_path, *specs)), subdir="linux-64",
                                          wheel_dir=tmp_path / "wh", cache_dir=tmp_path / "cache", jobs=1,
                                          pythons=["3.12"], check=False))
    status = {r.artifact.split("-1.0")[0]: r for r in report.results}
    assert status["requests"].status == "converted" and status["requests"].wheels[0].startswith("requests-1.0-")
    for evil in ("aaa-evil", "zzz-evil"):
        assert status[evil].status == "failed" and "dist-info Name" in status[evil].reason, status[evil]
    assert [w.name for w in (tmp_path / "wh").glob("requests-*.whl")] == status["requests"].wheels


# -- the installer's own distribution names ----------------------------------------------------

def test_a_users_mapping_to_pip_is_refused(tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"evil": ["pip"]}))
    with pytest.raises(InvalidInputError) as caught:
        _convert(tmp_path, _package(name="evil"), name_mapping=[mapping])
    assert "installer's own distribution" in str(caught.value) and caught.value.field == "name mapping: evil"


def test_a_refreshed_mapping_to_pip_is_refused(tmp_path):
    refreshed = tmp_path / "cache" / "name-mapping" / "conda-forge-pypi-mapping.json"
    refreshed.parent.mkdir(parents=True)
    shipped = json.loads(__import__("press.names", fromlist=["x"])._read_shipped())
    shipped["nodist"] = ["pip"]
    refreshed.write_text(json.dumps(shipped))
    spec = Spec(name="nodist", files={"site-packages/nodist/__init__.py": b""},
                index={"name": "nodist", "version": "1.0", "build": "0", "build_number": 0, "subdir": "noarch",
                       "depends": [], "timestamp": 1700000000000, "noarch": "python"})
    with pytest.raises(ConflictError) as caught:
        _convert(tmp_path, spec)
    assert caught.value.package == "nodist" and "pip" in str(caught.value) and str(refreshed) in str(caught.value)


def test_the_shipped_mapping_naming_a_package_pip_is_refused(tmp_path):
    # parselmouth's data really maps isce2 (and nsight-compute) to pip.
    spec = Spec(name="isce2", files={"share/isce2/readme.txt": b"x\n"},
                index={"name": "isce2", "version": "1.0", "build": "0", "build_number": 0, "subdir": "noarch",
                       "depends": [], "timestamp": 1700000000000})
    with pytest.raises(ConflictError, match="the name pip"):
        _convert(tmp_path, spec)


def test_a_conda_name_that_strips_to_pip_is_refused(tmp_path):
    spec = Spec(name="_pip_", files={"site-packages/whatever/__init__.py": b""},
                index={"name": "_pip_", "version": "1.0", "build": "0", "build_number": 0, "subdir": "noarch",
                       "depends": [], "timestamp": 1700000000000, "noarch": "python"})
    with pytest.raises(ConflictError, match="the name pip"):
        _convert(tmp_path, spec)


def test_a_mapping_to_pip_is_one_error_line_on_the_command_line(tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"evil": ["pip"]}))
    artifact = build(_package(name="evil"), tmp_path / "in", ".conda")
    result = _press(tmp_path, "-w", str(tmp_path / "out"), "--no-validate", "--name-mapping", str(mapping),
                    str(artifact))
    _one_error(result, "name mapping: evil", "pip")


# -- direct URL requirements -------------------------------------------------------------------

def test_direct_url_requirements_are_dropped_with_a_note(tmp_path):
    spec = _package(requires=('helper @ https://evil.example/helper-1.0.tar.gz ; extra == "full"',
                              'other @ file:///etc/passwd ; extra == "full"', 'numpy ; extra == "full"'))
    report, members = _convert(tmp_path, spec)
    (wheel,) = report.wheels
    with zipfile.ZipFile(wheel.path) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requires == ['Requires-Dist: numpy; extra == "full"'], requires
    assert "://" not in metadata.split("\n\n", 1)[0]
    dropped = [n for n in wheel.notes if "direct URL reference" in n]
    assert len(dropped) == 2 and any("helper" in n for n in dropped) and any("other" in n for n in dropped)


# -- binaries whose magic lies -----------------------------------------------------------------

LYING = {
    "win-dll": ("win-64", "Library/bin/evil.dll", b"MZ" + b"\0" * 62 + b"not a PE at all"),
    "win-dll-pe-offset-out": ("win-64", "Library/bin/evil.dll", b"MZ" + b"\0" * 58 + b"\xff\xff\x00\x00"),
    "win-exe": ("win-64", "Library/bin/evil.exe", b"MZ\x90\0"),
    "noarch-pyd": ("noarch", "site-packages/evil.pyd", b"MZ" + b"\0" * 100),
    "dylib-fat-magic": ("osx-arm64", "lib/libevil.dylib", b"\xca\xfe\xba\xbe\0\0\0\x40" + b"\0" * 64),
    "linux-so-mz": ("linux-64", "lib/libevil.so.1", b"MZ" + b"\0" * 100),
    "dll-fat-magic": ("win-64", "Library/bin/EVIL.DLL", b"\xca\xfe\xba\xbe\0\0\0\x00"),
}


@pytest.mark.parametrize("case", sorted(LYING))
def test_a_binary_whose_magic_lies_is_refused(tmp_path, case):
    subdir, path, data = LYING[case]
    spec = Spec(name="press-hx", subdir=subdir, files={path: data})
    with pytest.raises(RelocationError) as caught:
        _convert(tmp_path, spec, subdir="win-64" if subdir == "noarch" else subdir)
    assert caught.value.package == "press-hx-1.0-0" and caught.value.field == path
    assert not list((tmp_path / "out").glob("*.whl"))


def test_a_lying_dll_reached_through_a_symlink_is_refused(tmp_path):
    spec = Spec(name="press-hx", subdir="win-64", files={"Library/share/blob.bin": b"MZ" + b"\0" * 100},
                links={"Library/bin/evil.dll": "../share/blob.bin"})
    with pytest.raises(RelocationError):
        _convert(tmp_path, spec, subdir="win-64")


def test_data_that_only_starts_with_mz_is_still_data(tmp_path):
    # "MZ" is Mozambique's country code: a text file may start with it.
    spec = Spec(name="press-hx", subdir="noarch", files={"share/press-hx/countries.txt": b"MZ Mozambique\n",
                                                         "share/press-hx/java.class": b"\xca\xfe\xba\xbe\0\0\0\x34"})
    report, members = _convert(tmp_path, spec)
    assert any(n.endswith("countries.txt") for n in next(iter(members.values())))


def test_a_lying_dll_is_one_error_line_on_the_command_line(tmp_path):
    spec = Spec(name="press-hx", subdir="win-64", files={"Library/bin/evil.dll": b"MZ" + b"\0" * 100})
    artifact = build(spec, tmp_path / "in", ".tar.bz2")
    result = _press(tmp_path, "-w", str(tmp_path / "out"), "--no-validate", "--subdir", "win-64", str(artifact))
    _one_error(result, "press-hx-1.0-0", "Library/bin/evil.dll", "no valid PE header")


def test_press_errors_are_press_errors():
    assert issubclass(ConflictError, PressError) and issubclass(RelocationError, PressError)


def test_metadata_never_writes_a_direct_url_reference(tmp_path):
    # The writer's own guard, whatever the reader let through.
    from press.artifact import open_artifact
    from press.metadata import build_metadata
    from press.package import UpstreamMetadata

    artifact = open_artifact(build(_package(), tmp_path / "in", ".conda"), tmp_path / "work")
    upstream = UpstreamMetadata(requires_dist=('helper @ https://evil.example/h.tgz ; extra == "full"',
                                               'numpy ; extra == "full"'), provides_extra=("full",))
    metadata = build_metadata(artifact, "press-hx", ["other @ file:///etc/passwd", "idna>=2"], [], upstream).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requires == ["Requires-Dist: idna>=2", 'Requires-Dist: numpy; extra == "full"'], requires
