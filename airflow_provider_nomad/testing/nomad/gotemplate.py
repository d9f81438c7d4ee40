"""The part of Go's ``text/template`` that Nomad task templates commonly use.

Text and actions with custom delimiters, ``{{-``/``-}}`` trimming and comments; pipelines of
function calls, fields (``.key``, ``.Data.password``), variables (``$``, ``$k, $v :=``) and
literals; ``if``/``with``/``range`` with ``else`` (and ``else if``/``else with``); printing as
Go's ``fmt`` does for strings, numbers, booleans, maps and slices. Functions come from the
caller; a name it does not offer fails rendering naming the function, never renders as empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

NO_VALUE = "<no value>"


class TemplateError(Exception):
    """Rendering failed; the message reads like Go's (``template: NAME:LINE: ...``)."""


class UnsupportedFunction(TemplateError):
    """The template calls a function the renderer does not offer."""

    def __init__(self, message: str, function: str) -> None:
        super().__init__(message)
        self.function = function


class _Missing:
    """A map lookup that found nothing (Go's invalid ``reflect.Value``)."""

    def __repr__(self) -> str:
        return NO_VALUE


MISSING = _Missing()


# -- lexing -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    )""",
    re.VERBOSE,
)


@dataclass
class _Tok:
    kind: str
    text: str


def _tokens(source: str, where: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            raise TemplateError(f"{where}: unexpected {source[pos:].strip()[:20]!r} in command")
        kind = match.lastgroup or ""
        out.append(_Tok(kind, match.group(kind)))
        pos = match.end()
    return out


# -- parse tree ---------------------------------------------------------------------------


@dataclass
class _Text:
    text: str


@dataclass
class _Command:
    args: list[Any]  # operands: ("field", names) ("var", name, names) ("ident", name) literals


@dataclass
class _Pipeline:
    decl: list[str]
    commands: list[_Command]
    line: int


@dataclass
class _Action:
    pipe: _Pipeline


@dataclass
class _Branch:
    kind: str  # if / with / range
    pipe: _Pipeline
    body: list[Any] = field(default_factory=list)
    orelse: list[Any] = field(default_factory=list)


class Template:
    """A parsed template.

    :param text: the template source.
    :param name: its name in error messages (consul-template names embedded ones by ID).
    :param left: the left delimiter. :param right: the right delimiter.
    """

    def __init__(self, text: str, name: str = "", left: str = "{{", right: str = "}}") -> None:
        self.name = name
        self._left = left or "{{"
        self._right = right or "}}"
        self._text = text
        self.root = self._parse()

    # -- parsing ----------------------------------------------------------------------------

    def _where(self, line: int) -> str:
        return f"template: {self.name}:{line}"

    def _chunks(self) -> list[tuple[str, str, int]]:
        """("text", s, line) and ("action", s, line), trimming applied."""
        text, left, right = self._text, self._left, self._right
        chunks: list[tuple[str, str, int]] = []
        pos = 0
        while True:
            start = text.find(left, pos)
            if start < 0:
                chunks.append(("text", text[pos:], text.count("\n", 0, pos) + 1))
                return chunks
            literal = text[pos:start]
            inner_start = start + len(left)
            if text.startswith("- ", inner_start) or text.startswith("-\n", inner_start):
                literal = literal.rstrip()
                inner_start += 1
            line = text.count("\n", 0, start) + 1
            end = _action_end(text, inner_start, right)
            if end < 0:
                raise TemplateError(f"{self._where(line)}: unclosed action")
            inner = text[inner_start:end]
            pos = end + len(right)
            if inner.endswith(" -") or inner.endswith("\n-"):
                inner = inner[:-1]
                while pos < len(text) and text[pos] in " \t\r\n":
                    pos += 1
            chunks.append(("text", literal, line))
            chunks.append(("action", inner, line))

    def _parse(self) -> list[Any]:
        root: list[Any] = []
        stack: list[tuple[list[Any], _Branch | None]] = [(root, None)]
        for kind, body, line in self._chunks():
            current = stack[-1][0]
            if kind == "text":
                if body:
                    current.append(_Text(body))
                continue
            stripped = body.strip()
            if stripped.startswith("/*"):
                continue
            toks = _tokens(stripped, self._where(line))
            if not toks:
                raise TemplateError(f"{self._where(line)}: missing value for command")
            head = toks[0].text if toks[0].kind == "ident" else ""
            if head in ("if", "with", "range"):
                branch = _Branch(head, self._pipeline(toks[1:], line))
                current.append(branch)
                stack.append((branch.body, branch))
            elif head == "else":
                _, branch = stack[-1]
                if branch is None:
                    raise TemplateError(f"{self._where(line)}: unexpected {{{{else}}}}")
                if len(toks) > 1 and toks[1].text in ("if", "with"):
                    # "else if" nests a branch in the else part; the chain shares one {{end}}.
                    chained = _Branch(toks[1].text, self._pipeline(toks[2:], line))
                    branch.orelse.append(chained)
                    stack[-1] = (chained.body, chained)
                else:
                    stack[-1] = (branch.orelse, branch)
            elif head == "end":
                if len(stack) == 1:
                    raise TemplateError(f"{self._where(line)}: unexpected {{{{end}}}}")
                stack.pop()
            elif head in ("define", "template", "block", "break", "continue"):
                raise UnsupportedFunction(
                    f"{self._where(line)}: the emulator's template renderer does not support "
                    f'"{head}" actions',
                    head,
                )
            else:
                current.append(_Action(self._pipeline(toks, line)))
        if len(stack) > 1:
            raise TemplateError(f"{self._where(len(self._text.splitlines()))}: unexpected EOF")
        return root

    def _pipeline(self, toks: list[_Tok], line: int) -> _Pipeline:
        decl: list[str] = []
        for i, tok in enumerate(toks):
            if tok.kind in ("declare", "assign"):
                decl = [t.text for t in toks[:i] if t.kind == "variable"]
                toks = toks[i + 1 :]
                break
        pipe = _Pipeline(decl, [], line)
        command: list[Any] = []
        i = 0
        while i < len(toks):
            tok = toks[i]
            if tok.kind == "pipe":
                pipe.commands.append(_Command(command))
                command = []
            elif tok.kind == "lparen":
                depth, j = 1, i + 1
                while j < len(toks) and depth:
                    depth += {"lparen": 1, "rparen": -1}.get(toks[j].kind, 0)
                    j += 1
                command.append(("pipe", self._pipeline(toks[i + 1 : j - 1], line)))
                i = j
                continue
            else:
                command.append(self._operand(tok, line))
            i += 1
        if command:
            pipe.commands.append(_Command(command))
        if not pipe.commands:
            raise TemplateError(f"{self._where(line)}: missing value for command")
        return pipe

    def _operand(self, tok: _Tok, line: int) -> Any:
        if tok.kind == "string":
            return ("lit", _unquote(tok.text))
        if tok.kind == "raw":
            return ("lit", tok.text[1:-1])
        if tok.kind == "number":
            return ("lit", float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "char":
            return ("lit", ord(_unquote('"' + tok.text[1:-1] + '"')))
        if tok.kind == "field":
            return ("field", [n for n in tok.text.split(".") if n])
        if tok.kind == "variable":
            name, *names = tok.text.split(".")
            return ("var", name, names)
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return ("lit", tok.text == "true")
            if tok.text == "nil":
                return ("lit", None)
            return ("ident", tok.text)
        raise TemplateError(f"{self._where(line)}: unexpected {tok.text!r} in operand")

    # -- execution --------------------------------------------------------------------------

    def render(
        self,
        data: Any,
        functions: Mapping[str, Callable[..., Any]],
        *,
        missing_key_error: bool = False,
    ) -> str:
        run = _Run(self, functions, missing_key_error)
        out: list[str] = []
        run.walk(self.root, data, [{"$": data}], out)
        return "".join(out)


def _action_end(text: str, start: int, right: str) -> int:
    """Where the action closes, skipping delimiters inside quoted strings."""
    i, quote = start, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote != "`":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"`'":
            quote = ch
        elif text.startswith(right, i):
            return i
        i += 1
    return -1


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(
        r"\\(.)",
        lambda m: {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}.get(
            m.group(1), m.group(0)
        ),
        body,
    )


def truthy(value: Any) -> bool:
    """Go's ``template.IsTrue``: zero values and empty collections are false."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True


def go_format(value: Any) -> str:
    """How ``{{ . }}`` prints a value (``fmt.Sprint``)."""
    if value is MISSING or value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    return str(value)


class _Run:
    def __init__(self, template: Template, functions, missing_key_error: bool) -> None:
        self.t = template
        self.functions = functions
        self.missing_key_error = missing_key_error

    def walk(self, nodes: list[Any], dot: Any, scopes: list[dict], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Action):
                value = self.pipeline(node.pipe, dot, scopes)
                if not node.pipe.decl:
                    out.append(go_format(value))
            else:
                self.branch(node, dot, scopes, out)

    def branch(self, node: _Branch, dot: Any, scopes: list[dict], out: list[str]) -> None:
        inner = [*scopes, {}]
        if node.kind == "range":
            value = self.pipeline(node.pipe, dot, inner, declare=False)
            items = _range_items(value)
            if not items:
                self.walk(node.orelse, dot, scopes, out)
                return
            for key, item in items:
                scope = dict(inner[-1])
                if len(node.pipe.decl) == 1:
                    scope[node.pipe.decl[0]] = item
                elif len(node.pipe.decl) == 2:
                    scope[node.pipe.decl[0]], scope[node.pipe.decl[1]] = key, item
                self.walk(node.body, item, [*scopes, scope], out)
            return
        value = self.pipeline(node.pipe, dot, inner)
        if truthy(value):
            self.walk(node.body, value if node.kind == "with" else dot, inner, out)
        else:
            self.walk(node.orelse, dot, scopes, out)

    def pipeline(self, pipe: _Pipeline, dot: Any, scopes: list[dict], declare: bool = True) -> Any:
        value: Any = MISSING
        piped = False
        for command in pipe.commands:
            value = self.command(command, dot, scopes, value if piped else MISSING, piped, pipe)
            piped = True
        if declare and pipe.decl:
            scopes[-1][pipe.decl[0]] = value
        return value

    def command(self, cmd: _Command, dot, scopes, final: Any, piped: bool, pipe) -> Any:
        head, *rest = cmd.args
        if head[0] == "ident":
            name = head[1]
            function = self.functions.get(name)
            if function is None:
                raise UnsupportedFunction(
                    f"{self.t._where(pipe.line)}: the emulator's template renderer does not "
                    f'support the function "{name}" (it supports: '
                    f"{', '.join(sorted(self.functions))})",
                    name,
                )
            args = [self.operand(a, dot, scopes, pipe) for a in rest]
            if piped:
                args.append(final)
            try:
                return function(*args)
            except (TemplateError, _Pending):
                raise
            except Exception as exc:  # a function's own error, as Go reports it
                raise TemplateError(
                    f"{self.t._where(pipe.line)}: executing at <{name}>: error calling "
                    f"{name}: {exc}"
                ) from exc
        if rest or piped:
            raise TemplateError(f"{self.t._where(pipe.line)}: can't give argument to non-function")
        return self.operand(head, dot, scopes, pipe)

    def operand(self, op: Any, dot: Any, scopes: list[dict], pipe: _Pipeline) -> Any:
        kind = op[0]
        if kind == "lit":
            return op[1]
        if kind == "pipe":
            return self.pipeline(op[1], dot, scopes, declare=False)
        if kind == "field":
            return self.fields(dot, op[1], pipe)
        if kind == "var":
            for scope in reversed(scopes):
                if op[1] in scope:
                    return self.fields(scope[op[1]], op[2], pipe)
            raise TemplateError(f'{self.t._where(pipe.line)}: undefined variable "{op[1]}"')
        if kind == "ident":
            return self.command(_Command([op]), dot, scopes, MISSING, False, pipe)
        raise TemplateError(f"{self.t._where(pipe.line)}: bad operand")

    def fields(self, value: Any, names: list[str], pipe: _Pipeline) -> Any:
        for name in names:
            if isinstance(value, Mapping):
                if name in value:
                    value = value[name]
                elif self.missing_key_error:
                    raise TemplateError(
                        f"{self.t._where(pipe.line)}: executing at <.{name}>: map has no "
                        f'entry for key "{name}"'
                    )
                else:
                    value = MISSING
            elif value is MISSING or value is None:
                raise TemplateError(
                    f"{self.t._where(pipe.line)}: executing at <.{name}>: nil pointer "
                    f"evaluating interface {{}}.{name}"
                )
            else:
                raise TemplateError(
                    f"{self.t._where(pipe.line)}: executing at <.{name}>: can't evaluate field "
                    f"{name} in type {type(value).__name__}"
                )
        return value


class _Pending(Exception):
    """Raised by a function whose data is not there yet (consul-template blocks on it)."""


Pending = _Pending


def _range_items(value: Any) -> list[tuple[Any, Any]]:
    if value is MISSING or value is None:
        return []
    if isinstance(value, Mapping):
        return [(k, value[k]) for k in sorted(value)]
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return [(i, i) for i in range(value)]
    raise TemplateError(f"range can't iterate over {go_format(value)}")


def builtins() -> dict[str, Callable[..., Any]]:
    """Go's predefined template functions the renderer offers."""

    def eq(a: Any, *others: Any) -> bool:
        return any(a == b for b in others)

    return {
        "and": lambda *a: next((v for v in a if not truthy(v)), a[-1]),
        "or": lambda *a: next((v for v in a if truthy(v)), a[-1]),
        "not": lambda v: not truthy(v),
        "eq": eq,
        "ne": lambda a, b: a != b,
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
        "len": lambda v: len(v),
        "index": _index,
        "print": lambda *a: "".join(go_format(v) for v in a),
        "println": lambda *a: " ".join(go_format(v) for v in a) + "\n",
        "printf": lambda f, *a: _printf(f, a),
    }


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        value = value.get(key, MISSING) if isinstance(value, Mapping) else value[key]
    return value


def _printf(fmt: str, args: tuple[Any, ...]) -> str:
    values = iter(args)

    def one(match: re.Match[str]) -> str:
        verb = match.group(2)
        if verb == "%":
            return "%"
        value = next(values)
        if verb == "q":
            return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        if verb in "dfeg":
            return ("%" + match.group(1) + verb) % value
        return ("%" + match.group(1) + "s") % go_format(value)

    return re.sub(r"%([-+ #0-9.]*)([a-zA-Z%])", one, fmt)
