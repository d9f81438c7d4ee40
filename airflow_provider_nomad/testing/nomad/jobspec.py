"""Turn an HCL2 jobspec into the JSON ``Job`` that Nomad's ``POST /v1/jobs/parse`` returns.

:func:`parse_jobspec` serves the emulator's ``/v1/jobs/parse``. It follows Nomad's own
pipeline (``command/agent/job_endpoint.go`` -> ``jobspec2`` -> ``api.Job.Canonicalize``) for the
part of the jobspec language that batch jobs use:

* ``job``: ``region``, ``namespace``, ``id``, ``name``, ``type``, ``priority``, ``all_at_once``,
  ``datacenters``, ``node_pool``, ``meta``, ``parameterized``, ``constraint``, ``reschedule``,
  ``group``;
* ``group``: ``count``, ``constraint``, ``restart``, ``reschedule``, ``ephemeral_disk``, ``meta``,
  ``task``;
* ``task``: ``driver``, ``user``, ``config`` (any nesting, decoded like Nomad decodes driver
  configs), ``env``, ``meta``, ``resources``, ``restart``, ``logs``, ``dispatch_payload``,
  ``constraint``, ``kill_timeout``, ``kill_signal``, ``shutdown_delay``, ``leader``.

Values are literals: strings (quoted or heredoc), numbers, bools, ``null``, lists and objects.
A ``${...}`` reference to a runtime attribute (``${attr.kernel.name}``, ``${NOMAD_TASK_DIR}``)
stays in the string as written, which is what Nomad does with references it cannot resolve at
parse time. Everything else that Nomad accepts (variables, locals, functions, operators, other
blocks such as ``service`` or ``affinity``) is rejected with an error that names it, never
dropped silently.

Errors read like Nomad's: each diagnostic is ``input.hcl:<line>,<col>-<col>: <summary>; <detail>``
(Nomad names the submitted source ``input.hcl``), with the texts of HCL and ``jobspec2``
where the construct is one both support.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import lark
from hcl2.api import parses_to_tree
from lark import Token, Tree

from .golang import parse_duration_ns, quote

__all__ = ["JobspecError", "parse_jobspec"]

#: Nomad's parse endpoint hands the body to ``jobspec2`` under this file name, so every source
#: range in its error messages starts with it.
SOURCE_NAME = "input.hcl"

_SECOND = 1_000_000_000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE


class JobspecError(ValueError):
    """A jobspec that Nomad (or this parser) would refuse.

    ``str(error)`` is the text Nomad's ``/v1/jobs/parse`` answers with status 400.

    :param message: the error text, one or more HCL diagnostics.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_jobspec(hcl: str, canonicalize: bool = False) -> dict[str, Any]:
    """Parse an HCL2 jobspec into Nomad's JSON ``Job`` (without a ``{"Job": ...}`` wrapper).

    :param hcl: the jobspec text (``JobHCL`` of the parse request).
    :param canonicalize: apply the defaults of Nomad's ``api.Job.Canonicalize()``, as the parse
        endpoint does when the request says ``"Canonicalize": true``.
    :return: the job as Nomad's JSON encodes it: durations in nanoseconds, unset fields ``None``.
    :raises JobspecError: the jobspec is empty, not valid HCL, or not a valid (supported) job.
    """
    if hcl == "":
        # The endpoint refuses an empty JobHCL before it reaches the parser.
        raise JobspecError("Job spec is empty")
    if _looks_like_json(hcl):
        raise JobspecError(
            str(
                _Diag(
                    "Unsupported jobspec format",
                    'The jobspec starts with "{", so Nomad would read it as JSON; this parser '
                    "reads HCL2 jobspecs only.",
                    _Range(1, 1, 1, 2),
                )
            )
        )
    body = _parse_syntax(hcl)
    job, late = _decode_file(body)
    if late:
        # Nomad evaluates driver configs after everything else decoded cleanly, and reports
        # those failures as one HCL diagnostics list.
        raise JobspecError(_diagnostics_text(late))
    if canonicalize:
        _canonicalize_job(job)
    return job


def _looks_like_json(text: str) -> bool:
    # jobspec2.isJSON skips spaces only (not tabs or newlines) before looking for "{".
    for char in text:
        if char != " ":
            return char == "{"
    return False


# --------------------------------------------------------------------------------------------
# Source ranges and diagnostics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    """A source range; columns are 1-based and the end is exclusive, as in HCL."""

    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        if self.line == self.end_line:
            return f"{SOURCE_NAME}:{self.line},{self.col}-{self.end_col}"
        return f"{SOURCE_NAME}:{self.line},{self.col}-{self.end_line},{self.end_col}"

    def to(self, other: _Range) -> _Range:
        return _Range(self.line, self.col, other.end_line, other.end_col)


@dataclass(frozen=True)
class _Diag:
    """One HCL diagnostic; ``str()`` gives hcl.Diagnostic.Error()'s text."""

    summary: str
    detail: str
    subject: _Range | None = None

    def __str__(self) -> str:
        # Go prints a nil *hcl.Range as "<nil>".
        where = str(self.subject) if self.subject is not None else "<nil>"
        return f"{where}: {self.summary}; {self.detail}"


class _DiagError(Exception):
    def __init__(self, diag: _Diag) -> None:
        super().__init__(str(diag))
        self.diag = diag


def _diagnostics_text(diags: list[_Diag]) -> str:
    """hcl.Diagnostics.Error(): the first diagnostic and how many more there are."""
    if len(diags) == 1:
        return str(diags[0])
    return f"{diags[0]}, and {len(diags) - 1} other diagnostic(s)"


def _token_range(tok: Token) -> _Range:
    return _Range(tok.line, tok.column, tok.end_line, tok.end_column)


def _tree_range(tree: Tree) -> _Range:
    meta = tree.meta
    return _Range(meta.line, meta.column, meta.end_line, meta.end_column)


def _newline_range(tok: Token) -> _Range:
    # HCL's newline token is the "\n" alone: it ends at column 1 of the next line.
    return _Range(tok.line, tok.column, tok.line + 1, 1)


# --------------------------------------------------------------------------------------------
# Syntax: python-hcl2's Lark parse tree -> a small HCL syntax tree with source ranges
# --------------------------------------------------------------------------------------------


@dataclass
class _Expr:
    range: _Range
    #: HCL's Expression.StartRange(), the subject of "Unsuitable value" errors.
    start: _Range


@dataclass
class _Literal(_Expr):
    value: Any


@dataclass
class _Template(_Expr):
    #: literal text and interpolated expressions, in order
    parts: list[str | _Expr]


@dataclass
class _Traversal(_Expr):
    names: list[str]


@dataclass
class _Tuple(_Expr):
    items: list[_Expr]


@dataclass
class _Object(_Expr):
    items: list[tuple[str, _Expr]]


@dataclass
class _Unsupported(_Expr):
    what: str


@dataclass
class _Attribute:
    name: str
    name_range: _Range
    expr: _Expr

    @property
    def range(self) -> _Range:
        return self.name_range.to(self.expr.range)


@dataclass
class _Body:
    attributes: dict[str, _Attribute] = field(default_factory=dict)
    blocks: list[_Block] = field(default_factory=list)


@dataclass
class _Block:
    type: str
    type_range: _Range
    labels: list[str]
    label_ranges: list[_Range]
    open_brace: _Range
    body: _Body

    @property
    def def_range(self) -> _Range:
        last = self.label_ranges[-1] if self.label_ranges else self.type_range
        return self.type_range.to(last)


def _parse_syntax(text: str) -> _Body:
    """Parse with python-hcl2 and rebuild the tree; raise Nomad-shaped syntax errors."""
    try:
        tree = parses_to_tree(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise JobspecError(str(_syntax_diag(exc, text))) from None
    builder = _SyntaxBuilder()
    body = builder.body(tree.children[0])
    if builder.diags:
        raise JobspecError(_diagnostics_text(builder.diags))
    return body


class _SyntaxBuilder:
    """Rebuilds python-hcl2's parse tree, checking what its grammar is looser about than HCL."""

    def __init__(self) -> None:
        self.diags: list[_Diag] = []

    # -- bodies, attributes, blocks ---------------------------------------------------------

    def body(self, tree: Tree, in_block: bool = False, close: Token | None = None) -> _Body:
        body = _Body()
        children = [c for c in tree.children if isinstance(c, Tree)]
        # Content on the line of the opening brace makes a single-line block (foo { a = 1 }).
        single_line = in_block and bool(children) and children[0].data != "new_line_or_comment"
        if single_line:
            self._check_single_line_body(children)
        previous: Tree | None = None
        for child in children:
            if child.data == "new_line_or_comment":
                previous = None
                continue
            if previous is not None and not single_line:
                # python-hcl2 accepts two items on one line; HCL wants a newline after each.
                self._missing_newline(previous, _token_range(self._first_token(child)))
            # An operator expression swallows the newline that ends its line.
            previous = None if _ends_with_newline(child) else child
            if child.data == "attribute":
                attr = self.attribute(child)
                existing = body.attributes.get(attr.name)
                if existing is not None:
                    self.diags.append(
                        _Diag(
                            "Attribute redefined",
                            f"The argument {quote(attr.name)} was already set at "
                            f"{existing.name_range}. Each argument may be set only once.",
                            attr.name_range,
                        )
                    )
                else:
                    body.attributes[attr.name] = attr
            else:
                body.blocks.append(self.block(child))
        if previous is not None and not single_line and close is not None:
            self._missing_newline(previous, _token_range(close))  # "a = 1 }"
        return body

    def _check_single_line_body(self, children: list[Tree]) -> None:
        first = children[0]
        if first.data == "block":
            ident = self._name_token(first.children[0])
            following = first.children[1]
            if isinstance(following, Tree):
                following = self._first_token(following)
            following_range = _token_range(following)
            self.diags.append(
                _Diag(
                    "Argument definition required",
                    "A single-line block definition can contain only a single argument. If you "
                    f"meant to define argument {quote(str(ident))}, use an equals sign to assign "
                    "it a value. To define a nested block, place it on a line of its own within "
                    "its parent block.",
                    _token_range(ident).to(following_range),
                )
            )
            return
        if len(children) < 2:
            return
        second = children[1]
        if second.data == "new_line_or_comment":
            self.diags.append(
                _Diag(
                    "Invalid single-argument block definition",
                    "An argument definition on the same line as its containing block creates a "
                    "single-line block definition, which must also be closed on the same line. "
                    "Place the block's closing brace immediately after the argument definition.",
                    _newline_range(second.children[0]),
                )
            )
        else:
            self.diags.append(
                _Diag(
                    "Invalid single-argument block definition",
                    "A single-line block definition must end with a closing brace immediately "
                    "after its single argument definition.",
                    _token_range(self._first_token(second)),
                )
            )

    def _missing_newline(self, previous: Tree, subject: _Range) -> None:
        if previous.data == "attribute":
            self.diags.append(
                _Diag(
                    "Missing newline after argument",
                    "An argument definition must end with a newline.",
                    subject,
                )
            )
        else:
            self.diags.append(
                _Diag(
                    "Missing newline after block definition",
                    "A block definition must end with a newline.",
                    subject,
                )
            )

    def attribute(self, tree: Tree) -> _Attribute:
        name_tok = self._name_token(tree.children[0])
        return _Attribute(str(name_tok), _token_range(name_tok), self.expr(tree.children[2]))

    def block(self, tree: Tree) -> _Block:
        type_tok = self._name_token(tree.children[0])
        labels: list[str] = []
        label_ranges: list[_Range] = []
        open_brace: Token | None = None
        close_brace: Token | None = None
        inner: Tree | None = None
        for child in tree.children[1:]:
            if isinstance(child, Token):
                if child.type == "LBRACE":
                    open_brace = child
                elif child.type == "RBRACE":
                    close_brace = child
                continue
            if open_brace is not None:
                if child.data == "body":
                    inner = child
                continue
            if child.data == "new_line_or_comment":
                self.diags.append(
                    _Diag(
                        "Invalid block definition",
                        'A block definition must have block content delimited by "{" and "}", '
                        "starting on the same line as the block header.",
                        _newline_range(child.children[0]),
                    )
                )
            elif child.data == "string":
                labels.append(self._label_string(child))
                label_ranges.append(_tree_range(child))
            else:
                label_tok = self._name_token(child)
                labels.append(str(label_tok))
                label_ranges.append(_token_range(label_tok))
        assert open_brace is not None  # the grammar requires it
        brace_range = _token_range(open_brace)
        body = self.body(inner, True, close_brace) if inner is not None else _Body()
        return _Block(
            str(type_tok), _token_range(type_tok), labels, label_ranges, brace_range, body
        )

    def _label_string(self, tree: Tree) -> str:
        text = []
        for part in self._string_parts(tree):
            if isinstance(part, _Expr):
                self.diags.append(
                    _Diag(
                        "Invalid string literal",
                        "Template sequences are not allowed in this string. To include a literal "
                        '"$", double it (as "$$") to escape it.',
                        part.range,
                    )
                )
            else:
                text.append(part)
        return "".join(text)

    # -- expressions ------------------------------------------------------------------------

    def expr(self, node: Tree | Token) -> _Expr:
        if isinstance(node, Token):  # pragma: no cover - the grammar wraps terminals in rules
            rng = _token_range(node)
            return _Unsupported(rng, rng, f"the token {node!s}")
        rng = _tree_range(node)
        kind = node.data
        if kind == "expr_term":
            inner = [c for c in node.children if isinstance(c, Tree)]
            inner = [c for c in inner if c.data != "new_line_or_comment"]
            first = node.children[0]
            result = self.expr(inner[0])
            if isinstance(first, Token) and first.type == "LPAR":
                result.range = rng  # parentheses only group
            return result
        if kind in ("int_lit", "float_lit"):
            return _Literal(rng, rng, _number(str(node.children[0])))
        if kind == "literal_value":
            word = str(node.children[0])
            value = {"true": True, "false": False, "null": None}[word]
            return _Literal(rng, rng, value)
        if kind == "string":
            return self._template(node)
        if kind in ("heredoc_template", "heredoc_template_trim"):
            return self._heredoc(node)
        if kind == "identifier":
            return _Traversal(rng, rng, [str(node.children[0])])
        if kind == "get_attr_expr_term":
            base = self.expr(node.children[0])
            attr_node = node.children[1].children[1]
            name = str(attr_node.children[0])
            if isinstance(base, _Traversal):
                return _Traversal(rng, base.start, [*base.names, name])
            return _Unsupported(rng, base.start, "Attribute access on a value")
        if kind == "tuple":
            items = [
                self.expr(c)
                for c in node.children
                if isinstance(c, Tree) and c.data != "new_line_or_comment"
            ]
            return _Tuple(rng, _token_range(node.children[0]), items)
        if kind == "object":
            return self._object(node, rng)
        if kind == "unary_op":
            return self._unary(node, rng)
        names = {
            "conditional": "A conditional expression",
            "binary_op": "An operator expression",
            "function_call": "A function call",
            "index_expr_term": "An index expression",
            "attr_splat_expr_term": "A splat expression",
            "full_splat_expr_term": "A splat expression",
            "for_tuple_expr": "A for expression",
            "for_object_expr": "A for expression",
        }
        rng = _significant_range(node)
        return _Unsupported(rng, rng, names.get(kind, f"The expression ({kind})"))

    def _unary(self, node: Tree, rng: _Range) -> _Expr:
        op = str(node.children[0])
        operand = self.expr(node.children[1])
        if isinstance(operand, _Literal):
            value = operand.value
            if op == "-" and isinstance(value, int | float) and not isinstance(value, bool):
                return _Literal(rng, rng, -value)
            if op == "!" and isinstance(value, bool):
                return _Literal(rng, rng, not value)
        return _Unsupported(rng, rng, "An operator expression")

    def _object(self, node: Tree, rng: _Range) -> _Expr:
        items: list[tuple[str, _Expr]] = []
        for elem in node.children:
            if not isinstance(elem, Tree) or elem.data != "object_elem":
                continue
            key_node = elem.children[0].children[0]
            value = self.expr(elem.children[2])
            key: str | None = None
            if key_node.data == "keyword":
                key = str(key_node.children[0])
            else:
                key_expr = self.expr(key_node)
                # HCL reads a bare name in key position as the key itself, not a variable.
                if isinstance(key_expr, _Traversal) and len(key_expr.names) == 1:
                    key = key_expr.names[0]
                elif isinstance(key_expr, _Template) and all(
                    isinstance(p, str) for p in key_expr.parts
                ):
                    key = "".join(key_expr.parts)  # type: ignore[arg-type]
                elif isinstance(key_expr, _Literal) and key_expr.value is not None:
                    key = _to_string(key_expr.value)
            if key is None:
                key_range = _tree_range(key_node)
                return _Unsupported(rng, key_range, "A computed object key")
            items.append((key, value))
        return _Object(rng, _token_range(node.children[0]), items)

    def _template(self, tree: Tree) -> _Expr:
        rng = _tree_range(tree)
        parts = self._string_parts(tree)
        part_trees = [c for c in tree.children if isinstance(c, Tree)]
        if len(parts) == 1 and isinstance(parts[0], _Expr):
            start = rng  # "${x}" alone: HCL's TemplateWrapExpr starts at the quote
        elif parts and isinstance(parts[0], _Expr):
            start = parts[0].start
        elif part_trees:
            start = _tree_range(part_trees[0])
        else:
            # An empty string starts (and ends) right after its opening quote.
            start = _Range(rng.line, rng.col + 1, rng.line, rng.col + 1)
        return _Template(rng, start, parts)

    def _string_parts(self, tree: Tree) -> list[str | _Expr]:
        parts: list[str | _Expr] = []
        for part in tree.children:
            if not isinstance(part, Tree):
                continue
            piece = part.children[0]
            if isinstance(piece, Token):
                if piece.type == "STRING_CHARS":
                    parts.append(self._unescape(piece))
                else:
                    # "$${" and "%%{" escape a literal "${" or "%{".
                    parts.append(str(piece)[1:])
            elif piece.data == "interpolation":
                parts.append(self.expr(piece.children[1]))
            else:
                prng = _tree_range(piece)
                parts.append(_Unsupported(prng, prng, "A template directive"))
        return parts

    def _unescape(self, tok: Token) -> str:
        raw = str(tok)
        out: list[str] = []
        i = 0
        while i < len(raw):
            char = raw[i]
            if char == "\n":
                line, col = _position_in(tok, i)
                self.diags.append(
                    _Diag(
                        "Invalid multi-line string",
                        "Quoted strings may not be split over multiple lines. To produce a "
                        "multi-line string, either use the \\n escape to represent a newline "
                        'character or use the "heredoc" multi-line template syntax.',
                        _Range(line, col, line + 1, 1),
                    )
                )
                out.append(char)
                i += 1
                continue
            if char != "\\":
                out.append(char)
                i += 1
                continue
            selector = raw[i + 1 : i + 2]
            simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
            if selector in simple:
                out.append(simple[selector])
                i += 2
                continue
            width = {"u": 4, "U": 8}.get(selector)
            digits = raw[i + 2 : i + 2 + width] if width else ""
            line, col = _position_in(tok, i)
            if width and len(digits) == width and re.fullmatch(r"[0-9A-Fa-f]+", digits):
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            if width:
                detail = (
                    f"The \\{selector} escape sequence must be followed by {width} "
                    "hexadecimal digits."
                )
            else:
                detail = f"The symbol {quote(selector)} is not a valid escape sequence selector."
            self.diags.append(
                _Diag("Invalid escape sequence", detail, _Range(line, col, line, col + 2))
            )
            i += 2
        return "".join(out)

    def _heredoc(self, tree: Tree) -> _Expr:
        tok = tree.children[0]
        rng = _token_range(tok)
        raw = str(tok)
        match = re.match(r"<<(-?)([A-Za-z][A-Za-z0-9._-]*)\r?\n", raw)
        assert match is not None  # the terminal's own pattern guarantees it
        # The token ends with the closing marker's line and its newline: drop both.
        lines = [ln + "\n" for ln in raw[match.end() :].split("\n")[:-2]]
        if match.group(1):
            # "<<-" strips the indentation that every non-blank line shares.
            indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
            strip = min(indents, default=0)
            lines = [ln[min(strip, len(ln) - len(ln.lstrip(" \t"))) :] for ln in lines]
        content = "".join(lines)
        return _Template(
            rng, _Range(rng.line + 1, 1, rng.line + 1, 1), _heredoc_parts(content, rng)
        )

    # -- parse-tree access ------------------------------------------------------------------

    @staticmethod
    def _name_token(tree: Tree) -> Token:
        return tree.children[0]

    @staticmethod
    def _first_token(tree: Tree) -> Token:
        for tok in tree.scan_values(lambda v: isinstance(v, Token)):
            return tok
        raise AssertionError("a body item always starts with a token")  # pragma: no cover


_HEREDOC_REFERENCE = re.compile(
    r"\$\{\s*([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)\s*\}"
)


def _heredoc_parts(content: str, rng: _Range) -> list[str | _Expr]:
    """Split heredoc text into literal text and ``${name.path}`` references."""
    parts: list[str | _Expr] = []
    text: list[str] = []
    i = 0
    while i < len(content):
        if content.startswith("$${", i) or content.startswith("%%{", i):
            text.append(content[i + 1 : i + 3])
            i += 3
            continue
        if content.startswith("${", i):
            match = _HEREDOC_REFERENCE.match(content, i)
            parts.append("".join(text))
            text = []
            if match is None:
                parts.append(_Unsupported(rng, rng, "An interpolation other than a reference"))
                end = content.find("}", i)
                i = len(content) if end < 0 else end + 1
                continue
            parts.append(_Traversal(rng, rng, match.group(1).split(".")))
            i = match.end()
            continue
        if content.startswith("%{", i):
            parts.append("".join(text))
            text = []
            parts.append(_Unsupported(rng, rng, "A template directive"))
            end = content.find("}", i)
            i = len(content) if end < 0 else end + 1
            continue
        text.append(content[i])
        i += 1
    parts.append("".join(text))
    return [p for p in parts if p != ""] or [""]


def _significant_range(tree: Tree) -> _Range:
    """A tree's range without the newline an operator expression may end with."""
    tokens = [t for t in tree.scan_values(lambda v: isinstance(v, Token))]
    while tokens and tokens[-1].type == "NL_OR_COMMENT":
        tokens.pop()
    return _tree_range(tree).to(_token_range(tokens[-1])) if tokens else _tree_range(tree)


def _ends_with_newline(tree: Tree) -> bool:
    last: Tree | Token = tree
    while isinstance(last, Tree):
        if last.data == "new_line_or_comment":
            return True
        if not last.children:
            return False
        last = last.children[-1]
    return last.type == "NL_OR_COMMENT" or str(last).endswith("\n")  # heredocs end so


def _position_in(tok: Token, index: int) -> tuple[int, int]:
    """Line and column of the character at ``index`` inside a token's text."""
    before = str(tok)[:index]
    newlines = before.count("\n")
    if newlines == 0:
        return tok.line, tok.column + index
    return tok.line + newlines, index - before.rfind("\n")


def _number(text: str) -> int | float:
    value = Decimal(text)
    # Nomad keeps whole numbers as integers (jobspec2 smallestNumber).
    if value == value.to_integral_value():
        return int(value)
    return float(value)


# -- syntax errors reported by the Lark parser -----------------------------------------------


def _syntax_diag(exc: lark.exceptions.UnexpectedInput, text: str) -> _Diag:
    """Describe a python-hcl2 parse failure the way HCL's parser reports the same mistake."""
    line, col = exc.line, exc.column
    if isinstance(exc, lark.exceptions.UnexpectedCharacters) or (
        line > 0 and _char_at(text, line, col) in _INVALID_CHARACTERS
    ):
        return _invalid_character(text, line, col)
    if not isinstance(exc, lark.exceptions.UnexpectedToken):  # pragma: no cover - EOF is a token
        return _Diag(
            "Invalid syntax", "The jobspec is not valid HCL.", _hcl_token_at(text, line, col)
        )
    bad: Token = exc.token
    # The LALR parser state tells what was open when the parse failed.
    stack = list(getattr(exc.state, "value_stack", None) or [])
    top = stack[-1] if stack else None

    open_quote = next(
        (v for v in reversed(stack) if isinstance(v, Token) and v.type == "DBLQUOTE"), None
    )
    if open_quote is not None:
        newline = text.find("\n", _offset(text, open_quote.end_line, open_quote.end_column))
        if newline >= 0:
            nl_line, nl_col = _line_col(text, newline)
            return _Diag(
                "Invalid multi-line string",
                "Quoted strings may not be split over multiple lines. To produce a multi-line "
                "string, either use the \\n escape to represent a newline character or use the "
                '"heredoc" multi-line template syntax.',
                _Range(nl_line, nl_col, nl_line + 1, 1),
            )
        return _Diag(
            "Unterminated template string",
            "No closing marker was found for the string.",
            _token_range(open_quote),
        )

    at_eof = bad.type == "$END"
    if isinstance(top, Token) and top.type in _EXPRESSION_OPENERS:
        if at_eof:
            return _Diag(
                "Missing expression",
                "Expected the start of an expression, but found the end of the file.",
                _eof_range(text),
            )
        return _Diag(
            "Invalid expression",
            "Expected the start of an expression, but found an invalid expression token.",
            _hcl_token_at(text, bad.line, bad.column),
        )
    if at_eof:
        brace = next(
            (v for v in reversed(stack) if isinstance(v, Token) and v.type == "LBRACE"), None
        )
        if brace is not None:
            return _Diag(
                "Unclosed configuration block",
                "There is no closing brace for this block before the end of the file. This may "
                "be caused by incorrect brace nesting elsewhere in this file.",
                _token_range(brace),
            )
        return _Diag("Invalid syntax", "Unexpected end of file.", _eof_range(text))
    bad_range = _hcl_token_at(text, *_skip_blanks(text, bad.line, bad.column))
    if _at_item_boundary(stack):
        if bad.type == "DBLQUOTE":
            return _Diag(
                "Invalid argument name", "Argument names must not be quoted.", _token_range(bad)
            )
        return _Diag(
            "Argument or block definition required",
            "An argument or block definition is required here.",
            bad_range,
        )
    if isinstance(top, Tree) and top.data in _NAME_RULES and _at_item_boundary(stack[:-1]):
        # A lone name followed by neither "=" nor a block header.
        return _Diag(
            "Argument or block definition required",
            "An argument or block definition is required here. To set an argument, use the "
            'equals sign "=" to introduce the argument value.',
            _tree_range(top),
        )
    if isinstance(top, Tree) and (
        top.data in _NAME_RULES or top.data in ("string", "__block_star_1")
    ):
        if bad.type == "EQ":
            return _Diag(
                "Invalid block definition",
                'The equals sign "=" indicates an argument definition, and must not be used when '
                "defining a block.",
                bad_range,
            )
        return _Diag(
            "Invalid block definition",
            'Either a quoted string block label or an opening brace ("{") is expected here.',
            bad_range,
        )
    return _Diag("Invalid syntax", f"Unexpected {_describe(text, bad)} here.", bad_range)


#: Tokens after which HCL expects an expression to start.
_EXPRESSION_OPENERS = ("EQ", "COLON", "COMMA", "LSQB", "LPAR", "INTERP_START", "QMARK")
#: Parse-tree rules that hold a bare name (argument name, block type or label).
_NAME_RULES = ("identifier", "_attribute_name", "keyword", "literal_value")


def _at_item_boundary(stack: list[Any]) -> bool:
    """Whether the parser stands where a body expects its next argument or block."""
    for index in range(len(stack) - 1, -1, -1):
        value = stack[index]
        if isinstance(value, Tree) and (
            value.data in ("new_line_or_comment", "body") or value.data.startswith("__body")
        ):
            continue
        if not (isinstance(value, Token) and value.type == "LBRACE"):
            return False
        # A brace after "=", ":", "," or "[" opens an object, not a block body.
        before = stack[index - 1] if index > 0 else None
        return not (isinstance(before, Token) and before.type in _EXPRESSION_OPENERS)
    return True


_INVALID_CHARACTERS = {"@", "`", ";", "'", "^", "\\"}


def _invalid_character(text: str, line: int, col: int) -> _Diag:
    char = _char_at(text, line, col)
    subject = _Range(line, col, line, col + 1)
    if char == ";":
        detail = (
            'The ";" character is not valid. Use newlines to separate arguments and blocks, and '
            "commas to separate items in collection values."
        )
    elif char == "'":
        detail = 'Single quotes are not valid. Use double quotes (") to enclose strings.'
    else:
        detail = "This character is not used within the language."
    return _Diag("Invalid character", detail, subject)


def _describe(text: str, tok: Token) -> str:
    line, col = _skip_blanks(text, tok.line, tok.column)
    rng = _hcl_token_at(text, line, col)
    if rng.end_line != rng.line:
        return "newline"
    return quote(text[_offset(text, line, col) : _offset(text, rng.end_line, rng.end_col)])


def _offset(text: str, line: int, col: int) -> int:
    offset = 0
    for _ in range(line - 1):
        nxt = text.find("\n", offset)
        if nxt < 0:
            return len(text)
        offset = nxt + 1
    return min(offset + col - 1, len(text))


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _char_at(text: str, line: int, col: int) -> str:
    offset = _offset(text, line, col)
    return text[offset] if offset < len(text) else ""


def _skip_blanks(text: str, line: int, col: int) -> tuple[int, int]:
    offset = _offset(text, line, col)
    while offset < len(text) and text[offset] in " \t\r":
        offset += 1
    return _line_col(text, offset)


def _eof_range(text: str) -> _Range:
    line, col = _line_col(text, len(text))
    return _Range(line, col, line, col)


def _hcl_token_at(text: str, line: int, col: int) -> _Range:
    """The range of the HCL token that starts at a position (HCL reports tokens, Lark lexemes)."""
    offset = _offset(text, line, col)
    if offset >= len(text):
        return _Range(line, col, line, col)
    char = text[offset]
    if char == "\n":
        return _Range(line, col, line + 1, 1)
    end = offset + 1
    if char.isalpha() or char == "_":
        while end < len(text) and (text[end].isalnum() or text[end] in "_-"):
            end += 1
    elif char.isdigit():
        while end < len(text) and (text[end].isalnum() or text[end] == "."):
            end += 1
    elif text.startswith(("${", "%{", "==", "!=", "<=", ">=", "&&", "||", "=>", "<<"), offset):
        end = offset + 2
    return _Range(line, col, line, col + (end - offset))


# --------------------------------------------------------------------------------------------
# Values: evaluating literal expressions and converting them like go-cty does
# --------------------------------------------------------------------------------------------

#: Roots that jobspec2 resolves itself (input variables and locals); this parser has neither.
_VARIABLE_ROOTS = ("var", "local")


def _evaluate(expr: _Expr) -> Any:
    """The value of an expression: str, int, float, bool, None, list or dict."""
    if isinstance(expr, _Literal):
        return expr.value
    if isinstance(expr, _Traversal):
        if expr.names[0] in _VARIABLE_ROOTS:
            raise _DiagError(
                _Diag(
                    "Unsupported variable reference",
                    f"The reference {quote('.'.join(expr.names))} needs jobspec variables or "
                    "locals, which this jobspec parser does not support: write the value itself.",
                    expr.range,
                )
            )
        # Nomad's evaluation context turns any name it cannot resolve into the literal text
        # "${name}", so the client interpolates it at run time.
        return "${" + ".".join(expr.names) + "}"
    if isinstance(expr, _Template):
        if len(expr.parts) == 1 and isinstance(expr.parts[0], _Expr):
            return _evaluate(expr.parts[0])  # "${x}" alone is x itself, as in HCL
        return "".join(_template_piece(p) for p in expr.parts)
    if isinstance(expr, _Tuple):
        return [_evaluate(item) for item in expr.items]
    if isinstance(expr, _Object):
        return {key: _evaluate(value) for key, value in expr.items}
    if isinstance(expr, _Unsupported):
        raise _DiagError(
            _Diag(
                "Unsupported expression",
                f"{expr.what} is not supported by this jobspec parser: write literal values "
                "(strings, numbers, bools, null, lists, objects); a string may keep a "
                "${...} reference to a runtime attribute such as ${attr.kernel.name}.",
                expr.range,
            )
        )
    raise AssertionError(f"unknown expression {expr!r}")  # pragma: no cover


def _template_piece(part: str | _Expr) -> str:
    if isinstance(part, str):
        return part
    value = _evaluate(part)
    if value is None:
        raise _DiagError(
            _Diag(
                "Invalid template interpolation value",
                "The expression result is null. Cannot include a null value in a string template.",
                part.range,
            )
        )
    if isinstance(value, list | dict):
        raise _DiagError(
            _Diag(
                "Invalid template interpolation value",
                "Cannot include the given value in a string template: string required.",
                part.range,
            )
        )
    return _to_string(value)


class _ConversionError(Exception):
    pass


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # cty formats numbers without an exponent, shortest form first.
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, str):
        return value
    raise _ConversionError("string required")


_NUMBER_TEXT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def _to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise _ConversionError("number required")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value):
            raise _ConversionError("a number is required")
        try:
            return _number(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise _ConversionError("a number is required") from None
    raise _ConversionError("number required")


def _to_int(value: Any) -> int:
    number = _to_number(value)
    if isinstance(number, float) or not -(2**63) <= number < 2**63:
        raise _ConversionError(
            "value must be a whole number, between -9223372036854775808 and 9223372036854775807"
        )
    return number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        lowered = value.lower()
        if lowered in ("true", "false"):
            raise _ConversionError(
                f'a bool is required; to convert from string, use lowercase "{lowered}"'
            )
        raise _ConversionError("a bool is required")
    raise _ConversionError("bool required")


def _to_string_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise _ConversionError("list of string required")
    return [_not_null_string(item) for item in value]


def _to_string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _ConversionError("map of string required")
    return {k: _not_null_string(v) for k, v in sorted(value.items())}


def _not_null_string(value: Any) -> str:
    # A Go []string or map[string]string has no room for a null element.
    if value is None:
        raise _ConversionError("null value is not allowed")
    return _to_string(value)


_STRING, _INT, _BOOL, _DURATION, _STRINGS = "string", "int", "bool", "duration", "strings"

_CONVERTERS = {
    _STRING: _to_string,
    _INT: _to_int,
    _BOOL: _to_bool,
    _STRINGS: _to_string_list,
}

# --------------------------------------------------------------------------------------------
# Decoding: HCL body -> Nomad api.Job JSON, mirroring jobspec2 and gohcl
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    """An argument this parser decodes: HCL name, Nomad JSON key, value kind."""

    hcl: str
    key: str
    kind: str


def _words(text: str) -> tuple[str, ...]:
    """Names written as one space-separated string: long tables stay readable."""
    return tuple(text.split())


def _fields(*specs: str) -> tuple[_Field, ...]:
    """``"hcl_name:JsonKey:kind"`` specs to fields."""
    return tuple(_Field(*spec.split(":")) for spec in specs)


@dataclass(frozen=True)
class _Schema:
    """What Nomad accepts in one block, and the part of it this parser decodes.

    ``fields`` and ``blocks`` (block type -> label names) are decoded; ``other_attrs`` and
    ``other_blocks`` are valid in Nomad too and get an "unsupported here" error, never a
    silent drop. The union drives HCL's own checks and suggestions.
    """

    fields: tuple[_Field, ...] = ()
    blocks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    other_attrs: tuple[str, ...] = ()
    other_blocks: tuple[str, ...] = ()

    @property
    def attr_names(self) -> list[str]:
        # gohcl builds its schema with sorted names, which orders HCL's suggestions.
        return sorted({f.hcl for f in self.fields} | set(self.other_attrs))

    @property
    def block_names(self) -> list[str]:
        return sorted(set(self.blocks) | set(self.other_blocks))


_TOP_LEVEL_BLOCKS = {"variables": (), "variable": ("name",), "locals": (), "job": ("name",)}

_JOB = _Schema(
    fields=_fields(
        "region:Region:string",
        "namespace:Namespace:string",
        "id:ID:string",
        "name:Name:string",
        "type:Type:string",
        "priority:Priority:int",
        "all_at_once:AllAtOnce:bool",
        "datacenters:Datacenters:strings",
        "node_pool:NodePool:string",
    ),
    blocks={
        "constraint": (),
        "group": ("name",),
        "parameterized": (),
        "reschedule": (),
        "meta": (),
    },
    other_blocks=_words("affinity update multiregion spread periodic migrate ui"),
)

_GROUP = _Schema(
    fields=_fields("count:Count:int"),
    blocks={
        "constraint": (),
        "task": ("name",),
        "restart": (),
        "reschedule": (),
        "ephemeral_disk": (),
        "meta": (),
    },
    other_attrs=_words(
        "shutdown_delay stop_after_client_disconnect max_client_disconnect"
        " prevent_reschedule_on_lost"
    ),
    other_blocks=_words(
        "affinity spread volume disconnect update migrate network service scaling consul"
    ),
)

_TASK = _Schema(
    fields=_fields(
        "driver:Driver:string",
        "user:User:string",
        "kill_timeout:KillTimeout:duration",
        "leader:Leader:bool",
        "shutdown_delay:ShutdownDelay:duration",
        "kill_signal:KillSignal:string",
    ),
    blocks=dict.fromkeys(
        _words("config constraint env resources restart meta logs dispatch_payload"), ()
    ),
    other_attrs=("kind",),
    other_blocks=_words(
        "lifecycle affinity service artifact vault consul template volume_mount csi_plugin"
        " identity action schedule"
    ),
)

_RESOURCES = _Schema(
    fields=_fields(
        "cpu:CPU:int",
        "cores:Cores:int",
        "memory:MemoryMB:int",
        "memory_max:MemoryMaxMB:int",
        "disk:DiskMB:int",
        "secrets:SecretsMB:int",
        "iops:IOPS:int",
    ),
    other_blocks=("network", "device", "numa"),
)

_RESTART = _Schema(
    fields=_fields(
        "interval:Interval:duration",
        "attempts:Attempts:int",
        "delay:Delay:duration",
        "mode:Mode:string",
        "render_templates:RenderTemplates:bool",
    )
)

_RESCHEDULE = _Schema(
    fields=_fields(
        "attempts:Attempts:int",
        "interval:Interval:duration",
        "delay:Delay:duration",
        "delay_function:DelayFunction:string",
        "max_delay:MaxDelay:duration",
        "unlimited:Unlimited:bool",
    )
)

_LOGS = _Schema(
    fields=_fields(
        "max_files:MaxFiles:int",
        "max_file_size:MaxFileSizeMB:int",
        "enabled:Enabled:bool",
        "disabled:Disabled:bool",
    )
)

_EPHEMERAL_DISK = _Schema(
    fields=_fields("sticky:Sticky:bool", "migrate:Migrate:bool", "size:SizeMB:int")
)

_PARAMETERIZED = _Schema(
    fields=_fields(
        "payload:Payload:string",
        "meta_required:MetaRequired:strings",
        "meta_optional:MetaOptional:strings",
    )
)

_DISPATCH_PAYLOAD = _Schema(fields=_fields("file:File:string"))

#: jobspec2's constraint spec: every attribute is a string except ``distinct_hosts``.
_CONSTRAINT_ATTRS = {
    **dict.fromkeys(
        _words(
            "attribute value operator distinct_property regexp version semver set_contains"
            " set_contains_all set_contains_any is_set is_not_set"
        ),
        _STRING,
    ),
    "distinct_hosts": _BOOL,
}


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _suggest(given: str, candidates: Iterable[str]) -> str | None:
    # hclsyntax nameSuggestion: the first candidate within edit distance 2.
    for candidate in candidates:
        if _levenshtein(given, candidate) < 3:
            return candidate
    return None


class _Decoder:
    """Decodes one jobspec, collecting diagnostics the way jobspec2 does."""

    def __init__(self) -> None:
        self.diags: list[_Diag] = []
        #: driver-config evaluation errors; Nomad reports them only if nothing else failed
        self.late: list[_Diag] = []

    # -- HCL's structural checks (hclsyntax Body.Content) -----------------------------------

    def content(
        self,
        body: _Body,
        schema: _Schema,
        hidden_attrs: Iterable[str] = (),
        hidden_blocks: Iterable[str] = (),
    ) -> tuple[dict[str, _Attribute], list[_Block]]:
        """The arguments and blocks a schema knows, with HCL's errors for the rest."""
        return self._content(
            body, schema.attr_names, schema.blocks, schema.block_names, hidden_attrs, hidden_blocks
        )

    def _content(
        self,
        body: _Body,
        attr_names: list[str],
        block_labels: dict[str, tuple[str, ...]],
        block_names: Iterable[str],
        hidden_attrs: Iterable[str] = (),
        hidden_blocks: Iterable[str] = (),
    ) -> tuple[dict[str, _Attribute], list[_Block]]:
        """hclsyntax Body.Content: label checks, then unexpected arguments and blocks."""
        block_names = list(block_names)
        hidden_attrs, hidden_blocks = set(hidden_attrs), set(hidden_blocks)
        attrs = {n: a for n, a in body.attributes.items() if n in attr_names}
        blocks: list[_Block] = []
        for block in body.blocks:
            if block.type in hidden_blocks or block.type not in block_names:
                continue
            labels = block_labels.get(block.type)
            # Blocks outside the decoded subset are refused later, whatever their labels.
            if labels is None or self.labels_ok(block, labels):
                blocks.append(block)
        for name, attr in body.attributes.items():
            if name in attr_names or name in hidden_attrs:
                continue
            undefined = [n for n in attr_names if n not in body.attributes]
            suggestion = _suggest(name, undefined)
            if suggestion is not None:
                hint = f" Did you mean {quote(suggestion)}?"
            elif name in block_names:
                hint = f" Did you mean to define a block of type {quote(name)}?"
            else:
                hint = ""
            self.diags.append(
                _Diag(
                    "Unsupported argument",
                    f"An argument named {quote(name)} is not expected here.{hint}",
                    attr.name_range,
                )
            )
        for block in body.blocks:
            if block.type in block_names or block.type in hidden_blocks:
                continue
            suggestion = _suggest(block.type, block_names)
            if suggestion is not None:
                hint = f" Did you mean {quote(suggestion)}?"
            elif block.type in attr_names:
                hint = (
                    f" Did you mean to define argument {quote(block.type)}? If so, use the "
                    "equals sign to assign it a value."
                )
            else:
                hint = ""
            self.diags.append(
                _Diag(
                    "Unsupported block type",
                    f"Blocks of type {quote(block.type)} are not expected here.{hint}",
                    block.type_range,
                )
            )
        return attrs, blocks

    def labels_ok(self, block: _Block, names: tuple[str, ...]) -> bool:
        if len(block.labels) > len(names):
            if not names:
                detail = f"No labels are expected for {block.type} blocks."
            else:
                detail = (
                    f"Only {len(names)} labels ({', '.join(names)}) are expected for "
                    f"{block.type} blocks."
                )
            self.diags.append(
                _Diag(
                    f"Extraneous label for {block.type}",
                    detail,
                    block.label_ranges[len(names)],
                )
            )
            return False
        if len(block.labels) < len(names):
            self.diags.append(
                _Diag(
                    f"Missing {names[len(block.labels)]} for {block.type}",
                    f"All {block.type} blocks must have {len(names)} labels ({', '.join(names)}).",
                    block.open_brace,
                )
            )
            return False
        return True

    def single(self, blocks: list[_Block], block_type: str) -> _Block | None:
        """The one block of a type a struct field holds (gohcl refuses a second one)."""
        found = [b for b in blocks if b.type == block_type]
        if len(found) > 1:
            self.diags.append(
                _Diag(
                    f"Duplicate {block_type} block",
                    f"Only one {block_type} block is allowed. Another was defined at "
                    f"{found[0].def_range}.",
                    found[1].def_range,
                )
            )
            return None
        return found[0] if found else None

    def not_supported_here(
        self, attrs: dict[str, _Attribute], blocks: list[_Block], schema: _Schema
    ) -> None:
        decoded = {f.hcl for f in schema.fields}
        for name, attr in attrs.items():
            if name not in decoded:
                self.diags.append(
                    _Diag(
                        "Unsupported argument",
                        f"The argument {quote(name)} is valid in a Nomad jobspec, but this "
                        "jobspec parser does not support it.",
                        attr.name_range,
                    )
                )
        for block in blocks:
            if block.type in schema.other_blocks:
                self.unsupported_block(block)

    def unsupported_block(self, block: _Block) -> None:
        self.diags.append(
            _Diag(
                "Unsupported block type",
                f"Blocks of type {quote(block.type)} are valid in a Nomad jobspec, but this "
                "jobspec parser does not support them.",
                block.type_range,
            )
        )

    # -- values -----------------------------------------------------------------------------

    def value(self, attr: _Attribute, kind: str) -> Any:
        """gohcl.DecodeExpression (or jobspec2's duration decoder) for one argument."""
        try:
            value = _evaluate(attr.expr)
        except _DiagError as exc:
            self.diags.append(exc.diag)
            return None
        if value is None:
            return None  # null leaves the field unset
        if kind == _DURATION:
            return self.duration(value, attr.expr)
        try:
            return _CONVERTERS[kind](value)
        except _ConversionError as exc:
            self.diags.append(
                _Diag("Unsuitable value type", f"Unsuitable value: {exc}", attr.expr.start)
            )
            return None

    def duration(self, value: Any, expr: _Expr) -> int | None:
        if isinstance(value, str):
            try:
                return parse_duration_ns(value)
            except ValueError as exc:
                self.diags.append(
                    _Diag("Unsuitable value type", f"Unsuitable duration value: {exc}", expr.start)
                )
                return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return _to_int(value)
            except _ConversionError as exc:
                self.diags.append(
                    _Diag("Unsuitable value type", f"Unsuitable value: {exc}", expr.start)
                )
                return None
        kind = {bool: "bool", list: "tuple", dict: "object"}[type(value)]
        self.diags.append(
            _Diag(
                "Unsuitable value type",
                f"Unsuitable value: expected a string but found {kind}",
                expr.start,
            )
        )
        return None

    def fields(self, attrs: dict[str, _Attribute], schema: _Schema, out: dict[str, Any]) -> None:
        for spec in schema.fields:
            attr = attrs.get(spec.hcl)
            if attr is not None:
                value = self.value(attr, spec.kind)
                if value is not None:
                    out[spec.key] = value

    def simple_block(
        self, block: _Block, schema: _Schema, template: dict[str, Any]
    ) -> dict[str, Any]:
        """A block of plain arguments (restart, reschedule, logs, resources...)."""
        attrs, blocks = self.content(block.body, schema)
        self.not_supported_here(attrs, blocks, schema)
        out = dict(template)
        self.fields(attrs, schema, out)
        return out

    def map_attribute(self, body: _Body, name: str) -> tuple[dict[str, str] | None, bool]:
        """jobspec2 decodeAsAttribute: ``meta = {...}`` instead of a ``meta {}`` block.

        Returns the map (or None) and whether the argument form was used.
        """
        attr = body.attributes.get(name)
        if attr is None:
            return None, False
        block = next((b for b in body.blocks if b.type == name), None)
        if block is not None:
            self.diags.append(
                _Diag(
                    f"Duplicate {name} block",
                    f"{name} may not be defined more than once. Another definition is defined "
                    f"at {attr.range}.",
                    block.def_range,
                )
            )
            return None, True
        try:
            value = _evaluate(attr.expr)
            return (_to_string_map(value) if value is not None else None), True
        except _DiagError as exc:
            self.diags.append(exc.diag)
        except _ConversionError as exc:
            self.diags.append(
                _Diag("Unsuitable value type", f"Unsuitable value: {exc}", attr.expr.start)
            )
        return None, True

    def map_block(self, block: _Block) -> dict[str, str]:
        """A ``meta {}`` / ``env {}`` block: every argument becomes a string."""
        out: dict[str, str] = {}
        for name, attr in block.body.attributes.items():
            try:
                out[name] = _not_null_string(_evaluate(attr.expr))
            except _DiagError as exc:
                self.diags.append(exc.diag)
            except _ConversionError as exc:
                self.diags.append(
                    _Diag("Unsuitable value type", f"Unsuitable value: {exc}", attr.expr.start)
                )
        for nested in block.body.blocks:
            # Nomad reads a nested block here as a list of objects, which is not a string.
            self.diags.append(
                _Diag(
                    "Unsuitable value type", "Unsuitable value: string required", nested.open_brace
                )
            )
        return dict(sorted(out.items()))

    # -- the file and the job ---------------------------------------------------------------

    def file(self, body: _Body) -> dict[str, Any] | None:
        before = len(self.diags)
        _, blocks = self._content(body, [], _TOP_LEVEL_BLOCKS, _TOP_LEVEL_BLOCKS)
        if len(self.diags) > before:
            return None  # jobspec2 stops at the first structural problem of the file
        for block in blocks:
            if block.type != "job":
                self.diags.append(
                    _Diag(
                        "Unsupported jobspec variables",
                        f"{quote(block.type)} blocks declare jobspec variables or locals, which "
                        "this jobspec parser does not support: write the values into the job.",
                        block.def_range,
                    )
                )
        job: dict[str, Any] | None = None
        first: _Block | None = None
        for block in blocks:
            if block.type != "job":
                continue
            if first is not None:
                self.diags.append(
                    _Diag(
                        "Duplicate job block",
                        'Only one block of type "job" is allowed. Previous definition was at '
                        f"{first.def_range}.",
                        block.def_range,
                    )
                )
                continue
            first = block
            job = self.job(block)
        if first is None:
            self.diags.append(_Diag("Missing job block", "A job block is required"))
        return job

    def job(self, block: _Block) -> dict[str, Any]:
        job = _new_job()
        body = block.body
        meta, meta_is_attr = self.map_attribute(body, "meta")
        for extra in body.blocks:
            # jobspec2 takes task and vault blocks out of the job before decoding it.
            if extra.type == "vault" or (extra.type == "task" and self.labels_ok(extra, ("name",))):
                self.unsupported_block(extra)
        attrs, blocks = self.content(
            body,
            _JOB,
            hidden_attrs=("meta",) if meta_is_attr else (),
            hidden_blocks=("task", "vault"),
        )
        self.not_supported_here(attrs, blocks, _JOB)
        self.fields(attrs, _JOB, job)
        job["Constraints"] = self.constraints(blocks)
        parameterized = self.single(blocks, "parameterized")
        if parameterized is not None:
            job["ParameterizedJob"] = self.simple_block(
                parameterized,
                _PARAMETERIZED,
                {"Payload": "", "MetaRequired": None, "MetaOptional": None},
            )
        reschedule = self.single(blocks, "reschedule")
        if reschedule is not None:
            job["Reschedule"] = self.simple_block(reschedule, _RESCHEDULE, _new_reschedule())
        meta_block = self.single(blocks, "meta")
        if meta_block is not None:
            job["Meta"] = self.map_block(meta_block)
        if meta is not None:
            job["Meta"] = meta
        groups = [self.group(b) for b in blocks if b.type == "group"]
        job["TaskGroups"] = groups or None
        # jobspec2 normalizeJob: the label is the ID, and the name unless one is given.
        job["ID"] = job["ID"] if job["ID"] is not None else block.labels[0]
        job["Name"] = job["Name"] if job["Name"] is not None else block.labels[0]
        return job

    def constraints(self, blocks: list[_Block]) -> list[dict[str, str]] | None:
        found = [self.constraint(b) for b in blocks if b.type == "constraint"]
        return found or None

    def constraint(self, block: _Block) -> dict[str, str]:
        """jobspec2 decodeConstraint (an hcldec spec, hence its own error texts)."""
        attrs, _ = self._content(block.body, sorted(_CONSTRAINT_ATTRS), {}, ())
        values: dict[str, Any] = {}
        for name, attr in attrs.items():
            try:
                value = _evaluate(attr.expr)
                kind = _CONSTRAINT_ATTRS[name]
                if value is not None:
                    values[name] = _to_bool(value) if kind == _BOOL else _to_string(value)
            except _DiagError as exc:
                self.diags.append(exc.diag)
            except _ConversionError as exc:
                self.diags.append(
                    _Diag(
                        "Incorrect attribute value type",
                        f"Inappropriate value for attribute {quote(name)}: {exc}.",
                        attr.expr.range,
                    )
                )
        ltarget = values.get("attribute", "")
        rtarget = values.get("value", "")
        operand = values.get("operator", "")
        for special in ("version", "semver", "regexp", "set_contains"):
            if values.get(special, ""):
                operand, rtarget = special, values[special]
        if values.get("distinct_hosts") is True:
            operand = "distinct_hosts"
        if values.get("distinct_property", ""):
            operand, ltarget = "distinct_property", values["distinct_property"]
        return {"LTarget": ltarget, "RTarget": rtarget, "Operand": operand or "="}

    def group(self, block: _Block) -> dict[str, Any]:
        group = _new_group()
        group["Name"] = block.labels[0]
        body = block.body
        meta, meta_is_attr = self.map_attribute(body, "meta")
        for extra in body.blocks:
            if extra.type == "vault":
                self.unsupported_block(extra)
        attrs, blocks = self.content(
            body,
            _GROUP,
            hidden_attrs=("meta",) if meta_is_attr else (),
            hidden_blocks=("vault",),
        )
        self.not_supported_here(attrs, blocks, _GROUP)
        self.fields(attrs, _GROUP, group)
        group["Constraints"] = self.constraints(blocks)
        restart = self.single(blocks, "restart")
        if restart is not None:
            group["RestartPolicy"] = self.simple_block(restart, _RESTART, _new_restart())
        reschedule = self.single(blocks, "reschedule")
        if reschedule is not None:
            group["ReschedulePolicy"] = self.simple_block(
                reschedule, _RESCHEDULE, _new_reschedule()
            )
        disk = self.single(blocks, "ephemeral_disk")
        if disk is not None:
            group["EphemeralDisk"] = self.simple_block(
                disk, _EPHEMERAL_DISK, {"Sticky": None, "Migrate": None, "SizeMB": None}
            )
        meta_block = self.single(blocks, "meta")
        if meta_block is not None:
            group["Meta"] = self.map_block(meta_block)
        if meta is not None:
            group["Meta"] = meta
        tasks = [self.task(b) for b in blocks if b.type == "task"]
        group["Tasks"] = tasks or None
        return group

    def task(self, block: _Block) -> dict[str, Any]:
        task = _new_task()
        task["Name"] = block.labels[0]
        body = block.body
        env, env_is_attr = self.map_attribute(body, "env")
        meta, meta_is_attr = self.map_attribute(body, "meta")
        for extra in body.blocks:
            # jobspec2 decodes task scaling policies (labelled "cpu"/"mem") on the side.
            if extra.type == "scaling" and self.labels_ok(extra, ("name",)):
                self.unsupported_block(extra)
        hidden = [n for n, used in (("env", env_is_attr), ("meta", meta_is_attr)) if used]
        attrs, blocks = self.content(
            body,
            _TASK,
            hidden_attrs=hidden,
            hidden_blocks=("scaling",),
        )
        self.not_supported_here(attrs, blocks, _TASK)
        self.fields(attrs, _TASK, task)
        config = self.single(blocks, "config")
        if config is not None:
            task["Config"] = self.driver_config(config)
        task["Constraints"] = self.constraints(blocks)
        env_block = self.single(blocks, "env")
        if env_block is not None:
            task["Env"] = self.map_block(env_block)
        if env is not None:
            task["Env"] = env
        resources = self.single(blocks, "resources")
        if resources is not None:
            task["Resources"] = self.simple_block(resources, _RESOURCES, _new_resources())
        restart = self.single(blocks, "restart")
        if restart is not None:
            task["RestartPolicy"] = self.simple_block(restart, _RESTART, _new_restart())
        meta_block = self.single(blocks, "meta")
        if meta_block is not None:
            task["Meta"] = self.map_block(meta_block)
        if meta is not None:
            task["Meta"] = meta
        logs = self.single(blocks, "logs")
        if logs is not None:
            task["LogConfig"] = self.simple_block(logs, _LOGS, _new_log_config())
        payload = self.single(blocks, "dispatch_payload")
        if payload is not None:
            task["DispatchPayload"] = self.simple_block(payload, _DISPATCH_PAYLOAD, {"File": ""})
        return task

    # -- driver config (jobspec2 hclutil.BlocksAsAttrs + decodeMapInterfaceType) ------------

    def driver_config(self, block: _Block) -> dict[str, Any]:
        """A driver's ``config``: any shape, nested blocks become lists of objects."""
        config = self._config_body(block.body)
        return config if config is not None else {}

    def _config_body(self, body: _Body) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        failed = False
        for name, attr in body.attributes.items():
            try:
                value = _evaluate(attr.expr)
            except _DiagError as exc:
                self.late.append(exc.diag)
                failed = True
                continue
            if isinstance(attr.expr, _Object):
                value = [value]  # an object argument reads as a one-element list, as blocks do
            out[name] = value
        for block_type, blocks in _by_type(body.blocks):
            items = []
            for nested in blocks:
                inner = self._config_body(nested.body)
                if inner is None:
                    failed = True
                    continue
                for label in reversed(nested.labels):
                    inner = {label: [inner]}
                items.append(inner)
            out[block_type] = items
        if failed:
            return None
        return _go_json(out)


def _by_type(blocks: list[_Block]) -> Iterator[tuple[str, list[_Block]]]:
    grouped: dict[str, list[_Block]] = {}
    for block in blocks:
        grouped.setdefault(block.type, []).append(block)
    yield from grouped.items()


def _go_json(value: Any) -> Any:
    """The value as Nomad's JSON shows a map[string]interface{}: keys sorted, whole numbers int."""
    if isinstance(value, dict):
        return {k: _go_json(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_go_json(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _decode_file(body: _Body) -> tuple[dict[str, Any], list[_Diag]]:
    decoder = _Decoder()
    job = decoder.file(body)
    if decoder.diags:
        # jobspec2 decode() joins its decoding diagnostics one per line.
        raise JobspecError("\n".join(str(d) for d in decoder.diags))
    assert job is not None
    return job, decoder.late


# --------------------------------------------------------------------------------------------
# Nomad api structs as JSON, and api.Job.Canonicalize()
# --------------------------------------------------------------------------------------------


# Field names of Nomad's api structs, in declaration order (Go's JSON keeps it). A nil pointer,
# slice or map is null in that JSON, so a fresh struct is all None but for its plain Go values.
_JOB_KEYS = _words(
    "Region Namespace ID Name Type Priority AllAtOnce Datacenters NodePool Constraints"
    " Affinities TaskGroups Update Multiregion Spreads Periodic ParameterizedJob Reschedule"
    " Migrate Meta UI Stop ParentID Dispatched DispatchIdempotencyToken Payload ConsulNamespace"
    " VaultNamespace NomadTokenID Status StatusDescription Stable Version SubmitTime CreateIndex"
    " ModifyIndex JobModifyIndex VersionTag"
)
_GROUP_KEYS = _words(
    "Name Count Constraints Affinities Tasks Spreads Volumes RestartPolicy Disconnect"
    " ReschedulePolicy EphemeralDisk Update Migrate Networks Meta Services ShutdownDelay"
    " StopAfterClientDisconnect MaxClientDisconnect Scaling Consul PreventRescheduleOnLost"
)
_TASK_KEYS = _words(
    "Name Driver User Lifecycle Config Constraints Affinities Env Services Resources"
    " RestartPolicy Meta KillTimeout LogConfig Artifacts Vault Consul Templates DispatchPayload"
    " VolumeMounts Leader ShutdownDelay KillSignal Kind ScalingPolicies Identity Identities"
    " Actions Schedule"
)
_RESOURCES_KEYS = _words(
    "CPU Cores MemoryMB MemoryMaxMB DiskMB Networks Devices NUMA SecretsMB IOPS"
)
_RESTART_KEYS = _words("Interval Attempts Delay Mode RenderTemplates")
_RESCHEDULE_KEYS = _words("Attempts Interval Delay DelayFunction MaxDelay Unlimited")
_LOG_CONFIG_KEYS = _words("MaxFiles MaxFileSizeMB Enabled Disabled")


def _new_job() -> dict[str, Any]:
    return {**dict.fromkeys(_JOB_KEYS), "Dispatched": False}


def _new_group() -> dict[str, Any]:
    return dict.fromkeys(_GROUP_KEYS)


def _new_task() -> dict[str, Any]:
    plain = {"Name": "", "Driver": "", "User": "", "Leader": False, "ShutdownDelay": 0}
    return {**dict.fromkeys(_TASK_KEYS), **plain, "KillSignal": "", "Kind": ""}


def _new_resources() -> dict[str, Any]:
    return dict.fromkeys(_RESOURCES_KEYS)


def _new_restart() -> dict[str, Any]:
    return dict.fromkeys(_RESTART_KEYS)


def _new_log_config() -> dict[str, Any]:
    return dict.fromkeys(_LOG_CONFIG_KEYS)


def _new_reschedule() -> dict[str, Any]:
    return dict.fromkeys(_RESCHEDULE_KEYS)


def _fill(target: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Set every unset (None) key of ``target`` from ``defaults``."""
    for key, value in defaults.items():
        if target.get(key) is None:
            target[key] = copy.deepcopy(value)
    return target


def _merge(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """Go's Merge: every set (non-None) key of ``override`` wins."""
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if value is not None:
            merged[key] = copy.deepcopy(value)
    return merged


def _default_update() -> dict[str, Any]:
    return {
        "Stagger": 30 * _SECOND,
        "MaxParallel": 1,
        "HealthCheck": "checks",
        "MinHealthyTime": 10 * _SECOND,
        "HealthyDeadline": 5 * _MINUTE,
        "ProgressDeadline": 10 * _MINUTE,
        "Canary": 0,
        "AutoRevert": False,
        "AutoPromote": False,
    }


def _default_restart(job_type: str) -> dict[str, Any]:
    if job_type in ("service", "system"):
        return {
            "Interval": 30 * _MINUTE,
            "Attempts": 2,
            "Delay": 15 * _SECOND,
            "Mode": "fail",
            "RenderTemplates": False,
        }
    return {
        "Interval": 24 * _HOUR,
        "Attempts": 3,
        "Delay": 15 * _SECOND,
        "Mode": "fail",
        "RenderTemplates": False,
    }


def _default_reschedule(job_type: str) -> dict[str, Any]:
    if job_type == "service":
        return {
            "Attempts": 0,
            "Interval": 0,
            "Delay": 30 * _SECOND,
            "DelayFunction": "exponential",
            "MaxDelay": _HOUR,
            "Unlimited": True,
        }
    if job_type == "batch":
        return {
            "Attempts": 1,
            "Interval": 24 * _HOUR,
            "Delay": 5 * _SECOND,
            "DelayFunction": "constant",
            "MaxDelay": 0,
            "Unlimited": False,
        }
    # Other types (sysbatch, unknown) get an inert policy rather than none.
    return {
        "Attempts": 0,
        "Interval": 0,
        "Delay": 0,
        "DelayFunction": "",
        "MaxDelay": 0,
        "Unlimited": False,
    }


def _canonicalize_job(job: dict[str, Any]) -> None:
    """api.Job.Canonicalize() for the fields this parser produces."""
    _fill(job, {"ID": ""})
    _fill(job, {"Name": job["ID"]})
    _fill(
        job,
        {
            "ParentID": "",
            "Namespace": "default",
            "Priority": 50,
            "Stop": False,
            "Region": "global",
            "NodePool": "",
            "Type": "service",
            "AllAtOnce": False,
            "ConsulNamespace": "",
            "VaultNamespace": "",
            "NomadTokenID": "",
            "Status": "",
            "StatusDescription": "",
            "Stable": False,
            "Version": 0,
            "CreateIndex": 0,
            "ModifyIndex": 0,
            "JobModifyIndex": 0,
        },
    )
    if job["Update"] is None and job["Type"] == "service":
        job["Update"] = _default_update()
    for group in job["TaskGroups"] or []:
        _canonicalize_group(group, job)


def _canonicalize_group(group: dict[str, Any], job: dict[str, Any]) -> None:
    job_type = job["Type"]
    _fill(group, {"Name": "", "Count": 1})
    group["EphemeralDisk"] = _fill(
        group["EphemeralDisk"] or {}, {"Sticky": False, "Migrate": False, "SizeMB": 300}
    )
    # api.Consul: the group inherits the job's Consul namespace; Cluster defaults to "default".
    group["Consul"] = {"Namespace": job["ConsulNamespace"], "Cluster": "default", "Partition": ""}
    if job["Update"] is not None:
        # The group inherits the job's update strategy (this parser has no group update block).
        group["Update"] = _fill(copy.deepcopy(job["Update"]), _default_update())
    if job["Reschedule"] is not None:
        group["ReschedulePolicy"] = _merge(job["Reschedule"], group["ReschedulePolicy"])
    if group["ReschedulePolicy"] is None and job_type != "system":
        group["ReschedulePolicy"] = _default_reschedule(job_type)
    if group["ReschedulePolicy"] is not None:
        _fill(group["ReschedulePolicy"], _default_reschedule(job_type))
    if group["Migrate"] is None and job_type == "service":
        group["Migrate"] = {
            "MaxParallel": 1,
            "HealthCheck": "checks",
            "MinHealthyTime": 10 * _SECOND,
            "HealthyDeadline": 5 * _MINUTE,
        }
    group["RestartPolicy"] = _merge(_default_restart(job_type), group["RestartPolicy"])
    for task in group["Tasks"] or []:
        _canonicalize_task(task, group)
    _fill(group, {"PreventRescheduleOnLost": False})


def _canonicalize_task(task: dict[str, Any], group: dict[str, Any]) -> None:
    resources = task["Resources"] or _new_resources()
    if resources["Cores"] is None:
        resources["Cores"] = 0
        if resources["CPU"] is None:
            resources["CPU"] = 100
    if resources["CPU"] is None:
        resources["CPU"] = 0  # cores were requested instead of MHz
    _fill(resources, {"MemoryMB": 300})
    task["Resources"] = resources
    _fill(task, {"KillTimeout": 5 * _SECOND})
    task["LogConfig"] = _fill(
        task["LogConfig"]
        or {"MaxFiles": None, "MaxFileSizeMB": None, "Enabled": None, "Disabled": None},
        {"MaxFiles": 10, "MaxFileSizeMB": 10, "Disabled": False},
    )
    task["Lifecycle"] = None
    task["RestartPolicy"] = _merge(group["RestartPolicy"], task["RestartPolicy"])
