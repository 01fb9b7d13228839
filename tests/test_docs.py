"""The docs are true: every fenced code block of README.md and docs/*.md is found
here and checked by its kind, so the docs and press cannot drift (issue 23).

- ``console``: each ``$ command`` runs (bash, in a scratch directory) and its stdout
  must match the lines below it, with runs of white space counted as one space, ``...``
  standing for any text (doctest's NORMALIZE_WHITESPACE and ELLIPSIS) and durations
  (``44.6 s``) not compared. Every command must exit 0 (a doc that shows a failure says
  so with ``; echo "exit status $?"``). A command shown without output: its exit status
  only.
- ``sh``: the block runs as one bash script with ``set -e``.
- ``python``: runs (docs/api.md's release script is run by tests/test_api.py).
- plain (no language): usage synopses; ``json``: what press writes, checked against a
  real run (:data:`JSON_SOURCES`). A block of any other kind (``text``...) fails the
  inventory: output goes in a ``console`` block under the command that prints it.
- Every ``press`` command named anywhere (blocks, inline code, cli.md's option tables)
  uses only options that command's ``--help`` lists.

Commands run as a reader would run them, with what a reader has: ``press``, ``uv`` and
``python`` of this venv on ``PATH``, and a fresh CPython 3.12 venv with pip for ``pip``.
Placeholders are directories of the scratch directory (``OUT``, ``DIR``) or
:data:`PLACEHOLDERS`; ``../shared/channels`` and ``tests/data`` are this checkout's. The
channel name ``conda-forge`` (unreachable here) is the sample channel, indexed with
rattler, with conda-forge's repodata hotfix applied as conda-forge serves it, on
127.0.0.1. The blocks of README's set-up section are checked elsewhere
(:data:`SKIPPED_SECTIONS`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import CHANNELS, CONDA_FORGE, HOTFIX, ROOT, serve
from press.channel import apply_patch_instructions, load_repodata_patch

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: (doc, section heading): blocks not run here, and why.
SKIPPED_SECTIONS = {
    ("README.md", "On a fresh machine"): "the set-up commands: a fresh clone's set-up is checked by .ci/run",
    ("docs/safety.md", "Tests"): "a developer's set-up (the fuzz extra into .venv) and a 10-minute fuzz run",
}
#: (doc, section heading, language) -> the test file that runs that block as it stands.
COVERED_ELSEWHERE = {("docs/api.md", "A release script", "python"): "tests/test_api.py",
                     ("docs/layout.md", "Native-library wheels: pkg-config, CMake and load_library()", "python"):
                     "tests/test_native_conventions.py"}
#: Blocks run in the default test run (by doc); the others are end-to-end and ``slow``.
FAST_DOCS = {"README.md"}
#: Upper-case placeholders of the docs' commands and what a test gives for them
#: (``OUT`` and ``DIR`` stay: directories of the scratch directory).
PLACEHOLDERS = {"NAME": "pycparser"}
#: What a block's commands presuppose a reader did before (by a text the block holds):
#: the commands run first, in the same scratch directory.
PRECONDITIONS = {
    "file://$PWD/DIR/simple": ["press channel conda-forge --subdir linux-64 --python 3.12 -n NAME -w DIR"],
    "unzip -p libmambapy-": ["press channel ../shared/channels/conda-forge --subdir linux-64 --python 3.12 --fatten "
                             "-n libmambapy --repodata-patch tests/data/conda-forge-hotfix-libzlib.json -w .",
                             "test -e libmambapy-1.5.12-*.whl"],
}
#: (doc, section) of a ``json`` block -> (commands that write it, the file it shows an entry of, key
#: identifying the entry in that file's ``files``).
JSON_SOURCES = {
    ("docs/sbom.md", "Where else it shows"): (
        PRECONDITIONS["unzip -p libmambapy-"], "simple/libmambapy/index.json", "filename"),
}
SUBCOMMANDS = ("channel", "show", "name-mapping")


@dataclass(frozen=True)
class Block:
    doc: str  # path relative to the repository
    line: int  # of the opening fence, 1-based
    lang: str
    text: str  # dedented to the fence's indentation
    section: str  # the nearest heading above, without its #s and backticks

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)\s*$")


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file (CommonMark fences, indented ones
    inside list items too)."""
    found, section, lines, i = [], "", path.read_text().splitlines(), 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            if re.match(r"^#{1,6} ", lines[i]):
                section = lines[i].lstrip("#").strip().replace("`", "")
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        end = i + 1
        while end < len(lines) and not re.match(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]):
            end += 1
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:end]]
        found.append(Block(str(path.relative_to(ROOT)), i + 1, opening["lang"], "\n".join(body) + "\n", section))
        i = end + 1
    return found


ALL = [block for doc in DOCS for block in blocks(doc)]


def skipped(block: Block) -> str | None:
    return SKIPPED_SECTIONS.get((block.doc, block.section))


def params(kind: str) -> list:
    return [pytest.param(b, id=str(b), marks=[] if b.doc in FAST_DOCS else [pytest.mark.slow])
            for b in ALL if b.lang == kind and not skipped(b) and (b.doc, b.section, b.lang) not in COVERED_ELSEWHERE]


# -- what every block is, and the options every press command names -------------------------------------------


def test_every_block_is_checked():
    """An unknown kind of block, a ``text`` block showing output, a json block with
    no source, a stale skip or cover: each is a failure naming the block."""
    problems = []
    for block in ALL:
        if block.lang not in ("console", "sh", "python", "json", ""):
            problems.append(f"{block}: a ```{block.lang} block is not checked: output goes in a ```console block "
                            f"under the '$ press ...' command that prints it")
        if block.lang == "" and not all(line.startswith("press ") for line in block.text.splitlines() if line.strip()):
            problems.append(f"{block}: a plain block is a usage synopsis ('press ...' lines)")
        if block.lang == "json" and (block.doc, block.section) not in JSON_SOURCES:
            problems.append(f"{block}: a json block needs its source in JSON_SOURCES")
        if block.lang == "console" and not block.text.startswith("$ "):
            problems.append(f"{block}: a console block starts with a '$ command' line")
    for doc, section in SKIPPED_SECTIONS:
        if not any(b.doc == doc and b.section == section for b in ALL):
            problems.append(f"SKIPPED_SECTIONS names {doc} '{section}', which has no block")
    for (doc, section, lang), test_file in COVERED_ELSEWHERE.items():
        covered = [b for b in ALL if (b.doc, b.section, b.lang) == (doc, section, lang)]
        source = (ROOT / test_file).read_text()
        if not covered or doc.split("/")[-1] not in source or section not in source:
            problems.append(f"{doc} '{section}' is to be run by {test_file}, which does not extract it")
    assert not problems, "\n".join(problems)


def test_skipped_blocks_name_what_exists():
    """A block not run here still names only files and extras that exist."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    missing = []
    for block in (b for b in ALL if skipped(b)):
        for path in re.findall(r"(?<![\w./-])((?:tests|requirements|scripts|docs|press|\.ci)/[\w./-]*\w)", block.text):
            if not (ROOT / path).exists():
                missing.append(f"{block}: {path} does not exist")
        for group in re.findall(r"\.\[([\w,-]+)\]", block.text):
            missing += [f"{block}: no extra [{name}] in pyproject.toml"
                        for name in group.split(",") if name not in extras]
    assert not missing, "\n".join(missing)


@pytest.fixture(scope="module")
def help_options() -> dict[str, set[str]]:
    """command ("press", "press channel", ...) -> the options its ``--help`` lists
    (click's help text, as ``--help`` prints it)."""
    import click

    from press.cli import SUBCOMMANDS as COMMANDS, main

    commands = {"press": main} | {f"press {sub}": COMMANDS[sub][0] for sub in SUBCOMMANDS}
    options = {}
    for name, command in commands.items():
        text = command.get_help(click.Context(command, info_name=name, terminal_width=200))
        declared = [m.group(1) for m in re.finditer(r"^  (-\S.*?)(?:\s{2,}|$)", text, re.M)]
        options[name] = {o for line in declared for o in re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", line)}
        assert "--help" in options[name] and "--cache-dir" in options[name], text
    return options


def press_commands() -> list[tuple[str, str]]:
    """(where, command) for every ``press`` command line the docs show: in blocks
    (console ``$`` lines, sh lines, synopses), inline code, and cli.md's option
    tables (as ``press [sub] OPTIONS``)."""
    found = []
    for block in ALL:
        for line in block.text.splitlines():
            if block.lang == "console":
                if not line.startswith("$ "):
                    continue  # output
                line = line[2:]
            for part in re.split(r"&&|;|\|\|?", line.split(" #")[0]):
                words = part.split()
                if words and Path(words[0]).name == "press":
                    found.append((str(block), " ".join(["press", *words[1:]])))
    for doc in DOCS:
        section = ""
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            where = f"{doc.relative_to(ROOT)}:{number}"
            if line.startswith("#"):
                section = line
            found += [(where, span) for span in re.findall(r"`(press(?: [^`]*)?)`", line)]
            if line.startswith("| `-") and doc.name == "cli.md":
                sub = next((s for s in SUBCOMMANDS if f"press {s}" in section), None)
                cell = re.split(r"(?<!\\)\|", line)[1]  # `--python X.Y\|all`: an escaped bar
                found.append((where, " ".join(["press", *([sub] if sub else []), *re.findall(r"`([^`]*)`", cell)])))
    return found


def test_every_press_command_in_the_docs_names_options_that_exist(help_options):
    """``press channel -x`` in a doc, where ``press channel --help`` has no ``-x``,
    fails here naming the doc line."""
    wrong = []
    commands = press_commands()
    assert len(commands) > 40  # blocks, inline code and both option tables were read
    for where, command in commands:
        words = command.split()[1:]
        sub = next((w for w in words if not w.startswith("-") and w in SUBCOMMANDS), None)
        known = help_options[f"press {sub}" if sub else "press"]
        for word in words:
            for option in re.findall(r"(?<![\w.-])--?[A-Za-z][\w-]*", word.strip("[]|")):  # --fatten/--thin: 2
                if option not in known:
                    wrong.append(f"{where}: {command!r}: {option} is not an option of "
                                 f"'press{' ' + sub if sub else ''} --help'")
    assert not wrong, "\n".join(wrong)


# -- running the blocks ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def conda_forge_url(tmp_path_factory):
    """The sample conda-forge channel (linux-64 and noarch) served as conda-forge
    serves it: indexed with rattler, the repodata hotfix applied."""
    from rattler.index import index_fs

    root = tmp_path_factory.mktemp("served") / "conda-forge"
    for sub in ("linux-64", "noarch"):
        (root / sub).mkdir(parents=True)
        for artifact in (CONDA_FORGE / sub).iterdir():
            if artifact.name.endswith((".conda", ".tar.bz2")):
                try:
                    os.link(artifact, root / sub / artifact.name)
                except OSError:
                    shutil.copyfile(artifact, root / sub / artifact.name)
    asyncio.run(index_fs(root, write_zst=False, write_shards=False, force=True))
    for sub, instructions in load_repodata_patch(HOTFIX).items():
        index = root / sub / "repodata.json"
        repodata = json.loads(index.read_text())
        apply_patch_instructions(repodata, instructions)
        index.write_text(json.dumps(repodata))
    server, url = serve(root.parent)
    yield f"{url}/conda-forge"
    server.shutdown()


def localise(command: str, channel_url: str) -> str:
    """A doc's command as it runs here: the channel name ``conda-forge`` is the
    served sample, repository-relative paths are this checkout's, placeholders
    get values."""
    command = re.sub(r"(?<![\w./-])conda-forge(?![\w./-])", channel_url, command)
    command = command.replace("../shared/channels", str(CHANNELS)).replace("tests/data/", f"{ROOT}/tests/data/")
    for placeholder, value in PLACEHOLDERS.items():
        command = re.sub(rf"\b{placeholder}\b", value, command)
    return command


@pytest.fixture()
def shell(tmp_path, cache_dir, conda_forge_url, py312):
    """run(command) -> CompletedProcess: bash in a scratch directory, as a reader's
    shell: this venv's press, uv and python, and a CPython 3.12 venv with pip (made
    on first use of ``pip``), pip's and uv's own configuration off."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(PRESS_CACHE_DIR=str(cache_dir), XDG_CACHE_HOME=str(cache_dir.parent / "xdg"), COLUMNS="200",
               PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", UV_NO_CONFIG="1",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
    venv = tmp_path / "venv"

    def run(command: str, script: bool = False) -> subprocess.CompletedProcess:
        """``script``: stop at the first command that fails (``set -e``)."""
        command = localise(command, conda_forge_url)
        if re.search(r"(?<![\w-])pip ", command) and not venv.exists():
            uv = shutil.which("uv", path=env["PATH"])
            ensurepip = subprocess.run([str(py312), "-c", "import ensurepip; print(ensurepip.__file__)"],
                                       capture_output=True, text=True, check=True).stdout.strip()
            bundled = Path(ensurepip).parent / "_bundled"  # the pip wheel `python -m venv` installs, offline
            subprocess.run([uv, "venv", "-q", "-p", str(py312), str(venv)], check=True, env=env)
            subprocess.run([uv, "pip", "install", "-q", "--python", str(venv), "--offline", "--no-index",
                            "--find-links", str(bundled), "pip"], check=True, env=env)
            env.update(VIRTUAL_ENV=str(venv), PATH=os.pathsep.join([str(venv / "bin"), env["PATH"]]))
        strict = ["-e", "-o", "pipefail"] if script else []
        return subprocess.run(["bash", *strict, "-c", command], cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=1800)

    run.scratch = scratch  # type: ignore[attr-defined]
    return run


def preconditions(block: Block, shell) -> None:
    for marker, commands in PRECONDITIONS.items():
        if marker in block.text:
            for command in commands:
                done = shell(command, script=True)
                assert done.returncode == 0, (f"{block}: before it: {command}\n"
                                              f"{done.stdout[-3000:]}{done.stderr[-3000:]}")


def console_steps(text: str) -> list[tuple[str, str]]:
    """A console block as (command, expected output) pairs; ``\\`` continues a command."""
    steps: list[tuple[str, list[str]]] = []
    continued = False
    for line in text.splitlines():
        if continued:
            steps[-1] = (steps[-1][0] + "\n" + line, steps[-1][1])
        elif line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
        continued = line.endswith("\\") and not steps[-1][1]
    return [(command, "\n".join(output)) for command, output in steps]


def _normal(text: str) -> str:
    return " ".join(re.sub(r"(?<![\w.])\d+(?:\.\d+)? s\b", "<seconds>", text).split())


def shows(expected: str, actual: str) -> bool:
    """Whether ``actual`` output is what ``expected`` shows: white space runs are
    one space, ``...`` any text, durations any duration."""
    parts = [_normal(part) for part in _normal(expected).split("...")]
    pattern = r".*?".join(re.escape(part) for part in parts)
    return re.fullmatch(pattern, _normal(actual), re.S) is not None


def test_output_matching_rules():
    """The normaliser: wrapping and durations do not count, elided text must be
    elided with ``...``, anything else counts."""
    assert shows("a  b\n   c 1.5 s", "a b c 12.0 s\n")
    assert shows("x ...\nz", "x y y y\nz")
    assert shows("[...] 7.1 MB", "[py3-none-any] 7.1 MB")
    assert not shows("7.1 MB", "7.2 MB")
    assert not shows("x\nz", "x y\nz")
    assert not shows("ab", "a b") and not shows("x", "x\ny")
    assert not shows("64 of 79 wheels install", "65 of 80 wheels install")


@pytest.mark.parametrize("block", params("console"))
def test_console_block(block, shell):
    preconditions(block, shell)
    for command, expected in console_steps(block.text):
        done = shell(command)
        assert done.returncode == 0, f"{block}: $ {command}: exit {done.returncode}\n{done.stdout}{done.stderr[-3000:]}"
        if expected.strip():
            assert shows(expected, done.stdout), (f"{block}: $ {command}\n--- the doc shows:\n{expected}\n"
                                                  f"--- press printed:\n{done.stdout}")


@pytest.mark.parametrize("block", params("sh"))
def test_sh_block(block, shell):
    preconditions(block, shell)
    done = shell(block.text, script=True)
    assert done.returncode == 0, f"{block}: exit {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    if "validate_str" in block.text:  # docs/sbom.md: the SBOM press wrote is valid CycloneDX 1.6
        assert done.stdout.splitlines()[-1] == "valid", done.stdout
        assert "pkg:conda/libmambapy@1.5.12?" in done.stdout


@pytest.mark.parametrize("block", params("python"))
def test_python_block(block, shell):
    preconditions(block, shell)
    (shell.scratch / "example.py").write_text(block.text)
    done = shell("python example.py")
    assert done.returncode == 0, f"{block}: exit {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


def like(shown, actual) -> bool:
    """Whether JSON ``actual`` is what the doc ``shown`` shows: its keys (others may
    be there), lists' items each matching one, ``"..."`` any value, a string ending
    in ``...`` a prefix."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(k in actual and like(v, actual[k]) for k, v in shown.items())
    if isinstance(shown, list):
        return isinstance(actual, list) and all(any(like(s, a) for a in actual) for s in shown)
    if isinstance(shown, str) and shown.endswith("..."):
        return isinstance(actual, str) and actual.startswith(shown[:-3])
    return shown == actual


@pytest.mark.parametrize("block", params("json"))
def test_json_block(block, shell):
    commands, path, key = JSON_SOURCES[(block.doc, block.section)]
    shown = json.loads(block.text)
    for command in commands:
        done = shell(command, script=True)
        assert done.returncode == 0, f"{block}: {command}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    written = json.loads((shell.scratch / path).read_text())
    (entry,) = [f for f in written["files"] if f[key] == shown[key]]
    assert like(shown, entry), f"{block}: the doc shows\n{json.dumps(shown, indent=1)}\npress wrote\n" \
                               f"{json.dumps(entry, indent=1)}"
