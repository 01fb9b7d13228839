"""Which packages of a solved closure a thin wheel is made with.

A thin wheel is one conda package, but its requirements are named after its
dependencies' distributions and its binaries load libraries its native
dependencies ship (:mod:`press.providers`), so every mode (a spec's solve, an
artifact file's, a batch job's) unpacks the same part of the closure:
:func:`thin_closure`. The same record then makes the same wheel whichever way
it was asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from .matchspec import is_plumbing, spec_name
from .names import is_python_record

if TYPE_CHECKING:
    from rattler import RepoDataRecord


def thin_closure(name: str, solved: list[RepoDataRecord], roots: list[str] | None = None
                 ) -> list[RepoDataRecord]:
    """The records of a solved closure a thin wheel of ``name`` is made with:
    the package, its direct dependencies (their distribution names are the
    requirements' names), and everything reached through native packages
    (their libraries are what the wheel's binaries load, :mod:`press.providers`);
    what only Python packages need is left out (their wheels are made by
    their own jobs). ``roots``: the conda names of the direct dependencies,
    when ``solved`` is the closure of the dependencies alone (an artifact
    file's) and holds no record of ``name``."""
    by_name = {r.name.normalized: r for r in solved}
    wanted, queue = {name}, [name]
    if roots is not None:
        queue = [r for r in dict.fromkeys(roots) if r in by_name and not is_plumbing(r)]
        wanted |= set(queue)
    while queue:
        current = by_name.get(queue.pop(0))
        if current is None:
            continue
        record_name = current.name.normalized
        noarch = getattr(current, "noarch", None)
        python = is_python_record([str(d) for d in current.depends],
                                  "python" if getattr(noarch, "python", False) else None)
        if record_name != name and python:
            # A Python dependency: named, not walked, but for the package an alias of the same
            # name stands for (typing-extensions -> typing_extensions), whose name it takes.
            for spec in current.depends:
                dep = spec_name(str(spec))
                if dep in by_name and dep not in wanted and canonicalize_name(dep) == canonicalize_name(record_name):
                    wanted.add(dep)
            continue
        for spec in current.depends:
            dep = spec_name(str(spec))
            if dep in by_name and dep not in wanted and not is_plumbing(dep):
                wanted.add(dep)
                queue.append(dep)
    return [r for r in solved if r.name.normalized in wanted]
