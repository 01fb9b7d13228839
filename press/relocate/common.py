"""What the platform relocators share: the result type and content-hashed names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..contained import Root
from ..layout import Layout, StagedFile


@dataclass
class Relocation:
    """The outcome of relocating one wheel's binaries.

    ``platform``: the wheel's platform tag; ``vendored``: archive names of the
    vendored shared libraries; ``external``: libraries loaded from the system
    -> the symbol versions needed from them (ELF; empty sets elsewhere);
    ``dependencies``: per binary archive name, each dependency -> the archive
    name it resolves to, ``"system"``, or ``"unresolved"``; ``changed``:
    archive names of the binaries that were edited; ``notes``: what the
    report should say.
    """

    platform: str
    vendored: list[str] = field(default_factory=list)
    external: dict[str, set[str]] = field(default_factory=dict)
    dependencies: dict[str, dict[str, str]] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def content_hash(staged: StagedFile) -> str:
    """First 8 hex digits of the sha256 of a staged file (auditwheel's and delvewheel's length)."""
    return staged.digest()[:8]


def hashed_name(name: str, digest: str) -> str:
    """A library file name with a content hash inserted, the way auditwheel,
    delocate and delvewheel spell it: ``libffi.so.8`` -> ``libffi-<h>.so.8``,
    ``libffi.8.dylib`` -> ``libffi-<h>.8.dylib``, ``zstd.dll`` -> ``zstd-<h>.dll``."""
    if name.lower().endswith(".dll"):
        return f"{name[:-4]}-{digest}{name[-4:]}"
    if ".so" in name and not name.endswith(".dylib"):
        base, dot, rest = name.partition(".so")
        return f"{base}-{digest}.so{rest}"
    base, dot, rest = name.partition(".")
    return f"{base}-{digest}{dot}{rest}"


def rename_arc(layout: Layout, arc: str, new_basename: str) -> str:
    """Move a file of the layout to a new basename in the same directory."""
    new_arc = f"{arc.rsplit('/', 1)[0]}/{new_basename}" if "/" in arc else new_basename
    layout.files[new_arc] = layout.files.pop(arc)
    return new_arc


def staged_copy(staged: StagedFile, stage: Root, arc: str) -> Path:
    """Copy a staged file into the stage root (once) so it can be edited;
    the staged file points at the copy afterwards (its digest forgotten).
    Returns the copy's host path, for LIEF."""
    if staged.root is not stage or staged.rel != arc:
        stage.copy_from(staged.root, staged.rel, arc, staged.mode)
        staged.root, staged.rel, staged.sha256 = stage, arc, None
    staged.sha256 = None
    return stage.host_path(arc)
