"""Text prefix placeholders rewritten so the files work after ``pip install``.

conda replaces the build prefix a package embeds (its prefix placeholder,
``info/paths.json``) with the environment's prefix at install time. An
installed wheel's location is only known when the file runs, so press
rewrites text placeholders where the file's format can find its own place:

- pkg-config files (``*.pc``): the placeholder becomes
  ``${pcfiledir}/..`` (one ``..`` per directory between the prefix and the
  file), the relocatable form pkg-config and pkgconf define;
- executable POSIX shell scripts (``#!/bin/sh``, ``bash``, ``dash``, also
  through ``/usr/bin/env``): a line after the shebang finds the prefix from
  the script's own path (``$0``) and exports it as ``__press_prefix`` (so a
  child ``sh -c`` sees it too), and the placeholder becomes
  ``${__press_prefix:?}`` (a shell that finds it unset stops rather than
  use an empty prefix), only when the whole script parses and every
  occurrence sits where the shell surely expands it (:mod:`press.shell`);
  any other script is left as it is and the reason is noted. Scripts that
  are sourced (not executable), where ``$0`` is the caller, are left alone.

Everything else that holds a placeholder (binary files, other languages,
data) is left as it is and reported; :mod:`press.environment` covers the
binaries whose libraries read a variable first.
"""

from __future__ import annotations

import re

from .contained import Root
from .layout import Layout
from .limits import limit
from .shell import Unsafe, substitute

#: A shebang of a POSIX shell, directly or through env.
_SHELL = re.compile(rb"^#![ \t]*(/usr)?/bin/(env[ \t]+)?(sh|bash|dash)([ \t]|\r?$)")
_PREFIX_VARIABLE = "__press_prefix"
#: What a placeholder becomes in a shell script: stops the shell when unset or empty.
_PREFIX_REFERENCE = b"${" + _PREFIX_VARIABLE.encode() + b":?}"

#: How a file's placeholder was made to work, by kind.
PKG_CONFIG = "rewritten: ${pcfiledir}"
SHELL = "rewritten: found from $0"


def _up(rel: str) -> str:
    """``/..`` once per directory between a prefix and the file at ``rel``."""
    return "/.." * rel.count("/")


def rewrite_text(data: bytes, rel: str, placeholder: str,
                 why: list[str] | None = None) -> tuple[bytes, str] | None:
    """``data`` (the file at prefix-relative ``rel``) with its text
    ``placeholder`` rewritten, and how (:data:`PKG_CONFIG` or
    :data:`SHELL`); None when the format gives no way to find the prefix.
    A shell script press reads but cannot prove it rewrites correctly
    (:class:`press.shell.Unsafe`) is None too, with the reason appended to
    ``why``."""
    token = placeholder.encode("utf-8")
    if token not in data:
        return None
    if rel.endswith(".pc"):
        return data.replace(token, b"${pcfiledir}" + _up(rel).encode()), PKG_CONFIG
    first, newline, rest = data.partition(b"\n")
    shebang = _SHELL.match(first)
    if not newline or not shebang or token in first or b"\r" in first:
        return None
    try:
        body = substitute(rest, token, _PREFIX_REFERENCE, shebang.group(3).decode())
    except Unsafe as unsafe:
        if why is not None:
            why.append(str(unsafe))
        return None
    finder = (f'{_PREFIX_VARIABLE}="$(CDPATH= cd -- "$(dirname -- "$0")"{_up(rel)} && pwd -P)"'
              f" && export {_PREFIX_VARIABLE}  # press: the conda prefix, found from this script's place\n")
    return first + newline + finder.encode() + body, SHELL


def rewrite_placeholders(layout: Layout, stage: Root) -> dict[str, str]:
    """Rewrite every text placeholder under ``layout.libs_dir`` that
    :func:`rewrite_text` can, writing the new bytes into ``stage`` (the
    layout then points at them). Returns archive name -> how."""
    done: dict[str, str] = {}
    prefix = f"{layout.libs_dir}/"
    scripts = 0  # shell scripts parsed, at most the shell_scripts limit
    for arc, staged in sorted(layout.files.items()):
        if not staged.placeholder or staged.placeholder_mode == "binary" or not arc.startswith(prefix):
            continue
        data = staged.root.read_bytes(staged.rel, limit("text_size") + 1)
        if len(data) > limit("text_size"):
            continue  # too large to be a script or pkg-config file: left and reported
        rel = arc[len(prefix):]
        if not rel.endswith(".pc") and not staged.mode & 0o100:
            continue  # a script that is not executable is sourced, where $0 is not its own path
        if not rel.endswith(".pc") and _SHELL.match(data):
            scripts += 1
            if scripts > limit("shell_scripts"):
                layout.notes.append(f"{arc}: shell script left as it is: more than {limit('shell_scripts')} in "
                                    "one wheel (PRESS_MAX_SHELL_SCRIPTS)")
                continue
        why: list[str] = []
        result = rewrite_text(data, rel, staged.placeholder, why)
        if result is None:
            layout.notes += [f"{arc}: shell script left as it is: {reason}" for reason in why]
            continue
        stage.write_bytes(arc, result[0], staged.mode, replace=True)
        staged.root, staged.rel, staged.sha256 = stage, arc, None
        done[arc] = result[1]
    return done


#: Characters of a path that follows a placeholder in a binary's string.
_PATH_TAIL = re.compile(rb"[A-Za-z0-9_./+@-]*")


def binary_paths(data: bytes, placeholder: str) -> set[str]:
    """The prefix-relative paths a binary names with its placeholder: each
    string that starts with it (after a NUL, as C string literals lie in
    ``.rodata``), cut at the first byte that is not a path character.
    Placeholders inside longer strings (compiler flags kept for
    ``version -a``) are not paths the program opens and are not counted."""
    token = placeholder.encode("utf-8")
    found = set()
    start = data.find(token)
    while start != -1:
        if start == 0 or data[start - 1] == 0:
            tail = _PATH_TAIL.match(data, start + len(token))
            found.add((tail.group(0) if tail else b"").decode("ascii").strip("/"))
        start = data.find(token, start + 1)
    return found


def covered(paths: set[str], settings: set[str]) -> bool:
    """Whether every path is one of ``settings`` (prefix-relative paths
    environment variables point at) or lies under one."""
    return bool(paths) and all(any(p == s or p.startswith(s + "/") for s in settings if s) for p in paths)
