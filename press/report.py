"""Reports of a conversion: one :class:`WheelReport` per wheel written."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path


def shorten(word: str, room: int) -> str:
    """``word`` in at most ``room`` columns (``room`` >= 8), for a terminal too
    narrow for it: a wheel file name with a compressed platform tag set keeps
    its first tag (``...-manylinux2014_x86_64...whl``; the summary's
    ``[tags]`` still lists them all), anything else keeps its start and end
    around ``...``. A word that fits is returned unchanged."""
    if len(word) <= room:
        return word
    if word.endswith(".whl"):
        head, _, platforms = word[:-4].rpartition("-")
        candidate = f"{head}-{platforms.split('.')[0]}...whl"
        if "." in platforms and len(candidate) <= room:
            return candidate
    keep = max(room - 3, 2)
    tail = keep // 3
    return f"{word[:keep - tail]}...{word[len(word) - tail:]}"


def fit(text: str, width: int | None, indent: str = "    ") -> list[str]:
    """``text`` as lines of at most ``width`` columns, for a terminal that
    narrow: broken at spaces only, never inside a word; continuation lines
    start with ``indent``; a word longer than a line (a wheel file name) is
    shortened (:func:`shorten`). With ``width`` None, or when the text fits,
    it is returned as the one line it is (files, pipes and ``--json`` keep
    the lines scripts parse)."""
    if width is None or len(text) <= width:
        return [text]
    lead = text[:len(text) - len(text.lstrip(" "))]
    room = max(width - max(len(lead), len(indent)), 8)
    words = [shorten(w, room) if w.strip() else w for w in re.split(r"( +)", text.strip(" "))]
    wrapper = textwrap.TextWrapper(width=max(width, room), initial_indent=lead, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False)
    return wrapper.wrap("".join(words)) or [text]


@dataclass
class ValidationResult:
    """``status`` is ``passed``, ``failed`` or ``skipped``; ``reason`` says why
    for the last two; ``imports`` lists the import tests run; ``checks`` the
    structural checks passed (foreign-platform wheels); ``kind`` is
    ``install`` (installed in a venv of the target interpreter and imported)
    or ``structural`` (a wheel for another platform: read, not run);
    ``skipped_imports``: ``"<module> (needs <conda names>)"`` for import
    tests that need a test requirement no channel provides (not failures);
    ``sandbox``: where the package's code ran (:mod:`press.sandbox`):
    ``bwrap`` in bubblewrap's sandbox, ``off`` unisolated
    (``PRESS_SANDBOX=off``), ``""`` when none ran (structural checks, or a
    validation that could not start)."""

    status: str
    reason: str = ""
    imports: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    kind: str = "install"
    skipped_imports: list[str] = field(default_factory=list)
    sandbox: str = ""


@dataclass
class WheelReport:
    """What press wrote for one wheel.

    ``path``: the wheel file; ``tags``: ``py-abi-platform`` as in the file
    name (the platform may be a compressed set,
    ``manylinux2014_x86_64.manylinux_2_17_x86_64``); ``size``: bytes;
    ``conda_packages``: the artifacts merged into it (the first is the main
    one); ``vendored_libraries``: archive names of vendored shared libraries;
    ``external_libraries``: libraries left to the system (SONAMEs on the
    manylinux allow-list, ``/usr/lib`` dylibs, system DLLs);
    ``dependencies``: per binary (archive name), each library it loads ->
    the archive name it resolves to, ``"system"``, ``"dependency wheel"``
    (thin mode) or ``"unresolved"``; ``relocated``: archive names of the
    binaries press edited;
    ``placeholders``: ``[path, mode, how]`` of the files that held a conda
    prefix placeholder (``mode`` ``text``/``binary``); ``how`` is
    ``rewritten: ...`` (:mod:`press.prefix`), ``environment: VAR, ...`` (a
    binary whose library reads those variables, set by the wheel's
    environment module) or ``unresolved`` (it still points at the build
    prefix); ``test_imports``: the conda recipe's import tests, run by
    validation; ``test_requires``: the MatchSpecs those tests need beyond the
    package (recipe ``test.requires``), installed by validation when an
    import needs them; ``notes``: other things the user should know;
    ``vendored_bytes``: per vendored conda package (label), the bytes of its
    files in the wheel, uncompressed; ``conda_sources``: the conda artifacts
    the wheel's SBOM names (:class:`press.sbom.CondaSource` fields: name,
    version, build, subdir, channel, sha256, files, purl).
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
    test_requires: list[str] = field(default_factory=list)
    validation: ValidationResult | None = None
    vendored_bytes: dict[str, int] = field(default_factory=dict)
    conda_sources: list[dict[str, object]] = field(default_factory=list)
    #: archive names of the members that run at every interpreter start once
    #: installed (``*.pth``, ``sitecustomize``/``usercustomize``; :mod:`press.owners`).
    install_hooks: list[str] = field(default_factory=list)
    #: ``--strip`` (None without it): archive name -> bytes removed, for each
    #: ELF file whose symbol table and debug sections were stripped
    #: (:mod:`press.relocate.strip`).
    stripped: dict[str, int] | None = None

    def summary(self) -> str:
        """One human line: file name, tags, size, vendored library count,
        the bytes ``--strip`` removed (uncompressed), validation
        (``structural`` for foreign wheels), how many files
        still hold a conda prefix placeholder and the install hooks."""
        size = f"{self.size / 1e6:.1f} MB" if self.size >= 1e5 else f"{self.size / 1e3:.1f} kB"
        count = len(self.vendored_libraries)
        vendored = f", {count} vendored librar{'y' if count == 1 else 'ies'}" if count else ""
        check = ""
        if self.validation:
            kind = "structural " if self.validation.kind == "structural" else ""
            check = f", {kind}validation {self.validation.status}"
            if self.validation.sandbox == "off":
                check += " (without a sandbox)"
            skipped = self.validation.skipped_imports
            if skipped:
                check += f" ({len(skipped)} import{'s' if len(skipped) > 1 else ''} skipped: {'; '.join(skipped)})"
        left = len(self.unresolved_placeholders())
        held = f", {left} files still hold the conda build prefix" if left else ""
        hooks = f", runs at interpreter start: {', '.join(self.install_hooks)}" if self.install_hooks else ""
        saved = sum(self.stripped.values()) if self.stripped else 0
        amount = f"{saved / 1e6:.1f} MB" if saved >= 1e5 else f"{saved / 1e3:.1f} kB"
        files = len(self.stripped or ())
        strip = f", {amount} stripped from {files} ELF file{'s' if files > 1 else ''}" if saved else ""
        return f"{Path(self.path).name}  [{self.tags}]  {size}{vendored}{strip}{check}{held}{hooks}"

    def summary_lines(self, width: int | None = None) -> list[str]:
        """:meth:`summary` for a terminal ``width`` columns wide (:func:`fit`):
        the one line when it fits or ``width`` is None."""
        return fit(self.summary(), width)

    def detail_lines(self) -> list[str]:
        """The ``-v`` lines: notes, vendored libraries, every file still
        holding the build prefix, the conda artifacts and test imports."""
        lines = [f"  note: {note}" for note in self.notes]
        lines += [f"  vendored: {lib}" for lib in self.vendored_libraries]
        lines += [f"  build prefix left in: {arc}" for arc in self.unresolved_placeholders()]
        lines += [f"  from: {name}" for name in self.conda_packages]
        if self.test_imports:
            lines.append(f"  import tests: {', '.join(self.test_imports)}")
        return lines

    def unresolved_placeholders(self) -> list[str]:
        """Archive names of the files still pointing at the build prefix."""
        return [entry[0] for entry in self.placeholders if entry[-1] == "unresolved"]

    def placeholder_lines(self, groups: int = 6) -> list[str]:
        """Human lines on prefix placeholders: how many were rewritten or
        are covered by environment variables, and the unresolved files by
        directory (the ``groups`` largest, then how many more)."""
        lines = []
        fixed = [e for e in self.placeholders if e[-1] != "unresolved"]
        if fixed:
            kinds: dict[str, int] = {}
            variables: set[str] = set()
            for entry in fixed:
                kind, _, detail = entry[-1].partition(": ")
                key = f"rewritten ({detail})" if kind == "rewritten" else "covered by environment variables"
                kinds[key] = kinds.get(key, 0) + 1
                if kind == "environment":
                    variables.update(detail.split(", "))
            parts = [f"{count} {how}" for how, count in sorted(kinds.items())]
            parts = [p + f" ({', '.join(sorted(variables))})" if p.endswith("variables") else p for p in parts]
            lines.append("  prefix placeholders handled: " + ", ".join(parts))
        left = self.unresolved_placeholders()
        if left:
            by_dir: dict[str, int] = {}
            for arc in left:
                folder = "/".join(arc.split("/")[:-1][:3])
                by_dir[folder] = by_dir.get(folder, 0) + 1
            ranked = sorted(by_dir.items(), key=lambda item: (-item[1], item[0]))
            shown = ", ".join(f"{folder}/ ({count})" if count > 1 else next(a for a in left if a.startswith(folder + "/") or a == folder)
                              for folder, count in ranked[:groups])
            more = f" and {len(ranked) - groups} more folders" if len(ranked) > groups else ""
            lines.append(f"  still pointing at the build prefix: {shown}{more}")
        return lines


@dataclass
class ConversionReport:
    """All wheels of one :func:`press.convert` call, in the order written."""

    wheels: list[WheelReport] = field(default_factory=list)
    #: ``[artifact, reason]`` of artifacts that made no wheel (metapackage aliases).
    skipped: list[list[str]] = field(default_factory=list)
    #: the wheelhouse check (:mod:`press.installable`): one message per wheel
    #: written that does not install from the wheel directory.
    unresolvable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when any validation failed or a wheel written does not install from the wheel directory."""
        return not self.unresolvable and all(w.validation is None or w.validation.status != "failed"
                                             for w in self.wheels)

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "wheels": [asdict(w) for w in self.wheels], "skipped": self.skipped,
                           "unresolvable": self.unresolvable}, indent=2, sort_keys=True)
