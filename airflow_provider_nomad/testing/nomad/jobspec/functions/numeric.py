"""Number functions of go-cty's stdlib."""

from __future__ import annotations

import math
from typing import Any

from ..types import NUMBER
from ..values import normalize_number, to_string
from .base import FunctionError, Param, function


@function(Param("num", NUMBER))
def abs_(num: Any) -> Any:
    return abs(num)


@function(Param("num", NUMBER))
def ceil(num: Any) -> Any:
    return math.ceil(num)


@function(Param("num", NUMBER))
def floor(num: Any) -> Any:
    return math.floor(num)


@function(Param("num", NUMBER), Param("base", NUMBER))
def log(num: Any, base: Any) -> Any:
    try:
        return normalize_number(math.log(num, base))
    except (ValueError, ZeroDivisionError) as exc:
        raise FunctionError(str(exc)) from None


@function(Param("num", NUMBER), Param("power", NUMBER))
def pow_(num: Any, power: Any) -> Any:
    return normalize_number(num**power)


@function(Param("num", NUMBER))
def signum(num: Any) -> int:
    return (num > 0) - (num < 0)


@function(var=Param("numbers", NUMBER))
def max_(*numbers: Any) -> Any:
    if not numbers:
        raise FunctionError("must pass at least one number")
    return max(numbers)


@function(var=Param("numbers", NUMBER))
def min_(*numbers: Any) -> Any:
    if not numbers:
        raise FunctionError("must pass at least one number")
    return min(numbers)


@function(Param("number"), Param("base", NUMBER))
def parseint(number: Any, base: Any) -> int:
    if not isinstance(number, str):
        raise FunctionError("first argument must be a string, not " + type(number).__name__, 0)
    if not isinstance(base, int) or not 2 <= base <= 62:
        raise FunctionError("base must be a whole number between 2 and 62 inclusive", 1)
    try:
        return int(number, base)
    except ValueError:
        raise FunctionError(
            f"cannot parse {to_string(number)!r} as a base {base} integer".replace("'", '"'), 0
        ) from None


FUNCTIONS = {
    "abs": abs_,
    "ceil": ceil,
    "floor": floor,
    "log": log,
    "max": max_,
    "min": min_,
    "parseint": parseint,
    "pow": pow_,
    "signum": signum,
}
