"""Who may ship what at the top of site-packages.

A wheel's root is installed into site-packages as it is, and pip overwrites
whatever is there without a word. Three rules keep a converted package from
taking over the environment it is installed into (docs/safety.md):

1. **Startup hooks are declared.** A ``*.pth`` file at the top of a site
   directory, and a ``sitecustomize``/``usercustomize`` module or package,
   run at every interpreter start (Python's ``site`` module). A package
   ships one only when it is declared: listed in the package's own
   dist-info ``RECORD`` (its upstream wheel ships it too), or named for
   that conda package in ``press/data/installer-owned.json``
   (:func:`declared_hook`). Every hook a wheel ships is reported
   (:func:`startup_hooks`).
2. **The environment's own names are not shipped.** The top-level names of
   the installer's own distributions (pip, setuptools, wheel: ``pip/``,
   ``pkg_resources/``, ``_distutils_hack/``, ``distutils-precedence.pth``
   ...), and those the environment itself holds (virtualenv's
   ``_virtualenv.py``), are refused in a wheel of any other conda package
   (:func:`check_reserved`); so is a distribution name of the installer's
   (:func:`check_distribution_name`).
3. **One owner per top-level name.** Two distributions of one conversion or
   batch never ship the same file or the same import name
   (:class:`TopLevelOwners`, :func:`wheel_clashes`).

The policy data (each entry with its source) is
``press/data/installer-owned.json``.
"""

from __future__ import annotations

import base64
import binascii
import csv
import functools
import io
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

from packaging.utils import canonicalize_name

from .errors import ConflictError, PressError
from .grammar import nfc_key

POLICY = "installer-owned.json"
#: Suffixes of files the import system loads as a module (source, bytecode,
#: extension modules on every platform).
_MODULE_SUFFIX = re.compile(r"\.(py|pyw|pyc|so|pyd)$", re.I)


@dataclass(frozen=True)
class Policy:
    """``press/data/installer-owned.json`` read: ``owners`` maps a top-level
    key (:func:`top_key`) to the conda names that may ship it (empty: none
    may); ``distributions`` a canonical distribution name of the installer's
    to the conda names that own it; ``declared_hooks`` a conda name to the
    top-level hooks its upstream wheel ships; ``hook_modules`` the module
    names Python imports at start."""

    owners: Mapping[str, tuple[str, ...]]
    distributions: Mapping[str, tuple[str, ...]]
    declared_hooks: Mapping[str, frozenset[str]]
    hook_modules: frozenset[str]
    hook_suffix: str


@functools.lru_cache(maxsize=1)
def policy() -> Policy:
    """The policy data shipped with press (cached)."""
    document = json.loads(resources.files("press").joinpath("data", POLICY).read_text("utf-8"))
    owners: dict[str, tuple[str, ...]] = {}
    distributions: dict[str, tuple[str, ...]] = {}
    hooks = document["startup_hooks"]
    suffix = str(hooks["suffix"])
    modules = frozenset(str(m).casefold() for m in hooks["modules"])
    declared: dict[str, set[str]] = {}
    for entry in document["distributions"]:
        conda = tuple(entry["conda"])
        distributions[canonicalize_name(entry["name"])] = conda
        for name in entry["top_level"]:
            owners[_key(name)] = conda
            if name.casefold().endswith(suffix) or name.casefold() in modules:
                for conda_name in conda:
                    declared.setdefault(conda_name, set()).add(_key(name))
    for entry in document["environment"]:
        for name in entry["top_level"]:
            owners[_key(name)] = ()
    return Policy(owners, distributions, {k: frozenset(v) for k, v in declared.items()}, modules, suffix)


def _key(name: str) -> str:
    return nfc_key(name).casefold()


def top_key(rel: str) -> str:
    """The name a site-packages path answers to, compared without case (as
    on Windows and macOS): the import name of a top-level module file
    (``pip.py``, ``pip.cpython-312-x86_64-linux-gnu.so`` -> ``pip``) or of the
    directory holding the path (``pip/__init__.py`` -> ``pip``), else the
    top-level file name itself (``distutils-precedence.pth``)."""
    top, _, rest = rel.partition("/")
    if rest:
        return _key(top)
    if _MODULE_SUFFIX.search(top):
        return _key(top.split(".", 1)[0])
    return _key(top)


def startup_hook(rel: str) -> str | None:
    """What makes the site-packages path ``rel`` run at interpreter start,
    or None: ``a .pth file`` (a top-level ``*.pth``, compared without case) or
    ``the sitecustomize module`` (any file of a top-level module or package
    named ``sitecustomize``/``usercustomize``)."""
    rules = policy()
    top, _, rest = rel.partition("/")
    if not rest and _key(top).endswith(rules.hook_suffix):
        return f"a {rules.hook_suffix} file"
    name = _key(top) if rest else _key(top.split(".", 1)[0])
    if name in rules.hook_modules:
        return f"the {name} module"
    return None


def startup_hooks(arcnames: Iterable[str]) -> list[str]:
    """The members of a wheel (archive names) that run at interpreter start
    once it is installed (:func:`startup_hook`), sorted."""
    return sorted(a for a in arcnames if startup_hook(a) is not None)


def check_reserved(conda_name: str, rel: str, package: str, field: str) -> None:
    """Refuse a site-packages path of conda package ``conda_name`` whose
    top-level name the environment's installer or the environment itself
    owns (:data:`POLICY`), unless ``conda_name`` is its owner. Raises
    :class:`~press.errors.ConflictError` naming ``package`` and ``field``."""
    owners = policy().owners
    key = top_key(rel)
    if key not in owners:
        return
    allowed = owners[key]
    if conda_name in allowed:
        return
    whose = f"the installer's own distribution {allowed[0]}" if allowed else "the environment itself"
    raise ConflictError(f"'{rel.split('/', 1)[0]}' belongs to {whose}: installed, it would replace the "
                        "environment's own (press never ships it in a wheel of another package)",
                        package=package, field=field)


def reserved_distribution(name: str, conda_name: str) -> bool:
    """True when distribution ``name`` is one of the installer's own (pip,
    setuptools, wheel ...) and ``conda_name`` is not the conda package that
    owns it."""
    owners = policy().distributions.get(canonicalize_name(name))
    return owners is not None and conda_name not in owners


def declared_hook(conda_name: str, rel: str) -> bool:
    """True when the policy data names ``rel`` (a top-level site-packages
    path) as a startup hook the upstream wheel of ``conda_name`` ships
    (setuptools' ``distutils-precedence.pth``, whose conda package holds an
    egg-info without a RECORD)."""
    return top_key(rel) in policy().declared_hooks.get(conda_name, frozenset())


def record_entries(data: bytes) -> dict[str, str | None]:
    """The paths a dist-info ``RECORD`` lists (CSV rows ``path,hash,size``;
    the wheel specification, PEP 376) -> their hex sha256, or None when the
    row gives no valid sha256 hash (none, another algorithm, or not 32
    bytes: such a row declares no hook, :func:`press.layout._may_ship`).
    Rows that do not parse are skipped: a RECORD that says nothing declares
    nothing."""
    entries: dict[str, str | None] = {}
    try:
        text = data.decode("utf-8-sig")
        for row in csv.reader(io.StringIO(text)):
            if not row or not row[0]:
                continue
            digest = None
            if len(row) > 1 and row[1].startswith("sha256="):
                try:
                    raw = base64.urlsafe_b64decode(row[1][7:] + "=" * (-len(row[1][7:]) % 4))
                    digest = raw.hex() if len(raw) == 32 else None
                except (binascii.Error, ValueError):
                    digest = None
            entries[row[0]] = digest
    except (UnicodeDecodeError, csv.Error):
        return entries
    return entries


@dataclass
class TopLevelOwners:
    """The top-level names and files each distribution of one conversion
    ships (:meth:`claim`), so that no two distributions ship the same."""

    claimed: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def claim(self, distribution: str, label: str, arcnames: Iterable[str]) -> None:
        """Record the wheel members of ``distribution`` (made from the conda
        package ``label``). Raises :class:`~press.errors.ConflictError`
        naming both distributions when another one already ships one of
        them (see :func:`ownership_keys`)."""
        own = canonicalize_name(distribution)
        keys = ownership_keys(arcnames)
        for key, arcname in keys.items():
            found = self.claimed.get(key)
            if found is not None and found[0] != own:
                raise ConflictError(f"{arcname}: shipped by {distribution} ({label}) and by {found[1]} "
                                    f"({found[2]}); installed together, one would overwrite the other",
                                    package=label, field=arcname)
        for key in keys:
            self.claimed.setdefault(key, (own, distribution, label))


def ownership_keys(arcnames: Iterable[str]) -> dict[str, str]:
    """key -> archive name of the members that make a wheel the owner of a
    name in site-packages: every file outside its ``.dist-info``/``.data``
    directories (compared without case), and the import name of every
    top-level module or regular package (``foo.py``, ``foo/__init__.py``).
    Two distributions may share a namespace package's directory, not a file
    in it."""
    keys: dict[str, str] = {}
    for arcname in arcnames:
        top, _, rest = arcname.partition("/")
        if top.lower().endswith((".dist-info", ".data")):
            continue
        keys.setdefault("file:" + _key(arcname), arcname)
        if (not rest and _MODULE_SUFFIX.search(top)) or (rest and "/" not in rest and rest.startswith("__init__.")):
            keys.setdefault("import:" + top_key(arcname), arcname)
    return keys


def wheel_clashes(wheels: Mapping[str, Path]) -> list[tuple[str, str, str]]:
    """``(member, wheel, other wheel)`` for every member name two wheels of
    different distributions both ship (:func:`ownership_keys`); ``wheels``
    maps a file name to its path. Each wheel is read through
    :class:`~press.wheelread.WheelReader` (bounded, no link followed); a
    wheel that it refuses is left out: the readers that check wheels report
    it."""
    from .wheelread import WheelReader

    seen: dict[str, tuple[str, str]] = {}
    found: list[tuple[str, str, str]] = []
    for name, path in sorted(wheels.items()):
        distribution = canonicalize_name(name.split("-", 1)[0])
        try:
            with WheelReader(path, follow_symlinks=False) as wheel:
                members = wheel.names
        except PressError:
            continue
        for key, arcname in ownership_keys(members).items():
            other = seen.setdefault(key, (distribution, name))
            if other[0] != distribution:
                found.append((arcname, name, other[1]))
    return found
