"""conda MatchSpec names: the one parser of a dependency's package name
(py-rattler's ``MatchSpec``) and the rule for conda-only plumbing, shared by
naming (:mod:`press.names`), requirements (:mod:`press.metadata`), library
providers, planning and batch selection."""

from __future__ import annotations

from .errors import SpecError

#: conda packages that exist only for conda's own bookkeeping.
PLUMBING = {"python", "python_abi", "pybind11-abi", "ca-certificates", "pip", "setuptools-scm", "ucrt", "vc"}


def is_plumbing(conda_name: str) -> bool:
    """True for conda-only packages that never become ``Requires-Dist``:
    virtual (``__*``) and mutex (``_*``) packages, ``python``, ``python_abi``,
    ``pybind11-abi``, ``ca-certificates``, ``pip``, ``ucrt`` (the Universal
    CRT is part of Windows 10 and later) and ``vc`` (a compiler-version pin
    without files; the runtime itself is ``vc14_runtime``)."""
    return conda_name.startswith("_") or conda_name in PLUMBING


def spec_name(spec: str) -> str:
    """The normalised package name of a MatchSpec string (py-rattler).
    Raises :class:`SpecError` when it does not parse."""
    from rattler import MatchSpec

    try:
        return MatchSpec(spec).name.normalized
    except Exception as exc:
        raise SpecError(f"{spec!r} is not a valid MatchSpec: {exc}") from exc
