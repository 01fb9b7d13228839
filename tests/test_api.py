"""The release script of docs/api.md, run as it stands: convert, inspect,
batch, index, publish (twine upload to a server on 127.0.0.1)."""

from __future__ import annotations

import email.parser
import http.server
import os
import re
import subprocess
import sys
import zipfile

from conftest import CONDA_FORGE, ROOT, serve


class UploadHandler(http.server.BaseHTTPRequestHandler):
    """The legacy upload API (what twine speaks): records each file uploaded."""

    uploads: list[tuple[str, bytes]] = []

    def __init__(self, *args, directory=None, **kwargs):  # serve() passes the directory it serves
        super().__init__(*args, **kwargs)

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        message = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
        for part in message.get_payload():
            if part.get_param("name", header="content-disposition") == "content":
                type(self).uploads.append((part.get_filename(), part.get_payload(decode=True)))
        self.send_response(200)
        self.end_headers()


def test_release_script_in_the_api_docs_runs(tmp_path, cache_dir):
    text = (ROOT / "docs" / "api.md").read_text()
    script = re.search(r"## A release script.*?```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "release.py").write_text(script)
    server, url = serve(tmp_path, UploadHandler)
    try:
        env = dict(os.environ, PRESS_CHANNEL=str(CONDA_FORGE), PRESS_WHEELHOUSE=str(tmp_path / "out"),
                   PRESS_REPOSITORY_URL=f"{url}/legacy/", TWINE_USERNAME="press", TWINE_PASSWORD="secret",
                   XDG_CACHE_HOME=str(cache_dir.parent / "xdg"), PYTHONPATH=str(ROOT))
        run = subprocess.run([sys.executable, str(tmp_path / "release.py")], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=900)
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"cffi-1\.17\.1-\S+-cp312-cp312-manylinux2014_x86_64\.manylinux_2_17_x86_64\.whl the binaries allow "
                     r"manylinux_2_17_x86_64 from cffi 1\.17\.1, libffi 3\.4\.2", run.stdout)
    uploaded = sorted(name for name, _ in UploadHandler.uploads)
    assert [n.split("-")[0] for n in uploaded] == ["cffi", "pycparser"]
    for name, payload in UploadHandler.uploads:
        assert payload == (tmp_path / "out" / "fat" / name).read_bytes()
    assert (tmp_path / "out" / "fat" / "simple" / "cffi" / "index.json").is_file()
    # one build per version: pycparser 2.22's build for Python >=3.9 is kept, the other left out
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "out" / "all").glob("*.whl")) == ["idna", "pycparser"]
    with zipfile.ZipFile(next((tmp_path / "out" / "fat").glob("cffi-*.whl"))) as wheel:
        assert "cffi-1.17.1.dist-info/sboms/press.cdx.json" in wheel.namelist()
