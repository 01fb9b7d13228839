"""The ``press`` command: a thin click layer over :func:`press.convert`;
``press channel``, over :func:`press.batch.convert_channel`; ``press show``,
over :mod:`press.show`; ``press name-mapping``, over :mod:`press.names`."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from . import __version__
from .channel import CHANNEL_PRIORITIES, DEFAULT_CHANNEL, native_subdir
from .convert import ConvertOptions, convert_pythons
from .errors import PressError
from .report import ConversionReport, fit, shorten

F = TypeVar("F", bound=Callable[..., Any])


def _python_version(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``--python`` values: ``X.Y``, or ``all`` where the option is repeatable."""
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if item == "all" and isinstance(value, tuple):
            continue
        if item is not None and not re.fullmatch(r"[23]\.\d{1,2}", item):
            hint = " or 'all'" if isinstance(value, tuple) else ""
            raise click.BadParameter(f"{item!r} is not a Python version X.Y (e.g. 3.12){hint}")
    return value


def _subdir(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--subdir``: one of conda's subdirs (rattler's ``Subdir.all()``);
    a near miss (``linux64``, ``linux_64``, ``osx-arm``, a wheel platform
    tag) is a usage error naming the subdir meant."""
    from .channel import subdir_hint

    hint = subdir_hint(value)
    if hint:
        raise click.BadParameter(hint)
    return value


def _plat(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[a-z0-9_]{1,64}", value):
        raise click.BadParameter(f"{value!r} is not a platform tag (e.g. manylinux_2_28_x86_64)")
    return value


def _native_prefix(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]{0,63})?", value):
        raise click.BadParameter(f"{value!r} is not a distribution-name prefix (up to 64 letters, digits, '.', '_', '-')")
    return value


def _naming_options(function: F) -> F:
    """Options shared by both commands: naming, ``--plat``, channel
    priority and what fat wheels vendor."""
    function = click.option(
        "--compression-level", "compression_level", type=click.IntRange(0, 9), default=6, show_default=True,
        help="zlib level of the wheel members: 0 is fastest and largest, 9 smallest and slowest (any level "
             "gives the same files after installation).")(function)
    function = click.option(
        "--strip", is_flag=True,
        help="Remove the symbol table and debug sections from the ELF files a wheel ships and vendors, after "
             "relocation (strip -s, auditwheel's --strip); the bytes saved are reported.")(function)
    function = click.option(
        "--include-dev", is_flag=True,
        help="With --fatten, keep vendored headers, pkg-config and CMake files (left out by default).")(function)
    function = click.option(
        "--exclude", "exclude", multiple=True, metavar="GLOB",
        help="With --fatten, do not vendor files or libraries matching GLOB (fnmatch on the path inside the "
             "package, e.g. 'share/terminfo/*', or the file name, e.g. 'libcurl.so.*'; repeatable). An excluded "
             "library is expected on the target system (auditwheel's --exclude).")(function)
    function = click.option(
        "--channel-priority", type=click.Choice(list(CHANNEL_PRIORITIES)), default="strict",
        show_default=True,
        help="conda's channel priority: strict takes a package only from the highest channel that has it; "
             "flexible falls back to lower channels when the solve needs it; disabled takes the highest version "
             "from any channel.")(function)
    function = click.option(
        "--plat", metavar="TAG", callback=_plat,
        help="Fail any Linux wheel that needs more than this manylinux policy allows, naming the file, library "
             "and symbol version (auditwheel's --plat), e.g. manylinux_2_28_x86_64 or manylinux2014_x86_64.")(function)
    function = click.option(
        "--native-prefix", callback=_native_prefix, metavar="PREFIX",
        help="Distribution-name prefix of packages with no Python distribution (native libraries, tools) "
             "[default: their channel's name, e.g. conda-forge-]. See docs/metadata.md.")(function)
    function = click.option(
        "--name-mapping", "name_mapping", multiple=True, metavar="FILE",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="JSON file of conda name -> [PyPI names] or null, overriding the shipped conda-forge mapping "
             "(repeatable, later files win).")(function)
    return function


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("targets", nargs=-1, required=False, metavar="SPEC_OR_ARTIFACT...")
@click.option("-c", "--channel", "channels", multiple=True, metavar="CHANNEL",
              help=f"Channel name, URL or local directory; repeatable, highest priority first [default: {DEFAULT_CHANNEL}].")
@click.option("--file", "lock_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="FILE",
              help="Convert exactly a locked environment, with no solve: an @EXPLICIT file (conda list --explicit "
                   "--md5), conda-lock.yml or pixi.lock (conda's --file). Artifacts come from their URLs, or by file "
                   "name from -c directories, checked against the locked hashes.")
@click.option("--environment", metavar="NAME",
              help="With --file FILE a pixi.lock: the environment to convert [default: default].")
@click.option("--subdir", default=native_subdir, show_default="this machine's", callback=_subdir,
              help="Target conda subdir, e.g. linux-64.")
@click.option("--python", "pythons", multiple=True, metavar="X.Y|all", callback=_python_version,
              help="Target interpreter version, repeatable; 'all': every version the channel has builds of the "
                   "specs for, newest first [default: the one running press].")
@click.option("--fatten/--thin", default=False, help="Vendor the non-Python closure into one wheel per spec [default: thin].")
@click.option("--bundle-python-deps", is_flag=True, help="With --fatten, merge Python dependencies into the wheel too.")
@click.option("-w", "--wheel-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("wheelhouse"),
              show_default=True, help="Directory to write wheels to.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="Download and index cache.")
@click.option("--validate/--no-validate", default=True, show_default=True,
              help="Install each wheel into a fresh venv and run its import tests.")
@click.option("--wheelhouse-check/--no-wheelhouse-check", "check", default=True, show_default=True,
              help="Resolve the wheels written against the wheel directory alone (uv or pip, offline); "
                   "a wheel that does not install makes the run fail.")
@click.option("--python-exe", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Interpreter to validate with [default: found by --python version].")
@click.option("--repodata-patch", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="JSON patch instructions per subdir for local directory channels (channel hotfixes).")
@click.option("--prefer", "prefer", multiple=True, metavar="NAME",
              help="When packages merged into one wheel ship the same path with different bytes, keep NAME's copy "
                   "(repeatable, earliest wins; without it such a clash is an error).")
@_naming_options
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also list, per wheel, its notes, vendored libraries and every file still holding the build prefix.")
@click.version_option(__version__, prog_name="press")
def main(targets: tuple[str, ...], channels: tuple[str, ...], subdir: str, pythons: tuple[str, ...], fatten: bool,
         bundle_python_deps: bool, wheel_dir: Path, cache_dir: Path | None, validate: bool, check: bool,
         python_exe: Path | None, repodata_patch: Path | None, prefer: tuple[str, ...], compression_level: int, include_dev: bool,
         strip: bool, exclude: tuple[str, ...],
         channel_priority: str, plat: str | None, name_mapping: tuple[Path, ...], native_prefix: str | None,
         as_json: bool, quiet: bool, verbose: bool, lock_file: Path | None = None,
         environment: str | None = None) -> None:
    """Convert conda packages (MatchSpecs or .conda/.tar.bz2 files, or a lock file) into wheels.

    \b
    Other commands:
      press channel CHANNEL -w DIR   a whole channel into a wheelhouse with a PEP 503/691 index
      press show WHEEL|SPEC|FILE     a wheel's tags and why, libraries, metadata and conda sources,
                                     or what press would write for conda input
      press name-mapping [NAME...]   show or --refresh the conda -> PyPI name mapping
    (each has its own --help)."""
    options = ConvertOptions(
        channels=list(channels) or [DEFAULT_CHANNEL],
        subdir=subdir,
        python=None,
        fatten=fatten,
        bundle_python_deps=bundle_python_deps,
        wheel_dir=wheel_dir,
        cache_dir=cache_dir,
        validate=validate,
        check=check,
        python_exe=python_exe,
        repodata_patch=repodata_patch,
        prefer=list(prefer),
        name_mapping=list(name_mapping),
        native_prefix=native_prefix,
        plat=plat,
        channel_priority=channel_priority,
        exclude=list(exclude),
        include_dev=include_dev,
        compresslevel=compression_level,
        strip=strip,
    )
    progress = (lambda message: None) if quiet else (lambda message: click.echo(f"press: {message}", err=True))
    run = _lock_run(lock_file, environment, targets, pythons, options) or (
        lambda said: convert_pythons(list(targets), options, list(pythons), progress=said))
    try:
        if LiveProgress.wanted(quiet):
            with LiveProgress() as live:
                report = run(live.message)
        else:
            report = run(progress)
    except PressError as exc:
        _fail(exc, as_json)
    _print_conversion(report, as_json, verbose)
    if not report.ok:
        sys.exit(1)


def _print_conversion(report: ConversionReport, as_json: bool, verbose: bool, extra: dict[str, Any] | None = None,
                      lines: list[str] | None = None) -> None:
    """A conversion's report on stdout: one JSON document (with ``extra``
    keys) or a line per wheel and skipped artifact (then ``lines``)."""
    if as_json:
        import json

        click.echo(json.dumps({**json.loads(report.to_json()), **(extra or {})}, indent=2, sort_keys=True)
                   if extra else report.to_json())
    else:
        width = _terminal_width()

        def echo(line: str, indent: str = "    ") -> None:
            for part in fit(line, width, indent):
                click.echo(part)

        for wheel in report.wheels:
            echo(wheel.summary())
            for line in wheel.placeholder_lines():
                echo(line)
            if verbose:
                for line in wheel.detail_lines():
                    echo(line)
            if wheel.validation and wheel.validation.status != "passed":
                echo(f"  validation {wheel.validation.status}: {wheel.validation.reason}")
        for artifact, reason in report.skipped:  # input may name them: shown escaped
            echo(_one_line(f"{artifact}: {reason}"))
        for line in lines or []:
            echo(line)
        for problem in report.unresolvable:
            click.echo(f"press: error: {problem}", err=True)
    if any(w.validation and w.validation.sandbox == "off" for w in report.wheels):
        from .sandbox import WARNING

        click.echo(f"press: warning: {WARNING}", err=True)


def _lock_run(lock_file: Path | None, environment: str | None, targets: tuple[str, ...], pythons: tuple[str, ...],
              options: ConvertOptions) -> Callable[[Callable[[str], None]], Any] | None:
    """``press --file``: the conversion of the lock file (None without one),
    after the usage checks: no SPEC_OR_ARTIFACT beside it, one --python at
    most, --environment only with it."""
    if lock_file is None:
        if environment is not None:
            raise click.UsageError("--environment chooses an environment of a pixi.lock given with --file")
        if not targets:
            raise click.UsageError("missing SPEC_OR_ARTIFACT... (or --file FILE, a lock file)")
        return None
    if targets:
        raise click.UsageError("--file converts exactly the locked environment: give no SPEC_OR_ARTIFACT with it")
    if len(pythons) > 1 or "all" in pythons:
        raise click.UsageError("--file converts for the lock file's Python: give one --python at most")
    from .convert import convert_lock

    options.python = pythons[0] if pythons else None
    return lambda said: convert_lock(lock_file, options, said, environment or "default")


class LiveProgress:
    """A live progress display on a terminal, drawn by rich on stderr: a
    spinner, the current step, a bar with its count (``[i/n]`` in a
    conversion's messages: fetching with the megabytes, building with the
    relocation and compression under way, validating; the jobs of a batch),
    the time elapsed and, once it means something
    (:func:`press.batch.remaining_seconds`), the time left. Each phase
    (solving, fetching, building, validating, the wheelhouse check, the
    index) starts its own bar; a phase without a count shows none.
    Results (wheels written, failures) stay printed above it, fitted to the
    terminal's width. Used only when stderr is a terminal and ``-q`` is not
    given; otherwise press prints plain lines."""

    #: first words of the messages that start a phase of their own
    PHASES = ("solving", "fetching", "unpacking", "building", "validating", "installing", "checking", "making",
              "wheelhouse", "writing", "reading", "converting")

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.table import Column

        count, eta = _rich_columns()
        self.console = Console(stderr=True)
        self.display = Progress(SpinnerColumn(),
                                TextColumn("{task.description}", markup=False,
                                           table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
                                BarColumn(bar_width=16), count(), TimeElapsedColumn(), eta(),
                                console=self.console, transient=True, expand=True)
        self.task = self.display.add_task("press", total=None)
        self.phase = ""
        self.base: int | None = None  # the count the current bar started at (set by its first count)

    @staticmethod
    def wanted(quiet: bool) -> bool:
        """Whether to draw it: stderr is a terminal and not ``-q``."""
        return not quiet and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"

    def __enter__(self) -> "LiveProgress":
        self.display.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.display.stop()

    def _new_phase(self, phase: str, description: str) -> None:
        """A new bar: its own count, elapsed time and rate (no stale count or ETA)."""
        self.display.remove_task(self.task)
        self.task = self.display.add_task(description, total=None)
        self.phase = phase
        self.base = None  # the count this bar started at: its ETA counts only what it saw done

    def _keep(self, text: str) -> None:
        """Print a line above the display, broken at spaces to the terminal's width."""
        for line in fit(f"press: {_one_line(text)}", self.console.width):
            self.display.console.print(line, markup=False, highlight=False, overflow="ignore", crop=False)

    def message(self, text: str) -> None:
        """A conversion's status message."""
        first = text.split(" ", 1)[0].rstrip(":")
        phase = first if first in self.PHASES else self.phase
        if phase == "unpacking" and self.phase == "fetching":
            phase = "fetching"  # each fetch is followed by its unpacking: one phase
        counted = re.search(r" \[(\d+)/(\d+)\]", text)
        if counted:
            text = text[:counted.start()] + text[counted.end():]  # the count has its own column
        description = self._squeeze(_one_line(text))
        if phase != self.phase or first in ("solving", "converting"):
            self._new_phase(phase, description)
        if counted:
            done = int(counted.group(1)) - 1
            if self.base is None:  # a phase resumed after another (validation after making test requirements)
                self.base = done
            self.display.update(self.task, completed=done, total=int(counted.group(2)), base=self.base)
        if text.startswith(("wrote ", "converting for")) or re.match(r"validating \d", text) or "error" in text:
            self._keep(text)
        self.display.update(self.task, description=description, refresh=True)  # every step drawn, however short

    def _squeeze(self, text: str) -> str:
        """A description for the room the other columns leave: its longest
        words (file names) shortened first, so the step and its detail stay
        readable (the column cuts what is still too long)."""
        room = max(self.console.width - 42, 24)
        words = text.split(" ")
        while len(" ".join(words)) > room:
            longest = max(range(len(words)), key=lambda i: len(words[i]))
            shorter = shorten(words[longest], max(len(words[longest]) - (len(" ".join(words)) - room), 12))
            if shorter == words[longest]:
                break
            words[longest] = shorter
        return " ".join(words)

    def job(self, state: Any) -> None:
        """A batch job finished (:class:`press.batch.Progress`)."""
        last = state.last
        description = self._squeeze(f"{state.converted} converted, {state.failed} failed: {last.artifact}")
        if self.phase != "converting":  # a batch's jobs follow its "converting N artifacts"
            self._new_phase("converting", description)
        self.display.update(self.task, completed=state.done, total=state.total, eta=state.eta_seconds,
                            eta_at=time.monotonic(), description=description)
        if last.status == "failed":
            self._keep(f"failed {last.artifact}: {last.reason}")


def _rich_columns() -> tuple[type, type]:
    """The count and ETA columns of :class:`LiveProgress` (rich is imported only for a live display)."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class Count(ProgressColumn):
        """``i/n``; nothing while the phase has no count (never ``0/?``)."""

        def render(self, task: Task) -> Text:
            if task.total is None:
                return Text("")
            return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")

    class Eta(ProgressColumn):
        """``ETA h:mm:ss`` once it means something (:func:`press.batch.remaining_seconds`:
        a few items finished, a few seconds spent; a batch passes its own,
        weighted by archive size), else nothing (never ``-:--:--``)."""

        def render(self, task: Task) -> Text:
            from .batch import remaining_seconds

            if "eta" in task.fields:  # counted down between the jobs that update it
                given = task.fields["eta"]
                left = None if given is None else max(given - (time.monotonic() - task.fields["eta_at"]), 0.0)
            elif task.total is None:
                left = None
            else:
                base = task.fields.get("base") or 0
                seen = task.completed - base
                left = remaining_seconds(task.elapsed or 0.0, seen, task.total - base, int(seen))
            if left is None:
                return Text("")
            minutes, seconds = divmod(int(left + 0.5), 60)
            return Text(f"ETA {minutes // 60}:{minutes % 60:02d}:{seconds:02d}", style="progress.remaining")

    return Count, Eta


def _terminal_width() -> int | None:
    """The columns of the terminal stdout is, or None when stdout is not a
    terminal (a file or pipe gets the summary lines unbroken)."""
    import shutil

    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def _fail(exc: PressError, as_json: bool) -> None:
    """One ``press: error:`` line on stderr (and, with ``--json``, one JSON
    document ``{"ok": false, "error": {...}}`` on stdout); exit 1."""
    if as_json:
        import json

        click.echo(json.dumps({"ok": False, "error": exc.to_dict(), "exit_status": EXIT_FAILED}, indent=2,
                              sort_keys=True))
    click.echo(f"press: error: {_one_line(str(exc))}", err=True)
    sys.exit(EXIT_FAILED)


def _one_line(text: str) -> str:
    """An error message on one line: control characters that input may carry
    (newlines in a hostile name) are shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("channel_arg", metavar="CHANNEL", required=False)
@click.option("-c", "--channel", "channel_opt", metavar="CHANNEL",
              help="The channel (name, URL or local directory), as conda spells it; same as the CHANNEL argument.")
@click.option("--subdir", default=native_subdir, show_default="this machine's", callback=_subdir,
              help="Target conda subdir (noarch is always included).")
@click.option("-w", "--wheel-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Wheelhouse to write: wheels plus a PEP 503/691 index in WHEEL_DIR/simple.")
@click.option("-n", "--name", "names", multiple=True, metavar="GLOB", help="Only packages whose name matches GLOB (repeatable).")
@click.option("--python", "pythons", multiple=True, metavar="X.Y|all", callback=_python_version,
              help="Convert for this Python (repeatable); 'all': every Python the channel has builds for "
                   "[default: the one running press].")
@click.option("--latest", is_flag=True, help="Only the newest version/build of each name (per Python).")
@click.option("--fatten/--thin", default=False, help="Vendor each package's non-Python closure [default: thin].")
@click.option("--bundle-python-deps", is_flag=True, help="With --fatten, merge Python dependencies too.")
@click.option("--prefer", multiple=True, metavar="NAME", help="Whose copy wins when merged packages clash (see press -h).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=lambda: os.cpu_count() or 1, show_default="CPU count",
              help="Worker processes on this machine.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run the jobs on a Dask distributed scheduler (tcp://host:port); needs pip install 'press[dask]'.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="Download and index cache.")
@click.option("--repodata-patch", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Patch instructions for a local directory channel (see press -h).")
@click.option("--validate/--no-validate", default=False, show_default=True,
              help="After the jobs, install the wheels written into one fresh venv per Python and run their "
                   "import tests; a failing wheel fails its job. Off by default for a batch (press itself "
                   "validates by default).")
@click.option("--wheelhouse-check/--no-wheelhouse-check", "check", default=True, show_default=True,
              help="After the jobs, resolve every wheel written, for each target Python, against the wheel "
                   "directory alone (uv or pip, offline); a wheel that does not install fails its job.")
@click.option("--file", "lock_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="FILE",
              help="Make the wheelhouse of exactly a locked environment (@EXPLICIT, conda-lock.yml or pixi.lock, "
                   "as press --file), with its index; CHANNEL, when given, is a local mirror to find the "
                   "artifacts in by file name.")
@click.option("--environment", metavar="NAME", help="With --file FILE a pixi.lock: the environment [default: default].")
@_naming_options
@click.option("--json", "as_json", is_flag=True, help="Print the batch report as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.option("-v", "--verbose", is_flag=True, help="List every skipped artifact and every job's notes in the summary.")
def channel_main(channel_arg: str | None, channel_opt: str | None, subdir: str, wheel_dir: Path, names: tuple[str, ...], pythons: tuple[str, ...],
                 latest: bool, fatten: bool, bundle_python_deps: bool, prefer: tuple[str, ...], jobs: int,
                 scheduler: str | None, cache_dir: Path | None, repodata_patch: Path | None, validate: bool,
                 check: bool, compression_level: int, include_dev: bool, strip: bool, exclude: tuple[str, ...],
                 channel_priority: str,
                 plat: str | None,
                 name_mapping: tuple[Path, ...], native_prefix: str | None, as_json: bool, quiet: bool,
                 verbose: bool, lock_file: Path | None = None, environment: str | None = None) -> None:
    """Convert a whole channel (or the part --name/--python/--latest select) into a
    wheelhouse that pip and uv install from. Re-runs convert only what changed."""
    from .batch import BatchOptions, convert_channel

    if channel_arg and channel_opt and channel_arg != channel_opt:
        raise click.UsageError(f"two channels given ({channel_arg!r} and -c {channel_opt!r}): a batch converts one")
    if lock_file is not None:
        if names or latest or scheduler or len(pythons) > 1 or "all" in pythons:
            raise click.UsageError("--file makes the wheelhouse of exactly the locked environment, for its Python: "
                                   "no --name, --latest, --scheduler, or more than one --python")
        convert_options = ConvertOptions(
            channels=[c for c in (channel_arg or channel_opt,) if c], subdir=subdir,
            python=pythons[0] if pythons else None, fatten=fatten, bundle_python_deps=bundle_python_deps,
            wheel_dir=wheel_dir, cache_dir=cache_dir, validate=validate, check=check, repodata_patch=repodata_patch,
            prefer=list(prefer), name_mapping=list(name_mapping), native_prefix=native_prefix, plat=plat,
            channel_priority=channel_priority, exclude=list(exclude), include_dev=include_dev,
            compresslevel=compression_level, strip=strip)
        _lock_wheelhouse(lock_file, environment or "default", convert_options, as_json, quiet, verbose)
        return
    if environment is not None:
        raise click.UsageError("--environment chooses an environment of a pixi.lock given with --file")
    if not (channel_arg or channel_opt):
        raise click.UsageError("which channel? give it as CHANNEL or -c CHANNEL (a name, URL or local directory)")
    options = BatchOptions(
        channel=channel_arg or channel_opt or "", subdir=subdir, wheel_dir=wheel_dir, names=list(names), pythons=list(pythons),
        latest=latest, fatten=fatten, bundle_python_deps=bundle_python_deps, prefer=list(prefer),
        cache_dir=cache_dir, jobs=jobs, scheduler=scheduler, repodata_patch=repodata_patch,
        name_mapping=list(name_mapping), native_prefix=native_prefix, plat=plat,
        channel_priority=channel_priority, exclude=list(exclude), include_dev=include_dev, validate=validate,
        compresslevel=compression_level, check=check, strip=strip,
    )

    def progress(state: Any) -> None:
        last = state.last
        detail = last.reason if last.status != "converted" else ", ".join(last.wheels)
        eta = f" (ETA {_duration(state.eta_seconds)})" if state.eta_seconds is not None else ""
        click.echo(f"press: [{state.done}/{state.total}] {last.status} {last.artifact}: {detail}{eta}", err=True)

    def message(text: str) -> None:
        click.echo(f"press: {text}", err=True)

    try:
        if LiveProgress.wanted(quiet):
            with LiveProgress() as live:
                report = convert_channel(options, progress=live.job, messages=live.message)
        else:
            report = convert_channel(options, progress=None if quiet else progress, messages=None if quiet else message)
    except PressError as exc:
        _fail(exc, as_json)
    click.echo(report.to_json() if as_json else report.table(verbose=verbose, width=_terminal_width()))
    if validate and os.environ.get("PRESS_SANDBOX", "").strip().lower() == "off":
        from .sandbox import WARNING

        click.echo(f"press: warning: {WARNING}", err=True)
    if not report.ok:
        sys.exit(1)


def _lock_wheelhouse(lock_file: Path, environment: str, options: ConvertOptions, as_json: bool, quiet: bool,
                     verbose: bool) -> None:
    """``press channel --file``: the locked environment converted into the
    wheel directory (:func:`press.convert.convert_lock`), then its PEP
    503/691 index written (:func:`press.index.write_index`); exits 1 when
    the conversion failed."""
    from .convert import convert_lock
    from .index import write_index

    def progress(message: str) -> None:
        if not quiet:
            click.echo(f"press: {message}", err=True)

    try:
        if LiveProgress.wanted(quiet):
            with LiveProgress() as live:
                report = convert_lock(lock_file, options, live.message, environment)
                live.message("writing the index")
                index = write_index(Path(options.wheel_dir))
        else:
            report = convert_lock(lock_file, options, progress, environment)
            progress("writing the index")
            index = write_index(Path(options.wheel_dir))
    except PressError as exc:
        _fail(exc, as_json)
    _print_conversion(report, as_json, verbose, {"projects": len(index.projects), "index_warnings": index.warnings()},
                      [f"warning: {w}" for w in index.warnings()] + [f"{len(index.projects)} projects in the index"])
    if not report.ok:
        sys.exit(1)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("targets", nargs=-1, required=True, metavar="WHEEL_OR_SPEC_OR_ARTIFACT...")
@click.option("-c", "--channel", "channels", multiple=True, metavar="CHANNEL",
              help=f"For specs: channel name, URL or directory (repeatable) [default: {DEFAULT_CHANNEL}].")
@click.option("--subdir", default=native_subdir, show_default="this machine's", callback=_subdir,
              help="Target conda subdir.")
@click.option("--python", "python", metavar="X.Y", callback=_python_version,
              help="Target interpreter version [default: the one running press].")
@click.option("--fatten/--thin", default=False, help="Show the fat wheel press would write [default: thin].")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="Download and index cache.")
@click.option("--repodata-patch", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Patch instructions for a local directory channel (see press -h).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Accepted for symmetry with press: show prints no progress.")
def show_main(targets: tuple[str, ...], channels: tuple[str, ...], subdir: str, python: str | None, fatten: bool,
              cache_dir: Path | None, repodata_patch: Path | None, as_json: bool, quiet: bool) -> None:
    """Show a wheel (tags and why they hold, where each library resolves,
    METADATA, the conda artifacts it came from), or the wheels press would
    write for conda specs or artifact files (nothing is written; input press
    refuses is shown as the refusal)."""
    import json

    from .show import show_conda, show_wheel

    wheels = [t for t in targets if t.endswith(".whl")]
    conda = [t for t in targets if t not in wheels]
    try:
        views = [show_wheel(Path(t)) for t in wheels]
        if conda:
            options = ConvertOptions(channels=list(channels) or [DEFAULT_CHANNEL], subdir=subdir, python=python,
                                     fatten=fatten, cache_dir=cache_dir, repodata_patch=repodata_patch)
            views += show_conda(conda, options)
    except PressError as exc:
        _fail(exc, as_json)
    if as_json:
        click.echo(json.dumps({"ok": True, "wheels": [v.to_dict() for v in views]}, indent=2, sort_keys=True))
    else:
        click.echo("\n\n".join("\n".join(v.lines()) for v in views))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--refresh", is_flag=True, help="Download the current mapping into the cache (used from then on).")
@click.option("--url", default=None, metavar="URL", help="Where to download it from [default: parselmouth's].")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), help="Cache to keep it in.")
@click.option("--name-mapping", "name_mapping", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Overrides to show merged.")
@click.argument("conda_names", nargs=-1, metavar="[CONDA_NAME...]")
def name_mapping_main(refresh: bool, url: str | None, cache_dir: Path | None, name_mapping: tuple[Path, ...],
                      conda_names: tuple[str, ...]) -> None:
    """Show or refresh the conda -> PyPI name mapping (conda-forge's, from
    prefix-dev/parselmouth): the sources in use, and the entries of CONDA_NAMEs."""
    from .convert import default_cache_dir
    from .names import MAPPING_URL, load_mapping, refresh_mapping

    cache = Path(cache_dir or default_cache_dir())
    try:
        if refresh:
            path, count = refresh_mapping(cache, url or MAPPING_URL)
            click.echo(f"press: refreshed the name mapping: {count} entries in {path}", err=True)
        mapping = load_mapping(cache, tuple(name_mapping))
    except PressError as exc:
        click.echo(f"press: error: {_one_line(str(exc))}", err=True)
        sys.exit(1)
    click.echo(f"sources: {', '.join(mapping.sources)} ({len(mapping.entries)} entries)")
    for conda_name in conda_names:
        value = mapping.get(conda_name)
        shown = ", ".join(value) if value else ("null (no Python distribution)" if mapping.knows(conda_name)
                                                else "not in the mapping")
        click.echo(f"{conda_name}: {shown}")


#: Exit statuses (docs/cli.md): what scripts may rely on.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: The subcommands, by the word that names them.
SUBCOMMANDS: dict[str, tuple[click.Command, str]] = {}


def _split_subcommand(argv: list[str]) -> tuple[str | None, list[str]]:
    """Find a subcommand word after global options: ``press -q show X.whl``
    is ``press show -q X.whl``. Options before the word are moved after it
    (the subcommand then accepts or refuses them); an option that takes a
    value (``-c conda-forge``) carries it along. Returns the subcommand (or
    None for a conversion) and the arguments for it."""
    takes_value = {name for param in main.params if isinstance(param, click.Option) and not param.is_flag
                   and not param.count for name in param.opts}
    position = 0
    while position < len(argv):
        word = argv[position]
        if word == "--" or not word.startswith("-") or word == "-":
            break
        position += 2 if word in takes_value else 1
    if position < len(argv) and argv[position] in SUBCOMMANDS:
        return argv[position], argv[:position] + argv[position + 1:]
    return None, argv


def _usage_message(exc: click.UsageError) -> str:
    """A usage error in one line, with the fix for the mistakes users make:
    ``--platform`` (conda's name is ``--subdir``; a wheel platform tag is
    ``--plat``)."""
    message = exc.format_message()
    if isinstance(exc, click.NoSuchOption) and exc.option_name.split("=")[0] in ("--platform", "--platform-tag"):
        message = (f"no such option {exc.option_name.split('=')[0]}: the conda platform to convert for is --subdir "
                   f"(e.g. --subdir linux-64, osx-arm64, win-64); a manylinux policy to check against is --plat")
    return _one_line(" ".join(message.split()))


def _fail_outside(kind: str, message: str, status: int, as_json: bool) -> None:
    """A failure that is not a :class:`PressError` (usage, interrupt,
    internal error): one ``press: error:`` line on stderr, and with
    ``--json`` one JSON document on stdout; exit ``status``."""
    if as_json:
        import json

        error = {"type": kind, "package": None, "field": None, "reason": message, "message": message}
        click.echo(json.dumps({"ok": False, "error": error, "exit_status": status}, indent=2, sort_keys=True))
    click.echo(f"press: error: {message}", err=True)
    sys.exit(status)


def entry(argv: list[str] | None = None) -> None:
    """The console script: ``press channel ...`` runs the batch, ``press show
    ...`` and ``press name-mapping ...`` their commands (also after global
    options: ``press -q show X.whl``), anything else a conversion.

    The contract for scripts (docs/cli.md): exit status 0 when everything
    asked for succeeded, 1 when a conversion, validation or check failed
    (or an internal error), 2 for a usage error, 130 when interrupted
    (Ctrl-C, SIGINT or SIGTERM; the run's unfinished wheels are removed); with ``--json`` exactly one JSON document on stdout
    in every case. No traceback reaches a user: an exception that is not a
    :class:`~press.errors.PressError` (a bug, or a library failing on input
    the boundary let through) is one ``press: error: internal error: ...``
    line; ``PRESS_DEBUG=1`` shows the traceback instead."""
    import signal

    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM unwinds as Ctrl-C does: cleanup runs, status 130

    signal.signal(signal.SIGTERM, terminated)
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args[:args.index("--")] if "--" in args else "--json" in args
    name, rest = _split_subcommand(args)
    command, prog = SUBCOMMANDS[name] if name else (main, "press")
    try:
        status = command.main(args=rest, prog_name=prog, standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (see '{prog} --help')"
        _fail_outside("UsageError", _usage_message(exc) + hint, EXIT_USAGE, as_json)
    except (KeyboardInterrupt, click.Abort):
        _fail_outside("Interrupted", "interrupted", EXIT_INTERRUPTED, as_json)
    except click.ClickException as exc:
        _fail_outside(type(exc).__name__, _one_line(exc.format_message()), EXIT_FAILED, as_json)
    except Exception as exc:
        if os.environ.get("PRESS_DEBUG"):
            raise
        text = _one_line(" ".join(str(exc).split())[:500])
        _fail_outside("InternalError", f"internal error: {type(exc).__name__}: {text} (PRESS_DEBUG=1 shows the traceback)",
                      EXIT_FAILED, as_json)
    sys.exit(status if isinstance(status, int) else EXIT_OK)


SUBCOMMANDS.update({"channel": (channel_main, "press channel"), "show": (show_main, "press show"),
                    "name-mapping": (name_mapping_main, "press name-mapping")})


if __name__ == "__main__":  # pragma: no cover
    entry()
