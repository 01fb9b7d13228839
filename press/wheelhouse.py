"""Who made each wheel of a wheel directory: press never overwrites another package's wheel.

Before a wheel is renamed into a wheel directory, :func:`claim` records three
facts under ``<wheel dir>/.press-state/owners/`` (file names bounded: a head
of the key and its hash):

- ``conda-<name>@<channel>@<version>``: the distribution name a conda
  package version of a channel was made under. Making it again under
  another (a changed ``--native-prefix`` or ``--name-mapping``) is refused:
  one package would be installable twice, under two names.
- ``dist-<normalised name>.json``: the conda package (name) that owns the
  distribution name. Another conda package that maps to the same
  distribution (two packages with one dist-info Name, a metapackage named
  like its target) is refused: pip would treat their wheels as versions of
  one project.
- ``wheel-<file name>.json``: the conda artifact (file name and sha256) the
  wheel file is made from. Another artifact that would produce the same file
  name is refused; the same artifact may write it again (a re-run, new
  options).

Claims are created with ``link(2)`` of a complete temporary file, so the
first of two concurrent jobs (batch workers, two ``press`` runs) wins and
the other sees its whole record. A wheel file already present without a
claim (put there by something else) is never replaced.

The wheel directory is not press's alone (the user, other tools and other
press runs write there), so nothing inside it is trusted: the directory is
opened once and every name in ``.press-state`` and ``owners/`` is used
relative to its descriptor (:class:`press.files.Directory`), a symbolic link
is never followed (a link at ``.press-state``, ``owners`` or a lock file is
an error naming it; one at a claim makes that claim unreadable, an error
too), and temporaries have random names.

:class:`WriteLock` is held by every run that writes into a wheel directory:
``flock(2)`` on ``.press-state/writers.lock``, shared while it runs. A run
removes the temporaries killed runs left (:func:`clean_leftovers`) only when
it can take that lock exclusively, that is when no other press is writing
there: the kernel drops a lock with its holder, even one killed by SIGKILL,
so the lock says exactly whether an owner of a temporary still runs (a
registry of process ids would not: ids are reused, and a Dask worker's id
means nothing on this machine). A batch also holds ``.press-state/lock``
exclusively: one batch per wheel directory at a time.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import stat
from pathlib import Path

from packaging.utils import canonicalize_name

from .errors import PressError
from .files import Directory
from .limits import limit

#: The state directory inside a wheel directory (ignored by the index).
STATE_DIR = ".press-state"
#: Claims directory, inside the state directory.
OWNERS = Path(STATE_DIR) / "owners"
#: Held exclusively by a batch (``press channel``) for its whole run.
BATCH_LOCK = "lock"
#: Held shared by every run writing into the wheel directory, exclusively while removing leftovers.
WRITERS_LOCK = "writers.lock"
#: Wheels written by a run that has steps still to do (validation, the wheelhouse check), inside the
#: state directory: a run that is killed before it finishes leaves them, and the next run removes them.
PENDING = "pending"


class ClashError(PressError):
    """Two conda artifacts would make the same wheel file or distribution."""


def _claim_name(kind: str, key: str) -> str:
    """A claim file name of bounded length: a readable head and a hash of the key."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    head = re.sub(r"[^A-Za-z0-9._+@-]", "_", key[:80])  # one file name, whatever the key holds
    return f"{kind}-{head}-{digest}.json"


def read_json(directory: Directory, name: str) -> object:
    """The JSON document of press's own state file ``name`` in
    ``directory``: a link is not followed, a FIFO not waited on, at most
    the ``metadata_size`` limit read, at most the ``json_containers`` limit
    of objects and arrays (counted by their opening brackets before parsing:
    32 MiB of ``{},`` would be 11 million dicts, about 1 GB). Raises
    ``OSError``, ``ValueError`` (not JSON, too many containers, or nested
    too deep) or :class:`~press.files.NotOwnedError`."""
    return parse_json(directory.read(name, limit("metadata_size")))


def parse_json(data: bytes) -> object:
    """``data`` parsed as JSON within the ``json_containers`` limit (objects
    and arrays counted by their opening brackets before parsing). Raises
    ``ValueError`` (not JSON, too many containers, or nested too deep)."""
    if data.count(b"{") + data.count(b"[") > limit("json_containers"):
        raise ValueError(f"more than {limit('json_containers')} JSON objects and arrays")
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deep") from None


def _create(owners: Directory, name: str, record: dict[str, str]) -> dict[str, str] | None:
    """Create ``name`` in ``owners`` holding ``record`` unless it exists;
    returns the existing record (None when this call created it; ``{}``
    when it cannot be read, a link or anything but a JSON object)."""
    temporary, fd = owners.temporary(name)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(record, sort_keys=True))
        try:
            owners.link(temporary, name)
            return None
        except FileExistsError:
            try:
                existing = read_json(owners, name)
            except (OSError, ValueError, PressError):
                existing = {}
            return existing if isinstance(existing, dict) else {}
    finally:
        owners.unlink(temporary)


def claim(wheel_dir: Path, file_name: str, dist: str, conda_name: str, artifact: str, sha256: str,
          scope: str = "") -> list[Path]:
    """Record that conda package ``conda_name`` (artifact file ``artifact``,
    hex ``sha256``) writes wheel ``file_name`` of distribution ``dist`` into
    ``wheel_dir``; ``scope`` names its channel and version. Raises
    :class:`ClashError` naming both artifacts when the distribution belongs
    to another conda package, the conda package (that channel's, that
    version) was made under another distribution name (``--native-prefix``/``--name-mapping``
    changed), the file name belongs to another artifact, or a wheel of that
    name that press did not record (or a link) is already there;
    :class:`~press.files.NotOwnedError` when ``.press-state`` or ``owners``
    is a symbolic link; :class:`~press.errors.PressError` when the claims
    cannot be written. Returns the claim files this call created, for
    :func:`release` when the wheel is not written after all."""
    created: list[Path] = []
    try:
        with Directory.open(Path(wheel_dir), create=True) as directory, \
                directory.sub(STATE_DIR, create=True) as state, state.sub(OWNERS.name, create=True) as owners:
            _claim(directory, owners, file_name, dist, conda_name, artifact, sha256, scope, created)
    except ClashError:
        release(wheel_dir, created)
        raise
    except OSError as exc:
        release(wheel_dir, created)
        raise PressError(f"cannot record the wheel's owner in {Path(wheel_dir) / OWNERS}: {exc.strerror or exc}",
                         package=artifact) from None
    except BaseException:
        release(wheel_dir, created)
        raise
    return created


def _unreadable(existing: dict[str, str], path: Path) -> str:
    return existing.get("artifact") or f"an unreadable claim ({path}; remove it if no wheel needs it)"


def _readable(existing: dict[str, str] | None, path: Path, artifact: str) -> dict[str, str] | None:
    """``existing``, unless it is a claim that cannot be read (a link, a FIFO, not a JSON object):
    then :class:`ClashError` naming it."""
    if existing is not None and not existing:
        raise ClashError(f"{path} is not a claim press can read (a symbolic link, a special or damaged file); "
                         "press does not write through it: remove it if no wheel needs it", package=artifact)
    return existing


def _claim(directory: Directory, owners: Directory, file_name: str, dist: str, conda_name: str, artifact: str,
           sha256: str, scope: str, created: list[Path]) -> None:
    wheel_dir = directory.path
    mine = {"conda": conda_name, "artifact": artifact, "sha256": sha256, "dist": canonicalize_name(dist)}
    package_claim = _claim_name("conda", f"{conda_name}@{scope}")
    existing = _readable(_create(owners, package_claim, mine), owners.path / package_claim, artifact)
    if existing is None:
        created.append(owners.path / package_claim)
    elif existing.get("dist") != canonicalize_name(dist):
        raise ClashError(
            f"conda package {conda_name} is already made as distribution {existing.get('dist', '?')!r} in "
            f"{wheel_dir} (from {_unreadable(existing, owners.path / package_claim)}); {artifact} would add it "
            f"again as {dist!r} (a changed --native-prefix or --name-mapping?). Use another wheel directory",
            package=artifact)
    dist_claim = _claim_name("dist", canonicalize_name(dist))
    existing = _readable(_create(owners, dist_claim, mine), owners.path / dist_claim, artifact)
    if existing is None:
        created.append(owners.path / dist_claim)
    elif existing.get("conda") != conda_name:
        raise ClashError(
            f"distribution {dist!r} is already made from {_unreadable(existing, owners.path / dist_claim)} in "
            f"{wheel_dir}; {artifact} is another conda package ({conda_name}) of the same distribution name, and "
            "pip would mix their wheels up. Convert them into separate wheel directories, or map one of them to "
            "another name with --name-mapping", package=artifact)
    wheel_claim = _claim_name("wheel", file_name)
    unrecorded = directory.lstat(file_name) is not None and owners.lstat(wheel_claim) is None
    existing = _readable(_create(owners, wheel_claim, mine), owners.path / wheel_claim, artifact)
    if existing is None:
        created.append(owners.path / wheel_claim)
    elif existing.get("sha256") != sha256:
        raise ClashError(f"{file_name} in {wheel_dir} is made from "
                         f"{_unreadable(existing, owners.path / wheel_claim)}; {artifact} would overwrite it with "
                         "other content", package=artifact)
    if unrecorded:
        raise ClashError(f"{file_name} already exists in {wheel_dir} and press has no record of making it from "
                         f"{artifact}; remove it or choose another wheel directory", package=artifact)


def release(wheel_dir: Path, created: list[Path]) -> None:
    """Undo the claims of one :func:`claim` call (the wheel was not
    written), and remove the claims directory when that leaves it empty.
    Never raises: what cannot be removed stays."""
    try:
        with Directory.open(Path(wheel_dir)) as directory, directory.sub(STATE_DIR) as state:
            with state.sub(OWNERS.name) as owners:
                for path in created:
                    owners.unlink(Path(path).name)
            if state.rmdir(OWNERS.name):
                directory.rmdir(STATE_DIR)
    except (OSError, PressError):
        pass


def mark_pending(wheel_dir: Path, file_name: str) -> None:
    """Record that ``file_name`` (a wheel press is writing into
    ``wheel_dir``) has requested steps still to do, before it is published:
    until :func:`unmark_pending`, a run that cleans leftovers removes it
    (:func:`clean_leftovers`). Raises ``OSError`` or
    :class:`~press.files.NotOwnedError` (a link planted in the state directory)."""
    with Directory.open(Path(wheel_dir)) as directory, directory.sub(STATE_DIR, create=True) as state:
        with state.sub(PENDING, create=True) as pending:
            pending.write(_claim_name("wheel", file_name), json.dumps({"wheel": file_name}))


def unmark_pending(wheel_dir: Path, file_names: list[str], remove: bool = False) -> None:
    """The wheels ``file_names`` finished every step (or, with ``remove``,
    never will: they are removed from ``wheel_dir`` too, as an interrupted
    run must leave no wheel it did not finish). Never raises: what cannot be
    removed stays for the next run's :func:`clean_leftovers`."""
    try:
        with Directory.open(Path(wheel_dir)) as directory, directory.sub(STATE_DIR) as state:
            with state.sub(PENDING) as pending:
                for file_name in file_names:
                    if remove:
                        _remove_wheel(directory, file_name)
                    pending.unlink(_claim_name("wheel", file_name))
            state.rmdir(PENDING)
    except (OSError, PressError):
        pass


def _remove_wheel(directory: Directory, file_name: str) -> None:
    """Remove the wheel ``file_name`` (one ``*.whl`` path component) from
    ``directory``: the entry itself, a link not followed."""
    if file_name.endswith(".whl") and "/" not in file_name and file_name not in (".", "..") and file_name.isprintable():
        found = directory.lstat(file_name)
        if found is not None and not stat.S_ISDIR(found.st_mode):
            directory.unlink(file_name)


def _clean_pending(wheel_dir: Directory) -> None:
    """Remove the wheels a killed run left with steps undone, and their marks."""
    found = wheel_dir.lstat(STATE_DIR)
    if found is None or not stat.S_ISDIR(found.st_mode):
        return
    with wheel_dir.sub(STATE_DIR) as state:
        entry = state.lstat(PENDING)
        if entry is None or not stat.S_ISDIR(entry.st_mode):
            return
        with state.sub(PENDING) as pending:
            for name in pending.names():
                try:
                    record = read_json(pending, name)
                    wheel = record.get("wheel") if isinstance(record, dict) else None
                    if isinstance(wheel, str) and _claim_name("wheel", wheel) == name:
                        _remove_wheel(wheel_dir, wheel)
                except (OSError, ValueError, PressError):
                    pass
                pending.unlink(name)
        state.rmdir(PENDING)


def _is_temporary(name: str) -> bool:
    """A name press gives its temporaries (:meth:`press.files.Directory.temporary`,
    ``write_wheel``'s ``.press-*`` directories; ``.<name>.<pid>.tmp`` of earlier versions)."""
    return name.startswith(".") and name.endswith(".tmp")


def _sweep(directory: Directory, top: bool = False) -> None:
    """Remove the temporaries in ``directory`` (never following a link)."""
    for name in directory.names():
        if _is_temporary(name) or (top and name.startswith(".press-") and name != STATE_DIR):
            directory.remove(name)


def clean_leftovers(wheel_dir: Directory) -> None:
    """Remove what killed runs left in a wheel directory: ``.press-*``
    (temporary wheel directories) and ``.*.tmp`` files at the top, the
    wheels marked pending (:func:`mark_pending`: written, but a requested
    step such as validation never finished), and
    ``.*.tmp`` files in ``.press-state``, ``.press-state/owners``,
    ``.press-state/index`` (:mod:`press.index`'s cache), ``simple`` and
    each ``simple/<project>``. Only the holder of the
    exclusive :class:`WriteLock` calls it (no other run is writing). Nothing
    else is looked at: a link or a deep tree planted there is not walked."""
    _sweep(wheel_dir, top=True)
    try:
        _clean_pending(wheel_dir)
    except (OSError, PressError):
        pass
    children: tuple[tuple[str, list[str] | None], ...] = ((STATE_DIR, [OWNERS.name, "index"]), ("simple", None))
    for parent, wanted in children:
        found = wheel_dir.lstat(parent)
        if found is None or not stat.S_ISDIR(found.st_mode):
            continue
        try:
            with wheel_dir.sub(parent) as sub:
                _sweep(sub)
                for name in wanted if wanted is not None else sub.names():
                    entry = sub.lstat(name)
                    if entry is not None and stat.S_ISDIR(entry.st_mode):
                        with sub.sub(name) as inner:
                            _sweep(inner)
        except (OSError, PressError):
            continue


class WriteLock:
    """Held while a run writes into a wheel directory (see the module
    docstring): shared ``flock`` on ``.press-state/writers.lock``, taken
    exclusively first to remove the leftovers of killed runs when no other
    press writes there (``cleaned`` says whether it could); ``batch`` also
    takes ``.press-state/lock`` exclusively (one batch at a time). Release
    it with :meth:`close`, which also removes ``.press-state`` when the run
    left nothing else there and no other press holds it (a failed run leaves
    the wheel directory as it found it). ``clean=False`` (a batch's jobs,
    which may run on other machines whose locks this one may not see) never
    removes anything. Raises :class:`~press.errors.PressError` when another
    batch holds the directory or it cannot be written, and
    :class:`~press.files.NotOwnedError` when ``.press-state`` or a lock file
    is a symbolic link or not a regular file.

    Lock files may be removed (by :meth:`close`, holding the lock
    exclusively), so a lock counts only when the file locked is still the
    one at its name afterwards; otherwise it is taken again."""

    def __init__(self, wheel_dir: Path, batch: bool = False, clean: bool = True) -> None:
        self.wheel_dir = Path(wheel_dir)
        self.cleaned = False
        self._fds: list[int] = []
        self._writers = -1
        try:
            for _ in range(100):
                if self._acquire(batch, clean):
                    return
                self._release()
            raise PressError(f"cannot lock {self.wheel_dir / STATE_DIR}: its lock files keep being replaced",
                             field="--wheel-dir")
        except OSError as exc:
            self._release()
            raise PressError(f"cannot write into {self.wheel_dir}: {exc.strerror or exc}",
                             field="--wheel-dir") from None
        except BaseException:
            self._release()
            raise

    def _acquire(self, batch: bool, clean: bool) -> bool:
        """One attempt; False when a lock file was removed or replaced meanwhile."""
        with Directory.open(self.wheel_dir, create=True) as directory:
            try:
                state = directory.sub(STATE_DIR, create=True)
            except FileNotFoundError:  # removed between mkdir and open
                return False
            with state:
                try:
                    if batch:
                        fd = self._open(state, BATCH_LOCK)
                        try:
                            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        except OSError:
                            raise PressError(f"another press batch is writing {self.wheel_dir}") from None
                        if not _current(state, BATCH_LOCK, fd):
                            return False
                    writers = self._writers = self._open(state, WRITERS_LOCK)
                except FileNotFoundError:  # .press-state removed meanwhile
                    return False
                try:
                    if not clean:
                        raise BlockingIOError(errno.EWOULDBLOCK, "not asked to clean")
                    fcntl.flock(writers, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        return True  # no locks on this file system: nothing is cleaned
                else:
                    if not _current(state, WRITERS_LOCK, writers):
                        return False
                    clean_leftovers(directory)
                    self.cleaned = True
                fcntl.flock(writers, fcntl.LOCK_SH)  # a downgrade, or waits for a cleaner to finish
                return _current(state, WRITERS_LOCK, writers)

    def _open(self, state: Directory, name: str) -> int:
        fd = state.open_file(name, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK)
        self._fds.append(fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise state.not_owned(name, "not a regular file")
        return fd

    def _release(self) -> None:
        while self._fds:
            os.close(self._fds.pop())
        self._writers = -1

    def close(self) -> None:
        """Release the locks (idempotent); remove ``.press-state`` when it
        holds nothing but the lock file and no other press holds that."""
        if self._writers >= 0:
            try:
                fcntl.flock(self._writers, fcntl.LOCK_EX | fcntl.LOCK_NB)
                with Directory.open(self.wheel_dir) as directory, directory.sub(STATE_DIR) as state:
                    if state.names() == [WRITERS_LOCK] and _current(state, WRITERS_LOCK, self._writers):
                        state.unlink(WRITERS_LOCK)
                        directory.rmdir(STATE_DIR)
            except (OSError, PressError):
                pass  # another press holds it, or it changed: it stays
        self._release()


def _current(state: Directory, name: str, fd: int) -> bool:
    """Whether ``fd`` is still the file at ``name`` (not removed or replaced since it was opened)."""
    try:
        found = state.lstat(name)
    except OSError:
        return False
    held = os.fstat(fd)
    return found is not None and (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)
