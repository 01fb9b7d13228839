"""Write a wheel reproducibly and verify it before it is renamed into place.

The archive is written with ``wheel.wheelfile.WheelFile`` (which computes
RECORD), members sorted with the ``.dist-info`` last, every timestamp set to
one fixed date, modes normalised to 0644/0755. The finished file is re-read
with pypa/installer (``validate_record``), checked for exactly one
``.dist-info`` and a METADATA that ``packaging`` accepts, then renamed from a
temporary name into the wheel directory (PEP 427, PEP 491).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.metadata import Metadata
from wheel.wheelfile import WheelFile

from .errors import ValidationError

#: Zip dates cannot precede 1980.
_MIN_EPOCH = 315532800


@dataclass(frozen=True)
class Member:
    """One wheel member: its archive name, either ``data`` or a ``source`` path,
    and whether it is executable."""

    arcname: str
    data: bytes | None = None
    source: Path | None = None
    executable: bool = False

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.source is not None
        return self.source.read_bytes()


class _FixedDateWheelFile(WheelFile):
    """WheelFile whose implicit members (RECORD) get the fixed date too."""

    date_time: tuple[int, int, int, int, int, int] = (1980, 1, 1, 0, 0, 0)

    def writestr(self, zinfo_or_arcname, data, compress_type=None):  # type: ignore[override]
        if isinstance(zinfo_or_arcname, str):
            zinfo = zipfile.ZipInfo(zinfo_or_arcname, date_time=self.date_time)
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            zinfo.external_attr = (0o644 | stat.S_IFREG) << 16
            zinfo_or_arcname = zinfo
        super().writestr(zinfo_or_arcname, data, compress_type)


def write_wheel(
    path: Path,
    members: list[Member],
    timestamp: float = _MIN_EPOCH,
    compresslevel: int = 6,
) -> Path:
    """Write the wheel ``path`` (its file name must be a valid wheel name).

    ``members`` must not include RECORD; ``timestamp`` (seconds since the
    epoch) dates every member. Returns ``path``. Raises
    :class:`ValidationError` if the written wheel does not verify; in every
    failure case nothing is left at ``path``.
    """
    path = Path(path)
    tmpdir = Path(tempfile.mkdtemp(prefix=".press-", dir=path.parent))
    tmp = tmpdir / path.name
    date_time = time.gmtime(max(int(timestamp), _MIN_EPOCH))[:6]
    ordered = sorted(members, key=lambda m: (".dist-info/" in m.arcname.split("/", 1)[0] + "/", m.arcname))
    try:
        with _FixedDateWheelFile(tmp, "w") as wheel:
            wheel.date_time = date_time
            wheel.compresslevel = compresslevel
            for member in ordered:
                zinfo = zipfile.ZipInfo(member.arcname, date_time=date_time)
                zinfo.compress_type = zipfile.ZIP_DEFLATED
                mode = 0o755 if member.executable else 0o644
                zinfo.external_attr = (mode | stat.S_IFREG) << 16
                wheel.writestr(zinfo, member.read())
        verify_wheel(tmp)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path


def verify_wheel(path: Path) -> None:
    """Re-read a wheel: RECORD hashes and sizes (pypa/installer), exactly one
    ``.dist-info``, METADATA accepted by ``packaging.metadata``.

    Raises :class:`ValidationError` naming the wheel and the problem.
    """
    from installer.sources import WheelFile as InstallerWheel

    label = Path(path).name
    with zipfile.ZipFile(path) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
        dist_infos = sorted(t for t in tops if t.endswith(".dist-info"))
        if len(dist_infos) != 1:
            raise ValidationError(f"wheel has {len(dist_infos)} .dist-info directories: {dist_infos}", package=label)
        try:
            Metadata.from_email(archive.read(f"{dist_infos[0]}/METADATA"), validate=True)
        except Exception as exc:
            raise ValidationError(f"METADATA is invalid: {exc}", package=label) from exc
    try:
        with InstallerWheel.open(path) as source:
            source.validate_record()
    except Exception as exc:
        raise ValidationError(f"RECORD does not verify: {exc}", package=label) from exc
