"""Run a package's code in a sandbox: bubblewrap, no network, the host read-only.

Validation executes code from the packages it checks: ``.pth`` files when the
venv's interpreter starts (for the installer's interpreter query and the
sysconfig probe), the recipe's import tests, the ELF constructors of every
vendored library it ``dlopen``\\ s, and whatever a ``test.requires`` package
brings. On Linux each such step runs under bubblewrap (``bwrap``, the sandbox
Flatpak uses; Debian/Ubuntu ``apt-get install bubblewrap``, Fedora
``dnf install bubblewrap``), built by :func:`bwrap_argv` from typed
:class:`Options`:

- new user, PID, network, IPC, UTS and cgroup namespaces (``--unshare-all``):
  no network at all (only a loopback of its own), no other process visible
  or signalled, every process of the step killed when it ends; all
  capabilities dropped (``--cap-drop ALL``, which matters when press runs as
  root) and no further user namespaces (``--disable-userns``); no ``ptrace``
  or ``process_vm_*`` of another process (a seccomp filter,
  :func:`seccomp_filter`: an attach stops its parent); a new session
  (``--new-session``: no ``TIOCSTI`` into the terminal) and stdin from
  ``/dev/null``;
- an empty root: only ``/usr`` (and ``/bin``, ``/lib*``, ``/sbin`` as the
  host has them), a few pieces of ``/etc`` the loader and libc read
  (:data:`ETC`), ``/sys/devices/system/cpu`` (CPU counts), a new ``/proc``
  and ``/dev``, the interpreters' prefixes and the installer, all read-only;
  the user's home, ``/root``, ``~/.ssh``, ``~/.config``, ``/etc/ssl/private``
  and everything else are not there;
- writable: only the validation's scratch directory (which holds the venv),
  a private ``/tmp`` and ``/dev/shm`` (tmpfs of :data:`TMPFS_BYTES` each);
- the environment cleared down to :data:`PASSED_VARIABLES` and press's own
  settings (:meth:`Jail.environment`): ``HOME`` and ``TMPDIR`` inside the
  scratch directory, no token or credential of the user's;
- each step bounded in time (the ``run_seconds`` limit,
  ``PRESS_MAX_RUN_SECONDS``), in memory (``run_memory``,
  ``PRESS_MAX_RUN_MEMORY``: ``RLIMIT_DATA`` of every process), in the disk
  it fills (``run_disk``, ``PRESS_MAX_RUN_DISK``: the free space of the
  scratch directory's file system is watched while it runs) and in
  captured output (:data:`OUTPUT_BYTES` per stream); control characters in
  the output are escaped before press prints any of it.

``PRESS_SANDBOX`` chooses: unset or ``bwrap`` requires the sandbox, and
validation that would run package code without it fails, naming the remedy;
``off`` runs that code unisolated (same environment clearing, time and output
bounds, and no file system or network isolation), and press says so on every
validated wheel. Checks that run no package code (structural checks of
wheels for other platforms, the wheelhouse resolver) need no sandbox.
"""

from __future__ import annotations

import functools
import json
import os
import re
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .limits import LIMITS, limit

#: The environment variable that chooses: ``bwrap`` (the default) or ``off``.
SANDBOX_VARIABLE = "PRESS_SANDBOX"

#: Host directories bound read-only at their own place when they are
#: directories, re-created as the same symlink when they are symlinks
#: (merged-``/usr`` systems link ``/bin`` and ``/lib*`` into ``/usr``).
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

#: The pieces of ``/etc`` bound read-only: what the dynamic loader, libc
#: (users, time zone, services) and common libraries (fonts, terminfo,
#: libmagic, CA certificates) read, and Debian's ``/etc/pythonX.Y``. Never
#: ``/etc/ssl/private``, ``shadow``, ``ssh`` or a pip/uv configuration.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "passwd", "group", "localtime", "timezone",
       "os-release", "alternatives", "ssl/certs", "ssl/openssl.cnf", "ca-certificates", "fonts", "terminfo", "magic",
       "mime.types", "protocols", "services", "hosts", "host.conf", "gai.conf", "debian_version")

#: Size of the private ``/tmp`` and ``/dev/shm`` (tmpfs: memory).
TMPFS_BYTES = 512 << 20

#: Bytes of each of stdout and stderr kept per step (the last ones; a
#: package that prints without end is drained, not held).
OUTPUT_BYTES = 4 << 20

#: Variables of the user's environment passed into a step (locale and time
#: zone only); everything else is cleared.
PASSED_VARIABLES = ("LANG", "LANGUAGE", "TZ")

#: The ``PATH`` of a step.
PATH = "/usr/local/bin:/usr/bin:/bin"


class NoSandbox(Exception):
    """Package code would run, no sandbox is available, and ``PRESS_SANDBOX=off`` does not allow running it bare."""


@dataclass(frozen=True)
class Options:
    """One sandboxed command's view of the machine. ``writable``: host paths
    bound read-write at the same place; ``readable``: bound read-only (files
    or directories; missing ones are left out); ``cwd``: the working
    directory inside; ``environment``: the whole environment of the command;
    ``network``: keep the host's network (never for package code);
    ``tmpfs_bytes``: size of the private ``/tmp`` and ``/dev/shm``;
    ``hidden``: paths inside readable directories masked after they are
    bound (a directory by an empty read-only tmpfs, anything else by
    ``/dev/null``)."""

    writable: tuple[str, ...] = ()
    readable: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    cwd: str = "/"
    environment: tuple[tuple[str, str], ...] = ()
    network: bool = False
    tmpfs_bytes: int = TMPFS_BYTES


def _system_arguments() -> list[str]:
    """bwrap arguments for :data:`SYSTEM`, :data:`ETC` and the CPU information."""
    args: list[str] = []
    for path in SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in [*ETC, *(n for n in _listing("/etc") if re.fullmatch(r"python[23](\.\d+)?", n))]:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    return args


def bwrap_argv(bwrap: str, options: Options, command: Sequence[str]) -> list[str]:
    """The bubblewrap command line that runs ``command`` as :class:`Options`
    say (see the module docstring for what the sandbox holds). ``bwrap`` is
    the executable. Later mounts go over earlier ones, so the scratch
    directory is bound after the private ``/tmp`` it may lie under. The
    result is meant for :func:`run` (which passes the arguments through a
    file descriptor, ``--args``, when they are many)."""
    args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL", "--die-with-parent",
            "--new-session"]
    if options.network:
        args.append("--share-net")
    args += _system_arguments()
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(options.tmpfs_bytes), "--tmpfs", "/dev/shm",
             "--remount-ro", "/dev", "--size", str(options.tmpfs_bytes), "--tmpfs", "/tmp"]
    for path in options.readable:
        args += ["--ro-bind-try", path, path]
    for path in options.hidden:
        if os.path.isdir(path) and not os.path.islink(path):
            args += ["--size", "4096", "--tmpfs", path, "--remount-ro", path]
        else:
            args += ["--ro-bind", "/dev/null", path]
    for path in options.writable:
        args += ["--bind", path, path]
    args += ["--remount-ro", "/", "--chdir", options.cwd, "--clearenv"]
    for name, value in options.environment:
        args += ["--setenv", name, value]
    return [*args, "--", *command]


@dataclass(frozen=True)
class Sandbox:
    """The sandbox in force: ``kind`` ``bwrap`` (``executable`` its path) or
    ``off`` (package code runs unisolated: ``PRESS_SANDBOX=off``)."""

    kind: str
    executable: str | None = None


#: The remedy named when no sandbox is available.
REMEDY = ("install bubblewrap (apt-get install bubblewrap, dnf install bubblewrap) on a kernel that allows "
          f"user namespaces; or set {SANDBOX_VARIABLE}=off to run the package's code without isolation, "
          "or --no-validate")


@functools.lru_cache(maxsize=None)
def probe(bwrap: str) -> str | None:
    """None when ``bwrap`` can build the sandbox of :func:`bwrap_argv` here
    (it runs ``true`` inside one), else why not: bubblewrap's own message
    (user namespaces disabled by the kernel, ``kernel.unprivileged_userns_clone``,
    AppArmor, a container's seccomp profile). Decided once per process."""
    argv = bwrap_argv(bwrap, Options(environment=(("PATH", PATH),)), ["true"])
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap} does not run: {exc}"
    if done.returncode != 0:
        return f"{bwrap} cannot make a sandbox here: {clean(done.stderr.decode('utf-8', 'replace')).strip()[-500:]}"
    return None


def find() -> Sandbox:
    """The sandbox ``PRESS_SANDBOX`` asks for: bubblewrap (the default;
    :class:`NoSandbox` with the remedy when it is not installed, not Linux,
    or :func:`probe` fails), or ``off``."""
    wanted = os.environ.get(SANDBOX_VARIABLE, "").strip().lower()
    if wanted == "off":
        return Sandbox("off")
    if wanted not in ("", "bwrap"):
        raise NoSandbox(f"{SANDBOX_VARIABLE}={wanted!r}: expected bwrap or off")
    if not sys.platform.startswith("linux"):
        raise NoSandbox(f"validation runs the package's code, and press has no sandbox on {sys.platform}: "
                        f"set {SANDBOX_VARIABLE}=off to run it without isolation, or --no-validate")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise NoSandbox(f"validation runs the package's code, and bubblewrap (bwrap) is not installed: {REMEDY}")
    reason = probe(bwrap)
    if reason:
        raise NoSandbox(f"validation runs the package's code, and {reason}: {REMEDY}")
    return Sandbox("bwrap", bwrap)


#: What ``off`` says on every validated wheel (its validation reason).
UNSANDBOXED = f"the package's code ran without a sandbox ({SANDBOX_VARIABLE}=off)"

#: The warning line of every validated run with ``off``.
WARNING = (f"{SANDBOX_VARIABLE}=off: validation ran the packages' code (.pth files, import tests, library "
           "constructors) on this machine without a sandbox, with your file system, network and processes "
           "within its reach; unset it (and install bubblewrap) to isolate it")


@functools.lru_cache(maxsize=None)
def interpreter_paths(exe: str) -> tuple[str, ...]:
    """The host paths the CPython ``exe`` needs to start (read-only in the
    sandbox): its prefixes (``sys.prefix``, ``sys.base_prefix`` and the exec
    ones, asked of the interpreter with ``-E -s -S``, so no ``.pth`` runs), the
    parent of its real executable's directory, the venv ``exe`` lies in
    (a ``pyvenv.cfg`` beside its ``bin``), every shared library it maps
    after importing its common extension modules that lies elsewhere (each
    file alone), and ``/nix/store`` or ``/gnu/store`` when it lives there. A prefix that is ``/``
    or holds the user's home is narrowed to the executable, ``lib/pythonX.Y``
    and ``lib/libpython*``. Paths under ``/usr`` are left out (bound
    anyway). Empty when the interpreter does not run."""
    code = ("import sys, os, json\n"
            "for name in ('ctypes', 'ssl', 'sqlite3', 'lzma', 'bz2', 'zlib', 'hashlib', 'uuid', 'decimal'):\n"
            "    try:\n        __import__(name)\n    except Exception:\n        pass\n"
            "maps = [line.split(None, 5)[-1].strip() for line in open('/proc/self/maps') if ' /' in line]\n"
            "print(json.dumps([[sys.prefix, sys.exec_prefix, getattr(sys, 'base_prefix', sys.prefix), "
            "getattr(sys, 'base_exec_prefix', sys.exec_prefix)], os.path.realpath(sys.executable), "
            "'%d.%d' % sys.version_info[:2], sorted(set(maps))]))")
    try:
        done = subprocess.run([exe, "-E", "-s", "-S", "-c", code], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=60)
        prefixes, real, version, mapped = json.loads(done.stdout)
    except (OSError, ValueError, TypeError, subprocess.TimeoutExpired):
        return ()
    home = os.path.realpath(os.path.expanduser("~"))
    found: list[str] = []
    candidates = [*prefixes, os.path.dirname(os.path.dirname(real))]
    venv = os.path.dirname(os.path.dirname(os.path.abspath(exe)))
    if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):  # a venv's python: -S leaves sys.prefix at the base
        candidates.append(venv)
    for prefix in sorted({os.path.realpath(p) for p in candidates}):
        if prefix == "/usr" or prefix.startswith("/usr/"):
            continue
        if prefix == "/" or home == prefix or home.startswith(prefix.rstrip("/") + "/"):
            lib = os.path.join(prefix, "lib")
            found += [real, os.path.join(lib, f"python{version}")]
            found += [os.path.join(lib, n) for n in _listing(lib) if n.startswith("libpython")]
        else:
            found.append(prefix)
    for store in ("/nix/store", "/gnu/store"):  # Nix and Guix: libraries in other store paths
        if any(path.startswith(store + "/") for path in found):
            found.append(store)
    for path in mapped:  # shared libraries loaded from elsewhere (Homebrew on Linux, a conda libpython)
        if path.startswith("/") and not path.startswith(("/usr/", "/lib", "/etc/", "/proc/", "/dev/")) \
                and not any(path.startswith(p.rstrip("/") + "/") for p in found) and os.path.isfile(path):
            found.append(path)
    return tuple(sorted(set(found)))


def _listing(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


#: Most bind or mask arguments one view of wheel directories may take
#: (bubblewrap accepts 9,000 arguments in all).
MOST_MOUNTS = 2000


def wheel_view(directories: Sequence[str]) -> tuple[list[str], list[str]]:
    """What an offline install with ``directories`` as ``--find-links`` may
    read: ``(readable, hidden)`` for :class:`Options`. Only the regular
    ``*.whl`` files directly in them are visible, never the other entries
    (a wheel directory may be the user's home): each wheel file bound
    alone, or, when that takes fewer mounts, the directory bound with every
    other entry masked (symlinks need no mask: inside, they lead only to
    what the sandbox shows). Raises :class:`NoSandbox` when neither fits in
    :data:`MOST_MOUNTS`."""
    readable: list[str] = []
    hidden: list[str] = []
    for directory in sorted(set(directories)):
        wheels, others = [], []
        for name in _listing(directory):
            path = os.path.join(directory, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if name.endswith(".whl") and stat.S_ISREG(mode):
                wheels.append(path)
            elif not stat.S_ISLNK(mode):
                others.append(path)
        if len(wheels) <= len(others) + 1:
            readable += wheels
        else:
            readable.append(directory)
            hidden += others
    if len(readable) + len(hidden) > MOST_MOUNTS:
        raise NoSandbox(f"the wheel directories {', '.join(sorted(set(directories)))} hold too many entries "
                        f"to show only their wheels in the sandbox (more than {MOST_MOUNTS} mounts)")
    return readable, hidden


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """``text`` with control characters other than newline and tab (and the
    Unicode direction overrides) shown as ``\\xNN``: a package's output never
    reaches the terminal as escape sequences."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


@dataclass(frozen=True)
class Jail:
    """Where one validation runs package code: ``sandbox`` (:func:`find`),
    the ``scratch`` directory (writable: it holds the venv, ``home`` and
    ``tmp``) and the host paths ``readable`` in every step (interpreters'
    prefixes, :func:`interpreter_paths`)."""

    sandbox: Sandbox
    scratch: Path
    readable: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = field(default=())

    @property
    def kind(self) -> str:
        """``bwrap`` or ``off``."""
        return self.sandbox.kind

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a step: :data:`PASSED_VARIABLES` and
        ``LC_*`` from press's own, ``PATH``, ``HOME`` and ``TMPDIR`` inside the
        scratch directory, pip's configuration off (``PIP_CONFIG_FILE``
        ``/dev/null``, as pip documents), no uv Python downloads, then
        ``variables`` and ``extra``."""
        env = {k: v for k, v in os.environ.items() if k in PASSED_VARIABLES or k.startswith("LC_")}
        env.update(PATH=PATH, HOME=str(self.scratch / "home"), TMPDIR=str(self.scratch / "tmp"),
                   PIP_CONFIG_FILE=os.devnull, UV_PYTHON_DOWNLOADS="never", PYTHONNOUSERSITE="1")
        env.update(dict(self.variables))
        env.update(extra or {})
        return env

    def run(self, argv: Sequence[str], *, cwd: Path | None = None, readable: Sequence[str] = (),
            hidden: Sequence[str] = (), extra: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the sandbox (``off``: bare, in the same
        environment) with ``readable`` host paths added read-only (and
        ``hidden`` ones masked: :func:`wheel_view`), within the
        ``run_seconds`` limit. Returns its exit status and the last
        :data:`OUTPUT_BYTES` of each stream, decoded as UTF-8 (invalid bytes
        replaced) with control characters escaped (:func:`clean`); a step
        that runs out of time or disk is killed with its whole process tree,
        status -9, and says so on stderr."""
        for name in ("home", "tmp"):
            (self.scratch / name).mkdir(exist_ok=True)
        env = self.environment(extra)
        where = str(cwd or self.scratch)
        if self.sandbox.kind == "bwrap" and self.sandbox.executable:
            options = Options(writable=(str(self.scratch),), readable=(*self.readable, *readable), cwd=where,
                              environment=tuple(sorted(env.items())), hidden=tuple(hidden))
            return run(bwrap_argv(self.sandbox.executable, options, argv), env={"PATH": PATH}, watch=self.scratch)
        return run(list(argv), cwd=where, env=env, watch=self.scratch)


#: System calls that reach into another process's memory or execution
#: (``ptrace``, ``process_vm_readv``/``process_vm_writev``, ``pidfd_getfd``),
#: by audit architecture (``AUDIT_ARCH_*`` of linux/audit.h) and syscall
#: number (the kernel's syscall tables; x32 numbers carry bit 30 under the
#: x86-64 architecture). Package code in a step is refused them (``EPERM``):
#: a ``PTRACE_ATTACH`` to its parent (bubblewrap's init, uv) stops that
#: process, and the step then waited for it until the time limit.
_TRACE_SYSCALLS = {
    0xC000003E: (101, 310, 311, 438, 0x40000000 + 521, 0x40000000 + 539, 0x40000000 + 540,
                 0x40000000 + 438),  # x86-64 and x32
    0x40000003: (26, 347, 348, 438),  # i386 (a 32-bit program on x86-64)
    0xC00000B7: (117, 270, 271, 438),  # aarch64
    0x40000028: (26, 376, 377, 438),  # arm (a 32-bit program on aarch64)
}


def seccomp_filter() -> bytes:
    """The classic BPF program (``struct sock_filter`` array, as
    ``seccomp_export_bpf`` writes it for ``bwrap --seccomp``) that makes the
    calls of :data:`_TRACE_SYSCALLS` fail with ``EPERM`` and allows every
    other call. An architecture it does not list is not filtered."""
    import struct

    def insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    load, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    program = [insn(load, 4)]  # seccomp_data.arch
    for arch, numbers in _TRACE_SYSCALLS.items():
        block = [insn(load, 0)]  # seccomp_data.nr
        for index, number in enumerate(numbers):
            block.append(insn(jeq, number, jt=len(numbers) - index, jf=0))
        block += [insn(ret, allow), insn(ret, deny)]
        program += [insn(jeq, arch, jt=0, jf=len(block))] + block
    program.append(insn(ret, allow))
    return b"".join(program)


def _bounded() -> None:
    """In the child before it runs the step: its data memory limit."""
    size = limit("run_memory")
    resource.setrlimit(resource.RLIMIT_DATA, (size, size))


def run(argv: Sequence[str], *, env: Mapping[str, str], cwd: str | None = None,
        watch: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with stdin from ``/dev/null`` in a new session, its
    output drained and bounded as :meth:`Jail.run` says, its data memory
    limited (``run_memory``), killed (its process group) after the
    ``run_seconds`` limit or once the file system of ``watch`` has lost more
    than the ``run_disk`` limit of free space. A bwrap command gets
    :func:`seccomp_filter` (``--seccomp``, from a memory file), and a bwrap
    command line longer than 64 kB goes through ``--args`` from another."""
    argv = list(argv)
    pass_fds: tuple[int, ...] = ()
    memfd = rules = None
    if os.path.basename(argv[0]) == "bwrap":  # no tracing of other processes (seccomp_filter)
        rules = os.memfd_create("press-seccomp")
        os.write(rules, seccomp_filter())
        os.lseek(rules, 0, os.SEEK_SET)
        argv[1:1] = ["--seccomp", str(rules)]
        pass_fds = (rules,)
    if os.path.basename(argv[0]) == "bwrap" and sum(len(a) + 1 for a in argv) > 64 << 10:
        memfd = os.memfd_create("press-bwrap-args")
        os.write(memfd, b"".join(a.encode() + b"\0" for a in argv[1:]))
        os.lseek(memfd, 0, os.SEEK_SET)
        argv, pass_fds = [argv[0], "--args", str(memfd)], (*pass_fds, memfd)
    seconds = limit("run_seconds")
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=dict(env), cwd=cwd, start_new_session=True, pass_fds=pass_fds,
                                   preexec_fn=_bounded)
    finally:
        for descriptor in (rules, memfd):
            if descriptor is not None:
                os.close(descriptor)
    out, err, killed = _drain(process, time.monotonic() + seconds, watch)
    stderr = clean(err.decode("utf-8", "replace"))
    if killed == "time":
        stderr += f"\npress: killed after {seconds} s: press's limit, set {LIMITS['run_seconds'].env} to raise it"
    elif killed == "disk":
        stderr += (f"\npress: killed after filling more than {limit('run_disk')} bytes of disk: press's limit, "
                   f"set {LIMITS['run_disk'].env} to raise it")
    return subprocess.CompletedProcess(argv, process.returncode, clean(out.decode("utf-8", "replace")), stderr)


def _free(path: Path | None) -> int | None:
    """Bytes free (for unprivileged users) on the file system of ``path``, or None."""
    if path is None:
        return None
    try:
        found = os.statvfs(path)
    except OSError:
        return None
    return found.f_bavail * found.f_frsize


def _usage(path: Path, most: int) -> int:
    """Bytes of disk the files under ``path`` take (allocated blocks, so a
    sparse file counts what it really uses; links not followed), counted up
    to a little past ``most``."""
    total, pending = 0, [str(path)]
    while pending and total <= most:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    try:
                        found = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += found.st_blocks * 512
                    if stat.S_ISDIR(found.st_mode):
                        pending.append(entry.path)
        except OSError:
            continue
    return total


def _drain(process: subprocess.Popen[bytes], deadline: float, watch: Path | None) -> tuple[bytes, bytes, str]:
    """Read both pipes of ``process`` to their end (or the deadline), keeping
    the last :data:`OUTPUT_BYTES` of each; at the deadline, or when the file
    system of ``watch`` has lost more than the ``run_disk`` limit of free
    space (checked at least four times a second) and ``watch`` itself has
    grown by that much (other programs writing to the same file system do
    not count), kill its process group. Returns
    (stdout, stderr, ``""``, or ``"time"``/``"disk"``: why it was killed)."""
    kept = {"out": bytearray(), "err": bytearray()}
    selector = selectors.DefaultSelector()
    assert process.stdout is not None and process.stderr is not None
    selector.register(process.stdout, selectors.EVENT_READ, "out")
    selector.register(process.stderr, selectors.EVENT_READ, "err")
    killed = ""
    start_free, budget = _free(watch), limit("run_disk")
    start_usage = _usage(watch, 1 << 62) if watch is not None and start_free is not None else 0
    try:
        while selector.get_map() or process.poll() is None:  # a process may close its output and go on
            left = deadline - time.monotonic()
            free = _free(watch) if start_free is not None else None
            if left <= 0:
                killed = "time"
            elif start_free is not None and free is not None and watch is not None and start_free - free > budget:
                grown = _usage(watch, start_usage + budget) - start_usage
                if grown > budget:
                    killed = "disk"
                else:  # others wrote to the file system: count from here, less what the step wrote
                    start_free = free + max(grown, 0)
            if killed:
                break
            if not selector.get_map():
                try:
                    process.wait(timeout=min(left, 0.25))
                except subprocess.TimeoutExpired:
                    pass
                continue
            for key, _ in selector.select(timeout=min(left, 0.25)):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = kept[key.data]
                buffer += chunk
                if len(buffer) > OUTPUT_BYTES:
                    del buffer[:len(buffer) - OUTPUT_BYTES]
    finally:
        selector.close()
    if killed:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            process.kill()
    try:
        process.wait(timeout=30 if killed else None)
    except subprocess.TimeoutExpired:
        pass
    process.stdout.close()
    process.stderr.close()
    return bytes(kept["out"]), bytes(kept["err"]), killed


#: Interpreters seen starting in the sandbox (checked once per process).
_STARTED: set[str] = set()


def jail(scratch: Path, interpreters: Sequence[Path], variables: Mapping[str, str] | None = None) -> Jail:
    """The :class:`Jail` of one validation: the sandbox in force
    (:func:`find`, raising :class:`NoSandbox`), ``scratch`` writable, the
    prefixes of ``interpreters`` readable (:func:`interpreter_paths`),
    ``variables`` added to every step's environment. Each interpreter must
    start in the sandbox (once per process, without ``site``): one that
    needs files the sandbox does not bind raises :class:`NoSandbox` naming
    them, not a failed import later."""
    readable: list[str] = []
    for exe in interpreters:
        readable += interpreter_paths(str(exe))
    made = Jail(find(), Path(scratch), tuple(dict.fromkeys(readable)), tuple(sorted((variables or {}).items())))
    for exe in interpreters:
        if made.kind != "bwrap" or str(exe) in _STARTED:
            continue
        started = made.run([str(exe), "-E", "-s", "-S", "-c", "pass"])
        if started.returncode != 0:
            raise NoSandbox(f"{exe} does not start in press's sandbox (it may need files outside its prefix): "
                            f"{started.stderr.strip()[-500:]}; pass another --python-exe, or set "
                            f"{SANDBOX_VARIABLE}=off to run the package's code without isolation, or --no-validate")
        _STARTED.add(str(exe))
    return made
