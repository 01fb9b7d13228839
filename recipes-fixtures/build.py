#!/usr/bin/env python3
"""Build small, real, deterministic conda packages used as test fixtures.

Usage::

    python recipes-fixtures/build.py OUTDIR

writes a conda channel layout (``OUTDIR/linux-64/``, ``OUTDIR/noarch/``) and
prints nothing on success.  From Python (e.g. tests loading this file with
importlib)::

    artifacts = build(pathlib.Path(outdir))   # {"placeholder.conda": Path, ...}

Every fixture lives in ``recipes-fixtures/<name>/``:

* ``recipe.json``  - package metadata and build instructions (see README.md)
* ``payload/``     - files copied verbatim into the prefix; paths listed in
                     ``templates`` get ``@PREFIX@`` replaced by PLACEHOLDER
* ``src/``         - C sources compiled with gcc (``compile``)

Normal packages are written with ``conda_package_handling.api.create``; the
hostile ones (``hostile`` in recipe.json) with tarfile/zipfile/zstd directly,
mirroring cph's own .conda writer, because cph refuses such members.

Determinism: fixed mtimes (SOURCE_DATE_EPOCH), uid/gid 0, fixed modes, sorted
file lists, cph run in a subprocess with PYTHONHASHSEED=0 (its .tar.bz2 member
order uses hash()) and a frozen clock (the .conda zip stamps metadata.json
with the current time).
"""

from __future__ import annotations

import hashlib
import base64
import glob
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

HERE = pathlib.Path(__file__).resolve().parent

# Fixed build time for every fixture (2023-11-14T22:13:20Z).
SOURCE_DATE_EPOCH = 1700000000
TIMESTAMP_MS = SOURCE_DATE_EPOCH * 1000

# conda-build's host prefix: <croot>/<name>_<timestamp>/_h_env + "_placehold"*N,
# cut to 255 characters (same shape as conda-forge's
# /home/conda/feedstock_root/build_artifacts/<pkg>_<ts>/_h_env_placehold_...).
_PLACEHOLDER_HEAD = f"/opt/conda-bld/press-fx_{TIMESTAMP_MS}/_h_env"
PLACEHOLDER = (_PLACEHOLDER_HEAD + "_placehold" * 30)[:255]
assert len(PLACEHOLDER) == 255

FORMATS = (".conda", ".tar.bz2")
ZSTD_LEVEL = 3  # low compression level: fixtures are tiny, speed matters
CONDA_BUILD_VERSION = "24.11.2"
CONDA_VERSION = "24.11.3"

_SUBDIR_ARCH = {"linux-64": ("x86_64", "linux"), "linux-aarch64": ("aarch64", "linux"), "osx-arm64": ("arm64", "osx"),
                "noarch": (None, None)}
# C compiler per subdir: the host gcc, Debian's cross compiler for aarch64.
COMPILERS = {"linux-64": "gcc", "linux-aarch64": "aarch64-linux-gnu-gcc", "osx-arm64": None}


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _dump_json(obj) -> str:
    # conda-build: json.dump(..., indent=2, sort_keys=True), no trailing newline
    return json.dumps(obj, indent=2, sort_keys=True)


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_binary(data: bytes) -> bool:
    # conda-build treats files containing NUL bytes as binary
    return b"\x00" in data


def _mode_for(relpath: str) -> int:
    if relpath.startswith("bin/") or ".so" in relpath.rsplit("/", 1)[-1]:
        return 0o755
    return 0o644


def _run(cmd, cwd=None, **kw) -> None:
    """Run quietly; show the tool's output only if it fails."""
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {cmd[:3]}...\n"
                           + proc.stdout.decode(errors="replace"))


def _set_mtimes(root: pathlib.Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.utime(os.path.join(dirpath, n), (SOURCE_DATE_EPOCH,) * 2, follow_symlinks=False)
    os.utime(root, (SOURCE_DATE_EPOCH,) * 2)


def _yaml_list(key: str, items, indent: int = 2) -> list[str]:
    pad = " " * indent
    if not items:
        return []
    return [f"{pad}{key}:"] + [f"{pad}  - {json.dumps(i) if _needs_quote(i) else i}" for i in items]


def _needs_quote(s: str) -> bool:
    return ": " in s or " #" in s or s[:1] in "-?:,[]{}#&*!|>'\"%@`"


# --------------------------------------------------------------------------
# staging: payload, compilation, info/
# --------------------------------------------------------------------------


def _python_include(version: str) -> str:
    """The C header directory of an installed CPython ``version`` (X.Y)."""
    candidates = [shutil.which(f"python{version}")] + sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")), reverse=True)
    for exe in filter(None, candidates):
        out = subprocess.run([exe, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
                             capture_output=True, text=True)
        if out.returncode == 0 and os.path.isfile(os.path.join(out.stdout.strip(), "Python.h")):
            return out.stdout.strip()
    raise RuntimeError(f"no CPython {version} headers found (needed for extension fixtures)")


def can_build(recipe: dict) -> bool:
    """False when the recipe's compiler is not installed (e.g. no cross compiler)."""
    return not recipe.get("compile") or shutil.which(COMPILERS[recipe["subdir"]]) is not None


def _compile(recipe: dict, srcdir: pathlib.Path, prefix: pathlib.Path, work: pathlib.Path) -> None:
    """Compile C sources with gcc (or the subdir's cross gcc) into the staged
    prefix (no -g: no paths leak). Sources starting with ``../`` name another
    fixture directory's file (relative to this one's); steps with ``"stage": false`` build into the
    work directory only (link-time stand-ins for another package's library)."""
    if not recipe.get("compile"):
        return
    if srcdir.is_dir():
        shutil.copytree(srcdir, work, dirs_exist_ok=True)
    for step in recipe["compile"]:
        out = (prefix if step.get("stage", True) else work) / step["output"]
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [COMPILERS[recipe["subdir"]], "-O2", "-fPIC", f"-ffile-prefix-map={work}=.", f"-ffile-prefix-map={HERE}=."]
        if step.get("define_prefix"):
            cmd.append(f'-D{step["define_prefix"]}="{PLACEHOLDER}"')
        for name, value in sorted(step.get("defines", {}).items()):
            cmd.append(f"-D{name}={value}")
        if step["kind"] == "shared":
            cmd += ["-shared", f"-Wl,-soname,{step['soname']}"]
        elif step["kind"] == "extension":
            cmd += ["-shared", f"-I{_python_include(step['python'])}"]
        sources = [str((srcdir.parent / s).resolve()) if s.startswith("../") else s for s in step["sources"]]
        cmd += ["-o", str(out)] + sources
        if step.get("link"):
            cmd += [f"-L{prefix / 'lib'}", f"-L{work / 'lib'}"] + [f"-l{lib}" for lib in step["link"]]
        if step.get("runpath"):
            # what conda-build's post-processing (patchelf) leaves behind
            cmd += [f"-Wl,-rpath,{step['runpath']}", "-Wl,--enable-new-dtags"]
        _run(cmd, cwd=work)


def _make_symlinks(recipe: dict, prefix: pathlib.Path) -> None:
    # created before compiling (dangling until the library exists) so that
    # executables can link with -L<prefix>/lib -l<name> through the dev symlink
    for link, target in sorted(recipe.get("symlinks", {}).items()):
        dest = prefix / link
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, dest)


def _stage_payload(recipe: dict, fxdir: pathlib.Path, prefix: pathlib.Path) -> None:
    payload = fxdir / "payload"
    templates = set(recipe.get("templates", ()))
    if payload.is_dir():
        for src in sorted(payload.rglob("*")):
            if src.is_dir():
                continue
            rel = src.relative_to(payload).as_posix()
            dest = prefix / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            data = src.read_bytes()
            if rel in templates:
                data = data.replace(b"@PREFIX@", PLACEHOLDER.encode())
            dest.write_bytes(data)
    missing = templates - {p.relative_to(prefix).as_posix() for p in prefix.rglob("*")}
    if missing:
        raise RuntimeError(f"{recipe['name']}: template(s) not in payload: {sorted(missing)}")


def _write_record(recipe: dict, prefix: pathlib.Path) -> None:
    """pip-style RECORD for the dist-info (paths relative to site-packages)."""
    dist_info = recipe.get("dist_info")
    if not dist_info:
        return
    site = prefix / "site-packages"
    dist = prefix / dist_info
    record_rel = (dist / "RECORD").relative_to(site).as_posix()
    rows = []
    # pip records the console script it wrote into <prefix>/bin; conda-build
    # drops that file for noarch: python but the RECORD line stays (as in
    # every real conda-forge noarch: python package).
    for ep in recipe.get("entry_points", ()):
        script_name = ep.split("=")[0].strip()
        module, func = [s.strip() for s in ep.split("=")[1].split(":")]
        script = (
            f"#!{PLACEHOLDER}/bin/python\n"
            "# -*- coding: utf-8 -*-\n"
            "import re\nimport sys\n"
            f"from {module} import {func}\n"
            "if __name__ == '__main__':\n"
            "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
            f"    sys.exit({func}())\n"
        ).encode()
        rows.append((f"../../../bin/{script_name}", script))
    for f in sorted(site.rglob("*")):
        if f.is_file() and f.relative_to(site).as_posix() != record_rel:
            rows.append((f.relative_to(site).as_posix(), f.read_bytes()))
    lines = []
    for rel, data in sorted(rows):
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{rel},sha256={digest},{len(data)}")
    lines.append(f"{record_rel},,")
    lines.sort()
    (dist / "RECORD").write_text("\n".join(lines) + "\n")


def _paths_entries(prefix: pathlib.Path, hostile: list[dict]) -> tuple[list[dict], list[str]]:
    """paths.json entries + has_prefix lines, exactly as conda-build writes them."""
    entries, has_prefix = [], []
    ph = PLACEHOLDER.encode()
    for p in sorted(prefix.rglob("*")):
        rel = p.relative_to(prefix).as_posix()
        if rel == "info" or rel.startswith("info/") or (p.is_dir() and not p.is_symlink()):
            continue
        if p.is_symlink():
            # conda-build records the sha256/size of the symlink's target; a
            # link into another package (libblas.so.3 -> libopenblas.so.0)
            # dangles here: the empty file's
            target = p.resolve()
            if not target.exists():
                entries.append({"_path": rel, "path_type": "softlink",
                                "sha256": hashlib.sha256(b"").hexdigest(), "size_in_bytes": 0})
                continue
            entries.append({"_path": rel, "path_type": "softlink",
                            "sha256": _sha256(target), "size_in_bytes": target.stat().st_size})
            continue
        data = p.read_bytes()
        e = {"_path": rel, "path_type": "hardlink",
             "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)}
        if ph in data:
            mode = "binary" if _is_binary(data) else "text"
            e["file_mode"] = mode
            e["prefix_placeholder"] = PLACEHOLDER
            has_prefix.append((PLACEHOLDER, mode, rel))
        entries.append(e)
    for h in hostile:
        if h.get("in_paths", True) is False:
            continue
        data = _hostile_data(h)
        kind = h.get("type", "file")
        entry = {"_path": h["path"], "path_type": "softlink" if kind == "symlink" else "hardlink",
                 "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)}
        if "declared_size" in h:
            entry["size_in_bytes"] = h["declared_size"]
        if any(e["_path"] == h["path"] for e in entries):
            continue  # a duplicate member is listed once, as conda-build would
        entries.append(entry)
    entries.sort(key=lambda e: e["_path"])
    lines = [f"{a} {b} {c}" for a, b, c in sorted(has_prefix)]
    return entries, lines


def _meta_yaml(recipe: dict) -> str:
    test = recipe.get("test", {})
    out = [
        f"# This file created by conda-build {CONDA_BUILD_VERSION}",
        "# meta.yaml template originally from:",
        f"# {HERE.name}/{recipe['name']}/recipe.json (press fixture)",
        "# ------------------------------------------------",
        "",
        "package:",
        f"  name: {recipe['name']}",
        f"  version: {recipe['version']}",
        "build:",
    ]
    out += _yaml_list("entry_points", recipe.get("entry_points"))
    if recipe.get("noarch"):
        out.append(f"  noarch: {recipe['noarch']}")
    out += [f"  number: '{recipe['build_number']}'", f"  string: '{recipe['build']}'"]
    out.append("requirements:")
    if recipe["depends"]:
        out += _yaml_list("run", recipe["depends"])
    else:
        out.append("  run: []")
    if test:
        out.append("test:")
        for key in ("commands", "imports", "requires"):
            # "" is written as conda-build 2.x rendered an emptied list: `requires: ''`
            out += [f"  {key}: ''"] if test.get(key) == "" else _yaml_list(key, test.get(key))
    out += [
        "about:",
        "  home: https://example.invalid/press",
        "  license: MIT",
        "  license_file: LICENSE",
        f"  summary: {json.dumps(recipe['summary'])}",
        "extra:",
        "  copy_test_source_files: true",
        "  final: true",
        "",
    ]
    return "\n".join(out)


def _glibc_floor(recipe: dict, prefix: pathlib.Path) -> None:
    """Raise a declared ``__glibc >=X`` to what the compiled ELF files need.

    conda-forge links against a glibc 2.17 sysroot; we use the host toolchain,
    whose crt1.o may pull in e.g. __libc_start_main@GLIBC_2.34.  Keep the
    metadata truthful by scanning the GLIBC_x.y version names in the binaries.
    """
    need = (0, 0)
    for out in (s["output"] for s in recipe.get("compile", ()) if s.get("stage", True)):
        for m in re.finditer(rb"GLIBC_(\d+)\.(\d+)", (prefix / out).read_bytes()):
            need = max(need, (int(m.group(1)), int(m.group(2))))
    deps = []
    for dep in recipe["depends"]:
        m = re.fullmatch(r"__glibc >=(\d+)\.(\d+)(,.*)?", dep)
        if m and need > (int(m.group(1)), int(m.group(2))):
            dep = f"__glibc >={need[0]}.{need[1]}{m.group(3) or ''}"
        deps.append(dep)
    recipe["depends"] = deps


def _write_info(recipe: dict, prefix: pathlib.Path, hostile: list[dict]) -> None:
    info = prefix / "info"
    (info / "licenses").mkdir(parents=True)
    (info / "recipe").mkdir()
    arch, platform = _SUBDIR_ARCH[recipe["subdir"]]

    index = {
        "arch": arch,
        "build": recipe["build"],
        "build_number": recipe["build_number"],
        "depends": recipe["depends"],
        "license": "MIT",
        "name": recipe["name"],
        "platform": platform,
        "subdir": recipe["subdir"],
        "timestamp": TIMESTAMP_MS,
        "version": recipe["version"],
    }
    if recipe.get("noarch"):
        index["noarch"] = recipe["noarch"]
    (info / "index.json").write_text(_dump_json(index))

    about = {
        "channels": ["https://conda.anaconda.org/conda-forge"],
        "conda_build_version": CONDA_BUILD_VERSION,
        "conda_version": CONDA_VERSION,
        "description": f"{recipe['summary']}.\n",
        "env_vars": {"CIO_TEST": "<not set>"},
        "extra": {"copy_test_source_files": True, "final": True},
        "home": "https://example.invalid/press",
        "identifiers": [],
        "keywords": [],
        "license": "MIT",
        "license_file": "LICENSE",
        "root_pkgs": [],
        "summary": recipe["summary"],
        "tags": [],
    }
    (info / "about.json").write_text(_dump_json(about))

    if recipe.get("noarch"):
        noarch = {"type": recipe["noarch"]}
        if recipe.get("entry_points"):
            noarch["entry_points"] = recipe["entry_points"]
        (info / "link.json").write_text(_dump_json({"noarch": noarch, "package_metadata_version": 1}))

    shutil.copyfile(HERE / "LICENSE", info / "licenses" / "LICENSE")
    (info / "recipe" / "meta.yaml").write_text(_meta_yaml(recipe))
    (info / "git").write_text("")

    test = recipe.get("test", {})
    if test:
        (info / "test").mkdir()
        if test.get("imports"):
            (info / "test" / "run_test.py").write_text(
                "".join(f"print(\"import: '{m}'\")\nimport {m}\n\n" for m in test["imports"]))
        if test.get("commands"):
            (info / "test" / "run_test.sh").write_text(
                "\n\nset -ex\n\n\n\n" + "\n".join(test["commands"]) + "\nexit 0\n")

    entries, has_prefix = _paths_entries(prefix, hostile)
    (info / "paths.json").write_text(_dump_json({"paths": entries, "paths_version": 1}))
    (info / "files").write_text("".join(e["_path"] + "\n" for e in entries))
    if has_prefix:
        (info / "has_prefix").write_text("".join(line + "\n" for line in has_prefix))


def _normalize_modes(prefix: pathlib.Path) -> None:
    for p in prefix.rglob("*"):
        if p.is_symlink():
            continue
        if p.is_dir():
            p.chmod(0o755)
        else:
            rel = p.relative_to(prefix).as_posix()
            p.chmod(0o644 if rel.startswith("info/") else _mode_for(rel))


def _file_list(prefix: pathlib.Path) -> list[str]:
    return sorted(
        p.relative_to(prefix).as_posix()
        for p in prefix.rglob("*")
        if p.is_symlink() or not p.is_dir()
    )


# --------------------------------------------------------------------------
# archive writers
# --------------------------------------------------------------------------

# Runs in a subprocess: PYTHONHASHSEED=0 makes cph's .tar.bz2 member order
# (sorted by hash(extension)) stable, and the frozen clock makes the zip
# timestamp of .conda's metadata.json stable.
_CPH_RUNNER = r"""
import json, sys, time
jobs = json.load(sys.stdin)
_epoch = float(jobs["epoch"])
time.time = lambda: _epoch
from conda_package_handling.api import create
for job in jobs["jobs"]:
    kw = {}
    if job["out"].endswith(".conda"):
        kw = {"compression_level": jobs["level"], "compression_threads": 1}
    create(job["prefix"], job["files"], job["out"], **kw)
"""


def _create_with_cph(jobs: list[dict]) -> None:
    env = dict(os.environ, PYTHONHASHSEED="0", TZ="UTC", SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH))
    payload = json.dumps({"epoch": SOURCE_DATE_EPOCH, "level": ZSTD_LEVEL, "jobs": jobs})
    _run([sys.executable, "-c", _CPH_RUNNER], input=payload.encode(), env=env)


def _tarinfo(name: str, data: bytes, mode: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)  # TarInfo keeps the name verbatim (no lstrip("/"))
    ti.size = len(data)
    ti.mode = mode
    ti.mtime = SOURCE_DATE_EPOCH
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def _hostile_data(h: dict) -> bytes:
    return h.get("content", "").encode() * int(h.get("repeat", 1))


def _tar_bytes(prefix: pathlib.Path, files: list[str], extra: list[dict]) -> bytes:
    """A tar of ``files`` plus the hostile members ``extra``: regular files
    (``content`` x ``repeat``), ``symlink``/``hardlink`` (``linkname``),
    ``chardev`` and ``fifo`` members, as tarfile writes them."""
    buf = io.BytesIO()
    kinds = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "chardev": tarfile.CHRTYPE,
             "fifo": tarfile.FIFOTYPE}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in files:
            data = (prefix / rel).read_bytes()
            tar.addfile(_tarinfo(rel, data, (prefix / rel).stat().st_mode & 0o7777), io.BytesIO(data))
        for h in extra:
            kind = h.get("type", "file")
            if kind == "file":
                data = _hostile_data(h)
                tar.addfile(_tarinfo(h["path"], data, 0o644), io.BytesIO(data))
                continue
            ti = _tarinfo(h["path"], b"", 0o644)
            ti.type = kinds[kind]
            ti.linkname = h.get("linkname", "")
            if kind == "chardev":
                ti.devmajor, ti.devminor = 1, 3
            tar.addfile(ti)
    return buf.getvalue()


def _zstd():
    try:
        from compression import zstd  # Python >= 3.14
    except ImportError:
        from backports import zstd  # what conda-package-handling itself uses
    return zstd


def _create_hostile(prefix: pathlib.Path, files: list[str], hostile: list[dict], out: pathlib.Path) -> None:
    """Write a package with hostile payload members, mirroring cph's layout."""
    info_files = [f for f in files if f == "info" or f.startswith("info/")]
    pkg_files = [f for f in files if f not in info_files]
    if out.name.endswith(".tar.bz2"):
        import bz2

        # cph's .tar.bz2: one tar, info/ first, bzip2-compressed
        raw = _tar_bytes(prefix, info_files + pkg_files, hostile)
        out.write_bytes(bz2.compress(raw, 9))
        return
    zstd = _zstd()
    stem = out.name[: -len(".conda")]
    components = [
        (f"pkg-{stem}.tar.zst", _tar_bytes(prefix, pkg_files, hostile)),
        (f"info-{stem}.tar.zst", _tar_bytes(prefix, info_files, [])),
    ]
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        # cph stamps metadata.json with the (here: frozen) current time
        zi = zipfile.ZipInfo("metadata.json", date_time=time.gmtime(SOURCE_DATE_EPOCH)[:6])
        zf.writestr(zi, json.dumps({"conda_pkg_format_version": 2}))
        for name, raw in components:
            with zf.open(name, "w", force_zip64=True) as fh:
                fh.write(zstd.compress(raw, level=ZSTD_LEVEL))


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------


def load_recipes() -> list[tuple[pathlib.Path, dict]]:
    out = []
    for rj in sorted(HERE.glob("*/recipe.json")):
        recipe = json.loads(rj.read_text())
        recipe.setdefault("build", "0")
        recipe.setdefault("build_number", 0)
        recipe.setdefault("depends", [])
        out.append((rj.parent, recipe))
    return out


def build(outdir: pathlib.Path) -> dict[str, pathlib.Path]:
    """Build every fixture (both formats) into the channel ``outdir``.

    Returns ``{"<key>.conda": path, "<key>.tar.bz2": path, ...}`` where
    ``<key>`` is recipe.json's ``key`` (placeholder, symlinks, abspath, dotdot,
    badversion, purepy).
    """
    outdir = pathlib.Path(outdir).resolve()
    result: dict[str, pathlib.Path] = {}
    cph_jobs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="press-fx-") as tmp:
        tmp = pathlib.Path(tmp)
        hostile_jobs = []
        for fxdir, recipe in load_recipes():
            if not can_build(recipe):
                continue
            prefix = tmp / fxdir.name / "prefix"
            work = tmp / fxdir.name / "work"
            prefix.mkdir(parents=True)
            work.mkdir()
            _stage_payload(recipe, fxdir, prefix)
            _make_symlinks(recipe, prefix)
            _compile(recipe, fxdir / "src", prefix, work)
            _write_record(recipe, prefix)
            _glibc_floor(recipe, prefix)
            hostile = recipe.get("hostile", [])
            _write_info(recipe, prefix, hostile)
            _normalize_modes(prefix)
            _set_mtimes(prefix)
            files = _file_list(prefix)

            subdir = outdir / recipe["subdir"]
            subdir.mkdir(parents=True, exist_ok=True)
            dist = f"{recipe['name']}-{recipe['version']}-{recipe['build']}"
            for ext in FORMATS:
                out = subdir / (dist + ext)
                if out.exists():
                    out.unlink()
                result[f"{recipe['key']}{ext}"] = out
                if hostile:
                    hostile_jobs.append((prefix, files, hostile, out))
                else:
                    cph_jobs.append({"prefix": str(prefix), "files": files, "out": str(out)})
        for job in hostile_jobs:
            _create_hostile(*job)
        if cph_jobs:
            _create_with_cph(cph_jobs)
    for p in result.values():
        os.utime(p, (SOURCE_DATE_EPOCH,) * 2)
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUTDIR", file=sys.stderr)
        return 2
    build(pathlib.Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
