"""Every wheel press writes is re-read before it is renamed into place:
RECORD hashes, one dist-info, valid METADATA (press.wheel.verify_wheel)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from press.errors import ValidationError
from press.wheel import Member, verify_wheel, write_wheel


def _write(path: Path, members: list[Member]) -> None:
    write_wheel(path, members, timestamp=1700000000)


def _metadata(name: str = "demo") -> bytes:
    return f"Metadata-Version: 2.4\nName: {name}\nVersion: 1.0\n".encode()


def _rewrite(source: Path, target: Path, edit) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = edit(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info, data)


def test_good_wheel_verifies(tmp_path):
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    _write(wheel, [Member("demo.py", data=b"x = 1\n"), Member("demo-1.0.dist-info/METADATA", data=_metadata()),
                   Member("demo-1.0.dist-info/WHEEL", data=b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")])
    verify_wheel(wheel)
    assert [p.name for p in tmp_path.iterdir()] == [wheel.name]  # no temporary left behind


@pytest.mark.parametrize("case,edit,reason", [
    ("tampered payload", lambda n, d: b"x = 2\n" if n == "demo.py" else d, "RECORD does not verify"),
    ("second dist-info", None, "2 .dist-info directories"),
    ("bad METADATA", lambda n, d: b"Metadata-Version: 2.4\nName: -bad-\nVersion: one\n" if n.endswith("METADATA") else d,
     "METADATA is invalid"),
])
def test_broken_wheels_are_refused(tmp_path, case, edit, reason):
    good = tmp_path / "good" / "demo-1.0-py3-none-any.whl"
    good.parent.mkdir()
    members = [Member("demo.py", data=b"x = 1\n"), Member("demo-1.0.dist-info/METADATA", data=_metadata()),
               Member("demo-1.0.dist-info/WHEEL", data=b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")]
    if edit is None:
        # write_wheel itself must refuse to publish a wheel with two dist-infos
        members.append(Member("other-1.0.dist-info/METADATA", data=_metadata("other")))
        with pytest.raises(ValidationError, match=reason):
            _write(good, members)
        assert not good.parent.exists() or list(good.parent.iterdir()) == []
        return
    _write(good, members)
    broken = tmp_path / "demo-1.0-py3-none-any.whl"
    _rewrite(good, broken, edit)
    with pytest.raises(ValidationError, match=reason):
        verify_wheel(broken)
