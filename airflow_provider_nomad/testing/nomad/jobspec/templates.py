"""HCL string templates: literal text, ``${...}`` interpolations and ``%{...}`` directives.

Quoted strings arrive from python-hcl2 already split into parts; heredocs arrive as one token,
so :func:`scan_heredoc` splits their text here, handing each interpolated expression back to the
reader. Both end up as the same flat list of pieces, which :func:`assemble` turns into template
parts the way ``hclsyntax``'s template parser does: strip markers (``~``) trim the neighbouring
text, consecutive text melds, and ``if``/``for`` directives nest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .diagnostics import Diag, DiagError, Range
from .positions import Positions
from .syntax import Expr, ForDirective, IfDirective, Interpolation, TemplatePart

TEXT, INTERP, IF, ELSE, ENDIF, FOR, ENDFOR = (
    "text",
    "interp",
    "if",
    "else",
    "endif",
    "for",
    "endfor",
)


@dataclass
class Piece:
    """One lexical piece of a template, before directives are nested."""

    kind: str
    range: Range
    text: str = ""
    expr: Expr | None = None
    key_var: str | None = None
    value_var: str = ""
    strip_left: bool = False
    strip_right: bool = False


def assemble(pieces: list[Piece]) -> list[TemplatePart]:
    """Strip, meld and nest pieces into template parts."""
    pieces = _strip(pieces)
    parts, end = _nest(pieces, 0, None)
    if end < len(pieces):  # pragma: no cover - _nest consumes everything at the top level
        raise AssertionError("unbalanced template")
    return parts


def _strip(pieces: list[Piece]) -> list[Piece]:
    out = [Piece(p.kind, p.range, p.text, p.expr, p.key_var, p.value_var) for p in pieces]
    for index, piece in enumerate(pieces):
        if piece.strip_left and index > 0 and out[index - 1].kind == TEXT:
            out[index - 1].text = out[index - 1].text.rstrip(" \t\r\n")
        if piece.strip_right and index + 1 < len(out) and out[index + 1].kind == TEXT:
            out[index + 1].text = out[index + 1].text.lstrip(" \t\r\n")
    melded: list[Piece] = []
    for piece in out:
        if piece.kind == TEXT and melded and melded[-1].kind == TEXT:
            melded[-1].text += piece.text
            melded[-1].range = melded[-1].range.to(piece.range)
        else:
            melded.append(piece)
    return melded


def _nest(pieces: list[Piece], index: int, opener: Piece | None) -> tuple[list[TemplatePart], int]:
    """Parts up to the directive that closes ``opener`` (or the end); returns the next index."""
    parts: list[TemplatePart] = []
    while index < len(pieces):
        piece = pieces[index]
        if piece.kind == TEXT:
            parts.append(piece.text)
        elif piece.kind == INTERP:
            assert piece.expr is not None
            parts.append(Interpolation(piece.expr))
        elif piece.kind == IF:
            parts.append(_if(pieces, index))
            index = _skip_to_end(pieces, index)
        elif piece.kind == FOR:
            parts.append(_for(pieces, index))
            index = _skip_to_end(pieces, index)
        else:
            if opener is not None:
                return parts, index
            raise DiagError(
                Diag(
                    f"Unexpected {piece.kind} directive",
                    "The control directives within this template are unbalanced.",
                    piece.range,
                )
            )
        index += 1
    if opener is not None:
        raise DiagError(
            Diag(
                "Unexpected end of template",
                f"The {opener.kind} directive at {opener.range} is missing its corresponding "
                f"end{opener.kind} directive.",
                opener.range,
            )
        )
    return parts, index


def _if(pieces: list[Piece], index: int) -> IfDirective:
    opener = pieces[index]
    then_parts, at = _nest(pieces, index + 1, opener)
    else_parts: list[TemplatePart] = []
    if pieces[at].kind == ELSE:
        else_parts, end = _nest(pieces, at + 1, opener)
        if pieces[end].kind != ENDIF:
            raise _unexpected(
                pieces[end], f"Expecting an endif directive for the if started at {opener.range}."
            )
        at = end
    elif pieces[at].kind != ENDIF:
        raise _unexpected(
            pieces[at], f"Expecting an endif directive for the if started at {opener.range}."
        )
    assert opener.expr is not None
    return IfDirective(opener.expr, then_parts, else_parts, opener.range)


def _for(pieces: list[Piece], index: int) -> ForDirective:
    opener = pieces[index]
    body, at = _nest(pieces, index + 1, opener)
    if pieces[at].kind == ELSE:
        raise DiagError(
            Diag(
                "Unexpected else directive",
                "An else clause is not expected for a for directive.",
                pieces[at].range,
            )
        )
    if pieces[at].kind != ENDFOR:
        raise _unexpected(
            pieces[at],
            f"Expecting an endfor directive corresponding to the for directive at {opener.range}.",
        )
    assert opener.expr is not None
    return ForDirective(opener.key_var, opener.value_var, opener.expr, body, opener.range)


def _unexpected(piece: Piece, detail: str) -> DiagError:
    return DiagError(Diag(f"Unexpected {piece.kind} directive", detail, piece.range))


def _skip_to_end(pieces: list[Piece], index: int) -> int:
    """The index of the directive that closes the one at ``index``."""
    depth = 0
    while index < len(pieces):
        kind = pieces[index].kind
        if kind in (IF, FOR):
            depth += 1
        elif kind in (ENDIF, ENDFOR):
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return index  # pragma: no cover - _if/_for raise first


# -- heredocs --------------------------------------------------------------------------------

#: parses the text of one expression found at a position; raises DiagError when invalid
ExprParser = Callable[[str, Positions], Expr]

_FOR_HEADER = re.compile(
    r"for\s+([A-Za-z_][A-Za-z0-9_-]*)(?:\s*,\s*([A-Za-z_][A-Za-z0-9_-]*))?\s+in\s+(.*)\Z", re.S
)


def scan_heredoc(content: str, where: Positions, parse_expr: ExprParser) -> list[Piece]:
    """Split a heredoc's text into pieces; text pieces never span a line end (HCL's tokens)."""
    pieces: list[Piece] = []
    text_start = 0
    i = 0

    def flush_text(end: int) -> None:
        nonlocal text_start
        start = text_start
        while start < end:
            newline = content.find("\n", start, end)
            stop = end if newline < 0 else newline + 1
            pieces.append(Piece(TEXT, _span(content, where, start, stop), content[start:stop]))
            start = stop
        text_start = end

    while i < len(content):
        if content.startswith(("$${", "%%{"), i):
            flush_text(i)
            # The escape reads as the sequence without its first character.
            pieces.append(Piece(TEXT, _span(content, where, i, i + 3), content[i + 1 : i + 3]))
            i += 3
            text_start = i
            continue
        if content.startswith(("${", "%{"), i):
            flush_text(i)
            end = _sequence_end(content, i + 2)
            if end < 0:
                raise DiagError(
                    Diag(
                        "Unclosed template interpolation sequence",
                        "There is no closing brace for this interpolation sequence before the "
                        "end of the file. This might be caused by incorrect nesting inside the "
                        "given expression.",
                        _span(content, where, i, i + 2),
                    )
                )
            pieces.append(_sequence(content, where, i, end, parse_expr))
            i = end + 1
            text_start = i
            continue
        i += 1
    flush_text(len(content))
    return pieces


def mask_interpolation_strips(text: str) -> tuple[str, frozenset[int]]:
    """The text with the ``~`` of ``${~ x ~}`` blanked out, and where they were.

    python-hcl2's grammar knows strip markers in directives but not in interpolations; blanking
    them (same length, so every position stays) lets it parse, and the reader puts them back.
    """
    chars = list(text)
    marks: set[int] = set()
    i = text.find("${")
    while i >= 0:
        if i == 0 or text[i - 1] != "$":
            end = _sequence_end(text, i + 2)
            if end >= 0:
                if text.startswith("~", i + 2):
                    marks.add(i + 2)
                if end - 1 > i + 2 and text[end - 1] == "~":
                    marks.add(end - 1)
        i = text.find("${", i + 2)
    for mark in marks:
        chars[mark] = " "
    return "".join(chars), frozenset(marks)


def flush_indentation(pieces: list[Piece]) -> None:
    """``<<-``: remove the indentation every line shares (hclsyntax flushHeredocTemplateParts)."""
    infinity = 1 << 62
    least = infinity
    adjust: list[Piece] = []
    at_line_start = True
    for piece in pieces:
        if at_line_start:
            at_line_start = False
            spaces = 0
            if piece.kind == TEXT:
                trimmed = piece.text.lstrip()
                if not trimmed and piece.text.endswith("\n"):
                    spaces = infinity  # a blank line does not count
                else:
                    spaces = len(piece.text) - len(trimmed)
                    adjust.append(piece)
            least = min(least, spaces)
        if piece.kind == TEXT and piece.text.endswith("\n"):
            at_line_start = True
    if least == infinity:
        return
    for piece in adjust:
        piece.text = piece.text[least:]


def _sequence_end(content: str, i: int) -> int:
    """The index of the ``}`` closing a ``${``/``%{`` sequence whose body starts at ``i``."""
    depth = 0
    while i < len(content):
        char = content[i]
        if char == '"':
            i = _string_end(content, i + 1)
            if i < 0:
                return -1
        elif char in "([{":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def _string_end(content: str, i: int) -> int:
    """The index of the quote closing a quoted string that starts at ``i``."""
    while i < len(content):
        char = content[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            return i
        if content.startswith(("${", "%{"), i) and not content.startswith(("$${", "%%{"), i - 1):
            end = _sequence_end(content, i + 2)
            if end < 0:
                return -1
            i = end + 1
            continue
        if char == "\n":
            return -1
        i += 1
    return -1


def _sequence(
    content: str, where: Positions, start: int, end: int, parse_expr: ExprParser
) -> Piece:
    rng = _span(content, where, start, end + 1)
    body_start, body_end = start + 2, end
    strip_left = content.startswith("~", body_start)
    if strip_left:
        body_start += 1
    strip_right = body_end > body_start and content[body_end - 1] == "~"
    if strip_right:
        body_end -= 1
    inner = content[body_start:body_end]
    inner_where = _position(content, where, body_start)
    if content[start] == "$":
        expr = parse_expr(inner, inner_where)
        return Piece(INTERP, rng, expr=expr, strip_left=strip_left, strip_right=strip_right)
    return _directive(inner, inner_where, rng, strip_left, strip_right, parse_expr)


def _directive(
    inner: str,
    where: Positions,
    rng: Range,
    strip_left: bool,
    strip_right: bool,
    parse_expr: ExprParser,
) -> Piece:
    words = inner.strip()
    keyword = re.match(r"[A-Za-z_]*", words).group(0)  # type: ignore[union-attr]
    lead = len(inner) - len(inner.lstrip())
    if keyword in (ELSE, ENDIF, ENDFOR):
        if words != keyword:
            raise DiagError(
                Diag(
                    f"Extra characters in {keyword} marker",
                    "Expected a closing brace to end the sequence, but found extra characters.",
                    rng,
                )
            )
        return Piece(keyword, rng, strip_left=strip_left, strip_right=strip_right)
    if keyword == IF:
        expr_text = inner[lead + 2 :]
        expr = parse_expr(expr_text, _advance(where, inner[: lead + 2]))
        return Piece(IF, rng, expr=expr, strip_left=strip_left, strip_right=strip_right)
    if keyword == FOR:
        header = _FOR_HEADER.match(words)
        if header is None:
            raise DiagError(
                Diag(
                    "Invalid 'for' directive",
                    "For directive requires 'in' keyword after names.",
                    rng,
                )
            )
        first, second, coll_text = header.groups()
        coll_at = inner.rindex(coll_text) if coll_text else len(inner)
        expr = parse_expr(coll_text, _advance(where, inner[:coll_at]))
        key_var, value_var = (first, second) if second else (None, first)
        return Piece(
            FOR, rng, expr=expr, key_var=key_var, value_var=value_var,
            strip_left=strip_left, strip_right=strip_right,
        )  # fmt: skip
    if not keyword:
        raise DiagError(
            Diag(
                "Invalid template directive",
                'A template directive keyword ("if", "for", etc) is expected at the beginning of '
                "a %{ sequence.",
                rng,
            )
        )
    raise DiagError(
        Diag(
            "Invalid template control keyword",
            f'"{keyword}" is not a valid template control keyword.',
            rng,
        )
    )


def _position(content: str, where: Positions, index: int) -> Positions:
    return _advance(where, content[:index])


def _advance(where: Positions, before: str) -> Positions:
    """The position right after ``before``, which starts at ``where``."""
    newlines = before.count("\n")
    if newlines == 0:
        return Positions(where.line, where.col + len(before), where.offset + len(before))
    return Positions(
        where.line + newlines, len(before) - before.rfind("\n"), where.offset + len(before)
    )


def _span(content: str, where: Positions, start: int, end: int) -> Range:
    first = _position(content, where, start)
    last = _position(content, where, end)
    return Range(first.line, first.col, last.line, last.col, first.offset, last.offset)
