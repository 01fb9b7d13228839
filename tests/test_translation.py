"""Version and MatchSpec translation (conda -> PEP 440 / PEP 508)."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import CHANNELS, _uv, run_press
from press.errors import VersionError
from press.metadata import requirement, requirements, requires_python
from press.names import Names, PackageFacts, load_mapping
from press.validate import find_interpreter
from press.tags import PythonTags, python_tags
from press.version import to_pep440

NAMES = Names(load_mapping())


@pytest.mark.parametrize("conda,pep", [
    ("1.17.1", "1.17.1"), ("1.1.1w", "1.1.1.post23"), ("2025a", "2025.post1"), ("1.0_1", "1.0.1"),
    ("3.1.0post1", "3.1.0.post1"), ("1.0rc1", "1.0rc1"), ("14.2.5.post0", "14.2.5.post0"),
])
def test_versions(conda, pep):
    assert to_pep440(conda) == pep


def test_letter_suffixes_keep_their_order():
    versions = ["1.1.1a", "1.1.1b", "1.1.1k", "1.1.1w", "1.1.1z"]
    assert sorted(versions, key=lambda v: Version(to_pep440(v))) == versions


def test_untranslatable_version_names_the_package():
    with pytest.raises(VersionError, match="pkg-x.*'1.0.0_weird.x'"):
        to_pep440("1.0.0_weird.x", package="pkg-x")


@pytest.mark.parametrize("spec,expected", [
    ("libffi >=3.4,<4.0a0", "conda-forge-libffi>=3.4,<4.0a0"),
    ("pycparser", "pycparser"),
    ("numpy=1.26", "numpy>=1.26.dev0,<1.27.dev0"), ("numpy 1.26.*", "numpy>=1.26.dev0,<1.27.dev0"),
    ("libgfortran 5.*", "conda-forge-libgfortran>=5.dev0,<6.dev0"),
    ("foo 1.*,!=1.2.*", "foo>=1.dev0,<2.dev0,!=1.2.*"), ("foo !=1.2.*", "foo!=1.2.*"),
    ("foo >=1.0,1.*", "foo>=1.0,<2.dev0"), ("foo ~=1.2.3", "foo>=1.2.3,<1.3.dev0"), ("foo ~=2", "foo>=2"),
    ("foo 2020a.*", "foo"), ("foo 1.0rc1.*", "foo"),
    ("foo * py_0", "foo"), ("foo 1.2.3 py_0", "foo==1.2.3"), ("foo=*=py_0", "foo"),
    ("matplotlib-base >=3.8", "matplotlib>=3.8"),
    ("openssl >=1.1.1w,<1.1.2a", "conda-forge-openssl>=1.1.1.post23,<=1.1.2.post1,!=1.1.2.post1"),
    ("foo <2", "foo<=2,!=2"), ("foo >1.2", "foo>=1.2,!=1.2"), ("foo <2.0a0", "foo<2.0a0"),
    ("foo >=1|<0.5", "foo"),
    ("python >=3.12,<3.13.0a0", None),
    ("python_abi 3.12.* *_cp312", None),
    ("_libgcc_mutex 0.1 conda_forge", None),
    ("__glibc >=2.17", None),
])
def test_matchspec_to_pep508(spec, expected):
    result = requirement(spec, NAMES, "conda-forge")
    assert result == expected
    if result:
        Requirement(result)


def test_abi_tags():
    ext = ["m.cpython-312-x86_64-linux-gnu.so"]
    assert python_tags(["python >=3.12,<3.13.0a0", "python_abi 3.12.* *_cp312"], ext) == PythonTags("cp312", "cp312")
    assert python_tags(["python >=3.7,<3.8.0a0"], ext) == PythonTags("cp37", "cp37m")
    assert python_tags(["python >=3.13,<3.14.0a0", "python_abi 3.13.* *_cp313t"], ext) == PythonTags("cp313", "cp313t")
    assert python_tags(["python >=3.9"], []) == PythonTags("py3", "none")


def test_constraints_on_one_name_become_one_requirement():
    # zstandard's two specs on zstd (depends and its own pin), as conda-forge writes them
    specs = ["zstd >=1.5.6,<1.5.7.0a0", "zstd >=1.5.6,<1.6.0a0", "cffi >=1.11", "python >=3.12,<3.13.0a0"]
    assert requirements(specs, NAMES, "conda-forge") == ["cffi>=1.11", "conda-forge-zstd>=1.5.6,<1.5.7.0a0"]
    again = requirements(list(reversed(specs)), NAMES, "conda-forge")
    assert requirements(list(reversed(specs)), NAMES, "conda-forge") == again  # same input, same bytes
    assert SpecifierSet(again[1].removeprefix("conda-forge-zstd")) == SpecifierSet(">=1.5.6,<1.5.7.0a0")
    # equal clauses once, an unconstrained or OR spec adds nothing, '<V' and '!=V' folded into a tighter pin
    assert requirements(["foo >=1.0", "foo >=1.0.0", "foo", "foo >=2|<0.5", "foo <3", "foo <2.0a0"], NAMES,
                        "conda-forge") == ["foo>=1.0,<2.0a0"]
    # the pre-release opt-in of a prefix survives a tighter bound (pip's rule, see docs/metadata.md)
    merged = requirement("foo >=1.5,<1.9,1.*", NAMES, "conda-forge")
    assert SpecifierSet(merged.removeprefix("foo")).prereleases is True


def test_requires_python_keeps_prefix_matches():
    # An interpreter version is a final release: no pre-release opt-in needed, the usual form stays.
    assert requires_python(["python 3.11.*", "zlib"]) == "==3.11.*"
    assert requires_python(["python >=3.9"]) == ">=3.9"


def test_an_alias_carries_the_dependents_range_to_its_target():
    alias = PackageFacts("typing-extensions", "defaults",
                         ("typing_extensions ==4.12.2 py311haa95532_0", "python >=3.11"), (), True)
    names = NAMES.with_known([alias])
    assert names.alias_of(alias) == "typing_extensions"
    assert names.expand_aliases(["typing-extensions >=4.6.0,!=4.7.0", "zlib"], "defaults") == [
        "zlib", "typing_extensions >=4.6.0,!=4.7.0", "python >=3.11"]
    bare = requirements(["typing-extensions"], names, "defaults")
    assert [canonicalize_name(r) for r in bare] == ["typing-extensions"]  # not the alias's own ==4.12.2
    assert [r.replace("_", "-") for r in requirements(["typing-extensions >=4.6.0,!=4.7.0"], names, "defaults")] == [
        "typing-extensions>=4.6.0,!=4.7.0"]
    # other dependencies of the alias stay as they are
    meta = PackageFacts("matplotlib", "conda-forge", ("matplotlib-base >=3.9.2,<3.9.3.0a0", "tornado >=5"), (), True)
    assert requirements(["matplotlib >=3.8"], NAMES.with_known([meta]), "conda-forge") == [
        "matplotlib>=3.8", "tornado>=5"]


def test_real_alias_keeps_pydantic_cores_range(tmp_path, cache_dir):
    """defaults win-64: pydantic-core needs `typing-extensions >=4.6.0,!=4.7.0`, an alias of
    typing_extensions pinned to 4.12.2; the wheel asks for the range, not the pin."""
    run_press("-c", str(CHANNELS / "defaults"), "--subdir", "win-64", "--python", "3.11", "--no-validate", "-q",
              "-w", str(tmp_path), "pydantic-core", cache=cache_dir, check=True)
    wheel = next(tmp_path.glob("pydantic_core-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = [line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    typing = [Requirement(r) for r in requires if Requirement(r).name == "typing_extensions"]
    assert len(typing) == 1 and typing[0].specifier == SpecifierSet(">=4.6.0,!=4.7.0"), requires


def _tiny_wheel(where: Path, name: str, version: str, requires: list[str]) -> None:
    dist_info = f"{name.replace('-', '_')}-{version}.dist-info"
    files = {f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                      + "".join(f"Requires-Dist: {r}\n" for r in requires),
             f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    def digest(text: str) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()

    record = "".join(f"{path},sha256={digest(text)},{len(text.encode())}\n" for path, text in files.items())
    record += f"{dist_info}/RECORD,,\n"
    with zipfile.ZipFile(where / f"{name.replace('-', '_')}-{version}-py3-none-any.whl", "w") as archive:
        for path, text in {**files, f"{dist_info}/RECORD": record}.items():
            archive.writestr(path, text)


def _installed(command: list[str], links: Path, target: Path, env: dict[str, str] | None = None) -> set[str]:
    subprocess.run([*command, "--no-index", "--find-links", str(links), "--target", str(target), "top"], check=True,
                   capture_output=True, env=env)
    return {p.name for p in target.glob("*.dist-info")}


def test_installers_take_a_dev_release_under_a_prefix_as_conda_does(tmp_path):
    """conda's `libgfortran 5.*` accepts libgfortran 5.0.0.dev0 (the only 5.x of conda-forge's
    osx-arm64 GCC 11 builds, beside 14.2.0). Its translation must make pip (old and new) and uv
    install it, also as a transitive requirement: top -> dependent -> libgfortran."""
    translated = requirement("libgfortran 5.*", NAMES, "conda-forge")
    links = tmp_path / "links"
    links.mkdir()
    _tiny_wheel(links, "conda-forge-libgfortran", "5.0.0.dev0", [])
    _tiny_wheel(links, "conda-forge-libgfortran", "14.2.0", [])
    _tiny_wheel(links, "dependent", "1.0", [translated])
    _tiny_wheel(links, "top", "1.0", ["dependent"])
    wanted = "conda_forge_libgfortran-5.0.0.dev0.dist-info"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    pips = [[sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]]
    old = find_interpreter("3.7")  # pip 22.0.4: packaging's SpecifierSet skips pre-releases not named
    if old is not None:
        pips.append([str(old), "-m", "pip", "install", "-q", "--disable-pip-version-check"])
    for n, pip in enumerate(pips):
        assert wanted in _installed(pip, links, tmp_path / f"pip{n}", env)
    uv = [_uv(), "pip", "install", "-q", "--offline", "--no-cache", "--python", sys.executable]
    assert wanted in _installed(uv, links, tmp_path / "uv", env)
    if old is not None:  # the test can tell: PEP 440's own '==5.*' (the same set) is refused by that pip
        (links / "dependent-1.0-py3-none-any.whl").unlink()
        _tiny_wheel(links, "dependent", "1.0", ["conda-forge-libgfortran==5.*"])
        with pytest.raises(subprocess.CalledProcessError):
            _installed(pips[-1], links, tmp_path / "old-form", env)
