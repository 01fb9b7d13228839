"""Version and MatchSpec translation (conda -> PEP 440 / PEP 508)."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from press.errors import VersionError
from press.metadata import requirement
from press.names import Names, load_mapping
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
    ("numpy=1.26", "numpy==1.26.*"),
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
