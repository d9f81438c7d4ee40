"""String functions of go-cty's stdlib, as jobspec2 offers them."""

from __future__ import annotations

import re
from typing import Any

from ..types import NUMBER, STRING, Type
from ..values import ListValue, to_int
from .base import FunctionError, Param, function


@function(Param("str", STRING))
def upper(text: str) -> str:
    return text.upper()


@function(Param("str", STRING))
def lower(text: str) -> str:
    return text.lower()


@function(Param("str", STRING))
def title(text: str) -> str:
    # Go's strings.Title: the first letter of every word, the rest untouched.
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), text)


@function(Param("str", STRING))
def strrev(text: str) -> str:
    return text[::-1]


@function(Param("str", STRING))
def strlen(text: str) -> int:
    return len(text)


@function(Param("str", STRING), Param("offset", NUMBER), Param("length", NUMBER))
def substr(text: str, offset: Any, length: Any) -> str:
    start = to_int(offset)
    size = to_int(length)
    if start < 0:
        start = max(len(text) + start, 0)
    if start > len(text):
        return ""
    if size < 0:
        return text[start:]
    return text[start : start + size]


@function(Param("separator", STRING), var=Param("lists", Type("list", element=STRING)))
def join(separator: str, *lists: list[str]) -> str:
    if not lists:
        raise FunctionError("at least one list is required")
    items: list[str] = []
    for position, items_list in enumerate(lists):
        for element, item in enumerate(items_list):
            if item is None:
                if len(lists) > 1:
                    raise FunctionError(
                        f"element {element} of list {position + 1} is null; cannot concatenate "
                        "null values",
                        position + 1,
                    )
                raise FunctionError(
                    f"element {element} is null; cannot concatenate null values", position + 1
                )
            items.append(item)
    return separator.join(items)


@function(Param("separator", STRING), Param("str", STRING))
def split(separator: str, text: str) -> list[str]:
    if separator == "":
        return ListValue(list(text))  # Go splits after each UTF-8 sequence
    return ListValue(text.split(separator))


@function(Param("str", STRING))
def chomp(text: str) -> str:
    return re.sub(r"(?:\r\n|\r|\n)+\Z", "", text)


@function(Param("spaces", NUMBER), Param("str", STRING))
def indent(spaces: Any, text: str) -> str:
    pad = " " * to_int(spaces)
    lines = text.split("\n")
    return "\n".join([lines[0], *[pad + line if line else line for line in lines[1:]]])


@function(Param("str", STRING))
def trimspace(text: str) -> str:
    return text.strip(" \t\n\r\v\f\u0085\u00a0")


@function(Param("str", STRING), Param("cutset", STRING))
def trim(text: str, cutset: str) -> str:
    return text.strip(cutset) if cutset else text


@function(Param("str", STRING), Param("prefix", STRING))
def trimprefix(text: str, prefix: str) -> str:
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


@function(Param("str", STRING), Param("suffix", STRING))
def trimsuffix(text: str, suffix: str) -> str:
    return text[: -len(suffix)] if suffix and text.endswith(suffix) else text


def _go_regex(pattern: str) -> re.Pattern[str]:
    """A Go RE2 pattern in Python's dialect (named groups are spelled differently)."""
    try:
        return re.compile(re.sub(r"\(\?P?<(\w+)>", r"(?P<\1>", pattern))
    except re.error as exc:
        raise FunctionError(f"invalid regexp pattern: {exc}", 1) from None


def _go_replacement(replacement: str) -> str:
    """Go's ``$1``/``${name}`` references in Python's ``\\g<...>`` form."""
    out = replacement.replace("\\", "\\\\")
    out = re.sub(r"\$\{(\w+)\}", r"\\g<\1>", out)
    return re.sub(r"\$(\d+)", r"\\g<\1>", out)


@function(Param("str", STRING), Param("substr", STRING), Param("replace", STRING))
def replace(text: str, substring: str, replacement: str) -> str:
    # A substring written /like this/ is a regular expression.
    if len(substring) > 1 and substring.startswith("/") and substring.endswith("/"):
        return _go_regex(substring[1:-1]).sub(_go_replacement(replacement), text)
    return text.replace(substring, replacement)


@function(Param("str", STRING), Param("pattern", STRING), Param("replace", STRING))
def regex_replace(text: str, pattern: str, replacement: str) -> str:
    return _go_regex(pattern).sub(_go_replacement(replacement), text)


FUNCTIONS = {
    "chomp": chomp,
    "indent": indent,
    "join": join,
    "lower": lower,
    "regex_replace": regex_replace,
    "replace": replace,
    "split": split,
    "strlen": strlen,
    "strrev": strrev,
    "substr": substr,
    "title": title,
    "trim": trim,
    "trimprefix": trimprefix,
    "trimspace": trimspace,
    "trimsuffix": trimsuffix,
    "upper": upper,
}
