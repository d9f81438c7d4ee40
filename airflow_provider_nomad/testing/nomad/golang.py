"""Go standard-package behaviours that Nomad's HTTP API exposes, reproduced byte for byte.

Nomad parses query parameters with ``strconv`` and ``time.ParseDuration``, prints durations with
``time.Duration.String``, lists with ``%v`` and strings with ``%q``; its error texts carry those
formats, so the emulator needs the same functions to answer with the same words.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

_MAX_UINT64 = (1 << 64) - 1
_MAX_INT64 = (1 << 63) - 1

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


class GoError(ValueError):
    """A parse error whose text is the one Go would produce."""


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise GoError(f"strconv.ParseBool: parsing {quote(text)}: invalid syntax")


def parse_uint(text: str) -> int:
    """``strconv.ParseUint(text, 10, 64)``."""
    if not text or not text.isascii() or not text.isdigit():
        raise GoError(f"strconv.ParseUint: parsing {quote(text)}: invalid syntax")
    value = int(text)
    if value > _MAX_UINT64:
        raise GoError(f"strconv.ParseUint: parsing {quote(text)}: value out of range")
    return value


def parse_int(text: str) -> int:
    """``strconv.ParseInt(text, 10, 64)``."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        raise GoError(f"strconv.ParseInt: parsing {quote(text)}: invalid syntax")
    value = int(text)
    if not -_MAX_INT64 - 1 <= value <= _MAX_INT64:
        raise GoError(f"strconv.ParseInt: parsing {quote(text)}: value out of range")
    return value


_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def parse_duration_ns(text: str) -> int:
    """``time.ParseDuration``: nanoseconds, or :class:`GoError` with Go's message."""
    original = text
    sign = 1
    if text[:1] in ("-", "+"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise GoError(f"time: invalid duration {quote(original)}")
    total = 0
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        number, unit = match.group(1), match.group(2)
        if number in ("", "."):
            raise GoError(f"time: invalid duration {quote(original)}")
        if not unit:
            raise GoError(f"time: missing unit in duration {quote(original)}")
        if unit not in _UNITS_NS:
            raise GoError(f"time: unknown unit {quote(unit)} in duration {quote(original)}")
        whole, _, frac = number.partition(".")
        scale = _UNITS_NS[unit]
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // (10 ** len(frac))
        total += value
        pos = match.end()
    if total > _MAX_INT64:
        raise GoError(f"time: invalid duration {quote(original)}")
    return sign * total


def format_duration(ns: int) -> str:
    """``time.Duration.String``: ``5s``, ``100ms``, ``24h0m0s``, ``1.5µs``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000_000_000:
        for scale, unit in ((1_000_000, "ms"), (1_000, "µs"), (1, "ns")):
            if u >= scale:
                return sign + _fraction(u, scale) + unit
    hours, rem = divmod(u, 3_600_000_000_000)
    minutes, rem = divmod(rem, 60_000_000_000)
    seconds = _fraction(rem, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _fraction(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}.{str(frac).rjust(digits, '0').rstrip('0')}"


def quote(text: str) -> str:
    """``%q`` for the strings Nomad quotes (IDs, names, paths)."""
    return json.dumps(text, ensure_ascii=False)


def go_list(items: list[str]) -> str:
    """``%v`` of a ``[]string``: ``[a b c]``."""
    return "[" + " ".join(items) + "]"


ZERO_TIME = "0001-01-01T00:00:00Z"


def format_time(ns: int) -> str:
    """A ``time.Time`` as Go's JSON encoder writes it (RFC 3339, nanoseconds, UTC).

    :param ns: unix nanoseconds; 0 is Go's zero time.
    """
    if ns <= 0:
        return ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        stamp += "." + str(frac).rjust(9, "0").rstrip("0")
    return stamp + "Z"


def clean_env_var(name: str, replacement: str = "_") -> str:
    """``helper.CleanEnvVar``: keep ``[A-Za-z0-9_.]`` (no leading digit), replace the rest."""
    out = []
    for i, char in enumerate(name):
        ok = char in "_." or ("a" <= char <= "z") or ("A" <= char <= "Z")
        ok = ok or (i > 0 and "0" <= char <= "9")
        out.append(char if ok else replacement)
    return "".join(out)


def snappy_encode(data: bytes) -> bytes:
    """A valid snappy block of ``data``, as ``snappy.Encode`` stores a dispatch payload.

    Literals only: any snappy decoder reads it back, and the bytes a client decompresses are
    the same as Go's; only the compressed size differs, which nothing here depends on.
    """
    length, out = len(data), bytearray()
    while True:  # the uncompressed length, as a varint
        byte = length & 0x7F
        length >>= 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            break
    for start in range(0, len(data), 1 << 16):
        chunk = data[start : start + (1 << 16)]
        size = len(chunk) - 1
        if size < 60:
            out.append(size << 2)
        else:  # the length, minus one, in the next two bytes (tag 61)
            out += bytes([61 << 2]) + size.to_bytes(2, "little")
        out += chunk
    return bytes(out)
