"""Where a POSIX shell script expands a word: the model prefix rewriting uses.

press rewrites a prefix placeholder in a shell script into a reference to a
variable (:mod:`press.prefix`). That is only right where the shell surely
expands the variable: an unquoted word or a double-quoted string of a
command, an assignment, a redirection or a ``for`` list, not inside single
quotes (where the text stays literal), a command substitution, a
here-document, an arithmetic or parameter expansion, a pattern (``case``,
``[[ ]]``) or text that ``eval``, ``alias`` or ``trap`` parse again.

The script is parsed whole (not line by line) by mvdan/sh, the shell parser
of ``shfmt`` (``shfmt -ln posix --to-json``, or ``-ln bash`` for a bash
script; the binary comes from the ``shfmt-py`` wheel), and each occurrence
of the placeholder is placed in that syntax tree by its byte offset. The
shell that runs the script (``sh``, ``bash`` or ``dash``, when this machine
has it) then checks the syntax before and after with ``-n``, which reads
without running. A placeholder inside a single-quoted string is accepted
only when that string is the command text of ``sh -c`` (``bash``, ``dash``):
the text is then parsed again by the same rules, and the child shell expands
the variable from its environment. Anything else, a script the parser does
not read, or no parser on this machine raises :class:`Unsafe` with the
reason, and the caller leaves the script as it is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sysconfig
import threading
from types import ModuleType
from typing import IO, Any

from .limits import limit

resource: ModuleType | None
try:
    import resource
except ImportError:  # pragma: no cover - Windows: no setrlimit, the time bound only
    resource = None

#: A placeholder press replaces in shell text: an absolute path of characters
#: that have no meaning to the shell (conda's placeholders are such paths).
PLACEHOLDER = re.compile(rb"/[A-Za-z0-9_./+@-]+\Z")
#: Keys of a word (``syntax.Word``) whose parts the shell expands as a plain word, by the
#: node that holds it: a command's arguments, an assignment's value, a redirection's
#: target, a ``for`` list.
_WORD_IN = {"Args": ("CallExpr",), "Value": ("Assigns", "Args"), "Word": ("Redirs",), "Items": ("WordIter",)}
#: Nodes that only group statements, commands and their words (node type, or the key a
#: typeless node is held under); any other above a placeholder (CmdSubst, ProcSubst,
#: ParamExp, ArithmExp, TestClause, Patterns, Hdoc, ...) makes it unsafe.
_STRUCTURE = {"File", "Stmts", "X", "Y", "Cond", "Then", "Do", "Body", "CallExpr", "Assigns", "Args", "Redirs",
              "WordIter", "ForClause", "BinaryCmd", "IfClause", "WhileClause", "Block", "Subshell", "FuncDecl",
              "CaseClause", "Items", "DeclClause"}
#: Shells whose ``-c`` text press follows into.
_SHELLS = re.compile(r"(?:(?:/usr)?/bin/)?(?:sh|bash|dash)\Z")
#: Options that may come before ``-c`` in ``sh -e -c '...'``.
_SHELL_OPTION = re.compile(r"-[eux]+\Z")
#: Words that parse text again (``eval``; ``alias`` and ``trap`` bodies), refused wherever
#: they appear (``command eval``, ``builtin eval`` included).
_REPARSE = ("eval", "alias", "trap")
#: How deep ``sh -c '... sh -c ...'`` is followed.
_MAX_DEPTH = 2
#: Seconds a parser or shell may take on one script.
_CHECK_SECONDS = 10
#: Printable ASCII only, in what a tool says about a script.
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


class Unsafe(Exception):
    """The script is not one press can prove it rewrites correctly; the
    message says why (for the report)."""


class _Node:
    """One node of the syntax tree: its label (type, or the key it is held
    under), byte range, JSON object and parent."""

    __slots__ = ("label", "start", "end", "data", "parent", "depth")

    def __init__(self, label: str, data: dict[str, Any], parent: _Node | None) -> None:
        self.label, self.data, self.parent = label, data, parent
        self.depth: int = parent.depth + 1 if parent is not None else 0
        pos, end = data.get("Pos"), data.get("End")
        self.start = pos["Offset"] if isinstance(pos, dict) and isinstance(pos.get("Offset"), int) else -1
        self.end = end["Offset"] if isinstance(end, dict) and isinstance(end.get("Offset"), int) else -1


def _shfmt() -> str | None:
    """The ``shfmt`` of this interpreter's environment (``shfmt-py``), else on ``PATH``."""
    return shutil.which("shfmt", path=sysconfig.get_path("scripts")) or shutil.which("shfmt")


def _limits() -> None:  # pragma: no cover - runs in the child between fork and exec
    memory = limit("shell_parser_memory")
    assert resource is not None
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))


def _run(argv: list[str], text: bytes) -> tuple[int, bytes, bytes]:
    """Run ``argv`` on ``text``: exit code, output and error output, each
    read up to an eighth of the ``shell_parser_memory`` limit (the child's
    data memory is bounded by the whole limit, where the system has
    ``setrlimit``). Raises :class:`Unsafe` when it takes longer than
    :data:`_CHECK_SECONDS` or says more."""
    cap = limit("shell_parser_memory") // 8
    name = os.path.basename(argv[0])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={"PATH": os.defpath}, preexec_fn=_limits if resource else None)
    except OSError as error:
        raise Unsafe(f"{name} did not run: {error.strerror}") from None
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}

    def feed() -> None:
        try:
            assert proc.stdin is not None
            proc.stdin.write(text)
            proc.stdin.close()
        except OSError:
            pass

    def drain(stream: IO[bytes], into: list[bytes]) -> None:
        size = 0
        while chunk := stream.read(1 << 16):
            size += len(chunk)
            if size > cap:
                proc.kill()
                into.append(b"\0")  # marks the overflow
                return
            into.append(chunk)

    assert proc.stdout is not None and proc.stderr is not None
    threads = [threading.Thread(target=feed, daemon=True),
               threading.Thread(target=drain, args=(proc.stdout, chunks["out"]), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, chunks["err"]), daemon=True)]
    for thread in threads:
        thread.start()
    try:
        code = proc.wait(timeout=_CHECK_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise Unsafe(f"{name} took longer than {_CHECK_SECONDS} s") from None
    finally:
        for thread in threads:
            thread.join(timeout=_CHECK_SECONDS)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    out, err = b"".join(chunks["out"]), b"".join(chunks["err"])
    if out.endswith(b"\0") or err.endswith(b"\0"):
        raise Unsafe(f"{name} said more than {cap} bytes (PRESS_MAX_SHELL_PARSER_MEMORY / 8)")
    return code, out, err


def _said(err: bytes) -> str:
    return _UNPRINTABLE.sub(" ", err.decode("ascii", "replace")).strip()[:200]


def _tree(src: bytes, lang: str) -> list[_Node]:
    """Every positioned node of ``src``'s syntax tree (mvdan/sh), parents first."""
    shfmt = _shfmt()
    if shfmt is None:
        raise Unsafe("no shell parser: shfmt (the shfmt-py package) is not installed")
    code, out, err = _run([shfmt, "-ln", lang, "--to-json"], src)
    if code != 0:
        raise Unsafe(f"the shell parser does not read it: {_said(err)}")
    try:
        doc = json.loads(out)
    except (ValueError, RecursionError):
        raise Unsafe("the shell parser's syntax tree is nested too deep") from None
    nodes: list[_Node] = []
    todo: list[tuple[str, Any, _Node | None]] = [("File", doc, None)]
    while todo:
        key, value, parent = todo.pop()
        if isinstance(value, list):
            todo += [(key, item, parent) for item in reversed(value)]
            continue
        if not isinstance(value, dict):
            continue
        node = parent
        if "Pos" in value and "End" in value:
            kind = value.get("Type")
            node = _Node(kind if isinstance(kind, str) else key, value, parent)
            nodes.append(node)
        todo += [(k, v, node) for k, v in value.items() if k not in ("Pos", "End") and isinstance(v, (dict, list))]
    return nodes


def _lit(node: _Node | None) -> str | None:
    """The text of a word made of one literal, else None."""
    if node is None:
        return None
    parts = node.data.get("Parts")
    if isinstance(parts, list) and len(parts) == 1 and isinstance(parts[0], dict) and parts[0].get("Type") == "Lit":
        value = parts[0].get("Value")
        return value if isinstance(value, str) else None
    return None


def _blocker(node: _Node | None) -> str | None:
    """The first node from ``node`` up that is not a plain grouping of
    statements and commands, by label; None when there is none."""
    while node is not None:
        if node.label not in _STRUCTURE:
            return node.label
        parent = node.parent
        if node.label == "Items" and (parent is None or parent.label not in ("CaseClause", "WordIter")):
            return "Items"
        if node.label == "Args" and (parent is None or parent.label not in ("CallExpr", "DeclClause")):
            return "Args"
        node = parent
    return None


def _word_role(word: _Node) -> str | None:
    """None when ``word`` is expanded as a plain word (:data:`_WORD_IN`) in
    plain statements, else what stands in the way."""
    holders = _WORD_IN.get(word.label)
    parent = word.parent
    if holders is None or parent is None or parent.label not in holders:
        return word.label if parent is None else f"{word.label} of {parent.label}"
    if word.label == "Value" and parent.label == "Args" and (parent.parent is None or
                                                               parent.parent.label != "DeclClause"):
        return "Value of Args"
    if word.label == "Word" and "Hdoc" in parent.data:
        return "here-document"
    return _blocker(parent)


def _shell_text(sgl: _Node, words: list[_Node]) -> bool:
    """Whether the single-quoted ``sgl`` is the whole command text of
    ``sh [-e|-x|-u] -c '...'`` (``bash``, ``dash``; by name or path)."""
    word = sgl.parent
    if word is None or word.label != "Args" or word.parent is None or word.parent.label != "CallExpr":
        return False
    if len(word.data.get("Parts") or ()) != 1 or sgl.data.get("Dollar"):
        return False
    args = [w for w in words if w.parent is word.parent and w.label == "Args"]
    index = next((i for i, w in enumerate(args) if w is word), -1)
    texts = [_lit(w) for w in args[:index]]
    if index < 2 or any(t is None for t in texts):
        return False
    name, options = texts[0] or "", [t or "" for t in texts[1:]]
    return bool(_SHELLS.match(name)) and options[-1] == "-c" and all(_SHELL_OPTION.match(o) for o in options[:-1])


def _line(src: bytes, offset: int) -> int:
    return src.count(b"\n", 0, offset) + 1


def _spans(src: bytes, token: bytes, lang: str, depth: int) -> list[tuple[int, int]]:
    """Byte ranges of every ``token`` in ``src`` where the shell expands a
    variable put there. Raises :class:`Unsafe`."""
    nodes = _tree(src, lang)
    for node in nodes:
        if node.label == "Hdoc":
            raise Unsafe(f"it has a here-document (line {_line(src, node.start)})")
        if node.label == "Lit" and node.data.get("Value") in _REPARSE:
            raise Unsafe(f"it runs {node.data['Value']} (line {_line(src, node.start)}), which parses text again")
    words = [n for n in nodes if n.label in _WORD_IN]
    spans: list[tuple[int, int]] = []
    start = src.find(token)
    while start != -1:
        end = start + len(token)
        where = f"line {_line(src, start)}"
        if start and src[start - 1:start] in (b"\\", b"$", b"~"):
            raise Unsafe(f"the placeholder at {where} follows a {src[start - 1:start].decode()}")
        inside = [n for n in nodes if n.start <= start and end <= n.end]
        if not inside:
            raise Unsafe(f"the placeholder at {where} is in no word")
        leaf = max(inside, key=lambda n: (-(n.end - n.start), n.depth))
        if leaf.label in ("Comments", "Last"):
            start = src.find(token, leaf.end)
            continue  # never run: left as it is
        if leaf.label == "SglQuoted":
            if depth >= _MAX_DEPTH or not _shell_text(leaf, words) or _blocker(leaf.parent.parent if leaf.parent
                                                                                 else None):
                raise Unsafe(f"the placeholder at {where} is inside single quotes, where nothing expands")
            inner = _spans(src[leaf.start + 1:leaf.end - 1], token, lang, depth + 1)
            spans += [(leaf.start + 1 + a, leaf.start + 1 + b) for a, b in inner]
            start = src.find(token, leaf.end)
            continue
        if leaf.label != "Lit":
            raise Unsafe(f"the placeholder at {where} is inside {leaf.label}, where the shell may not expand a "
                         "variable")
        word = leaf.parent
        if word is not None and word.label == "DblQuoted":
            if word.data.get("Dollar"):
                raise Unsafe(f"the placeholder at {where} is inside a $\"...\" (translated) string")
            word = word.parent
        blocker = "a literal of no word" if word is None else _word_role(word)
        if blocker:
            raise Unsafe(f"the placeholder at {where} is inside {blocker}, where the shell may not expand a "
                         "variable")
        spans.append((start, end))
        start = src.find(token, end)
    return spans


def _check_syntax(shell: str, text: bytes) -> None:
    """``shell -n`` (read, never run) on ``text``; :class:`Unsafe` when it
    fails. Skipped where this machine has no such shell."""
    path = shutil.which(shell, path=os.defpath)
    if path is None:
        return
    code, _, err = _run([path, "-n"], text)
    if code != 0:
        raise Unsafe(f"{shell} -n refuses it: {_said(err)}")


def substitute(body: bytes, token: bytes, replacement: bytes, shell: str) -> bytes:
    """``body`` (a script without its shebang line, run by ``shell``: ``sh``,
    ``bash`` or ``dash``) with every ``token`` the shell expands replaced by
    ``replacement`` (a parameter expansion); occurrences in comments are
    kept. Raises :class:`Unsafe` (the reason) when the script is larger than
    the ``shell_script_size`` limit, any occurrence is not surely expanded,
    the script uses ``eval``/``alias``/``trap`` or a here-document, no parser
    is installed, or ``shell -n`` (when present) refuses the script before
    or after."""
    if not PLACEHOLDER.match(token):
        raise Unsafe("the placeholder holds characters the shell gives a meaning to")
    if len(body) > limit("shell_script_size"):
        raise Unsafe(f"it is larger than {limit('shell_script_size')} bytes (PRESS_MAX_SHELL_SCRIPT_SIZE)")
    if b"__press_prefix" in body or b"\0" in body:
        raise Unsafe("it already names __press_prefix or holds a NUL byte")
    # An sh script may run under bash (where /bin/sh is bash): both readings must agree.
    langs = ["bash"] if shell == "bash" else ["posix", "bash"]
    _check_syntax(shell, body)
    spans = _spans(body, token, langs[0], 0)
    if any(_spans(body, token, lang, 0) != spans for lang in langs[1:]):
        raise Unsafe("POSIX sh and bash read it differently")
    out, last = [], 0
    for start, end in spans:
        out += [body[last:start], replacement]
        last = end
    new = b"".join(out) + body[last:]
    _check_syntax(shell, new)
    for lang in langs:
        _tree(new, lang)
    return new
