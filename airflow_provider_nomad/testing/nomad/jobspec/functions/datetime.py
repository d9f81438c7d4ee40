"""``formatdate`` and ``timeadd``: RFC 3339 timestamps (go-cty stdlib)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from ...golang import GoError, parse_duration_ns, quote
from ..types import STRING
from .base import FunctionError, Param, function

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z"
)


def parse_timestamp(text: str, arg: int) -> datetime:
    match = _RFC3339.match(text)
    if match is None:
        raise FunctionError(f"not a valid RFC3339 timestamp: cannot use {quote(text)} as year", arg)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone == "Z":
        tz = timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    micro = int((fraction or ".0")[1:7].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError as exc:
        raise FunctionError(f"not a valid RFC3339 timestamp: {exc}", arg) from None


def format_rfc3339(moment: datetime) -> str:
    offset = moment.utcoffset()
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        stamp += ("." + f"{moment.microsecond:06d}").rstrip("0")
    if not offset:
        return stamp + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{stamp}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_TOKENS = re.compile(r"'(?:[^']|'')*'?|([A-Za-z])\1*|[^A-Za-z']+")
_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _verb(token: str, moment: datetime) -> str:
    letter, size = token[0], len(token)

    def pick(options: dict[int, str], what: str) -> str:
        if size not in options:
            raise FunctionError(f"invalid date format verb {quote(token)}: {what}", 0)
        return options[size]

    offset = moment.strftime("%z") or "+0000"
    if letter == "Y":
        return pick(
            {2: f"{moment.year % 100:02d}", 4: f"{moment.year:04d}"},
            'year must either be "YY" or "YYYY"',
        )
    if letter == "M":
        name = _MONTHS[moment.month - 1]
        return pick(
            {1: str(moment.month), 2: f"{moment.month:02d}", 3: name[:3], 4: name},
            'month must be "M", "MM", "MMM", or "MMMM"',
        )
    if letter == "D":
        return pick(
            {1: str(moment.day), 2: f"{moment.day:02d}"}, 'day of month must either be "D" or "DD"'
        )
    if letter == "E":
        name = _DAYS[moment.weekday()]
        return pick({3: name[:3], 4: name}, 'day of week must either be "EEE" or "EEEE"')
    if letter == "h":
        return pick(
            {1: str(moment.hour), 2: f"{moment.hour:02d}"}, '24-hour must either be "h" or "hh"'
        )
    if letter == "H":
        twelve = moment.hour % 12 or 12
        return pick({1: str(twelve), 2: f"{twelve:02d}"}, '12-hour must either be "H" or "HH"')
    if letter in "Aa":
        half = "AM" if moment.hour < 12 else "PM"
        return pick({2: half if letter == "A" else half.lower()}, f'must be "{letter}{letter}"')
    if letter == "m":
        return pick(
            {1: str(moment.minute), 2: f"{moment.minute:02d}"}, 'minute must either be "m" or "mm"'
        )
    if letter == "s":
        return pick(
            {1: str(moment.second), 2: f"{moment.second:02d}"}, 'second must either be "s" or "ss"'
        )
    if letter == "Z":
        colon = offset[:3] + ":" + offset[3:]
        return pick(
            {
                1: "Z" if offset == "+0000" else colon,
                3: "UTC" if offset == "+0000" else offset,
                4: offset,
                5: colon,
            },
            "timezone must be Z, ZZZZ, or ZZZZZ",
        )
    raise FunctionError(f"invalid date format verb {quote(token)}", 0)


@function(Param("format", STRING), Param("time", STRING))
def formatdate(fmt: str, time: str) -> str:
    moment = parse_timestamp(time, 1)
    out: list[str] = []
    for match in _TOKENS.finditer(fmt):
        token = match.group(0)
        if token.startswith("'"):
            if len(token) == 1 or not token.endswith("'"):
                raise FunctionError("unterminated literal '", 0)
            out.append("'" if token == "''" else token[1:-1].replace("''", "'"))
        elif token[0].isalpha():
            out.append(_verb(token, moment))
        else:
            out.append(token)
    return "".join(out)


@function(Param("timestamp", STRING), Param("duration", STRING))
def timeadd(timestamp: str, duration: str) -> str:
    moment = parse_timestamp(timestamp, 0)
    try:
        nanoseconds = parse_duration_ns(duration)
    except GoError as exc:
        raise FunctionError(str(exc), 1) from None
    return format_rfc3339(moment + timedelta(microseconds=nanoseconds // 1000))


FUNCTIONS = {"formatdate": formatdate, "timeadd": timeadd}
