"""Translate conda versions and version specs into PEP 440.

The rule (documented in docs/metadata.md):

1. OpenSSL/tzdata-style letter suffixes (letters with no number after them,
   other than ``rc``/``dev``/``pre``/``post``/``alpha``/``beta``/``rev``) on the
   last numeric component become post-releases: ``1.1.1w`` -> ``1.1.1.post23``, ``2025a`` -> ``2025.post1``,
   ``1.0.2zb`` -> ``1.0.2.post704`` (letters read as base-26 digits, a=1).
   The post number preserves the order among letter suffixes of one base; like
   OpenSSL's own meaning (1.1.1w is the 23rd fix of 1.1.1) it sorts after the
   bare base version, where conda's ordering puts it before.
2. A conda version that ``packaging`` parses is used in its PEP 440 normal form.
3. Conda treats ``_`` like ``.``; the version with ``_`` replaced is tried next.
4. Anything else raises :class:`~press.errors.VersionError`.
"""

from __future__ import annotations

import re
from typing import Iterable

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import VersionError

#: Suffixes that PEP 440 and conda both read as pre/post/dev releases.
_KEYWORDS = {"rc", "dev", "pre", "post", "alpha", "beta", "rev"}
_LETTER_SUFFIX = re.compile(r"^(\d+(?:\.\d+)*)([a-z]{1,3})$")


def to_pep440(conda_version: str, package: str | None = None) -> str:
    """Return the PEP 440 normal form for ``conda_version``.

    Raises :class:`VersionError` (naming ``package``) when no translation exists.
    """
    text = conda_version.strip().lower()
    match = _LETTER_SUFFIX.match(text.replace("_", "."))
    if match and match.group(2) not in _KEYWORDS:
        number = 0
        for letter in match.group(2):
            number = number * 26 + (ord(letter) - ord("a") + 1)
        return str(Version(f"{match.group(1)}.post{number}"))
    for candidate in (text, text.replace("_", ".")):
        try:
            return str(Version(candidate))
        except InvalidVersion:
            pass
    raise VersionError(
        f"version {conda_version!r} has no PEP 440 translation "
        "(rules: PEP 440 as is, '_' as '.', trailing letters as .postN)",
        package=package,
    )


_OPS = ("==", "!=", ">=", "<=", "~=", ">", "<", "=")


def _plain(version: Version) -> bool:
    """A release (with an epoch, perhaps) and nothing else: no pre, post, dev or local part."""
    return version.pre is None and version.post is None and version.dev is None and version.local is None


def _dev0(epoch: int, release: tuple[int, ...]) -> str:
    """The lowest PEP 440 version of a release: ``1.2`` -> ``1.2.dev0``."""
    return f"{f'{epoch}!' if epoch else ''}{'.'.join(map(str, release))}.dev0"


def _prefix(version: Version, *, ranges: bool) -> list[str] | None:
    """conda's "starts with ``version``" (``1.2.*``, ``=1.2``) as PEP 440
    clauses: ``>=1.2.dev0,<1.3.dev0`` (``ranges``) or ``==1.2.*``; None when
    ``version`` is not a plain release (no PEP 440 interval is the same set)."""
    if not _plain(version):
        return None
    if not ranges:
        return [f"=={version}.*"]
    upper = version.release[:-1] + (version.release[-1] + 1,)
    return [f">={_dev0(version.epoch, version.release)}", f"<{_dev0(version.epoch, upper)}"]


def _one_constraint(token: str, package: str | None, ranges: bool) -> list[str]:
    """The PEP 440 clauses of one conda constraint (``>=1.2``, ``1.2.*``,
    ``!=1.2.*``, ``~=1.2``, ``1.2``); an empty list constrains nothing."""
    token = token.strip()
    if token in ("", "*"):
        return []
    op = next((o for o in _OPS if token.startswith(o)), "")
    version = token[len(op):].strip()
    if op == "=":  # conda's fuzzy '=1.2' means 1.2.*
        op, version = "", version.rstrip("*").rstrip(".") + ".*"
    star = version.endswith("*")
    if star:
        version = version.rstrip("*").rstrip(".")
        # '>=1.2.*' is '>=1.2', '<1.2.*' is '<1.2' (rattler reads them so);
        # a star keeps its meaning only with '==', '!=' or no operator.
        star = op in ("", "==", "!=")
    if not version:
        return []
    parsed = Version(to_pep440(version, package))
    pep = str(parsed)
    if parsed.local is not None and (star or op not in ("", "==", "!=")):
        return []  # PEP 440 compares local versions only with '==' and '!=': no constraint is the true statement
    if star and op == "!=":
        # Not starting with V: PEP 440's '!=V.*' is that set; without a
        # plain release there is no PEP 440 form, and no constraint is the
        # true (looser) statement.
        return [f"!={pep}.*"] if _plain(parsed) else []
    if star:
        return _prefix(parsed, ranges=ranges) or []
    if op == "~=":
        # conda: '>=V' and starting with V's text up to its last '.'/'_'
        # (~=1.2rc1 starts with 1, ~=1.2.post1 with 1.2: PEP 440 would take
        # 1.2 and 1), so a prefix with no PEP 440 interval is left out.
        head = re.split(r"[._](?=[^._]*$)", version, maxsplit=1)[0]
        try:
            prefix = _prefix(Version(to_pep440(head, package)), ranges=ranges) if head != version else None
        except VersionError:
            prefix = None
        return [f">={pep}", *(prefix or [])]
    if not op:
        op = "=="
    # PEP 440's exclusive comparisons exclude more than conda's: '<V' drops
    # V's pre-releases (conda keeps 1.2rc1 under '<1.2'), '>V' drops V's
    # post-releases (conda keeps 1.2.post1 over '>1.2'). The inclusive form
    # minus V itself says what conda means.
    if op == "<" and not parsed.is_prerelease:
        return [f"<={pep}", f"!={pep}"]
    if op == ">" and not parsed.is_postrelease:
        return [f">={pep}", f"!={pep}"]
    return [f"{op}{pep}"]


def constraints(spec: str, package: str | None = None, *, ranges: bool = True) -> list[str] | None:
    """The PEP 440 clauses (``['>=1.2', '<2.0a0']``) of a conda version spec
    (``>=1.2,<2.0a0``, ``1.2.*``, ``=1.2``, ``!=1.2.*``, ``~=1.2``, ``1.2``),
    in the spec's order; an empty list when it constrains nothing, None when
    it has no PEP 440 form: an OR (``|``), whose loosest true statement is no
    constraint. Parentheses are dropped.

    ``ranges``: conda's "starts with" (``1.2.*``, ``=1.2``) becomes
    ``>=1.2.dev0,<1.3.dev0``, which names a development release, so pip and
    uv consider pre- and development releases for it as conda does (PEP 440's
    ``==1.2.*`` is the same set, but installers skip a ``1.2.0.dev0`` under
    it: pip 24.2 and older always, pip 26 and uv when a final release also
    matches); without ``ranges`` (Requires-Python: an interpreter version is
    a final release) it stays ``==1.2.*``. Raises :class:`VersionError` for
    an untranslatable version. Rules and checks: docs/metadata.md,
    tests/test_translation_properties.py (against py-rattler's matcher).
    """
    spec = spec.replace("(", "").replace(")", "").strip()
    if "|" in spec:
        return None
    return [c for t in spec.split(",") for c in _one_constraint(t, package, ranges)]


def merge(clauses: Iterable[str]) -> list[str]:
    """One specifier from several (the intersection, as packaging's
    ``SpecifierSet`` ``&`` takes it), written without repeats: clauses equal
    as specifiers (``>=1.5.6``, ``>=1.5.6.0``) once, a bound implied by a
    tighter one in the same direction dropped (``<1.6.0a0`` beside
    ``<1.5.7.0a0``), ``!=V`` dropped when the bounds already exclude V; the
    rest in first-seen order, so the same input gives the same bytes. A
    pre-release-naming clause is kept when it alone makes the set name a
    pre-release (pip's and uv's opt-in to pre-releases, see
    :func:`constraints`). Raises :class:`VersionError` for a clause that
    is not a PEP 440 specifier."""
    parsed: list[tuple[str, Specifier]] = []
    for clause in clauses:
        try:
            specifier = Specifier(clause)
        except InvalidSpecifier as exc:
            raise VersionError(f"{clause!r} is not a PEP 440 specifier: {exc}") from None
        if all(specifier != other for _, other in parsed):
            parsed.append((clause, specifier))
    kept = [(c, s) for c, s in parsed if not any(_implied(s, other) for _, other in parsed if other is not s)]
    bounds = SpecifierSet(",".join(c for c, s in kept if s.operator != "!="))
    kept = [(c, s) for c, s in kept if not _outside(s, bounds)]
    names_pre = SpecifierSet(",".join(c for c, _ in parsed)).prereleases
    if names_pre and not SpecifierSet(",".join(c for c, _ in kept)).prereleases:
        first = next(p for p in parsed if p[1].prereleases)
        kept = [p for p in parsed if p in kept or p is first]
    return [c for c, _ in kept]


def _implied(looser: Specifier, tighter: Specifier) -> bool:
    """Whether every version ``tighter`` accepts is accepted by ``looser``
    (bounds in one direction; PEP 440's special cases kept: ``<V`` for a
    final V excludes V's pre-releases, ``>V`` for a non-post V its
    post-releases, so those are only dropped for pre/post V)."""
    lo, to = looser.operator, tighter.operator
    if {lo, to} - {">=", ">", "<=", "<"}:
        return False
    a, b = Version(looser.version), Version(tighter.version)
    if lo == ">=" and to in (">=", ">"):
        return b > a or (b == a and to == ">")
    if lo == ">" and to in (">=", ">") and a.is_postrelease:
        return b > a
    if lo == "<=" and to in ("<=", "<"):
        return b < a or (b == a and to == "<")
    if lo == "<" and to in ("<=", "<") and a.is_prerelease:
        return b < a
    return False


def _outside(specifier: Specifier, bounds: SpecifierSet) -> bool:
    """A ``!=V`` (no wildcard) whose V, and V's local versions, ``bounds``
    exclude anyway."""
    if specifier.operator != "!=" or specifier.version.endswith("*") or not len(bounds):
        return False
    version = Version(specifier.version)
    if version.local is not None:
        return False
    locals_ = (Version(f"{version}+0"), Version(f"{version}+z"))
    return not any(bounds.contains(v, prereleases=True) for v in (version, *locals_))


def version_spec_to_pep440(spec: str, package: str | None = None, *, ranges: bool = True) -> str | None:
    """Translate a conda version spec (``>=1.2,<2.0a0``, ``1.2.*``, ``=1.2``) into
    a PEP 440 specifier set string, or ``None`` when it constrains nothing.

    The clauses are :func:`constraints`' (``ranges`` as there), merged by
    :func:`merge`. ``|`` (OR) has no PEP 440 form: a spec containing it
    returns the loosest true statement, no constraint, rather than a wrong
    one. Raises :class:`VersionError` for an untranslatable version.
    """
    parts = constraints(spec, package, ranges=ranges)
    return ",".join(merge(parts)) if parts else None
