"""``format`` and ``formatlist``: go-cty's printf-like formatting."""

from __future__ import annotations

import re
from typing import Any

from ..types import STRING
from ..values import ConversionError, ListValue, is_number, to_bool, to_number, to_string
from .base import FunctionError, Param, function
from .encoding import json_text

_VERB = re.compile(r"%([ +\-0#]*)(\d+)?(?:\.(\d*))?(?:\[(\d+)\])?(.)?", re.S)


def render(fmt: str, args: list[Any]) -> str:
    out: list[str] = []
    i = 0
    next_arg = 1
    highest = 0
    while i < len(fmt):
        if fmt[i] != "%":
            out.append(fmt[i])
            i += 1
            continue
        if fmt.startswith("%%", i):
            out.append("%")
            i += 2
            continue
        match = _VERB.match(fmt, i)
        assert match is not None  # every part of the pattern is optional
        flags, width, precision, explicit, verb = match.groups()
        raw = match.group(0)
        if verb is None:
            raise FunctionError(f"invalid format string starting at offset {i}")
        if precision == "":
            raise FunctionError(f"invalid format string starting at offset {i}")
        if verb not in "vtbdoxXeEfgGsq":
            raise FunctionError(
                f"unsupported format verb {_go_rune(verb)} in {_go_quote(raw)} at offset {i}"
            )
        arg_num = int(explicit) if explicit else next_arg
        next_arg = arg_num + 1
        highest = max(highest, arg_num)
        if arg_num - 1 >= len(args):
            raise FunctionError(
                f"not enough arguments for {_go_quote(raw)} at {i}: need index {arg_num} but "
                f"have {len(args)} total"
            )
        out.append(_verb(raw, i, flags, width, precision, verb, args[arg_num - 1]))
        i = match.end()
    if highest < len(args):
        if highest == 0:
            raise FunctionError("too many arguments; no verbs in format string", 1)
        raise FunctionError(
            f"too many arguments; only {highest} used by format string", highest + 1
        )
    return "".join(out)


def _verb(
    raw: str, offset: int, flags: str, width: str | None, precision: str | None, verb: str, arg: Any
) -> str:
    if verb != "v" and arg is None:
        raise FunctionError(
            f"unsupported value for {_go_quote(raw)} at {offset}: null value cannot be formatted"
        )
    try:
        if verb == "v":
            if "#" not in flags and isinstance(arg, str):
                text = arg
            elif "#" not in flags and is_number(arg):
                text = _g(arg)
            else:
                text = json_text(arg)
            return _pad(text, flags, width)
        if verb == "t":
            return "true" if to_bool(arg) else "false"
        if verb in "sq":
            text = to_string(arg) if not isinstance(arg, list | dict) else _fail("string required")
            if precision:
                text = text[: int(precision)]
            return _pad(json_text(text) if verb == "q" else text, flags, width)
        value = to_number(arg) if not isinstance(arg, list | dict) else _fail("number required")
    except ConversionError as exc:
        raise FunctionError(f"unsupported value for {_go_quote(raw)} at {offset}: {exc}") from None
    spec = flags.replace("#", "") + (width or "") + (f".{precision}" if precision else "")
    if verb in "bdoxX":
        if isinstance(value, float):
            if not value.is_integer():
                raise FunctionError(
                    f"unsupported value for {_go_quote(raw)} at {offset}: an integer is required"
                )
            value = int(value)
        return format(value, spec + ("d" if verb == "d" else verb))
    if verb in "gG" and not precision:
        return _pad(_g(value).upper() if verb == "G" else _g(value), flags, width)
    return format(float(value), spec + verb)


def _fail(message: str) -> Any:
    raise ConversionError(message)


def _g(value: int | float) -> str:
    """big.Float's shortest %g."""
    if isinstance(value, int):
        return str(value) if abs(value) < 10**21 else format(float(value), "g")
    text = repr(value)
    return text.replace("e+0", "e+").replace("e-0", "e-")


def _pad(text: str, flags: str, width: str | None) -> str:
    if not width or len(text) >= int(width):
        return text
    pad = ("0" if "0" in flags else " ") * (int(width) - len(text))
    return text + pad if "-" in flags else pad + text


def _go_quote(text: str) -> str:
    return json_text(text)


def _go_rune(char: str) -> str:
    return "'" + char + "'"


@function(Param("format", STRING), var=Param("args", allow_null=True))
def format_(fmt: str, *args: Any) -> str:
    return render(fmt, list(args))


@function(Param("format", STRING), var=Param("args", allow_null=True))
def formatlist(fmt: str, *args: Any) -> list[str]:
    length = None
    for position, arg in enumerate(args):
        if isinstance(arg, list):
            if length is not None and len(arg) != length:
                raise FunctionError(
                    f"argument {position + 1} has length {len(arg)}, which is inconsistent with "
                    f"argument {1} of length {length}",
                    position + 1,
                )
            length = len(arg)
    if length is None:
        return ListValue([render(fmt, list(args))])
    return ListValue(
        [render(fmt, [a[i] if isinstance(a, list) else a for a in args]) for i in range(length)]
    )


FUNCTIONS = {"format": format_, "formatlist": formatlist}
