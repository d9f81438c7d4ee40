"""Following a reference's steps through a value: HCL's GetAttr and Index operations.

Also jobspec2's hook for a reference to a name it does not know, which becomes the reference's
own text for the Nomad client to interpolate at run time.
"""

from __future__ import annotations

from typing import Any

from ..golang import quote
from .diagnostics import Diag, DiagError, Range
from .syntax import GetAttrStep, ScopeTraversal, Step
from .values import (
    ConversionError,
    ListValue,
    MapValue,
    SetValue,
    is_number,
    to_number,
    to_string,
    type_name,
)


def undefined_reference(expr: ScopeTraversal, source: str) -> str:
    """jobspec2's UndefinedVariable hook: the reference's text, kept inside its ``${...}``.

    The loops mirror jobspec2's own, quirks included: the text runs from the ``${`` before the
    reference to the ``}`` after it, with the spaces in between as written.
    """
    start, end = expr.range.offset, expr.range.end_offset
    text = source[start:end]
    bracketed = False
    i = start - 1
    while i >= 1:
        if source[i] == "{" and source[i - 1] == "$":
            bracketed = True
            text = source[i - 1 : start] + text
            break
        if source[i] != " ":
            break
        i -= 1
    if not bracketed:
        return "${" + text + "}"
    for i in range(end + 1, len(source)):
        if source[i] == "}":
            text += source[end:i]
        elif source[i] != " ":
            text += "}"
            break
    return text


def traverse(value: Any, steps: list[Step]) -> Any:
    for step in steps:
        if isinstance(step, GetAttrStep):
            value = get_attr(value, step.name, step.range)
        else:
            value = index(value, step.key, step.range)
    return value


def get_attr(value: Any, name: str, rng: Range) -> Any:
    """hcl.GetAttr."""
    if value is None:
        raise DiagError(
            Diag(
                "Attempt to get attribute from null value",
                "This value is null, so it does not have any attributes.",
                rng,
            )
        )
    if isinstance(value, MapValue):
        if name not in value:
            raise DiagError(
                Diag(
                    "Missing map element",
                    f"This map does not have an element with the key {quote(name)}.",
                    rng,
                )
            )
        return value[name]
    if isinstance(value, dict):
        if name not in value:
            raise DiagError(
                Diag(
                    "Unsupported attribute",
                    f"This object does not have an attribute named {quote(name)}.",
                    rng,
                )
            )
        return value[name]
    if isinstance(value, list):
        detail = "This value does not have any attributes."
        if isinstance(value, ListValue) and value and all(isinstance(v, dict) for v in value):
            detail = (
                "Can't access attributes on a list of objects. Did you mean to access an "
                "attribute for a specific element of the list, or across all elements of the "
                "list?"
            )
        raise DiagError(Diag("Unsupported attribute", detail, rng))
    raise DiagError(
        Diag(
            "Unsupported attribute",
            f"Can't access attributes on a primitive-typed value ({type_name(value)}).",
            rng,
        )
    )


def index(collection: Any, key: Any, rng: Range) -> Any:
    """hcl.Index."""
    invalid = "Invalid index"
    if collection is None:
        raise DiagError(
            Diag(
                "Attempt to index null value",
                "This value is null, so it does not have any indices.",
                rng,
            )
        )
    if key is None:
        raise DiagError(Diag(invalid, "Can't use a null value as an indexing key.", rng))
    prefix = "The given key does not identify an element in this collection value"
    if isinstance(collection, SetValue):
        raise DiagError(
            Diag(
                invalid,
                "Elements of a set are identified only by their value and don't have any "
                "separate index or key to select with, so it's only possible to perform "
                "operations across all elements of the set.",
                rng,
            )
        )
    if isinstance(collection, list):
        try:
            position = to_number(key) if not isinstance(key, list | dict) else None
        except ConversionError as exc:
            raise DiagError(Diag(invalid, f"{prefix}: {exc}.", rng)) from None
        if position is None:
            raise DiagError(Diag(invalid, f"{prefix}: number required.", rng))
        if isinstance(position, float) and not position.is_integer():
            raise DiagError(
                Diag(
                    invalid,
                    f"{prefix}: indexing a sequence requires a whole number, but the given "
                    "index has a fractional part.",
                    rng,
                )
            )
        position = int(position)
        if position < 0:
            raise DiagError(
                Diag(
                    invalid,
                    f"{prefix}: a negative number is not a valid index for a sequence.",
                    rng,
                )
            )
        if position >= len(collection):
            if not collection:
                raise DiagError(Diag(invalid, f"{prefix}: the collection has no elements.", rng))
            raise DiagError(
                Diag(
                    invalid,
                    f"{prefix}: the given index is greater than or equal to the length of the "
                    "collection.",
                    rng,
                )
            )
        return collection[position]
    if isinstance(collection, dict):
        try:
            name = to_string(key)
        except ConversionError as exc:
            raise DiagError(Diag(invalid, f"{prefix}: {exc}.", rng)) from None
        if name not in collection:
            hint = ""
            if is_number(key) and not isinstance(collection, MapValue):
                hint = (
                    " An object only supports looking up attributes by name, not by numeric index."
                )
            raise DiagError(Diag(invalid, f"{prefix}.{hint}", rng))
        return collection[name]
    raise DiagError(Diag(invalid, "This value does not have any indices.", rng))
