"""Environment variables that point vendored libraries at their data.

conda rewrites the build prefix compiled into binaries at install time (a
binary prefix placeholder); pip cannot, so a library that looks for its data
under that prefix (ncurses' terminfo database, OpenSSL's configuration and
modules, Tcl's script library) finds nothing after ``pip install``. Most
such libraries read an environment variable first.

What press sets comes from an allow-list, its policy data
(``press/data/environment.json``): per conda package, the variables it may
set, each with the documentation of the variable, who sets it in conda-forge
and why it is harmless. A variable a package's ``etc/conda/activate.d``
scripts set (:attr:`press.artifact.Artifact.activation`) is kept only when
the allow-list has it for that package (the script's path is then tried
first); any other is dropped with a note. The settings are applied only for
the package that declares them, and only when that package ships a library
of its own: a data-only package (no ELF, Mach-O or PE file) never steers
another package's code, in a thin wheel's dependency or a fat wheel's
vendored closure alike.

press writes them into ``_press_env_<dist>.py``, which the wheel's
console-script launchers and the ``__init__.py`` of its packages that hold
extension modules import before anything loads. It never overrides a
variable the user set: ``default`` settings apply only when the variable is
unset, ``prepend`` ones go in front of the user's list.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import posixpath
from dataclasses import dataclass
from importlib import resources
from typing import Iterable

from .artifact import Artifact
from .package import EnvSetting
from .relocate import may_be_binary

#: The module press writes, per distribution (``_press_env_<dist>.py``).
MODULE = "_press_env_{dist}"


@dataclass(frozen=True)
class WheelSetting:
    """One variable as the wheel sets it: ``path`` relative to site-packages
    (``/``-separated), ``how`` (``default``/``prepend``), ``form``
    (``path``/``file-url``) and the conda ``package`` that asked for it."""

    name: str
    path: str
    how: str
    form: str
    package: str


@functools.lru_cache(maxsize=1)
def _policy() -> dict[str, tuple[tuple[EnvSetting, tuple[str, ...]], ...]]:
    """The allow-list: conda name -> ((setting, candidate paths), ...)."""
    doc = json.loads(resources.files("press").joinpath("data/environment.json").read_text("utf-8"))
    table = {}
    for package, entries in doc["packages"].items():
        table[package] = tuple(
            (EnvSetting(e["name"], "", e.get("how", "default"), e.get("form", "path")), tuple(e["paths"]))
            for e in entries)
    return table


def allowed(package: str) -> frozenset[str]:
    """The variables the allow-list lets conda package ``package`` set."""
    return frozenset(s.name for s, _ in _policy().get(package, ()))


def declared(artifact: Artifact, notes: list[str] | None = None) -> list[tuple[EnvSetting, tuple[str, ...]]]:
    """What ``artifact`` may set: the allow-list's entries for its conda
    name, each with the prefix-relative paths to try in order (its
    activation scripts' path for that variable first). A variable its
    activation scripts set that the allow-list does not have for it is
    dropped, with a note appended to ``notes``."""
    scripts = {s.name: s for s in artifact.activation}
    dropped = sorted(set(scripts) - allowed(artifact.name))
    if dropped and notes is not None:
        notes.append(f"{artifact.label}: etc/conda/activate.d sets {', '.join(dropped)}: not set, not in press's "
                     f"allow-list for {artifact.name} (press/data/environment.json)")
    found = []
    for setting, paths in _policy().get(artifact.name, ()):
        mine = scripts.get(setting.name)
        found.append((setting, ((mine.path,) + paths) if mine is not None else paths))
    return found


def ships_code(artifact: Artifact) -> bool:
    """Whether ``artifact`` ships a file whose first bytes make it an ELF,
    Mach-O or PE binary (a library its variables can be for)."""
    return any(may_be_binary(facts.magic) for facts in artifact.files.values())


def _match(candidates: Iterable[str], known: set[str]) -> str | None:
    """The first candidate that is a known path; a ``*`` in a candidate's
    last component matches within its directory (the greatest match wins:
    ``lib/tcl8.*`` -> ``lib/tcl8.6``)."""
    for candidate in candidates:
        if "*" not in candidate:
            if candidate == "" or candidate in known:
                return candidate
            continue
        parent, pattern = posixpath.split(candidate)
        hits = sorted(p for p in known if posixpath.dirname(p) == parent
                      and fnmatch.fnmatchcase(posixpath.basename(p), pattern))
        if hits:
            return hits[-1]
    return None


def resolve(artifact: Artifact, libs_dir: str, paths: Iterable[str], notes: list[str] | None = None,
            own: bool = True) -> list[WheelSetting]:
    """The settings of ``artifact`` whose data is in the wheel: ``paths`` are
    the prefix-relative files its data lives among (under ``libs_dir`` in
    site-packages); a setting whose path is neither a file nor a directory of
    them is left out. ``own`` is False for a package the wheel's code only
    depends on (a thin wheel's native dependency, a fat wheel's vendored
    package): then a package that ships no binary (:func:`ships_code`) gets
    none, with a note. Dropped variables are noted in ``notes``."""
    wanted = declared(artifact, notes)
    if not wanted:
        return []
    if not own and not ships_code(artifact):
        if notes is not None:
            names = ", ".join(sorted({s.name for s, _ in wanted}))
            notes.append(f"{artifact.label}: {names} not set: it ships no library of its own, and a data-only "
                         "package's variables never steer another package's code")
        return []
    known = set(paths)
    known |= {p.rsplit("/", i)[0] for p in known for i in range(1, p.count("/") + 1)}
    settings = []
    for setting, candidates in wanted:
        found = _match(candidates, known)
        if found is not None:
            path = f"{libs_dir}/{found}" if found else libs_dir
            settings.append(WheelSetting(setting.name, path, setting.how, setting.form, artifact.name))
    return settings


def module_source(settings: list[WheelSetting]) -> str:
    """Source of ``_press_env_<dist>.py``: sets ``settings`` in ``os.environ``
    when imported (paths that are not installed, a thin dependency wheel
    left out, are skipped)."""
    rows = sorted({(s.name, s.how, s.path, s.form) for s in settings})
    return "\n".join([
        '"""Environment variables for the conda libraries vendored by press.',
        "",
        "Imported by the console-script launchers and the package's __init__.py",
        "before a vendored library loads. A variable the user set is never",
        'overridden; list variables get the wheel\'s directory in front."""',
        "import os",
        "",
        f"SETTINGS = {rows!r}",
        "_HERE = os.path.dirname(os.path.abspath(__file__))",
        "",
        "",
        "def apply(environ=os.environ):",
        "    for name, how, rel, form in SETTINGS:",
        "        path = os.path.join(_HERE, *rel.split('/'))",
        "        if not os.path.exists(path):",
        "            continue",
        "        if form == 'file-url':",
        "            from urllib.request import pathname2url",
        "            path = 'file://' + pathname2url(path)",
        "        current = environ.get(name)",
        "        if how == 'prepend':",
        "            parts = current.split(os.pathsep) if current else ['']",
        "            if path not in parts:",
        "                environ[name] = os.pathsep.join([path] + parts)",
        "        elif name not in environ:",
        "            environ[name] = path",
        "",
        "",
        "apply()",
        "",
    ])
