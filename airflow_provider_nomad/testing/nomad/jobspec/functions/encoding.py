"""Encoding, hashing and identifier functions (go-cty stdlib and go-cty-funcs)."""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import urllib.parse
import uuid
from decimal import Decimal
from typing import Any

import yaml

from ..types import STRING
from ..values import ListValue, is_number, to_string
from .base import FunctionError, Param, function


def json_text(value: Any) -> str:
    """cty's JSON: compact, keys sorted, numbers without exponent, Go's HTML-safe escapes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return to_string(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, list):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    return "{" + ",".join(_json_string(k) + ":" + json_text(value[k]) for k in sorted(value)) + "}"


_GO_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def _json_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif ord(char) < 0x20 or char in "<>&\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def from_json(data: Any) -> Any:
    """A decoded JSON document as HCL values (arrays are tuples, objects are objects)."""
    if isinstance(data, float) and data.is_integer():
        return int(data)
    if isinstance(data, list):
        return [from_json(v) for v in data]
    if isinstance(data, dict):
        return {k: from_json(v) for k, v in data.items()}
    return data


@function(Param("val", allow_null=True))
def jsonencode(value: Any) -> str:
    return json_text(value)


@function(Param("str", STRING))
def jsondecode(text: str) -> Any:
    try:
        return from_json(json.loads(text, parse_float=_number_from_json))
    except json.JSONDecodeError as exc:
        raise FunctionError(str(exc), 0) from None


def _number_from_json(text: str) -> int | float:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


@function(Param("str", STRING))
def yamldecode(text: str) -> Any:
    try:
        return from_json(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise FunctionError(f"on line {getattr(exc, 'problem_mark', None)}: {exc}", 0) from None


@function(Param("str", STRING))
def base64encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@function(Param("str", STRING))
def base64decode(text: str) -> str:
    try:
        decoded = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise FunctionError(f"failed to decode base64 data {_quote(text)}", 0) from None
    try:
        return decoded.decode()
    except UnicodeDecodeError:
        raise FunctionError(
            "the result of decoding the provided string is not valid UTF-8", 0
        ) from None


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


@function(Param("str", STRING))
def urlencode(text: str) -> str:
    return urllib.parse.quote_plus(text, safe="-_.~")


@function(Param("str", STRING))
def csvdecode(text: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise FunctionError("missing header line")
    header, records = rows[0], rows[1:]
    out = []
    for record in records:
        if len(record) != len(header):
            raise FunctionError(f"record on line {len(out) + 2}: wrong number of fields", 0)
        out.append(dict(zip(header, record, strict=True)))
    return ListValue(out)


def _digest(name: str) -> Any:
    @function(Param("str", STRING))
    def digest(text: str) -> str:
        return hashlib.new(name, text.encode()).hexdigest()

    return digest


@function()
def uuidv4() -> str:
    return str(uuid.uuid4())


_NAMESPACES = {
    "dns": uuid.NAMESPACE_DNS,
    "url": uuid.NAMESPACE_URL,
    "oid": uuid.NAMESPACE_OID,
    "x500": uuid.NAMESPACE_X500,
}


@function(Param("namespace", STRING), Param("name", STRING))
def uuidv5(namespace: str, name: str) -> str:
    space = _NAMESPACES.get(namespace)
    if space is None:
        try:
            space = uuid.UUID(namespace)
        except ValueError:
            raise FunctionError(
                f"uuidv5() doesn't support namespace {namespace} (must be one of dns, url, "
                "oid, x500, or a valid UUID)",
                0,
            ) from None
    return str(uuid.uuid5(space, name))


FUNCTIONS = {
    "base64decode": base64decode,
    "base64encode": base64encode,
    "csvdecode": csvdecode,
    "jsondecode": jsondecode,
    "jsonencode": jsonencode,
    "md5": _digest("md5"),
    "sha1": _digest("sha1"),
    "sha256": _digest("sha256"),
    "sha512": _digest("sha512"),
    "urlencode": urlencode,
    "uuidv4": uuidv4,
    "uuidv5": uuidv5,
    "yamldecode": yamldecode,
}
