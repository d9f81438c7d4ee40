"""Collection functions of go-cty's stdlib: lists, tuples, sets, maps and objects."""

from __future__ import annotations

import itertools
from typing import Any

from ..types import NUMBER, STRING, Type
from ..values import (
    ListValue,
    MapValue,
    SetValue,
    equal,
    normalize_number,
    sort_key,
    to_int,
    to_string,
    type_name,
)
from .base import FunctionError, Param, function

_LIST_OF_STRING = Type("list", element=STRING)
_DYNAMIC_LIST = Param("list")


def _sequence(value: Any, arg: int = 0) -> list[Any]:
    if not isinstance(value, list):
        raise FunctionError("argument must be list, tuple, or set", arg)
    return value


@function(Param("collection"))
def length(collection: Any) -> int:
    if isinstance(collection, str | list | dict):
        return len(collection)
    raise FunctionError("collection must be a list, a map or a tuple", 0)


@function(var=Param("seqs"))
def concat(*seqs: Any) -> list[Any]:
    if not seqs:
        raise FunctionError("at least one argument is required")
    out: list[Any] = []
    for position, seq in enumerate(seqs):
        if not isinstance(seq, list):
            raise FunctionError(
                f"all arguments must be lists or tuples; got {type_name(seq)}", position
            )
        out.extend(seq)
    return ListValue(out) if all(isinstance(s, ListValue) for s in seqs) else out


@function(_DYNAMIC_LIST, Param("value", allow_null=True))
def contains(items: Any, value: Any) -> bool:
    return any(equal(value, item) for item in _sequence(items))


@function(_DYNAMIC_LIST)
def distinct(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _sequence(items):
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return ListValue(out)


@function(_DYNAMIC_LIST, Param("index", NUMBER))
def element(items: Any, position: Any) -> Any:
    items = _sequence(items)
    if not items:
        raise FunctionError("cannot use element function with an empty list")
    index = to_int(position)
    if index < 0:
        raise FunctionError("cannot use element function with a negative index")
    return items[index % len(items)]


@function(_DYNAMIC_LIST)
def flatten(items: Any) -> list[Any]:
    def walk(value: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in value:
            out.extend(walk(item) if isinstance(item, list) else [item])
        return out

    if not isinstance(items, list):
        raise FunctionError("can only flatten lists, sets and tuples", 0)
    return walk(items)


@function(_DYNAMIC_LIST, Param("value"))
def index_(items: Any, value: Any) -> int:
    for position, item in enumerate(_sequence(items)):
        if equal(item, value):
            return position
    raise FunctionError("item not found")


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FunctionError("must have map or object type", 0)
    return value


@function(Param("inputMap"))
def keys(mapping: Any) -> list[str]:
    return ListValue(sorted(_mapping(mapping)))


@function(Param("mapping"))
def values(mapping: Any) -> list[Any]:
    mapping = _mapping(mapping)
    return [mapping[k] for k in sorted(mapping)]


@function(Param("inputMap"), Param("key", STRING), Param("default"))
def lookup(mapping: Any, key: str, default: Any) -> Any:
    if not isinstance(mapping, dict):
        raise FunctionError("lookup() requires a map as the first argument", 0)
    return mapping.get(key, default)


@function(var=Param("maps", allow_null=True))
def merge(*maps: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for position, mapping in enumerate(maps):
        if mapping is None:
            continue
        if not isinstance(mapping, dict):
            raise FunctionError(
                f"arguments must be maps or objects, got {type_name(mapping)}", position
            )
        out.update(mapping)
    present = [m for m in maps if m is not None]
    if present and all(isinstance(m, MapValue) for m in present):
        return MapValue(sorted(out.items()))
    return out


@function(var=Param("params", NUMBER))
def range_(*params: Any) -> list[Any]:
    if not 1 <= len(params) <= 3:
        raise FunctionError("must have one, two, or three arguments")
    start, step = 0, 1
    if len(params) == 1:
        end = params[0]
    elif len(params) == 2:
        start, end = params
    else:
        start, end, step = params
        if step == 0:
            raise FunctionError("step must not be zero", 2)
    if len(params) < 3 and end < start:
        step = -1
    out = []
    current = start
    while (step > 0 and current < end) or (step < 0 and current > end):
        out.append(normalize_number(current))
        current += step
        if len(out) > 1024:
            raise FunctionError(
                "more than 1024 values were generated; either decrease the difference "
                "between start and end or use a smaller step"
            )
    return ListValue(out)


@function(_DYNAMIC_LIST)
def reverse(items: Any) -> list[Any]:
    items = _sequence(items)
    reversed_items = list(reversed(items))
    return ListValue(reversed_items) if isinstance(items, ListValue) else reversed_items


@function(_DYNAMIC_LIST, Param("start_index", NUMBER), Param("end_index", NUMBER))
def slice_(items: Any, start: Any, end: Any) -> list[Any]:
    items = _sequence(items)
    first, last = to_int(start), to_int(end)
    if first < 0:
        raise FunctionError("from index must be greater than or equal to 0", 1)
    if last > len(items):
        raise FunctionError(
            "to index must be less than or equal to the length of the input collection", 2
        )
    if first > last:
        raise FunctionError("from index must be less than or equal to index", 1)
    chosen = items[first:last]
    return ListValue(chosen) if isinstance(items, ListValue) else chosen


@function(Param("list", _LIST_OF_STRING))
def sort(items: list[str]) -> list[str]:
    for position, item in enumerate(items):
        if item is None:
            raise FunctionError(
                f"given list element {position} is null; a null string cannot be sorted"
            )
    return ListValue(sorted(items))


@function(Param("keys", _LIST_OF_STRING), Param("values"))
def zipmap(keys_: list[str], values_: Any) -> dict[str, Any]:
    values_ = _sequence(values_, 1)
    if len(keys_) != len(values_):
        raise FunctionError(
            f"number of keys ({len(keys_)}) does not match number of values ({len(values_)})"
        )
    return dict(zip(keys_, values_, strict=True))


@function(var=Param("vals", allow_null=True))
def coalesce(*vals: Any) -> Any:
    present = [v for v in vals if v is not None]
    if not present:
        raise FunctionError("no non-null arguments")
    first = present[0]
    # cty unifies the argument types first: a number beside a string becomes a string.
    if not isinstance(first, list | dict) and any(isinstance(v, str) for v in present):
        return to_string(first)
    return first


@function(var=Param("vals", allow_null=True))
def coalescelist(*vals: Any) -> Any:
    for position, value in enumerate(vals):
        if value is not None and not isinstance(value, list):
            raise FunctionError(
                f"coalescelist arguments must be lists or tuples, got {type_name(value)}", position
            )
        if value:
            return value
    raise FunctionError("no non-null arguments")


@function(Param("list", _LIST_OF_STRING))
def compact(items: list[str]) -> list[str]:
    return ListValue([item for item in items if item])


@function(Param("list", Type("list", element=Type("dynamic"))), Param("size", NUMBER))
def chunklist(items: list[Any], size: Any) -> list[Any]:
    chunk = to_int(size)
    if chunk < 0:
        raise FunctionError("the size argument must be positive", 1)
    if chunk == 0:
        return ListValue([items])
    return ListValue([ListValue(items[i : i + chunk]) for i in range(0, len(items), chunk)])


def _set(values_: Any, position: int) -> list[Any]:
    if not isinstance(values_, list):
        raise FunctionError("a set is required", position)
    return values_


def _as_set(items: list[Any]) -> SetValue:
    unique: list[Any] = []
    for item in items:
        if not any(equal(item, seen) for seen in unique):
            unique.append(item)
    if all(not isinstance(v, list | dict) for v in unique):
        unique.sort(key=sort_key)
    return SetValue(unique)


@function(Param("first_set"), var=Param("other_sets"))
def setunion(first: Any, *others: Any) -> list[Any]:
    items = list(_set(first, 0))
    for position, other in enumerate(others, 1):
        items.extend(_set(other, position))
    return _as_set(items)


@function(Param("first_set"), var=Param("other_sets"))
def setintersection(first: Any, *others: Any) -> list[Any]:
    items = _set(first, 0)
    for position, other in enumerate(others, 1):
        other_items = _set(other, position)
        items = [i for i in items if any(equal(i, o) for o in other_items)]
    return _as_set(items)


@function(var=Param("sets"))
def setproduct(*sets: Any) -> list[Any]:
    if len(sets) < 2:
        raise FunctionError("at least two arguments are required")
    lists = [_set(s, position) for position, s in enumerate(sets)]
    return ListValue([list(combo) for combo in itertools.product(*lists)])


FUNCTIONS = {
    "chunklist": chunklist,
    "coalesce": coalesce,
    "coalescelist": coalescelist,
    "compact": compact,
    "concat": concat,
    "contains": contains,
    "distinct": distinct,
    "element": element,
    "flatten": flatten,
    "index": index_,
    "keys": keys,
    "length": length,
    "lookup": lookup,
    "merge": merge,
    "range": range_,
    "reverse": reverse,
    "setintersection": setintersection,
    "setproduct": setproduct,
    "setunion": setunion,
    "slice": slice_,
    "sort": sort,
    "values": values,
    "zipmap": zipmap,
}
