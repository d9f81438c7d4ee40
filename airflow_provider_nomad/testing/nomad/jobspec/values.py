"""Values: how this package represents HCL (go-cty) values, and converts them like cty does.

An evaluated value is plain Python: ``None`` (null), ``bool``, ``int``/``float`` (cty's number),
``str``, ``list`` (a tuple) and ``dict`` (an object). A value converted to a collection type
keeps that type through :class:`ListValue`, :class:`SetValue` and :class:`MapValue`, because
HCL treats a map differently from an object and a list from a tuple in a few places (attribute
access, error texts).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any


class ListValue(list):
    """A cty list: every element of one type."""


class SetValue(list):
    """A cty set, kept in cty's iteration order (sorted)."""


class MapValue(dict):
    """A cty map: string keys, every element of one type."""


class ConversionError(Exception):
    """A value that cannot become the wanted type; the text is go-cty's."""


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def number(text: str) -> int | float:
    value = Decimal(text)
    # Nomad keeps whole numbers as integers (jobspec2 smallestNumber).
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def normalize_number(value: int | float) -> int | float:
    """A whole float is an int: cty has one number type, and Nomad prints whole ones bare."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def type_name(value: Any) -> str:
    """cty's friendly name for the type of a value (for error texts)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, SetValue):
        return "set of " + _element_name(value)
    if isinstance(value, ListValue):
        return "list of " + _element_name(value)
    if isinstance(value, MapValue):
        return "map of " + _element_name(list(value.values()))
    if isinstance(value, list):
        return "tuple"
    if isinstance(value, dict):
        return "object"
    raise AssertionError(f"not an HCL value: {value!r}")  # pragma: no cover


def _element_name(items: list[Any]) -> str:
    names = {type_name(v) for v in items if v is not None}
    return names.pop() if len(names) == 1 else "dynamic"


# -- primitive conversions (go-cty convert) ---------------------------------------------------


def to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # cty formats numbers without an exponent, shortest form first.
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, str):
        return value
    raise ConversionError("string required")


_NUMBER_TEXT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ConversionError("number required")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value):
            raise ConversionError("a number is required")
        try:
            return number(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise ConversionError("a number is required") from None
    raise ConversionError("number required")


def to_int(value: Any, low: int = -(2**63), high: int = 2**63 - 1) -> int:
    """A number for a Go integer field (gocty's range check, with its message)."""
    number_value = to_number(value)
    if isinstance(number_value, float) and number_value.is_integer():
        number_value = int(number_value)
    if isinstance(number_value, float) or not low <= number_value <= high:
        raise ConversionError(f"value must be a whole number, between {low} and {high}")
    return number_value


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        lowered = value.lower()
        if lowered in ("true", "false"):
            raise ConversionError(
                f'a bool is required; to convert from string, use lowercase "{lowered}"'
            )
        raise ConversionError("a bool is required")
    raise ConversionError("bool required")


# -- comparisons ------------------------------------------------------------------------------


def equal(a: Any, b: Any) -> bool:
    """cty's Equals: values of different types are never equal (``1 == "1"`` is false)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return False


def sort_key(value: Any) -> Any:
    """cty's set order for primitive elements: numbers by value, then strings, then bools."""
    if is_number(value):
        return (0, value, "")
    if isinstance(value, str):
        return (1, 0, value)
    return (2, 0, str(value))
