"""Type constraints: a ``variable``'s ``type`` (HCL's typeexpr) and converting values to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..golang import quote
from .diagnostics import Diag, DiagError
from .syntax import Expr, FunctionCall, Object, ScopeTraversal, Tuple
from .values import (
    ConversionError,
    ListValue,
    MapValue,
    SetValue,
    equal,
    normalize_number,
    sort_key,
    to_bool,
    to_number,
    to_string,
)

_INVALID = "Invalid type specification"
_OBJECT_ARGUMENT = (
    "The object type constructor requires one argument specifying the attribute types and values "
    "as a map."
)
_TUPLE_ARGUMENT = (
    "The tuple type constructor requires one argument specifying the element types as a list."
)


@dataclass(frozen=True)
class Type:
    """A cty type: a primitive, a collection of one element type, an object or a tuple."""

    kind: str  # string number bool list set map object tuple dynamic
    element: Type | None = None
    attributes: tuple[tuple[str, Type], ...] = field(default=())
    elements: tuple[Type, ...] = field(default=())

    @property
    def friendly_name(self) -> str:
        if self.kind in ("list", "set", "map"):
            assert self.element is not None
            return f"{self.kind} of {self.element.friendly_name}"
        return self.kind

    @property
    def is_primitive(self) -> bool:
        return self.kind in ("string", "number", "bool")


STRING, NUMBER, BOOL = Type("string"), Type("number"), Type("bool")
DYNAMIC = Type("dynamic")


def parse_type(expr: Expr) -> Type:
    """typeexpr.Type: an exact type from ``string``, ``list(number)``, ``object({...})``...

    :raises DiagError: the expression is not a type specification.
    """
    if isinstance(expr, ScopeTraversal) and not expr.steps:
        keyword = expr.root
        if keyword in ("string", "number", "bool"):
            return Type(keyword)
        if keyword == "any":
            detail = (
                f"The keyword {quote(keyword)} cannot be used in this type specification: an "
                "exact type is required."
            )
        elif keyword in ("list", "map", "set"):
            detail = (
                f"The {keyword} type constructor requires one argument specifying the element type."
            )
        elif keyword == "object":
            detail = _OBJECT_ARGUMENT
        elif keyword == "tuple":
            detail = _TUPLE_ARGUMENT
        else:
            detail = f"The keyword {quote(keyword)} is not a valid type specification."
        raise DiagError(Diag(_INVALID, detail, expr.range))
    if not isinstance(expr, FunctionCall):
        raise DiagError(
            Diag(
                _INVALID,
                "A type specification is either a primitive type keyword (bool, number, string) "
                "or a complex type constructor call, like list(string).",
                expr.range,
            )
        )
    name = expr.name
    if name in ("bool", "string", "number"):
        raise DiagError(
            Diag(
                _INVALID,
                f"Primitive type keyword {quote(name)} does not expect arguments.",
                expr.range,
            )
        )
    if name in ("list", "set", "map"):
        if len(expr.args) != 1:
            raise DiagError(
                Diag(
                    _INVALID,
                    f"The {name} type constructor requires one argument specifying the element "
                    "type.",
                    expr.range,
                )
            )
        return Type(name, element=parse_type(expr.args[0]))
    if name == "object":
        arg = expr.args[0] if len(expr.args) == 1 else None
        if not isinstance(arg, Object):
            raise DiagError(
                Diag(
                    _INVALID,
                    "Object type constructor requires a map whose keys are attribute names and "
                    "whose values are the corresponding attribute types.",
                    expr.range,
                )
            )
        attributes: dict[str, Type] = {}
        for item in arg.items:
            if item.name is None:
                raise DiagError(
                    Diag(
                        _INVALID,
                        "Object constructor map keys must be attribute names.",
                        item.key.range,
                    )
                )
            if item.name in attributes:
                raise DiagError(
                    Diag(_INVALID, "Object constructor map keys must be unique.", item.key.range)
                )
            attributes[item.name] = parse_type(item.value)
        return Type("object", attributes=tuple(sorted(attributes.items())))
    if name == "tuple":
        arg = expr.args[0] if len(expr.args) == 1 else None
        if not isinstance(arg, Tuple):
            raise DiagError(
                Diag(
                    _INVALID,
                    _TUPLE_ARGUMENT,
                    expr.range,
                )
            )
        return Type("tuple", elements=tuple(parse_type(item) for item in arg.items))
    raise DiagError(
        Diag(_INVALID, f"Keyword {quote(name)} is not a valid type constructor.", expr.range)
    )


def type_of(value: Any) -> Type:
    """The type a value has (a tuple or object literal has a structural type)."""
    if value is None:
        return DYNAMIC
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, str):
        return STRING
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, ListValue | SetValue):
        kind = "set" if isinstance(value, SetValue) else "list"
        return Type(kind, element=type_of(value[0]) if value else DYNAMIC)
    if isinstance(value, MapValue):
        return Type("map", element=type_of(next(iter(value.values()))) if value else DYNAMIC)
    if isinstance(value, list):
        return Type("tuple", elements=tuple(type_of(v) for v in value))
    return Type("object", attributes=tuple(sorted((k, type_of(v)) for k, v in value.items())))


def convert(value: Any, want: Type) -> Any:
    """go-cty convert.Convert; null converts to anything.

    :raises ConversionError: with cty's message.
    """
    if value is None or want.kind == "dynamic":
        return value
    if want.is_primitive:
        if isinstance(value, list | dict):
            raise ConversionError(f"{want.kind} required")
        converted = {"string": to_string, "number": to_number, "bool": to_bool}[want.kind](value)
        return normalize_number(converted) if want.kind == "number" else converted
    if want.kind in ("list", "set"):
        if not isinstance(value, list):
            raise ConversionError(f"{want.friendly_name} required")
        assert want.element is not None
        items = [convert(item, want.element) for item in value]
        if want.kind == "list":
            return ListValue(items)
        unique: list[Any] = []
        for item in items:
            if not any(equal(item, seen) for seen in unique):
                unique.append(item)
        if all(not isinstance(v, list | dict) for v in unique):
            unique.sort(key=sort_key)
        return SetValue(unique)
    if want.kind == "map":
        if not isinstance(value, dict):
            raise ConversionError(f"{want.friendly_name} required")
        assert want.element is not None
        return MapValue({k: convert(v, want.element) for k, v in sorted(value.items())})
    if want.kind == "object":
        if not isinstance(value, dict):
            raise ConversionError("object required")
        names = dict(want.attributes)
        missing = sorted(set(names) - set(value))
        if len(missing) == 1:
            raise ConversionError(f"attribute {quote(missing[0])} is required")
        if missing:
            raise ConversionError(
                "attributes " + ", ".join(quote(m) for m in missing) + " are required"
            )
        return {name: convert(value[name], kind) for name, kind in names.items()}
    if want.kind == "tuple":
        if not isinstance(value, list) or len(value) != len(want.elements):
            raise ConversionError("tuple required")
        return [convert(v, t) for v, t in zip(value, want.elements, strict=True)]
    raise AssertionError(f"unknown type {want}")  # pragma: no cover
