"""Validation runs package code in a sandbox (press/sandbox.py): hostile
packages whose import, ``.pth`` file, test requirement or library constructor
tries to write outside the venv, reach the network, read the user's secrets
or environment, or signal another process cannot; the real sample still
validates inside it; without a sandbox validation fails with the remedy,
or, with ``PRESS_SANDBOX=off``, runs and says so."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import CONDA_FORGE, run_press
from hostile import Spec, build
from press import sandbox

SECRET = "PRESS-TEST-SECRET-" + uuid.uuid4().hex
TOKEN = "press-test-token-" + uuid.uuid4().hex

#: Each attempt prints "<label>: DONE" when it worked, "<label>: blocked <error>" otherwise,
#: after a "press-attack[<tag>]:" line naming where the code ran from.
ATTACK = '''
import os, socket, sys
RESULTS = ["press-attack[{tag}]:"]
def attempt(label, action):
    try:
        action()
        RESULTS.append(label + ": DONE")
    except BaseException as exc:
        RESULTS.append(label + ": blocked " + type(exc).__name__)
def write(path):
    with open(path, "w") as handle:
        handle.write("pwned")
def connect():
    with socket.create_connection(("127.0.0.1", {port}), timeout=3) as conn:
        conn.sendall(b"pwned")
def show(path):
    with open(path) as handle:
        sys.stderr.write(handle.read())
attempt("write-outside", lambda: write({outside!r}))
attempt("write-home", lambda: write(os.path.join({home!r}, "pwned")))
attempt("write-wheel-dir", lambda: write(os.path.join({wheels!r}, "pwned.whl")))
attempt("write-host-tmp", lambda: write({host_tmp!r}))
attempt("connect", connect)
attempt("read-ssh", lambda: show(os.path.join({home!r}, ".ssh", "id_rsa")))
attempt("read-ssh-root", lambda: show("/root/.ssh/id_rsa"))
attempt("read-private", lambda: show({private!r}))
attempt("read-environment", lambda: sys.stderr.write(os.environ["PRESS_TEST_TOKEN"]))
attempt("read-parent-environment", lambda: show("/proc/%d/environ" % os.getppid()))
attempt("signal", lambda: os.kill({victim}, 9))
sys.stderr.write("\\n".join(RESULTS) + "\\n")
'''

#: The attempts that must fail. Writing to /tmp works, into the private one
#: (the host's is checked); /proc/<parent>/environ is bubblewrap's own, empty.
DANGEROUS = ("write-outside", "write-home", "write-wheel-dir", "connect", "read-ssh", "read-private",
             "read-environment", "signal")


class Target:
    """What the attacks aim at, and how to tell whether any got through."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.home = tmp_path / "home"
        (self.home / ".ssh").mkdir(parents=True)
        (self.home / ".ssh" / "id_rsa").write_text(SECRET)
        self.private = tmp_path / "private.txt"
        self.private.write_text(SECRET)
        self.outside = tmp_path / "outside" / "pwned"
        self.outside.parent.mkdir()
        self.wheels = tmp_path / "wheels"
        self.wheels.mkdir()
        self.host_tmp = Path("/tmp") / f"press-sandbox-pwned-{uuid.uuid4().hex}"
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.server.setblocking(False)
        self.victim = subprocess.Popen(["sleep", "120"])

    def code(self, tag: str) -> str:
        return ATTACK.format(tag=tag, port=self.server.getsockname()[1], outside=str(self.outside), home=str(self.home),
                             wheels=str(self.wheels), host_tmp=str(self.host_tmp), private=str(self.private),
                             victim=self.victim.pid)

    def env(self, **more: str) -> dict[str, str]:
        return {"HOME": str(self.home), "PRESS_TEST_TOKEN": TOKEN, **more}

    def check(self, result: subprocess.CompletedProcess, tags: list[str]) -> None:
        """Nothing got through, and the attacks did run (each one's report is in the output)."""
        output = result.stdout + result.stderr
        for tag in tags:
            assert f"press-attack[{tag}]:" in output, output
        for label in DANGEROUS:
            assert f"{label}: DONE" not in output, output
            assert f"{label}: blocked" in output, output
        assert SECRET not in output and TOKEN not in output
        assert not self.outside.exists() and not (self.home / "pwned").exists()
        assert not (self.wheels / "pwned.whl").exists() and not self.host_tmp.exists()
        with pytest.raises(BlockingIOError):
            self.server.accept()
        assert self.victim.poll() is None
        for path in self.root.rglob("*"):
            if path.is_file() and path not in (self.home / ".ssh" / "id_rsa", self.private):
                assert SECRET.encode() not in path.read_bytes(), path

    def close(self) -> None:
        self.server.close()
        self.victim.kill()
        self.victim.wait()
        self.host_tmp.unlink(missing_ok=True)


@pytest.fixture
def target(tmp_path):
    found = Target(tmp_path)
    yield found
    found.close()


def _recipe(imports: list[str], requires: list[str] = ()) -> bytes:
    lines = ["test:", "  imports:", *(f"    - {name}" for name in imports)]
    if requires:
        lines += ["  requires:", *(f"    - {name}" for name in requires)]
    return ("\n".join(lines) + "\n").encode()


def _noarch(name: str, files: dict[str, bytes], imports: list[str], requires: list[str] = ()) -> Spec:
    index = {"name": name, "version": "1.0", "build": "0", "build_number": 0, "subdir": "noarch",
             "noarch": "python", "depends": [], "license": "MIT", "timestamp": 1700000000000}
    return Spec(name=name, index=index, files=files, info={"info/recipe/meta.yaml": _recipe(imports, requires)})


def _with_record(name: str, module: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` (site-packages/...) plus the package's own dist-info whose RECORD lists them: what upstream ships."""
    dist = f"{module}-1.0.dist-info"
    ours = {f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
            **{k.removeprefix("site-packages/"): v for k, v in files.items()}}
    rows = []
    for path, data in sorted(ours.items()):
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows.append(f"{dist}/RECORD,,")
    ours[f"{dist}/RECORD"] = ("\n".join(rows) + "\n").encode()
    return {f"site-packages/{k}": v for k, v in ours.items()}


def _channel(tmp_path: Path, *specs: Spec) -> Path:
    channel = tmp_path / "channel"
    for spec in specs:
        build(spec, channel / "noarch", ".tar.bz2")
    return channel


def test_imports_pth_files_and_test_requirements_cannot_reach_the_machine(target, tmp_path, py312):
    """Three hostile packages validated together: one whose import attacks
    (writes outside the venv, to $HOME, to the wheel directory; connects to
    127.0.0.1 where the test listens; reads ~/.ssh/id_rsa, a private file
    and press's environment; kills a process of the test); one whose .pth
    file does the same at every start of the venv's interpreter (the
    installer's query, the sysconfig probe, the import tests); one whose
    import test needs a test requirement, installed by validation from the
    channel, whose import does the same. Each runs, each attempt fails, the
    secret and the token appear nowhere, and the report says where the code ran."""
    importing = _noarch("press-hx", {"site-packages/hx/__init__.py":
                                     (target.code("import") + "raise ImportError('press-hx refuses')\n").encode()},
                        ["hx"])
    pth = _noarch("press-hxpth", _with_record("press-hxpth", "press_hxpth", {
        "site-packages/press-hxpth.pth": b"import hxpth_boot\n",
        "site-packages/hxpth_boot.py": target.code("pth").encode(),
        "site-packages/hxpth/__init__.py": b""}), ["hxpth"])
    main = _noarch("press-hxmain", {"site-packages/hxmain/__init__.py": b"import hxdep\n"}, ["hxmain"], ["press-hxdep"])
    dep = _noarch("press-hxdep", {"site-packages/hxdep/__init__.py":
                                  (target.code("test-requires") + "raise ImportError('press-hxdep refuses')\n").encode()},
                  [])
    channel = _channel(tmp_path, importing, pth, main, dep)
    result = run_press("-c", str(channel), "--subdir", "linux-64", "--python", "3.12", "-w", str(target.wheels),
                       "--json", "--no-wheelhouse-check", "press-hx", "press-hxpth", "press-hxmain",
                       cache=tmp_path / "cache", env=target.env())
    assert result.returncode == 1, result.stdout + result.stderr
    outcome = {w["name"]: w["validation"] for w in json.loads(result.stdout)["wheels"]}
    assert {v["sandbox"] for v in outcome.values()} == {"bwrap"}, outcome
    assert "press-hx refuses" in outcome["press-hx"]["reason"]
    assert "press-hxdep refuses" in outcome["press-hxmain"]["reason"]
    assert "press-attack[pth]:" in outcome["press-hx"]["reason"]  # the .pth ran before the import test
    target.check(result, ["import", "pth", "test-requires"])


def test_a_pth_file_cannot_point_press_at_another_site_packages(tmp_path, py312):
    """The sysconfig probe's answer comes from an interpreter that ran the
    package's .pth: an answer outside the venv is a failure, not a directory
    press reads."""
    files = _with_record("press-hxsite", "press_hxsite", {
        "site-packages/press-hxsite.pth": b"import sys, os; sys.stdout.write('/root\\n'); sys.stdout.flush(); os._exit(0)\n",
        "site-packages/hxsite/__init__.py": b""})
    channel = _channel(tmp_path, _noarch("press-hxsite", files, ["hxsite"]))
    result = run_press("-c", str(channel), "--subdir", "linux-64", "--python", "3.12", "-w", str(tmp_path / "w"),
                       "--no-wheelhouse-check", "press-hxsite", cache=tmp_path / "cache")
    assert result.returncode == 1
    assert "does not name a site-packages inside the venv" in result.stdout, result.stdout + result.stderr


def _run(channel: Path, tmp_path: Path, *names: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess:
    """press --json on ``names`` from ``channel``, killed after 120 s (a hang is a failure, not a stuck test)."""
    argv = [sys.executable, "-m", "press", "--cache-dir", str(tmp_path / "cache"), "-c", str(channel), "--subdir",
            "linux-64", "--python", "3.12", "-w", str(tmp_path / "w"), "--json", "--no-wheelhouse-check", *names]
    return subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120)


def test_an_import_that_floods_or_plants_a_fifo_is_bounded(tmp_path, py312):
    """Output is drained, kept bounded and shown without terminal escapes; a
    FIFO or a link to /dev/zero planted in the venv's metadata by an import
    is not read (press reads the venv once the sandboxed step is over)."""
    flood = (b"import sys\nsys.stderr.write('x' * (48 << 20) + '\\x1b]0;pwned\\x07\\n')\n"
             b"raise ImportError('flooded')\n")
    plant = (b"import os, glob\n"
             b"site = os.path.dirname(os.path.dirname(__file__))\n"
             b"for here in glob.glob(os.path.join(site, '*.dist-info')):\n"
             b"    os.unlink(os.path.join(here, 'METADATA')); os.mkfifo(os.path.join(here, 'METADATA'))\n"
             b"    os.unlink(os.path.join(here, 'RECORD')); os.symlink('/dev/zero', os.path.join(here, 'RECORD'))\n")
    channel = _channel(tmp_path, _noarch("press-hxflood", {"site-packages/hxflood/__init__.py": flood}, ["hxflood"]),
                       _noarch("press-hxfifo", {"site-packages/hxfifo/__init__.py": plant}, ["hxfifo"]))
    result = _run(channel, tmp_path, "press-hxflood", "press-hxfifo")
    assert "\x1b" not in result.stdout + result.stderr and "Traceback" not in result.stderr
    outcome = {w["name"]: w["validation"] for w in json.loads(result.stdout)["wheels"]}
    assert outcome["press-hxflood"]["status"] == "failed", outcome
    assert "\\x1b]0;pwned\\x07" in outcome["press-hxflood"]["reason"]
    assert len(outcome["press-hxflood"]["reason"]) < 10_000
    assert outcome["press-hxfifo"]["status"] == "passed", outcome["press-hxfifo"]
    assert {v["sandbox"] for v in outcome.values()} == {"bwrap"}


@pytest.mark.slow
def test_steps_are_bounded_in_time_memory_and_disk(tmp_path, py312):
    """A step is killed (its whole process tree, a forked session leader
    too) after PRESS_MAX_RUN_SECONDS, or once it filled PRESS_MAX_RUN_DISK
    bytes of the scratch directory's file system; its processes cannot get
    more data memory than PRESS_MAX_RUN_MEMORY."""
    hang = b"import os, time\nif os.fork() == 0:\n    os.setsid()\ntime.sleep(600)\n"
    disk = (b"import os, time\nwith open(os.path.join(os.path.dirname(__file__), 'fill'), 'wb') as f:\n"
            b"    for _ in range(1024):\n        f.write(bytes(1 << 20)); f.flush(); time.sleep(0.005)\n")
    memory = b"blocks = [bytearray(1 << 20) for _ in range(512)]\n"
    channel = _channel(tmp_path, _noarch("press-hxhang", {"site-packages/hxhang/__init__.py": hang}, ["hxhang"]),
                       _noarch("press-hxdisk", {"site-packages/hxdisk/__init__.py": disk}, ["hxdisk"]),
                       _noarch("press-hxmemory", {"site-packages/hxmemory/__init__.py": memory}, ["hxmemory"]))
    start = time.monotonic()
    result = _run(channel, tmp_path, "press-hxhang", "press-hxdisk", "press-hxmemory",
                  env={"PRESS_MAX_RUN_SECONDS": "4", "PRESS_MAX_RUN_DISK": str(64 << 20),
                       "PRESS_MAX_RUN_MEMORY": str(256 << 20)})
    assert time.monotonic() - start < 60
    outcome = {w["name"]: w["validation"] for w in json.loads(result.stdout)["wheels"]}
    assert outcome["press-hxhang"]["status"] == "failed"
    assert "killed after 4 s" in outcome["press-hxhang"]["reason"] and "PRESS_MAX_RUN_SECONDS" in outcome["press-hxhang"]["reason"]
    assert outcome["press-hxdisk"]["status"] == "failed"
    assert "PRESS_MAX_RUN_DISK" in outcome["press-hxdisk"]["reason"], outcome["press-hxdisk"]
    assert outcome["press-hxmemory"]["status"] == "failed" and "MemoryError" in outcome["press-hxmemory"]["reason"]


def test_library_constructors_run_inside_the_sandbox(tmp_path):
    """dlopen of a vendored library runs its ELF constructor: in the sandbox."""
    import shutil

    from press.validate import load_shared_objects

    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no gcc")
    outside = tmp_path / "outside-constructor"
    source = tmp_path / "evil.c"
    source.write_text('#include <stdio.h>\n#include <unistd.h>\n__attribute__((constructor)) static void evil(void) {\n'
                      f'  FILE *f = fopen("{outside}", "w"); if (f) {{ fputs("pwned", f); fclose(f); }}\n'
                      '  else { write(2, "constructor blocked\\n", 20); }\n}\n')
    scratch = tmp_path / "scratch"
    library = scratch / "site" / "hx.libs" / "libevil.so"
    library.parent.mkdir(parents=True)
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    jail = sandbox.jail(scratch, [Path(sys.executable)])
    assert jail.kind == "bwrap"
    assert load_shared_objects(Path(sys.executable), scratch / "site", [library], {}, scratch, jail) == []
    assert not outside.exists()
    assert load_shared_objects(Path(sys.executable), scratch / "site", [library], dict(os.environ), scratch) == []
    assert outside.exists()  # the same load without the sandbox does write: the check above means something


def test_package_code_cannot_trace_or_stop_its_parent(tmp_path, monkeypatch):
    """A step's code may not PTRACE_ATTACH its parent (bubblewrap's init, or
    uv during an install): the attach stopped that process, and the step
    then waited for it until the time limit (ten minutes, then each wheel
    again alone). ptrace and process_vm_readv fail with EPERM; the step ends
    as soon as its command does, and fork/exec still work."""
    code = ("import ctypes, errno, os, subprocess\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "def call(result):\n    return errno.errorcode.get(ctypes.get_errno()) if result == -1 else 'DONE'\n"
            "print('attach', call(libc.ptrace(16, os.getppid(), 0, 0)))\n"
            "print('traceme', call(libc.ptrace(0, 0, 0, 0)))\n"
            "print('vm-read', call(libc.syscall(310 if os.uname().machine == 'x86_64' else 270, os.getppid(), 0, 0, 0,"
            " 0, 0)))\n"
            "print('child', subprocess.run(['true']).returncode)\n")
    monkeypatch.setenv("PRESS_MAX_RUN_SECONDS", "20")  # a stopped parent fails the test in 20 s, not 600
    jail = sandbox.jail(tmp_path, [Path(sys.executable)])
    assert jail.kind == "bwrap"
    done = jail.run([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["attach EPERM", "traceme EPERM", "vm-read EPERM", "child 0"], done.stdout


def test_a_scratch_directory_package_code_locked_is_still_removed(tmp_path):
    """Package code may chmod directories of the scratch directory to 0 or
    0500; a user without CAP_DAC_OVERRIDE then could not empty it, and the
    package's files stayed in $TMPDIR (shutil.rmtree ignored the errors).
    press.workdir.remove_tree runs here inside the sandbox, where nobody,
    root included, has that capability."""
    import press.workdir

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = ("import importlib.util, os, sys\n"
            "spec = importlib.util.spec_from_file_location('workdir', sys.argv[1])\n"
            "module = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)\n"
            "victim = os.path.join(sys.argv[2], 'venv')\n"
            "os.makedirs(os.path.join(victim, 'trap', 'sub', 'deeper'))\n"
            "for name in ('trap/sub/f', 'trap/sub/deeper/g'):\n"
            "    open(os.path.join(victim, name), 'w').write('package bytes')\n"
            "os.symlink(sys.argv[1], os.path.join(victim, 'trap', 'link'))\n"
            "for name, mode in (('trap/sub/deeper', 0), ('trap/sub', 0o500), ('trap', 0)):\n"
            "    os.chmod(os.path.join(victim, name), mode)\n"
            "try:\n    os.unlink(os.path.join(victim, 'trap', 'sub', 'f'))\n    print('no DAC override: not tested')\n"
            "except PermissionError:\n    pass\n"
            "module.remove_tree(victim)\nprint('left' if os.path.lexists(victim) else 'removed')\n")
    source = press.workdir.__file__
    jail = sandbox.jail(scratch, [Path(sys.executable)])
    done = jail.run([sys.executable, "-c", code, source, str(scratch)], readable=[source])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "removed", done.stdout + done.stderr
    assert Path(source).exists()  # the link inside was removed, not followed


def test_bwrap_argv_from_options():
    options = sandbox.Options(writable=("/scratch",), readable=("/opt/python",), cwd="/scratch",
                              environment=(("HOME", "/scratch/home"),))
    argv = sandbox.bwrap_argv("bwrap", options, ["python", "-c", "pass"])
    assert argv[:1] == ["bwrap"] and argv[-4:] == ["--", "python", "-c", "pass"]
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                 "--clearenv"):
        assert flag in argv
    assert "--share-net" not in argv and argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv.index("--tmpfs") < argv.index("/scratch")  # the scratch directory is bound over the private /tmp
    bound = [argv[i + 1] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind", "--ro-bind-try")]
    assert "/scratch" in bound and "/opt/python" in bound
    assert not any(p == "/" or p.startswith(("/root", "/home", "/etc/ssl/private", "/etc/shadow")) for p in bound)
    assert argv[argv.index("--bind") + 1] == "/scratch"
    assert argv.index("--remount-ro") < argv.index("--chdir")
    assert "--share-net" in sandbox.bwrap_argv("bwrap", sandbox.Options(network=True), ["true"])


@pytest.mark.parametrize("wheels", [1, 30], ids=["file-binds", "directory-masked"])
def test_only_the_wheels_of_a_wheel_directory_are_visible(tmp_path, wheels):
    """A wheel directory may be a home directory: the sandbox shows its
    *.whl files (bound one by one, or the directory with every other entry
    masked, whichever takes fewer mounts), never the other files' bytes."""
    directory = tmp_path / "home"
    directory.mkdir()
    for index in range(wheels):
        (directory / f"w{index}-1.0-py3-none-any.whl").write_bytes(b"wheel")
    (directory / "secret.txt").write_text(SECRET)
    (directory / ".ssh").mkdir()
    (directory / ".ssh" / "id_rsa").write_text(SECRET)
    readable, hidden = sandbox.wheel_view([str(directory)])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    jail = sandbox.jail(scratch, [Path(sys.executable)])
    code = ("import os, sys\nfor name in sys.argv[2:]:\n"
            "    try:\n        print(name, open(os.path.join(sys.argv[1], name)).read())\n"
            "    except OSError as exc:\n        print(name, type(exc).__name__)\n")
    done = jail.run([sys.executable, "-c", code, str(directory), "w0-1.0-py3-none-any.whl", "secret.txt",
                     ".ssh/id_rsa"], readable=readable, hidden=hidden)
    assert done.returncode == 0, done.stderr
    assert "w0-1.0-py3-none-any.whl wheel" in done.stdout and SECRET not in done.stdout + done.stderr


def test_without_a_sandbox_validation_fails_unless_turned_off(tmp_path, py312):
    """No bwrap on PATH: validation that would run package code fails with
    the remedy; PRESS_SANDBOX=off runs it and says so (a warning line, the
    --json field, the summary)."""
    from press.report import ValidationResult, WheelReport

    channel = _channel(tmp_path, _noarch("press-hxok", {"site-packages/hxok/__init__.py": b"VALUE = 1\n"}, ["hxok"]))
    args = ("-c", str(channel), "--subdir", "linux-64", "--python", "3.12", "-w", str(tmp_path / "w"),
            "--no-wheelhouse-check", "--json", "press-hxok")
    no_bwrap = {"PATH": str(tmp_path / "empty-path")}
    refused = run_press(*args, cache=tmp_path / "cache", env=no_bwrap)
    assert refused.returncode == 1
    (wheel,) = json.loads(refused.stdout)["wheels"]
    assert wheel["validation"]["status"] == "failed" and wheel["validation"]["sandbox"] == ""
    assert "bubblewrap" in wheel["validation"]["reason"] and "PRESS_SANDBOX=off" in wheel["validation"]["reason"]
    bare = run_press(*args, cache=tmp_path / "cache", env={**no_bwrap, "PRESS_SANDBOX": "off"})
    assert bare.returncode == 0, bare.stdout + bare.stderr
    (wheel,) = json.loads(bare.stdout)["wheels"]
    assert wheel["validation"]["status"] == "passed" and wheel["validation"]["sandbox"] == "off"
    assert "without a sandbox" in wheel["validation"]["reason"]
    assert "press: warning: PRESS_SANDBOX=off" in bare.stderr
    report = WheelReport(**{k: v for k, v in wheel.items() if k != "validation"},
                         validation=ValidationResult(**wheel["validation"]))
    assert "validation passed (without a sandbox)" in report.summary()


@pytest.mark.slow
@pytest.mark.parametrize("fatten", [False, True], ids=["thin", "fat"])
def test_the_real_sample_validates_in_the_sandbox(tmp_path, py312, fatten):
    result = run_press("-c", str(CONDA_FORGE), "--subdir", "linux-64", "--python", "3.12", "-w", str(tmp_path / "w"),
                       "--json", "cffi", *(["--fatten"] if fatten else []), cache=tmp_path / "cache")
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = json.loads(result.stdout)["wheels"]
    assert {(w["validation"]["status"], w["validation"]["sandbox"]) for w in wheels} == {("passed", "bwrap")}
    assert "_cffi_backend" in next(w for w in wheels if w["name"] == "cffi")["validation"]["imports"]
