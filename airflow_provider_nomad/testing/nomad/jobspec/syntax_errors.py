"""Syntax errors: a python-hcl2 (Lark) parse failure described as HCL's parser reports it."""

from __future__ import annotations

from typing import Any

import lark
from lark import Token, Tree

from ..golang import quote
from .diagnostics import Diag, Range
from .positions import token_range, tree_range


def syntax_diag(exc: lark.exceptions.UnexpectedInput, text: str) -> Diag:
    """Describe a python-hcl2 parse failure the way HCL's parser reports the same mistake."""
    line, col = exc.line, exc.column
    if isinstance(exc, lark.exceptions.UnexpectedCharacters) or (
        line > 0 and _char_at(text, line, col) in _INVALID_CHARACTERS
    ):
        return _invalid_character(text, line, col)
    if not isinstance(exc, lark.exceptions.UnexpectedToken):  # pragma: no cover - EOF is a token
        return Diag(
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
            return Diag(
                "Invalid multi-line string",
                "Quoted strings may not be split over multiple lines. To produce a multi-line "
                "string, either use the \\n escape to represent a newline character or use the "
                '"heredoc" multi-line template syntax.',
                Range(nl_line, nl_col, nl_line + 1, 1),
            )
        return Diag(
            "Unterminated template string",
            "No closing marker was found for the string.",
            token_range(open_quote),
        )

    at_eof = bad.type == "$END"
    if isinstance(top, Token) and top.type in _EXPRESSION_OPENERS:
        if at_eof:
            return Diag(
                "Missing expression",
                "Expected the start of an expression, but found the end of the file.",
                _eof_range(text),
            )
        return Diag(
            "Invalid expression",
            "Expected the start of an expression, but found an invalid expression token.",
            _hcl_token_at(text, bad.line, bad.column),
        )
    if at_eof:
        brace = next(
            (v for v in reversed(stack) if isinstance(v, Token) and v.type == "LBRACE"), None
        )
        if brace is not None:
            return Diag(
                "Unclosed configuration block",
                "There is no closing brace for this block before the end of the file. This may "
                "be caused by incorrect brace nesting elsewhere in this file.",
                token_range(brace),
            )
        return Diag("Invalid syntax", "Unexpected end of file.", _eof_range(text))
    bad_range = _hcl_token_at(text, *_skip_blanks(text, bad.line, bad.column))
    if _at_item_boundary(stack):
        if bad.type == "DBLQUOTE":
            return Diag(
                "Invalid argument name", "Argument names must not be quoted.", token_range(bad)
            )
        return Diag(
            "Argument or block definition required",
            "An argument or block definition is required here.",
            bad_range,
        )
    if isinstance(top, Tree) and top.data in _NAME_RULES and _at_item_boundary(stack[:-1]):
        # A lone name followed by neither "=" nor a block header.
        return Diag(
            "Argument or block definition required",
            "An argument or block definition is required here. To set an argument, use the "
            'equals sign "=" to introduce the argument value.',
            tree_range(top),
        )
    if isinstance(top, Tree) and (
        top.data in _NAME_RULES or top.data in ("string", "__block_star_1")
    ):
        if bad.type == "EQ":
            return Diag(
                "Invalid block definition",
                'The equals sign "=" indicates an argument definition, and must not be used when '
                "defining a block.",
                bad_range,
            )
        return Diag(
            "Invalid block definition",
            'Either a quoted string block label or an opening brace ("{") is expected here.',
            bad_range,
        )
    return Diag("Invalid syntax", f"Unexpected {_describe(text, bad)} here.", bad_range)


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


def _invalid_character(text: str, line: int, col: int) -> Diag:
    char = _char_at(text, line, col)
    subject = Range(line, col, line, col + 1)
    if char == ";":
        detail = (
            'The ";" character is not valid. Use newlines to separate arguments and blocks, and '
            "commas to separate items in collection values."
        )
    elif char == "'":
        detail = 'Single quotes are not valid. Use double quotes (") to enclose strings.'
    else:
        detail = "This character is not used within the language."
    return Diag("Invalid character", detail, subject)


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


def _eof_range(text: str) -> Range:
    line, col = _line_col(text, len(text))
    return Range(line, col, line, col)


def _hcl_token_at(text: str, line: int, col: int) -> Range:
    """The range of the HCL token that starts at a position (HCL reports tokens, Lark lexemes)."""
    offset = _offset(text, line, col)
    if offset >= len(text):
        return Range(line, col, line, col)
    char = text[offset]
    if char == "\n":
        return Range(line, col, line + 1, 1)
    end = offset + 1
    if char.isalpha() or char == "_":
        while end < len(text) and (text[end].isalnum() or text[end] in "_-"):
            end += 1
    elif char.isdigit():
        while end < len(text) and (text[end].isalnum() or text[end] == "."):
            end += 1
    elif text.startswith(("${", "%{", "==", "!=", "<=", ">=", "&&", "||", "=>", "<<"), offset):
        end = offset + 2
    return Range(line, col, line, col + (end - offset))
