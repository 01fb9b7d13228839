"""What a batch remembers of its finished jobs, and the check that a job is up to date.

A job of ``press channel`` is redone only when something that decides its
wheels changed. Its **key** (:func:`job_key`) is the sha256 of what the
parent process knows before dispatching anything: :data:`OUTPUT_FORMAT`, the
artifact's sha256 and repodata ``depends``, the target Python, the options
that change output. A finished job leaves ``.press-state/<key>.json``
(:class:`JobState`): its wheels with their sha256 and file identity, the
names of the packages its solve used (its closure) and the **closure
digest**, a digest of every repodata record the channel held under those
names (:func:`name_digest`). The solver's input for the job is those
records: while none of them changed (no new build, no repodata patch), the
solve would pick the same closure, so the job is up to date without solving
it again.

The check runs in the parent before any dispatch (:func:`read_states`, one
listing of the state directory, then only the files of the planned keys),
so a re-run costs what changed, not what the channel holds. A wheel counts
as intact when its ``lstat`` identity (size, inode, device, mtime and ctime
in nanoseconds, as ``git``'s index records them) is the one recorded;
otherwise it is hashed again and must have the recorded sha256 (a copied or
restored wheelhouse is hashed once, then its identities are recorded). ctime
cannot be set by an unprivileged writer, so a rewritten wheel is noticed.

State files are read back as hostile input: bounded in size, checked in
shape (:func:`parse_state`), read without following links
(:class:`press.files.Directory`); a bad one is ignored and its job redone.

:data:`OUTPUT_FORMAT` stands for press's output, not its version: a release
that leaves every wheel's bytes unchanged keeps every wheel of a mirror
(the ``Generator`` line of ``WHEEL`` and the SBOM's tool version still name
the press that made a wheel). It is bumped whenever a change makes
different bytes from the same input; ``tests/test_output_format.py`` fails
when the bytes of its reference conversions change while it is not.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .errors import PressError
from .files import Directory, open_regular
from .grammar import conda_name
from .wheelhouse import STATE_DIR, read_json

if TYPE_CHECKING:
    from rattler import RepoDataRecord

#: The version of press's output bytes: bump it when a change makes different wheel bytes from the
#: same input (tests/test_output_format.py checks reference conversions against it).
OUTPUT_FORMAT = 1
#: Wheels and closure names a state file may list (its bytes are bounded by read_json).
_MAX_CLOSURE = 20_000
_MAX_WHEELS = 1_000


@dataclass(frozen=True)
class WheelStamp:
    """A wheel as a finished job left it: ``name`` (a file name in the
    wheel directory), hex ``sha256``, and its ``lstat`` identity ``size``
    (bytes), ``inode``, ``device``, ``mtime_ns``/``ctime_ns`` (nanoseconds)."""

    name: str
    sha256: str
    size: int
    inode: int
    device: int
    mtime_ns: int
    ctime_ns: int

    def identity(self) -> tuple[int, int, int, int, int]:
        """The ``lstat`` fields compared before hashing again."""
        return (self.size, self.inode, self.device, self.mtime_ns, self.ctime_ns)


@dataclass(frozen=True)
class JobState:
    """A finished job (``.press-state/<key>.json``): ``artifact`` (its file
    name), ``wheels`` (:class:`WheelStamp`, sorted by name; empty when the
    artifact makes none), ``closure`` (sorted conda names the job's solve
    used) and ``closure_digest`` (:func:`closure_digest` of them then)."""

    artifact: str
    wheels: tuple[WheelStamp, ...]
    closure: tuple[str, ...]
    closure_digest: str
    #: its wheels passed ``--validate`` (a batch that validates redoes a job whose wheels did not)
    validated: bool = False

    def to_json(self) -> str:
        """The state file's text (sorted keys: same state, same bytes)."""
        return json.dumps({"format": OUTPUT_FORMAT, "artifact": self.artifact,
                           "wheels": [vars(w) for w in self.wheels], "closure": list(self.closure),
                           "closure_digest": self.closure_digest, "validated": self.validated},
                          indent=1, sort_keys=True)


def job_key(parts: Sequence[Any]) -> str:
    """A job's key: 32 hex characters of the sha256 of ``parts`` (JSON
    values: what decides the job's wheels, see :func:`press.batch.job_inputs`)
    together with :data:`OUTPUT_FORMAT`."""
    return hashlib.sha256(json.dumps([OUTPUT_FORMAT, *parts], sort_keys=True).encode()).hexdigest()[:32]


def name_digest(records: Iterable[RepoDataRecord]) -> str:
    """A digest of every repodata record of one package name (from both
    subdirs): file name, sha256 (md5 when absent), ``depends``,
    ``constrains`` and ``track_features``, what a solve reads of them.
    Order-independent."""
    from .fetch import hex_digest

    rows = sorted("\x1f".join((str(r.file_name), hex_digest(r.sha256) or hex_digest(r.md5) or "",
                               "\x1e".join(sorted(r.depends)), "\x1e".join(sorted(r.constrains)),
                               "\x1e".join(sorted(r.track_features or ())))) for r in records)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def closure_digest(names: Iterable[str], digests: Mapping[str, str]) -> str | None:
    """One digest of the :func:`name_digest` of each of ``names`` (a name
    the channel lacks counts as absent); None when a name's digest is not in
    ``digests`` (the caller did not read it)."""
    rows = []
    for name in sorted(set(names)):
        if name not in digests:
            return None
        rows.append(f"{name} {digests[name]}")
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def stamp(wheel_dir: Path, name: str) -> WheelStamp:
    """The :class:`WheelStamp` of the regular file ``name`` of ``wheel_dir``
    (hashed; a link is not followed). Raises OSError."""
    path = Path(wheel_dir) / name
    digest = hashlib.sha256()
    with open_regular(path) as handle:
        found = os.fstat(handle.fileno())
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return WheelStamp(name, digest.hexdigest(), found.st_size, found.st_ino, found.st_dev, found.st_mtime_ns,
                      found.st_ctime_ns)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
        raise ValueError("not a non-negative integer")
    return value


def _hex(value: object, length: int) -> str:
    if not isinstance(value, str) or len(value) != length or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"not {length} hex digits")
    return value


def parse_state(doc: object) -> JobState:
    """A :class:`JobState` from a state file's JSON, checked: the format
    this press writes, wheel file names as the wheel spec writes them
    (printable ASCII, no ``/``, ``packaging.utils.parse_wheel_filename``
    accepts them), hex digests, integer identities, conda names in the
    closure, bounded counts. Raises ValueError."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    if not isinstance(doc, dict) or type(doc.get("format")) is not int or doc.get("format") != OUTPUT_FORMAT:
        raise ValueError("not a state file of this output format")
    artifact, wheels, closure = doc.get("artifact"), doc.get("wheels"), doc.get("closure")
    if not isinstance(artifact, str) or not isinstance(wheels, list) or not isinstance(closure, list):
        raise ValueError("malformed")
    if len(wheels) > _MAX_WHEELS or len(closure) > _MAX_CLOSURE:
        raise ValueError("too many entries")
    stamps = []
    for wheel in wheels:
        if not isinstance(wheel, dict):
            raise ValueError("malformed wheel")
        name = wheel.get("name")
        if not isinstance(name, str) or len(name) > 255 or not name.isascii() or not name.isprintable() or \
                "/" in name or name.startswith("."):
            raise ValueError("bad wheel name")
        try:
            parse_wheel_filename(name)
        except InvalidWheelFilename:
            raise ValueError("bad wheel name") from None
        stamps.append(WheelStamp(name, _hex(wheel.get("sha256"), 64), _int(wheel.get("size")),
                                 _int(wheel.get("inode")), _int(wheel.get("device")), _int(wheel.get("mtime_ns")),
                                 _int(wheel.get("ctime_ns"))))
    names = []
    for name in closure:
        if not isinstance(name, str):
            raise ValueError("bad closure name")
        names.append(conda_name(name))
    return JobState(artifact, tuple(sorted(stamps, key=lambda s: s.name)), tuple(sorted(set(names))),
                    _hex(doc.get("closure_digest"), 64), doc.get("validated") is True)


def read_states(wheel_dir: Path, keys: Iterable[str]) -> dict[str, JobState]:
    """The states of those of ``keys`` that finished before: one listing of
    ``.press-state``, then each present ``<key>.json`` read (bounded, no
    link followed) and parsed; unreadable or malformed ones are left out
    (their jobs are redone). Empty when the directory has no state."""
    found: dict[str, JobState] = {}
    try:
        with Directory.open(Path(wheel_dir)) as directory:
            if directory.lstat(STATE_DIR) is None:
                return found
            with directory.sub(STATE_DIR) as state:
                present = set(state.names())
                for key in keys:
                    if f"{key}.json" not in present:
                        continue
                    try:
                        found[key] = parse_state(read_json(state, f"{key}.json"))
                    except (OSError, ValueError, PressError):
                        continue
    except (OSError, PressError):
        return {}
    return found


def intact(wheel_dir: Path, state: JobState) -> tuple[bool, list[WheelStamp]]:
    """Whether every wheel of ``state`` is in ``wheel_dir`` as it was left:
    the same ``lstat`` identity, or else (a copied wheelhouse) the same
    sha256. Returns (intact, the stamps to record: re-stamped ones where
    only the identity changed)."""
    current: list[WheelStamp] = []
    for wheel in state.wheels:
        try:
            found = os.lstat(Path(wheel_dir) / wheel.name)
        except (OSError, ValueError):
            return False, []
        if not stat.S_ISREG(found.st_mode):
            return False, []
        if (found.st_size, found.st_ino, found.st_dev, found.st_mtime_ns, found.st_ctime_ns) == wheel.identity():
            current.append(wheel)
            continue
        try:
            again = stamp(wheel_dir, wheel.name)
        except (OSError, ValueError, PressError):
            return False, []
        if again.sha256 != wheel.sha256:
            return False, []
        current.append(again)
    return True, current


def write_state(wheel_dir: Path, key: str, state: JobState) -> None:
    """Write ``.press-state/<key>.json`` (a temporary renamed into place).
    Raises OSError or :class:`~press.errors.PressError`."""
    with Directory.open(Path(wheel_dir)) as directory, directory.sub(STATE_DIR, create=True) as states:
        states.write(f"{key}.json", state.to_json())


def forget_state(wheel_dir: Path, key: str) -> None:
    """Remove ``.press-state/<key>.json`` if present (a link is removed, not
    followed): its job runs again next time. Errors are ignored (the state
    is then still there; a forged one could be anyway)."""
    try:
        with Directory.open(Path(wheel_dir)) as directory, directory.sub(STATE_DIR) as states:
            if states.lstat(f"{key}.json") is not None:
                states.unlink(f"{key}.json")
    except (OSError, PressError):
        pass
