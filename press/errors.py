"""The exception hierarchy of press, rooted in :class:`PressError`.

Every error that bad input can cause (an unknown spec, an unsolvable closure, a
corrupt or hostile archive, an untranslatable version) is a :class:`PressError`
whose message names the package and the reason; the CLI prints that message
and exits non-zero.
"""

from __future__ import annotations


class PressError(Exception):
    """Root of every error press raises on purpose.

    ``package`` (optional) names the conda package, artifact or spec the error
    is about; ``field`` (optional) the piece of it that is wrong (a metadata
    file and key, an archive member, a record field). Both are already part of
    ``str(error)``, which reads ``<package>: <field>: <reason>``.
    """

    def __init__(self, message: str, *, package: str | None = None, field: str | None = None) -> None:
        self.package = package
        self.field = field
        self.reason = message
        super().__init__(": ".join(p for p in (package, field, message) if p))

    def to_dict(self) -> dict[str, str | None]:
        """The error as JSON-ready data: ``type`` (the class name),
        ``package``, ``field``, ``reason`` and ``message`` (``str(error)``)."""
        return {"type": type(self).__name__, "package": self.package, "field": self.field, "reason": self.reason,
                "message": str(self)}


class ChannelError(PressError):
    """A channel cannot be read or indexed (bad URL, missing directory, HTTP error)."""


class SpecError(PressError):
    """A MatchSpec does not parse, or matches no record in the channels."""


class SolveError(PressError):
    """The dependency closure of the requested specs cannot be solved."""


class FetchError(PressError):
    """An artifact could not be downloaded or its sha256 does not match its record."""


class ArchiveError(PressError):
    """A conda artifact is corrupt, truncated or not a conda package at all."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would escape the extraction directory or is not a plain file,
    directory or in-package link (absolute path, ``..``, device, FIFO, outside link)."""


class InvalidInputError(ArchiveError):
    """A value read from an archive, a channel or a binary fails its check at
    the validation boundary (:mod:`press.package`, :mod:`press.grammar`):
    wrong JSON type, out of range, or outside its grammar. ``field`` names it."""


class LimitError(UnsafeArchiveError):
    """Input exceeds one of press's resource limits (:mod:`press.limits`);
    the message names the limit and the environment variable that raises it."""


class MetadataError(PressError):
    """Conda metadata cannot be translated into wheel metadata."""


class VersionError(MetadataError):
    """A conda version has no PEP 440 translation."""


class ConflictError(PressError):
    """Two packages of one fat wheel ship the same path with different bytes
    and no ``--prefer`` says which copy to keep."""


class RelocationError(PressError):
    """A binary cannot be relocated into the wheel layout."""


class ValidationError(PressError):
    """A built wheel failed validation (install, import tests, or library resolution)."""
