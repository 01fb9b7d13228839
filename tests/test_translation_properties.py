"""Property-based tests (hypothesis) of the conda -> PEP 440 / PEP 508 translations.

Every output must be accepted by ``packaging``; version order must be
preserved wherever conda (rattler's implementation of its ordering) and
PEP 440 both define it; a translated specifier must accept the same
versions as the conda spec it came from (py-rattler's matcher), on the
sample's versions and specs and on generated ones (see "Requirements
against conda's own matcher" below)."""

from __future__ import annotations

import functools
import json
import os
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version
from rattler import BuildString, MatchSpec, PackageRecord, VersionSpec
from rattler import Version as CondaVersion

from conftest import CHANNELS
from press.errors import PressError, VersionError
from press.metadata import requirement, requirements
from press.names import Names, PackageFacts, load_mapping
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


# --- Requirements against conda's own matcher --------------------------------------------------
#
# Each rule of docs/metadata.md "Requirements" is checked against py-rattler's
# MatchSpec.matches on a record of the candidate version, on the versions and
# version specs of every package in ../shared/channels (each artifact's
# info/index.json and the repodata.json files there) and on generated ones.
# Where conda and PEP 440 order a candidate differently from a version the
# spec names (docs/metadata.md "Requirements": letter suffixes, the shape of
# a release before a suffix, local versions), the two sets differ by definition
# and no translation can agree; those candidates are told apart by
# `ordered_alike` and left out; everywhere else the sets must be equal.

_OPS = ("==", "!=", ">=", "<=", "~=", ">", "<", "=")


@functools.lru_cache(maxsize=1)
def sample() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every version, every version spec of a dependency) in the sample channels' records."""
    from conda_package_streaming.package_streaming import stream_conda_info

    versions: set[str] = set()
    specs: set[str] = set()
    for path in sorted(CHANNELS.rglob("*")):
        records = []
        if path.name.endswith((".conda", ".tar.bz2")):
            for tar, member in stream_conda_info(str(path)):
                if member.name == "info/index.json":
                    records.append(json.load(tar.extractfile(member)))
                    break
        elif path.name == "repodata.json":
            document = json.loads(path.read_text())
            records += [r for key in ("packages", "packages.conda") for r in document.get(key, {}).values()]
        for record in records:
            versions.add(record["version"])
            for dep in record.get("depends", []):
                version = MatchSpec(dep).version
                if version is not None:
                    specs.add(str(version))
    return tuple(sorted(versions)), tuple(sorted(specs))


def conda_accepts(spec: str, version: str) -> bool:
    """conda's own answer (py-rattler): does MatchSpec ``spec`` match a record of ``version``?"""
    match = MatchSpec(spec)
    record = PackageRecord(name=match.name.normalized, version=version, build=BuildString("0"), build_number=0,
                           subdir="noarch")
    return match.matches(record)


def named_versions(version_spec: str) -> tuple[list[str], list[str]]:
    """(versions a conda version spec compares with, versions it matches as prefixes)."""
    order, prefixes = [], []
    for token in re.split(r"[,|]", version_spec.replace("(", "").replace(")", "")):
        token = token.strip()
        op = next((o for o in _OPS if token.startswith(o)), "")
        version = token[len(op):].strip()
        if version in ("", "*"):
            continue
        if version.endswith("*"):
            version = version.rstrip("*").rstrip(".")
            (prefixes if op in ("", "==", "!=", "=") else order).append(version)
        elif op == "=":
            prefixes.append(version)
        else:
            order.append(version)
            if op == "~=" and re.search(r"[._]", version):  # conda: starts with the text before the last separator
                prefixes.append(re.split(r"[._](?=[^._]*$)", version, maxsplit=1)[0])
    return order, prefixes


def _sign(a, b) -> int:
    return (a > b) - (a < b)


def ordered_alike(candidate: str, version_spec: str) -> bool:
    """Whether conda and PEP 440 place ``candidate`` alike relative to every
    version ``version_spec`` names: the same order and equality with each
    compared version, and "starts with" each prefix in both (a prefix with a
    pre/post/dev part has no PEP 440 interval: not alike)."""
    order, prefixes = named_versions(version_spec)
    try:
        conda, pep = CondaVersion(candidate), Version(to_pep440(candidate))
        for text in order:
            other = Version(to_pep440(text))
            if _sign(conda, CondaVersion(text)) != _sign(pep, other) or (conda == CondaVersion(text)) != (pep == other):
                return False
        for text in prefixes:
            other = Version(to_pep440(text))
            if other.pre or other.post is not None or other.dev is not None or other.local:
                return False
            if VersionSpec(f"{text}.*").matches(conda) != SpecifierSet(f"=={other}.*").contains(pep, prereleases=True):
                return False
    except Exception:  # a version that conda (rattler raises its own types) or PEP 440 cannot read
        return False
    return True


def neighbours(version_spec: str) -> list[str]:
    """Versions next to each version a spec names: its pre, dev and post
    releases, padded and bumped releases (where translations go wrong)."""
    out: set[str] = set()
    for literal in re.findall(r"[0-9][0-9A-Za-z._+!]*", version_spec):
        literal = literal.rstrip(".")
        out.add(literal)
        found = re.match(r"^(\d+(?:\.\d+)*)", literal)
        if not found:
            continue
        parts = found.group(1).split(".")
        bases = {found.group(1), ".".join(parts[:-1] + [str(int(parts[-1]) + 1)])}
        if len(parts) > 1:
            bases.add(".".join(parts[:-1]))
        if int(parts[-1]) > 0:
            bases.add(".".join(parts[:-1] + [str(int(parts[-1]) - 1)]))
        for base in list(bases):
            bases |= {base + ".0", base + ".1"}
        suffixes = ("", ".dev0", "a0", "a1", "rc1", ".post1", ".0.dev0", "dev")
        out |= {base + suffix for base in bases for suffix in suffixes}
    return sorted(out)


pre_suffix = st.sampled_from(["", "", "", ".dev0", "a0", "a1", "b2", "rc1", ".post1", "dev", ".0.dev0", ".0a0"])
any_release = st.lists(st.integers(0, 12), min_size=1, max_size=4).map(lambda p: ".".join(map(str, p)))
generated_version = st.tuples(any_release, pre_suffix).map("".join)
real_version = st.deferred(lambda: st.sampled_from(sample()[0]))


def generated_constraint(version: str) -> st.SearchStrategy[str]:
    return st.sampled_from([f"{op}{version}" for op in (">=", "<=", ">", "<", "==", "!=", "~=", "")]
                           + [f"{version}.*", f"={version}", f"!={version}.*", f"=={version}.*"])


generated_spec = st.lists(st.one_of(any_release, generated_version).flatmap(generated_constraint),
                          min_size=1, max_size=3).map(",".join)
real_spec = st.deferred(lambda: st.sampled_from(sample()[1]))


def with_candidates(specs: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, list[str]]]:
    return specs.flatmap(lambda s: st.tuples(st.just(s), st.lists(
        st.one_of(st.sampled_from(neighbours(s) or ["0"]), real_version, generated_version), min_size=1, max_size=10)))


def check_same_set(version_spec: str, candidates: list[str]) -> int:
    """Assert that the requirement on ``foo <version_spec>`` accepts exactly
    what conda does (a superset for an OR, which has no PEP 440 form) on the
    candidates ordered alike; returns how many were compared."""
    try:
        translated = requirement(f"foo {version_spec}", NAMES, "conda-forge")
    except VersionError:
        return 0
    specifier = Requirement(translated).specifier
    compared = 0
    for candidate in candidates:
        try:
            pep = Version(to_pep440(candidate))
        except VersionError:
            continue
        conda = conda_accepts(f"foo {version_spec}", candidate)
        if "|" in version_spec:
            assert not conda or specifier.contains(pep, prereleases=True), (version_spec, translated, candidate)
        elif ordered_alike(candidate, version_spec):
            assert conda == specifier.contains(pep, prereleases=True), (version_spec, translated, candidate)
            compared += 1
    return compared


@given(with_candidates(real_spec))
@settings(max_examples=SCALE or 300, deadline=None)
def test_real_specs_accept_what_conda_accepts(case):
    check_same_set(*case)


@given(with_candidates(generated_spec))
@settings(max_examples=SCALE or 400, deadline=None)
def test_generated_specs_accept_what_conda_accepts(case):
    check_same_set(*case)


def old_pip_accepts(specifier: SpecifierSet, version: Version) -> bool:
    """pip 24.2 and older (18.1, 22.0.4, 23.x, 24.2 tried; their packaging's
    SpecifierSet.filter): a pre-release only when a clause of the set names
    one, even when nothing else matches."""
    return specifier.contains(version, prereleases=bool(specifier.prereleases))


prefix_spec = st.tuples(any_release, st.sampled_from(["{}.*", "={}", "{}.*,>=0.1", "{}.*,<99.0a0", "{}.*,!=3.*",
                                                      "~={}.0"])).map(lambda t: t[1].format(t[0]))


def has_prefix(version_spec: str) -> bool:
    return "|" not in version_spec and any(t.endswith("*") and not t.startswith(("!=", "<", ">"))
                                           for t in version_spec.split(","))


@given(with_candidates(st.one_of(prefix_spec, real_spec.filter(has_prefix))))
@settings(max_examples=SCALE or 300, deadline=None)
def test_prefixes_opt_in_to_pre_releases(case):
    """conda's `5.*` takes 5.0.0.dev0; so must pip's default rule, in old pips too."""
    version_spec, candidates = case
    try:
        translated = requirement(f"foo {version_spec}", NAMES, "conda-forge")
    except VersionError:
        return
    specifier = Requirement(translated).specifier
    if not specifier:  # no PEP 440 form (a prefix with a letter suffix): nothing to opt in
        return
    assert specifier.prereleases is True, (version_spec, translated)
    for candidate in candidates:
        if ordered_alike(candidate, version_spec) and conda_accepts(f"foo {version_spec}", candidate):
            assert old_pip_accepts(specifier, Version(to_pep440(candidate))), (version_spec, translated, candidate)


@given(st.tuples(st.one_of(real_spec, generated_spec), st.one_of(real_spec, generated_spec)).flatmap(
    lambda pair: st.tuples(st.just(pair), st.lists(st.one_of(
        st.sampled_from(neighbours(",".join(pair)) or ["0"]), real_version, generated_version), max_size=10))))
@settings(max_examples=SCALE or 300, deadline=None)
def test_constraints_on_one_name_merge_into_their_intersection(case):
    (first, second), candidates = case
    specs = [f"foo {first}", f"foo {second}"]
    try:
        merged = requirements(specs, NAMES, "conda-forge")
    except VersionError:
        return
    assert len(merged) == 1 and Requirement(merged[0]).name == "foo"
    assert requirements(specs, NAMES, "conda-forge") == merged  # same input, same bytes
    specifier = Requirement(merged[0]).specifier
    swapped = Requirement(requirements(specs[::-1], NAMES, "conda-forge")[0]).specifier  # the same set, other words
    assert bool(swapped.prereleases) == bool(specifier.prereleases)
    separate = [Requirement(requirement(s, NAMES, "conda-forge")).specifier for s in specs]
    # the pre-release opt-in of either survives the merge
    assert bool(specifier.prereleases) == any(bool(s.prereleases) for s in separate), (specs, merged)
    for candidate in candidates:
        try:
            pep = Version(to_pep440(candidate))
        except VersionError:
            continue
        assert specifier.contains(pep, prereleases=True) == all(s.contains(pep, prereleases=True) for s in separate)
        assert swapped.contains(pep, prereleases=True) == specifier.contains(pep, prereleases=True)
        if all("|" not in s and ordered_alike(candidate, s.split(" ", 1)[1]) for s in specs):
            conda = all(conda_accepts(s, candidate) for s in specs)
            assert conda == specifier.contains(pep, prereleases=True), (specs, merged, candidate)


#: An alias as conda-forge and defaults make them: `foo-bar` (no files) pins `foo_bar` to its own version.
def alias_names(version: str) -> Names:
    return NAMES.with_known([PackageFacts("foo-bar", "conda-forge", (f"foo_bar =={version} h0_0", "zlib >=1.3"), (),
                                          True)])


@given(with_candidates(st.one_of(real_spec, generated_spec)))
@settings(max_examples=SCALE or 200, deadline=None)
def test_an_alias_passes_the_dependents_range_to_its_target(case):
    """conda installs foo_bar w for `foo-bar <spec>` exactly when an alias
    record foo-bar w matches (it pins foo_bar ==w); so the requirement on
    foo_bar must accept w exactly then. The alias's own pin is not used."""
    version_spec, candidates = case
    assume("|" not in version_spec)
    try:
        result = requirements([f"foo-bar {version_spec}"], alias_names("1.0"), "conda-forge")
    except VersionError:
        return
    assert len(result) == 2 and result[0].startswith("conda-forge-zlib")  # the alias's other dependency, as it is
    target = Requirement(result[1])
    assert canonicalize_name(target.name) == "foo-bar" and "h0_0" not in result[0]
    assert target.specifier == Requirement(requirement(f"foo {version_spec}", NAMES, "conda-forge")).specifier
    for candidate in candidates:
        if ordered_alike(candidate, version_spec):
            expected = conda_accepts(f"foo-bar {version_spec}", candidate)
            assert expected == target.specifier.contains(Version(to_pep440(candidate)), prereleases=True)


@given(st.one_of(real_spec, generated_spec), st.sampled_from(["py_0", "*_cp312", "h1234567_0", "*"]))
@settings(max_examples=SCALE or 100, deadline=None)
def test_build_strings_are_dropped(version_spec, build):
    """No PEP 508 form selects a build: `foo <spec> <build>` is `foo <spec>`, `foo * <build>` the bare name."""
    with_build = f"foo {version_spec} {build}"
    try:
        # (conda reads a fuzzy '=1.2' beside a build string as '==1.2': the version part is rattler's)
        expected = requirement(f"foo {MatchSpec(with_build).version or '*'}", NAMES, "conda-forge")
    except VersionError:
        return
    assert requirement(with_build, NAMES, "conda-forge") == expected
    assert requirement(f"foo * {build}", NAMES, "conda-forge") == "foo"


@pytest.mark.slow
def test_every_real_spec_against_conda():
    """Every version spec of the sample against its neighbours and every
    version of the sample (sparsely): no difference where the orders agree,
    and those are the large majority."""
    versions, specs = sample()
    total = compared = 0
    for version_spec in specs:
        candidates = neighbours(version_spec) + list(versions[::5])
        total += len(candidates)
        compared += check_same_set(version_spec, candidates)
    assert compared > 0.9 * total, (compared, total)
