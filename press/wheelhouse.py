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
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from packaging.utils import canonicalize_name

from .errors import PressError

#: Claims directory, inside the batch state directory (ignored by the index).
OWNERS = Path(".press-state") / "owners"


class ClashError(PressError):
    """Two conda artifacts would make the same wheel file or distribution."""


def _claim_path(owners: Path, kind: str, key: str) -> Path:
    """A claim file name of bounded length: a readable head and a hash of the key."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    head = re.sub(r"[^A-Za-z0-9._+@-]", "_", key[:80])  # one file name, whatever the key holds
    return owners / f"{kind}-{head}-{digest}.json"


def _create(path: Path, record: dict[str, str]) -> dict[str, str] | None:
    """Create ``path`` holding ``record`` unless it exists; returns the
    existing record (None when this call created it; ``{}`` when it cannot
    be read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, sort_keys=True))
    try:
        os.link(tmp, path)
        return None
    except FileExistsError:
        try:
            existing = json.loads(path.read_text())
        except (OSError, ValueError):
            existing = {}
        return existing if isinstance(existing, dict) else {}
    finally:
        tmp.unlink(missing_ok=True)


def claim(wheel_dir: Path, file_name: str, dist: str, conda_name: str, artifact: str, sha256: str,
          scope: str = "") -> list[Path]:
    """Record that conda package ``conda_name`` (artifact file ``artifact``,
    hex ``sha256``) writes wheel ``file_name`` of distribution ``dist`` into
    ``wheel_dir``; ``scope`` names its channel and version. Raises
    :class:`ClashError` naming both artifacts when the distribution belongs
    to another conda package, the conda package (that channel's, that
    version) was made under another distribution name (``--native-prefix``/``--name-mapping``
    changed), the file name belongs to another artifact, or a wheel of that
    name that press did not record is already there; :class:`~press.errors.PressError` when the claims
    cannot be written. Returns the claim files this call created, for
    :func:`release` when the wheel is not written after all."""
    created: list[Path] = []
    try:
        _claim(Path(wheel_dir), file_name, dist, conda_name, artifact, sha256, scope, created)
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


def _claim(wheel_dir: Path, file_name: str, dist: str, conda_name: str, artifact: str, sha256: str,
           scope: str, created: list[Path]) -> None:
    owners = wheel_dir / OWNERS
    mine = {"conda": conda_name, "artifact": artifact, "sha256": sha256, "dist": canonicalize_name(dist)}
    package_claim = _claim_path(owners, "conda", f"{conda_name}@{scope}")
    existing = _create(package_claim, mine)
    if existing is None:
        created.append(package_claim)
    elif existing.get("dist") != canonicalize_name(dist):
        raise ClashError(
            f"conda package {conda_name} is already made as distribution {existing.get('dist', '?')!r} in "
            f"{wheel_dir} (from {_unreadable(existing, package_claim)}); {artifact} would add it again as "
            f"{dist!r} (a changed --native-prefix or --name-mapping?). Use another wheel directory",
            package=artifact)
    dist_claim = _claim_path(owners, "dist", canonicalize_name(dist))
    existing = _create(dist_claim, mine)
    if existing is None:
        created.append(dist_claim)
    elif existing.get("conda") != conda_name:
        raise ClashError(
            f"distribution {dist!r} is already made from {_unreadable(existing, dist_claim)} in {wheel_dir}; "
            f"{artifact} is another conda package ({conda_name}) of the same distribution name, and pip would "
            "mix their wheels up. Convert them into separate wheel directories, or map one of them to another "
            "name with --name-mapping", package=artifact)
    target = wheel_dir / file_name
    wheel_claim = _claim_path(owners, "wheel", file_name)
    unrecorded = target.exists() and not wheel_claim.exists()
    existing = _create(wheel_claim, mine)
    if existing is None:
        created.append(wheel_claim)
    elif existing.get("sha256") != sha256:
        raise ClashError(f"{file_name} in {wheel_dir} is made from {_unreadable(existing, wheel_claim)}; "
                         f"{artifact} would overwrite it with other content", package=artifact)
    if unrecorded:
        raise ClashError(f"{file_name} already exists in {wheel_dir} and press has no record of making it from "
                         f"{artifact}; remove it or choose another wheel directory", package=artifact)


def release(wheel_dir: Path, created: list[Path]) -> None:
    """Undo the claims of one :func:`claim` call (the wheel was not
    written), and remove the claims directory when that leaves it empty."""
    for path in created:
        Path(path).unlink(missing_ok=True)
    for directory in (Path(wheel_dir) / OWNERS, Path(wheel_dir) / OWNERS.parent):
        try:
            directory.rmdir()
        except OSError:
            break
