"""Reports of a conversion: one :class:`WheelReport` per wheel written."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class ValidationResult:
    """``status`` is ``passed``, ``failed`` or ``skipped``; ``reason`` says why
    for the last two; ``imports`` lists the import tests run; ``checks`` the
    structural checks passed (foreign-platform wheels); ``kind`` is
    ``install`` (installed in a venv of the target interpreter and imported)
    or ``structural`` (a wheel for another platform: read, not run)."""

    status: str
    reason: str = ""
    imports: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    kind: str = "install"


@dataclass
class WheelReport:
    """What press wrote for one wheel.

    ``path``: the wheel file; ``tags``: ``py-abi-platform``; ``size``: bytes;
    ``conda_packages``: the artifacts merged into it (the first is the main
    one); ``vendored_libraries``: archive names of vendored shared libraries;
    ``external_libraries``: libraries left to the system (SONAMEs on the
    manylinux allow-list, ``/usr/lib`` dylibs, system DLLs);
    ``dependencies``: per binary (archive name), each library it loads ->
    the archive name it resolves to, ``"system"``, ``"dependency wheel"``
    (thin mode) or ``"unresolved"``; ``relocated``: archive names of the
    binaries press edited;
    ``placeholders``: ``[path, mode]`` of files still holding a conda prefix
    placeholder; ``test_imports``: the conda recipe's import tests, run by
    validation; ``notes``: other things the user should know;
    ``vendored_bytes``: per vendored conda package (label), the bytes of its
    files in the wheel, uncompressed.
    """

    path: str
    name: str
    version: str
    tags: str
    size: int
    conda_packages: list[str]
    requires_dist: list[str] = field(default_factory=list)
    vendored_libraries: list[str] = field(default_factory=list)
    external_libraries: list[str] = field(default_factory=list)
    dependencies: dict[str, dict[str, str]] = field(default_factory=dict)
    relocated: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    placeholders: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    test_imports: list[str] = field(default_factory=list)
    validation: ValidationResult | None = None
    vendored_bytes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One human line: file name, tags, size, vendored library count,
        validation (``structural`` for foreign wheels) and how many files
        still hold a conda prefix placeholder."""
        size = f"{self.size / 1e6:.1f} MB" if self.size >= 1e5 else f"{self.size / 1e3:.1f} kB"
        vendored = f", {len(self.vendored_libraries)} vendored libraries" if self.vendored_libraries else ""
        check = ""
        if self.validation:
            kind = "structural " if self.validation.kind == "structural" else ""
            check = f", {kind}validation {self.validation.status}"
        held = (f", {len(self.placeholders)} files still hold the conda build prefix (see --json placeholders)"
                if self.placeholders else "")
        return f"{Path(self.path).name}  [{self.tags}]  {size}{vendored}{check}{held}"


@dataclass
class ConversionReport:
    """All wheels of one :func:`press.convert` call, in the order written."""

    wheels: list[WheelReport] = field(default_factory=list)
    #: ``[artifact, reason]`` of artifacts that made no wheel (metapackage aliases).
    skipped: list[list[str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when any validation failed."""
        return all(w.validation is None or w.validation.status != "failed" for w in self.wheels)

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "wheels": [asdict(w) for w in self.wheels], "skipped": self.skipped},
                          indent=2, sort_keys=True)
