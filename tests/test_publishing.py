"""Wheels that publish and install (issue 10): spec-cased METADATA that twine
accepts, one conda -> PyPI name mapping in every mode, native packages under
prefixed names, aliases without wheels, clashes refused, upstream metadata
kept, licences per vendored package, thin wheels on their closure's runtime."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.metadata import Metadata
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import CONDA_FORGE, HOTFIX, ROOT, make_venv, run_in, run_press, serve, uv_install
from hostile import Spec, build
from press.names import MAPPING_URL, Names, PackageFacts, load_mapping, native_prefix

MAPPING = Path(ROOT).parent / "shared" / "data" / "conda-forge-pypi-mapping.json"


def metadata_of(wheel: Path) -> tuple[bytes, Metadata]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        data = archive.read(name)
    return data, Metadata.from_email(data, validate=True)


def twine_check(wheels: list[Path]) -> None:
    result = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def press_channel(channel: str, out: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "press", "channel", channel, "--subdir", "linux-64", "--python",
                           "3.12", "-w", str(out), "--cache-dir", str(cache), "--json", "-j", "1", *args],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))


@pytest.fixture(scope="module")
def thin_report(thin_conversion) -> dict:
    return thin_conversion[1]


@pytest.fixture(scope="module")
def thin_dir(thin_conversion) -> Path:
    return thin_conversion[0]


def test_shipped_mapping_is_the_reference_data():
    """The mapping inside the package holds exactly the parselmouth data of ../shared/data."""
    shipped = json.loads(gzip.decompress((ROOT / "press" / "data" / "conda-forge-pypi-mapping.json.gz").read_bytes()))
    assert shipped == json.loads(MAPPING.read_bytes())
    mapping = load_mapping()
    assert len(mapping.entries) == len(shipped) == 33909
    from press.names import parse_mapping

    assert parse_mapping(json.dumps(shipped).encode(), "shipped", strict=True) == mapping.entries  # every name valid
    assert mapping.get("brotli-python") == ("brotli",) and mapping.get("fmt") is None and mapping.knows("fmt")
    assert (ROOT / "press" / "data" / "conda-forge-pypi-mapping.LICENSE").read_text().startswith("BSD 3-Clause")


def test_naming_rule():
    names = Names(load_mapping())
    assert native_prefix("https://conda.anaconda.org/conda-forge/") == "conda-forge-"
    assert native_prefix("https://repo.anaconda.com/pkgs/main") == native_prefix("defaults") == "anaconda-"
    assert native_prefix(None) == "conda-"
    # several distributions: the one matching the conda name without its python affix
    assert names.dependency("msgpack-python", "conda-forge") == "msgpack"
    assert names.dependency("pyqt", "conda-forge") == "pyqt5"
    # native packages never take the bare name an unrelated PyPI project owns
    for native in ("fmt", "tk", "zstd", "krb5", "readline", "openssl", "libffi"):
        assert names.dependency(native, "conda-forge") == f"conda-forge-{native}"
    assert Names(load_mapping(), prefix="acme-").dependency("fmt", "conda-forge") == "acme-fmt"
    # an alias: null in the mapping, depends on a package of its normalised name
    alias = PackageFacts("typing-extensions", "conda-forge", ("typing_extensions ==4.12.2 pyha770c72_1",), (), True)
    assert names.with_known([alias]).expand_aliases(["typing-extensions >=4.6"], "conda-forge") == [
        "typing_extensions >=4.6"]  # the dependent's range, not the alias's own pin
    assert names.alias_target(PackageFacts("libgcc-ng", "conda-forge", ("libgcc 14.2.0 h77fa898_1",))) is None


def test_dependency_names_agree_with_each_artifacts_own_name(thin_report):
    """One rule in every mode: a dependency named from the mapping alone (batch,
    single artifact) gets the name its own wheel carries (from its dist-info)."""
    names = Names(load_mapping())
    mapping = load_mapping()
    for wheel in thin_report["wheels"]:
        conda_name = wheel["conda_packages"][0].rsplit("-", 2)[0]
        if mapping.knows(conda_name):
            assert canonicalize_name(names.dependency(conda_name, "conda-forge")) == canonicalize_name(wheel["name"]), \
                conda_name


def test_native_wheels_never_carry_bare_names_and_twine_accepts_every_wheel(thin_report, thin_dir):
    mapping = load_mapping()
    natives = 0
    for wheel in thin_report["wheels"]:
        conda_name = wheel["conda_packages"][0].rsplit("-", 2)[0]
        if mapping.knows(conda_name) and mapping.get(conda_name) is None:
            natives += 1
            assert wheel["name"].startswith("conda-forge-"), wheel["name"]
            assert canonicalize_name(wheel["name"]) != canonicalize_name(conda_name)
    # no requirement names a native package by its bare conda name (someone else's project on PyPI)
    python_names = {canonicalize_name(n) for v in mapping.entries.values() if v for n in v}
    bare_natives = {canonicalize_name(k) for k, v in mapping.entries.items() if v is None} - python_names
    made = {canonicalize_name(w["name"]) for w in thin_report["wheels"]}
    for wheel in thin_report["wheels"]:
        for text in wheel["requires_dist"]:
            name = canonicalize_name(Requirement(text).name)
            assert name not in bare_natives, (wheel["name"], text)
            if name.startswith("conda-forge-"):
                assert name in made, (wheel["name"], text)
    assert natives >= 40
    wheels = sorted(thin_dir.glob("*.whl"))
    twine_check(wheels)
    data, metadata = metadata_of(next(w for w in wheels if w.name.startswith("requests-")))
    assert data.startswith(b"Metadata-Version: 2.4\nName: requests\nVersion: 2.32.3\n")
    assert metadata.description_content_type == "text/markdown"  # requests' own README, from its dist-info


def test_thin_wheels_link_their_closures_runtime(thin_report):
    """libstdc++/libgcc_s resolve to the libstdcxx/libgcc wheels, under the names of their own
    those wheels give them (a system copy loaded first cannot stand in: tests/test_tag_rules.py),
    so conda-forge's newer GLIBCXX symbols do not raise thin C++ wheels above manylinux_2_17."""
    by_conda = {w["conda_packages"][0].rsplit("-", 2)[0]: w for w in thin_report["wheels"]}
    for name in ("fmt", "yaml-cpp", "libmamba", "libnghttp2", "libmambapy", "libcurl"):
        wheel = by_conda[name]
        platform = wheel["tags"].split("-")[-1].split(".")[-1]
        assert platform in ("manylinux_2_5_x86_64", "manylinux_2_12_x86_64", "manylinux_2_17_x86_64"), (name, platform)
        links = {lib: where for deps in wheel["dependencies"].values() for lib, where in deps.items()}
        if "libstdc++.so.6" in links:
            assert links["libstdc++.so.6"] == "dependency wheel", name


@pytest.mark.slow
def test_plat_ceiling_names_file_library_and_symbol(tmp_path, cache_dir):
    args = ("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--repodata-patch", str(HOTFIX),
            "--no-validate", "-w", str(tmp_path / "out"), "-q")
    refused = run_press(*args, "--plat", "manylinux_2_5_x86_64", "--fatten", "zstandard", cache=cache_dir)
    assert refused.returncode == 1
    assert "needs more than manylinux_2_5_x86_64 allows" in refused.stderr
    assert ".so: libc.so.6 GLIBC_2." in refused.stderr and refused.stderr.count("\n") == 1
    assert not list((tmp_path / "out").glob("*.whl"))
    bad = run_press(*args, "--plat", "manylinux_9_99_x86_64", "zstandard", cache=cache_dir)
    assert bad.returncode == 1 and "is not a manylinux policy" in bad.stderr


@pytest.mark.slow
def test_fat_wheels_pass_twine_and_ship_licences_of_what_they_vendor(tmp_path, cache_dir):
    out = tmp_path / "out"
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "--repodata-patch",
                       str(HOTFIX), "--no-validate", "--fatten", "-w", str(out), "--json", "-q", "cffi", "zstandard",
                       cache=cache_dir, check=True)
    wheels = sorted(out.glob("*.whl"))
    twine_check(wheels)
    cwc = subprocess.run([sys.executable, "-m", "check_wheel_contents", *map(str, wheels)], capture_output=True,
                         text=True)
    assert "W004" not in cwc.stdout, cwc.stdout
    zstandard = next(w for w in wheels if w.name.startswith("zstandard-"))
    with zipfile.ZipFile(zstandard) as archive:
        names = archive.namelist()
    _, metadata = metadata_of(zstandard)
    licences = sorted(n.split(".dist-info/licenses/", 1)[1] for n in names if ".dist-info/licenses/" in n)
    assert sorted(metadata.license_files) == licences
    vendored_libs = [n for n in names if n.startswith("zstandard.libs/lib/") and ".so" in n]
    assert vendored_libs and all(not n.endswith(".so") for n in vendored_libs)  # no linker scripts
    shipped = {n.split("/")[1] for n in licences if n.startswith("vendored/")}
    assert shipped == {"zstd"}  # libzlib, libgcc and libstdcxx ship nothing in this wheel
    report = json.loads(result.stdout)
    notes = [n for w in report["wheels"] for n in w["notes"]]
    assert any("build-only files" in n and "libgcc_s.so" in n for n in notes)


@pytest.fixture(scope="module")
def alias_channel(fixture_packages, tmp_path_factory) -> Path:
    """The fixture channel's noarch alias pair, the alias's user and the two
    packages of one distribution, in a channel directory of their own."""
    root = tmp_path_factory.mktemp("alias") / "fixtures"
    (root / "noarch").mkdir(parents=True)
    for key in ("alias", "aliasreal", "user", "dista", "distb", "purepy"):
        source = fixture_packages[f"{key}.conda"]
        shutil.copyfile(source, root / "noarch" / source.name)
    return root


def test_alias_makes_no_wheel_and_its_dependents_install(alias_channel, tmp_path, cache_dir, py312):
    out = tmp_path / "out"
    result = run_press("-c", str(alias_channel), "--subdir", "linux-64", "--python", "3.12", "--no-validate",
                       "-w", str(out), "--json", "-q", "press-fx-alias-user", cache=cache_dir, check=True)
    report = json.loads(result.stdout)
    assert sorted(w["name"] for w in report["wheels"]) == ["press-fx-alias", "press-fx-alias-user"]
    (skipped,) = report["skipped"]
    assert skipped[0] == "press-fx-alias-1.0-0.conda" and "alias of press_fx_alias" in skipped[1]
    user = next(w for w in report["wheels"] if w["name"] == "press-fx-alias-user")
    assert user["requires_dist"] == ["press-fx-alias>=1.0"]  # the user's range on the alias, carried to its target
    real = next(Path(w["path"]) for w in report["wheels"] if w["name"] == "press-fx-alias")
    data, metadata = metadata_of(real)
    # the package's own metadata is the base ...
    assert metadata.summary == "Real package behind an alias (upstream summary)"
    assert metadata.description_content_type == "text/markdown" and "**markdown**" in metadata.description
    assert metadata.keywords == ["press", "fixture", "alias"]
    assert metadata.classifiers == ["Programming Language :: Python :: 3"]  # License :: left to License-Expression
    assert metadata.project_urls["Source"] == "https://example.invalid/press-fx-alias"
    assert metadata.provides_extra == ["speed"] and 'press-fx-purepy; extra == "speed"' in map(str, metadata.requires_dist)
    # ... and conda's knowledge overrides it
    assert str(metadata.license_expression) == "MIT" and str(metadata.version) == "1.0"
    twine_check(sorted(out.glob("*.whl")))
    python = make_venv(py312, tmp_path / "venv")
    uv_install(python, "--find-links", str(out), "press-fx-alias-user")
    assert run_in(python, "import press_fx_alias_user; print(press_fx_alias_user.VERSION)", tmp_path).strip() == "1.0"
    # the same from a batch wheelhouse: the alias job makes nothing, dependents require the real one
    house = tmp_path / "house"
    batch = press_channel(str(alias_channel), house, cache_dir, "-n", "press*alias*")
    assert batch.returncode == 0, batch.stderr
    results = {r["artifact"]: r for r in json.loads(batch.stdout)["results"]}
    assert results["press-fx-alias-1.0-0.conda"]["status"] == "skipped"
    python = make_venv(py312, tmp_path / "venv2")
    uv_install(python, "--find-links", str(house), "press-fx-alias-user")
    assert run_in(python, "import press_fx_alias_user; print(press_fx_alias_user.VERSION)", tmp_path).strip() == "1.0"


def test_two_packages_of_one_distribution_are_refused(alias_channel, tmp_path, cache_dir):
    # Both dist-infos say press-fx-dist, neither conda name: refused unless the mapping says so (issue 22).
    refused = run_press("-c", str(alias_channel), "--subdir", "linux-64", "--no-validate", "-w", str(tmp_path / "o0"),
                        "-q", "press-fx-dist-a", "press-fx-dist-b", cache=cache_dir)
    assert refused.returncode == 1 and "dist-info Name: 'press-fx-dist'" in refused.stderr, refused.stderr
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"press-fx-dist-a": ["press-fx-dist"], "press-fx-dist-b": ["press-fx-dist"]}))
    out = tmp_path / "out"
    single = run_press("-c", str(alias_channel), "--subdir", "linux-64", "--no-validate", "-w", str(out), "-q",
                       "--name-mapping", str(both), "press-fx-dist-a", "press-fx-dist-b", cache=cache_dir)
    assert single.returncode == 1
    assert single.stderr.startswith("press: error: press-fx-dist-") and single.stderr.count("\n") == 1
    assert "press-fx-dist-a-1.0-0.conda" in single.stderr and "press-fx-dist-b-1.0-0.conda" in single.stderr
    # the first wheel still had the wheelhouse check to pass: a failed run leaves no wheel it did not finish
    assert list(out.glob("*.whl")) == []
    house = tmp_path / "house"
    batch = press_channel(str(alias_channel), house, cache_dir, "-n", "press-fx-dist-*", "--name-mapping", str(both))
    assert batch.returncode == 1
    results = {r["artifact"]: r for r in json.loads(batch.stdout)["results"] if r["artifact"].endswith(".conda")}
    assert results["press-fx-dist-a-1.0-0.conda"]["status"] == "converted"
    assert results["press-fx-dist-b-1.0-0.conda"]["status"] == "failed"
    assert "press-fx-dist-a-1.0-0.conda" in results["press-fx-dist-b-1.0-0.conda"]["reason"]
    (wheel,) = house.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("press_fx_dist/__init__.py").endswith(b'WHO = "a"\n')
    # a user's mapping that names the second package otherwise than its own dist-info does is refused too
    override = tmp_path / "names.json"
    override.write_text(json.dumps({"press-fx-dist-b": ["press-fx-dist-b"]}))
    renamed = run_press("-c", str(alias_channel), "--subdir", "linux-64", "--no-validate", "-w", str(tmp_path / "o2"),
                        "--json", "-q", "--name-mapping", str(override), "--native-prefix", "acme-",
                        str(alias_channel / "noarch" / "press-fx-dist-b-1.0-0.conda"), cache=cache_dir)
    assert renamed.returncode == 1 and "dist-info Name" in renamed.stderr, renamed.stderr


def test_name_mapping_refresh_over_http_and_bad_overrides(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    upstream = json.loads(MAPPING.read_bytes())
    upstream.update({"fmt": ["fmt-from-upstream"], "BAD NAME": None})
    (served / "mapping.json").write_text(json.dumps(upstream))
    (served / "tiny.json").write_text(json.dumps({"fmt": ["fmt"]}))
    server, url = serve(served)
    cache = tmp_path / "cache"
    command = [sys.executable, "-m", "press", "name-mapping", "--cache-dir", str(cache)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        tiny = subprocess.run([*command, "--refresh", "--url", f"{url}/tiny.json"], capture_output=True, text=True,
                              env=env)
        result = subprocess.run([*command, "--refresh", "--url", f"{url}/mapping.json", "fmt"], capture_output=True,
                                text=True, env=env)
    finally:
        server.shutdown()
    assert tiny.returncode == 1 and "not a full mapping" in tiny.stderr  # a wrong file never replaces the data
    assert result.returncode == 0, result.stderr
    assert "fmt: fmt-from-upstream" in result.stdout and "33909 entries" in result.stderr  # the bad key left out
    assert MAPPING_URL.startswith("https://raw.githubusercontent.com/prefix-dev/parselmouth/")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fmt": ["not a name!"]}))
    refused = subprocess.run([*command, "--name-mapping", str(bad)], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"press: error: {bad}: name mapping: fmt: ")


def test_python_values_are_checked(tmp_path, cache_dir):
    for value in ("banana", "3", "all3.12"):
        result = run_press("--python", value, "cffi", cache=cache_dir)
        assert result.returncode == 2 and "is not a Python version X.Y" in result.stderr


@pytest.mark.slow
def test_requests_and_conda_install_with_pip_from_a_thin_batch_wheelhouse(tmp_path, py312):
    """The whole sample as a thin batch wheelhouse: every wheel passes twine,
    and pip (isolated from this machine's configuration, no other index)
    installs requests and conda from its simple index; conda runs."""
    from test_batch import served_conda_forge

    channel = served_conda_forge(tmp_path / "channel")
    house = tmp_path / "house"
    result = press_channel(str(channel), house, tmp_path / "cache", "-j", "2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    twine_check(sorted(house.glob("*.whl")))
    venv = tmp_path / "venv"
    subprocess.run([str(py312), "-m", "venv", str(venv)], check=True)
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--isolated", "--index-url",
                              (house / "simple").as_uri(), "requests", "conda"], capture_output=True, text=True, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    version = subprocess.run([str(venv / "bin" / "conda"), "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("conda "), version.stderr
    assert (venv / "bin" / "activate").read_text().startswith("# This file must be used with")  # the venv's own
    run = subprocess.run([str(venv / "bin" / "python"), "-c", "import requests; print(requests.__version__)"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.strip() == "2.32.3", run.stderr


def test_subdir_noarch_converts_each_artifact_once(fixture_packages, tmp_path, cache_dir):
    result = subprocess.run([sys.executable, "-m", "press", "channel", str(fixture_packages["channel"]), "--subdir",
                             "noarch", "--python", "3.12", "-w", str(tmp_path / "out"), "--cache-dir", str(cache_dir),
                             "--json", "-j", "1", "-n", "press-fx-purepy"], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    statuses = {r["artifact"]: r["status"] for r in json.loads(result.stdout)["results"]}
    # once (conda and rattler prefer .conda to .tar.bz2); the .tar.bz2 is reported as skipped
    assert statuses == {"press-fx-purepy-1.0.0-0.conda": "converted", "press-fx-purepy-1.0.0-0.tar.bz2": "skipped"}


def test_a_package_of_several_distributions_names_them_all(tmp_path, cache_dir):
    """conda's pyqt holds PyQt5 and PyQt5-sip: the wheel is named by one and
    says it provides the other (Provides-Dist)."""
    from hostile import Spec, build

    site = "site-packages"
    spec = Spec(name="pyqt", version="5.15.9", files={
        f"{site}/PyQt5/__init__.py": b"",
        f"{site}/PyQt5-5.15.9.dist-info/METADATA": b"Metadata-Version: 2.1\nName: PyQt5\nVersion: 5.15.9\n",
        f"{site}/PyQt5_sip-12.12.2.dist-info/METADATA": b"Metadata-Version: 2.1\nName: PyQt5-sip\nVersion: 12.12.2\n",
    }, link={"noarch": {"type": "python"}})
    artifact = build(spec, tmp_path / "in", ".conda")
    result = run_press("--no-validate", "-w", str(tmp_path / "out"), "--json", "-q", str(artifact), cache=cache_dir)
    assert result.returncode == 0, result.stderr
    (wheel,) = json.loads(result.stdout)["wheels"]
    _, metadata = metadata_of(Path(wheel["path"]))
    assert metadata.name == "PyQt5" and metadata.provides_dist == ["PyQt5-sip"]


def test_review_findings_stay_fixed(tmp_path, alias_channel, cache_dir):
    """What a red-team pass over this issue's code found, each as a check."""
    from press import grammar
    from press.names import parse_mapping
    from press.package import parse_core_metadata
    from press.wheelhouse import ClashError, claim

    # a final newline is not part of a name ($ in a regex would let it by)
    for check, value in ((grammar.conda_name, "hx\n"), (grammar.build_string, "0\n"),
                         (grammar.distribution_name, "x\n")):
        with pytest.raises(ValueError):
            check(value)
    with pytest.raises(Exception, match="libffi"):
        parse_mapping(b'{"libffi\\n": null}', "f.json", strict=True)
    # only requirements that need an extra are carried over; control characters are not
    _, upstream = parse_core_metadata(
        b'Metadata-Version: 2.1\nName: x\nVersion: 1\nSummary: a \x1b[31mred\x1b[0m summary\n'
        b'Requires-Dist: evil1; platform_machine != "extra"\nRequires-Dist: evil2; python_version > "0" or extra == "x"\n'
        b'Requires-Dist: good; python_version > "3" and extra == "x"\n\nbody', "p", "f")
    assert upstream.requires_dist == ('good; python_version > "3" and extra == "x"',)
    assert upstream.summary is None and any("control characters" in d for d in upstream.dropped)
    # a metapackage whose dependency is the same PyPI distribution is an alias; pyqt is not
    names = Names(load_mapping())
    assert names.alias_target(PackageFacts("matplotlib", "conda-forge", ("matplotlib-base >=3.9.0",))) is not None
    assert names.alias_target(PackageFacts("pyqt", "conda-forge", ("pyqt5-sip 12.12.2",), (), True)) is None
    # prefixes: resolved directories, no credentials, no labels
    assert native_prefix("https://user:secret@example.org/acme/label/rc") == "acme-"
    assert native_prefix(str(alias_channel / "noarch" / "..")) == "fixtures-"
    # converting only an alias says so (no wheel, no crash)
    result = run_press("--no-validate", "-w", str(tmp_path / "out"), "-q",
                       str(alias_channel / "noarch" / "press-fx-alias-1.0-0.conda"), cache=cache_dir)
    assert result.returncode == 0 and "an alias of press_fx_alias" in result.stdout, result.stderr
    # claims: bounded file names, unreadable claims named as such
    long_name = "x" * 200 + "-1.0-0_" + "b" * 20 + "-py3-none-any.whl"  # 246 characters: fits, its claims too
    created = claim(tmp_path / "house", long_name, "x" * 200, "x" * 200, "a.conda", "0" * 64)
    assert all(len(p.name) < 120 for p in created)
    next(p for p in created if p.name.startswith("dist-")).write_text("garbage")
    with pytest.raises(ClashError, match="is not a claim press can read"):
        claim(tmp_path / "house", "y-1.0-py3-none-any.whl", "x" * 200, "other", "b.conda", "1" * 64)


def test_one_package_is_not_made_under_two_names_in_one_wheel_dir(tmp_path, cache_dir):
    libffi = next((CONDA_FORGE / "linux-64").glob("libffi-*.tar.bz2"))
    out = tmp_path / "out"
    first = run_press("--no-validate", "-w", str(out), "-q", "--native-prefix", "foo-", str(libffi), cache=cache_dir)
    assert first.returncode == 0, first.stderr
    second = run_press("--no-validate", "-w", str(out), "-q", "--native-prefix", "bar-", str(libffi), cache=cache_dir)
    assert second.returncode == 1 and "already made as distribution 'foo-libffi'" in second.stderr
    assert [p.name.split("-")[0] for p in out.glob("*.whl")] == ["foo_libffi"]


def test_thin_runpaths_are_unique_and_point_at_libraries(thin_dir):
    """RUNPATH entries of thin wheels: no duplicates, none for metapackages
    (libstdcxx-ng, libgcc-ng) or Python dependencies."""
    import io

    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    checked = 0
    for wheel in sorted(thin_dir.glob("conda_forge_*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                data = archive.read(info) if info.file_size < 8 << 20 else b""
                if data[:4] != b"\x7fELF":
                    continue
                for section in ELFFile(io.BytesIO(data)).iter_sections():
                    if isinstance(section, DynamicSection):
                        for tag in section.iter_tags():
                            if tag.entry.d_tag == "DT_RUNPATH":
                                entries = tag.runpath.split(":")
                                checked += 1
                                assert len(entries) == len(set(entries)), (wheel.name, info.filename, entries)
                                assert not any(e.endswith(("_ng.libs/lib", "pycparser.libs/lib")) for e in entries), \
                                    (wheel.name, info.filename, entries)
    assert checked > 20


def test_json_failure_is_one_document_and_help_lists_the_commands(tmp_path, cache_dir):
    """For release scripts (issue 13, in part): --json always prints one JSON
    document; press --help names the other commands; the package is typed."""
    result = run_press("--json", "-q", "-c", str(tmp_path / "missing"), "cffi", cache=cache_dir)
    assert result.returncode == 1 and result.stderr.startswith("press: error: ")
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["error"]["type"] == "ChannelError"
    assert "does not exist" in document["error"]["reason"]
    helped = subprocess.run([sys.executable, "-m", "press", "--help"], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert "press channel CHANNEL" in helped.stdout and "press name-mapping" in helped.stdout
    assert (ROOT / "press" / "py.typed").is_file()


def test_every_thin_wheel_names_its_conda_artifact_in_a_valid_sbom(thin_report):
    """PEP 770: each wheel carries dist-info/sboms/press.cdx.json, a CycloneDX
    document whose components are the conda artifacts it was made from (purl,
    sha256 of the archive) with the wheel's distribution as main component."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    validator = JsonStrictValidator(SchemaVersion.V1_6)
    for wheel in thin_report["wheels"]:
        artifact = CONDA_FORGE / next(sub for sub in ("linux-64", "noarch")
                                      if (CONDA_FORGE / sub / wheel["conda_packages"][0]).is_file())
        artifact = artifact / wheel["conda_packages"][0]
        (source,) = wheel["conda_sources"]
        assert source["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
        assert source["purl"].startswith(f"pkg:conda/{source['name']}@{source['version']}?build={source['build']}&")
        assert "channel=conda-forge" in source["purl"]
        with zipfile.ZipFile(wheel["path"]) as archive:
            members = archive.namelist()
            (name,) = [n for n in members if n.endswith(".dist-info/sboms/press.cdx.json")]
            document = archive.read(name).decode()
            record = archive.read(name.replace("sboms/press.cdx.json", "RECORD")).decode()
        assert f"{name}," in record
        payload = [n for n in members if ".dist-info/" not in n.split("/")[0] + "/"
                   and not re.fullmatch(r"_press_\w+\.py|_press_native_\w+/.+|[\w.-]+-press-dlls\.pth", n)]
        assert source["files"] == len(payload)  # every file of the wheel is an occurrence of its artifact
        doc = json.loads(document)
        assert doc["metadata"]["component"]["purl"] == f"pkg:pypi/{canonicalize_name(wheel['name'])}@{wheel['version']}"
        if wheel is thin_report["wheels"][0] or wheel["vendored_libraries"]:
            assert validator.validate_str(document) is None


def test_json_failures_are_one_error_document_for_each_kind(tmp_path, cache_dir, fixture_packages):
    """--json prints {"ok": false, "error": {...}} for every kind of failure:
    a channel that cannot be read, input refused at the trust boundary, a
    spec with no build for the target Python."""
    cases = [
        (["-c", str(tmp_path / "missing"), "cffi"], "ChannelError", "does not exist"),
        ([str(build(Spec(name="escaping", links={"site-packages/escaping.py": "../../../etc/passwd"}),
                    tmp_path / "in", ".conda"))], "UnsafeArchiveError", "outside"),
        (["-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.10", "cffi"], "SolveError",
         "the channel has builds for Python 3.12"),
    ]
    for args, kind, text in cases:
        result = run_press("--json", "-q", "--no-validate", "-w", str(tmp_path / "out"), *args, cache=cache_dir)
        document = json.loads(result.stdout)
        assert result.returncode == 1 and document["ok"] is False, result.stdout
        assert document["error"]["type"] == kind and text in document["error"]["message"], document
        assert result.stderr.count("press: error:") == 1 and "Traceback" not in result.stderr
