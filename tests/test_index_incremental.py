"""The simple index is incremental and carries what modern installers read
(press/index.py, docs/index.md "The simple index"; issues 24 and 25).

An unchanged wheel is not read again, and a page is written only when its
bytes change. Adding one wheel rewrites only its project's pages (and the
root pages when the project is new). The cache in ``.press-state/index`` is
hostile input: a bad entry is discarded and the wheel read again. The JSON
passes a PEP 691/700/714 schema (tests/data/simple-api-v1.1.schema.json). uv
and pip resolve from it, over HTTP (the JSON form) and ``file://`` (the
HTML), fetching the ``.metadata`` files instead of the wheels they do not
install."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest
from conftest import make_venv

from press.index import CACHE_DIR, cache_name, write_index
from press.venvs import _uv_binary as _uv

SCHEMA = json.loads((Path(__file__).parent / "data" / "simple-api-v1.1.schema.json").read_text())
WHEN = (2024, 5, 6, 7, 8, 10)


def wheel(directory: Path, name: str, version: str = "1.0", requires_python: str | None = None,
          requires: tuple[str, ...] = (), when: tuple[int, ...] = WHEN, body: bytes = b"") -> Path:
    """A pure wheel ``<name>-<version>-py3-none-any.whl`` whose members are dated ``when``."""
    path = directory / f"{name}-{version}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += f"Requires-Python: {requires_python}\n" if requires_python else ""
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    dist = f"{name}-{version}.dist-info"
    members = {f"{name}/__init__.py": b"VERSION = %r\n" % version + body, f"{dist}/METADATA": meta.encode(),
               f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{m},sha256={hashlib.sha256(d).hexdigest()},{len(d)}\n" for m, d in members.items())
    members[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(zipfile.ZipInfo(member, date_time=when), data)
    return path


def settle() -> None:
    """Wait until wheels just written may be cached (press.index.SETTLE_NS)."""
    time.sleep(0.15)


def stamp(path: Path) -> tuple[int, int]:
    found = path.stat()
    return found.st_ino, found.st_mtime_ns


def pages(house: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(house)): stamp(p) for p in sorted((house / "simple").rglob("index.*"))}


def validate(doc: object, kind: str) -> None:
    jsonschema.validate(doc, {**SCHEMA, "$ref": f"#/$defs/{kind}"})


def test_unchanged_wheels_are_not_read_and_one_added_rewrites_only_its_project(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    empty = write_index(house)
    root = json.loads((house / "simple" / "index.json").read_text())
    assert empty.projects == {} and root == {"meta": {"api-version": "1.1"}, "projects": []}
    assert (house / "simple" / "index.json").read_bytes() == json.dumps(root, indent=1, sort_keys=True).encode()
    wheel(house, "alpha")
    wheel(house, "beta")
    settle()
    first = write_index(house)
    assert first.rewritten == ("alpha", "beta") and len(first.read) == 2
    before = pages(house)
    again = write_index(house)
    assert again.read == () and again.rewritten == () and pages(house) == before

    added = wheel(house, "gamma")
    settle()
    third = write_index(house)
    assert third.read == (added.name,) and third.rewritten == ("gamma",)
    after = pages(house)
    assert len(after) == 8 and {k: v for k, v in after.items() if "/gamma/" not in k and "/" in k[7:]} == \
        {k: v for k, v in before.items() if "/" in k[7:]}  # alpha's and beta's pages untouched
    assert after["simple/index.html"] != before["simple/index.html"]  # the project list changed
    root = json.loads((house / "simple" / "index.json").read_text())
    assert [p["name"] for p in root["projects"]] == ["alpha", "beta", "gamma"]
    assert (house / "simple" / "index.json").read_bytes() == json.dumps(root, indent=1, sort_keys=True).encode()

    newer = wheel(house, "alpha", "2.0")  # a new version of a known project: the root stays
    settle()
    fourth = write_index(house)
    assert fourth.read == (newer.name,) and fourth.rewritten == ("alpha",)
    assert pages(house)["simple/index.html"] == after["simple/index.html"]
    assert json.loads((house / "simple" / "alpha" / "index.json").read_text())["versions"] == ["1.0", "2.0"]

    # A wheel rewritten in place (same name and size, new content): read again, its hash follows.
    old_digest = hashlib.sha256(newer.read_bytes()).hexdigest()
    wheel(tmp_path, "alpha", "2.0", body=b"#")
    replacement = (tmp_path / newer.name).read_bytes()
    inode = newer.stat().st_ino
    with open(newer, "r+b") as handle:
        handle.write(replacement)
        handle.truncate()
    assert newer.stat().st_ino == inode
    settle()
    fifth = write_index(house)
    assert fifth.read == (newer.name,) and fifth.rewritten == ("alpha",)
    page = (house / "simple" / "alpha" / "index.json").read_text()
    assert hashlib.sha256(replacement).hexdigest() in page and old_digest not in page

    # A wheel removed: its project, pages, .metadata and cache file go; the root is rewritten.
    (house / "beta-1.0-py3-none-any.whl").unlink()
    sixth = write_index(house)
    assert set(sixth.projects) == {"alpha", "gamma"} and sixth.rewritten == () and sixth.read == ()
    assert not (house / "simple" / "beta").exists() and not (house / "beta-1.0-py3-none-any.whl.metadata").exists()
    assert not (house / ".press-state" / CACHE_DIR / cache_name("beta")).exists()
    assert "beta" not in (house / "simple" / "index.html").read_text()

    # The same bytes as a rebuild from nothing.
    fresh = tmp_path / "fresh"
    shutil.copytree(house, fresh, ignore=shutil.ignore_patterns("simple", ".press-state", "*.metadata"))
    write_index(fresh)
    for name in sorted(p.relative_to(house) for p in house.rglob("*") if p.is_file() and ".press-state" not in p.parts):
        assert (fresh / name).read_bytes() == (house / name).read_bytes(), name


@pytest.mark.parametrize("damage", ["not-json", "wrong-types", "size-mismatch", "link", "fifo", "other-limits",
                                    "page-replaced", "metadata-replaced"])
def test_a_bad_cache_entry_or_changed_output_is_noticed(tmp_path, damage, monkeypatch):
    """What the cache says is checked: a damaged entry is discarded and the
    wheel read again; a page or ``.metadata`` file changed by someone else
    is written again; nothing outside the wheel directory is touched."""
    house = tmp_path / "house"
    house.mkdir()
    made = wheel(house, "alpha", requires_python=">=3.8")
    settle()
    write_index(house)
    expected = {p: (house / p).read_bytes() for p in ("simple/alpha/index.json", "simple/alpha/index.html",
                                                       made.name + ".metadata")}
    cache = house / ".press-state" / CACHE_DIR / cache_name("alpha")
    doc = json.loads(cache.read_text())
    outside = tmp_path / "outside.json"
    original = json.dumps(doc)
    outside.write_text(original)
    if damage == "not-json":
        cache.write_bytes(b"{" * 10 + b"x")
    elif damage == "wrong-types":
        entry = doc["wheels"][made.name]
        entry["sources"] = [{"name": 1}]
        entry["requires-python"] = "<script>"
        cache.write_text(json.dumps(doc))
    elif damage == "size-mismatch":
        doc["wheels"][made.name]["size"] += 1
        cache.write_text(json.dumps(doc))
    elif damage == "link":
        cache.unlink()
        cache.symlink_to(outside)
    elif damage == "fifo":
        cache.unlink()
        os.mkfifo(cache)
    elif damage == "other-limits":
        monkeypatch.setenv("PRESS_MAX_MEMBERS", "1000")
    elif damage == "page-replaced":
        (house / "simple" / "alpha" / "index.json").write_text("{}")
    elif damage == "metadata-replaced":
        (house / (made.name + ".metadata")).write_text("Name: other\n")
    result = write_index(house)
    assert result.read == (() if damage == "page-replaced" else (made.name,))
    assert result.rewritten == (("alpha",) if damage == "page-replaced" else ())
    assert {p: (house / p).read_bytes() for p in expected} == expected
    assert outside.read_text() == original  # a link at the cache file: replaced, never written through
    assert cache.is_file() and not cache.is_symlink()
    assert write_index(house).read == ()  # cached again


def test_json_passes_the_pep_691_700_714_schema_and_html_carries_the_same(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    wheel(house, "alpha", requires_python=">=3.8,<4", when=(2021, 2, 3, 4, 5, 6))
    wheel(house, "alpha", "2.0", requires_python=">=4")
    wheel(house, "Beta_Two", "0.1")
    write_index(house)
    validate(json.loads((house / "simple" / "index.json").read_text()), "project-list")
    for project in ("alpha", "beta-two"):
        doc = json.loads((house / "simple" / project / "index.json").read_text())
        validate(doc, "project-detail")
        assert doc["meta"]["api-version"] == "1.1"
        for entry in doc["files"]:
            assert "dist-info-metadata" not in entry  # PEP 714: not in JSON, which pip 22.3-23.1 fail on
            assert entry["filename"].split("-")[1] in doc["versions"]  # PEP 700: every file has its version
            target = house / entry["filename"]
            assert entry["size"] == target.stat().st_size
            assert entry["core-metadata"] == {
                "sha256": hashlib.sha256((house / (entry["filename"] + ".metadata")).read_bytes()).hexdigest()}
    alpha = json.loads((house / "simple" / "alpha" / "index.json").read_text())
    assert [(f["requires-python"], f["upload-time"]) for f in alpha["files"]] == [
        ("<4,>=3.8", "2021-02-03T04:05:06.000000Z"), (">=4", "2024-05-06T07:08:10.000000Z")]
    page = (house / "simple" / "alpha" / "index.html").read_text()
    digest = alpha["files"][0]["core-metadata"]["sha256"]
    assert (f'data-core-metadata="sha256={digest}" data-dist-info-metadata="sha256={digest}" '
            'data-requires-python="&lt;4,&gt;=3.8"') in page


class SimpleHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a wheel directory as an index server would: ``/simple/<project>/``
    as JSON when the client accepts it (PEP 691 content negotiation), else
    HTML; records (path, content type served)."""

    log: list[tuple[str, str]] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802
        local = Path(self.translate_path(self.path))
        if self.path.startswith("/simple/") and self.path.endswith("/") and local.is_dir():
            wants_json = "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "")
            kind = "application/vnd.pypi.simple.v1+json" if wants_json else "text/html"
            data = (local / ("index.json" if wants_json else "index.html")).read_bytes()
            type(self).log.append((self.path, kind))
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        type(self).log.append((self.path, ""))
        super().do_GET()


@pytest.fixture()
def served_index(tmp_path):
    """alpha 1.0 (needs beta), alpha 2.0 (Requires-Python >=4) and beta 1.0, indexed and served."""
    house = tmp_path / "house"
    house.mkdir()
    wheel(house, "alpha", requires=("beta>=1",))
    wheel(house, "alpha", "2.0", requires_python=">=4", requires=("beta>=1",))
    wheel(house, "beta")
    write_index(house)
    SimpleHandler.log = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHandler, directory=str(house)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield house, f"http://127.0.0.1:{server.server_address[1]}/simple/", SimpleHandler.log
    server.shutdown()


def _installed(python: Path) -> list[str]:
    code = "import importlib.metadata as m; print(sorted(f'{d.name}=={d.version}' for d in m.distributions()))"
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True,
                                     cwd=python.parent).stdout.replace("'", '"'))


def _fetched(log: list[tuple[str, str]]) -> set[str]:
    return {path.rsplit("/", 1)[-1] for path, _kind in log if not path.endswith("/")}


def test_uv_resolves_from_the_json_and_reads_the_metadata_files(served_index, tmp_path, py312):
    house, url, log = served_index
    python = make_venv(py312, tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    subprocess.run([_uv(), "pip", "install", "-q", "--no-cache", "--python", str(python), "--index-url", url, "alpha"],
                   check=True, env=env)
    assert _installed(python) == ["alpha==1.0", "beta==1.0"]
    assert ("/simple/alpha/", "application/vnd.pypi.simple.v1+json") in log
    fetched = _fetched(log)
    assert {"alpha-1.0-py3-none-any.whl.metadata", "beta-1.0-py3-none-any.whl.metadata"} <= fetched
    assert "alpha-2.0-py3-none-any.whl" not in fetched  # requires-python >=4: never downloaded
    # file:// (the HTML pages)
    other = make_venv(py312, tmp_path / "venv-file")
    subprocess.run([_uv(), "pip", "install", "-q", "--no-cache", "--python", str(other), "--index-url",
                    (house / "simple").as_uri(), "alpha"], check=True, env=env)
    assert _installed(other) == ["alpha==1.0", "beta==1.0"]


@pytest.mark.slow  # about 6 s: pip starts four times
def test_pip_resolves_from_the_json_and_reads_the_metadata_files(served_index, tmp_path, py312):
    house, url, log = served_index
    python = make_venv(py312, tmp_path / "venv")
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--isolated", "--no-cache-dir",
           "--disable-pip-version-check"]
    subprocess.run([*pip, "--index-url", url, "alpha"], check=True, env=env)
    assert _installed(python) == ["alpha==1.0", "beta==1.0"]
    assert ("/simple/beta/", "application/vnd.pypi.simple.v1+json") in log
    fetched = _fetched(log)
    assert {"alpha-1.0-py3-none-any.whl.metadata", "beta-1.0-py3-none-any.whl.metadata"} <= fetched
    assert not any(name.startswith("alpha-2.0") for name in fetched)  # requires-python >=4: skipped on the index
    other = make_venv(py312, tmp_path / "venv-file")
    subprocess.run([*pip[:3], "--python", str(other), *pip[5:], "--index-url", (house / "simple").as_uri(), "alpha"],
                   check=True, env=env)
    assert _installed(other) == ["alpha==1.0", "beta==1.0"]
