"""Write a VS Code attach configuration for a remote debug step into ``.vscode/launch.json``.

    write_attach_config(".vscode/launch.json", "Azure ML: train", endpoint.host, endpoint.port,
                        run.path_mappings("train"))

launch.json is JSON with comments (JSONC) that people edit by hand, so it is edited as text: only
the one configuration is inserted or replaced, and every other byte (comments, formatting, line
endings) stays as it was. A file that does not parse is refused and never rewritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from amldebug_jupyter.errors import UserError

__all__ = ["JsoncError", "LaunchJsonError", "strip_jsonc", "write_attach_config"]

_WS = " \t\r\n"
_PUNCT = "{}[]:,"
_STRING = re.compile(r'"(?:[^"\\\r\n]|\\[^\r\n])*"')
_ATOM = re.compile(r"[A-Za-z0-9_.+\-]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_LINE_COMMENT = re.compile(r"//[^\r\n]*")
_MAX_DEPTH = 200  # far beyond any launch.json; keeps the recursive parser clear of RecursionError


class LaunchJsonError(UserError):
    """An existing launch.json cannot be parsed, read or written; it was left untouched."""


class JsoncError(ValueError):
    """Text that is not JSON with comments; ``line`` and ``detail`` say where and why."""

    def __init__(self, text: str, offset: int, detail: str) -> None:
        self.offset = offset
        self.line = text.count("\n", 0, offset) + 1
        self.detail = detail
        super().__init__(f"line {self.line}: {detail}")


@dataclass
class _Token:
    kind: str  # one of "{}[]:," or "string", "atom" (number, true, false, null), "comment"
    start: int
    end: int


@dataclass
class _Node:
    """A parsed value and where its text is; ``end`` is one past its last character."""

    kind: str  # "object", "array", "string", "atom"
    start: int
    end: int
    value: Any = None  # the decoded string, for "string" nodes
    items: List["_Node"] = field(default_factory=list)  # array elements
    members: List[Tuple[str, "_Node", "_Node"]] = field(default_factory=list)  # (key, key node, value)
    trailing_comma: Optional[int] = None  # offset of a comma after the last element or member

    def member(self, key: str) -> Optional["_Node"]:
        """The value of ``key``; the last one wins, as in json.loads and VS Code."""
        found = None
        for k, _, value in self.members:
            if k == key:
                found = value
        return found


def _tokens(text: str) -> List[_Token]:
    """Split JSONC text into tokens, comments included; whitespace between tokens is all that is left out."""
    out: List[_Token] = []
    i, n = (1 if text.startswith("\ufeff") else 0), len(text)
    while i < n:
        c = text[i]
        if c in _WS:
            i += 1
            continue
        if c in _PUNCT:
            end = i + 1
        elif c == '"':
            m = _STRING.match(text, i)
            if not m:
                raise JsoncError(text, i, "a string is not closed on its line")
            end = m.end()
            try:
                json.loads(text[i:end])
            except ValueError:
                raise JsoncError(text, i, f"bad string {_clip(text[i:end])}") from None
            out.append(_Token("string", i, end))
            i = end
            continue
        elif text.startswith("//", i):
            end = _LINE_COMMENT.match(text, i).end()  # type: ignore[union-attr]
            c = "comment"
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close < 0:
                raise JsoncError(text, i, "a /* comment is never closed")
            end, c = close + 2, "comment"
        elif _ATOM.match(text, i):
            end = _ATOM.match(text, i).end()  # type: ignore[union-attr]
            word = text[i:end]
            if word not in ("true", "false", "null") and not _NUMBER.fullmatch(word):
                raise JsoncError(text, i, f"unexpected {_clip(word)}")
            c = "atom"
        else:
            raise JsoncError(text, i, f"unexpected character {c!r}")
        out.append(_Token(c, i, end))
        i = end
    return out


def _clip(s: str) -> str:
    return repr(s if len(s) <= 30 else s[:27] + "...")


class _Parser:
    """Recursive descent over the tokens: JSON plus comments and trailing commas, as VS Code reads it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.all = _tokens(text)
        self.toks = [t for t in self.all if t.kind != "comment"]
        self.i = 0
        self.open: List[_Token] = []  # brackets not closed yet, for "never closed" errors
        self.trailing_commas: List[int] = []

    def parse(self) -> _Node:
        if not self.toks:
            raise JsoncError(self.text, len(self.text), "there is no JSON value")
        node = self.value()
        if self.i < len(self.toks):
            tok = self.toks[self.i]
            raise JsoncError(self.text, tok.start, f"unexpected {self.show(tok)} after the end of the document")
        return node

    def show(self, tok: _Token) -> str:
        return "string" if tok.kind == "string" else _clip(self.text[tok.start : tok.end])

    def next(self, expected: str) -> _Token:
        if self.i >= len(self.toks):
            if self.open:
                bracket = self.open[-1]
                raise JsoncError(self.text, bracket.start, f"this '{bracket.kind}' is never closed")
            raise JsoncError(self.text, len(self.text), f"expected {expected} before the end of the file")
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def value(self) -> _Node:
        tok = self.next("a value")
        if tok.kind in ("{", "["):
            return self.container(tok)
        if tok.kind == "string":
            return _Node("string", tok.start, tok.end, value=json.loads(self.text[tok.start : tok.end]))
        if tok.kind == "atom":
            return _Node("atom", tok.start, tok.end)
        raise JsoncError(self.text, tok.start, f"expected a value, found {self.show(tok)}")

    def container(self, opening: _Token) -> _Node:
        is_object = opening.kind == "{"
        close = "}" if is_object else "]"
        node = _Node("object" if is_object else "array", opening.start, -1)
        if len(self.open) >= _MAX_DEPTH:
            raise JsoncError(self.text, opening.start, "values are nested too deeply")
        self.open.append(opening)
        if self.i < len(self.toks) and self.toks[self.i].kind == close:
            tok = self.next(close)
        else:
            while True:
                if is_object:
                    key = self.next("a key")
                    if key.kind != "string":
                        raise JsoncError(self.text, key.start, f'expected a "key" in quotes, found {self.show(key)}')
                    colon = self.next("':'")
                    if colon.kind != ":":
                        raise JsoncError(self.text, colon.start, f"expected ':' after the key, found {self.show(colon)}")
                    key_node = _Node("string", key.start, key.end, value=json.loads(self.text[key.start : key.end]))
                    node.members.append((key_node.value, key_node, self.value()))
                else:
                    node.items.append(self.value())
                tok = self.next(f"',' or '{close}'")
                if tok.kind == close:
                    break
                if tok.kind != ",":
                    raise JsoncError(self.text, tok.start, f"expected ',' or '{close}', found {self.show(tok)}")
                if self.i < len(self.toks) and self.toks[self.i].kind == close:
                    node.trailing_comma = tok.start
                    self.trailing_commas.append(tok.start)
                    tok = self.next(close)
                    break
        self.open.pop()
        node.end = tok.end
        return node


def strip_jsonc(text: str) -> str:
    """The strict JSON in JSONC text: comments, trailing commas and a BOM become spaces (lines keep their numbers).

    Raises :class:`JsoncError` if the text is not JSON with comments.
    """
    parser = _Parser(text)
    parser.parse()
    chars = list(text)
    blank = [(t.start, t.end) for t in parser.all if t.kind == "comment"]
    blank += [(p, p + 1) for p in parser.trailing_commas]
    if text.startswith("\ufeff"):
        blank.append((0, 1))
    for start, end in blank:
        for j in range(start, end):
            if chars[j] not in "\r\n":
                chars[j] = " "
    return "".join(chars)


def write_attach_config(
    path: str | os.PathLike[str],
    name: str,
    host: str,
    port: int,
    path_mappings: Sequence[Mapping[str, str]] = (),
    just_my_code: bool = True,
) -> str:
    """Create or update the attach configuration called `name`; return a one-line summary of what was done."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise UserError(f"port must be an integer from 1 to 65535, got {port!r}.")
    config: Dict[str, Any] = {
        "name": name,
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": host, "port": port},
        "pathMappings": [
            {"localRoot": os.fspath(m["localRoot"]), "remoteRoot": os.fspath(m["remoteRoot"])} for m in path_mappings
        ],
        "justMyCode": just_my_code,
    }
    shown = os.fspath(path)
    target = os.path.realpath(shown)  # a symlinked launch.json stays a symlink
    try:
        with open(target, "rb") as f:
            old: Optional[bytes] = f.read()
            mode: Optional[int] = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
    except FileNotFoundError:
        old = mode = None
    except OSError as e:
        raise LaunchJsonError(
            f"Cannot read {shown} ({e.strerror}): check the path and its permissions, then try again."
        ) from None

    if old is None or not old.strip():  # missing, or empty as a fresh VS Code file can be
        new = json.dumps({"version": "0.2.0", "configurations": [config]}, indent=4, ensure_ascii=False) + "\n"
        summary = f"Created {shown} with '{name}'" if old is None else f"Added '{name}' to {shown}"
    else:
        try:
            text = old.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _invalid(shown, old.count(b"\n", 0, e.start) + 1, "not UTF-8 text") from None
        new, summary = _edit(text, config, shown)
        if new == text:
            return f"'{name}' in {shown} is already up to date"
    try:
        if old is None:
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        else:
            _write_atomically(target + ".bak", old, mode)
        _write_atomically(target, new.encode("utf-8"), mode)
    except OSError as e:
        raise LaunchJsonError(f"Cannot write {shown} ({e.strerror}): check its folder is writable, then try again.") from None
    return summary


def _invalid(shown: str, line: int, detail: str) -> LaunchJsonError:
    return LaunchJsonError(f"{shown} is not valid JSON with comments (line {line}: {detail}): fix or move it, then try again.")


def _edit(text: str, config: Dict[str, Any], shown: str) -> Tuple[str, str]:
    """The new text of an existing launch.json, and what was done."""
    name = config["name"]
    try:
        root = _Parser(text).parse()
    except JsoncError as e:
        raise _invalid(shown, e.line, e.detail) from None

    def line(node: Any) -> int:
        return text.count("\n", 0, node.start) + 1

    if root.kind != "object":
        raise _invalid(shown, line(root), "the top level must be an object { ... }")
    crlf = text.count("\r\n")
    eol = "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"
    unit = _indent_unit(text, root)

    configs = root.member("configurations")
    if configs is None:
        member_indent = _own_line_indent(text, root.members[0][1].start) if root.members else None
        if member_indent is None:
            member_indent = _line_indent(text, root.start) + unit
        item_indent = member_indent + unit
        member = '"configurations": [' + eol + item_indent + _render(config, item_indent, unit, eol) + eol + member_indent + "]"
        return _append(text, root, member, member_indent, eol), f"Added '{name}' to {shown}"
    if configs.kind != "array":
        raise _invalid(shown, line(configs), '"configurations" must be an array [ ... ]')

    own = _own_line_indent(text, configs.items[0].start) if configs.items else None
    item_indent = own if own is not None else _line_indent(text, configs.start) + unit
    rendered = _render(config, item_indent, unit, eol)
    for item in configs.items:
        if item.kind == "object":
            existing = item.member("name")
            if existing is not None and existing.kind == "string" and existing.value == name:
                return text[: item.start] + rendered + text[item.end :], f"Updated '{name}' in {shown}"
    return _append(text, configs, rendered, item_indent, eol), f"Added '{name}' to {shown}"


def _render(config: Dict[str, Any], indent: str, unit: str, eol: str) -> str:
    """``config`` as pretty JSON whose first line starts where the caller puts it, later lines at ``indent``."""
    return json.dumps(config, indent=unit, ensure_ascii=False).replace("\n", eol + indent)


def _append(text: str, node: _Node, item: str, indent: str, eol: str) -> str:
    """Insert ``item`` as the last element or member of ``node``: after any comments, before the bracket."""
    close = node.end - 1
    at = close
    while text[at - 1] in _WS:
        at -= 1
    insert = eol + indent + item
    if "\n" not in text[at:close] and "\r" not in text[at:close]:
        insert += eol + _line_indent(text, node.start)  # put the closing bracket on a line of its own
    last = node.items[-1] if node.items else node.members[-1][2] if node.members else None
    if last is not None and node.trailing_comma is None:
        # The comma goes right after the last value, before any comment that follows it on its line.
        return text[: last.end] + "," + text[last.end : at] + insert + text[at:]
    return text[:at] + insert + text[at:]


def _line_start(text: str, pos: int) -> int:
    return max(text.rfind("\n", 0, pos), text.rfind("\r", 0, pos)) + 1


def _line_indent(text: str, pos: int) -> str:
    """The leading spaces and tabs of the line holding ``pos``."""
    start = _line_start(text, pos)
    return re.match(r"[ \t]*", text[start:pos]).group()  # type: ignore[union-attr]


def _own_line_indent(text: str, pos: int) -> Optional[str]:
    """The whitespace before ``pos`` if nothing else precedes it on its line."""
    before = text[_line_start(text, pos) : pos].lstrip("\ufeff")
    return before if before.strip(" \t") == "" else None


def _indent_unit(text: str, root: _Node) -> str:
    """One level of the file's indentation, judged by the top-level object's first key; else 4 spaces."""
    if root.members:
        first = _own_line_indent(text, root.members[0][1].start)
        base = _line_indent(text, root.start)
        if first and first.startswith(base) and len(first) > len(base):
            return first[len(base) :]
    return "    "


def _write_atomically(target: str, data: bytes, mode: Optional[int]) -> None:
    """Write a temp file beside ``target``, fsync it, then rename it over: readers see old or new, never half."""
    folder = os.path.dirname(target) or "."
    tmp = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)  # umask applies
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable where the platform allows it
        with contextlib.suppress(OSError):
            dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
