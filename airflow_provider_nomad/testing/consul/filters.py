"""A subset of go-bexpr, the ``?filter=`` language of Consul's list endpoints.

Supported: selectors (``Service.Tags``, ``Service.Meta.env``, ``Checks.Status``), the match
operators ``==``, ``!=``, ``contains``, ``not contains``, ``in``, ``not in`` (``"x" in
Service.Tags``), ``matches``, ``not matches``, ``is empty``, ``is not empty``; ``and``, ``or``,
``not`` and parentheses. Values are ``"double-quoted"``, ```backquoted``` or bare words.
Selectors are checked against the endpoint's schema when the filter is compiled, so a typo is an
error as in Consul, not an empty result. A selector that walks through a list (``Checks.Status``)
matches when any element matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SCALAR = "scalar"
LIST = "list"  # list of scalars
MAP = "map"  # string map: any key is a valid selector part


@dataclass(frozen=True)
class StructList:
    """A list of structs (``Checks``): the selector continues into the element schema."""

    element: Mapping[str, Any]


Schema = Mapping[str, Any]


class FilterError(ValueError):
    """The expression does not parse or names an unknown selector."""


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "string", "op", "(", ")", "end"
    text: str
    offset: int


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<op>==|!=)
      | (?P<paren>[()])
      | (?P<word>[^\s()"`=!]+)
    )""",
    re.VERBOSE,
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_KEYWORDS = {"and", "or", "not", "in", "contains", "matches", "is", "empty"}


def _tokenize(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(expression):
        if expression[position:].strip() == "":
            break
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:
            offset = len(expression) - len(expression[position:].lstrip())
            raise FilterError(_position_error(expression, offset, "no match found"))
        kind = match.lastgroup or ""
        text = match.group(kind)
        offset = match.start(kind)
        if kind == "string":
            tokens.append(_Token("string", _unescape(text[1:-1]), offset))
        elif kind == "raw":
            tokens.append(_Token("string", text[1:-1], offset))
        elif kind == "paren":
            tokens.append(_Token(text, text, offset))
        else:
            tokens.append(_Token(kind, text, offset))
        position = match.end()
    tokens.append(_Token("end", "", len(expression)))
    return tokens


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


def _position_error(expression: str, offset: int, what: str) -> str:
    line = expression.count("\n", 0, offset) + 1
    column = offset - (expression.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{column} ({offset}): {what}"


Predicate = Callable[[Mapping[str, Any]], bool]


class _Parser:
    def __init__(self, expression: str, schema: Schema) -> None:
        self.expression = expression
        self.schema = schema
        self.tokens = _tokenize(expression)
        self.position = 0

    # -- tokens --------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.position + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.position += 1
        return token

    def is_word(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "word" and token.text == text

    def fail(self, token: _Token, what: str = "no match found") -> FilterError:
        return FilterError(_position_error(self.expression, token.offset, what))

    # -- grammar ---------------------------------------------------------------------------------
    def parse(self) -> Predicate:
        if self.peek().kind == "end":
            raise self.fail(self.peek())
        predicate = self.or_expression()
        if self.peek().kind != "end":
            raise self.fail(self.peek())
        return predicate

    def or_expression(self) -> Predicate:
        terms = [self.and_expression()]
        while self.is_word("or"):
            self.take()
            terms.append(self.and_expression())
        if len(terms) == 1:
            return terms[0]
        return lambda datum: any(term(datum) for term in terms)

    def and_expression(self) -> Predicate:
        terms = [self.not_expression()]
        while self.is_word("and"):
            self.take()
            terms.append(self.not_expression())
        if len(terms) == 1:
            return terms[0]
        return lambda datum: all(term(datum) for term in terms)

    def not_expression(self) -> Predicate:
        if self.is_word("not") and not self.is_word("in", 1):
            self.take()
            inner = self.not_expression()
            return lambda datum: not inner(datum)
        if self.peek().kind == "(":
            self.take()
            inner = self.or_expression()
            if self.peek().kind != ")":
                raise self.fail(self.peek())
            self.take()
            return inner
        return self.match_expression()

    def match_expression(self) -> Predicate:
        first = self.take()
        if first.kind not in ("word", "string") or first.text in _KEYWORDS:
            raise self.fail(first)
        # ``value in Selector`` / ``value not in Selector``
        if self.is_word("in") or (self.is_word("not") and self.is_word("in", 1)):
            negate = self.is_word("not")
            self.position += 2 if negate else 1
            selector = self.selector(self.take())
            return _membership(selector, first.text, negate)
        if first.kind != "word":
            raise self.fail(first)
        selector = self.selector(first)
        operator = self.take()
        if operator.kind == "op":
            value = self.value()
            equal = _equality(selector, value)
            return equal if operator.text == "==" else (lambda datum: not equal(datum))
        if operator.kind == "word":
            negate = False
            if operator.text == "not":
                negate = True
                operator = self.take()
            if operator.kind == "word" and operator.text == "contains":
                return _membership(selector, self.value(), negate)
            if operator.kind == "word" and operator.text == "matches":
                return _regex(selector, self.value(), negate, self, operator)
            if operator.kind == "word" and operator.text == "is" and not negate:
                if self.is_word("not") and self.is_word("empty", 1):
                    self.position += 2
                    return lambda datum: not _is_empty(selector, datum)
                if self.is_word("empty"):
                    self.take()
                    return lambda datum: _is_empty(selector, datum)
        raise self.fail(operator)

    def value(self) -> str:
        token = self.take()
        if token.kind == "string" or (token.kind == "word" and token.text not in _KEYWORDS):
            return token.text
        raise self.fail(token)

    def selector(self, token: _Token) -> tuple[str, ...]:
        if token.kind != "word":
            raise self.fail(token)
        parts = tuple(token.text.split("."))
        if not all(_IDENTIFIER.match(part) for part in parts):
            raise self.fail(token)
        _check_selector(parts, self.schema, token.text)
        return parts


def _check_selector(parts: tuple[str, ...], schema: Schema, text: str) -> None:
    node: Any = schema
    for index, part in enumerate(parts):
        if isinstance(node, StructList):
            node = node.element
        if node == MAP:
            if index != len(parts) - 1:
                break
            return
        if not isinstance(node, Mapping) or part not in node:
            break
        node = node[part]
    else:
        return
    raise FilterError(f'Selector "{text}" is not valid')


def _values(selector: tuple[str, ...], datum: Any) -> list[Any]:
    """Values the selector reaches; a walk through a list of structs fans out."""
    current = [datum]
    for part in selector:
        following: list[Any] = []
        for item in current:
            if isinstance(item, list):
                candidates = [element.get(part) for element in item if isinstance(element, dict)]
                following.extend(c for c in candidates if c is not None)
            elif isinstance(item, dict) and part in item and item[part] is not None:
                following.append(item[part])
        current = following
    return current


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _equality(selector: tuple[str, ...], value: str) -> Predicate:
    def equal(datum: Mapping[str, Any]) -> bool:
        for found in _values(selector, datum):
            if isinstance(found, (int, float)) and not isinstance(found, bool):
                try:
                    if float(value) == found:
                        return True
                except ValueError:
                    continue
            elif not isinstance(found, (list, dict)) and _as_text(found) == value:
                return True
        return False

    return equal


def _membership(selector: tuple[str, ...], value: str, negate: bool) -> Predicate:
    def contained(datum: Mapping[str, Any]) -> bool:
        for found in _values(selector, datum):
            if isinstance(found, list) and value in [_as_text(item) for item in found]:
                return True
            if isinstance(found, dict) and value in found:
                return True
            if isinstance(found, str) and value in found:
                return True
        return False

    return (lambda datum: not contained(datum)) if negate else contained


def _regex(
    selector: tuple[str, ...], pattern: str, negate: bool, parser: _Parser, token: _Token
) -> Predicate:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise parser.fail(token, f"invalid regular expression: {exc}") from exc

    def matches(datum: Mapping[str, Any]) -> bool:
        return any(
            compiled.search(_as_text(found))
            for found in _values(selector, datum)
            if not isinstance(found, (list, dict))
        )

    return (lambda datum: not matches(datum)) if negate else matches


def _is_empty(selector: tuple[str, ...], datum: Mapping[str, Any]) -> bool:
    found = _values(selector, datum)
    return not found or all(item in ("", [], {}) for item in found)


class Filter:
    """A compiled ``?filter=`` expression.

    :param expression: the bexpr expression.
    :param schema: the selectors valid for the endpoint's result items.
    """

    def __init__(self, expression: str, schema: Schema) -> None:
        self.expression = expression
        self._predicate = _Parser(expression, schema).parse()

    def matches(self, datum: Mapping[str, Any]) -> bool:
        return self._predicate(datum)

    def apply(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [item for item in items if self.matches(item)]


def compile_filter(expression: str | None, schema: Schema) -> Filter | None:
    """``None`` for an absent or empty filter, else the compiled filter (``FilterError``)."""
    if not expression:
        return None
    return Filter(expression, schema)
