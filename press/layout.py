"""Where each file of a conda package goes in a wheel.

The wheel root is platlib (or purelib). Conda's site-packages content (posix
``lib/pythonX.Y[t]/site-packages``, Windows ``Lib/site-packages``, noarch
python ``site-packages``) goes to the root. Everything else of the prefix
(``lib/``, ``bin/``, ``share/``, ``etc/`` ...) goes below one directory per
distribution, ``<name>.libs/``, keeping the prefix's own shape, so relative
references between them still hold and the tree sits at a fixed place relative
to the extension modules under every install scheme. Executables become
commands through a small launcher module; Python scripts with a prefix
placeholder shebang go to ``.data/scripts`` with a ``#!python`` shebang.

Symlinks never reach the wheel (zip cannot hold them): a link to a shared
library is folded into one copy stored under the library's SONAME, a link to
an executable becomes a command alias, any other link to a file is stored as
a copy and reported.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from . import grammar
from .artifact import DOCUMENTATION, Artifact, PathEntry
from .contained import Root
from .errors import ConflictError, UnsafeArchiveError
from .limits import exceeded, limit
from .owners import check_reserved, declared_hook, record_entries, startup_hook
from .package import EntryPoint, site_packages_prefix
from .relocate import BinaryInfo, file_key, lookup_name, may_be_binary, read_binary

_DEV_FILES = re.compile(
    r"^(include/|lib/pkgconfig/|share/pkgconfig/|lib/cmake/|share/cmake/|share/man/|man/|share/doc/|share/info/|"
    r"share/gtk-doc/|share/aclocal/|conda-meta/|Library/include/|Library/lib/pkgconfig/|Library/lib/cmake/|"
    r"Library/share/pkgconfig/|Library/share/cmake/|Library/share/man/|Library/share/doc/|Library/lib/.*\.lib$)"
    r"|\.(a|la|prl)$"
    r"|^(Library/)?(share|libexec)/([^/]+/)?examples?/"  # example programs and data (lzo, libxml2 ...)
)
_DROP = re.compile(r"(^|/)__pycache__/|\.pyc$|^info/")
#: conda's activation hooks: shell code an installed wheel never runs (the
#: variables they point into the prefix are set by press's environment module).
_CONDA_HOOKS = re.compile(r"^(Library/)?etc/conda/(de)?activate\.d/")
#: Files only a linker reads: static archives and libtool archives (never
#: loaded at run time, so never shipped; auditwheel's users strip them too).
_BUILD_ONLY = re.compile(r"\.(a|la)$")
#: The start of a GNU ld linker script (``libgcc_s.so``: ``GROUP ( libgcc_s.so.1 -lgcc )``).
_LD_SCRIPT = re.compile(rb"^\s*(/\*.*?\*/\s*)*(INPUT|GROUP|OUTPUT_FORMAT|SEARCH_DIR)\s*\(", re.S)


def is_build_only(artifact: Artifact, path: str, named: str | None = None) -> bool:
    """True for a static or libtool archive, or a GNU ld linker script posing
    as a shared library (a small text ``lib*.so``): build-time files that a
    wheel never needs. ``named``: the name it is reached by (a symlink's)."""
    named = named or path
    if _BUILD_ONLY.search(named):
        return True
    facts = artifact.files.get(path)
    if not named.endswith(".so") or facts is None or facts.size > 4096:
        return False
    return bool(_LD_SCRIPT.match(artifact.root.read_bytes(path, 4096)))
#: Script names a virtual environment or Python installation owns in its
#: scripts directory: the interpreter and pip launchers, CPython's venv
#: activators (Lib/venv/scripts), virtualenv's (activate.csh/.fish/.nu/.xsh,
#: activate_this.py) and conda's activate/deactivate. A wheel's console
#: script or script of such a name would replace them when installed (pip
#: overwrites without a word), so press never writes one.
RESERVED_COMMANDS = re.compile(
    r"^(python|pythonw|pip|pydoc|idle|2to3)(\d+(\.\d+)?t?)?(\.exe)?$"
    r"|^(activate|deactivate)(\.(bat|csh|fish|nu|ps1|xsh|py))?$|^activate_this\.py$", re.I)
#: conda packages that own some of those names (pip's own wheel installs ``pip``).
RESERVED_OWNERS = {"pip": re.compile(r"^pip(\d+(\.\d+)?)?(\.exe)?$", re.I)}
_SHARED_LIB = re.compile(r"\.so(\.\d+)*$|\.dylib$")


@dataclass
class StagedFile:
    """One file bound for the wheel: ``rel`` inside ``root`` (an artifact's
    unpacked tree, or the stage where press writes edited copies), its unix
    ``mode``, the ``owner`` package label, its linking facts (``binary``),
    its prefix placeholder, and its hex ``sha256`` when known (None once
    edited)."""

    root: Root
    rel: str
    mode: int
    owner: str
    binary: BinaryInfo | None = None
    placeholder: str | None = None
    placeholder_mode: str | None = None
    sha256: str | None = None

    def digest(self) -> str:
        """The hex sha256 of the content (streamed when not known)."""
        if self.sha256 is None:
            self.sha256 = self.root.sha256(self.rel)
        return self.sha256


@dataclass(frozen=True)
class Script:
    """A Python script for ``.data/scripts``: ``rel`` in ``root`` with its
    first line (a conda prefix shebang, ``skip`` bytes) replaced by ``#!python``."""

    root: Root
    rel: str
    skip: int


@dataclass
class Layout:
    """The planned content of one wheel.

    ``files`` maps archive names to :class:`StagedFile`; ``commands`` maps a
    command name to the archive name of the executable it runs (and the
    ``argv[0]`` to give it); ``scripts`` holds ``.data/scripts`` payloads;
    ``entry_points`` is ``{group: {name: value}}``; ``notes`` collects what
    the report should tell the user, ``copied_links`` (archive name -> note) the
    symlinks stored as copies (see :meth:`all_notes`); ``build_only`` the
    static archives and linker scripts left out (``"<package>: <path>"``).
    """

    libs_dir: str
    files: dict[str, StagedFile] = field(default_factory=dict)
    commands: dict[str, tuple[str, str]] = field(default_factory=dict)
    scripts: dict[str, Script] = field(default_factory=dict)
    entry_points: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    copied_links: dict[str, str] = field(default_factory=dict)
    extensions: list[str] = field(default_factory=list)
    prefer: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)
    build_only: list[str] = field(default_factory=list)
    include_dev: bool = False

    def all_notes(self) -> list[str]:
        """``notes``, the notes of copied symlinks still in the wheel, and a
        count of the build-only files left out."""
        notes = self.notes + [note for arc, note in sorted(self.copied_links.items()) if arc in self.files]
        if self.build_only:
            notes.append(f"{len(self.build_only)} build-only files (static archives, linker scripts) left out, "
                         f"e.g. {self.build_only[0]}")
        return notes

    def add(self, arcname: str, staged: StagedFile) -> None:
        """Add a file. When a second package ships the same path with other
        bytes, the owner named earliest in ``prefer`` (conda names) keeps it
        and a note says so; with neither owner preferred the clash is recorded
        in ``conflicts`` as ``(path, first owner, second owner)``, for
        :meth:`check_conflicts` to refuse."""
        previous = self.files.get(arcname)
        if previous is not None and previous.owner != staged.owner:
            if previous.digest() == staged.digest():
                return
            rank = {name: index for index, name in enumerate(self.prefer)}
            first, second = (rank.get(_conda_name(o), len(rank)) for o in (previous.owner, staged.owner))
            if first == second:
                self.conflicts.append((arcname, previous.owner, staged.owner))
                return
            kept = previous if first < second else staged
            self.notes.append(f"{arcname}: shipped by {previous.owner} and {staged.owner}; kept {kept.owner}'s (--prefer)")
            self.files[arcname] = kept
            return
        self.files[arcname] = staged

    def check_conflicts(self) -> None:
        """Raise :class:`~press.errors.ConflictError` naming the first clash
        (path and both owners) and how many there are."""
        if self.conflicts:
            path, first, second = self.conflicts[0]
            more = f" (and {len(self.conflicts) - 1} more paths)" if len(self.conflicts) > 1 else ""
            raise ConflictError(
                f"{path} is shipped by {first} and by {second} with different bytes{more}; "
                f"choose whose copy to keep with --prefer {_conda_name(first)} or --prefer {_conda_name(second)}",
                package=first)


def _conda_name(label: str) -> str:
    """``libfoo-1.0-h123_0`` -> ``libfoo``."""
    return label.rsplit("-", 2)[0]


def _python_shebang(data: bytes, placeholder: str | None) -> bool:
    first = data.split(b"\n", 1)[0]
    return first.startswith(b"#!") and b"python" in first and (
        placeholder is None or placeholder.encode() in first or b"/opt/anaconda1anaconda2anaconda3" in first
    )


def _command_dir(path: str) -> bool:
    return path.startswith(("bin/", "Scripts/", "Library/bin/", "python-scripts/"))


def _command_name(layout: Layout, artifact: Artifact, path: str, name: str | None = None) -> str | None:
    """The console-script name of an executable or script (its file name
    unless ``name`` is given), when that is a valid entry point name that no
    virtual environment owns (anything else is left out with a note)."""
    name = name or posixpath.basename(path)
    try:
        grammar.entry_point_name(name)
    except ValueError:
        layout.notes.append(f"{artifact.label}: {path}: not exposed as a command ({name!r} is not a valid "
                            "console-script name)")
        return None
    owned = RESERVED_OWNERS.get(artifact.name)
    if RESERVED_COMMANDS.match(name) and not (owned and owned.match(name)):
        layout.notes.append(f"{artifact.label}: {path}: not exposed as a command ({name!r} belongs to the "
                            "virtual environment it would be installed into)")
        return None
    return name


def _add_entry_point(layout: Layout, artifact: Artifact, point: EntryPoint, origin: str) -> None:
    if point.group in ("console_scripts", "gui_scripts") and _command_name(layout, artifact, origin, point.name) is None:
        return
    layout.entry_points.setdefault(point.group, {})[point.name] = point.value


def _site_packages_rel(artifact: Artifact, path: str, prefix: str) -> str | None:
    """The wheel path of a site-packages file; None for the package's own
    Python metadata (press writes the wheel's). Raises
    :class:`~press.errors.UnsafeArchiveError` for a ``<name>.data``
    directory, which pip would install outside site-packages. Suffixes are
    compared without case, as installers on case-insensitive systems see them."""
    rel = path[len(prefix):]
    top = rel.split("/", 1)[0].lower()
    if top.endswith((".dist-info", ".egg-info")):
        return None
    if top.endswith(".data"):
        raise UnsafeArchiveError(f"a '{rel.split('/', 1)[0]}' directory in site-packages would be installed by pip "
                                 "outside site-packages", package=artifact.label, field=path)
    return rel


def _staged(artifact: Artifact, path: str, entry: PathEntry | None = None) -> StagedFile:
    facts = artifact.files[path]
    return StagedFile(
        artifact.root, path, 0o755 if facts.executable else 0o644, artifact.label,
        placeholder=entry.prefix_placeholder if entry else None,
        placeholder_mode=entry.file_mode if entry else None, sha256=facts.sha256,
    )


def add_artifact(layout: Layout, artifact: Artifact, *, main: bool) -> None:
    """Plan every payload file of ``artifact`` into ``layout``.

    ``main`` is False for a vendored dependency: its development files
    (headers, pkg-config, CMake) are left out and its commands are not
    exposed. Man pages and docs are left out of every wheel (nothing an
    installed wheel can use), and identical executables (one multi-call
    binary under several names) are stored once, with a command per name. Raises
    :class:`~press.errors.UnsafeArchiveError` for a ``<name>.data``
    directory in site-packages, which pip would install outside it.
    """
    entries = {e.path: e for e in artifact.paths} or {
        p: PathEntry(p) for p in sorted(set(artifact.files) | set(artifact.links)) if not p.startswith("info/")
    }
    label = artifact.label
    for point in artifact.entry_points:
        _add_entry_point(layout, artifact, point, "info/link.json")
    if main:
        for dist_info in artifact.dist_infos:
            for point in dist_info.entry_points:
                _add_entry_point(layout, artifact, point, f"{dist_info.path}/entry_points.txt")
    console = layout.entry_points.get("console_scripts", {})
    symlinks: list[str] = []
    programs: dict[str, str] = {}  # sha256 -> archive name of an executable binary already planned
    records: dict[str, dict[str, str | None]] = {}  # site-packages prefix -> what its dist-infos' RECORDs list
    for path in sorted(entries):
        entry = entries[path]
        if entry.path_type == "directory" or _DROP.search(path) or _CONDA_HOOKS.search(path):
            continue
        if path in artifact.links or entry.path_type == "softlink":
            symlinks.append(path)
            continue
        if path not in artifact.files:
            continue
        prefix = site_packages_prefix(path)
        staged = _staged(artifact, path, entry)
        if prefix is not None:
            rel = _site_packages_rel(artifact, path, prefix)
            if rel is None or not _may_ship(layout, artifact, path, prefix, rel, staged, records):
                continue
            staged.binary = _read_binary(artifact, path)
            if staged.binary is not None:
                layout.extensions.append(rel)
            layout.add(rel, staged)
            continue
        if (not main and not layout.include_dev and _DEV_FILES.search(path)) or DOCUMENTATION.search(path):
            continue
        if is_build_only(artifact, path):
            layout.build_only.append(f"{label}: {path}")
            continue
        if _command_dir(path):
            name = posixpath.basename(path)
            head = artifact.root.read_bytes(path, 4096)
            if head and _python_shebang(head, entry.prefix_placeholder):
                if main and name not in console and not name.endswith(("-script.py", ".exe")):
                    command = _command_name(layout, artifact, path)
                    if command is not None:
                        skip = head.index(b"\n") + 1 if b"\n" in head else _first_line_length(artifact.root, path)
                        layout.scripts[command] = Script(artifact.root, path, skip)
                continue
        if _command_dir(path) and path.lower().endswith(".exe") and posixpath.basename(path)[:-4] in console:
            continue  # conda's copy of the .exe launcher of a console_scripts entry point
        arcname = f"{layout.libs_dir}/{path}"
        staged.binary = _read_binary(artifact, path)
        if staged.binary is not None:
            lib_name = staged.binary.name
            if lib_name and _SHARED_LIB.search(path) and posixpath.basename(path) != lib_name and _library_dir(path):
                # Store the library once, under the name the dynamic linker looks for (plugins in
                # subdirectories are opened by their file name, so they keep it).
                arcname = f"{layout.libs_dir}/{posixpath.dirname(path)}/{lib_name}".replace("//", "/")
        is_dll = path.lower().endswith((".dll", ".pyd"))
        runs = _command_dir(path) and (staged.mode & 0o100 or path.lower().endswith(".exe")) and not is_dll
        if main and runs and staged.binary is not None and staged.sha256 in programs:
            # A multi-call program stored once (bzip2, bunzip2, bzcat are one
            # binary): the other names become commands that run that copy.
            command = _command_name(layout, artifact, path)
            if command is not None:
                layout.commands.setdefault(command, (programs[staged.sha256], posixpath.basename(path)))
            continue
        layout.add(arcname, staged)
        if main and runs:
            if staged.binary is not None and staged.sha256:
                programs.setdefault(staged.sha256, arcname)
            command = _command_name(layout, artifact, path)
            if command is not None:
                layout.commands.setdefault(command, (arcname, posixpath.basename(path)))
    for path in symlinks:
        _add_symlink(layout, artifact, path, main, records)


def _read_binary(artifact: Artifact, path: str, named: str | None = None) -> BinaryInfo | None:
    """:func:`~press.relocate.read_binary` for a file of ``artifact`` (reached
    as ``named``, a symlink's name, when given), skipped (None) when the first
    bytes recorded while unpacking rule it out."""
    if not may_be_binary(artifact.files[path].magic):
        return None
    return read_binary(artifact.root, path, artifact.label, named=named)


def _may_ship(layout: Layout, artifact: Artifact, path: str, prefix: str, rel: str, staged: StagedFile,
              records: dict[str, dict[str, str | None]]) -> bool:
    """Whether the site-packages file ``path`` (wheel path ``rel``) goes into
    the wheel (:mod:`press.owners`): a top-level name the environment's
    installer owns is refused (:func:`~press.owners.check_reserved`); a
    startup hook (``*.pth``, ``sitecustomize``, ``usercustomize``) ships only
    when the package's own dist-info RECORD lists it with its sha256 (a row
    without a valid ``sha256=`` hash, which the wheel specification requires
    of every file but RECORD itself, declares nothing) or the policy data
    declares it for this package, else it is left out with a note.
    ``records`` caches the RECORDs per site-packages prefix. Raises
    :class:`~press.errors.ConflictError`."""
    check_reserved(artifact.name, rel, artifact.label, path)
    kind = startup_hook(rel)
    if kind is None or declared_hook(artifact.name, rel):
        return True
    if prefix not in records:
        records[prefix] = _record_entries(artifact, prefix)
    listed = records[prefix]
    if rel in listed and listed[rel] == staged.digest():
        return True
    why = "it is not listed in"
    if rel in listed:
        why = "it has no valid sha256 in" if listed[rel] is None else "its sha256 is not the one in"
    layout.notes.append(f"{artifact.label}: {path}: left out: {kind} runs at every interpreter start, and {why} "
                        "the package's own dist-info RECORD (upstream's wheel does not ship it so)")
    return False


def _record_entries(artifact: Artifact, prefix: str) -> dict[str, str | None]:
    """What the RECORDs of the package's dist-infos in site-packages
    ``prefix`` list (:func:`~press.owners.record_entries`), read up to the
    ``metadata_size`` limit. Raises :class:`~press.errors.LimitError`."""
    entries: dict[str, str | None] = {}
    for dist_info in artifact.dist_infos:
        record = f"{dist_info.path}/RECORD"
        if not dist_info.path.startswith(prefix) or record not in artifact.files:
            continue
        data = artifact.root.read_bytes(record, limit("metadata_size") + 1)
        if len(data) > limit("metadata_size"):
            raise exceeded("metadata_size", package=artifact.label, field=record)
        entries.update(record_entries(data))
    return entries


def _library_dir(path: str) -> bool:
    """A top-level library directory of a prefix, where the dynamic linker
    looks libraries up by name (not a plugin directory below it)."""
    return posixpath.dirname(path) in ("lib", "lib64", "lib32", "Library/lib", "Library/bin", "")


def _first_line_length(root: Root, rel: str) -> int:
    """Bytes up to and including the first newline (the whole file when it has none)."""
    with root.open(rel) as handle:
        count = 0
        while True:
            block = handle.read(1 << 16)
            if not block:
                return count
            found = block.find(b"\n")
            if found >= 0:
                return count + found + 1
            count += len(block)


def _add_symlink(layout: Layout, artifact: Artifact, path: str, main: bool,
                 records: dict[str, dict[str, str | None]]) -> None:
    target = artifact.links.get(path)
    if target is None:
        return
    kind, resolved = artifact.resolve(path)
    label = artifact.label
    prefix = site_packages_prefix(path)
    if prefix is not None:
        rel = _site_packages_rel(artifact, path, prefix)
        if kind == "file" and rel is not None:
            staged = _staged(artifact, resolved)
            if _may_ship(layout, artifact, path, prefix, rel, staged, records):
                layout.add(rel, staged)
        return
    if (not main and not layout.include_dev and _DEV_FILES.search(path)) or DOCUMENTATION.search(path):
        return
    if kind == "dir":
        layout.notes.append(f"{label}: directory symlink {path} -> {target} left out")
        return
    if kind != "file":
        if not (_SHARED_LIB.search(path) or path.endswith(".so")):
            layout.notes.append(f"{label}: dangling symlink {path} -> {target} left out")
        return
    if is_build_only(artifact, resolved, named=path) or is_build_only(artifact, resolved):
        layout.build_only.append(f"{label}: {path}")
        return
    info = _read_binary(artifact, resolved, named=path)
    if info is not None:
        if info.name:
            # Folded into the library stored under its SONAME / install name.
            if posixpath.basename(path) == info.name:
                arcname = f"{layout.libs_dir}/{posixpath.dirname(path)}/{info.name}".replace("//", "/")
                if arcname not in layout.files:
                    staged = _staged(artifact, resolved)
                    staged.mode, staged.binary = 0o755, info
                    layout.add(arcname, staged)
            return
        if _command_dir(path) and main:
            command = _command_name(layout, artifact, path)
            if command is not None:
                layout.commands.setdefault(command, (f"{layout.libs_dir}/{resolved}", posixpath.basename(path)))
            return
    if _command_dir(path) and main and artifact.files[resolved].executable:
        command = _command_name(layout, artifact, path)
        if command is not None:
            layout.commands.setdefault(command, (f"{layout.libs_dir}/{resolved}", posixpath.basename(path)))
        return
    arcname = f"{layout.libs_dir}/{path}"
    staged = _staged(artifact, resolved)
    staged.binary = info
    layout.add(arcname, staged)
    layout.copied_links[arcname] = f"{label}: symlink {path} -> {target} stored as a copy"


def prune_vendored(layout: Layout, main_owners: set[str]) -> list[str]:
    """Drop what a fat wheel's vendored packages carry but the main package cannot use.

    Vendored packages' executables (``bin/``, ``sbin/``, ``Scripts/``, and
    ``.exe``/``.bat`` files in ``Library/bin/``) are never exposed, so they
    go; so do their shared libraries in the top library directories
    (``lib/``, ``Library/bin/``, the prefix root on Windows) that no binary
    of the main package needs, directly or through other libraries
    (auditwheel's rule: vendor what the extensions load). A Windows DLL at
    the prefix root that ``Library/bin/`` also holds is dropped as a
    duplicate. Libraries in subdirectories of ``lib/`` (plugins loaded with
    dlopen), what they need, and data files stay, except the data of a
    package none of whose libraries or programs is left. Returns the archive
    names dropped.
    """
    prefix = layout.libs_dir + "/"
    dropped = []

    def drop(arc: str) -> None:
        dropped.append(arc)
        del layout.files[arc]

    for arc, staged in list(layout.files.items()):
        if staged.owner in main_owners:
            continue
        if arc.startswith(tuple(prefix + d for d in ("bin/", "sbin/", "Scripts/"))) or (
            arc.startswith(prefix + "Library/bin/") and arc.lower().endswith((".exe", ".bat", ".cmd", ".pdb"))
        ):
            drop(arc)
    by_name: dict[str, list[str]] = {}
    for arc, staged in layout.files.items():
        if staged.binary is not None:
            by_name.setdefault(file_key(arc, staged.binary), []).append(arc)

    def top_lib(arc: str) -> bool:
        rest = arc[len(prefix):] if arc.startswith(prefix) else ""
        return (rest.startswith("lib/") and rest.count("/") == 1) or (
            rest.startswith("Library/bin/") and rest.count("/") == 2) or (rest.lower().endswith(".dll") and "/" not in rest)

    for arc, staged in list(layout.files.items()):
        rest = arc[len(prefix):]
        if staged.owner not in main_owners and "/" not in rest and rest.lower().endswith(".dll"):
            if any(other != arc and other.startswith(prefix + "Library/bin/") for other in by_name.get(rest.lower(), [])):
                drop(arc)
                by_name[rest.lower()].remove(arc)
    reachable = {arc for arc, f in layout.files.items() if f.binary is not None and (f.owner in main_owners or not top_lib(arc))}
    stack = list(reachable)
    while stack:
        info = layout.files[stack.pop()].binary
        for needed in info.needed if info else []:
            for arc in by_name.get(lookup_name(needed, info), []):  # type: ignore[arg-type]
                if arc not in reachable:
                    reachable.add(arc)
                    stack.append(arc)
    had_binaries = {f.owner for f in layout.files.values() if f.binary is not None}
    for arc, staged in list(layout.files.items()):
        if staged.binary is not None and staged.owner not in main_owners and top_lib(arc) and arc not in reachable:
            drop(arc)
    # A package whose every library and program went serves nothing: its
    # data (ncurses' terminfo database, say) goes too.
    unused = had_binaries - {f.owner for f in layout.files.values() if f.binary is not None} - main_owners
    for arc, staged in list(layout.files.items()):
        if staged.owner in unused:
            drop(arc)
    if unused:
        layout.notes.append(f"vendored packages none of whose libraries the wheel needs, left out with their data: "
                            f"{', '.join(sorted(unused))}")
    return dropped


def exclude_vendored(layout: Layout, main_owners: set[str], globs: list[str]) -> list[str]:
    """Drop vendored files that match one of ``globs`` (fnmatch, against the
    path inside the package prefix, ``share/terminfo/*``, or the file name,
    ``libcurl.so.*``; auditwheel's ``--exclude``). Returns the archive names
    dropped."""
    import fnmatch

    prefix = layout.libs_dir + "/"
    dropped = []
    for arc, staged in sorted(layout.files.items()):
        if staged.owner in main_owners or not arc.startswith(prefix):
            continue
        rel = arc[len(prefix):]
        if any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(posixpath.basename(rel), g) for g in globs):
            del layout.files[arc]
            dropped.append(arc)
    return dropped


def reserve_module(layout: Layout, module: str) -> None:
    """Refuse a package that ships anything Python would import as
    ``module`` (a module press writes into the wheel: ``_press_commands_*``,
    ``_press_env_*``, ``_press_dlls_*``): ``module.py``, a ``module/``
    package, or a compiled or extension module ``module.*``. Raises
    :class:`~press.errors.ConflictError` naming the package and file."""
    for arc, staged in layout.files.items():
        top = arc.split("/", 1)[0]
        if top == module or top.startswith(module + ".") or arc.startswith(f"__pycache__/{module}."):
            raise ConflictError(f"would stand in for the module {module} that press writes", package=staged.owner,
                                field=arc)


def launcher_module(commands: dict[str, tuple[str, str]], dll_loader: str | None = None,
                    environment: str | None = None) -> str:
    """Source of the module that runs vendored executables as console scripts.

    Each command is a function ``cmd_<n>`` that replaces the process with the
    executable (``os.execv`` on posix; a child process on Windows), passing
    the command's own name as ``argv[0]`` (multi-call programs such as
    ``bzcat`` rely on it). On Windows, ``dll_loader`` (a loader module
    written by the Windows relocation) supplies the DLL directories the
    child needs on its ``PATH``. ``environment`` names the module
    (:mod:`press.environment`) that sets the variables the vendored
    libraries need; it is imported first, so the executable inherits them.
    """
    lines = [
        '"""Console-script launchers for executables vendored by press."""',
        "import os",
        "import sys",
        "",
    ]
    if environment:
        lines += [f"import {environment}  # noqa: F401  (sets the vendored libraries' variables)", ""]
    lines += [
        "_HERE = os.path.dirname(os.path.abspath(__file__))",
        f"_DLL_LOADER = {dll_loader!r}",
        "",
        "",
        "def _run(relpath, argv0):",
        "    exe = os.path.join(_HERE, *relpath.split('/'))",
        "    if os.name == 'nt':",
        "        import subprocess",
        "        env = dict(os.environ)",
        "        if _DLL_LOADER:",
        "            import importlib",
        "            dirs = importlib.import_module(_DLL_LOADER).all_directories()",
        "            env['PATH'] = os.pathsep.join(dirs + [env.get('PATH', '')])",
        "        sys.exit(subprocess.call([exe] + sys.argv[1:], env=env))",
        "    os.execv(exe, [argv0] + sys.argv[1:])",
        "",
    ]
    for index, (name, (arcname, argv0)) in enumerate(sorted(commands.items())):
        lines += ["", f"def cmd_{index}():", f"    _run({arcname!r}, {argv0!r})", ""]
    return "\n".join(lines)
