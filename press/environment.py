"""Environment variables that point vendored libraries at their data.

conda rewrites the build prefix compiled into binaries at install time (a
binary prefix placeholder); pip cannot, so a library that looks for its data
under that prefix (ncurses' terminfo database, OpenSSL's configuration and
modules, Tcl's script library) finds nothing after ``pip install``. Most
such libraries read an environment variable first, and conda packages that
need one at run time declare it in ``etc/conda/activate.d``. press collects
those (:attr:`press.artifact.Artifact.activation`) and the ones in its policy
data (``press/data/environment.json``, one entry per conda package with the
source of each rule) and writes them into ``_press_env_<dist>.py``, which the
wheel's console-script launchers and the ``__init__.py`` of its packages that
hold extension modules import before anything loads. It never overrides a
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
    """The policy data: conda name -> ((setting, candidate paths), ...)."""
    doc = json.loads(resources.files("press").joinpath("data/environment.json").read_text("utf-8"))
    table = {}
    for package, entries in doc["packages"].items():
        table[package] = tuple(
            (EnvSetting(e["name"], "", e.get("how", "default"), e.get("form", "path")), tuple(e["paths"]))
            for e in entries)
    return table


def declared(artifact: Artifact) -> list[tuple[EnvSetting, tuple[str, ...]]]:
    """What ``artifact`` asks for: its activation scripts' variables, then the
    policy data's for its conda name (a name its scripts set wins); each
    with the prefix-relative paths to try, in order."""
    found: list[tuple[EnvSetting, tuple[str, ...]]] = [(s, (s.path,)) for s in artifact.activation]
    names = {s.name for s in artifact.activation}
    found += [(s, paths) for s, paths in _policy().get(artifact.name, ()) if s.name not in names]
    return found


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


def resolve(artifact: Artifact, libs_dir: str, paths: Iterable[str]) -> list[WheelSetting]:
    """The settings of ``artifact`` whose data is in the wheel: ``paths`` are
    the prefix-relative files its data lives among (under ``libs_dir`` in
    site-packages); a setting whose path is neither a file nor a directory of
    them is left out."""
    wanted = declared(artifact)
    if not wanted:
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
