"""Write the lock files of the sample's cffi environment (run from the repo root:
``.venv/bin/python tests/data/locks/make_locks.py``).

The records are exactly what the spec route solves for
``press -c ../shared/channels/conda-forge --subdir linux-64 --python 3.12 cffi``
(press's own solve of the sample), written as conda writes them:

- ``cffi.explicit-md5.txt``: ``conda list --explicit --md5``;
- ``cffi.explicit-sha256.txt``: ``conda list --explicit --sha256``;
- ``cffi.conda-lock.yml``: conda-lock's unified format (version 1);
- ``cffi.pixi.lock``: a pixi lock file, written by py-rattler's ``LockFile``;
- ``cffi-python.conda-lock.yml`` and ``cffi-python.pixi.lock``: the same
  environment as an environment manager locks it, with the interpreter
  (``python`` 3.12.8 and what it needs) added. The sample has no ``python``
  artifact, so its record carries placeholder hashes (zeros): press leaves the
  interpreter out before fetching anything, so these are never checked.

URLs point at the placeholder host ``lock-host.invalid``; the tests rewrite
it to their server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SAMPLE = (ROOT / ".." / "shared" / "channels" / "conda-forge").resolve()
HOST = "https://lock-host.invalid/conda-forge"

# python 3.12.8 of conda-forge (linux-64), its run dependencies; not in the sample.
PYTHON = {
    "name": "python", "version": "3.12.8", "build": "h9e4cc4f_1_cpython", "build_number": 1, "subdir": "linux-64",
    "fn": "python-3.12.8-h9e4cc4f_1_cpython.conda", "md5": "0" * 32, "sha256": "0" * 64,
    "depends": ["__glibc >=2.17,<3.0.a0", "bzip2 >=1.0.8,<2.0a0", "ld_impl_linux-64 >=2.36.1",
                "libexpat >=2.6.4,<3.0a0", "libffi >=3.4,<4.0a0", "libgcc >=13", "liblzma >=5.6.3,<6.0a0",
                "libnsl >=2.0.1,<2.1.0a0", "libsqlite >=3.47.2,<4.0a0", "libuuid >=2.38.1,<3.0a0",
                "libxcrypt >=4.4.36", "libzlib >=1.3.1,<2.0a0", "ncurses >=6.5,<7.0a0", "openssl >=3.4.0,<4.0a0",
                "pip", "readline >=8.2,<9.0a0", "tk >=8.6.13,<8.7.0a0", "tzdata"],
}
#: the sample artifacts the interpreter's closure adds (name -> file name)
INTERPRETER_DEPS = [
    "linux-64/bzip2-1.0.8-h4bc722e_7.conda", "linux-64/ld_impl_linux-64-2.43-h712a8e2_2.conda",
    "linux-64/libexpat-2.6.4-h5888daf_0.conda", "linux-64/liblzma-5.6.3-hb9d3cd8_1.conda",
    "linux-64/libnsl-2.0.1-hd590300_0.conda", "linux-64/libsqlite-3.48.0-hee588c1_0.conda",
    "linux-64/libuuid-2.38.1-h0b41bf4_0.conda", "linux-64/libxcrypt-4.4.36-hd590300_1.conda",
    "linux-64/libzlib-1.3.1-hb9d3cd8_2.conda", "linux-64/ncurses-6.5-h2d0b736_2.conda",
    "linux-64/openssl-3.4.0-h7b32b05_1.conda", "linux-64/readline-8.2-h8228510_1.conda",
    "linux-64/tk-8.6.13-noxft_h4845f30_101.conda", "linux-64/ca-certificates-2024.12.14-hbcca054_0.conda",
    "noarch/tzdata-2025a-h78e105d_0.conda", "noarch/pip-24.3.1-pyh8b19718_2.conda",
    "noarch/setuptools-75.8.0-pyhff2d567_0.conda", "noarch/wheel-0.45.1-pyhd8ed1ab_1.conda",
]


def solved() -> list[dict]:
    """The spec route's records for cffi (press's solve of the sample)."""
    from press.channel import solve

    with tempfile.TemporaryDirectory() as cache:
        records = solve(["cffi"], [str(SAMPLE)], "linux-64", "3.12", Path(cache))
    return [entry(r.subdir, r.file_name) for r in records]


def entry(subdir: str, file_name: str) -> dict:
    """A record of a sample artifact: its index.json and hashes."""
    from conda_package_streaming.package_streaming import stream_conda_info

    path = SAMPLE / subdir / file_name
    index = None
    for tar, member in stream_conda_info(str(path)):
        if member.name == "info/index.json":
            index = json.load(tar.extractfile(member))
            break
    data = path.read_bytes()
    return {**index, "fn": file_name, "md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data)}


def url(record: dict) -> str:
    return f"{HOST}/{record['subdir']}/{record['fn']}"


def explicit(records: list[dict], kind: str) -> str:
    lines = ["# This file may be used to create an environment using:",
             "# $ conda create --name <env> --file <this file>", "# platform: linux-64", "@EXPLICIT"]
    for record in sorted(records, key=lambda r: r["name"]):
        lines.append(url(record) + (f"#{record['md5']}" if kind == "md5" else f"#sha256={record['sha256']}"))
    return "\n".join(lines) + "\n"


def conda_lock(records: list[dict], placeholder: bool) -> str:
    packages = []
    for record in sorted(records, key=lambda r: r["name"]):
        depends = {}
        for spec in record.get("depends", []):
            name, _, rest = spec.partition(" ")
            depends[name] = rest.split(" ")[0] or "*"
        packages.append({"name": record["name"], "version": record["version"], "manager": "conda",
                         "platform": "linux-64", "dependencies": depends, "url": url(record),
                         "hash": {"md5": record["md5"], "sha256": record["sha256"]},
                         "category": "main", "optional": False})
    doc = {"version": 1, "metadata": {"content_hash": {"linux-64": "0" * 64},
                                      "channels": [{"url": "conda-forge", "used_env_vars": []}],
                                      "platforms": ["linux-64"], "sources": ["environment.yml"]},
           "package": packages}
    head = "# conda-lock's unified lock file (version 1) of the sample's cffi environment\n"
    if placeholder:
        head += "# python is not in the sample: its hashes are placeholders (press never fetches the interpreter)\n"
    return head + yaml.safe_dump(doc, sort_keys=False)


def pixi_lock(records: list[dict], path: Path) -> None:
    from rattler import LockChannel, LockFile, LockPlatform, RepoDataRecord, PackageRecord

    platform = LockPlatform("linux-64")
    lock = LockFile([platform])
    lock.set_channels("default", [LockChannel("https://conda.anaconda.org/conda-forge/")])
    for record in sorted(records, key=lambda r: r["name"]):
        fields = {k: v for k, v in record.items() if k not in ("fn",)}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(fields, handle)
        package = PackageRecord.from_index_json(handle.name, size=record.get("size"), sha256=record["sha256"],
                                                md5=record["md5"])
        Path(handle.name).unlink()
        lock.add_conda_package("default", platform, RepoDataRecord(package, record["fn"], url(record),
                                                                   "https://conda.anaconda.org/conda-forge/"))
    lock.to_path(path)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    records = solved()
    with_python = records + [PYTHON] + [entry(*p.split("/")) for p in INTERPRETER_DEPS]
    (HERE / "cffi.explicit-md5.txt").write_text(explicit(records, "md5"))
    (HERE / "cffi.explicit-sha256.txt").write_text(explicit(records, "sha256"))
    (HERE / "cffi.conda-lock.yml").write_text(conda_lock(records, False))
    (HERE / "cffi-python.conda-lock.yml").write_text(conda_lock(with_python, True))
    pixi_lock(records, HERE / "cffi.pixi.lock")
    pixi_lock(with_python, HERE / "cffi-python.pixi.lock")


if __name__ == "__main__":
    main()
