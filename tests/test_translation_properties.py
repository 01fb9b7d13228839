"""Property-based tests (hypothesis) of the conda -> PEP 440 / PEP 508 translations.

Every output must be accepted by ``packaging``; version order must be
preserved wherever conda (rattler's implementation of its ordering) and
PEP 440 both define it; a translated specifier must accept the same
versions as the conda spec it came from."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from rattler import Version as CondaVersion
from rattler import VersionSpec

from press.errors import PressError, VersionError
from press.metadata import requirement
from press.names import Names, load_mapping
from press.version import to_pep440, version_spec_to_pep440

number = st.integers(min_value=0, max_value=30)
release = st.lists(number, min_size=1, max_size=4).map(lambda parts: ".".join(map(str, parts)))
#: The part of conda's version grammar that PEP 440 also orders the same way:
#: a release with at most one attached pre-release or a ``.postN``.
suffix = st.one_of(
    st.just(""),
    st.tuples(st.sampled_from(["a", "b", "rc"]), number).map(lambda t: f"{t[0]}{t[1]}"),
    number.map(lambda n: f".post{n}"),
)

NAMES = Names(load_mapping())


def same_length_versions(length: int, count: int):
    """``count`` versions whose releases all have ``length`` components: conda
    pads a release with zeros only when no suffix follows it (``1.0a1`` is not
    ``1.0.0a1`` there, and ``0.post0`` sorts above ``0.0.1``), PEP 440 always,
    so versions of different release lengths are outside what both define alike."""
    one = st.tuples(st.lists(number, min_size=length, max_size=length), suffix).map(
        lambda t: ".".join(map(str, t[0])) + t[1])
    return st.lists(one, min_size=count, max_size=count)


version_pairs = st.integers(min_value=1, max_value=4).flatmap(lambda n: same_length_versions(n, 2))


#: More examples for a long run: PRESS_HYPOTHESIS_EXAMPLES=5000 pytest tests/test_translation_properties.py
SCALE = int(os.environ.get("PRESS_HYPOTHESIS_EXAMPLES", "0")) or None

any_versions = st.text(alphabet="0123456789._abcdefrstpvwxyz", min_size=1, max_size=12)


@given(any_versions)
@settings(max_examples=SCALE or 400, deadline=None)
def test_every_translation_is_pep440(text):
    try:
        result = to_pep440(text)
    except VersionError as exc:
        assert "no PEP 440 translation" in str(exc)
        return
    assert str(Version(result)) == result  # packaging accepts it, in normal form


@given(version_pairs)
@settings(max_examples=SCALE or 400, deadline=None)
def test_order_is_preserved_where_both_define_it(pair):
    left, right = pair
    conda_left, conda_right = CondaVersion(left), CondaVersion(right)
    pep_left, pep_right = Version(to_pep440(left)), Version(to_pep440(right))
    assert (conda_left < conda_right) == (pep_left < pep_right)
    assert (conda_left == conda_right) == (pep_left == pep_right)


#: OpenSSL's suffix sequence: a..z, then za..zz (1.0.2za follows 1.0.2z).
openssl_suffix = st.one_of(st.sampled_from("defghijklmnoqstuvwxyz"), st.sampled_from("abcdefghijklmnopqrstuvwxyz").map("z".__add__))


@given(release, openssl_suffix, openssl_suffix)
@settings(max_examples=SCALE or 100, deadline=None)
def test_letter_suffixes_keep_their_order(base, one, two):
    # .postN with the letters read as base-26 digits keeps OpenSSL's order.
    # (conda compares arbitrary suffixes as strings, so 'aa' < 'd' there but
    # 27 > 4 here; no real package uses such a sequence. Against the bare
    # base version the documented difference stands: 1.1.1w > 1.1.1 here.)
    left, right = Version(to_pep440(base + one)), Version(to_pep440(base + two))
    assert (left < right) == (CondaVersion(base + one) < CondaVersion(base + two))


operators = st.sampled_from([">=", "<=", ">", "<", "==", "!="])


def specs_and_candidates(length: int):
    """A conda spec over releases of ``length`` components and candidate versions of that length."""
    plain = st.lists(number, min_size=length, max_size=length).map(lambda p: ".".join(map(str, p)))
    constraint = st.one_of(
        st.tuples(operators, plain).map("".join),
        plain.map(lambda r: f"{r}.*"),
        plain.map(lambda r: f"={r}"),
    )
    spec = st.lists(constraint, min_size=1, max_size=3).map(",".join)
    return st.tuples(spec, st.integers(1, 8).flatmap(lambda k: same_length_versions(length, k)))


conda_specs = st.integers(1, 4).flatmap(specs_and_candidates).map(lambda t: t[0])


@given(conda_specs)
@settings(max_examples=SCALE or 300, deadline=None)
def test_specs_become_valid_pep508(spec):
    result = requirement(f"foo {spec}", NAMES, "conda-forge")
    assert result is not None
    parsed = Requirement(result)
    assert parsed.name == "foo"


@given(st.integers(1, 4).flatmap(specs_and_candidates))
@settings(max_examples=SCALE or 300, deadline=None)
def test_specs_accept_the_same_versions(case):
    spec, candidates = case
    translated = version_spec_to_pep440(spec)
    specifier = SpecifierSet(translated or "")
    conda = VersionSpec(spec)
    for candidate in candidates:
        pep = Version(to_pep440(candidate))
        assert conda.matches(CondaVersion(candidate)) == specifier.contains(pep, prereleases=True), (
            spec, translated, candidate)


@given(st.text(min_size=1, max_size=20))
@settings(max_examples=SCALE or 300, deadline=None)
def test_garbage_specs_fail_cleanly(text):
    try:
        result = requirement(text, NAMES, "conda-forge")
    except PressError:
        return
    if result is not None:
        Requirement(result)
