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


def _one_constraint(token: str, package: str | None) -> str | None:
    token = token.strip()
    if token in ("", "*"):
        return None
    op = next((o for o in _OPS if token.startswith(o)), "")
    version = token[len(op):].strip()
    if op == "=":  # conda's fuzzy '=1.2' means 1.2.*
        op, version = "==", version.rstrip("*").rstrip(".") + ".*"
    star = version.endswith("*")
    if star:
        version = version.rstrip("*").rstrip(".")
        if op in ("", "=="):
            op = "=="
        elif op == "!=":
            pass
        elif op in (">=", ">"):
            star = False  # '>=1.2.*' is '>=1.2'
        else:
            star = False
    if not op:
        op = "=="
    if not version:
        return None
    pep = to_pep440(version, package)
    if star:
        if op not in ("==", "!="):
            op = "=="
        return f"{op}{pep}.*"
    parsed = Version(pep)
    # PEP 440's exclusive comparisons exclude more than conda's: '<V' drops
    # V's pre-releases (conda keeps 1.2rc1 under '<1.2'), '>V' drops V's
    # post-releases (conda keeps 1.2.post1 over '>1.2'). The inclusive form
    # minus V itself says what conda means.
    if op == "<" and not parsed.is_prerelease:
        return f"<={pep},!={pep}"
    if op == ">" and not parsed.is_postrelease:
        return f">={pep},!={pep}"
    return f"{op}{pep}"


def version_spec_to_pep440(spec: str, package: str | None = None) -> str | None:
    """Translate a conda version spec (``>=1.2,<2.0a0``, ``1.2.*``, ``=1.2``) into
    a PEP 440 specifier set string, or ``None`` when it constrains nothing.

    ``|`` (OR) has no PEP 440 form: a spec containing it returns the loosest
    true statement, no constraint, rather than a wrong one. Parentheses are
    dropped. Raises :class:`VersionError` for an untranslatable version.
    """
    spec = spec.replace("(", "").replace(")", "").strip()
    if "|" in spec:
        return None
    parts = [p for p in (_one_constraint(t, package) for t in spec.split(",")) if p]
    return ",".join(parts) or None
